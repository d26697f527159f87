//! Message-level tests: build datagrams, run `handle`, parse the reply back.
//! Each test names the RFC 8415 section it checks.

use std::net::{Ipv6Addr, SocketAddrV6};

use ipnet::Ipv6Net;
use tandem_wire::v6::{
    code as opt, status, DhcpOption, Ia, IaAddr, IaPrefix, IaTa, Message, MessageType, OptionsExt,
    RelayMessage,
};

use tandem_wire::{ErrorKind, WireError};

use super::*;
use crate::config::{AddressPool, OptionSet, PdPool, Reservation, ServerConfig, Subnet};
use crate::lease::{BindingStatus, Duid, Lease, LeaseChange, Resource};
use crate::table::LeaseTable;
use crate::time::Time;

const T0: Time = Time(1_800_000_000);

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn server_duid() -> Duid {
    Duid(vec![0, 2, 0, 0, 0x99, 0x99, 1])
}

fn cid(n: u32) -> Duid {
    let mut v = vec![0, 4];
    v.extend_from_slice(&n.to_be_bytes());
    Duid(v)
}

fn subnet() -> Subnet {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
    s.interface = Some("eth0".into());
    s.pools.push(AddressPool {
        first: a("2001:db8:1::100"),
        last: a("2001:db8:1::1ff"),
    });
    s.pd_pools.push(PdPool {
        prefix: "2001:db8:100::/40".parse().unwrap(),
        delegated_len: 56,
    });
    s.rapid_commit = true;
    s.options = OptionSet {
        dns_servers: vec![a("2001:db8:1::53")],
        domain_search: vec!["example.com".into()],
        information_refresh_time: Some(3600),
        other: vec![(99, vec![1, 2, 3])],
    };
    s
}

fn config() -> ServerConfig {
    ServerConfig {
        subnets: vec![subnet()],
        preference: Some(200),
        ..ServerConfig::default()
    }
}

fn server_with(c: ServerConfig) -> DhcpServer {
    assert_eq!(c.validate(), vec![]);
    DhcpServer::new(c, server_duid(), LeaseTable::new())
}

fn server() -> DhcpServer {
    server_with(config())
}

fn rx() -> RxInfo {
    RxInfo {
        src: SocketAddrV6::new(a("fe80::1"), 546, 0, 2),
        dst: a("ff02::1:2"),
        interface: "eth0".into(),
    }
}

fn message(
    t: MessageType,
    client: Option<&Duid>,
    server: Option<&Duid>,
    mut extra: Vec<DhcpOption>,
) -> Vec<u8> {
    let mut m = Message::new(t, 0x00ab_cdef);
    if let Some(c) = client {
        m.push(DhcpOption::ClientId(c.0.clone()));
    }
    if let Some(s) = server {
        m.push(DhcpOption::ServerId(s.0.clone()));
    }
    m.options.append(&mut extra);
    m.emit()
}

fn ia_na(iaid: u32, addrs: &[Ipv6Addr]) -> DhcpOption {
    let options = addrs
        .iter()
        .map(|addr| {
            DhcpOption::IaAddr(IaAddr {
                addr: *addr,
                preferred: 0,
                valid: 0,
                options: vec![],
            })
        })
        .collect();
    DhcpOption::IaNa(Ia {
        iaid,
        t1: 0,
        t2: 0,
        options,
    })
}

fn ia_pd(iaid: u32, prefixes: &[&str]) -> DhcpOption {
    let options = prefixes
        .iter()
        .map(|p| {
            let p: Ipv6Net = p.parse().unwrap();
            DhcpOption::IaPrefix(IaPrefix {
                preferred: 0,
                valid: 0,
                prefix_len: p.prefix_len(),
                prefix: p.network(),
                options: vec![],
            })
        })
        .collect();
    DhcpOption::IaPd(Ia {
        iaid,
        t1: 0,
        t2: 0,
        options,
    })
}

fn oro(codes: &[u16]) -> DhcpOption {
    DhcpOption::Oro(codes.to_vec())
}

fn rapid() -> DhcpOption {
    DhcpOption::RapidCommit
}

/// An option with any payload, sent byte for byte (tandem-wire's verbatim option).
fn raw(code: u16, data: Vec<u8>) -> DhcpOption {
    DhcpOption::Unknown { code, data }
}

fn reply_of(o: &Outcome) -> Message {
    let r = o
        .reply
        .as_ref()
        .unwrap_or_else(|| panic!("no reply: {:?}", o.drop));
    Message::parse(&r.bytes).unwrap()
}

/// The IA_NAs or IA_PDs (`code`) of a message.
fn ias(m: &Message, code: u16) -> Vec<Ia> {
    m.options
        .iter()
        .filter(|o| o.code() == code)
        .filter_map(|o| match o {
            DhcpOption::IaNa(ia) | DhcpOption::IaPd(ia) => Some(ia.clone()),
            _ => None,
        })
        .collect()
}

fn addrs(ia: &Ia) -> Vec<IaAddr> {
    ia.ia_addrs().into_iter().cloned().collect()
}

/// An IAPREFIX with its prefix as a network.
#[derive(Debug)]
struct Prefix {
    prefix: Ipv6Net,
    valid: u32,
}

fn prefixes(ia: &Ia) -> Vec<Prefix> {
    ia.ia_prefixes()
        .into_iter()
        .map(|p| Prefix {
            prefix: Ipv6Net::new(p.prefix, p.prefix_len).unwrap(),
            valid: p.valid,
        })
        .collect()
}

/// The status code carried in `opts`, Success when absent (RFC 8415 §21.13).
fn status_of(opts: &[DhcpOption]) -> u16 {
    opts.status_code().map_or(status::SUCCESS, |s| s.code)
}

/// The payload of the first option with `code`, as sent on the wire.
fn payload(opts: &[DhcpOption], code: u16) -> Option<Vec<u8>> {
    opts.find(code).map(|o| o.emit()[4..].to_vec())
}

/// Solicit + Request for one IA_NA; returns the committed address.
fn acquire(s: &mut DhcpServer, now: Time, c: &Duid, iaid: u32) -> Ipv6Addr {
    let adv = reply_of(&s.handle(
        now,
        &message(MessageType::Solicit, Some(c), None, vec![ia_na(iaid, &[])]),
        &rx(),
    ));
    let offered = addrs(&ias(&adv, opt::IA_NA)[0])[0].addr;
    let out = s.handle(
        now,
        &message(
            MessageType::Request,
            Some(c),
            Some(&server_duid()),
            vec![ia_na(iaid, &[offered])],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    assert_eq!(rep.msg_type, MessageType::Reply);
    let got = addrs(&ias(&rep, opt::IA_NA)[0])[0].addr;
    assert_eq!(got, offered);
    got
}

// ------------------------------------------------------------------ §16 validation

#[test]
fn solicit_without_client_id_is_dropped_rfc8415_s16() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(MessageType::Solicit, None, None, vec![ia_na(1, &[])]),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::MissingClientId));
    assert!(out.reply.is_none());
    assert_eq!(
        s.drop_counts().get(DropReason::MissingClientId.as_str()),
        Some(&1)
    );
}

#[test]
fn solicit_with_server_id_is_dropped_rfc8415_s16() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![],
        ),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::UnexpectedServerId));
}

#[test]
fn request_without_or_with_foreign_server_id_is_dropped_rfc8415_s16() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::Request,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[])],
        ),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::MissingServerId));
    let out = s.handle(
        T0,
        &message(
            MessageType::Renew,
            Some(&cid(1)),
            Some(&Duid(vec![9, 9])),
            vec![ia_na(1, &[])],
        ),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::ForeignServerId));
    let out = s.handle(
        T0,
        &message(MessageType::Release, None, Some(&server_duid()), vec![]),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::MissingClientId));
}

#[test]
fn unicast_solicit_confirm_rebind_are_discarded_rfc8415_s16() {
    let mut s = server();
    let mut u = rx();
    u.dst = a("2001:db8:1::1");
    for t in [
        MessageType::Solicit,
        MessageType::Confirm,
        MessageType::Rebind,
    ] {
        let out = s.handle(
            T0,
            &message(t, Some(&cid(1)), None, vec![ia_na(1, &[])]),
            &u,
        );
        assert_eq!(out.drop, Some(DropReason::UnicastNotAllowed), "type {t:?}");
    }
}

#[test]
fn unicast_request_gets_use_multicast_rfc8415_s18_4() {
    let mut s = server();
    let mut u = rx();
    u.dst = a("2001:db8:1::1");
    let out = s.handle(
        T0,
        &message(
            MessageType::Request,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[])],
        ),
        &u,
    );
    let rep = reply_of(&out);
    assert_eq!(status_of(&rep.options), status::USE_MULTICAST);
    assert!(ias(&rep, opt::IA_NA).is_empty());
    assert!(out.changes.is_empty());
    assert!(
        payload(&rep.options, opt::SERVERID).is_some()
            && payload(&rep.options, opt::CLIENTID).is_some()
    );
}

/// A datagram tandem-wire rejects: dropped as malformed, with its error.
fn wire_drop(
    relay_depth: usize,
    offset: usize,
    option: Option<u16>,
    kind: ErrorKind,
) -> DropReason {
    DropReason::Malformed(Malformed::Wire {
        relay_depth,
        error: WireError::new(offset, option, kind),
    })
}

#[test]
fn malformed_and_non_client_types_are_dropped_rfc8415_s16() {
    let mut s = server();
    assert_eq!(
        s.handle(T0, &[1, 2], &rx()).drop,
        Some(wire_drop(
            0,
            0,
            None,
            ErrorKind::TruncatedHeader { need: 4, have: 2 }
        ))
    );
    assert_eq!(
        s.handle(T0, &[], &rx()).drop,
        Some(wire_drop(
            0,
            0,
            None,
            ErrorKind::TruncatedHeader { need: 1, have: 0 }
        ))
    );
    // Option length past the end.
    assert_eq!(
        s.handle(T0, &[1, 0, 0, 1, 0, 1, 0, 9, 1], &rx()).drop,
        Some(wire_drop(
            0,
            4,
            Some(opt::CLIENTID),
            ErrorKind::LengthPastEnd {
                len: 9,
                available: 1
            }
        ))
    );
    let out = s.handle(
        T0,
        &message(MessageType::Advertise, Some(&cid(1)), None, vec![]),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::UnknownType));
}

/// The decode error reaches the drop reason whole (offset, option, reason), for logs,
/// under one counter; inside relays it says which encapsulated message it is about.
#[test]
fn malformed_datagram_keeps_its_wire_error_and_relay_depth_rfc8415_s16_s19() {
    let mut s = server();
    // An IA_NA of 4 bytes (needs 12) in a Solicit, relayed once.
    let inner = message(
        MessageType::Solicit,
        Some(&cid(1)),
        None,
        vec![raw(opt::IA_NA, vec![0, 0, 0, 1])],
    );
    let out = s.handle(
        T0,
        &relay_forw("2001:db8:1::1", "fe80::1", 0, None, inner),
        &relay_rx(),
    );
    let reason = out.drop.expect("dropped");
    let tlv = 4 + 4 + cid(1).0.len(); // header, Client ID
    assert_eq!(
        reason,
        wire_drop(
            1,
            tlv + 4,
            Some(opt::IA_NA),
            ErrorKind::TooShort { min: 12, got: 4 }
        )
    );
    assert_eq!(reason.as_str(), "malformed");
    assert_eq!(reason.wire_error().map(|e| e.offset), Some(tlv + 4));
    assert_eq!(
        reason.to_string(),
        format!(
            "malformed: length 4 below minimum 12 at byte {} (option 3) \
             (in the message inside 1 RELAY-FORW)",
            tlv + 4
        )
    );
    // A DUID of the wrong length is malformed too, with no wire error.
    let out = s.handle(
        T0,
        &message(MessageType::Solicit, Some(&Duid(vec![0, 1])), None, vec![]),
        &rx(),
    );
    assert_eq!(
        out.drop,
        Some(DropReason::Malformed(Malformed::ClientIdLength(2)))
    );
    assert_eq!(out.drop.unwrap().wire_error(), None);
    assert_eq!(s.drop_counts().get("malformed"), Some(&2));
}

/// `handle_packet` takes what a caller already decoded and answers as `handle` does.
#[test]
fn handle_packet_answers_a_decoded_request_like_handle_rfc8415_s18_3_1() {
    let bytes = message(
        MessageType::Solicit,
        Some(&cid(1)),
        None,
        vec![ia_na(1, &[]), rapid()],
    );
    let packet = tandem_wire::v6::Packet::parse(&bytes).unwrap();
    let (mut s1, mut s2) = (server(), server());
    assert_eq!(
        s1.handle_packet(T0, &packet, &rx()),
        s2.handle(T0, &bytes, &rx())
    );
    assert_eq!(s1.leases().len(), 1);
}

#[test]
fn message_from_unknown_link_is_dropped() {
    let mut s = server();
    let mut r = rx();
    r.interface = "eth9".into();
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[])],
        ),
        &r,
    );
    assert_eq!(out.drop, Some(DropReason::NoSubnet));
}

// ------------------------------------------------------------------ §18.3.1 Solicit

#[test]
fn solicit_gets_advertise_with_preference_and_no_durable_change_rfc8415_s18_3_1() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[]), oro(&[23, 24, 99])],
        ),
        &rx(),
    );
    assert!(out.changes.is_empty(), "Advertise must not commit");
    assert_eq!(out.reply.as_ref().unwrap().dest, rx().src.into());
    let adv = reply_of(&out);
    assert_eq!(adv.msg_type, MessageType::Advertise);
    assert_eq!(adv.transaction_id, 0x00ab_cdef);
    assert_eq!(payload(&adv.options, opt::PREFERENCE).unwrap(), vec![200]);
    assert_eq!(
        payload(&adv.options, opt::SERVERID).unwrap(),
        server_duid().0
    );
    assert_eq!(payload(&adv.options, opt::CLIENTID).unwrap(), cid(1).0);
    assert_eq!(
        payload(&adv.options, opt::DNS_SERVERS).unwrap(),
        a("2001:db8:1::53").octets().to_vec()
    );
    assert!(payload(&adv.options, opt::DOMAIN_LIST).is_some());
    assert_eq!(payload(&adv.options, 99).unwrap(), vec![1, 2, 3]);
    let ia = &ias(&adv, opt::IA_NA)[0];
    assert_eq!((ia.iaid, ia.t1, ia.t2), (1, 1800, 2880));
    let ad = &addrs(ia)[0];
    assert!(ad.addr >= a("2001:db8:1::100") && ad.addr <= a("2001:db8:1::1ff"));
    assert_eq!((ad.preferred, ad.valid), (3600, 7200));
    assert!(s.leases().is_empty());
}

#[test]
fn advertised_address_is_not_offered_to_another_client_rfc8415_s18_3_1() {
    let mut s = server();
    let a1 = addrs(
        &ias(
            &reply_of(&s.handle(
                T0,
                &message(
                    MessageType::Solicit,
                    Some(&cid(1)),
                    None,
                    vec![ia_na(1, &[])],
                ),
                &rx(),
            )),
            opt::IA_NA,
        )[0],
    )[0]
    .addr;
    let a2 = addrs(
        &ias(
            &reply_of(&s.handle(
                T0,
                &message(
                    MessageType::Solicit,
                    Some(&cid(2)),
                    None,
                    vec![ia_na(1, &[])],
                ),
                &rx(),
            )),
            opt::IA_NA,
        )[0],
    )[0]
    .addr;
    assert_ne!(a1, a2);
}

#[test]
fn rapid_commit_solicit_commits_and_replies_rfc8415_s18_3_1() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[]), rapid()],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    assert_eq!(rep.msg_type, MessageType::Reply);
    assert!(payload(&rep.options, opt::RAPID_COMMIT).is_some());
    assert!(payload(&rep.options, opt::PREFERENCE).is_none());
    assert_eq!(out.changes.len(), 1);
    let LeaseChange::Upsert(l) = &out.changes[0] else {
        panic!()
    };
    assert_eq!(l.status, BindingStatus::Active);
    assert_eq!(l.state_expiration, Some(T0 + 7200));
    assert_eq!((l.t1, l.t2), (1800, 2880));
    assert_eq!(
        Resource::Address(addrs(&ias(&rep, opt::IA_NA)[0])[0].addr),
        l.resource
    );
}

#[test]
fn rapid_commit_ignored_when_subnet_disallows_it_rfc8415_s18_3_1() {
    let mut c = config();
    c.subnets[0].rapid_commit = false;
    let mut s = server_with(c);
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[]), rapid()],
        ),
        &rx(),
    );
    assert_eq!(reply_of(&out).msg_type, MessageType::Advertise);
    assert!(out.changes.is_empty());
}

#[test]
fn solicit_hint_in_pool_is_honoured_rfc8415_s18_3_1() {
    let mut s = server();
    let hint = a("2001:db8:1::1a0");
    let adv = reply_of(&s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[hint])],
        ),
        &rx(),
    ));
    assert_eq!(addrs(&ias(&adv, opt::IA_NA)[0])[0].addr, hint);
}

// ------------------------------------------------------------------ §18.3.2 Request

#[test]
fn request_commits_and_same_client_gets_its_address_back_rfc8415_s18_3_2() {
    let mut s = server();
    let first = acquire(&mut s, T0, &cid(1), 1);
    assert_eq!(s.leases().len(), 1);
    // Same DUID+IAID solicits again (e.g. after reboot): same address.
    let again = acquire(&mut s, T0 + 100, &cid(1), 1);
    assert_eq!(first, again);
    assert_eq!(s.leases().len(), 1);
    // Another client gets a different one.
    assert_ne!(acquire(&mut s, T0, &cid(2), 1), first);
}

#[test]
fn request_with_off_link_address_gets_not_on_link_rfc8415_s18_3_2() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::Request,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[a("2001:db8:7::5")])],
        ),
        &rx(),
    );
    let ia = &ias(&reply_of(&out), opt::IA_NA)[0];
    assert_eq!(status_of(&ia.options), status::NOT_ON_LINK);
    assert!(out.changes.is_empty());
}

#[test]
fn multiple_ia_na_and_ia_pd_share_t1_t2_rfc8415_s18_3_2() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::Request,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![
                ia_na(1, &[]),
                ia_na(2, &[]),
                ia_pd(10, &[]),
                ia_pd(11, &["::/56"]),
            ],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    let na = ias(&rep, opt::IA_NA);
    let pd = ias(&rep, opt::IA_PD);
    assert_eq!((na.len(), pd.len()), (2, 2));
    assert_ne!(addrs(&na[0])[0].addr, addrs(&na[1])[0].addr);
    let p0 = prefixes(&pd[0])[0].prefix;
    let p1 = prefixes(&pd[1])[0].prefix;
    assert_ne!(p0, p1);
    assert_eq!(p0.prefix_len(), 56);
    assert!("2001:db8:100::/40"
        .parse::<ipnet::Ipv6Net>()
        .unwrap()
        .contains(&p0));
    for ia in na.iter().chain(pd.iter()) {
        assert_eq!((ia.t1, ia.t2), (1800, 2880));
    }
    assert_eq!(out.changes.len(), 4);
    assert_eq!(s.leases().len(), 4);
}

#[test]
fn reservation_by_duid_wins_rfc8415_s18_3_2() {
    let mut c = config();
    c.subnets[0].reservations.push(Reservation {
        duid: cid(7),
        address: Some(a("2001:db8:1::7")),
        prefix: Some("2001:db8:200::/56".parse().unwrap()),
    });
    let mut s = server_with(c);
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(7)),
            None,
            vec![ia_na(1, &[]), ia_pd(2, &[]), rapid()],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    assert_eq!(addrs(&ias(&rep, opt::IA_NA)[0])[0].addr, a("2001:db8:1::7"));
    assert_eq!(
        prefixes(&ias(&rep, opt::IA_PD)[0])[0].prefix,
        "2001:db8:200::/56".parse().unwrap()
    );
    // Renew keeps the reserved (out-of-pool) address valid.
    let out = s.handle(
        T0 + 10,
        &message(
            MessageType::Renew,
            Some(&cid(7)),
            Some(&server_duid()),
            vec![ia_na(1, &[a("2001:db8:1::7")])],
        ),
        &rx(),
    );
    assert_eq!(addrs(&ias(&reply_of(&out), opt::IA_NA)[0])[0].valid, 7200);
}

#[test]
fn tiny_pool_exhaustion_gives_no_addrs_avail_rfc8415_s18_3_2() {
    let mut c = config();
    c.subnets[0].pools = vec![AddressPool {
        first: a("2001:db8:1::1"),
        last: a("2001:db8:1::2"),
    }];
    c.subnets[0].pd_pools = vec![PdPool {
        prefix: "2001:db8:100::/55".parse().unwrap(),
        delegated_len: 56,
    }];
    let mut s = server_with(c);
    for n in 1..=2 {
        let out = s.handle(
            T0,
            &message(
                MessageType::Solicit,
                Some(&cid(n)),
                None,
                vec![ia_na(1, &[]), ia_pd(2, &[]), rapid()],
            ),
            &rx(),
        );
        assert_eq!(out.changes.len(), 2);
    }
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(3)),
            None,
            vec![ia_na(1, &[]), ia_pd(2, &[]), rapid()],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    assert_eq!(
        status_of(&ias(&rep, opt::IA_NA)[0].options),
        status::NO_ADDRS_AVAIL
    );
    assert_eq!(
        status_of(&ias(&rep, opt::IA_PD)[0].options),
        status::NO_PREFIX_AVAIL
    );
    assert!(out.changes.is_empty());
}

// ------------------------------------------------------------------ §18.3.4/§18.3.5 Renew, Rebind

#[test]
fn renew_extends_the_binding_rfc8415_s18_3_4() {
    let mut s = server();
    let addr = acquire(&mut s, T0, &cid(1), 1);
    let out = s.handle(
        T0 + 1800,
        &message(
            MessageType::Renew,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[addr])],
        ),
        &rx(),
    );
    let ia = &ias(&reply_of(&out), opt::IA_NA)[0];
    assert_eq!(addrs(ia)[0].addr, addr);
    assert_eq!(addrs(ia)[0].valid, 7200);
    assert_eq!(out.changes.len(), 1);
    assert_eq!(
        s.leases()
            .get(&Resource::Address(addr))
            .unwrap()
            .state_expiration,
        Some(T0 + 1800 + 7200)
    );
}

#[test]
fn renew_of_unknown_ia_gets_no_binding_rfc8415_s18_3_4() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::Renew,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[a("2001:db8:1::150")])],
        ),
        &rx(),
    );
    let ia = &ias(&reply_of(&out), opt::IA_NA)[0];
    assert_eq!(status_of(&ia.options), status::NO_BINDING);
    assert!(out.changes.is_empty());
}

#[test]
fn renew_with_address_wrong_for_link_gets_zero_lifetimes_rfc8415_s18_3_4() {
    let mut s = server();
    let addr = acquire(&mut s, T0, &cid(1), 1);
    let wrong = a("2001:db8:9::1");
    let out = s.handle(
        T0 + 10,
        &message(
            MessageType::Renew,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[addr, wrong])],
        ),
        &rx(),
    );
    let list = addrs(&ias(&reply_of(&out), opt::IA_NA)[0]);
    let w = list.iter().find(|x| x.addr == wrong).unwrap();
    assert_eq!((w.preferred, w.valid), (0, 0));
    assert_eq!(list.iter().find(|x| x.addr == addr).unwrap().valid, 7200);
}

#[test]
fn rebind_from_another_link_gets_zero_lifetimes_rfc8415_s18_3_5() {
    let mut c = config();
    c.subnets[0].rapid_commit = false;
    let mut s = server_with(c);
    let out = s.handle(
        T0,
        &message(
            MessageType::Rebind,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[a("2001:db8:9::1")])],
        ),
        &rx(),
    );
    let list = addrs(&ias(&reply_of(&out), opt::IA_NA)[0]);
    assert_eq!((list[0].preferred, list[0].valid), (0, 0));
    // On-link but unknown, creation not allowed: NoBinding.
    let out = s.handle(
        T0,
        &message(
            MessageType::Rebind,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[a("2001:db8:1::150")])],
        ),
        &rx(),
    );
    assert_eq!(
        status_of(&ias(&reply_of(&out), opt::IA_NA)[0].options),
        status::NO_BINDING
    );
}

#[test]
fn rebind_extends_known_binding_rfc8415_s18_3_5() {
    let mut s = server();
    let addr = acquire(&mut s, T0, &cid(1), 1);
    let out = s.handle(
        T0 + 3000,
        &message(
            MessageType::Rebind,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[addr])],
        ),
        &rx(),
    );
    assert_eq!(addrs(&ias(&reply_of(&out), opt::IA_NA)[0])[0].valid, 7200);
    assert_eq!(out.changes.len(), 1);
}

// ------------------------------------------------------------------ §18.3.7/§18.3.8 Release, Decline

#[test]
fn release_frees_the_address_rfc8415_s18_3_7() {
    let mut c = config();
    c.subnets[0].pools = vec![AddressPool {
        first: a("2001:db8:1::1"),
        last: a("2001:db8:1::1"),
    }];
    let mut s = server_with(c);
    let addr = acquire(&mut s, T0, &cid(1), 1);
    let out = s.handle(
        T0 + 5,
        &message(
            MessageType::Release,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[addr]), ia_na(9, &[])],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    assert_eq!(status_of(&rep.options), status::SUCCESS);
    // The unknown IA 9 is reported with NoBinding, IA 1 is not echoed.
    let listed = ias(&rep, opt::IA_NA);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].iaid, status_of(&listed[0].options)),
        (9, status::NO_BINDING)
    );
    assert_eq!(out.changes.len(), 1);
    assert_eq!(
        s.leases().get(&Resource::Address(addr)).unwrap().status,
        BindingStatus::Released
    );
    // The one-address pool now serves another client.
    assert_eq!(acquire(&mut s, T0 + 6, &cid(2), 1), addr);
}

#[test]
fn decline_quarantines_the_address_rfc8415_s18_3_8() {
    let mut c = config();
    c.subnets[0].pools = vec![AddressPool {
        first: a("2001:db8:1::1"),
        last: a("2001:db8:1::1"),
    }];
    c.decline_quarantine = Some(600);
    let mut s = server_with(c);
    let addr = acquire(&mut s, T0, &cid(1), 1);
    let out = s.handle(
        T0 + 5,
        &message(
            MessageType::Decline,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[addr])],
        ),
        &rx(),
    );
    assert_eq!(status_of(&reply_of(&out).options), status::SUCCESS);
    let l = s.leases().get(&Resource::Address(addr)).unwrap();
    assert_eq!(
        (l.status, l.state_expiration),
        (BindingStatus::Abandoned, Some(T0 + 605))
    );
    // Quarantined: neither the decliner nor anyone else gets it.
    for n in [1, 2] {
        let adv = reply_of(&s.handle(
            T0 + 10,
            &message(
                MessageType::Solicit,
                Some(&cid(n)),
                None,
                vec![ia_na(1, &[])],
            ),
            &rx(),
        ));
        assert_eq!(
            status_of(&ias(&adv, opt::IA_NA)[0].options),
            status::NO_ADDRS_AVAIL
        );
    }
    // After the quarantine the record is removed and the address is free again.
    assert_eq!(s.next_timeout(), Some(T0 + 605));
    assert_eq!(
        s.reclaim_expired(T0 + 605),
        vec![LeaseChange::Remove(Resource::Address(addr))]
    );
    assert_eq!(acquire(&mut s, T0 + 700, &cid(2), 1), addr);
}

// ------------------------------------------------------------------ §18.3.3 Confirm, §18.3.6 Information-request

#[test]
fn confirm_reports_success_or_not_on_link_rfc8415_s18_3_3() {
    let mut s = server();
    let ok = s.handle(
        T0,
        &message(
            MessageType::Confirm,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[a("2001:db8:1::150")])],
        ),
        &rx(),
    );
    assert_eq!(status_of(&reply_of(&ok).options), status::SUCCESS);
    let bad = s.handle(
        T0,
        &message(
            MessageType::Confirm,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[a("2001:db8:5::1")])],
        ),
        &rx(),
    );
    assert_eq!(status_of(&reply_of(&bad).options), status::NOT_ON_LINK);
    let silent = s.handle(
        T0,
        &message(
            MessageType::Confirm,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[])],
        ),
        &rx(),
    );
    assert_eq!(silent.drop, Some(DropReason::NothingToSay));
}

#[test]
fn information_request_returns_configured_options_rfc8415_s18_3_6() {
    let mut s = server();
    let out = s.handle(
        T0,
        &message(
            MessageType::InformationRequest,
            Some(&cid(1)),
            None,
            vec![oro(&[23, 24])],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    assert_eq!(rep.msg_type, MessageType::Reply);
    assert!(payload(&rep.options, opt::DNS_SERVERS).is_some());
    let dl = &payload(&rep.options, opt::DOMAIN_LIST).unwrap();
    assert_eq!(
        dl,
        &[7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0]
    );
    assert_eq!(
        payload(&rep.options, opt::INFORMATION_REFRESH_TIME).unwrap(),
        3600u32.to_be_bytes().to_vec()
    );
    assert!(payload(&rep.options, 99).is_none(), "99 not in ORO");
    // §16.12: an IA in an Information-request means drop.
    let out = s.handle(
        T0,
        &message(
            MessageType::InformationRequest,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[])],
        ),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::IaInInformationRequest));
}

// ------------------------------------------------------------------ §19 relays

fn relay_forw(link: &str, peer: &str, hop: u8, ifid: Option<&[u8]>, inner: Vec<u8>) -> Vec<u8> {
    let mut options = Vec::new();
    if let Some(i) = ifid {
        options.push(DhcpOption::InterfaceId(i.to_vec()));
    }
    options.push(DhcpOption::RelayMsg(inner));
    RelayMessage {
        msg_type: MessageType::RelayForw,
        hop_count: hop,
        link_address: a(link),
        peer_address: a(peer),
        options,
    }
    .emit()
}

fn relay_rx() -> RxInfo {
    RxInfo {
        src: SocketAddrV6::new(a("2001:db8:ff::1"), 547, 0, 0),
        dst: a("2001:db8:ff::547"),
        interface: "eth1".into(),
    }
}

#[test]
fn relayed_solicit_is_answered_in_relay_repl_with_interface_id_rfc8415_s19_3() {
    let mut s = server();
    let inner = message(
        MessageType::Solicit,
        Some(&cid(1)),
        None,
        vec![ia_na(1, &[])],
    );
    let pkt = relay_forw("2001:db8:1::1", "fe80::abcd", 0, Some(b"port-7"), inner);
    let out = s.handle(T0, &pkt, &relay_rx());
    let r = out.reply.as_ref().unwrap();
    assert_eq!(r.dest, relay_rx().src.into());
    let rr = RelayMessage::parse(&r.bytes).unwrap();
    assert_eq!(
        (rr.msg_type, rr.link_address, rr.peer_address),
        (MessageType::RelayRepl, a("2001:db8:1::1"), a("fe80::abcd"))
    );
    assert_eq!(
        payload(&rr.options, opt::INTERFACE_ID).unwrap(),
        b"port-7".to_vec()
    );
    let adv = Message::parse(&payload(&rr.options, opt::RELAY_MSG).unwrap()).unwrap();
    assert_eq!(adv.msg_type, MessageType::Advertise);
    assert_eq!(out.subnet_id, Some(1));
}

#[test]
fn doubly_relayed_solicit_mirrors_both_relays_rfc8415_s19_3() {
    let mut s = server();
    let inner = message(
        MessageType::Solicit,
        Some(&cid(1)),
        None,
        vec![ia_na(1, &[]), rapid()],
    );
    // Inner relay is a lightweight one (link-address ::) — the outer one names the link.
    let r1 = relay_forw("::", "fe80::abcd", 0, Some(b"inner-if"), inner);
    let r2 = relay_forw("2001:db8:1::1", "2001:db8:ff::2", 1, Some(b"outer-if"), r1);
    let out = s.handle(T0, &r2, &relay_rx());
    let outer = RelayMessage::parse(&out.reply.as_ref().unwrap().bytes).unwrap();
    assert_eq!(
        (outer.hop_count, outer.peer_address),
        (1, a("2001:db8:ff::2"))
    );
    assert_eq!(
        payload(&outer.options, opt::INTERFACE_ID).unwrap(),
        b"outer-if".to_vec()
    );
    let inner = RelayMessage::parse(&payload(&outer.options, opt::RELAY_MSG).unwrap()).unwrap();
    assert_eq!(
        (inner.msg_type, inner.hop_count, inner.peer_address),
        (MessageType::RelayRepl, 0, a("fe80::abcd"))
    );
    assert_eq!(
        payload(&inner.options, opt::INTERFACE_ID).unwrap(),
        b"inner-if".to_vec()
    );
    let rep = Message::parse(&payload(&inner.options, opt::RELAY_MSG).unwrap()).unwrap();
    assert_eq!(rep.msg_type, MessageType::Reply);
    assert_eq!(out.changes.len(), 1);
}

/// 32 nested RELAY-FORWs are answered, a 33rd is one too many (RFC 8415 §7.6 bounds
/// relay chains; tandem allows 32).
#[test]
fn relay_chain_of_32_is_answered_and_33_is_too_deep_rfc8415_s7_6() {
    let mut s = server();
    let chain = |levels: u8| {
        let mut pkt = message(
            MessageType::Solicit,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[])],
        );
        for hop in 0..levels {
            let link = if hop + 1 == levels {
                "2001:db8:1::1"
            } else {
                "::"
            };
            pkt = relay_forw(link, "fe80::1", hop, None, pkt);
        }
        pkt
    };
    let ok = s.handle(T0, &chain(32), &relay_rx());
    assert!(ok.reply.is_some(), "{:?}", ok.drop);
    let reply = RelayMessage::parse(&ok.reply.unwrap().bytes).unwrap();
    assert_eq!(reply.hop_count, 31);
    let deep = s.handle(T0, &chain(33), &relay_rx());
    assert_eq!(deep.drop, Some(DropReason::RelayTooDeep));
}

#[test]
fn relay_with_unspecified_link_maps_by_interface_id_rfc8415_s19_1() {
    let mut s = server();
    let inner = message(
        MessageType::Solicit,
        Some(&cid(1)),
        None,
        vec![ia_na(1, &[])],
    );
    let ok = s.handle(
        T0,
        &relay_forw("::", "fe80::1", 0, Some(b"eth0"), inner.clone()),
        &relay_rx(),
    );
    assert_eq!(ok.subnet_id, Some(1));
    let unknown = s.handle(
        T0,
        &relay_forw("::", "fe80::1", 0, Some(b"nope"), inner.clone()),
        &relay_rx(),
    );
    assert_eq!(unknown.drop, Some(DropReason::NoSubnet));
    let off = s.handle(
        T0,
        &relay_forw("2001:db8:77::1", "fe80::1", 0, None, inner),
        &relay_rx(),
    );
    assert_eq!(off.drop, Some(DropReason::NoSubnet));
}

#[test]
fn single_relay_with_link_local_link_address_uses_arrival_interface_rfc8415_s19_1_1() {
    // perfdhcp -A1 puts its own fe80:: address in link-address: no link information, so
    // a one-hop relay's client belongs to the link the RELAY-FORW arrived on.
    let mut s = server();
    let inner = message(
        MessageType::Solicit,
        Some(&cid(1)),
        None,
        vec![ia_na(1, &[])],
    );
    let on_link = RxInfo {
        src: SocketAddrV6::new(a("fe80::77"), 547, 0, 3),
        dst: a("ff02::1:2"),
        interface: "eth0".into(),
    };
    let ok = s.handle(
        T0,
        &relay_forw("fe80::77", "fe80::77", 0, None, inner.clone()),
        &on_link,
    );
    assert_eq!(ok.subnet_id, Some(1));
    assert!(ok.reply.is_some());
    // From an interface that serves no subnet, there is still nothing to go on.
    let elsewhere = s.handle(
        T0,
        &relay_forw("fe80::77", "fe80::77", 0, None, inner),
        &relay_rx(),
    );
    assert_eq!(elsewhere.drop, Some(DropReason::NoSubnet));
}

// ------------------------------------------------------------------ expiry

#[test]
fn expiry_reclaim_keeps_record_for_affinity_then_frees_rfc8156_s7_2() {
    let mut c = config();
    c.affinity_time = 1000;
    let mut s = server_with(c);
    let addr = acquire(&mut s, T0, &cid(1), 1);
    assert_eq!(s.next_timeout(), Some(T0 + 7200));
    assert!(s.reclaim_expired(T0 + 7199).is_empty());
    let ch = s.reclaim_expired(T0 + 7200);
    let [LeaseChange::Upsert(l)] = ch.as_slice() else {
        panic!("{ch:?}")
    };
    assert_eq!(
        (l.status, l.state_expiration),
        (BindingStatus::Expired, Some(T0 + 8200))
    );
    // Affinity: the same client gets the expired address back.
    assert_eq!(acquire(&mut s, T0 + 7300, &cid(1), 1), addr);
    // Let it lapse fully: expired → removed.
    s.reclaim_expired(T0 + 7300 + 7200);
    let ch = s.reclaim_expired(T0 + 7300 + 7200 + 1000);
    assert_eq!(ch, vec![LeaseChange::Remove(Resource::Address(addr))]);
    assert!(s.leases().is_empty());
    assert_eq!(s.next_timeout(), None);
}

/// Under failover (policy keeps lapsed leases) the EXPIRED record has no timeout: it waits
/// for the partner's acknowledgement, never for a timer (RFC 8156 §7.2).
#[test]
fn failover_policy_keeps_expired_records_rfc8156_s7_2() {
    struct Keep;
    impl LeasePolicy for Keep {
        fn keeps_lapsed_leases(&self) -> bool {
            true
        }
    }
    let mut s = server();
    s.set_policy(Box::new(Keep));
    let addr = acquire(&mut s, T0, &cid(1), 1);
    let ch = s.reclaim_expired(T0 + 7200);
    let [LeaseChange::Upsert(l)] = ch.as_slice() else {
        panic!("{ch:?}")
    };
    assert_eq!(
        (l.status, l.state_expiration),
        (BindingStatus::Expired, None)
    );
    assert_eq!(s.next_timeout(), None);
    assert!(s.reclaim_expired(T0 + 1_000_000).is_empty());
    assert_eq!(
        s.leases().get(&Resource::Address(addr)).map(|l| l.status),
        Some(BindingStatus::Expired)
    );
}

/// No RFC 8156 partner acknowledges a DHCPv4 lease (§1: DHCPv6 only), so under the same
/// failover policy a v4 record in the table lapses on its timers as on a server alone
/// instead of waiting forever.
#[test]
fn a_v4_lease_lapses_on_its_timers_even_under_failover_rfc8156_s1() {
    struct Keep;
    impl LeasePolicy for Keep {
        fn keeps_lapsed_leases(&self) -> bool {
            true
        }
    }
    let mut s = server();
    s.set_policy(Box::new(Keep));
    let r = Resource::V4Address([192, 0, 2, 10].into());
    s.apply_external(&LeaseChange::Upsert(Lease {
        resource: r,
        status: BindingStatus::Active,
        duid: Duid(vec![1, 2, 0, 0x5e, 0, 0, 1]),
        hw_address: vec![1, 2, 0, 0x5e, 0, 0, 1],
        iaid: 0,
        subnet_id: 1,
        preferred_lifetime: 0,
        valid_lifetime: 600,
        t1: 300,
        t2: 525,
        cltt: T0,
        start_time_of_state: T0,
        state_expiration: Some(T0 + 600),
        failover: Default::default(),
    }));
    let ch = s.reclaim_expired(T0 + 600);
    let [LeaseChange::Upsert(l)] = ch.as_slice() else {
        panic!("{ch:?}")
    };
    assert_eq!(l.status, BindingStatus::Expired);
    let affinity = u64::from(ServerConfig::default().affinity_time);
    assert_eq!(l.state_expiration, Some(T0 + 600 + affinity));
    assert_eq!(
        s.reclaim_expired(T0 + 600 + affinity),
        vec![LeaseChange::Remove(r)]
    );
    assert!(s.leases().is_empty());
}

// ------------------------------------------------------------------ scale

#[test]
fn hundred_thousand_clients_on_a_slash_64_cost_one_probe_each() {
    let mut c = config();
    c.subnets[0].pools = vec![AddressPool {
        first: a("2001:db8:1::"),
        last: a("2001:db8:1::ffff:ffff:ffff:ffff"),
    }];
    let mut s = server_with(c);
    for n in 0..100_000u32 {
        let out = s.handle(
            T0,
            &message(
                MessageType::Solicit,
                Some(&cid(n)),
                None,
                vec![ia_na(1, &[]), rapid()],
            ),
            &rx(),
        );
        assert_eq!(out.changes.len(), 1);
    }
    assert_eq!(s.leases().len(), 100_000);
    assert_eq!(s.alloc_stats().allocations, 100_000);
    assert_eq!(
        s.alloc_stats().probes,
        100_000,
        "no pool iteration, no re-probing"
    );
}

#[test]
fn slash_40_into_56_fills_exactly_then_reports_no_prefix_avail_within_budget() {
    let mut s = server();
    for n in 0..65_536u32 {
        let out = s.handle(
            T0,
            &message(
                MessageType::Solicit,
                Some(&cid(n)),
                None,
                vec![ia_pd(1, &[]), rapid()],
            ),
            &rx(),
        );
        assert_eq!(out.changes.len(), 1, "client {n}");
    }
    assert_eq!(s.alloc_stats().probes, 65_536);
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(70_000)),
            None,
            vec![ia_pd(1, &[]), rapid()],
        ),
        &rx(),
    );
    assert_eq!(
        status_of(&ias(&reply_of(&out), opt::IA_PD)[0].options),
        status::NO_PREFIX_AVAIL
    );
    assert_eq!(
        s.alloc_stats().probes,
        65_536 + u64::from(s.config().probe_budget)
    );
}

#[test]
fn restart_from_stored_leases_does_not_reprobe_used_space() {
    let mut s = server();
    for n in 0..200u32 {
        s.handle(
            T0,
            &message(
                MessageType::Solicit,
                Some(&cid(n)),
                None,
                vec![ia_pd(1, &[]), rapid()],
            ),
            &rx(),
        );
    }
    let stored: Vec<_> = s.leases().iter().cloned().collect();
    let mut s2 = DhcpServer::new(config(), server_duid(), LeaseTable::from_leases(stored));
    let out = s2.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(5000)),
            None,
            vec![ia_pd(1, &[]), rapid()],
        ),
        &rx(),
    );
    assert_eq!(out.changes.len(), 1);
    assert_eq!(s2.alloc_stats().probes, 1);
    // And an old client still gets its own prefix back.
    let out = s2.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(3)),
            None,
            vec![ia_pd(1, &[]), rapid()],
        ),
        &rx(),
    );
    let LeaseChange::Upsert(l) = &out.changes[0] else {
        panic!()
    };
    assert_eq!(
        Some(l),
        s.leases()
            .iter()
            .find(|x| x.duid == cid(3))
            .map(|x| {
                let mut x = x.clone();
                x.cltt = l.cltt;
                x
            })
            .as_ref()
    );
}

// ------------------------------------------------------------------ policy hook

struct EvenOnly;
impl LeasePolicy for EvenOnly {
    fn may_allocate(&self, r: &Resource, _: Option<&crate::lease::Lease>, _: Time) -> bool {
        matches!(r, Resource::Address(a) if a.octets()[15] % 2 == 0)
    }
    fn cap_valid_lifetime(
        &self,
        _: &Resource,
        _: Option<&crate::lease::Lease>,
        proposed: u32,
        _: Time,
    ) -> u32 {
        proposed.min(1000)
    }
    fn should_answer(&self, t: u8, names_us: bool) -> bool {
        names_us || t != u8::from(MessageType::Solicit)
    }
}

#[test]
fn lease_policy_filters_caps_and_silences_rfc8156_s4_2_1() {
    let mut s = server();
    s.set_policy(Box::new(EvenOnly));
    let out = s.handle(
        T0,
        &message(
            MessageType::Solicit,
            Some(&cid(1)),
            None,
            vec![ia_na(1, &[])],
        ),
        &rx(),
    );
    assert_eq!(out.drop, Some(DropReason::Policy));
    let out = s.handle(
        T0,
        &message(
            MessageType::Request,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[a("2001:db8:1::101")])],
        ),
        &rx(),
    );
    let rep = reply_of(&out);
    let ia = &ias(&rep, opt::IA_NA)[0];
    let ad = &addrs(ia)[0];
    assert_eq!(
        ad.addr.octets()[15] % 2,
        0,
        "odd hint refused by the ownership filter"
    );
    assert_eq!((ad.preferred, ad.valid), (1000, 1000));
    assert_eq!((ia.t1, ia.t2), (500, 800));
}

// ------------------------------------------------------------------ property

mod prop {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        Solicit(u8),
        Request(u8),
        Renew(u8),
        Rebind(u8),
        Release(u8),
        Decline(u8),
        Wait(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6).prop_map(Op::Solicit),
            (0u8..6).prop_map(Op::Request),
            (0u8..6).prop_map(Op::Renew),
            (0u8..6).prop_map(Op::Rebind),
            (0u8..6).prop_map(Op::Release),
            (0u8..6).prop_map(Op::Decline),
            (1u16..5000).prop_map(Op::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// RFC 8415 §18.3: a server never grants one address/prefix to two clients at once.
        #[test]
        fn no_resource_is_held_by_two_clients(ops in proptest::collection::vec(op(), 1..80)) {
            let mut c = config();
            c.subnets[0].pools = vec![AddressPool { first: a("2001:db8:1::1"), last: a("2001:db8:1::4") }];
            c.subnets[0].pd_pools = vec![PdPool { prefix: "2001:db8:100::/55".parse().unwrap(), delegated_len: 56 }];
            c.subnets[0].preferred_lifetime = 1000;
            c.subnets[0].valid_lifetime = 2000;
            c.affinity_time = 500;
            c.decline_quarantine = Some(700);
            let mut s = server_with(c);
            let mut now = T0;
            // resource -> (client, valid until), from what replies granted.
            let mut held: HashMap<Resource, (u8, Time)> = HashMap::new();
            let mut mine: HashMap<u8, Vec<Resource>> = HashMap::new();
            for op in ops {
                let (n, t) = match op {
                    Op::Wait(d) => { now = now + u64::from(d); s.reclaim_expired(now); continue; }
                    Op::Solicit(n) => (n, MessageType::Solicit),
                    Op::Request(n) => (n, MessageType::Request),
                    Op::Renew(n) => (n, MessageType::Renew),
                    Op::Rebind(n) => (n, MessageType::Rebind),
                    Op::Release(n) => (n, MessageType::Release),
                    Op::Decline(n) => (n, MessageType::Decline),
                };
                let have = mine.get(&n).cloned().unwrap_or_default();
                let na: Vec<Ipv6Addr> = have.iter().filter_map(|r| match r { Resource::Address(a) => Some(*a), _ => None }).collect();
                let pd: Vec<String> = have.iter().filter_map(|r| match r { Resource::Prefix(p) => Some(p.to_string()), _ => None }).collect();
                let pd_refs: Vec<&str> = pd.iter().map(|s| s.as_str()).collect();
                let sid = matches!(t, MessageType::Request | MessageType::Renew | MessageType::Release | MessageType::Decline).then(server_duid);
                let mut opts = vec![ia_na(1, &na), ia_pd(2, &pd_refs)];
                if t == MessageType::Solicit { opts.push(rapid()); }
                let out = s.handle(now, &message(t, Some(&cid(u32::from(n))), sid.as_ref(), opts), &rx());
                if matches!(t, MessageType::Release | MessageType::Decline) {
                    for r in mine.remove(&n).unwrap_or_default() {
                        held.remove(&r);
                    }
                    continue;
                }
                let Some(reply) = out.reply else { continue };
                let m = Message::parse(&reply.bytes).unwrap();
                if m.msg_type != MessageType::Reply { continue; }
                let mut got = Vec::new();
                for ia in ias(&m, opt::IA_NA) {
                    got.extend(addrs(&ia).into_iter().filter(|x| x.valid > 0).map(|x| (Resource::Address(x.addr), x.valid)));
                }
                for ia in ias(&m, opt::IA_PD) {
                    got.extend(prefixes(&ia).into_iter().filter(|x| x.valid > 0).map(|x| (Resource::Prefix(x.prefix), x.valid)));
                }
                for (r, valid) in got {
                    if let Some((other, until)) = held.get(&r) {
                        prop_assert!(*other == n || now >= *until, "{r} granted to {n} while {other} holds it until {until}");
                    }
                    held.insert(r, (n, now + u64::from(valid)));
                    let e = mine.entry(n).or_default();
                    if !e.contains(&r) { e.push(r); }
                }
            }
        }
    }
}

#[test]
fn renew_after_expiry_regrants_without_duplicate_zero_entry_rfc8415_s18_3_4() {
    let mut s = server();
    let addr = acquire(&mut s, T0, &cid(1), 1);
    s.reclaim_expired(T0 + 7200);
    assert_eq!(
        s.leases().get(&Resource::Address(addr)).unwrap().status,
        BindingStatus::Expired
    );
    let out = s.handle(
        T0 + 7300,
        &message(
            MessageType::Renew,
            Some(&cid(1)),
            Some(&server_duid()),
            vec![ia_na(1, &[addr])],
        ),
        &rx(),
    );
    let list = addrs(&ias(&reply_of(&out), opt::IA_NA)[0]);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!((list[0].addr, list[0].valid), (addr, 7200));
    assert_eq!(
        s.leases().get(&Resource::Address(addr)).unwrap().status,
        BindingStatus::Active
    );
}

#[test]
fn new_reservation_replaces_dynamic_binding_on_renew_rfc8415_s18_3_4() {
    let mut s = server();
    let dynamic = acquire(&mut s, T0, &cid(7), 1);
    let stored: Vec<_> = s.leases().iter().cloned().collect();
    let mut c = config();
    c.subnets[0].reservations.push(Reservation {
        duid: cid(7),
        address: Some(a("2001:db8:1::7")),
        prefix: None,
    });
    let mut s = DhcpServer::new(c, server_duid(), LeaseTable::from_leases(stored));
    let out = s.handle(
        T0 + 10,
        &message(
            MessageType::Renew,
            Some(&cid(7)),
            Some(&server_duid()),
            vec![ia_na(1, &[dynamic])],
        ),
        &rx(),
    );
    let list = addrs(&ias(&reply_of(&out), opt::IA_NA)[0]);
    let old = list.iter().find(|x| x.addr == dynamic).unwrap();
    assert_eq!(old.valid, 0);
    let new = list.iter().find(|x| x.addr == a("2001:db8:1::7")).unwrap();
    assert_eq!(new.valid, 7200);
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any datagram: an answer or a counted drop, never a panic (RFC 8415 §16).
        #[test]
        fn arbitrary_datagrams_never_panic(t in 0u8..16, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut s = server();
            let mut pkt = vec![t];
            pkt.extend(body);
            let out = s.handle(T0, &pkt, &rx());
            prop_assert!(out.reply.is_some() || out.drop.is_some());
        }

        /// Well-formed headers with mangled IA contents still never panic.
        #[test]
        fn mangled_ia_payloads_never_panic(
            t in proptest::sample::select(vec![MessageType::Solicit, MessageType::Request, MessageType::Renew, MessageType::Rebind, MessageType::Release, MessageType::Decline, MessageType::Confirm]),
            code in proptest::sample::select(vec![opt::IA_NA, opt::IA_PD, opt::IA_TA]),
            payload in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut s = server();
            let sid = matches!(t, MessageType::Request | MessageType::Renew | MessageType::Release | MessageType::Decline).then(server_duid);
            let pkt = message(t, Some(&cid(1)), sid.as_ref(), vec![raw(code, payload), rapid()]);
            let out = s.handle(T0, &pkt, &rx());
            prop_assert!(out.reply.is_some() || out.drop.is_some());
        }
    }
}

/// Caps every lifetime at a value the test changes (as the failover MCLT cap does).
struct Cap(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl LeasePolicy for Cap {
    fn cap_valid_lifetime(&self, _: &Resource, _: Option<&Lease>, proposed: u32, _: Time) -> u32 {
        proposed.min(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// RFC 8415 §18.3.4 lets a Renew get less than before; the record still lasts as long as the
/// client was told before, since the shorter Reply may never reach it (nothing lost).
#[test]
fn a_shorter_renewal_never_ends_the_record_before_the_earlier_grant_rfc8415_s18_3_4() {
    let cap = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(u32::MAX));
    let mut s = server();
    s.set_policy(Box::new(Cap(cap.clone())));
    let c = cid(77);
    let addr = acquire(&mut s, T0, &c, 1);
    let first: Lease = s.leases().get(&Resource::Address(addr)).unwrap().clone();
    cap.store(60, std::sync::atomic::Ordering::Relaxed);
    let out = s.handle(
        T0 + 10,
        &message(
            MessageType::Renew,
            Some(&c),
            Some(&server_duid()),
            vec![ia_na(1, &[addr])],
        ),
        &rx(),
    );
    let told = addrs(&ias(&reply_of(&out), opt::IA_NA)[0])[0].valid;
    assert_eq!(told, 60, "the client is told the shorter lifetime");
    let now_rec = s.leases().get(&Resource::Address(addr)).unwrap();
    assert_eq!(now_rec.valid_lifetime, 60);
    assert_eq!(now_rec.state_expiration, first.state_expiration);
    assert!(
        matches!(&out.changes[..], [LeaseChange::Upsert(l)] if l.state_expiration == first.state_expiration)
    );
}
mod infinite;

#[test]
fn ia_ta_is_answered_in_the_ia_ta_layout_with_no_addrs_avail_rfc8415_s21_5_s18_3_1() {
    let mut s = server();
    let ia_ta = DhcpOption::IaTa(IaTa {
        iaid: 5,
        options: vec![],
    });
    let out = s.handle(
        T0,
        &message(MessageType::Solicit, Some(&cid(1)), None, vec![ia_ta]),
        &rx(),
    );
    let reply = Message::parse(&out.reply.expect("advertise").bytes).unwrap();
    let ta = reply
        .options
        .iter()
        .find_map(|o| match o {
            DhcpOption::IaTa(ta) => Some(ta),
            _ => None,
        })
        .expect("IA_TA echoed");
    // §21.5: IAID, then the IA_TA-options; no T1/T2 (those are IA_NA/IA_PD fields).
    assert_eq!(ta.iaid, 5);
    assert!(
        matches!(&ta.options[..], [DhcpOption::StatusCode(st)] if st.code == status::NO_ADDRS_AVAIL),
        "{:?}",
        ta.options
    );
}
