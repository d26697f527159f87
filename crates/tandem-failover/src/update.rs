//! BNDUPD / BNDREPLY content in domain terms (RFC 8156 §7.4, §7.6).
//!
//! Times here are absolute `Time`s; OPTION_CLT_TIME (relative to OPTION_LQ_BASE_TIME) is
//! converted to an absolute instant with the *raw* base time by the wire conversion, so
//! everything downstream compares absolute times only (§7.5.5 step 4).

pub mod draft12;

use std::collections::BTreeMap;

use ipnet::Ipv6Net;
use tandem_core::{BindingStatus, Duid, IaType, Lease, Resource, Time};

/// Failover status codes added by RFC 8156 §5.6 (values from the IANA registry).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum FailoverStatus {
    AddressInUse = 16,
    ConfigurationConflict = 17,
    MissingBindingInformation = 18,
    OutdatedBindingInformation = 19,
    ServerShuttingDown = 20,
    DnsUpdateNotSupported = 21,
    ExcessiveTimeSkew = 22,
}

impl FailoverStatus {
    pub fn from_u16(v: u16) -> Option<Self> {
        use FailoverStatus::*;
        Some(match v {
            16 => AddressInUse,
            17 => ConfigurationConflict,
            18 => MissingBindingInformation,
            19 => OutdatedBindingInformation,
            20 => ServerShuttingDown,
            21 => DnsUpdateNotSupported,
            22 => ExcessiveTimeSkew,
            _ => return None,
        })
    }
    pub fn as_u16(self) -> u16 {
        self as u16
    }
}

/// An error status in a BNDREPLY: one of the failover codes, or any other non-zero
/// DHCPv6 status the partner chose (kept verbatim so nothing is lost).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    Failover(FailoverStatus),
    Other(u16),
}

impl RejectReason {
    pub fn from_code(code: u16) -> Option<Self> {
        if code == 0 {
            return None; // Success is informational only (§7.6)
        }
        Some(
            FailoverStatus::from_u16(code)
                .map_or(RejectReason::Other(code), RejectReason::Failover),
        )
    }
    pub fn code(self) -> u16 {
        match self {
            RejectReason::Failover(s) => s.as_u16(),
            RejectReason::Other(c) => c,
        }
    }
}

impl From<FailoverStatus> for RejectReason {
    fn from(s: FailoverStatus) -> Self {
        RejectReason::Failover(s)
    }
}

/// One IAADDR / IAPREFIX with its per-lease failover options (§7.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseUpdate {
    pub resource: Resource,
    /// Lifetimes as sent to the client (0 for a top-level IAPREFIX, RFC 8156 §7.4).
    pub preferred: u32,
    pub valid: u32,
    pub status: BindingStatus,
    pub start_time_of_state: Time,
    /// `*` field: present iff the status has a timeout.
    pub state_expiration: Option<Time>,
    /// OPTION_CLT_TIME as an absolute instant (base time − clt); only after a real
    /// interaction with the client.
    pub cltt: Option<Time>,
    /// `*` OPTION_F_PARTNER_LIFETIME.
    pub partner_lifetime: Option<Time>,
    /// OPTION_F_PARTNER_RAW_CLT_TIME.
    pub partner_raw_cltt: Option<Time>,
    /// `*` OPTION_F_EXPIRATION_TIME.
    pub expiration_time: Option<Time>,
}

/// One IA_NA / IA_TA / IA_PD of the client (IA_TA has no T1/T2: sent as 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IaUpdate {
    pub ia_type: IaType,
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    pub leases: Vec<LeaseUpdate>,
}

/// The content of one BNDUPD: exactly one CLIENT_DATA or one top-level IAPREFIX (§7.5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingUpdate {
    Client {
        duid: Duid,
        /// OPTION_LQ_BASE_TIME: "now" when the CLIENT_DATA was filled.
        base_time: Time,
        ias: Vec<IaUpdate>,
    },
    /// A prefix not bound to a client (pool moves FREE / FREE-BACKUP, §4.2.2);
    /// `lease.resource` is a `Resource::Prefix`.
    Prefix { base_time: Time, lease: LeaseUpdate },
    /// One DHCPv4 address, the only thing a draft-ietf-dhc-failover-12 BNDUPD carries
    /// (§7.1; ISC dhcpd 4.4 refuses more than one per message). `lease.resource` is a
    /// `Resource::V4Address`; `client` is the client key as [`Lease::duid`] defines it for
    /// DHCPv4 and `hw_address` the htype byte and chaddr, both empty when no client.
    Address4 {
        client: Duid,
        hw_address: Vec<u8>,
        lease: LeaseUpdate,
    },
}

impl BindingUpdate {
    /// Every lease the update talks about, with the IA it sits in (None for top-level).
    pub fn leases(&self) -> Vec<(Option<(IaType, u32)>, &LeaseUpdate)> {
        match self {
            BindingUpdate::Client { ias, .. } => ias
                .iter()
                .flat_map(|ia| {
                    ia.leases
                        .iter()
                        .map(move |l| (Some((ia.ia_type, ia.iaid)), l))
                })
                .collect(),
            BindingUpdate::Prefix { lease, .. } | BindingUpdate::Address4 { lease, .. } => {
                vec![(None, lease)]
            }
        }
    }

    /// The failover protocol that carries this form.
    pub fn protocol(&self) -> crate::wire::Protocol {
        match self {
            BindingUpdate::Address4 { .. } => crate::wire::Protocol::Draft12,
            BindingUpdate::Client { .. } | BindingUpdate::Prefix { .. } => {
                crate::wire::Protocol::Rfc8156
            }
        }
    }

    pub fn duid(&self) -> Option<&Duid> {
        match self {
            BindingUpdate::Client { duid, .. } => Some(duid),
            BindingUpdate::Address4 { client, .. } if !client.is_empty() => Some(client),
            BindingUpdate::Prefix { .. } | BindingUpdate::Address4 { .. } => None,
        }
    }
}

/// Per-lease part of a BNDREPLY (§7.6): echoes of the BNDUPD plus an optional rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseReply {
    pub resource: Resource,
    /// None = accepted (no OPTION_STATUS_CODE, or a Success one).
    pub reject: Option<RejectReason>,
    pub binding_status: BindingStatus,
    pub state_expiration: Option<Time>,
    /// Verbatim copy of the BNDUPD's PARTNER_LIFETIME (§5.5.11).
    pub partner_lifetime_sent: Option<Time>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IaReply {
    pub ia_type: IaType,
    pub iaid: u32,
    /// An error here rejects the whole IA (§7.7).
    pub reject: Option<RejectReason>,
    pub leases: Vec<LeaseReply>,
}

/// The content of one BNDREPLY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingReply {
    Client {
        duid: Duid,
        /// An error here rejects the whole CLIENT_DATA.
        reject: Option<RejectReason>,
        ias: Vec<IaReply>,
    },
    Prefix {
        lease: LeaseReply,
    },
    /// The answer about one DHCPv4 address (draft-12 BNDACK, §7.2).
    Address4 {
        lease: LeaseReply,
    },
}

impl BindingReply {
    /// The effective verdict per lease: an error at an outer level covers everything inside.
    pub fn verdicts(&self) -> Vec<(Resource, &LeaseReply, Option<RejectReason>)> {
        match self {
            BindingReply::Client { reject, ias, .. } => ias
                .iter()
                .flat_map(|ia| {
                    ia.leases
                        .iter()
                        .map(move |l| (l.resource, l, reject.or(ia.reject).or(l.reject)))
                })
                .collect(),
            BindingReply::Prefix { lease } | BindingReply::Address4 { lease } => {
                vec![(lease.resource, lease, lease.reject)]
            }
        }
    }
}

/// Which IA type a lease travels in. Temporary addresses would need the lease model to
/// record IA_TA (proposed to tandem-core); until then addresses go in IA_NA. None for a
/// DHCPv4 lease, which has no IA and no place in a BNDUPD (RFC 8156 §1: DHCPv6 only).
fn ia_type_of(lease: &Lease) -> Option<IaType> {
    lease.ia_type()
}

/// The per-lease part of a BNDUPD for one local lease (§7.4): `*` fields iff the status
/// has a timeout, i.e. the lease has a state-expiration-time.
pub fn lease_update_from(lease: &Lease) -> LeaseUpdate {
    let timed = lease.state_expiration.is_some();
    let client_bound = !lease.duid.is_empty();
    LeaseUpdate {
        resource: lease.resource,
        preferred: lease.preferred_lifetime,
        valid: lease.valid_lifetime,
        status: lease.status,
        start_time_of_state: lease.start_time_of_state,
        state_expiration: lease.state_expiration,
        // CLT_TIME only reflects a real client interaction (§7.4); cltt 0 = never.
        cltt: (client_bound && lease.cltt != Time::ZERO).then_some(lease.cltt),
        // Without a computed partner lifetime, propose the client's own expiry: never
        // less than what the client holds.
        partner_lifetime: if timed {
            lease.failover.partner_lifetime.or(lease.state_expiration)
        } else {
            None
        },
        partner_raw_cltt: lease.failover.partner_raw_cltt,
        // Never acked anything to the partner: send the failover epoch (wire value 0), the
        // earliest time there is, so the partner's "replace if later" keeps its own value.
        expiration_time: if timed {
            Some(
                lease
                    .failover
                    .expiration_time
                    .unwrap_or(Time::from_failover(0)),
            )
        } else {
            None
        },
    }
}

/// Build the BNDUPD for one client from all of its local leases (lazy update, §4.3, §7.4).
///
/// Leases of other clients are ignored, and so are DHCPv4 leases whose client key happens
/// to be the same bytes (RFC 8156 §1: the protocol carries DHCPv6 bindings only); returns
/// None when no lease belongs to `duid`. IAs are ordered by (type, IAID) so the output is
/// deterministic.
pub fn build_client_update(duid: &Duid, leases: &[Lease], now: Time) -> Option<BindingUpdate> {
    let mut by_ia: BTreeMap<(IaType, u32), IaUpdate> = BTreeMap::new();
    for lease in leases.iter().filter(|l| &l.duid == duid) {
        let Some(ia_type) = ia_type_of(lease) else {
            continue;
        };
        let ia = by_ia
            .entry((ia_type, lease.iaid))
            .or_insert_with(|| IaUpdate {
                ia_type,
                iaid: lease.iaid,
                t1: 0,
                t2: 0,
                leases: Vec::new(),
            });
        // Same T1/T2 across one IA (RFC 8415 §18.3.2); keep the latest-started lease's.
        if ia_type != IaType::Ta {
            ia.t1 = lease.t1;
            ia.t2 = lease.t2;
        }
        ia.leases.push(lease_update_from(lease));
    }
    if by_ia.is_empty() || duid.is_empty() {
        return None;
    }
    Some(BindingUpdate::Client {
        duid: duid.clone(),
        base_time: now,
        ias: by_ia.into_values().collect(),
    })
}

/// Build the BNDUPD for a prefix not bound to a client (§7.4).
pub fn build_prefix_update(
    prefix: Ipv6Net,
    status: BindingStatus,
    start_time_of_state: Time,
    now: Time,
) -> BindingUpdate {
    BindingUpdate::Prefix {
        base_time: now,
        lease: LeaseUpdate {
            resource: Resource::Prefix(prefix),
            preferred: 0,
            valid: 0,
            status,
            start_time_of_state,
            state_expiration: None,
            cltt: None,
            partner_lifetime: None,
            partner_raw_cltt: None,
            expiration_time: None,
        },
    }
}

/// Build a top-level IAPREFIX BNDUPD from a local prefix lease record without a client.
pub fn build_prefix_update_from_lease(lease: &Lease, now: Time) -> Option<BindingUpdate> {
    match lease.resource {
        Resource::Prefix(_) => Some(BindingUpdate::Prefix {
            base_time: now,
            lease: LeaseUpdate {
                preferred: 0,
                valid: 0,
                cltt: None,
                ..lease_update_from(lease)
            },
        }),
        // An address has no top-level form; a DHCPv4 one has no RFC 8156 form at all (§1).
        Resource::Address(_) | Resource::V4Address(_) => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tandem_core::FailoverFields;

    pub fn lease(
        resource: &str,
        duid: u8,
        status: BindingStatus,
        start: u64,
        exp: Option<u64>,
    ) -> Lease {
        let resource = if resource.contains('/') {
            Resource::Prefix(resource.parse().unwrap())
        } else {
            Resource::Address(resource.parse().unwrap())
        };
        Lease {
            resource,
            status,
            duid: if duid == 0 {
                Duid::default()
            } else {
                Duid(vec![0, 1, duid])
            },
            hw_address: Vec::new(),
            iaid: 7,
            subnet_id: 1,
            preferred_lifetime: 1800,
            valid_lifetime: 3600,
            t1: 900,
            t2: 1440,
            cltt: Time(start),
            start_time_of_state: Time(start),
            state_expiration: exp.map(Time),
            failover: FailoverFields::default(),
        }
    }

    #[test]
    fn client_update_groups_ias_and_sets_timeout_fields_iff_timed_s7_4() {
        let mut a = lease("2001:db8::1", 9, BindingStatus::Active, 1000, Some(4600));
        a.failover.partner_lifetime = Some(Time(9000));
        let p = lease(
            "2001:db8:100::/56",
            9,
            BindingStatus::Active,
            1000,
            Some(4600),
        );
        let mut r = lease("2001:db8::3", 9, BindingStatus::Released, 1200, None);
        r.iaid = 8;
        let other = lease("2001:db8::5", 4, BindingStatus::Active, 1000, Some(4600));
        let upd = build_client_update(&Duid(vec![0, 1, 9]), &[a, p, r, other], Time(1300)).unwrap();
        let BindingUpdate::Client {
            duid,
            base_time,
            ias,
        } = &upd
        else {
            panic!()
        };
        assert_eq!(duid, &Duid(vec![0, 1, 9]));
        assert_eq!(*base_time, Time(1300));
        assert_eq!(ias.len(), 3, "IA_NA 7, IA_NA 8, IA_PD 7");
        let leases = upd.leases();
        let active = leases
            .iter()
            .find(|(_, l)| {
                l.status == BindingStatus::Active && matches!(l.resource, Resource::Address(_))
            })
            .unwrap()
            .1;
        assert_eq!(active.state_expiration, Some(Time(4600)));
        assert_eq!(active.partner_lifetime, Some(Time(9000)));
        assert!(active.expiration_time.is_some());
        let released = leases
            .iter()
            .find(|(_, l)| l.status == BindingStatus::Released)
            .unwrap()
            .1;
        assert_eq!(released.state_expiration, None);
        assert_eq!(released.partner_lifetime, None);
        assert_eq!(released.expiration_time, None);
    }

    #[test]
    fn no_update_for_unknown_client_s7_4() {
        let a = lease("2001:db8::1", 9, BindingStatus::Active, 1000, Some(4600));
        assert!(build_client_update(&Duid(vec![1]), &[a], Time(0)).is_none());
    }

    #[test]
    fn reply_outer_error_covers_inner_leases_s7_6() {
        let lr = LeaseReply {
            resource: Resource::Address("2001:db8::1".parse().unwrap()),
            reject: None,
            binding_status: BindingStatus::Active,
            state_expiration: None,
            partner_lifetime_sent: None,
        };
        let reply = BindingReply::Client {
            duid: Duid(vec![1]),
            reject: Some(FailoverStatus::ConfigurationConflict.into()),
            ias: vec![IaReply {
                ia_type: IaType::Na,
                iaid: 1,
                reject: None,
                leases: vec![lr],
            }],
        };
        assert_eq!(
            reply.verdicts()[0].2,
            Some(FailoverStatus::ConfigurationConflict.into())
        );
        assert_eq!(RejectReason::from_code(0), None);
        assert_eq!(
            RejectReason::from_code(19),
            Some(FailoverStatus::OutdatedBindingInformation.into())
        );
        assert_eq!(RejectReason::from_code(3), Some(RejectReason::Other(3)));
    }

    /// A DHCPv4 lease whose client key is the same bytes as a DHCPv6 client's DUID stays
    /// out of that client's BNDUPD (RFC 8156 §1: DHCPv6 bindings only), and alone it makes
    /// no BNDUPD at all.
    #[test]
    fn a_v4_lease_never_goes_into_a_bndupd_s1() {
        let v6 = lease("2001:db8::1", 5, BindingStatus::Active, 1, Some(99));
        let mut v4 = v6.clone();
        v4.resource = Resource::V4Address([192, 0, 2, 10].into());
        v4.iaid = 0;
        let duid = v6.duid.clone();
        let Some(BindingUpdate::Client { ias, .. }) =
            build_client_update(&duid, &[v4.clone(), v6.clone()], Time(5))
        else {
            panic!("an update for the v6 lease");
        };
        let sent: Vec<Resource> = ias
            .iter()
            .flat_map(|ia| ia.leases.iter().map(|l| l.resource))
            .collect();
        assert_eq!(sent, vec![v6.resource]);
        assert_eq!(build_client_update(&duid, &[v4.clone()], Time(5)), None);
        let mut pool_v4 = v4;
        pool_v4.duid = Duid::default();
        assert_eq!(build_prefix_update_from_lease(&pool_v4, Time(5)), None);
    }
}

pub mod wire {
    use ipnet::Ipv6Net;
    use tandem_core::{BindingStatus, Duid, IaType, Resource, Time};
    use tandem_wire::failover::{FailoverMessage, FailoverMsgType};
    use tandem_wire::v6::{DhcpOption, Ia, IaAddr, IaPrefix, IaTa, StatusCode};

    use super::{
        BindingReply, BindingUpdate, IaReply, IaUpdate, LeaseReply, LeaseUpdate, RejectReason,
    };

    /// Why a received BNDUPD/BNDREPLY could not be turned into domain types. The endpoint
    /// answers an unreadable BNDUPD with MissingBindingInformation (§7.5.3).
    #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
    pub enum FromWireError {
        #[error("message type {0:?} is not {1:?}")]
        WrongType(FailoverMsgType, FailoverMsgType),
        #[error("expected exactly one CLIENT_DATA or one top-level IAPREFIX, found {client_data} CLIENT_DATA and {iaprefix} IAPREFIX")]
        Shape { client_data: usize, iaprefix: usize },
        #[error("{what} missing in {context}")]
        Missing { what: &'static str, context: String },
        #[error("binding status {0} is not a known value")]
        BadStatus(u8),
        #[error("prefix length {0} is above 128")]
        BadPrefixLen(u8),
    }

    /// RFC 8156 absolute time; [`Time::NEVER`] is sent as all ones (see
    /// [`tandem_core::time::FAILOVER_NEVER`]), far finite times saturate below it.
    fn fo(t: Time) -> u32 {
        t.to_failover()
    }
    /// An instant (base time, start of state, client transaction times).
    fn unfo(v: u32) -> Time {
        Time::from_failover(v)
    }
    /// An expiry (state-expiration-time and the partner lifetimes): all ones is never.
    fn unfo_expiry(v: u32) -> Time {
        Time::from_failover_expiry(v)
    }

    fn lease_options(l: &LeaseUpdate, base: Time) -> Vec<DhcpOption> {
        let mut o = vec![
            DhcpOption::BindingStatus(l.status.as_u8()),
            DhcpOption::StartTimeOfState(fo(l.start_time_of_state)),
        ];
        if let Some(t) = l.state_expiration {
            o.push(DhcpOption::StateExpirationTime(fo(t)));
        }
        if let Some(c) = l.cltt {
            let rel = base.secs_since(c);
            o.push(DhcpOption::CltTime(u32::try_from(rel).unwrap_or(u32::MAX)));
        }
        if let Some(t) = l.partner_lifetime {
            o.push(DhcpOption::PartnerLifetime(fo(t)));
        }
        if let Some(t) = l.partner_raw_cltt {
            o.push(DhcpOption::PartnerRawCltTime(fo(t)));
        }
        if let Some(t) = l.expiration_time {
            o.push(DhcpOption::ExpirationTime(fo(t)));
        }
        o
    }

    /// The IAADDR / IAPREFIX for one lease; None for a DHCPv4 address, which RFC 8156 has
    /// no option for (§1: DHCPv6 only). The builders never put one in an update
    /// (`build_client_update`, `build_prefix_update_from_lease`), so it is left out.
    fn lease_option(
        resource: Resource,
        preferred: u32,
        valid: u32,
        options: Vec<DhcpOption>,
    ) -> Option<DhcpOption> {
        Some(match resource {
            Resource::Address(addr) => DhcpOption::IaAddr(IaAddr {
                addr,
                preferred,
                valid,
                options,
            }),
            Resource::Prefix(p) => DhcpOption::IaPrefix(IaPrefix {
                preferred,
                valid,
                prefix_len: p.prefix_len(),
                prefix: p.network(),
                options,
            }),
            Resource::V4Address(_) => {
                debug_assert!(false, "DHCPv4 address {resource} in an RFC 8156 message");
                return None;
            }
        })
    }

    fn ia_option(
        ia_type: IaType,
        iaid: u32,
        t1: u32,
        t2: u32,
        options: Vec<DhcpOption>,
    ) -> DhcpOption {
        match ia_type {
            IaType::Na => DhcpOption::IaNa(Ia {
                iaid,
                t1,
                t2,
                options,
            }),
            IaType::Ta => DhcpOption::IaTa(IaTa { iaid, options }),
            IaType::Pd => DhcpOption::IaPd(Ia {
                iaid,
                t1,
                t2,
                options,
            }),
        }
    }

    fn status_option(r: Option<RejectReason>) -> Option<DhcpOption> {
        r.map(|r| {
            DhcpOption::StatusCode(StatusCode {
                code: r.code(),
                message: String::new(),
            })
        })
    }

    /// BNDUPD for `update` (§7.4).
    pub fn update_to_wire(update: &BindingUpdate, xid: u32, sent_time: Time) -> FailoverMessage {
        let msg = FailoverMessage::new(FailoverMsgType::BndUpd, xid, fo(sent_time));
        match update {
            BindingUpdate::Client {
                duid,
                base_time,
                ias,
            } => {
                let mut cd = vec![
                    DhcpOption::ClientId(duid.0.clone()),
                    DhcpOption::LqBaseTime(fo(*base_time)),
                ];
                for ia in ias {
                    let leases = ia
                        .leases
                        .iter()
                        .filter_map(|l| {
                            lease_option(
                                l.resource,
                                l.preferred,
                                l.valid,
                                lease_options(l, *base_time),
                            )
                        })
                        .collect();
                    cd.push(ia_option(ia.ia_type, ia.iaid, ia.t1, ia.t2, leases));
                }
                msg.with(DhcpOption::ClientData(cd))
            }
            BindingUpdate::Prefix { base_time, lease } => {
                let mut o = vec![DhcpOption::LqBaseTime(fo(*base_time))];
                o.extend(lease_options(lease, *base_time));
                match lease_option(lease.resource, lease.preferred, lease.valid, o) {
                    Some(body) => msg.with(body),
                    None => msg,
                }
            }
            // RFC 8156 carries no DHCPv4 binding (§1) and no RFC 8156 relationship queues
            // one (`UpdateKey::for_lease`); were one built, the empty BNDUPD is refused
            // by the partner as malformed rather than misread.
            BindingUpdate::Address4 { .. } => msg,
        }
    }

    /// BNDREPLY for `reply`, echoing the BNDUPD's xid (§7.6).
    pub fn reply_to_wire(reply: &BindingReply, xid: u32, sent_time: Time) -> FailoverMessage {
        let msg = FailoverMessage::new(FailoverMsgType::BndReply, xid, fo(sent_time));
        let lease = |l: &LeaseReply| {
            let mut o: Vec<DhcpOption> = status_option(l.reject).into_iter().collect();
            o.push(DhcpOption::BindingStatus(l.binding_status.as_u8()));
            if let Some(t) = l.state_expiration {
                o.push(DhcpOption::StateExpirationTime(fo(t)));
            }
            if let Some(t) = l.partner_lifetime_sent {
                o.push(DhcpOption::PartnerLifetimeSent(fo(t)));
            }
            lease_option(l.resource, 0, 0, o)
        };
        match reply {
            BindingReply::Client { duid, reject, ias } => {
                let mut cd = vec![DhcpOption::ClientId(duid.0.clone())];
                cd.extend(status_option(*reject));
                for ia in ias {
                    let mut o: Vec<DhcpOption> = status_option(ia.reject).into_iter().collect();
                    o.extend(ia.leases.iter().filter_map(lease));
                    cd.push(ia_option(ia.ia_type, ia.iaid, 0, 0, o));
                }
                msg.with(DhcpOption::ClientData(cd))
            }
            BindingReply::Prefix { lease: l } | BindingReply::Address4 { lease: l } => {
                match lease(l) {
                    Some(body) => msg.with(body),
                    None => msg,
                }
            }
        }
    }

    /// The single CLIENT_DATA or top-level IAPREFIX of a BNDUPD/BNDREPLY (§7.5.3).
    enum Body<'a> {
        Client(&'a [DhcpOption]),
        Prefix(&'a IaPrefix),
    }

    fn body(m: &FailoverMessage) -> Result<Body<'_>, FromWireError> {
        let cds: Vec<&Vec<DhcpOption>> = m
            .options
            .iter()
            .filter_map(|o| {
                if let DhcpOption::ClientData(v) = o {
                    Some(v)
                } else {
                    None
                }
            })
            .collect();
        let pfx: Vec<&IaPrefix> = m
            .options
            .iter()
            .filter_map(|o| {
                if let DhcpOption::IaPrefix(p) = o {
                    Some(p)
                } else {
                    None
                }
            })
            .collect();
        match (cds.as_slice(), pfx.as_slice()) {
            ([cd], []) => Ok(Body::Client(cd)),
            ([], [p]) => Ok(Body::Prefix(p)),
            _ => Err(FromWireError::Shape {
                client_data: cds.len(),
                iaprefix: pfx.len(),
            }),
        }
    }

    fn find<T>(opts: &[DhcpOption], f: impl Fn(&DhcpOption) -> Option<T>) -> Option<T> {
        opts.iter().find_map(f)
    }

    fn missing(what: &'static str, context: impl Into<String>) -> FromWireError {
        FromWireError::Missing {
            what,
            context: context.into(),
        }
    }

    fn status_of(opts: &[DhcpOption]) -> Option<RejectReason> {
        find(opts, |o| {
            if let DhcpOption::StatusCode(s) = o {
                Some(s.code)
            } else {
                None
            }
        })
        .and_then(RejectReason::from_code)
    }

    fn binding_status(opts: &[DhcpOption], ctx: &str) -> Result<BindingStatus, FromWireError> {
        let v = find(opts, |o| {
            if let DhcpOption::BindingStatus(v) = o {
                Some(*v)
            } else {
                None
            }
        })
        .ok_or_else(|| missing("OPTION_F_BINDING_STATUS", ctx))?;
        BindingStatus::from_u8(v).ok_or(FromWireError::BadStatus(v))
    }

    fn time_opt(opts: &[DhcpOption], f: impl Fn(&DhcpOption) -> Option<u32>) -> Option<Time> {
        find(opts, f).map(unfo)
    }

    fn expiry_opt(opts: &[DhcpOption], f: impl Fn(&DhcpOption) -> Option<u32>) -> Option<Time> {
        find(opts, f).map(unfo_expiry)
    }

    fn prefix_net(p: &IaPrefix) -> Result<Ipv6Net, FromWireError> {
        Ipv6Net::new(p.prefix, p.prefix_len)
            .map(|n| n.trunc())
            .map_err(|_| FromWireError::BadPrefixLen(p.prefix_len))
    }

    /// One IAADDR/IAPREFIX: (resource, preferred, valid, its options).
    type WireLease<'a> = (Resource, u32, u32, &'a [DhcpOption]);

    /// Each IAADDR/IAPREFIX inside an IA's options.
    fn leases_in(opts: &[DhcpOption]) -> Result<Vec<WireLease<'_>>, FromWireError> {
        let mut v = Vec::new();
        for o in opts {
            match o {
                DhcpOption::IaAddr(a) => v.push((
                    Resource::Address(a.addr),
                    a.preferred,
                    a.valid,
                    a.options.as_slice(),
                )),
                DhcpOption::IaPrefix(p) => v.push((
                    Resource::Prefix(prefix_net(p)?),
                    p.preferred,
                    p.valid,
                    p.options.as_slice(),
                )),
                _ => {}
            }
        }
        Ok(v)
    }

    fn lease_update(
        resource: Resource,
        preferred: u32,
        valid: u32,
        o: &[DhcpOption],
        base: Time,
    ) -> Result<LeaseUpdate, FromWireError> {
        let ctx = resource.to_string();
        Ok(LeaseUpdate {
            resource,
            preferred,
            valid,
            status: binding_status(o, &ctx)?,
            start_time_of_state: time_opt(o, |o| {
                if let DhcpOption::StartTimeOfState(v) = o {
                    Some(*v)
                } else {
                    None
                }
            })
            .ok_or_else(|| missing("OPTION_F_START_TIME_OF_STATE", ctx.clone()))?,
            state_expiration: expiry_opt(o, |o| {
                if let DhcpOption::StateExpirationTime(v) = o {
                    Some(*v)
                } else {
                    None
                }
            }),
            // Raw base time minus the relative CLT_TIME: no skew correction (§7.5.5).
            cltt: find(o, |o| {
                if let DhcpOption::CltTime(v) = o {
                    Some(*v)
                } else {
                    None
                }
            })
            .map(|rel| base - u64::from(rel)),
            partner_lifetime: expiry_opt(o, |o| {
                if let DhcpOption::PartnerLifetime(v) = o {
                    Some(*v)
                } else {
                    None
                }
            }),
            partner_raw_cltt: time_opt(o, |o| {
                if let DhcpOption::PartnerRawCltTime(v) = o {
                    Some(*v)
                } else {
                    None
                }
            }),
            expiration_time: expiry_opt(o, |o| {
                if let DhcpOption::ExpirationTime(v) = o {
                    Some(*v)
                } else {
                    None
                }
            }),
        })
    }

    fn ias(cd: &[DhcpOption]) -> Vec<(IaType, u32, u32, u32, &[DhcpOption])> {
        cd.iter()
            .filter_map(|o| match o {
                DhcpOption::IaNa(ia) => {
                    Some((IaType::Na, ia.iaid, ia.t1, ia.t2, ia.options.as_slice()))
                }
                DhcpOption::IaTa(ia) => Some((IaType::Ta, ia.iaid, 0, 0, ia.options.as_slice())),
                DhcpOption::IaPd(ia) => {
                    Some((IaType::Pd, ia.iaid, ia.t1, ia.t2, ia.options.as_slice()))
                }
                _ => None,
            })
            .collect()
    }

    fn client_id(cd: &[DhcpOption]) -> Result<Duid, FromWireError> {
        find(cd, |o| {
            if let DhcpOption::ClientId(d) = o {
                Some(Duid(d.clone()))
            } else {
                None
            }
        })
        .ok_or_else(|| missing("OPTION_CLIENTID", "OPTION_CLIENT_DATA"))
    }

    fn base_time(opts: &[DhcpOption], ctx: &str) -> Result<Time, FromWireError> {
        time_opt(opts, |o| {
            if let DhcpOption::LqBaseTime(v) = o {
                Some(*v)
            } else {
                None
            }
        })
        .ok_or_else(|| missing("OPTION_LQ_BASE_TIME", ctx))
    }

    /// Read a BNDUPD (§7.4). Errors mean "MissingBindingInformation" for the whole update.
    pub fn update_from_wire(m: &FailoverMessage) -> Result<BindingUpdate, FromWireError> {
        if m.msg_type != FailoverMsgType::BndUpd {
            return Err(FromWireError::WrongType(
                m.msg_type,
                FailoverMsgType::BndUpd,
            ));
        }
        match body(m)? {
            Body::Client(cd) => {
                let duid = client_id(cd)?;
                let base = base_time(cd, "OPTION_CLIENT_DATA")?;
                let mut out = Vec::new();
                for (ia_type, iaid, t1, t2, opts) in ias(cd) {
                    let leases = leases_in(opts)?
                        .into_iter()
                        .map(|(r, p, v, o)| lease_update(r, p, v, o, base))
                        .collect::<Result<Vec<_>, _>>()?;
                    out.push(IaUpdate {
                        ia_type,
                        iaid,
                        t1,
                        t2,
                        leases,
                    });
                }
                Ok(BindingUpdate::Client {
                    duid,
                    base_time: base,
                    ias: out,
                })
            }
            Body::Prefix(p) => {
                let base = base_time(&p.options, "top-level OPTION_IAPREFIX")?;
                let lease = lease_update(
                    Resource::Prefix(prefix_net(p)?),
                    p.preferred,
                    p.valid,
                    &p.options,
                    base,
                )?;
                Ok(BindingUpdate::Prefix {
                    base_time: base,
                    lease,
                })
            }
        }
    }

    fn lease_reply(resource: Resource, o: &[DhcpOption]) -> Result<LeaseReply, FromWireError> {
        Ok(LeaseReply {
            resource,
            reject: status_of(o),
            binding_status: binding_status(o, &resource.to_string())?,
            state_expiration: expiry_opt(o, |o| {
                if let DhcpOption::StateExpirationTime(v) = o {
                    Some(*v)
                } else {
                    None
                }
            }),
            partner_lifetime_sent: expiry_opt(o, |o| {
                if let DhcpOption::PartnerLifetimeSent(v) = o {
                    Some(*v)
                } else {
                    None
                }
            }),
        })
    }

    /// Read a BNDREPLY (§7.6).
    pub fn reply_from_wire(m: &FailoverMessage) -> Result<BindingReply, FromWireError> {
        if m.msg_type != FailoverMsgType::BndReply {
            return Err(FromWireError::WrongType(
                m.msg_type,
                FailoverMsgType::BndReply,
            ));
        }
        match body(m)? {
            Body::Client(cd) => {
                let duid = client_id(cd)?;
                let mut out = Vec::new();
                for (ia_type, iaid, _, _, opts) in ias(cd) {
                    let leases = leases_in(opts)?
                        .into_iter()
                        .map(|(r, _, _, o)| lease_reply(r, o))
                        .collect::<Result<Vec<_>, _>>()?;
                    out.push(IaReply {
                        ia_type,
                        iaid,
                        reject: status_of(opts),
                        leases,
                    });
                }
                Ok(BindingReply::Client {
                    duid,
                    reject: status_of(cd),
                    ias: out,
                })
            }
            Body::Prefix(p) => Ok(BindingReply::Prefix {
                lease: lease_reply(Resource::Prefix(prefix_net(p)?), &p.options)?,
            }),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::update::FailoverStatus;

        const T: u64 = 1_800_000_000;

        fn sample_lease(resource: &str, status: BindingStatus, timed: bool) -> LeaseUpdate {
            let resource = if resource.contains('/') {
                Resource::Prefix(resource.parse().unwrap())
            } else {
                Resource::Address(resource.parse().unwrap())
            };
            LeaseUpdate {
                resource,
                preferred: 1800,
                valid: 3600,
                status,
                start_time_of_state: Time(T - 50),
                state_expiration: timed.then_some(Time(T + 3600)),
                cltt: Some(Time(T - 20)),
                partner_lifetime: timed.then_some(Time(T + 9000)),
                partner_raw_cltt: Some(Time(T - 30)),
                expiration_time: timed.then_some(Time(T + 100)),
            }
        }

        fn roundtrip_msg(m: &FailoverMessage) -> FailoverMessage {
            FailoverMessage::parse(&m.emit()).unwrap()
        }

        #[test]
        fn client_bndupd_round_trips_through_bytes_s7_4() {
            let upd = BindingUpdate::Client {
                duid: Duid(vec![0, 1, 2, 3]),
                base_time: Time(T),
                ias: vec![
                    IaUpdate {
                        ia_type: IaType::Na,
                        iaid: 1,
                        t1: 900,
                        t2: 1440,
                        leases: vec![sample_lease("2001:db8::1", BindingStatus::Active, true)],
                    },
                    IaUpdate {
                        ia_type: IaType::Ta,
                        iaid: 2,
                        t1: 0,
                        t2: 0,
                        leases: vec![sample_lease("2001:db8::2", BindingStatus::Released, false)],
                    },
                    IaUpdate {
                        ia_type: IaType::Pd,
                        iaid: 3,
                        t1: 900,
                        t2: 1440,
                        leases: vec![sample_lease(
                            "2001:db8:1::/56",
                            BindingStatus::Expired,
                            false,
                        )],
                    },
                ],
            };
            let m = update_to_wire(&upd, 0x123456, Time(T));
            let back = update_from_wire(&roundtrip_msg(&m)).unwrap();
            assert_eq!(back, upd);
            assert_eq!(m.transaction_id, 0x123456);
        }

        #[test]
        fn clt_time_is_relative_to_the_raw_base_time_s7_5_5() {
            let upd = BindingUpdate::Client {
                duid: Duid(vec![1]),
                base_time: Time(T),
                ias: vec![IaUpdate {
                    ia_type: IaType::Na,
                    iaid: 1,
                    t1: 0,
                    t2: 0,
                    leases: vec![sample_lease("2001:db8::1", BindingStatus::Active, true)],
                }],
            };
            let m = update_to_wire(&upd, 1, Time(T));
            let DhcpOption::ClientData(cd) = &m.options[0] else {
                panic!()
            };
            let DhcpOption::IaNa(ia) = &cd[2] else {
                panic!()
            };
            let DhcpOption::IaAddr(a) = &ia.options[0] else {
                panic!()
            };
            assert!(a.options.contains(&DhcpOption::CltTime(20)));
        }

        #[test]
        fn prefix_bndupd_round_trips_s7_4() {
            let upd = crate::update::build_prefix_update(
                "2001:db8:80::/41".parse().unwrap(),
                BindingStatus::FreeBackup,
                Time(T),
                Time(T),
            );
            let back = update_from_wire(&roundtrip_msg(&update_to_wire(&upd, 7, Time(T)))).unwrap();
            assert_eq!(back, upd);
        }

        #[test]
        fn bndreply_round_trips_with_statuses_at_every_level_s7_6() {
            let lr = |a: &str, reject: Option<RejectReason>| LeaseReply {
                resource: Resource::Address(a.parse().unwrap()),
                reject,
                binding_status: BindingStatus::Active,
                state_expiration: Some(Time(T + 3600)),
                partner_lifetime_sent: Some(Time(T + 9000)),
            };
            let reply = BindingReply::Client {
                duid: Duid(vec![9]),
                reject: None,
                ias: vec![
                    IaReply {
                        ia_type: IaType::Na,
                        iaid: 1,
                        reject: None,
                        leases: vec![
                            lr("2001:db8::1", None),
                            lr(
                                "2001:db8::3",
                                Some(FailoverStatus::OutdatedBindingInformation.into()),
                            ),
                        ],
                    },
                    IaReply {
                        ia_type: IaType::Na,
                        iaid: 2,
                        reject: Some(FailoverStatus::ConfigurationConflict.into()),
                        leases: vec![lr("2001:db8::5", None)],
                    },
                ],
            };
            let back =
                reply_from_wire(&roundtrip_msg(&reply_to_wire(&reply, 42, Time(T)))).unwrap();
            assert_eq!(back, reply);
            let whole = BindingReply::Client {
                duid: Duid(vec![9]),
                reject: Some(FailoverStatus::MissingBindingInformation.into()),
                ias: vec![],
            };
            assert_eq!(
                reply_from_wire(&reply_to_wire(&whole, 1, Time(T))).unwrap(),
                whole
            );
        }

        /// RFC 8415 §7.7: 0xffffffff is "infinity". RFC 8156 gives absolute times no
        /// such value, so "never" is sent as 0xffffffff (the last instant the 32-bit field
        /// can name) and read back as never; it must not wrap modulo 2^32 into the past.
        #[test]
        fn never_crosses_the_wire_as_0xffffffff_not_as_a_past_time_s5_5_rfc8415_s7_7() {
            let never = Time::NEVER;
            let mut l = sample_lease("2001:db8::1", BindingStatus::Active, true);
            l.preferred = u32::MAX;
            l.valid = u32::MAX;
            l.state_expiration = Some(never);
            l.partner_lifetime = Some(never);
            l.expiration_time = Some(never);
            let upd = BindingUpdate::Client {
                duid: Duid(vec![1]),
                base_time: Time(T),
                ias: vec![IaUpdate {
                    ia_type: IaType::Na,
                    iaid: 1,
                    t1: u32::MAX,
                    t2: u32::MAX,
                    leases: vec![l],
                }],
            };
            let m = update_to_wire(&upd, 1, Time(T));
            let DhcpOption::ClientData(cd) = &m.options[0] else {
                panic!()
            };
            let DhcpOption::IaNa(ia) = &cd[2] else {
                panic!()
            };
            let DhcpOption::IaAddr(a) = &ia.options[0] else {
                panic!()
            };
            for o in [
                DhcpOption::StateExpirationTime(u32::MAX),
                DhcpOption::PartnerLifetime(u32::MAX),
                DhcpOption::ExpirationTime(u32::MAX),
            ] {
                assert!(a.options.contains(&o), "{o:?} in {:?}", a.options);
            }
            assert_eq!(update_from_wire(&roundtrip_msg(&m)).unwrap(), upd);
            // The BNDREPLY echo (§7.6) keeps it too, so the sender acks "never" (§7.7).
            let reply = BindingReply::Client {
                duid: Duid(vec![1]),
                reject: None,
                ias: vec![IaReply {
                    ia_type: IaType::Na,
                    iaid: 1,
                    reject: None,
                    leases: vec![LeaseReply {
                        resource: Resource::Address("2001:db8::1".parse().unwrap()),
                        reject: None,
                        binding_status: BindingStatus::Active,
                        state_expiration: Some(never),
                        partner_lifetime_sent: Some(never),
                    }],
                }],
            };
            let back = reply_from_wire(&roundtrip_msg(&reply_to_wire(&reply, 1, Time(T)))).unwrap();
            assert_eq!(back, reply);
        }

        /// A finite time past the end of the 32-bit range (e.g. now + 0xfffffffe s) is sent
        /// as the latest finite instant, never wrapped into the past (RFC 8156 §3 counts
        /// modulo 2^32, which would tell the partner the lease already ended).
        #[test]
        fn far_future_times_saturate_instead_of_wrapping_s3() {
            let mut l = sample_lease("2001:db8::1", BindingStatus::Active, true);
            let far = Time(T) + u64::from(u32::MAX - 1) * 2;
            l.state_expiration = Some(far);
            l.partner_lifetime = Some(far);
            let upd = BindingUpdate::Client {
                duid: Duid(vec![1]),
                base_time: Time(T),
                ias: vec![IaUpdate {
                    ia_type: IaType::Na,
                    iaid: 1,
                    t1: 0,
                    t2: 0,
                    leases: vec![l],
                }],
            };
            let back = update_from_wire(&roundtrip_msg(&update_to_wire(&upd, 1, Time(T)))).unwrap();
            let got = &back.leases()[0].1;
            for (what, t) in [
                ("state expiration", got.state_expiration),
                ("partner lifetime", got.partner_lifetime),
            ] {
                let t = t.unwrap();
                assert!(t > Time(T) + 100 * 365 * 86_400, "{what} decoded as {t}");
                assert!(!t.is_never(), "{what}: a finite time must stay finite");
            }
        }

        #[test]
        fn malformed_bndupd_is_reported_precisely_s7_5_3() {
            let m = FailoverMessage::new(FailoverMsgType::BndUpd, 1, 0);
            assert_eq!(
                update_from_wire(&m),
                Err(FromWireError::Shape {
                    client_data: 0,
                    iaprefix: 0
                })
            );
            let m = FailoverMessage::new(FailoverMsgType::BndUpd, 1, 0)
                .with(DhcpOption::ClientData(vec![DhcpOption::LqBaseTime(5)]));
            assert!(matches!(
                update_from_wire(&m),
                Err(FromWireError::Missing {
                    what: "OPTION_CLIENTID",
                    ..
                })
            ));
            let m = FailoverMessage::new(FailoverMsgType::BndUpd, 1, 0).with(
                DhcpOption::ClientData(vec![
                    DhcpOption::ClientId(vec![1]),
                    DhcpOption::LqBaseTime(5),
                    DhcpOption::IaNa(Ia {
                        iaid: 1,
                        t1: 0,
                        t2: 0,
                        options: vec![DhcpOption::IaAddr(IaAddr {
                            addr: "2001:db8::1".parse().unwrap(),
                            preferred: 0,
                            valid: 0,
                            options: vec![DhcpOption::BindingStatus(99)],
                        })],
                    }),
                ]),
            );
            assert_eq!(update_from_wire(&m), Err(FromWireError::BadStatus(99)));
            let contact = FailoverMessage::new(FailoverMsgType::Contact, 1, 0);
            assert!(matches!(
                update_from_wire(&contact),
                Err(FromWireError::WrongType(..))
            ));
        }
    }
}
