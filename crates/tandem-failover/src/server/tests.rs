//! FailoverServer timelines (RFC 8156 §3, §4, §7, §8): two servers wired back to back,
//! real DHCPv6 client messages, outputs checked in order.

use std::net::{Ipv6Addr, SocketAddrV6};

use tandem_core::config::{AddressPool, PdPool, Subnet};
use tandem_wire::v6::{DhcpOption, Ia, IaAddr, Message, MessageType, OptionsExt};

use super::*;

const T0: Time = Time(1_800_000_000);
const MCLT: u32 = 60;

fn config() -> ServerConfig {
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

fn server(role: Role, now: Time) -> FailoverServer {
    let mut e = EndpointConfig::new(role, "t", MCLT);
    e.local.keepalive = 30;
    e.auto_partner_down = Some(120);
    let pair = PairConfig {
        endpoint: e,
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let duid = Duid(vec![0, 2, 0, 0, 0, 9, role as u8]);
    FailoverServer::new(config(), duid, vec![], None, pair, now).unwrap()
}

/// P = 0, S = 1. Outputs are drained into `log` and peer messages delivered in order
/// (persistence is instantaneous here; the simulator covers crashes between the two).
struct Pair {
    s: [FailoverServer; 2],
    log: [Vec<Output>; 2],
    up: bool,
    wire: [Vec<FailoverMessage>; 2],
    replies: Vec<(usize, Vec<u8>)>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            s: [server(Role::Primary, T0), server(Role::Secondary, T0)],
            log: [vec![], vec![]],
            up: false,
            wire: [vec![], vec![]],
            replies: vec![],
        }
    }

    fn drain(&mut self, i: usize) {
        while let Some(o) = self.s[i].poll_output() {
            match &o {
                Output::Peer { msg, .. } if self.up => self.wire[1 - i].push(msg.clone()),
                Output::ClientReply(r) => self.replies.push((i, r.bytes.clone())),
                Output::ClosePeer { .. } => self.up = false,
                _ => {}
            }
            self.log[i].push(o);
        }
    }

    fn pump(&mut self, now: Time) {
        for _ in 0..10_000 {
            self.drain(0);
            self.drain(1);
            let Some(i) = (0..2).find(|i| !self.wire[*i].is_empty()) else {
                return;
            };
            let m = self.wire[i].remove(0);
            self.s[i].handle_peer_bytes(now, &m.emit());
        }
        panic!("message storm");
    }

    fn connect(&mut self, now: Time) {
        self.up = true;
        self.s[1].handle_connected(now);
        self.s[0].handle_connected(now);
        self.pump(now);
    }

    fn cut(&mut self, now: Time) {
        self.up = false;
        self.wire = [vec![], vec![]];
        self.s[0].handle_disconnected(now);
        self.s[1].handle_disconnected(now);
        self.pump(now);
    }

    fn tick(&mut self, from: Time, to: Time) {
        let mut t = from;
        while t <= to {
            for i in 0..2 {
                if self.s[i].poll_timeout().is_some_and(|d| d <= t) {
                    self.s[i].handle_timeout(t);
                }
            }
            self.pump(t);
            t = t + 1;
        }
    }

    /// Client datagram to server i; returns its reply, if any.
    fn client(&mut self, i: usize, now: Time, m: &Message) -> Option<Message> {
        self.replies.clear();
        let rx = RxInfo {
            src: SocketAddrV6::new("fe80::99".parse().unwrap(), 546, 0, 0),
            dst: "ff02::1:2".parse().unwrap(),
            interface: "eth0".into(),
        };
        self.s[i].handle_client(now, &m.emit(), &rx);
        self.pump(now);
        self.replies
            .iter()
            .find(|(from, _)| *from == i)
            .map(|(_, b)| Message::parse(b).unwrap())
    }
}

fn normal_pair() -> Pair {
    let mut p = Pair::new();
    p.connect(T0 + 1);
    assert_eq!(p.s[0].state(), ServerState::Normal);
    assert_eq!(p.s[1].state(), ServerState::Normal);
    p
}

fn client_msg(t: MessageType, client: u8, server: Option<&Duid>, ia: Option<Ia>) -> Message {
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

fn addr_of(m: &Message) -> Option<(Ipv6Addr, u32)> {
    m.ia_nas()
        .first()
        .and_then(|ia| ia.ia_addrs().first().map(|a| (a.addr, a.valid)))
}

/// Solicit + Request at the primary; returns (address, valid lifetime).
fn bind(p: &mut Pair, i: usize, client: u8, now: Time) -> (Ipv6Addr, u32) {
    let adv = p
        .client(
            i,
            now,
            &client_msg(MessageType::Solicit, client, None, None),
        )
        .expect("advertise");
    let (a, _) = addr_of(&adv).expect("an address");
    let sid = Duid(adv.server_id().unwrap().to_vec());
    let ia = Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![DhcpOption::IaAddr(IaAddr {
            addr: a,
            preferred: 0,
            valid: 0,
            options: vec![],
        })],
    };
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
    let ia = Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![DhcpOption::IaAddr(IaAddr {
            addr: a,
            preferred: 0,
            valid: 0,
            options: vec![],
        })],
    };
    let renewed = p
        .client(
            0,
            T0 + 30,
            &client_msg(MessageType::Renew, 1, Some(&sid), Some(ia)),
        )
        .unwrap();
    assert_eq!(addr_of(&renewed), Some((a, 600)));
}

#[test]
fn persist_before_reply_and_update_after_s4_3() {
    let mut p = normal_pair();
    let before = p.log[0].len();
    bind(&mut p, 0, 2, T0 + 2);
    let out = &p.log[0][before..];
    let first_reply = out
        .iter()
        .position(|o| matches!(o, Output::ClientReply(r) if r.bytes[0] == 7))
        .unwrap();
    let first_bndupd = out
        .iter()
        .position(
            |o| matches!(o, Output::Peer { msg, .. } if msg.msg_type == FailoverMsgType::BndUpd),
        )
        .unwrap();
    let persist = out
        .iter()
        .position(|o| matches!(o, Output::Persist(PersistItem::Lease(_))))
        .unwrap();
    assert!(persist < first_reply, "lease persisted before the Reply");
    assert!(first_reply < first_bndupd, "lazy update: Reply first");
    assert!(matches!(
        &out[first_bndupd],
        Output::Peer {
            after_persist: true,
            ..
        }
    ));
}

#[test]
fn secondary_in_comm_interrupted_allocates_its_own_half_s4_2_1() {
    let mut p = normal_pair();
    p.cut(T0 + 5);
    assert_eq!(p.s[1].state(), ServerState::CommunicationsInterrupted);
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
    let s_blocks: u32 = p.s[1]
        .prefix_pools()
        .iter()
        .flat_map(|pool| pool.blocks_of(Role::Secondary).collect::<Vec<_>>())
        .map(|b| 1u32 << (56 - b.prefix_len()))
        .sum();
    assert_eq!(s_blocks, 128, "half of the 256 /56s");
    let p_view: u32 = p.s[0]
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
    assert_eq!(p.s[0].state(), ServerState::Normal);
    assert_eq!(p.s[0].leases().get(&r).unwrap().status, BindingStatus::Free);
}

#[test]
fn malformed_peer_message_disconnects_but_clients_are_served_s6_1() {
    let mut p = normal_pair();
    p.s[1].handle_peer_bytes(T0 + 3, &[24, 0, 0]);
    p.drain(1);
    assert!(p.log[1].iter().any(
        |o| matches!(o, Output::Peer { msg, .. } if msg.msg_type == FailoverMsgType::Disconnect)
    ));
    assert!(p.log[1]
        .iter()
        .any(|o| matches!(o, Output::ClosePeer { .. })));
    assert!(p.log[1]
        .iter()
        .any(|o| matches!(o, Output::Event(Event::ProtocolError(_)))));
    assert_eq!(p.s[1].state(), ServerState::CommunicationsInterrupted);
    // The secondary serves on from its own half.
    let (a, _) = bind(&mut p, 1, 5, T0 + 4);
    assert_eq!(a.octets()[15] & 1, 0);
}

#[test]
fn rebind_of_unknown_binding_is_kept_lease_stability() {
    let mut p = normal_pair();
    p.cut(T0 + 2);
    // The primary bound this client but its update never reached the secondary.
    let (a, _) = bind(&mut p, 0, 6, T0 + 3);
    assert!(p.s[1].leases().get(&Resource::Address(a)).is_none());
    let ia = Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![DhcpOption::IaAddr(IaAddr {
            addr: a,
            preferred: 300,
            valid: 600,
            options: vec![],
        })],
    };
    let reply = p
        .client(
            1,
            T0 + 40,
            &client_msg(MessageType::Rebind, 6, None, Some(ia)),
        )
        .expect("secondary in COMM-INT answers Rebind");
    let (got, valid) = addr_of(&reply).unwrap();
    assert_eq!(got, a, "same address");
    assert!(valid > 0 && valid <= MCLT);
}

#[test]
fn partner_down_command_and_recovery_s8_4_s8_5() {
    let mut p = normal_pair();
    p.cut(T0 + 2);
    p.s[1].partner_down_command(T0 + 3).unwrap();
    p.drain(1);
    assert_eq!(p.s[1].state(), ServerState::PartnerDown);
    // Reconnect: the primary (COMM-INT) sees PARTNER-DOWN → POTENTIAL-CONFLICT, both
    // resolve and end in NORMAL.
    p.connect(T0 + 100);
    assert_eq!(p.s[0].state(), ServerState::Normal);
    assert_eq!(p.s[1].state(), ServerState::Normal);
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
        /// (the connection may be dropped; §6.1, "Nothing lost" in DESIGN.md).
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
            prop_assert!(p.s[1].state() != ServerState::Startup);
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
    let ia = |valid| Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![DhcpOption::IaAddr(IaAddr {
            addr: a,
            preferred: valid,
            valid,
            options: vec![],
        })],
    };
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

mod infinite;
