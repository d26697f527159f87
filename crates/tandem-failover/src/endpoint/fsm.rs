//! The failover endpoint state machine as pure functions (RFC 8156 §8).
//!
//! Nothing here has side effects: the [`super::Endpoint`] asks "where does this input take
//! me?" and performs the entry actions itself. Keeping the table apart makes every row a
//! one-line test.

use tandem_core::Time;

use crate::types::{Role, ServerState};
use crate::wire::Protocol;

/// What can move the endpoint (RFC 8156 §8), apart from STARTUP.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Communications are OK and the partner reports `partner` (a STATE arrived, or the
    /// connection just came up with this partner state on record).
    CommOk { partner: ServerState },
    /// The connection died, was lost, or a DISCONNECT arrived.
    CommFailed,
    /// UPDDONE answered our UPDREQ / UPDREQALL.
    UpdDone,
    /// The operator said the partner is down (§8.8.2, §8.9.2, §8.11.2).
    OperatorPartnerDown,
    /// The auto-partner-down timer ran out in COMMUNICATIONS-INTERRUPTED (§8.9).
    AutoPartnerDown,
    /// The MCLT wait of RECOVER-WAIT is over (§8.6.2).
    RecoverWaitOver,
}

/// The state `input` leads to from `own` under `protocol`, or None to stay: RFC 8156 §8,
/// with ISC dhcpd 4.4's rows where a draft-12 pair differs (dhcpd is the partner that
/// defines draft-12 in practice).
pub fn next_state_for(
    protocol: Protocol,
    role: Role,
    own: ServerState,
    input: Input,
) -> Option<ServerState> {
    use ServerState::*;
    if protocol == Protocol::Draft12 {
        // A partner back in RECOVER lost its storage, serves nobody and will ask for every
        // binding: dhcpd goes to PARTNER-DOWN at once from NORMAL or COMMUNICATIONS-INTERRUPTED
        // (where draft-12 §9.9.3 says stay), so that the survivor serves every client while it
        // recovers; PARTNER-DOWN + RECOVER-DONE then leads to NORMAL (§9.4.3).
        if let (Normal | CommunicationsInterrupted, Input::CommOk { partner: Recover }) =
            (own, input)
        {
            return Some(PartnerDown);
        }
    }
    next_state(role, own, input)
}

/// The state `input` leads to from `own`, or None to stay (RFC 8156 §8).
pub fn next_state(role: Role, own: ServerState, input: Input) -> Option<ServerState> {
    use Input::*;
    use ServerState::*;
    let to = match (own, input) {
        // STARTUP is left through `leave_startup`, never through this table.
        (Startup, _) => return None,

        // §8.4.2
        (PartnerDown, CommOk { partner }) => match partner {
            Normal
            | CommunicationsInterrupted
            | PartnerDown
            | PotentialConflict
            | ResolutionInterrupted
            | ConflictDone => PotentialConflict,
            RecoverDone => Normal,
            Recover | RecoverWait | Startup => return None,
        },

        // §8.5.2
        (
            Recover,
            CommOk {
                partner: PotentialConflict | ResolutionInterrupted | ConflictDone,
            },
        ) => PotentialConflict,
        (Recover, UpdDone) => RecoverWait,

        // §8.6.2
        (RecoverWait, RecoverWaitOver) => RecoverDone,

        // §8.7.2
        (RecoverDone, CommOk { partner }) => match partner {
            Normal | RecoverDone => Normal,
            Recover | RecoverWait => CommunicationsInterrupted,
            PotentialConflict => PotentialConflict,
            _ => return None,
        },

        // §8.8.2
        (Normal, OperatorPartnerDown) => PartnerDown,
        (Normal, CommFailed) => CommunicationsInterrupted,
        (Normal, CommOk { partner }) => {
            if normal_expects(partner) {
                return None;
            }
            // An unexpected partner change: drop to COMMUNICATIONS-INTERRUPTED and apply
            // its transition for the new partner state at once (§8.8.2).
            return Some(
                next_state(role, CommunicationsInterrupted, CommOk { partner })
                    .unwrap_or(CommunicationsInterrupted),
            );
        }

        // §8.9.2
        (CommunicationsInterrupted, AutoPartnerDown | OperatorPartnerDown) => PartnerDown,
        (CommunicationsInterrupted, CommOk { partner }) => match partner {
            Normal | CommunicationsInterrupted | RecoverDone => Normal,
            PartnerDown | PotentialConflict | ConflictDone | ResolutionInterrupted => {
                PotentialConflict
            }
            // RECOVER-WAIT is not listed in §8.9.2; staying mirrors RECOVER (RFC 8156 §8).
            Recover | RecoverWait | Startup => return None,
        },

        // §8.10.2
        (PotentialConflict, CommFailed) => ResolutionInterrupted,
        (PotentialConflict, UpdDone) => match role {
            Role::Primary => ConflictDone,
            Role::Secondary => Normal,
        },

        // §8.11.2
        (ResolutionInterrupted, OperatorPartnerDown) => PartnerDown,
        (ResolutionInterrupted, CommOk { partner }) if partner != Startup => PotentialConflict,

        // §8.12.2
        (ConflictDone, CommOk { partner: Normal }) => Normal,

        _ => return None,
    };
    Some(to)
}

/// Partner states a server in NORMAL expects to see without alarm (§8.8.2): the partner
/// is NORMAL, on its way there (COMMUNICATIONS-INTERRUPTED after a flap, RECOVER-DONE at the
/// end of recovery), or the primary finishing a conflict resolution (CONFLICT-DONE).
fn normal_expects(partner: ServerState) -> bool {
    use ServerState::*;
    matches!(
        partner,
        Normal | CommunicationsInterrupted | RecoverDone | ConflictDone | Startup
    )
}

/// STARTUP step 1–2 (§8.3.2): the state to resume once STARTUP ends, from the stored one.
/// A "communications OK" state is replaced by where its comm-failed transition leads.
pub fn resume_state(stored: Option<ServerState>) -> ServerState {
    use ServerState::*;
    match stored {
        None => Recover,
        Some(Normal) => CommunicationsInterrupted,
        Some(PotentialConflict) => ResolutionInterrupted,
        // A crash inside STARTUP leaves nothing better than RECOVER to resume.
        Some(Startup) => Recover,
        Some(s) => s,
    }
}

/// STARTUP step 5 (§8.3.2): the partner is in PARTNER-DOWN. If it went there after we
/// last operated, it ran alone while we were down: RECOVER. Otherwise we were serving when
/// it took over our pool: POTENTIAL-CONFLICT.
pub fn after_startup_partner_down(
    partner_down_started: Option<Time>,
    our_last_operation: Time,
    resume: ServerState,
) -> ServerState {
    match partner_down_started {
        Some(t) if t > our_last_operation => ServerState::Recover,
        Some(_) => ServerState::PotentialConflict,
        None => resume,
    }
}

/// Communications are "OK" in this state in the sense of Figure 6 (used only for docs and
/// the STATE's meaning); the endpoint tracks the connection itself.
pub fn is_serving(state: ServerState, role: Role) -> bool {
    crate::binding::answer_mode(state, role) != crate::binding::AnswerMode::Unresponsive
}

#[cfg(test)]
mod tests {
    use super::Input::*;
    use super::*;
    use Role::*;
    use ServerState::*;

    const ALL: [ServerState; 10] = [
        Startup,
        Normal,
        CommunicationsInterrupted,
        PartnerDown,
        PotentialConflict,
        Recover,
        RecoverWait,
        RecoverDone,
        ResolutionInterrupted,
        ConflictDone,
    ];

    fn ok(p: ServerState) -> Input {
        CommOk { partner: p }
    }

    #[test]
    fn partner_down_s8_4_2() {
        for p in [
            Normal,
            CommunicationsInterrupted,
            PartnerDown,
            PotentialConflict,
            ResolutionInterrupted,
            ConflictDone,
        ] {
            assert_eq!(
                next_state(Primary, PartnerDown, ok(p)),
                Some(PotentialConflict),
                "{p}"
            );
        }
        assert_eq!(next_state(Primary, PartnerDown, ok(Recover)), None);
        assert_eq!(next_state(Primary, PartnerDown, ok(RecoverWait)), None);
        assert_eq!(
            next_state(Secondary, PartnerDown, ok(RecoverDone)),
            Some(Normal)
        );
        assert_eq!(next_state(Primary, PartnerDown, CommFailed), None);
        assert_eq!(next_state(Primary, PartnerDown, AutoPartnerDown), None);
    }

    #[test]
    fn recover_s8_5_2() {
        for p in [PotentialConflict, ResolutionInterrupted, ConflictDone] {
            assert_eq!(next_state(Primary, Recover, ok(p)), Some(PotentialConflict));
        }
        for p in [
            Normal,
            CommunicationsInterrupted,
            PartnerDown,
            Recover,
            RecoverWait,
            RecoverDone,
        ] {
            assert_eq!(next_state(Primary, Recover, ok(p)), None, "{p}");
        }
        assert_eq!(next_state(Secondary, Recover, UpdDone), Some(RecoverWait));
        assert_eq!(next_state(Secondary, Recover, CommFailed), None);
    }

    #[test]
    fn recover_wait_s8_6_2() {
        assert_eq!(
            next_state(Primary, RecoverWait, RecoverWaitOver),
            Some(RecoverDone)
        );
        assert_eq!(next_state(Primary, RecoverWait, CommFailed), None);
        for p in ALL {
            assert_eq!(next_state(Primary, RecoverWait, ok(p)), None);
        }
    }

    #[test]
    fn recover_done_s8_7_2() {
        assert_eq!(next_state(Primary, RecoverDone, ok(Normal)), Some(Normal));
        assert_eq!(
            next_state(Primary, RecoverDone, ok(RecoverDone)),
            Some(Normal)
        );
        assert_eq!(
            next_state(Primary, RecoverDone, ok(Recover)),
            Some(CommunicationsInterrupted)
        );
        assert_eq!(
            next_state(Primary, RecoverDone, ok(RecoverWait)),
            Some(CommunicationsInterrupted)
        );
        assert_eq!(
            next_state(Primary, RecoverDone, ok(PotentialConflict)),
            Some(PotentialConflict)
        );
        assert_eq!(next_state(Primary, RecoverDone, ok(PartnerDown)), None);
        assert_eq!(next_state(Primary, RecoverDone, CommFailed), None);
    }

    #[test]
    fn normal_s8_8_2() {
        assert_eq!(
            next_state(Primary, Normal, OperatorPartnerDown),
            Some(PartnerDown)
        );
        assert_eq!(
            next_state(Primary, Normal, CommFailed),
            Some(CommunicationsInterrupted)
        );
        for p in [Normal, CommunicationsInterrupted, RecoverDone, ConflictDone] {
            assert_eq!(next_state(Secondary, Normal, ok(p)), None, "{p}");
        }
        // Unexpected: partner says PARTNER-DOWN → via COMM-INT straight to POTENTIAL-CONFLICT.
        assert_eq!(
            next_state(Primary, Normal, ok(PartnerDown)),
            Some(PotentialConflict)
        );
        // Partner restarted without its database: COMM-INT and wait there (RECOVER row).
        assert_eq!(
            next_state(Primary, Normal, ok(Recover)),
            Some(CommunicationsInterrupted)
        );
        // The auto timer never fires in NORMAL.
        assert_eq!(next_state(Primary, Normal, AutoPartnerDown), None);
    }

    #[test]
    fn communications_interrupted_s8_9_2() {
        let ci = CommunicationsInterrupted;
        assert_eq!(next_state(Primary, ci, AutoPartnerDown), Some(PartnerDown));
        assert_eq!(
            next_state(Primary, ci, OperatorPartnerDown),
            Some(PartnerDown)
        );
        for p in [Normal, CommunicationsInterrupted, RecoverDone] {
            assert_eq!(next_state(Primary, ci, ok(p)), Some(Normal), "{p}");
        }
        for p in [
            PartnerDown,
            PotentialConflict,
            ConflictDone,
            ResolutionInterrupted,
        ] {
            assert_eq!(
                next_state(Primary, ci, ok(p)),
                Some(PotentialConflict),
                "{p}"
            );
        }
        assert_eq!(next_state(Primary, ci, ok(Recover)), None);
        assert_eq!(next_state(Primary, ci, ok(RecoverWait)), None);
        assert_eq!(next_state(Primary, ci, CommFailed), None);
    }

    #[test]
    fn potential_conflict_s8_10_2() {
        let pc = PotentialConflict;
        assert_eq!(
            next_state(Primary, pc, CommFailed),
            Some(ResolutionInterrupted)
        );
        assert_eq!(next_state(Primary, pc, UpdDone), Some(ConflictDone));
        assert_eq!(next_state(Secondary, pc, UpdDone), Some(Normal));
        // The operator cannot declare the partner down here: it is reachable.
        assert_eq!(next_state(Primary, pc, OperatorPartnerDown), None);
        for p in ALL {
            assert_eq!(next_state(Secondary, pc, ok(p)), None);
        }
    }

    #[test]
    fn resolution_interrupted_s8_11_2() {
        let ri = ResolutionInterrupted;
        assert_eq!(
            next_state(Primary, ri, OperatorPartnerDown),
            Some(PartnerDown)
        );
        for p in ALL.into_iter().filter(|p| *p != Startup) {
            assert_eq!(next_state(Primary, ri, ok(p)), Some(PotentialConflict));
        }
        assert_eq!(next_state(Primary, ri, AutoPartnerDown), None);
    }

    #[test]
    fn conflict_done_s8_12_2() {
        assert_eq!(next_state(Primary, ConflictDone, ok(Normal)), Some(Normal));
        assert_eq!(
            next_state(Primary, ConflictDone, ok(PotentialConflict)),
            None
        );
        assert_eq!(next_state(Primary, ConflictDone, CommFailed), None);
    }

    #[test]
    fn operator_partner_down_only_from_three_states() {
        // RFC 8156 §8: NORMAL, COMMUNICATIONS-INTERRUPTED, RESOLUTION-INTERRUPTED only.
        let allowed: Vec<_> = ALL
            .into_iter()
            .filter(|s| next_state(Primary, *s, OperatorPartnerDown).is_some())
            .collect();
        assert_eq!(
            allowed,
            vec![Normal, CommunicationsInterrupted, ResolutionInterrupted]
        );
    }

    #[test]
    fn startup_resume_s8_3_2_steps_1_2() {
        assert_eq!(resume_state(None), Recover);
        assert_eq!(resume_state(Some(Normal)), CommunicationsInterrupted);
        assert_eq!(resume_state(Some(PotentialConflict)), ResolutionInterrupted);
        for s in [
            PartnerDown,
            Recover,
            RecoverWait,
            RecoverDone,
            ConflictDone,
            CommunicationsInterrupted,
        ] {
            assert_eq!(resume_state(Some(s)), s);
        }
    }

    #[test]
    fn startup_partner_in_partner_down_s8_3_2_step_5() {
        let t = Time(1_000_000);
        // The partner took over after we stopped: we recover from it.
        assert_eq!(
            after_startup_partner_down(Some(t + 60), t, CommunicationsInterrupted),
            Recover
        );
        // It took over while we were still running: both may have served: conflict.
        assert_eq!(
            after_startup_partner_down(Some(Time(999_940)), t, CommunicationsInterrupted),
            PotentialConflict
        );
    }
}
