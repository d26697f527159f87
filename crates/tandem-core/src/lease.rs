//! The lease model shared by the DHCPv6 and DHCPv4 servers, the store and failover.
//!
//! One [`Lease`] is one address or one delegated prefix and everything either
//! partner must remember about it (RFC 8156 §7.3). Addresses and prefixes that
//! were never used have no `Lease` at all: a pool's free space is implicit, so
//! a /64 pool costs nothing until clients arrive.
//!
//! A DHCPv4 lease (RFC 2131) is the same record with a [`Resource::V4Address`]: one
//! model, one table, one store. RFC 8156 failover covers DHCPv6 only (§1), so nothing
//! of it ever applies to a v4 lease; DHCPv4 failover has its own message path.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use crate::time::Time;

/// A client's (or server's) DHCP Unique Identifier, RFC 8415 §11. Opaque bytes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duid(pub Vec<u8>);

impl Duid {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&[u8]> for Duid {
    fn from(b: &[u8]) -> Self {
        Duid(b.to_vec())
    }
}

/// Lower-case hex with `:` separators, the form operators know from Kea and dhclient.
impl fmt::Display for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ColonHex(&self.0).fmt(f)
    }
}

/// Bytes as colon-separated lowercase hex (`00:01:0a`): how DUIDs and hardware addresses
/// are shown in logs and in the control API.
pub struct ColonHex<'a>(pub &'a [u8]);

impl fmt::Display for ColonHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duid({self})")
    }
}

/// The kind of identity association a lease belongs to (RFC 8415 §12).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IaType {
    /// Non-temporary addresses (OPTION_IA_NA).
    Na,
    /// Temporary addresses (OPTION_IA_TA).
    Ta,
    /// Delegated prefixes (OPTION_IA_PD).
    Pd,
}

/// What a lease leases: one address or one prefix.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// A DHCPv6 address (IA_NA / IA_TA).
    Address(Ipv6Addr),
    /// A DHCPv6 delegated prefix (IA_PD).
    Prefix(Ipv6Net),
    /// A DHCPv4 address ('yiaddr', RFC 2131 §2).
    V4Address(Ipv4Addr),
}

impl Resource {
    /// Whether this is a DHCPv4 resource. RFC 8156 failover never carries one (§1: the
    /// protocol is defined for DHCPv6 only).
    pub fn is_v4(&self) -> bool {
        matches!(self, Resource::V4Address(_))
    }
}

/// Addresses as RFC 5952 text (v6) or a dotted quad (v4), prefixes in CIDR notation.
impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Address(a) => write!(f, "{a}"),
            Resource::Prefix(p) => write!(f, "{p}"),
            Resource::V4Address(a) => write!(f, "{a}"),
        }
    }
}

/// Binding status of a lease, RFC 8156 §5.5.1 / §7.2 (wire values of OPTION_F_BINDING_STATUS).
///
/// A server without a partner only uses `Active`, `Expired`, `Released` and
/// `Abandoned`; the rest exist for failover.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum BindingStatus {
    Active = 1,
    Expired = 2,
    Released = 3,
    PendingFree = 4,
    Free = 5,
    FreeBackup = 6,
    Abandoned = 7,
    Reset = 8,
}

impl BindingStatus {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Active,
            2 => Self::Expired,
            3 => Self::Released,
            4 => Self::PendingFree,
            5 => Self::Free,
            6 => Self::FreeBackup,
            7 => Self::Abandoned,
            8 => Self::Reset,
            _ => return None,
        })
    }

    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name RFC 8156 uses, for logs and `tandem ctl`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Expired => "EXPIRED",
            Self::Released => "RELEASED",
            Self::PendingFree => "PENDING-FREE",
            Self::Free => "FREE",
            Self::FreeBackup => "FREE-BACKUP",
            Self::Abandoned => "ABANDONED",
            Self::Reset => "RESET",
        }
    }
}

impl fmt::Display for BindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-lease failover variables, RFC 8156 §7.3. All absent for a server without a partner.
/// The three lifetimes are absolute expiries; an infinite one is [`Time::NEVER`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailoverFields {
    /// Largest lifetime this server ever acknowledged to its partner (a BNDREPLY it sent).
    pub expiration_time: Option<Time>,
    /// Largest lifetime the partner ever acknowledged to this server.
    pub acked_partner_lifetime: Option<Time>,
    /// Lifetime this server will send / has sent to the partner and is not yet acked.
    pub partner_lifetime: Option<Time>,
    /// Last time the *partner* talked to the client, exactly as the partner reported it.
    pub partner_raw_cltt: Option<Time>,
    /// The partner has not yet acknowledged the current state of this lease.
    pub update_pending: bool,
}

/// One address or prefix and everything known about its binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub resource: Resource,
    pub status: BindingStatus,
    /// The client last associated with the lease; empty when none (FREE, FREE-BACKUP).
    ///
    /// DHCPv6: the client's DUID (RFC 8415 §11). DHCPv4: the key the server identifies
    /// the client by, which RFC 2131 §4.2 defines as the 'client identifier' option (61)
    /// when the client supplies one, else the contents of 'chaddr': here the option's
    /// value as sent, or else the 'htype' byte followed by the first 'hlen' bytes of
    /// 'chaddr' (the same bytes as [`Lease::hw_address`]). A client identifier of
    /// hardware type and address (RFC 2132 §9.14) therefore keys the same client as its
    /// chaddr would.
    pub duid: Duid,
    /// DHCPv4 only: the client's hardware address as the 'htype' byte followed by the
    /// first 'hlen' bytes of 'chaddr' (RFC 2131 §2). Kept apart from the client key
    /// (`duid`), which may be a client identifier: DHCPv4 failover sends both, in its
    /// client-hardware-address and client-identifier options (draft-ietf-dhc-failover-12),
    /// the former in this same type-then-address layout. Empty for DHCPv6 leases and for
    /// a v4 record with no client.
    pub hw_address: Vec<u8>,
    /// The client's IAID for the IA this lease sits in; 0 for DHCPv4 (no IA).
    pub iaid: u32,
    /// Which configured subnet the lease belongs to.
    pub subnet_id: u32,
    /// Lifetimes and renewal times exactly as last sent to the client.
    pub preferred_lifetime: u32,
    pub valid_lifetime: u32,
    pub t1: u32,
    pub t2: u32,
    /// client-last-transaction-time: last time this server talked to the client.
    pub cltt: Time,
    /// When `status` took its current value.
    pub start_time_of_state: Time,
    /// When the current status ends (ACTIVE: end of the valid lifetime), if it has a timeout.
    /// An infinite valid lifetime (RFC 8415 §7.7) ends at [`Time::NEVER`]; `None` is a
    /// status without a timeout (RELEASED waiting for the partner, FREE, ...).
    pub state_expiration: Option<Time>,
    pub failover: FailoverFields,
}

impl Lease {
    /// Which IA type this lease belongs in: addresses are IA_NA unless recorded otherwise;
    /// `None` for a DHCPv4 lease.
    ///
    /// A DHCPv4 lease has no IA at all (RFC 2131 binds an address to a client, nothing
    /// in between), so there is no honest IA type to report. An `Option` rather than a
    /// stand-in `IaType::Na` makes every caller decide: the DHCPv6 paths that build
    /// IA options or RFC 8156 binding updates from a lease must skip a v4 one, and the
    /// compiler points at each of them.
    pub fn ia_type(&self) -> Option<IaType> {
        match self.resource {
            Resource::Address(_) => Some(IaType::Na),
            Resource::Prefix(_) => Some(IaType::Pd),
            Resource::V4Address(_) => None,
        }
    }

    /// Whether this is a DHCPv4 lease (see [`Resource::is_v4`]).
    pub fn is_v4(&self) -> bool {
        self.resource.is_v4()
    }

    /// Whether the lease is held by a client at `now` (ACTIVE and not yet past its valid lifetime).
    pub fn is_active_at(&self, now: Time) -> bool {
        self.status == BindingStatus::Active && self.state_expiration.is_none_or(|end| now < end)
    }

    /// Seconds of valid lifetime left at `now` (0 when expired or not active).
    pub fn remaining_valid(&self, now: Time) -> u64 {
        match (self.status, self.state_expiration) {
            (BindingStatus::Active, Some(end)) => end.secs_since(now),
            _ => 0,
        }
    }
}

/// One change to the lease database, as the core hands it to the store.
///
/// The driver commits a batch of these in one transaction (group commit) and only
/// then releases the replies that depend on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseChange {
    /// Insert the lease, or replace the stored lease for the same resource.
    Upsert(Lease),
    /// Forget the lease for this resource (it returned to the pool's implicit free space).
    Remove(Resource),
}

impl LeaseChange {
    pub fn resource(&self) -> Resource {
        match self {
            LeaseChange::Upsert(l) => l.resource,
            LeaseChange::Remove(r) => *r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_status_wire_values_match_rfc8156() {
        // RFC 8156 §5.5.1: 1 ACTIVE ... 8 RESET; 0 is reserved.
        assert_eq!(BindingStatus::from_u8(0), None);
        assert_eq!(BindingStatus::from_u8(9), None);
        for v in 1..=8 {
            assert_eq!(BindingStatus::from_u8(v).unwrap().as_u8(), v);
        }
        assert_eq!(BindingStatus::FreeBackup.name(), "FREE-BACKUP");
    }

    #[test]
    fn duid_displays_as_colon_hex() {
        assert_eq!(Duid(vec![0, 1, 0xab]).to_string(), "00:01:ab");
    }

    #[test]
    fn lease_activity_follows_state_expiration() {
        let lease = Lease {
            resource: Resource::Address("2001:db8::1".parse().unwrap()),
            status: BindingStatus::Active,
            duid: Duid(vec![1]),
            hw_address: Vec::new(),
            iaid: 1,
            subnet_id: 1,
            preferred_lifetime: 50,
            valid_lifetime: 100,
            t1: 25,
            t2: 40,
            cltt: Time(1000),
            start_time_of_state: Time(1000),
            state_expiration: Some(Time(1100)),
            failover: FailoverFields::default(),
        };
        assert!(lease.is_active_at(Time(1099)));
        assert!(!lease.is_active_at(Time(1100)));
        assert_eq!(lease.remaining_valid(Time(1060)), 40);
    }

    #[test]
    fn a_v4_address_displays_as_a_dotted_quad() {
        let r = Resource::V4Address(Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(r.to_string(), "192.0.2.10");
        assert!(r.is_v4());
        assert!(!Resource::Address("2001:db8::1".parse().unwrap()).is_v4());
    }

    #[test]
    fn a_v4_lease_has_no_ia_type_rfc2131() {
        let mut lease = Lease {
            resource: Resource::V4Address(Ipv4Addr::new(192, 0, 2, 10)),
            status: BindingStatus::Active,
            duid: Duid(vec![1, 0, 0x5e, 0, 0, 1]),
            hw_address: vec![1, 0, 0x5e, 0, 0, 1],
            iaid: 0,
            subnet_id: 1,
            preferred_lifetime: 0,
            valid_lifetime: 3600,
            t1: 1800,
            t2: 3150,
            cltt: Time(1000),
            start_time_of_state: Time(1000),
            state_expiration: Some(Time(4600)),
            failover: FailoverFields::default(),
        };
        assert_eq!(lease.ia_type(), None);
        assert!(lease.is_v4());
        lease.resource = Resource::Address("2001:db8::1".parse().unwrap());
        assert_eq!(lease.ia_type(), Some(IaType::Na));
        lease.resource = Resource::Prefix("2001:db8:100::/56".parse().unwrap());
        assert_eq!(lease.ia_type(), Some(IaType::Pd));
    }
}
