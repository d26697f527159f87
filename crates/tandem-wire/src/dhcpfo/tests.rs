//! DHCPv4 failover codec tests: one per rule (draft-ietf-dhc-failover-12 §6, §7, §12, and
//! where ISC dhcpd 4.4 departs from it), then property tests.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;

/// Hex with whitespace; the 2-byte length is filled in (`LLLL`).
fn msg(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.replace("LLLL", "0000");
    let mut b: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    let n = (b.len() as u16).to_be_bytes();
    b[..2].copy_from_slice(&n);
    b
}

fn kind(b: &[u8]) -> ErrorKind {
    Message::decode(b).unwrap_err().kind
}

fn body(b: &[u8]) -> Body {
    Message::decode(b).unwrap().message.body
}

// ---- §6.1 framing and header ----

#[test]
fn header_fields_s6_1() {
    let d = Message::decode(&msg("LLLL 0b 0c 6b11b7db 00000007")).unwrap();
    assert_eq!(d.message, Message::new(0x6b11_b7db, 7, Body::Contact));
    assert_eq!((d.skipped.len(), d.extra_header), (0, 0));
}

#[test]
fn encoder_always_writes_payload_offset_12_dhcpd() {
    let b = Message::new(1, 2, Body::Contact).encode().unwrap();
    assert_eq!(b, msg("LLLL 0b 0c 00000001 00000002"));
    assert_eq!(b[3], 12);
}

#[test]
fn payload_offset_below_12_is_refused() {
    for off in [0u8, 8, 11] {
        let mut b = msg("LLLL 0b 00 00000000 00000000");
        b[3] = off;
        assert_eq!(
            kind(&b),
            ErrorKind::BadPayloadOffset {
                offset: off,
                len: 12
            }
        );
        assert_eq!(Message::decode(&b).unwrap_err().offset, 3);
    }
}

#[test]
fn payload_offset_past_the_message_is_refused() {
    assert_eq!(
        kind(&msg("LLLL 0b 0e 00000000 00000000 00")),
        ErrorKind::BadPayloadOffset {
            offset: 14,
            len: 13
        }
    );
}

#[test]
fn payload_offset_above_12_skips_extra_header_bytes_dhcpd() {
    // Two extra header bytes (ab cd), then MCLT 60.
    let d = Message::decode(&msg("LLLL 05 0e 00000000 00000000 abcd 000f 0004 0000003c")).unwrap();
    assert_eq!(d.extra_header, 2);
    let Body::Connect(c) = d.message.body else {
        panic!()
    };
    assert_eq!(c.mclt, Some(60));
}

#[test]
fn length_below_12_is_refused_s6_1() {
    assert_eq!(
        message_len(&[0, 11]).unwrap_err().kind,
        ErrorKind::FrameTooShort { len: 11, min: 12 }
    );
    assert!(matches!(
        take_message(&[0, 0, 1]).unwrap_err().kind,
        ErrorKind::FrameTooShort { len: 0, .. }
    ));
}

#[test]
fn length_above_2048_is_refused_s6_1() {
    assert_eq!(message_len(&[0x08, 0x00]).unwrap(), Some(2048));
    assert_eq!(
        message_len(&[0x08, 0x01]).unwrap_err().kind,
        ErrorKind::FrameTooLarge {
            len: 2049,
            max: 2048
        }
    );
}

#[test]
fn length_field_must_match_the_buffer() {
    let mut b = msg("LLLL 0b 0c 00000000 00000000");
    b.push(0);
    assert_eq!(
        kind(&b),
        ErrorKind::FrameLengthMismatch { len: 12, have: 13 }
    );
    assert!(matches!(
        kind(&b[..5]),
        ErrorKind::FrameLengthMismatch { .. }
    ));
    assert!(matches!(kind(&b[..1]), ErrorKind::TruncatedHeader { .. }));
}

#[test]
fn unknown_message_type_is_refused_s6_1() {
    // dhcpd: type > 12 is a protocol error (the draft would ignore 128..=255).
    for t in [0u8, 13, 127, 128, 255] {
        let mut b = msg("LLLL 00 0c 00000000 00000000");
        b[2] = t;
        assert_eq!(kind(&b), ErrorKind::BadMessageType(t));
    }
}

#[test]
fn every_type_1_to_12_decodes_s6_1() {
    for t in 1u8..=12 {
        let mut b = msg("LLLL 00 0c 00000000 00000000");
        b[2] = t;
        let m = Message::decode(&b).unwrap().message;
        assert_eq!(m.msg_type() as u8, t);
        assert_eq!(m.encode().unwrap(), b);
    }
}

#[test]
fn deframer_yields_whole_messages_across_reads() {
    let a = Message::new(1, 1, Body::Contact).encode().unwrap();
    let s = Message::new(
        1,
        2,
        Body::State(State {
            server_state: Some(ServerState::NORMAL),
            server_flags: Some(ServerFlags(0)),
            start_time_of_state: Some(5),
        }),
    )
    .encode()
    .unwrap();
    let stream: Vec<u8> = [a.clone(), s.clone()].concat();
    let mut d = Deframer::new();
    let mut got = Vec::new();
    for byte in &stream {
        d.push(std::slice::from_ref(byte));
        while let Some(m) = d.next_message().unwrap() {
            got.push(m.message.encode().unwrap());
        }
    }
    assert_eq!(got, vec![a, s]);
    assert_eq!(d.buffered(), 0);
}

#[test]
fn deframer_error_is_sticky_the_connection_must_close() {
    let mut d = Deframer::new();
    d.push(&[0x09, 0x00]);
    let e = d.next_frame().unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::FrameTooLarge {
            len: 2304,
            max: 2048
        }
    );
    d.push(&Message::new(1, 1, Body::Contact).encode().unwrap());
    assert_eq!(d.next_message().unwrap_err(), e);
}

// ---- §6.2 options ----

#[test]
fn a_repeated_option_is_a_protocol_error_dhcpd() {
    // Two binding-status options: a batched BNDUPD (§6.3) is fatal to dhcpd.
    let b = msg("LLLL 03 0c 00000000 00000001
         0002 0004 c0000264  0003 0001 02  0003 0001 01");
    let e = Message::decode(&b).unwrap_err();
    assert_eq!(
        (e.kind, e.option, e.offset),
        (ErrorKind::DuplicateOption, Some(3), 25)
    );
    // Two whole bindings.
    let b = msg("LLLL 03 0c 00000000 00000001
         0002 0004 c0000264  0003 0001 02  0002 0004 c0000265");
    assert_eq!(kind(&b), ErrorKind::DuplicateOption);
}

#[test]
fn a_repeated_option_not_kept_by_the_type_is_skipped_dhcpd() {
    // MCLT twice in a BNDUPD: never stored, so never "present" twice.
    let b = msg("LLLL 03 0c 00000000 00000001 000f 0004 0000003c 000f 0004 0000003c");
    let d = Message::decode(&b).unwrap();
    assert_eq!(d.skipped.len(), 2);
    assert!(d.skipped.iter().all(|s| s.why == SkipReason::NotAllowed));
}

#[test]
fn unknown_option_codes_are_skipped_and_listed_s6_1() {
    let b =
        msg("LLLL 0a 0c 00000000 00000000 0000 0001 ff  001e 0002 abcd  ffff 0000  0018 0001 02");
    let d = Message::decode(&b).unwrap();
    let codes: Vec<(u16, usize, SkipReason)> =
        d.skipped.iter().map(|s| (s.code, s.len, s.why)).collect();
    assert_eq!(
        codes,
        vec![
            (0, 1, SkipReason::Unknown),
            (30, 2, SkipReason::Unknown),
            (0xffff, 0, SkipReason::Unknown)
        ]
    );
    assert_eq!(d.skipped[1].offset, 17);
    let Body::State(s) = d.message.body else {
        panic!()
    };
    assert_eq!(s.server_state, Some(ServerState::NORMAL));
}

#[test]
fn options_not_allowed_for_the_type_are_skipped_fto_allowed() {
    // A STATE carrying assigned-IP, MCLT, delayed-service and vendor options keeps none.
    let b = msg("LLLL 0a 0c 00000000 00000000
         0002 0004 c0000264  000f 0004 0000003c  000a 0001 05  001d 0002 0102  0018 0001 02");
    let d = Message::decode(&b).unwrap();
    let codes: Vec<u16> = d.skipped.iter().map(|s| s.code).collect();
    assert_eq!(codes, vec![2, 15, 10, 29]);
    assert!(d.skipped.iter().all(|s| s.why == SkipReason::NotAllowed));
    assert_eq!(
        d.message.body,
        Body::State(State {
            server_state: Some(ServerState::NORMAL),
            ..State::default()
        })
    );
}

#[test]
fn a_wrong_length_option_not_kept_by_the_type_is_skipped_dhcpd() {
    // dhcpd checks the size only of options it keeps.
    let b = msg("LLLL 0b 0c 00000000 00000000 000f 0003 00003c");
    assert_eq!(
        Message::decode(&b).unwrap().skipped[0].why,
        SkipReason::NotAllowed
    );
}

#[test]
fn allow_lists_follow_dhcpd_fto_allowed() {
    use code::*;
    let on = |t| {
        (1u16..=29)
            .filter(|&c| is_allowed(t, c))
            .collect::<Vec<_>>()
    };
    assert_eq!(on(MsgType::PoolReq), Vec::<u16>::new());
    assert_eq!(on(MsgType::PoolResp), vec![ADDRESSES_TRANSFERRED]);
    assert_eq!(
        on(MsgType::BndUpd),
        vec![2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 18, 25]
    );
    assert_eq!(
        on(MsgType::BndAck),
        vec![2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 18, 21, 25]
    );
    assert_eq!(on(MsgType::Connect), vec![11, 14, 15, 19, 20, 22, 27, 28]);
    assert_eq!(
        on(MsgType::ConnectAck),
        vec![14, 16, 19, 20, 21, 22, 26, 28]
    );
    for t in [
        MsgType::UpdReqAll,
        MsgType::UpdDone,
        MsgType::UpdReq,
        MsgType::Contact,
    ] {
        assert!(on(t).is_empty());
    }
    assert_eq!(on(MsgType::State), vec![23, 24, 25]);
    assert_eq!(on(MsgType::Disconnect), vec![16, 21]);
    // Never kept: delayed-service, vendor options, the digest.
    for t in 1..=12u8 {
        let t = MsgType::try_from(t).unwrap();
        for c in [
            DELAYED_SERVICE_PARAMETER,
            VENDOR_SPECIFIC_OPTIONS,
            MESSAGE_DIGEST,
        ] {
            assert!(!is_allowed(t, c));
        }
    }
}

#[test]
fn a_fixed_size_option_with_another_length_is_a_protocol_error_s12() {
    // MCLT (u32) with 3 bytes in a CONNECT.
    let e = Message::decode(&msg("LLLL 05 0c 00000000 00000000 000f 0003 00003c")).unwrap_err();
    assert_eq!(
        (e.kind, e.option, e.offset),
        (
            ErrorKind::BadFixedLength {
                expected: 4,
                got: 3
            },
            Some(15),
            12
        )
    );
    // server-state (u8) with 2 bytes.
    assert_eq!(
        kind(&msg("LLLL 0a 0c 00000000 00000000 0018 0002 0002")),
        ErrorKind::BadFixedLength {
            expected: 1,
            got: 2
        }
    );
    // assigned-IP with 16 bytes.
    assert_eq!(
        kind(&msg(
            "LLLL 03 0c 00000000 00000000 0002 0010 00000000000000000000000000000000"
        )),
        ErrorKind::BadFixedLength {
            expected: 4,
            got: 16
        }
    );
}

#[test]
fn option_sizes_follow_dhcpd_ft_options_s12() {
    use code::*;
    let fixed: Vec<(u16, usize)> = (1u16..=29)
        .filter_map(|c| match shape(c) {
            Some(Shape::Fixed(n)) => Some((c, n)),
            _ => None,
        })
        .collect();
    assert_eq!(
        fixed,
        vec![
            (1, 4),
            (2, 4),
            (3, 1),
            (6, 4),
            (10, 1),
            (12, 2),
            (13, 4),
            (14, 4),
            (15, 4),
            (18, 4),
            (19, 4),
            (20, 1),
            (21, 1),
            (23, 1),
            (24, 1),
            (25, 4),
            (26, 1),
            (27, 1)
        ]
    );
    assert_eq!(shape(DDNS), Some(Shape::AtLeast(2)));
    assert_eq!(shape(HASH_BUCKET_ASSIGNMENT), Some(Shape::Bytes));
    assert_eq!(shape(0), None);
    assert_eq!(shape(30), None);
}

#[test]
fn ip_flags_is_two_bytes_as_dhcpd_sends() {
    let b = msg("LLLL 03 0c 00000000 00000001 0002 0004 c0000264 0003 0001 02 000c 0002 0002");
    let Body::BndUpd(u) = body(&b) else { panic!() };
    assert_eq!(u.ip_flags, Some(IpFlags(IpFlags::BOOTP)));
    assert!(u.ip_flags.unwrap().bootp() && !u.ip_flags.unwrap().reserved());
    assert_eq!(Message::decode(&b).unwrap().message.encode().unwrap(), b);
    // The draft's one-byte figure is refused.
    assert_eq!(
        kind(&msg("LLLL 03 0c 00000000 00000001 000c 0001 02")),
        ErrorKind::BadFixedLength {
            expected: 2,
            got: 1
        }
    );
}

#[test]
fn tls_request_is_one_byte_s12_27() {
    assert_eq!(
        kind(&msg("LLLL 05 0c 00000000 00000000 001b 0002 0000")),
        ErrorKind::BadFixedLength {
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn a_truncated_option_is_a_protocol_error_s6_2() {
    // Code only.
    let e = Message::decode(&msg("LLLL 0a 0c 00000000 00000000 0018")).unwrap_err();
    assert_eq!(
        (e.kind, e.offset),
        (ErrorKind::TruncatedHeader { need: 4, have: 2 }, 12)
    );
    // Code and half a length.
    assert!(matches!(
        kind(&msg("LLLL 0a 0c 00000000 00000000 0018 00")),
        ErrorKind::TruncatedHeader { need: 4, have: 3 }
    ));
    // Value runs past the message end (also for an unknown code).
    let e = Message::decode(&msg("LLLL 0a 0c 00000000 00000000 0018 0002 02")).unwrap_err();
    assert_eq!(
        (e.kind, e.option),
        (
            ErrorKind::LengthPastEnd {
                len: 2,
                available: 1
            },
            Some(24)
        )
    );
    assert!(matches!(
        kind(&msg("LLLL 0a 0c 00000000 00000000 00ff 0009 02")),
        ErrorKind::LengthPastEnd { .. }
    ));
}

#[test]
fn message_digest_must_be_last_and_is_ignored_s12_17() {
    let d = Message::decode(&msg("LLLL 0b 0c 00000000 00000000 0011 0003 010203")).unwrap();
    assert_eq!(d.skipped[0].why, SkipReason::Digest);
    assert_eq!(d.message.body, Body::Contact);
    let e =
        Message::decode(&msg("LLLL 0a 0c 00000000 00000000 0011 0000 0018 0001 02")).unwrap_err();
    assert_eq!((e.kind, e.option), (ErrorKind::DigestNotLast, Some(17)));
}

#[test]
fn ddns_needs_two_flag_bytes_s12_9() {
    assert_eq!(
        kind(&msg("LLLL 03 0c 00000000 00000000 0009 0001 01")),
        ErrorKind::TooShort { min: 2, got: 1 }
    );
    let b = msg("LLLL 03 0c 00000000 00000000 0009 0005 0003 616263");
    let Body::BndUpd(u) = body(&b) else { panic!() };
    assert_eq!(
        u.ddns,
        Some(Ddns {
            flags: 3,
            name: b"abc".to_vec()
        })
    );
}

#[test]
fn recover_wait_is_254() {
    assert_eq!(ServerState::RECOVER_WAIT.0, 254);
    assert_eq!(ServerState::RECOVER_WAIT.name(), Some("recover-wait"));
    let Body::State(s) = body(&msg("LLLL 0a 0c 00000000 00000000 0018 0001 fe")) else {
        panic!()
    };
    assert_eq!(s.server_state, Some(ServerState::RECOVER_WAIT));
    assert!(s.server_state.unwrap().is_known());
    // 12..=253 are not states; they still decode (dhcpd moves itself to SHUTDOWN).
    assert!(!ServerState(12).is_known());
}

#[test]
fn binding_status_values_are_1_to_7_s12_3() {
    let known: Vec<u8> = (0..=255u8)
        .filter(|&v| BindingStatus(v).is_known())
        .collect();
    assert_eq!(known, vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(BindingStatus::BACKUP, BindingStatus(7));
    // An undefined value decodes so the layer can answer it with a BNDACK reject.
    let Body::BndUpd(u) = body(&msg("LLLL 03 0c 00000000 00000000 0003 0001 09")) else {
        panic!()
    };
    assert_eq!(u.binding_status, Some(BindingStatus(9)));
}

#[test]
fn reject_reason_hba_is_18_dhcpd() {
    assert_eq!(RejectReason::HBA_CONFLICT.0, 18);
    assert_eq!(RejectReason::LESS_CRIT_BIND_INFO.0, 16);
    assert_eq!(RejectReason::UNKNOWN.0, 254);
}

#[test]
fn hba_of_another_length_decodes_so_connect_can_be_refused_with_18_dhcpd() {
    let Body::Connect(c) = body(&msg("LLLL 05 0c 00000000 00000000 000b 0002 ffff")) else {
        panic!()
    };
    assert_eq!(c.hba.as_deref(), Some(&[0xff, 0xff][..]));
    assert_eq!(c.hba(), None);
}

// ---- §7 messages: dhcpd's wire order ----

fn codes(b: &[u8]) -> Vec<u16> {
    let mut v = Vec::new();
    let mut p = 12;
    while p + 4 <= b.len() {
        v.push(u16::from_be_bytes([b[p], b[p + 1]]));
        p += 4 + usize::from(u16::from_be_bytes([b[p + 2], b[p + 3]]));
    }
    v
}

fn full_binding() -> Binding {
    Binding {
        assigned_ip: Some(Ipv4Addr::new(192, 0, 2, 100)),
        binding_status: Some(BindingStatus::ACTIVE),
        client_id: Some(vec![1, 0, 0xc, 1, 2, 3, 4]),
        chaddr: Some(vec![1, 0, 0xc, 1, 2, 3, 4]),
        lease_expiration: Some(10),
        potential_expiration: Some(20),
        start_time_of_state: Some(30),
        cltt: Some(40),
        ip_flags: Some(IpFlags(1)),
        ddns: Some(Ddns {
            flags: 1,
            name: b"h".to_vec(),
        }),
        request_options: Some(vec![53, 1, 3]),
        reply_options: Some(vec![53, 1, 5]),
    }
}

#[test]
fn connect_is_encoded_in_dhcpd_order_s7_8() {
    let c = Connect {
        relationship_name: Some(b"test".to_vec()),
        max_unacked: Some(10),
        receive_timer: Some(10),
        vendor_class: Some(b"isc-4.4.3-P1".to_vec()),
        protocol_version: Some(1),
        tls_request: Some(0),
        mclt: Some(60),
        hba: Some(Hba::split(128).0.to_vec()),
    };
    let b = Message::new(0, 0, Body::Connect(c)).encode().unwrap();
    assert_eq!(codes(&b), vec![22, 14, 19, 28, 20, 27, 15, 11]);
    assert_eq!(b.len(), 106);
}

#[test]
fn connectack_reject_is_encoded_in_dhcpd_order_s7_9() {
    let c = ConnectAck {
        relationship_name: Some(b"test".to_vec()),
        max_unacked: Some(10),
        receive_timer: Some(10),
        vendor_class: Some(b"isc".to_vec()),
        protocol_version: Some(1),
        tls_reply: Some(0),
        reject_reason: Some(RejectReason::INVALID_PARTNER),
        message: Some(b"unknown failover relationship name".to_vec()),
    };
    let b = Message::new(0, 0, Body::ConnectAck(c)).encode().unwrap();
    assert_eq!(codes(&b), vec![22, 14, 19, 28, 20, 26, 21, 16]);
}

#[test]
fn bndupd_is_encoded_in_dhcpd_order_s7_1() {
    let b = Message::new(0, 1, Body::BndUpd(full_binding()))
        .encode()
        .unwrap();
    assert_eq!(codes(&b), vec![2, 3, 4, 5, 13, 18, 25, 6, 12, 9, 8, 7]);
    let mut free = Binding::new(Ipv4Addr::new(192, 0, 2, 101), BindingStatus::FREE);
    free.lease_expiration = Some(0);
    free.potential_expiration = Some(0);
    free.start_time_of_state = Some(1);
    let b = Message::new(0, 1, Body::BndUpd(free)).encode().unwrap();
    assert_eq!(codes(&b), vec![2, 3, 13, 18, 25]);
}

#[test]
fn bndack_is_encoded_as_dhcpd_sends_it_s7_2() {
    let ip = Ipv4Addr::new(192, 0, 2, 100);
    let b = Message::new(0, 1, Body::BndAck(BndAck::accept(ip)))
        .encode()
        .unwrap();
    assert_eq!(b, msg("LLLL 04 0c 00000000 00000001 0002 0004 c0000264"));
    let r = BndAck::reject(ip, RejectReason::LESS_CRIT_BIND_INFO, "less");
    let b = Message::new(0, 1, Body::BndAck(r)).encode().unwrap();
    assert_eq!(codes(&b), vec![2, 21, 16]);
    let full = BndAck {
        binding: full_binding(),
        reject_reason: Some(RejectReason(6)),
        message: Some(vec![]),
    };
    let b = Message::new(0, 1, Body::BndAck(full)).encode().unwrap();
    assert_eq!(
        codes(&b),
        vec![2, 3, 4, 5, 13, 18, 25, 6, 12, 21, 16, 9, 8, 7]
    );
}

#[test]
fn state_disconnect_poolresp_are_encoded_in_dhcpd_order() {
    let s = State {
        server_state: Some(ServerState::RECOVER),
        server_flags: Some(ServerFlags(ServerFlags::STARTUP)),
        start_time_of_state: Some(9),
    };
    let b = Message::new(0, 1, Body::State(s)).encode().unwrap();
    assert_eq!(
        b,
        msg("LLLL 0a 0c 00000000 00000001 0018 0001 06 0017 0001 01 0019 0004 00000009")
    );
    assert!(s.server_flags.unwrap().startup());
    let d = Disconnect {
        reject_reason: Some(RejectReason::DUP_CONNECTION),
        message: Some(b"x".to_vec()),
    };
    assert_eq!(
        codes(&Message::new(0, 1, Body::Disconnect(d)).encode().unwrap()),
        vec![21, 16]
    );
    let p = Body::PoolResp {
        addresses_transferred: Some(50),
    };
    assert_eq!(
        Message::new(0, 1, p).encode().unwrap(),
        msg("LLLL 02 0c 00000000 00000001 0001 0004 00000032")
    );
}

#[test]
fn encode_refuses_more_than_2048_bytes_s6_1() {
    let mut b = Binding::new(Ipv4Addr::new(192, 0, 2, 1), BindingStatus::ACTIVE);
    b.client_id = Some(vec![0; 2048 - 12 - 8 - 5 - 4]);
    assert_eq!(
        Message::new(0, 1, Body::BndUpd(b.clone()))
            .encode()
            .unwrap()
            .len(),
        2048
    );
    b.client_id = Some(vec![0; 2048 - 12 - 8 - 5 - 3]);
    assert_eq!(Message::new(0, 1, Body::BndUpd(b)).encode(), None);
}

// ---- RFC 3074 load balancing ----

#[test]
fn mix_table_is_a_permutation_rfc3074_s6() {
    let mut t = MIX_TABLE.to_vec();
    t.sort_unstable();
    assert_eq!(t, (0..=255u8).collect::<Vec<_>>());
    assert_eq!(&MIX_TABLE[..4], &[251, 175, 119, 215]);
}

#[test]
fn hash_walks_the_key_backwards_seeded_with_its_length_rfc3074_s6() {
    assert_eq!(bucket(&[]), 0);
    // len 1: T[1 ^ k].
    assert_eq!(bucket(&[0]), MIX_TABLE[1]);
    // len 2, key [a, b]: T[T[2 ^ b] ^ a].
    let (a, b) = (0x12u8, 0x34u8);
    let want = MIX_TABLE[usize::from(MIX_TABLE[usize::from(2 ^ b)] ^ a)];
    assert_eq!(bucket(&[a, b]), want);
    assert_ne!(bucket(&[a, b]), bucket(&[b, a]));
}

#[test]
fn split_128_is_ff_x16_then_00_x16_dhcpd() {
    let h = Hba::split(128);
    assert_eq!(&h.0[..16], &[0xff; 16]);
    assert_eq!(&h.0[16..], &[0; 16]);
    assert_eq!(Hba::split(0).0, [0; 32]);
    assert_eq!(Hba::split(256).0, [0xff; 32]);
    assert_eq!(Hba::split(1000).0, [0xff; 32]);
}

#[test]
fn hba_buckets_are_lsb_first_and_set_means_primary_dhcpd() {
    let h = Hba::split(3);
    assert_eq!(h.0[0], 0b0000_0111);
    assert!(h.primary_serves(0) && h.primary_serves(2) && !h.primary_serves(3));
    let mut one = [0u8; 32];
    one[1] = 0x01; // bucket 8
    let h = Hba(one);
    assert!(h.primary_serves(8) && !h.primary_serves(7) && !h.primary_serves(9));
    assert!(!Hba::split(128).primary_serves(128));
    assert!(Hba::split(128).primary_serves(127));
}

/// Seen on a real dhcpd 4.4.3 pair with `split 128` (tests/vectors/README.md): perfdhcp
/// clients 00:0c:01:02:03:xx with client-id 01+MAC. The primary answered these and logged
/// "load balance to peer" for the others, the secondary the reverse.
#[test]
fn hash_picks_the_server_dhcpd_picked_rfc3074() {
    let h = Hba::split(128);
    let key = |x: u8| [1u8, 0x00, 0x0c, 0x01, 0x02, 0x03, x];
    for x in [
        0x04, 0x05, 0x07, 0x0a, 0x0d, 0x10, 0x11, 0x12, 0x13, 0x15, 0x16,
    ] {
        assert!(h.mine(true, &key(x)), "primary serves {x:#04x}");
    }
    for x in [0x06, 0x08, 0x09, 0x0b, 0x0c, 0x0e, 0x0f, 0x14, 0x17] {
        assert!(h.mine(false, &key(x)), "secondary serves {x:#04x}");
    }
    assert_eq!(client_key(None, &[1, 2]), &[1, 2]);
    assert_eq!(client_key(Some(&[9]), &[1, 2]), &[9]);
}

// ---- property tests ----

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn arb_binding() -> impl Strategy<Value = Binding> {
    (
        (
            opt(any::<u32>().prop_map(Ipv4Addr::from)),
            opt(any::<u8>().prop_map(BindingStatus)),
            opt(bytes(20)),
            opt(bytes(17)),
            opt(any::<u32>()),
            opt(any::<u32>()),
        ),
        (
            opt(any::<u32>()),
            opt(any::<u32>()),
            opt(any::<u16>().prop_map(IpFlags)),
            opt((any::<u16>(), bytes(20)).prop_map(|(flags, name)| Ddns { flags, name })),
            opt(bytes(20)),
            opt(bytes(20)),
        ),
    )
        .prop_map(
            |((a, s, ci, ch, le, pe), (st, cl, f, dd, rq, rp))| Binding {
                assigned_ip: a,
                binding_status: s,
                client_id: ci,
                chaddr: ch,
                lease_expiration: le,
                potential_expiration: pe,
                start_time_of_state: st,
                cltt: cl,
                ip_flags: f,
                ddns: dd,
                request_options: rq,
                reply_options: rp,
            },
        )
}

fn arb_body() -> impl Strategy<Value = Body> {
    let reason = || opt(any::<u8>().prop_map(RejectReason));
    prop_oneof![
        Just(Body::PoolReq),
        opt(any::<u32>()).prop_map(|a| Body::PoolResp {
            addresses_transferred: a
        }),
        arb_binding().prop_map(Body::BndUpd),
        (arb_binding(), reason(), opt(bytes(40))).prop_map(|(binding, reject_reason, message)| {
            Body::BndAck(BndAck {
                binding,
                reject_reason,
                message,
            })
        }),
        (
            opt(bytes(20)),
            opt(any::<u32>()),
            opt(any::<u32>()),
            opt(bytes(20)),
            opt(any::<u8>()),
            opt(any::<u8>()),
            opt(any::<u32>()),
            opt(bytes(40)),
        )
            .prop_map(
                |(rn, mu, rt, vc, pv, tr, mclt, hba)| Body::Connect(Connect {
                    relationship_name: rn,
                    max_unacked: mu,
                    receive_timer: rt,
                    vendor_class: vc,
                    protocol_version: pv,
                    tls_request: tr,
                    mclt,
                    hba,
                })
            ),
        (
            opt(bytes(20)),
            opt(any::<u32>()),
            opt(any::<u32>()),
            opt(bytes(20)),
            opt(any::<u8>()),
            opt(any::<u8>()),
            reason(),
            opt(bytes(40)),
        )
            .prop_map(
                |(rn, mu, rt, vc, pv, tr, rr, m)| Body::ConnectAck(ConnectAck {
                    relationship_name: rn,
                    max_unacked: mu,
                    receive_timer: rt,
                    vendor_class: vc,
                    protocol_version: pv,
                    tls_reply: tr,
                    reject_reason: rr,
                    message: m,
                })
            ),
        Just(Body::UpdReqAll),
        Just(Body::UpdDone),
        Just(Body::UpdReq),
        (opt(any::<u8>()), opt(any::<u8>()), opt(any::<u32>())).prop_map(|(s, f, t)| {
            Body::State(State {
                server_state: s.map(ServerState),
                server_flags: f.map(ServerFlags),
                start_time_of_state: t,
            })
        }),
        Just(Body::Contact),
        (reason(), opt(bytes(40))).prop_map(|(r, m)| Body::Disconnect(Disconnect {
            reject_reason: r,
            message: m
        })),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    (any::<u32>(), any::<u32>(), arb_body()).prop_map(|(t, x, b)| Message::new(t, x, b))
}

proptest! {
    #[test]
    fn decode_encode_round_trip_every_type(m in arb_message()) {
        let b = m.encode().unwrap();
        prop_assert_eq!(b[3], PAYLOAD_OFFSET);
        let d = Message::decode(&b).unwrap();
        prop_assert!(d.skipped.is_empty());
        prop_assert_eq!(&d.message, &m);
        // And through the de-framer, split at an arbitrary point.
        let mut f = Deframer::new();
        let cut = b.len() / 2;
        f.push(&b[..cut]);
        prop_assert_eq!(f.next_message().unwrap(), None);
        f.push(&b[cut..]);
        prop_assert_eq!(f.next_message().unwrap().unwrap().message, m);
    }

    #[test]
    fn never_panics_and_what_decodes_reencodes(b in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(d) = Message::decode(&b) {
            let again = d.message.encode().unwrap();
            prop_assert_eq!(Message::decode(&again).unwrap().message, d.message);
        }
        let mut f = Deframer::new();
        f.push(&b);
        while let Ok(Some(_)) = f.next_message() {}
    }

    #[test]
    fn never_panics_on_a_valid_header_with_random_options(
        t in 1u8..=12, opts in prop::collection::vec(any::<u8>(), 0..120)
    ) {
        let mut b = vec![0, 0, t, 12, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend(opts);
        let n = (b.len() as u16).to_be_bytes();
        b[..2].copy_from_slice(&n);
        if let Ok(d) = Message::decode(&b) {
            let again = d.message.encode().unwrap();
            prop_assert_eq!(Message::decode(&again).unwrap().message, d.message);
        }
    }
}
