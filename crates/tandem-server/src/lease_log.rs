//! The lease log: one structured event per lease event, at info, target `tandem::lease`
//! (docs/logging.md), and a counter per kind.
//!
//! A lease is logged only once the batch holding its change is durable
//! ([`LeaseLog::committed`]), so the log never names a lease the store does not hold. The
//! runner tells this module which input staged which change ([`LeaseLog::note_staged`]
//! after each input, [`LeaseLog::on_batch`] when the core hands out the batch); what the
//! change means is [`classify`]'s rule, from that input and the lease's new state.
//!
//! Cost: with the target filtered off, a batch costs a classification per change and one
//! counter update; nothing is cloned or formatted (`tracing::enabled!` is one cached
//! callsite check).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use tandem_core::{BindingStatus, ColonHex, Lease, LeaseChange, Resource};
use tandem_failover::node::BatchId;
use tandem_failover::server::PersistItem;
use tandem_wire::failover::{FailoverMessage, FailoverMsgType};
use tandem_wire::v6::DhcpOption;
use tracing::{info, Level};

use crate::counters::Counters;

/// The tracing target of every lease event.
pub const TARGET: &str = "tandem::lease";

/// Event names (the `event` field and the counter keys).
pub const GRANTED: &str = "granted";
pub const RENEWED: &str = "renewed";
pub const RELEASED: &str = "released";
pub const DECLINED: &str = "declined";
pub const EXPIRED: &str = "expired";
pub const RECLAIMED: &str = "reclaimed";
pub const RECEIVED_FROM_PARTNER: &str = "received_from_partner";
pub const SENT_TO_PARTNER: &str = "sent_to_partner";

/// Every event name, in the order docs/logging.md lists them.
pub const EVENTS: [&str; 8] = [
    GRANTED,
    RENEWED,
    RELEASED,
    DECLINED,
    EXPIRED,
    RECLAIMED,
    RECEIVED_FROM_PARTNER,
    SENT_TO_PARTNER,
];

/// DHCPv6 message types (RFC 8415 §7.3) that decide between granted and renewed.
const RENEW: u8 = 5;
const REBIND: u8 = 6;
/// RELAY-FORW (RFC 8415 §9): msg-type, hop-count, link-address, peer-address.
const RELAY_FORW: u8 = 12;

/// Which input staged a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A client message (DHCPv6 message type), as received.
    Client(ClientInfo),
    /// A BNDUPD from the partner (RFC 8156 §7.2).
    PartnerUpdate,
    /// Any other partner message (acknowledgements, pool balancing, state): bookkeeping,
    /// not a lease event.
    PartnerOther,
    /// A timer: expiry, reclaiming, failover state timers.
    Timer,
    /// An operator request (control socket / API).
    Operator,
    /// Staged outside any input the runner attributes (at startup, on shutdown): the
    /// core's own bookkeeping, never logged as a lease event rather than mislabelled.
    Internal,
}

/// Where a client message came from, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub kind: ClientMsg,
    /// The datagram's source: the client itself, or the relay nearest to us.
    pub from: SocketAddr,
    /// The client's link as the relay named it: the outermost link-address (RFC 8415
    /// §9.1), or 'giaddr' (RFC 2131 §4.1); None when not relayed.
    pub link: Option<IpAddr>,
    pub ifindex: u32,
}

/// The client message, as far as the log tells events apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMsg {
    /// A DHCPv6 message type (RFC 8415 §7.3).
    V6(u8),
    /// A DHCPv4 message; `renewing`: a DHCPREQUEST from a client in RENEWING or
    /// REBINDING ('ciaddr' set, RFC 2131 §4.3.2).
    V4 { renewing: bool },
}

impl ClientInfo {
    /// `msg_type` is the client's message as the core decoded it — inside every
    /// RELAY-FORW (RFC 8415 §9), so a relayed Renew is a Renew; None when undecodable.
    /// For a relayed datagram the outermost link-address is read from its fixed header
    /// (RFC 8415 §9.1); no option is decoded here.
    pub fn of(
        bytes: &[u8],
        msg_type: Option<u8>,
        from: SocketAddrV6,
        ifindex: u32,
    ) -> Option<Self> {
        let msg_type = msg_type?;
        let link = match bytes.get(2..18) {
            Some(b) if bytes.first() == Some(&RELAY_FORW) && bytes.len() >= 34 => {
                <[u8; 16]>::try_from(b).ok().map(Ipv6Addr::from)
            }
            _ => None,
        };
        Some(ClientInfo {
            kind: ClientMsg::V6(msg_type),
            from: from.into(),
            link: link.map(IpAddr::V6),
            ifindex,
        })
    }

    /// A DHCPv4 message the core decoded (`msg_type` Some): 'ciaddr' and 'giaddr' are
    /// read from the fixed header (RFC 2131 §2), nothing else.
    pub fn of_v4(
        bytes: &[u8],
        msg_type: Option<u8>,
        from: SocketAddrV4,
        ifindex: u32,
    ) -> Option<Self> {
        const REQUEST: u8 = 3;
        msg_type?;
        let addr_at = |i: usize| {
            bytes
                .get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(Ipv4Addr::from)
                .filter(|a| !a.is_unspecified())
        };
        Some(ClientInfo {
            kind: ClientMsg::V4 {
                renewing: msg_type == Some(REQUEST) && addr_at(12).is_some(),
            },
            from: from.into(),
            link: addr_at(24).map(IpAddr::V4),
            ifindex,
        })
    }
}

/// What a durable change means, or None for bookkeeping that is no lease event (an
/// acknowledgement, a free prefix moving between the partners' shares).
pub fn classify(source: &Source, change: &LeaseChange) -> Option<&'static str> {
    let status = match change {
        LeaseChange::Upsert(l) => Some(l.status),
        LeaseChange::Remove(_) => None,
    };
    use BindingStatus as B;
    match source {
        // A binding without a client is a share of free space moving between the
        // partners (FREE-BACKUP prefix blocks, RFC 8156 §4.2.2), not a client's lease.
        Source::PartnerUpdate => match change {
            LeaseChange::Upsert(l) if l.duid.is_empty() => None,
            _ => Some(RECEIVED_FROM_PARTNER),
        },
        Source::PartnerOther => None,
        Source::Client(c) => Some(match status {
            Some(B::Active)
                if matches!(
                    c.kind,
                    ClientMsg::V6(RENEW | REBIND) | ClientMsg::V4 { renewing: true }
                ) =>
            {
                RENEWED
            }
            Some(B::Active) => GRANTED,
            Some(B::Released) => RELEASED,
            Some(B::Abandoned) => DECLINED,
            Some(B::Expired) => EXPIRED,
            _ => RECLAIMED,
        }),
        Source::Timer => match status {
            Some(B::Expired) => Some(EXPIRED),
            None | Some(B::Free | B::PendingFree) => Some(RECLAIMED),
            // Failover bookkeeping (a share moving, an update resent).
            _ => None,
        },
        Source::Internal => None,
        Source::Operator => Some(match status {
            Some(B::Active) => GRANTED,
            Some(B::Released) => RELEASED,
            Some(B::Abandoned) => DECLINED,
            Some(B::Expired) => EXPIRED,
            _ => RECLAIMED,
        }),
    }
}

/// One event waiting for its batch to be durable.
#[derive(Debug)]
struct Pending {
    kind: &'static str,
    /// Present only when the log line will be written.
    detail: Option<(LeaseChange, Source)>,
}

/// The runner's lease log state.
#[derive(Debug, Default)]
pub struct LeaseLog {
    /// Runs of staged changes not yet in a batch: (source, how many).
    runs: Vec<(Source, usize)>,
    /// Changes covered by `runs`.
    tracked: usize,
    /// Batches handed out, oldest first, with their events.
    batches: VecDeque<(BatchId, Vec<Pending>)>,
}

/// Whether lease lines are written at all (one cached callsite check).
pub fn enabled() -> bool {
    tracing::enabled!(target: TARGET, Level::INFO)
}

impl LeaseLog {
    /// Whether the core staged changes not yet attributed to an input.
    pub fn untracked(&self, staged: usize) -> bool {
        staged != self.tracked
    }

    /// After an input: the core now holds `staged` changes for the next batch; those
    /// not yet accounted for came from `source`.
    pub fn note_staged(&mut self, staged: usize, source: Source) {
        if staged > self.tracked {
            self.runs.push((source, staged - self.tracked));
            self.tracked = staged;
        } else if staged < self.tracked {
            // Cannot happen with the gate (staged changes only leave in a batch); keep
            // the accounting sane rather than misattribute.
            self.runs.clear();
            self.tracked = 0;
        }
    }

    /// The core handed out batch `id` with these items (every change staged so far).
    pub fn on_batch(&mut self, id: BatchId, items: &[PersistItem]) {
        let detail = enabled();
        let mut runs = std::mem::take(&mut self.runs).into_iter();
        self.tracked = 0;
        let mut current = runs.next();
        let mut events = Vec::new();
        for item in items {
            let source = loop {
                match &mut current {
                    Some((s, n)) if *n > 0 => {
                        *n -= 1;
                        break *s;
                    }
                    Some(_) => current = runs.next(),
                    None => break Source::Internal,
                }
            };
            let PersistItem::Lease(change) = item else {
                continue;
            };
            if let Some(kind) = classify(&source, change) {
                events.push(Pending {
                    kind,
                    detail: detail.then(|| (change.clone(), source)),
                });
            }
        }
        if !events.is_empty() {
            self.batches.push_back((id, events));
        }
    }

    /// Batch `id` is durable (`ok`) or failed: log and count its events, or forget them.
    pub fn committed(
        &mut self,
        id: BatchId,
        ok: bool,
        counters: &Counters,
        interfaces: &dyn Fn(u32) -> Option<String>,
    ) {
        // Batches are reported in order by the store; tolerate any order.
        let Some(pos) = self.batches.iter().position(|(b, _)| *b == id) else {
            return;
        };
        let (_, events) = self.batches.remove(pos).expect("position is valid");
        if !ok {
            return;
        }
        counters.update(|c| {
            for e in &events {
                *c.lease_events.entry(e.kind).or_default() += 1;
            }
        });
        // One write for the batch's lines (crate::log_writer), not one per lease.
        let _held = crate::log_writer::hold();
        for e in events {
            if let Some((change, source)) = &e.detail {
                emit(e.kind, change, source, interfaces);
            }
        }
    }

    /// A partner message leaves (the gate released it: what it reports is durable). A
    /// BNDUPD's bindings are `sent_to_partner` events.
    pub fn on_peer_send(&self, m: &FailoverMessage, counters: &Counters) {
        if m.msg_type != FailoverMsgType::BndUpd {
            return;
        }
        let detail = enabled();
        let mut n = 0u64;
        let _held = detail.then(crate::log_writer::hold);
        for cd in m.client_data() {
            let duid = cd
                .client_id()
                .map(tandem_core::Duid::from)
                .unwrap_or_default();
            for (ia, prefix) in cd
                .ia_nas()
                .into_iter()
                .map(|i| (i, false))
                .chain(cd.ia_pds().into_iter().map(|i| (i, true)))
            {
                for o in &ia.options {
                    let (resource, preferred, valid) = match o {
                        DhcpOption::IaAddr(a) if !prefix => {
                            (Resource::Address(a.addr), a.preferred, a.valid)
                        }
                        DhcpOption::IaPrefix(p) if prefix => {
                            match ipnet::Ipv6Net::new(p.prefix, p.prefix_len) {
                                Ok(net) => (Resource::Prefix(net), p.preferred, p.valid),
                                Err(_) => continue,
                            }
                        }
                        _ => continue,
                    };
                    n += 1;
                    if detail {
                        emit_sent(&resource, &duid, ia.iaid, preferred, valid);
                    }
                }
            }
        }
        if n > 0 {
            counters.update(|c| *c.lease_events.entry(SENT_TO_PARTNER).or_default() += n);
        }
    }
}

macro_rules! lease_event {
    ($resource:expr, $($field:tt)*) => {
        match $resource {
            Resource::Address(a) => info!(target: TARGET, address = %a, $($field)*),
            Resource::Prefix(p) => info!(target: TARGET, prefix = %p, $($field)*),
            // A DHCPv4 lease: `address=` too, as a dotted quad.
            Resource::V4Address(a) => info!(target: TARGET, address = %a, $($field)*),
        }
    };
}

fn emit(
    kind: &'static str,
    change: &LeaseChange,
    source: &Source,
    interfaces: &dyn Fn(u32) -> Option<String>,
) {
    let client = match source {
        Source::Client(c) => Some(c),
        _ => None,
    };
    let from = client.map(|c| tracing::field::display(c.from.ip()));
    let link = client.and_then(|c| c.link).map(tracing::field::display);
    let interface = client.and_then(|c| interfaces(c.ifindex));
    match change {
        LeaseChange::Upsert(l) => {
            let Lease {
                resource,
                status,
                duid,
                iaid,
                subnet_id,
                preferred_lifetime,
                valid_lifetime,
                state_expiration,
                hw_address,
                ..
            } = l;
            // DHCPv4: 'htype' then 'chaddr' (RFC 2131 §2), logged as dhcpd and Kea do, the
            // address as colon-separated hex and its type apart.
            let (htype, hw_address) = match hw_address.split_first() {
                Some((htype, mac)) => (Some(*htype), Some(tracing::field::display(ColonHex(mac)))),
                None => (None, None),
            };
            let expires = state_expiration
                .filter(|t| !t.is_never())
                .map(|t| t.as_secs());
            let expires_at = state_expiration.map(|t| tracing::field::display(expiry_text(t)));
            lease_event!(
                resource,
                event = kind,
                duid = %duid,
                hw_address,
                htype,
                iaid,
                subnet = subnet_id,
                state = status.name(),
                preferred_lifetime,
                valid_lifetime,
                expires,
                expires_at,
                from,
                link,
                interface,
                "lease {kind}"
            );
        }
        LeaseChange::Remove(resource) => {
            lease_event!(
                resource,
                event = kind,
                from,
                link,
                interface,
                "lease {kind}"
            );
        }
    }
}

/// RFC 3339 UTC (`2026-12-03T14:02:00Z`), or `never` for an infinite lifetime (RFC 8415
/// §7.7).
pub fn expiry_text(t: tandem_core::Time) -> String {
    if t.is_never() {
        return "never".into();
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs());
    humantime::format_rfc3339_seconds(at).to_string()
}

fn emit_sent(resource: &Resource, duid: &tandem_core::Duid, iaid: u32, preferred: u32, valid: u32) {
    lease_event!(
        resource,
        event = SENT_TO_PARTNER,
        duid = %duid,
        iaid,
        preferred_lifetime = preferred,
        valid_lifetime = valid,
        "lease {SENT_TO_PARTNER}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_core::{Duid, FailoverFields, Time};

    fn lease(status: BindingStatus) -> LeaseChange {
        LeaseChange::Upsert(Lease {
            resource: Resource::Address("2001:db8:1::10".parse().unwrap()),
            status,
            duid: Duid(vec![0, 1, 2, 3]),
            hw_address: Vec::new(),
            iaid: 7,
            subnet_id: 1,
            preferred_lifetime: 3000,
            valid_lifetime: 4000,
            t1: 1500,
            t2: 2400,
            cltt: Time(100),
            start_time_of_state: Time(100),
            state_expiration: Some(Time(4100)),
            failover: FailoverFields::default(),
        })
    }

    fn client(msg_type: u8) -> Source {
        Source::Client(ClientInfo {
            kind: ClientMsg::V6(msg_type),
            from: "[fe80::1]:546".parse().unwrap(),
            link: None,
            ifindex: 1,
        })
    }

    #[test]
    fn client_messages_name_the_event_by_message_and_new_state() {
        use BindingStatus as B;
        // RFC 8415 §7.3: 3 Request, 5 Renew, 6 Rebind, 8 Release, 9 Decline, 1 Solicit.
        assert_eq!(classify(&client(3), &lease(B::Active)), Some(GRANTED));
        assert_eq!(
            classify(&client(1), &lease(B::Active)),
            Some(GRANTED),
            "rapid commit"
        );
        assert_eq!(classify(&client(5), &lease(B::Active)), Some(RENEWED));
        assert_eq!(classify(&client(6), &lease(B::Active)), Some(RENEWED));
        assert_eq!(classify(&client(8), &lease(B::Released)), Some(RELEASED));
        assert_eq!(classify(&client(9), &lease(B::Abandoned)), Some(DECLINED));
    }

    #[test]
    fn timers_expire_and_reclaim_and_partner_updates_are_received() {
        use BindingStatus as B;
        let gone = LeaseChange::Remove(Resource::Address("2001:db8:1::10".parse().unwrap()));
        assert_eq!(classify(&Source::Timer, &lease(B::Expired)), Some(EXPIRED));
        assert_eq!(classify(&Source::Timer, &gone), Some(RECLAIMED));
        assert_eq!(classify(&Source::Timer, &lease(B::Free)), Some(RECLAIMED));
        assert_eq!(classify(&Source::Timer, &lease(B::FreeBackup)), None);
        assert_eq!(
            classify(&Source::PartnerUpdate, &lease(B::Active)),
            Some(RECEIVED_FROM_PARTNER)
        );
        assert_eq!(
            classify(&Source::PartnerOther, &lease(B::Active)),
            None,
            "an ack"
        );
    }

    #[test]
    fn expiry_is_utc_rfc3339_or_never() {
        assert_eq!(expiry_text(Time(1_796_284_263)), "2026-12-03T07:51:03Z");
        assert_eq!(expiry_text(Time(0)), "1970-01-01T00:00:00Z");
        assert_eq!(expiry_text(Time::NEVER), "never");
    }

    #[test]
    fn relay_link_address_is_read_from_the_relay_header() {
        let mut relay = vec![RELAY_FORW, 0];
        relay.extend("2001:db8:1::1".parse::<Ipv6Addr>().unwrap().octets());
        relay.extend(Ipv6Addr::LOCALHOST.octets());
        let from = "[2001:db8:ff::1]:547".parse().unwrap();
        let c = ClientInfo::of(&relay, Some(RENEW), from, 3).unwrap();
        assert_eq!(c.link, Some("2001:db8:1::1".parse().unwrap()));
        assert_eq!(
            c.kind,
            ClientMsg::V6(RENEW),
            "the relayed message's type, not RELAY-FORW"
        );
        let c = ClientInfo::of(&[3, 0, 0, 1], Some(3), from, 3).unwrap();
        assert_eq!((c.kind, c.link), (ClientMsg::V6(3), None));
        assert!(ClientInfo::of(&[], None, from, 3).is_none());
    }

    fn items(n: usize, status: BindingStatus) -> Vec<PersistItem> {
        (0..n).map(|_| PersistItem::Lease(lease(status))).collect()
    }

    #[test]
    fn events_are_counted_only_when_their_batch_is_durable() {
        let counters = Counters::default();
        let mut log = LeaseLog::default();
        let none = |_| None;
        // Two requests and a renew staged in one turn, then a failed batch.
        log.note_staged(1, client(3));
        log.note_staged(2, client(3));
        log.note_staged(3, client(5));
        log.on_batch(1, &items(3, BindingStatus::Active));
        log.note_staged(1, client(8));
        log.on_batch(2, &items(1, BindingStatus::Released));
        assert!(
            counters.snapshot().lease_events.is_empty(),
            "nothing durable yet"
        );
        log.committed(2, false, &counters, &none);
        assert!(
            counters.snapshot().lease_events.is_empty(),
            "failed: never logged"
        );
        log.committed(1, true, &counters, &none);
        let got = counters.snapshot().lease_events;
        assert_eq!(got.get(GRANTED), Some(&2));
        assert_eq!(got.get(RENEWED), Some(&1));
        assert_eq!(got.get(RELEASED), None);
        log.committed(1, true, &counters, &none);
        assert_eq!(
            counters.snapshot().lease_events.get(GRANTED),
            Some(&2),
            "once"
        );
    }

    /// Log lines written under `filter`, as JSON objects.
    fn capture(filter: &str, f: impl FnOnce()) -> Vec<serde_json::Value> {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_durable_grant_is_one_json_line_with_the_lease_fields() {
        let counters = Counters::default();
        let lines = capture("info", || {
            let mut log = LeaseLog::default();
            log.note_staged(1, client(3));
            log.on_batch(1, &items(1, BindingStatus::Active));
            log.committed(1, true, &counters, &|_| Some("eth0".into()));
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let l = &lines[0];
        assert_eq!(l["target"], TARGET);
        assert_eq!(l["event"], "granted");
        assert_eq!(l["address"], "2001:db8:1::10");
        assert_eq!(l["duid"], "00:01:02:03");
        assert_eq!(l["iaid"], 7);
        assert_eq!(l["subnet"], 1);
        assert_eq!(l["preferred_lifetime"], 3000);
        assert_eq!(l["valid_lifetime"], 4000);
        assert_eq!(l["expires"], 4100);
        assert_eq!(l["expires_at"], "1970-01-01T01:08:20Z");
        assert_eq!(l["from"], "fe80::1");
        assert_eq!(l["interface"], "eth0");
    }

    #[test]
    fn a_v4_grant_names_the_clients_hardware_address_rfc2131_s2() {
        let counters = Counters::default();
        let mut v4 = lease(BindingStatus::Active);
        if let LeaseChange::Upsert(l) = &mut v4 {
            l.resource = Resource::V4Address([192, 0, 2, 10].into());
            // 'htype' 1 (Ethernet), then 'chaddr'.
            l.hw_address = vec![1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
            l.duid = Duid(l.hw_address.clone());
        }
        let lines = capture("info", || {
            let mut log = LeaseLog::default();
            log.note_staged(1, client(3));
            log.on_batch(1, &[PersistItem::Lease(v4.clone())]);
            // A DHCPv6 lease has no hardware address: no field.
            log.note_staged(1, client(3));
            log.on_batch(2, &items(1, BindingStatus::Active));
            log.committed(1, true, &counters, &|_| None);
            log.committed(2, true, &counters, &|_| None);
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["address"], "192.0.2.10");
        assert_eq!(lines[0]["hw_address"], "02:00:5e:10:00:01");
        assert_eq!(lines[0]["htype"], 1);
        assert!(lines[1].get("hw_address").is_none(), "{:?}", lines[1]);
        assert!(lines[1].get("htype").is_none(), "{:?}", lines[1]);
    }

    #[test]
    fn with_the_target_filtered_off_nothing_is_kept_or_formatted_but_events_are_counted() {
        let counters = Counters::default();
        let lines = capture("info,tandem::lease=off", || {
            let mut log = LeaseLog::default();
            log.note_staged(2, client(3));
            log.on_batch(1, &items(2, BindingStatus::Active));
            assert!(
                log.batches[0].1.iter().all(|p| p.detail.is_none()),
                "no lease is cloned for a line nobody reads"
            );
            log.committed(1, true, &counters, &|_| None);
        });
        assert!(lines.is_empty(), "{lines:?}");
        assert_eq!(counters.snapshot().lease_events.get(GRANTED), Some(&2));
    }
}
