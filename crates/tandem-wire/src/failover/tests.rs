//! RFC 8156 failover codec tests: framing (§5.1), header (§5.2), options (§5.5.x),
//! messages (§5.3.x), property tests.

use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;
use crate::v6::{DhcpOption as O, Ia, IaAddr, IaPrefix, OptionsExt};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rfc8156_5_1_framing_needs_more_zero_and_oversize() {
    assert_eq!(decode_frame(&[0], 100).unwrap(), None);
    assert_eq!(decode_frame(&[0, 3, 1, 2], 100).unwrap(), None);
    assert_eq!(
        decode_frame(&[0, 3, 1, 2, 3, 9], 100).unwrap(),
        Some((&[1u8, 2, 3][..], 5))
    );
    assert_eq!(
        decode_frame(&[0, 0], 100).unwrap_err().kind,
        ErrorKind::EmptyFrame
    );
    assert_eq!(
        decode_frame(&[1, 0], 100).unwrap_err().kind,
        ErrorKind::FrameTooLarge { len: 256, max: 100 }
    );
    assert_eq!(encode_frame(&[7, 8]).unwrap(), vec![0, 2, 7, 8]);
    assert_eq!(encode_frame(&[]), None);
}

#[test]
fn rfc8156_5_2_header_and_5_3_8_connect() {
    // CONNECT: xid 0x000102, sent-time 0x11223344, MAX_UNACKED_BNDUPD 10, MCLT 3600,
    // PROTOCOL_VERSION 1.0, RELATIONSHIP_NAME "r1", CONNECT_FLAGS F.
    let b = hex("1f 000102 11223344
         0079 0004 0000000a
         007a 0004 00000e10
         007f 0004 0001 0000
         0082 0002 7231
         0073 0002 0001");
    let m = FailoverMessage::parse(&b).unwrap();
    assert_eq!(
        (m.msg_type, m.transaction_id, m.sent_time),
        (FailoverMsgType::Connect, 0x102, 0x11223344)
    );
    assert_eq!(m.max_unacked_bndupd(), Some(10));
    assert_eq!(m.mclt(), Some(3600));
    assert_eq!(m.protocol_version(), Some((1, 0)));
    assert_eq!(m.relationship_name(), Some("r1"));
    assert!(m
        .connect_flags()
        .unwrap()
        .has(ConnectFlags::FIXED_PD_LENGTH));
    assert_eq!(m.emit(), b);
}

#[test]
fn rfc8156_5_2_bad_type_and_truncated_header() {
    assert_eq!(
        FailoverMessage::parse(&hex("01 000000 00000000"))
            .unwrap_err()
            .kind,
        ErrorKind::BadMessageType(1)
    );
    assert!(matches!(
        FailoverMessage::parse(&hex("18 0000")).unwrap_err().kind,
        ErrorKind::TruncatedHeader { .. }
    ));
}

#[test]
fn rfc8156_5_5_fixed_lengths_rejected_precisely() {
    // MCLT with 3 bytes at offset 8.
    let e = FailoverMessage::parse(&hex("22 000001 00000000 007a 0003 000e10")).unwrap_err();
    assert_eq!((e.offset, e.option), (12, Some(122)));
    assert_eq!(
        e.kind,
        ErrorKind::BadFixedLength {
            expected: 4,
            got: 3
        }
    );
    // SERVER_STATE must be one byte.
    let e = FailoverMessage::parse(&hex("22 000001 00000000 0084 0002 0001")).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::BadFixedLength {
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn rfc8156_5_5_relationship_name_rejects_nul() {
    let e = FailoverMessage::parse(&hex("22 000001 00000000 0082 0002 7200")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadText);
}

#[test]
fn rfc8156_5_5_server_flags_keep_mbz_bits() {
    let m = FailoverMessage::parse(&hex("22 000001 00000000 0083 0001 83")).unwrap();
    let f = m.server_flags().unwrap();
    assert!(
        f.has(ServerFlags::COMMUNICATED)
            && f.has(ServerFlags::STARTUP)
            && !f.has(ServerFlags::ACK_STARTUP)
    );
    assert_eq!(f.mbz_bits(), 0x80);
    assert_eq!(m.emit()[12], 0x83);
}

#[test]
fn rfc8156_5_3_1_bndupd_client_data_view() {
    let m = FailoverMessage::new(FailoverMsgType::BndUpd, 5, 100)
        .with(O::LqBaseTime(1000))
        .with(O::ClientData(vec![
            O::ClientId(vec![0, 1, 2]),
            O::CltTime(30),
            O::IaNa(Ia {
                iaid: 9,
                t1: 0,
                t2: 0,
                options: vec![O::IaAddr(IaAddr {
                    addr: "2001:db8::5".parse().unwrap(),
                    preferred: 100,
                    valid: 200,
                    options: vec![
                        O::BindingStatus(0),
                        O::ExpirationTime(500),
                        O::PartnerLifetime(600),
                    ],
                })],
            }),
            O::IaPd(Ia {
                iaid: 1,
                t1: 0,
                t2: 0,
                options: vec![O::IaPrefix(IaPrefix {
                    preferred: 1,
                    valid: 2,
                    prefix_len: 56,
                    prefix: "2001:db8:100::".parse().unwrap(),
                    options: vec![O::BindingStatus(1)],
                })],
            }),
        ]));
    let back = FailoverMessage::parse(&m.emit()).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.lq_base_time(), Some(1000));
    let cd = back.client_data();
    assert_eq!(cd.len(), 1);
    assert_eq!(cd[0].client_id(), Some(&[0u8, 1, 2][..]));
    assert_eq!(cd[0].clt_time(), Some(30));
    let a = cd[0].ia_nas()[0].ia_addrs()[0];
    assert_eq!(a.addr, "2001:db8::5".parse::<Ipv6Addr>().unwrap());
    assert_eq!(cd[0].ia_pds()[0].ia_prefixes()[0].prefix_len, 56);
}

fn arb_msg() -> impl Strategy<Value = FailoverMessage> {
    (
        24u8..=35,
        0u32..0x0100_0000,
        any::<u32>(),
        prop::collection::vec(crate::v6::tests_support::arb_option(), 0..5),
    )
        .prop_map(|(t, x, s, options)| FailoverMessage {
            msg_type: FailoverMsgType::try_from(t).unwrap(),
            transaction_id: x,
            sent_time: s,
            options,
        })
}

proptest! {
    #[test]
    fn rfc8156_round_trip(m in arb_msg()) {
        prop_assert_eq!(FailoverMessage::parse(&m.emit()).unwrap(), m.clone());
        if let Some(f) = m.emit_frame() {
            let (p, used) = decode_frame(&f, MAX_FRAME_LEN).unwrap().unwrap();
            prop_assert_eq!(used, f.len());
            prop_assert_eq!(FailoverMessage::parse(p).unwrap(), m);
        }
    }

    #[test]
    fn rfc8156_no_panic_on_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = FailoverMessage::parse(&b) {
            prop_assert_eq!(FailoverMessage::parse(&m.emit()).unwrap(), m);
        }
        let _ = decode_frame(&b, 1000);
    }
}
