//! Unit tests per option (RFC 8415 §21.x), message tests and property tests.

use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn one(bytes: &[u8]) -> Result<DhcpOption, crate::WireError> {
    let mut v = parse_options(bytes, 0, 0)?;
    assert_eq!(v.len(), 1);
    Ok(v.remove(0))
}

#[test]
fn rfc8415_21_1_truncated_header_and_length_past_end() {
    let e = parse_options(&hex("0001 00"), 0, 0).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TruncatedHeader { need: 4, have: 3 });
    let e = parse_options(&hex("0001 0005 0102"), 10, 0).unwrap_err();
    assert_eq!((e.offset, e.option), (10, Some(1)));
    assert_eq!(
        e.kind,
        ErrorKind::LengthPastEnd {
            len: 5,
            available: 2
        }
    );
}

#[test]
fn rfc8415_21_4_ia_na_with_nested_iaaddr_and_status() {
    let b = hex("0003 0032 00000001 00000e10 00001518
         0005 0022 20010db8000000000000000000000001 00001c20 00002a30
           000d 0006 0000 6f6b2121");
    let o = one(&b).unwrap();
    let DhcpOption::IaNa(ia) = &o else {
        panic!("{o:?}")
    };
    assert_eq!((ia.iaid, ia.t1, ia.t2), (1, 3600, 5400));
    let a = ia.ia_addrs()[0];
    assert_eq!(a.addr, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!((a.preferred, a.valid), (7200, 10800));
    assert_eq!(
        a.status_code().unwrap(),
        &StatusCode {
            code: 0,
            message: "ok!!".into()
        }
    );
    assert_eq!(o.emit(), b);
}

#[test]
fn rfc8415_21_4_ia_na_too_short() {
    let e = one(&hex("0003 0008 0000000100000002")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooShort { min: 12, got: 8 });
    assert_eq!((e.offset, e.option), (4, Some(3)));
}

#[test]
fn rfc8415_21_9_elapsed_time_bad_fixed_length() {
    assert_eq!(
        one(&hex("0008 0002 0064")).unwrap(),
        DhcpOption::ElapsedTime(100)
    );
    let e = one(&hex("0008 0003 000064")).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::BadFixedLength {
            expected: 2,
            got: 3
        }
    );
}

#[test]
fn rfc8415_21_7_oro_and_odd_length() {
    assert_eq!(
        one(&hex("0006 0004 0017 0018")).unwrap(),
        DhcpOption::Oro(vec![23, 24])
    );
    assert_eq!(
        one(&hex("0006 0003 001700")).unwrap_err().kind,
        ErrorKind::NotMultiple { unit: 2, got: 3 }
    );
}

#[test]
fn rfc8415_21_14_rapid_commit_must_be_empty() {
    assert_eq!(one(&hex("000e 0000")).unwrap(), DhcpOption::RapidCommit);
    assert!(one(&hex("000e 0001 00")).is_err());
}

#[test]
fn rfc8415_21_22_iaprefix_and_bad_prefix_len() {
    let b = hex("001a 0019 00000e10 00001c20 38 20010db8000100000000000000000000");
    let DhcpOption::IaPrefix(p) = one(&b).unwrap() else {
        panic!()
    };
    assert_eq!(
        (p.prefix_len, p.prefix),
        (56, "2001:db8:1::".parse().unwrap())
    );
    let bad = hex("001a 0019 00000e10 00001c20 81 20010db8000100000000000000000000");
    assert_eq!(one(&bad).unwrap_err().kind, ErrorKind::BadPrefixLength(129));
}

#[test]
fn rfc8415_21_16_domain_list_names() {
    let b = hex("0018 000d 076578616d706c6503636f6d00");
    assert_eq!(
        one(&b).unwrap(),
        DhcpOption::DomainList(vec!["example.com".into()])
    );
    let e = one(&hex("0018 0003 0561 6200")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadNameLabel);
}

#[test]
fn rfc8415_21_unknown_option_kept() {
    let b = hex("fff0 0003 010203");
    assert_eq!(
        one(&b).unwrap(),
        DhcpOption::Unknown {
            code: 0xfff0,
            data: vec![1, 2, 3]
        }
    );
    assert_eq!(one(&b).unwrap().emit(), b);
}

#[test]
fn rfc8415_21_nesting_is_bounded() {
    // IA_TA inside IA_TA ... deeper than MAX_OPTION_DEPTH.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..(MAX_OPTION_DEPTH + 3) {
        let mut o = vec![0, 4];
        o.extend_from_slice(&((inner.len() + 4) as u16).to_be_bytes());
        o.extend_from_slice(&[0, 0, 0, 1]);
        o.extend_from_slice(&inner);
        inner = o;
    }
    assert_eq!(
        parse_options(&inner, 0, 0).unwrap_err().kind,
        ErrorKind::NestingTooDeep
    );
}

#[test]
fn rfc8415_8_message_header_and_accessors() {
    let b = hex("01 abcdef 0001 0004 deadbeef 000e 0000 0006 0002 0017 0019 000c 00000007 00000000 00000000");
    let Packet::Message(m) = Packet::parse(&b).unwrap() else {
        panic!()
    };
    assert_eq!(
        (m.msg_type, m.transaction_id),
        (MessageType::Solicit, 0xabcdef)
    );
    assert_eq!(m.client_id(), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    assert!(m.has_rapid_commit());
    assert_eq!(m.oro(), vec![23]);
    assert_eq!(m.ia_pds()[0].iaid, 7);
    assert_eq!(Packet::Message(m).emit(), b);
}

#[test]
fn rfc8415_9_relay_chain_unwrap_and_wrap_reply() {
    let client = Message {
        msg_type: MessageType::Solicit,
        transaction_id: 0x123456,
        options: vec![DhcpOption::ClientId(vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6])],
    };
    let inner = RelayMessage {
        msg_type: MessageType::RelayForw,
        hop_count: 0,
        link_address: "2001:db8:1::1".parse().unwrap(),
        peer_address: "fe80::1".parse().unwrap(),
        options: vec![
            DhcpOption::InterfaceId(b"eth1".to_vec()),
            DhcpOption::RelayMsg(client.emit()),
        ],
    };
    let outer = RelayMessage {
        msg_type: MessageType::RelayForw,
        hop_count: 1,
        link_address: "2001:db8:2::1".parse().unwrap(),
        peer_address: "fe80::2".parse().unwrap(),
        options: vec![DhcpOption::RelayMsg(inner.emit())],
    };
    let pkt = Packet::parse(&outer.emit()).unwrap();
    let chain = RelayChain::unwrap(pkt).unwrap();
    assert_eq!(chain.message, client);
    assert_eq!(chain.hops.len(), 2);
    assert_eq!(chain.hops[1].interface_id.as_deref(), Some(&b"eth1"[..]));
    let reply = Message {
        msg_type: MessageType::Advertise,
        ..client.clone()
    };
    let Packet::Relay(r) = chain.wrap_reply(&reply) else {
        panic!()
    };
    assert_eq!(
        (r.msg_type, r.hop_count, r.link_address),
        (MessageType::RelayRepl, 1, outer.link_address)
    );
    let Packet::Relay(r2) = r.inner().unwrap() else {
        panic!()
    };
    assert_eq!(r2.interface_id(), Some(&b"eth1"[..]));
    assert_eq!(r2.inner().unwrap(), Packet::Message(reply));
}

#[test]
fn rfc8415_7_6_hop_count_limit() {
    let mut b = vec![12u8, 33];
    b.extend_from_slice(&[0; 32]);
    assert_eq!(
        Packet::parse(&b).unwrap_err().kind,
        ErrorKind::HopCountTooHigh(33)
    );
}

// ---- property tests ----

fn arb_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}
fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..20)
}
fn arb_name() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9-]{1,10}", 0..4).prop_map(|l| l.join("."))
}

fn arb_leaf() -> impl Strategy<Value = DhcpOption> {
    use DhcpOption as O;
    prop_oneof![
        arb_bytes().prop_map(O::ClientId),
        arb_bytes().prop_map(O::ServerId),
        prop::collection::vec(any::<u16>(), 0..5).prop_map(O::Oro),
        any::<u8>().prop_map(O::Preference),
        any::<u16>().prop_map(O::ElapsedTime),
        arb_bytes().prop_map(O::Auth),
        arb_addr().prop_map(O::Unicast),
        (any::<u16>(), "[ -~]{0,12}")
            .prop_map(|(code, message)| O::StatusCode(StatusCode { code, message })),
        Just(O::RapidCommit),
        arb_bytes().prop_map(O::InterfaceId),
        any::<u8>().prop_map(O::ReconfMsg),
        Just(O::ReconfAccept),
        prop::collection::vec(arb_addr(), 0..3).prop_map(O::DnsServers),
        prop::collection::vec(arb_name(), 0..3).prop_map(O::DomainList),
        any::<u32>().prop_map(O::InformationRefreshTime),
        any::<u32>().prop_map(O::SolMaxRt),
        (1000u16..=u16::MAX, arb_bytes()).prop_map(|(code, data)| O::Unknown { code, data }),
        any::<u32>().prop_map(O::Mclt),
        any::<u8>().prop_map(O::ServerFlags),
        (any::<u16>(), any::<u16>()).prop_map(|(major, minor)| O::ProtocolVersion { major, minor }),
        (any::<u32>(), arb_bytes()).prop_map(|(time, key)| O::ReconfigureData { time, key }),
        "[a-zA-Z0-9 ]{0,10}".prop_map(O::RelationshipName),
        (arb_addr(), arb_bytes()).prop_map(|(peer_address, relay_message)| O::LqRelayData {
            peer_address,
            relay_message
        }),
    ]
}

pub(crate) fn arb_option() -> impl Strategy<Value = DhcpOption> {
    use DhcpOption as O;
    arb_leaf().prop_recursive(3, 24, 4, |inner| {
        let opts = prop::collection::vec(inner, 0..4);
        prop_oneof![
            (any::<u32>(), any::<u32>(), any::<u32>(), opts.clone()).prop_map(
                |(iaid, t1, t2, options)| O::IaNa(Ia {
                    iaid,
                    t1,
                    t2,
                    options
                })
            ),
            (any::<u32>(), any::<u32>(), any::<u32>(), opts.clone()).prop_map(
                |(iaid, t1, t2, options)| O::IaPd(Ia {
                    iaid,
                    t1,
                    t2,
                    options
                })
            ),
            (any::<u32>(), opts.clone())
                .prop_map(|(iaid, options)| O::IaTa(IaTa { iaid, options })),
            (arb_addr(), any::<u32>(), any::<u32>(), opts.clone()).prop_map(
                |(addr, preferred, valid, options)| O::IaAddr(IaAddr {
                    addr,
                    preferred,
                    valid,
                    options
                })
            ),
            (
                any::<u32>(),
                any::<u32>(),
                0u8..=128,
                arb_addr(),
                opts.clone()
            )
                .prop_map(|(preferred, valid, prefix_len, prefix, options)| {
                    O::IaPrefix(IaPrefix {
                        preferred,
                        valid,
                        prefix_len,
                        prefix,
                        options,
                    })
                }),
            opts.clone().prop_map(O::ClientData),
            opts.prop_map(O::DnsRemovalInfo),
        ]
    })
}

fn arb_message() -> impl Strategy<Value = Message> {
    (
        1u8..=11,
        0u32..0x0100_0000,
        prop::collection::vec(arb_option(), 0..5),
    )
        .prop_map(|(t, transaction_id, options)| Message {
            msg_type: t.into(),
            transaction_id,
            options,
        })
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    arb_message()
        .prop_map(Packet::Message)
        .prop_recursive(3, 8, 1, |inner| {
            (
                inner,
                0u8..=32,
                arb_addr(),
                arb_addr(),
                prop::option::of(arb_bytes()),
                any::<bool>(),
            )
                .prop_map(|(p, hop_count, link_address, peer_address, iid, forw)| {
                    let mut options = Vec::new();
                    if let Some(i) = iid {
                        options.push(DhcpOption::InterfaceId(i));
                    }
                    options.push(DhcpOption::RelayMsg(p.emit()));
                    Packet::Relay(RelayMessage {
                        msg_type: if forw {
                            MessageType::RelayForw
                        } else {
                            MessageType::RelayRepl
                        },
                        hop_count,
                        link_address,
                        peer_address,
                        options,
                    })
                })
        })
}

proptest! {
    #[test]
    fn rfc8415_round_trip_packets(p in arb_packet()) {
        let bytes = p.emit();
        prop_assert_eq!(Packet::parse(&bytes).unwrap(), p.clone());
        if let Packet::Relay(r) = &p {
            // Every nested level parses back too.
            prop_assert!(r.inner().is_ok());
        }
    }

    #[test]
    fn rfc8415_no_panic_on_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = Packet::parse(&b) {
            prop_assert_eq!(Packet::parse(&p.emit()).unwrap(), p.clone());
            let _ = RelayChain::unwrap(p);
        }
        let _ = Message::parse(&b);
        let _ = parse_options(&b, 0, 0);
    }

    #[test]
    fn rfc8415_no_panic_on_option_shaped_bytes(code in 0u16..140, body in prop::collection::vec(any::<u8>(), 0..60)) {
        let _ = parse_one(code, &body, 0, 0);
    }
}
