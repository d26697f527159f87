//! Vocabulary shared by every part of the failover core.

use std::fmt;

/// Our role in the relationship (RFC 8156 §3). The primary connects, the secondary listens.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    pub fn partner(self) -> Role {
        match self {
            Role::Primary => Role::Secondary,
            Role::Secondary => Role::Primary,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        })
    }
}

/// Failover endpoint states with their OPTION_F_SERVER_STATE wire values (RFC 8156 §5.5.19;
/// 7 = RECOVER-WAIT per the IANA registry).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ServerState {
    Startup = 1,
    Normal = 2,
    CommunicationsInterrupted = 3,
    PartnerDown = 4,
    PotentialConflict = 5,
    Recover = 6,
    RecoverWait = 7,
    RecoverDone = 8,
    ResolutionInterrupted = 9,
    ConflictDone = 10,
}

impl ServerState {
    pub fn from_u8(v: u8) -> Option<Self> {
        use ServerState::*;
        Some(match v {
            1 => Startup,
            2 => Normal,
            3 => CommunicationsInterrupted,
            4 => PartnerDown,
            5 => PotentialConflict,
            6 => Recover,
            7 => RecoverWait,
            8 => RecoverDone,
            9 => ResolutionInterrupted,
            10 => ConflictDone,
            _ => return None,
        })
    }

    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        use ServerState::*;
        match self {
            Startup => "STARTUP",
            Normal => "NORMAL",
            CommunicationsInterrupted => "COMMUNICATIONS-INTERRUPTED",
            PartnerDown => "PARTNER-DOWN",
            PotentialConflict => "POTENTIAL-CONFLICT",
            Recover => "RECOVER",
            RecoverWait => "RECOVER-WAIT",
            RecoverDone => "RECOVER-DONE",
            ResolutionInterrupted => "RESOLUTION-INTERRUPTED",
            ConflictDone => "CONFLICT-DONE",
        }
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_state_wire_values() {
        // RFC 8156 §5.5.19 with the registry's 7 = RECOVER-WAIT; 0 reserved.
        assert_eq!(ServerState::from_u8(0), None);
        assert_eq!(ServerState::from_u8(11), None);
        for v in 1..=10 {
            assert_eq!(ServerState::from_u8(v).unwrap().as_u8(), v);
        }
        assert_eq!(ServerState::from_u8(7), Some(ServerState::RecoverWait));
    }
}
