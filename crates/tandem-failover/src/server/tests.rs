//! FailoverServer timelines (RFC 8156 §3, §4, §7, §8): two pair members wired back to
//! back, real DHCPv6 client messages, outputs checked in order. The [`Pair`] runs two
//! [`Node`]s with their persist-before-send gate — the same core contract and gate every
//! driver runs — so every timeline also exercises the gate. Persistence is reported
//! durable at once unless a test holds a server's commits ([`Pair::hold`]).

use std::net::{Ipv6Addr, SocketAddrV6};

use tandem_core::config::{AddressPool, PdPool, Subnet};
use tandem_wire::failover::{FailoverMessage, FailoverMsgType};
use tandem_wire::v6::{DhcpOption, Ia, IaAddr, Message, MessageType, OptionsExt};

use super::*;
use crate::node::{Batch, BatchId, Node, Output, Via};

pub(super) const T0: Time = Time(1_800_000_000);
pub(super) const MCLT: u32 = 60;

pub(super) fn config() -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
    s.interface = Some("eth0".into());
    s.pools.push(AddressPool {
        first: "2001:db8:1::100".parse().unwrap(),
        last: "2001:db8:1::1ff".parse().unwrap(),
    });
    s.pd_pools.push(PdPool {
        prefix: "2001:db8:100::/48".parse().unwrap(),
        delegated_len: 56,
    });
    s.preferred_lifetime = 300;
    s.valid_lifetime = 600;
    ServerConfig {
        subnets: vec![s],
        accept_unicast: true,
        ..ServerConfig::default()
    }
}

fn server(role: Role, now: Time) -> Node {
    server_with(role, now, config(), 50)
}

pub(super) fn server_with(role: Role, now: Time, cfg: ServerConfig, share: u8) -> Node {
    let mut e = EndpointConfig::new(role, "t", MCLT);
    e.local.keepalive = 30;
    e.auto_partner_down = Some(120);
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: share,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    Node::pair_member(cfg, duid, vec![], None, pair, now).unwrap()
}

/// P = 0, S = 1: two [`Node`]s (pair members behind their gate). Outputs are drained into
/// `log` and peer messages delivered in order. Every persist batch is reported durable as
/// soon as it is taken, unless `hold` says to keep that server's commits back (then
/// [`Pair::release`] reports them); the simulator covers crashes between the two.
pub(super) struct Pair {
    pub(super) s: [Node; 2],
    pub(super) log: [Vec<Output>; 2],
    pub(super) up: bool,
    wire: [Vec<PeerMessage>; 2],
    pub(super) replies: Vec<(usize, Vec<u8>)>,
    /// A server that has died: it gets no timers and its outputs go nowhere.
    pub(super) dead: [bool; 2],
    /// Keep this server's persist batches un-durable (not reported) until [`Pair::release`].
    pub(super) hold: [bool; 2],
    /// Batches taken and held, per server, in the order taken.
    held: [Vec<BatchId>; 2],
    /// Messages of this kind are lost on the wire (a partner that never sends them).
    pub(super) lose: Option<crate::wire::Kind>,
}

impl Pair {
    fn new() -> Self {
        Self::from_servers([server(Role::Primary, T0), server(Role::Secondary, T0)])
    }

    /// A pair with this configuration on both sides and this secondary prefix share.
    pub(super) fn with(cfg: ServerConfig, share: u8) -> Self {
        Self::from_servers([
            server_with(Role::Primary, T0, cfg.clone(), share),
            server_with(Role::Secondary, T0, cfg, share),
        ])
    }

    /// A primary restarted from these records (the secondary is fresh), after a hand-over of
    /// `2001:db8:100:200::/55` to the secondary that the records follow.
    pub(super) fn new_with_records(records: Vec<Lease>) -> Self {
        let mut e = EndpointConfig::new(Role::Primary, "t", MCLT);
        e.local.keepalive = 30;
        let pair = PairConfig {
            endpoint: e,
            secondary_prefix_share: 50,
            rebalance_threshold: 1,
        };
        let mut leases = vec![Lease {
            resource: Resource::Prefix("2001:db8:100:200::/55".parse().unwrap()),
            status: BindingStatus::FreeBackup,
            duid: Duid::default(),
            hw_address: Vec::new(),
            iaid: 0,
            subnet_id: 1,
            preferred_lifetime: 0,
            valid_lifetime: 0,
            t1: 0,
            t2: 0,
            cltt: Time::ZERO,
            start_time_of_state: T0 + 10,
            state_expiration: None,
            failover: tandem_core::FailoverFields::default(),
        }];
        leases.extend(records);
        let duid = Duid(vec![0, 2, 0, 0, 0, 9, 0]);
        let primary = Node::pair_member(config(), duid, leases, None, pair, T0 + 30).unwrap();
        Self::from_servers([primary, server(Role::Secondary, T0 + 30)])
    }

    pub(super) fn from_servers(s: [Node; 2]) -> Self {
        Pair {
            s,
            log: [vec![], vec![]],
            up: false,
            wire: [vec![], vec![]],
            replies: vec![],
            dead: [false, false],
            hold: [false, false],
            held: [vec![], vec![]],
            lose: None,
        }
    }

    /// The failover side of server i (for queries only a pair member answers).
    pub(super) fn fs(&self, i: usize) -> &FailoverServer {
        self.s[i].failover().expect("a pair member")
    }

    /// The failover state of server i.
    pub(super) fn state(&self, i: usize) -> ServerState {
        self.fs(i).state()
    }

    /// Carries out server i's outputs as a driver does: persist batches are reported
    /// durable (or held), partner messages go on the wire, replies are collected.
    pub(super) fn drain(&mut self, i: usize) {
        while let Some(o) = self.s[i].poll_output() {
            match &o {
                Output::Persist(Batch { id, .. }) if self.hold[i] => self.held[i].push(*id),
                Output::Persist(Batch { id, .. }) => self.s[i].on_persisted(*id, Ok(())),
                Output::Peer(msg) if self.up && self.lose != Some(msg.kind()) => {
                    self.wire[1 - i].push(msg.clone())
                }
                Output::Client { reply: r, .. } => self.replies.push((i, r.bytes.clone())),
                Output::ClosePeer { .. } => self.up = false,
                _ => {}
            }
            self.log[i].push(o);
        }
    }

    /// Reports every held batch of server i durable and drains what that released (the
    /// `hold` flag stays as the test set it).
    pub(super) fn release(&mut self, i: usize) {
        for id in std::mem::take(&mut self.held[i]) {
            self.s[i].on_persisted(id, Ok(()));
        }
        self.drain(i);
    }

    pub(super) fn pump(&mut self, now: Time) {
        for _ in 0..10_000 {
            self.drain(0);
            self.drain(1);
            let Some(i) = (0..2).find(|i| !self.wire[*i].is_empty()) else {
                return;
            };
            let m = self.wire[i].remove(0);
            self.s[i].handle_peer_bytes(now, &m.emit().expect("fits a message"));
        }
        panic!("message storm");
    }

    pub(super) fn connect(&mut self, now: Time) {
        self.up = true;
        self.s[1].handle_connected(now);
        self.s[0].handle_connected(now);
        self.pump(now);
    }

    pub(super) fn cut(&mut self, now: Time) {
        self.up = false;
        self.wire = [vec![], vec![]];
        self.s[0].handle_disconnected(now);
        self.s[1].handle_disconnected(now);
        self.pump(now);
    }

    pub(super) fn tick(&mut self, from: Time, to: Time) {
        let mut t = from;
        while t <= to {
            for i in 0..2 {
                if !self.dead[i] && self.s[i].poll_timeout().is_some_and(|d| d <= t) {
                    self.s[i].handle_timeout(t);
                }
            }
            self.pump(t);
            t = t + 1;
        }
    }

    /// Client datagram to server i; returns its reply, if any.
    pub(super) fn client(&mut self, i: usize, now: Time, m: &Message) -> Option<Message> {
        self.client_via(i, now, m, false)
    }

    /// Client datagram to server i, directly or through a relay on the client's link
    /// (RFC 8415 §19.1: link-address in the subnet, the client's address as peer-address);
    /// returns the client message the server answered with.
    pub(super) fn client_via(
        &mut self,
        i: usize,
        now: Time,
        m: &Message,
        relayed: bool,
    ) -> Option<Message> {
        use tandem_wire::v6::{Packet, RelayMessage};
        self.replies.clear();
        let (bytes, rx) = if relayed {
            let relay = RelayMessage {
                msg_type: MessageType::RelayForw,
                hop_count: 0,
                link_address: "2001:db8:1::1".parse().unwrap(),
                peer_address: "fe80::99".parse().unwrap(),
                options: vec![DhcpOption::RelayMsg(m.emit())],
            };
            let rx = RxInfo {
                src: SocketAddrV6::new("2001:db8:ff::7".parse().unwrap(), 547, 0, 0),
                dst: "2001:db8:1::10".parse().unwrap(),
                interface: "relay0".into(),
            };
            (relay.emit(), rx)
        } else {
            let rx = RxInfo {
                src: SocketAddrV6::new("fe80::99".parse().unwrap(), 546, 0, 0),
                dst: "ff02::1:2".parse().unwrap(),
                interface: "eth0".into(),
            };
            (m.emit(), rx)
        };
        self.s[i].handle_client(now, &bytes, &rx, Via::default());
        self.pump(now);
        let (_, b) = self.replies.iter().find(|(from, _)| *from == i)?;
        Some(match Packet::parse(b).unwrap() {
            Packet::Message(m) => m,
            Packet::Relay(r) => match r.inner().unwrap() {
                Packet::Message(m) => m,
                Packet::Relay(_) => panic!("one relay hop only"),
            },
        })
    }
}

pub(super) fn normal_pair() -> Pair {
    let mut p = Pair::new();
    p.connect(T0 + 1);
    assert_eq!(p.state(0), ServerState::Normal);
    assert_eq!(p.state(1), ServerState::Normal);
    p
}

pub(super) fn client_msg(
    t: MessageType,
    client: u8,
    server: Option<&Duid>,
    ia: Option<Ia>,
) -> Message {
    let mut m = Message::new(t, 0x10 + u32::from(client));
    m.options.push(DhcpOption::ClientId(vec![
        0, 3, 0, 1, 2, 0, 0, 0, 0, client,
    ]));
    if let Some(s) = server {
        m.options.push(DhcpOption::ServerId(s.0.clone()));
    }
    m.options.push(DhcpOption::IaNa(ia.unwrap_or(Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![],
    })));
    m
}

/// An IA_NA (IAID 1) listing one address with these lifetimes.
pub(super) fn ia_with_lifetimes(addr: Ipv6Addr, preferred: u32, valid: u32) -> Ia {
    Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![DhcpOption::IaAddr(IaAddr {
            addr,
            preferred,
            valid,
            options: vec![],
        })],
    }
}

/// An IA_NA (IAID 1) listing one address, preferred = valid.
pub(super) fn ia_with(addr: Ipv6Addr, valid: u32) -> Ia {
    ia_with_lifetimes(addr, valid, valid)
}

pub(super) fn addr_of(m: &Message) -> Option<(Ipv6Addr, u32)> {
    m.ia_nas()
        .first()
        .and_then(|ia| ia.ia_addrs().first().map(|a| (a.addr, a.valid)))
}

/// Solicit + Request at the primary; returns (address, valid lifetime).
pub(super) fn bind(p: &mut Pair, i: usize, client: u8, now: Time) -> (Ipv6Addr, u32) {
    let adv = p
        .client(
            i,
            now,
            &client_msg(MessageType::Solicit, client, None, None),
        )
        .expect("advertise");
    let (a, _) = addr_of(&adv).expect("an address");
    let sid = Duid(adv.server_id().unwrap().to_vec());
    let ia = ia_with(a, 0);
    let reply = p
        .client(
            i,
            now,
            &client_msg(MessageType::Request, client, Some(&sid), Some(ia)),
        )
        .expect("reply");
    addr_of(&reply).expect("bound")
}

#[test]
fn normal_only_primary_answers_solicit_s3() {
    let mut p = normal_pair();
    let m = client_msg(MessageType::Solicit, 1, None, None);
    assert!(p.client(0, T0 + 2, &m).is_some());
    assert!(p.client(1, T0 + 2, &m).is_none());
}

#[test]
fn first_lease_capped_by_mclt_then_full_after_ack_s4_4() {
    let mut p = normal_pair();
    let (a, valid) = bind(&mut p, 0, 1, T0 + 2);
    // Nothing acked yet: the client may run at most MCLT ahead of the partner.
    assert_eq!(valid, MCLT);
    // Primary's own parity (§4.2.1.1: odd addresses are the primary's).
    assert_eq!(a.octets()[15] & 1, 1);
    // The BNDUPD went out after the reply and was acked: the secondary knows the binding,
    // the primary recorded the acked partner lifetime.
    let r = Resource::Address(a);
    let on_s = p.s[1].leases().get(&r).expect("secondary has it");
    assert_eq!(on_s.status, BindingStatus::Active);
    let on_p = p.s[0].leases().get(&r).unwrap();
    assert!(!on_p.failover.update_pending);
    assert!(on_p
        .failover
        .acked_partner_lifetime
        .is_some_and(|t| t > T0 + 600));
    // A renewal now gets the full configured lifetime.
    let sid = p.s[0].dhcp().server_duid().clone();
    let ia = ia_with(a, 0);
    let renewed = p
        .client(
            0,
            T0 + 30,
            &client_msg(MessageType::Renew, 1, Some(&sid), Some(ia)),
        )
        .unwrap();
    assert_eq!(addr_of(&renewed), Some((a, 600)));
}

/// RFC 8156 §4.3: the lease is durable before the Reply leaves, and the (lazy) BNDUPD
/// follows the Reply. Through the gate: while the batch holding the lease is not reported
/// durable, neither the Reply nor the BNDUPD is output.
#[test]
fn persist_before_reply_and_update_after_s4_3() {
    let mut p = normal_pair();
    let adv = p
        .client(0, T0 + 2, &client_msg(MessageType::Solicit, 2, None, None))
        .expect("advertise");
    let (a, _) = addr_of(&adv).expect("an address");
    let sid = Duid(adv.server_id().unwrap().to_vec());
    let before = p.log[0].len();
    p.hold[0] = true;
    let request = client_msg(MessageType::Request, 2, Some(&sid), Some(ia_with(a, 0)));
    assert!(
        p.client(0, T0 + 2, &request).is_none(),
        "Reply output before its lease is durable"
    );
    let is_reply = |o: &Output| matches!(o, Output::Client { reply: r, .. } if r.bytes[0] == 7);
    let is_bndupd =
        |o: &Output| matches!(o, Output::Peer(msg) if msg.kind() == crate::wire::Kind::BndUpd);
    let is_lease_persist = |o: &Output| {
        matches!(o, Output::Persist(Batch { items, .. })
            if items.iter().any(|i| matches!(i, PersistItem::Lease(_))))
    };
    let out = &p.log[0][before..];
    assert!(
        out.iter().any(is_lease_persist),
        "the lease is to be written"
    );
    assert!(
        !out.iter().any(is_reply),
        "Reply before the lease is durable"
    );
    assert!(
        !out.iter().any(is_bndupd),
        "BNDUPD before the lease is durable"
    );
    assert!(!p.held[0].is_empty());
    assert!(p.s[1].leases().get(&Resource::Address(a)).is_none());
    // The batch is reported durable: the Reply leaves, then the BNDUPD.
    p.hold[0] = false;
    p.release(0);
    p.pump(T0 + 2);
    let out = &p.log[0][before..];
    let persist = out.iter().position(is_lease_persist).unwrap();
    let first_reply = out
        .iter()
        .position(is_reply)
        .expect("Reply after the commit");
    let first_bndupd = out
        .iter()
        .position(is_bndupd)
        .expect("BNDUPD after the commit");
    assert!(persist < first_reply, "lease persisted before the Reply");
    assert!(first_reply < first_bndupd, "lazy update: Reply first");
    assert_eq!(
        p.s[1].leases().get(&Resource::Address(a)).map(|l| l.status),
        Some(BindingStatus::Active)
    );
}

#[test]
fn secondary_in_comm_interrupted_allocates_its_own_half_s4_2_1() {
    let mut p = normal_pair();
    p.cut(T0 + 5);
    assert_eq!(p.state(1), ServerState::CommunicationsInterrupted);
    for c in 10..20 {
        let (a, valid) = bind(&mut p, 1, c, T0 + 6);
        assert_eq!(
            a.octets()[15] & 1,
            0,
            "secondary hands out even addresses only"
        );
        assert!(valid <= MCLT);
    }
}

#[test]
fn poolreq_gives_the_secondary_its_prefix_share_s4_2_2() {
    let p = normal_pair();
    // The secondary asked (POOLREQ on entering NORMAL) and received FREE-BACKUP blocks.
    let s_blocks: u32 = p
        .fs(1)
        .prefix_pools()
        .iter()
        .flat_map(|pool| pool.blocks_of(Role::Secondary).collect::<Vec<_>>())
        .map(|b| 1u32 << (56 - b.prefix_len()))
        .sum();
    assert_eq!(s_blocks, 128, "half of the 256 /56s");
    let p_view: u32 = p
        .fs(0)
        .prefix_pools()
        .iter()
        .flat_map(|pool| pool.blocks_of(Role::Secondary).collect::<Vec<_>>())
        .map(|b| 1u32 << (56 - b.prefix_len()))
        .sum();
    assert_eq!(p_view, 128, "both agree who owns what");
}

#[test]
fn expiry_waits_for_the_partner_ack_then_frees_s7_2() {
    let mut p = normal_pair();
    let (a, valid) = bind(&mut p, 0, 3, T0 + 2);
    let r = Resource::Address(a);
    // Past the lease end: EXPIRED, told to the partner, acked → FREE (the primary's pool).
    p.tick(T0 + 2, T0 + 3 + u64::from(valid));
    let l = p.s[0].leases().get(&r).unwrap();
    assert_eq!(l.status, BindingStatus::Free, "{l:?}");
    assert!(!l.failover.update_pending);
    assert_eq!(p.s[1].leases().get(&r).unwrap().status, BindingStatus::Free);
}

#[test]
fn expiry_in_comm_interrupted_stays_expired_until_ack_s7_2() {
    let mut p = normal_pair();
    let (a, valid) = bind(&mut p, 0, 4, T0 + 2);
    p.cut(T0 + 3);
    p.tick(T0 + 3, T0 + 5 + u64::from(valid));
    let r = Resource::Address(a);
    assert_eq!(
        p.s[0].leases().get(&r).unwrap().status,
        BindingStatus::Expired
    );
    // Heal: the EXPIRED update is acked and the lease settles.
    let now = T0 + 10 + u64::from(valid);
    p.connect(now);
    assert_eq!(p.state(0), ServerState::Normal);
    assert_eq!(p.s[0].leases().get(&r).unwrap().status, BindingStatus::Free);
}

#[test]
fn malformed_peer_message_disconnects_but_clients_are_served_s6_1() {
    let mut p = normal_pair();
    p.s[1].handle_peer_bytes(T0 + 3, &[24, 0, 0]);
    p.drain(1);
    assert!(p.log[1]
        .iter()
        .any(|o| matches!(o, Output::Peer(msg) if msg.kind() == crate::wire::Kind::Disconnect)));
    assert!(p.log[1]
        .iter()
        .any(|o| matches!(o, Output::ClosePeer { .. })));
    assert!(p.log[1]
        .iter()
        .any(|o| matches!(o, Output::Event(Event::ProtocolError(_)))));
    assert_eq!(p.state(1), ServerState::CommunicationsInterrupted);
    // The secondary serves on from its own half.
    let (a, _) = bind(&mut p, 1, 5, T0 + 4);
    assert_eq!(a.octets()[15] & 1, 0);
}

/// The primary bound this client in its share, but its update never reached the secondary:
/// the secondary cannot tell the client's claim from a stale one (RFC 8156 §8.4.1), so it
/// answers with lifetime 0 and makes no record; the client asks anew. (Clients whose update
/// arrived keep their leases: tests_safety.)
#[test]
fn rebind_of_a_binding_the_partner_never_sent_is_refused_s8_4_1() {
    let mut p = normal_pair();
    p.cut(T0 + 2);
    let (a, _) = bind(&mut p, 0, 6, T0 + 3);
    assert!(p.s[1].leases().get(&Resource::Address(a)).is_none());
    let ia = ia_with_lifetimes(a, 300, 600);
    let reply = p
        .client(
            1,
            T0 + 40,
            &client_msg(MessageType::Rebind, 6, None, Some(ia)),
        )
        .expect("secondary in COMM-INT answers Rebind");
    assert!(addr_of(&reply).is_none_or(|(got, valid)| got != a || valid == 0));
    assert!(p.s[1].leases().get(&Resource::Address(a)).is_none());
}

#[test]
fn partner_down_command_and_recovery_s8_4_s8_5() {
    let mut p = normal_pair();
    p.cut(T0 + 2);
    p.s[1].partner_down_command(T0 + 3).unwrap();
    p.drain(1);
    assert_eq!(p.state(1), ServerState::PartnerDown);
    // Reconnect: the primary (COMM-INT) sees PARTNER-DOWN → POTENTIAL-CONFLICT, both
    // resolve and end in NORMAL.
    p.connect(T0 + 100);
    assert_eq!(p.state(0), ServerState::Normal);
    assert_eq!(p.state(1), ServerState::Normal);
    let went = |i: usize, from: ServerState, to: ServerState| {
        p.log[i].contains(&Output::Event(Event::StateChanged { from, to }))
    };
    assert!(went(
        0,
        ServerState::CommunicationsInterrupted,
        ServerState::PotentialConflict
    ));
    assert!(went(
        0,
        ServerState::PotentialConflict,
        ServerState::ConflictDone
    ));
    assert!(went(
        1,
        ServerState::PartnerDown,
        ServerState::PotentialConflict
    ));
    assert!(went(1, ServerState::PotentialConflict, ServerState::Normal));
}

mod hostile_peer {
    use super::*;
    use proptest::prelude::*;

    fn any_message() -> impl Strategy<Value = Vec<u8>> {
        // A valid header with a failover type, then arbitrary option bytes, or any bytes.
        prop_oneof![
            (
                24u8..=35,
                any::<[u8; 7]>(),
                proptest::collection::vec(any::<u8>(), 0..200)
            )
                .prop_map(|(t, h, body)| {
                    let mut v = vec![t];
                    v.extend_from_slice(&h);
                    v.extend_from_slice(&body);
                    v
                }),
            proptest::collection::vec(any::<u8>(), 0..64),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// No sequence of peer bytes makes the server panic or stop serving clients
        /// (the connection may be dropped; §6.1; "Nothing lost, nothing doubled" in ARCHITECTURE.md).
        #[test]
        fn no_panic_and_clients_still_served(msgs in proptest::collection::vec(any_message(), 1..12)) {
            let mut p = normal_pair();
            for m in &msgs {
                if p.up {
                    p.s[1].handle_peer_bytes(T0 + 3, m);
                    p.pump(T0 + 3);
                }
            }
            // Whatever happened to the link, the secondary still answers a client: Renew
            // in NORMAL or anything in COMMUNICATIONS-INTERRUPTED. Bring it to the latter.
            p.cut(T0 + 4);
            prop_assert!(p.state(1) != ServerState::Startup);
            let (a, _) = bind(&mut p, 1, 9, T0 + 5);
            prop_assert_eq!(a.octets()[15] & 1, 0);
        }
    }
}

/// A client released its address here, the partner (out of reach) gave it back to the
/// same client, and the client now rebinds here: it keeps the address (sim seed 34698).
#[test]
fn rebind_restores_the_same_clients_released_lease_lease_stability() {
    let mut p = normal_pair();
    let (a, _) = bind(&mut p, 0, 7, T0 + 2);
    p.cut(T0 + 3);
    let sid = p.s[0].dhcp().server_duid().clone();
    let ia = |valid| ia_with(a, valid);
    p.client(
        0,
        T0 + 4,
        &client_msg(MessageType::Release, 7, Some(&sid), Some(ia(0))),
    )
    .expect("release answered");
    assert_eq!(
        p.s[0].leases().get(&Resource::Address(a)).map(|l| l.status),
        Some(BindingStatus::Released)
    );
    let reply = p
        .client(
            0,
            T0 + 20,
            &client_msg(MessageType::Rebind, 7, None, Some(ia(600))),
        )
        .expect("rebind answered");
    let (got, valid) = addr_of(&reply).unwrap();
    assert_eq!(got, a);
    assert!(valid > 0);
    // Another client claiming it gets nothing of the sort.
    let reply = p
        .client(
            0,
            T0 + 21,
            &client_msg(MessageType::Rebind, 8, None, Some(ia(600))),
        )
        .expect("rebind answered");
    assert!(reply.ia_nas()[0]
        .ia_addrs()
        .iter()
        .all(|x| x.addr != a || x.valid == 0));
}

// ---------------------------------------------------------------- rejected updates

mod rejected_updates {
    //! The partner rejects our BNDUPDs (RFC 8156 §7.5.4, §7.7). Here the secondary's binding
    //! side is scripted: every BNDUPD the primary sends is answered with a BNDREPLY that
    //! rejects all of it with one status code, until the test lets the real secondary answer.

    use super::*;
    use crate::update::wire::{reply_to_wire, update_from_wire};
    use crate::update::{BindingReply, BindingUpdate, FailoverStatus, IaReply, LeaseReply};

    /// The BNDREPLY rejecting every lease of `m` with `code`.
    fn reject_all(m: &FailoverMessage, code: FailoverStatus, now: Time) -> FailoverMessage {
        let upd = update_from_wire(m).expect("our own BNDUPD reads back");
        let lr = |l: &crate::update::LeaseUpdate| LeaseReply {
            resource: l.resource,
            reject: Some(code.into()),
            binding_status: l.status,
            state_expiration: l.state_expiration,
            partner_lifetime_sent: l.partner_lifetime,
        };
        let reply = match &upd {
            BindingUpdate::Client { duid, ias, .. } => BindingReply::Client {
                duid: duid.clone(),
                reject: None,
                ias: ias
                    .iter()
                    .map(|ia| IaReply {
                        ia_type: ia.ia_type,
                        iaid: ia.iaid,
                        reject: None,
                        leases: ia.leases.iter().map(lr).collect(),
                    })
                    .collect(),
            },
            BindingUpdate::Prefix { lease, .. } => BindingReply::Prefix { lease: lr(lease) },
            BindingUpdate::Address4 { lease, .. } => BindingReply::Address4 { lease: lr(lease) },
        };
        reply_to_wire(&reply, m.transaction_id, now)
    }

    /// Like `Pair::pump`, but each BNDUPD from the primary is answered by `script` instead of
    /// reaching the secondary. Returns the client BNDUPDs the primary sent.
    fn pump_scripted(
        p: &mut Pair,
        now: Time,
        script: &dyn Fn(&FailoverMessage) -> FailoverMessage,
    ) -> Vec<FailoverMessage> {
        let mut sent = Vec::new();
        for _ in 0..10_000 {
            p.drain(0);
            p.drain(1);
            if let Some(k) = p.wire[1]
                .iter()
                .position(|m| m.kind() == crate::wire::Kind::BndUpd)
            {
                let m = p.wire[1].remove(k);
                let m = m.rfc8156().expect("an RFC 8156 pair");
                if matches!(update_from_wire(m), Ok(BindingUpdate::Client { .. })) {
                    sent.push(m.clone());
                }
                p.wire[0].push(script(m).into());
                continue;
            }
            let Some(i) = (0..2).find(|i| !p.wire[*i].is_empty()) else {
                return sent;
            };
            let m = p.wire[i].remove(0);
            p.s[i].handle_peer_bytes(now, &m.emit().unwrap());
        }
        panic!("message storm");
    }

    /// Timers second by second from `from` to `to` with the scripted partner; the seconds at
    /// which the primary sent client BNDUPDs, and how many.
    fn tick_scripted(
        p: &mut Pair,
        from: Time,
        to: Time,
        script: &dyn Fn(&FailoverMessage) -> FailoverMessage,
    ) -> Vec<(Time, usize)> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            for i in 0..2 {
                if p.s[i].poll_timeout().is_some_and(|d| d <= t) {
                    p.s[i].handle_timeout(t);
                }
            }
            let n = pump_scripted(p, t, script).len();
            if n > 0 {
                out.push((t, n));
            }
            t = t + 1;
        }
        out
    }

    /// NORMAL pair; at T0+2 client 1 binds at the primary, whose BNDUPD the scripted partner
    /// answers at T0+3. Returns the lease and the client BNDUPDs sent at T0+3 (after the
    /// first, i.e. sent straight after the rejection).
    fn bound_and_rejected(
        p: &mut Pair,
        script: &dyn Fn(&FailoverMessage) -> FailoverMessage,
    ) -> (Resource, Vec<FailoverMessage>) {
        p.up = false; // the first BNDUPD leaves into the void; we hand it over below
        let before = p.log[0].len();
        let (a, _) = bind(p, 0, 1, T0 + 2);
        p.up = true;
        let upd = p.log[0][before..]
            .iter()
            .find_map(|o| match o {
                Output::Peer(msg) if msg.kind() == crate::wire::Kind::BndUpd => {
                    msg.rfc8156().cloned()
                }
                _ => None,
            })
            .expect("lazy BNDUPD after the Reply");
        p.wire[1].push(upd.into());
        let mut sent = pump_scripted(p, T0 + 3, script);
        assert!(!sent.is_empty(), "the first BNDUPD was answered");
        sent.remove(0);
        (Resource::Address(a), sent)
    }

    fn last_persisted(p: &Pair, r: &Resource) -> Lease {
        p.log[0]
            .iter()
            .rev()
            .filter_map(|o| match o {
                Output::Persist(Batch { items, .. }) => Some(items),
                _ => None,
            })
            .flat_map(|items| items.iter().rev())
            .find_map(|item| match item {
                PersistItem::Lease(LeaseChange::Upsert(l)) if l.resource == *r => Some(l.clone()),
                _ => None,
            })
            .expect("lease persisted")
    }

    /// RFC 8156 §7.5.4: an update the partner rejected as outdated is not sent again at once
    /// ("thus preventing a possible update storm should the servers be unable to agree")
    /// but at the next periodic scan, once per scan while the partner keeps rejecting it; the
    /// lease stays update-pending, in memory and on storage (§7.7: nothing else changes).
    #[test]
    fn outdated_rejection_is_resent_once_per_periodic_scan_s7_5_4_s7_7() {
        let outdated =
            |m: &FailoverMessage| reject_all(m, FailoverStatus::OutdatedBindingInformation, T0);
        let mut p = normal_pair();
        let (r, again) = bound_and_rejected(&mut p, &outdated);
        assert!(again.is_empty(), "no immediate resend: {again:?}");
        assert!(p.log[0].contains(&Output::Event(Event::UpdateRejected {
            resource: r,
            code: 19
        })));
        assert!(p.s[0].leases().get(&r).unwrap().failover.update_pending);
        assert!(last_persisted(&p, &r).failover.update_pending);
        // T0+4 … T0+59: the scans at T0+30 and T0+60 (SCAN_INTERVAL_SECS from T0) resend it,
        // one BNDUPD each; nothing in between.
        let sent = tick_scripted(&mut p, T0 + 4, T0 + 59, &outdated);
        assert_eq!(sent, vec![(T0 + 30, 1)]);
        assert!(p.s[0].leases().get(&r).unwrap().failover.update_pending);
        // T0+60: this time the real secondary answers and accepts: the flag clears.
        p.tick(T0 + 60, T0 + 60);
        assert_eq!(
            p.s[1].leases().get(&r).map(|l| l.status),
            Some(BindingStatus::Active)
        );
        let l = p.s[0].leases().get(&r).unwrap();
        assert!(!l.failover.update_pending, "{l:?}");
        assert!(l.failover.acked_partner_lifetime.is_some());
    }

    /// RFC 8156 §7.5.4, §5.6: a rejection a resend cannot fix on this connection
    /// (ConfigurationConflict: the partner's configuration does not cover the lease) is not
    /// repeated by the periodic scan; the lease stays update-pending and is sent again on
    /// the next connection (the partner may have been reconfigured and restarted).
    #[test]
    fn configuration_conflict_waits_for_the_next_connection_s7_5_4_s5_6() {
        let conflict =
            |m: &FailoverMessage| reject_all(m, FailoverStatus::ConfigurationConflict, T0);
        let mut p = normal_pair();
        let (r, again) = bound_and_rejected(&mut p, &conflict);
        assert!(again.is_empty());
        assert!(p.log[0].contains(&Output::Event(Event::UpdateRejected {
            resource: r,
            code: 17
        })));
        assert_eq!(tick_scripted(&mut p, T0 + 4, T0 + 40, &conflict), vec![]);
        assert!(p.s[0].leases().get(&r).unwrap().failover.update_pending);
        // New connection at T0+41: the next scan (T0+60) sends it, the real secondary accepts.
        p.cut(T0 + 41);
        p.connect(T0 + 42);
        assert_eq!(p.state(0), ServerState::Normal);
        p.tick(T0 + 43, T0 + 60);
        assert!(p.s[1].leases().get(&r).is_some());
        assert!(!p.s[0].leases().get(&r).unwrap().failover.update_pending);
    }

    /// A BNDREPLY we cannot read acknowledges nothing (§7.7), but answering it with the same
    /// BNDUPD at once would ping-pong with such a partner without end: the update waits for
    /// the periodic scan like a rejected one (§7.5.4 storm prevention).
    #[test]
    fn unreadable_bndreply_waits_for_the_periodic_scan_s7_7_s7_5_4() {
        let garbled = |m: &FailoverMessage| {
            FailoverMessage::new(
                FailoverMsgType::BndReply,
                m.transaction_id,
                T0.to_failover(),
            )
        };
        let mut p = normal_pair();
        let (r, again) = bound_and_rejected(&mut p, &garbled);
        assert!(
            again.is_empty(),
            "no immediate resend: {} sent",
            again.len()
        );
        assert!(p.log[0]
            .iter()
            .any(|o| matches!(o, Output::Event(Event::ProtocolError(_)))));
        assert!(p.s[0].leases().get(&r).unwrap().failover.update_pending);
        assert_eq!(
            tick_scripted(&mut p, T0 + 4, T0 + 59, &garbled),
            vec![(T0 + 30, 1)]
        );
    }
}

/// A server restarted with a lease that lapsed while it was down, and this stored state.
fn restarted_with_lapsed_lease(stored: Option<ServerState>) -> FailoverServer {
    let mut e = EndpointConfig::new(Role::Primary, "t", MCLT);
    e.local.keepalive = 30;
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let lease = Lease {
        resource: Resource::Address("2001:db8:1::101".parse().unwrap()),
        status: BindingStatus::Active,
        duid: Duid(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1]),
        hw_address: Vec::new(),
        iaid: 1,
        subnet_id: 1,
        preferred_lifetime: 300,
        valid_lifetime: 600,
        t1: 150,
        t2: 240,
        cltt: T0 - 700,
        start_time_of_state: T0 - 700,
        state_expiration: Some(T0 - 100),
        failover: Default::default(),
    };
    let record = stored.map(|state| EndpointRecord {
        state,
        previous: None,
        state_since: T0 - 1000,
        partner_state: Some(ServerState::Normal),
        partner_state_since: Some(T0 - 1000),
        partner_down_time_of_partner: None,
        partner_down_since: None,
        partner_pd_until: None,
        last_operation: T0 - 200,
        communicated: true,
        mclt: MCLT,
    });
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, 0]);
    FailoverServer::new(config(), duid, vec![lease], record, pair, T0).unwrap()
}

/// The driver's contract for timers: `poll_timeout` reports only work `handle_timeout`
/// then does, so a driver that runs every due timer at once never spins. Lease expiry is
/// held back while the server waits for its partner's updates (STARTUP §8.3, RECOVER
/// §8.5, POTENTIAL-CONFLICT §8.10): it must not be reported as due then, and must be once
/// the server is past that (here COMMUNICATIONS-INTERRUPTED after STARTUP, §8.3.2, §8.9).
#[test]
fn poll_timeout_reports_only_work_handle_timeout_does_s8_3_s8_5() {
    let lease = Resource::Address("2001:db8:1::101".parse().unwrap());
    for (stored, ends_in, lease_ends) in [
        (None, ServerState::Recover, BindingStatus::Active),
        (
            Some(ServerState::PotentialConflict),
            ServerState::ResolutionInterrupted,
            BindingStatus::Expired,
        ),
        (
            Some(ServerState::Normal),
            ServerState::CommunicationsInterrupted,
            BindingStatus::Expired,
        ),
    ] {
        let mut s = restarted_with_lapsed_lease(stored);
        let mut t = T0;
        while t <= T0 + 60 {
            if let Some(due) = s.poll_timeout().filter(|d| *d <= t) {
                let state = s.state();
                s.handle_timeout(t);
                while s.poll_output().is_some() {}
                let next = s.poll_timeout();
                assert!(
                    next.is_none_or(|n| n > t),
                    "{stored:?}: at {t} in {state} poll_timeout said {due}; after handle_timeout \
                     it still says {next:?}"
                );
            }
            t = t + 1;
        }
        assert_eq!(s.state(), ends_in, "{stored:?}");
        assert_eq!(
            s.leases().get(&lease).unwrap().status,
            lease_ends,
            "{stored:?}"
        );
    }
}
mod infinite;
