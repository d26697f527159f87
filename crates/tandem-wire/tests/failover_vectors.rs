//! RFC 8156 failover messages as bytes written by hand from the RFC's layouts (§5.2 header:
//! msg-type, 3-byte transaction-id, 4-byte sent-time; §5.5 options; RFC 5460 §5.1 2-byte
//! framing), not produced by our encoder. Each must decode to the fields it was written
//! with and re-encode to the same bytes, with and without its frame.

use std::net::Ipv6Addr;

use tandem_wire::failover::{decode_frame, FailoverMessage, FailoverMsgType, MAX_FRAME_LEN};
use tandem_wire::v6::{DhcpOption, OptionsExt};

/// Hex with whitespace and `#` comments.
fn hex(s: &str) -> Vec<u8> {
    let digits: String = s
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Sent-time used in every vector: seconds since 2000-01-01 (RFC 8156 §3).
const SENT: u32 = 0x32dc_91af;

fn check(bytes: &[u8], t: FailoverMsgType, xid: u32) -> FailoverMessage {
    let m = FailoverMessage::parse(bytes).expect("vector decodes");
    assert_eq!(m.msg_type, t);
    assert_eq!(m.transaction_id, xid);
    assert_eq!(m.sent_time, SENT);
    assert_eq!(m.emit(), bytes, "re-encodes byte for byte");
    // With the 2-byte length frame.
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    assert_eq!(m.emit_frame().as_deref(), Some(&framed[..]));
    let (payload, used) = decode_frame(&framed, MAX_FRAME_LEN).unwrap().unwrap();
    assert_eq!((payload, used), (bytes, framed.len()));
    // A frame cut anywhere asks for more bytes instead of failing or panicking.
    for cut in 0..framed.len() {
        assert_eq!(decode_frame(&framed[..cut], MAX_FRAME_LEN).unwrap(), None);
    }
    m
}

#[test]
fn connect_s6_1_1() {
    let b = hex("
        1f 000001 32dc91af            # CONNECT, xid 1
        007f 0004 0001 0000           # PROTOCOL_VERSION 1.0
        007a 0004 00000e10            # MCLT 3600
        0080 0004 0000003c            # KEEPALIVE_TIME 60
        0079 0004 00000064            # MAX_UNACKED_BNDUPD 100
        0082 0006 63616d707573        # RELATIONSHIP_NAME \"campus\"
        0073 0002 0001                # CONNECT_FLAGS F (fixed prefix length)
    ");
    let m = check(&b, FailoverMsgType::Connect, 1);
    assert_eq!(m.protocol_version(), Some((1, 0)));
    assert_eq!(m.mclt(), Some(3600));
    assert_eq!(m.keepalive_time(), Some(60));
    assert_eq!(m.max_unacked_bndupd(), Some(100));
    assert_eq!(m.relationship_name(), Some("campus"));
    assert_eq!(m.connect_flags().map(|f| f.0), Some(1));
}

#[test]
fn connectreply_accept_and_reject_s6_1_2() {
    let b = hex("
        20 000001 32dc91af            # CONNECTREPLY to xid 1
        007f 0004 0001 0000
        007a 0004 00000e10            # MCLT echoes 3600
        0080 0004 0000001e            # KEEPALIVE_TIME 30
        0079 0004 00000010            # MAX_UNACKED_BNDUPD 16
        0073 0002 0001
    ");
    let m = check(&b, FailoverMsgType::ConnectReply, 1);
    assert_eq!(
        (m.mclt(), m.keepalive_time(), m.max_unacked_bndupd()),
        (Some(3600), Some(30), Some(16))
    );
    let b = hex("
        20 000002 32dc91af
        000d 0006 0016 736b6577       # STATUS_CODE 22 ExcessiveTimeSkew \"skew\"
    ");
    let m = check(&b, FailoverMsgType::ConnectReply, 2);
    let s = m.status_code().unwrap();
    assert_eq!((s.code, s.message.as_str()), (22, "skew"));
}

#[test]
fn state_s6_3() {
    let b = hex("
        22 000003 32dc91af            # STATE
        0084 0001 02                  # SERVER_STATE NORMAL
        0083 0001 01                  # SERVER_FLAGS C (communicated)
        0085 0004 32dc9000            # START_TIME_OF_STATE
    ");
    let m = check(&b, FailoverMsgType::State, 3);
    assert_eq!(m.server_state(), Some(2));
    assert_eq!(m.server_flags().map(|f| f.0), Some(1));
    assert_eq!(m.start_time_of_state(), Some(0x32dc_9000));
    assert_eq!(m.partner_down_time(), None);
    let b = hex("
        22 000004 32dc91af
        0084 0001 04                  # PARTNER-DOWN
        0083 0001 03                  # S and C
        0085 0004 32dc9000
        007d 0004 32dc9000            # PARTNER_DOWN_TIME
    ");
    let m = check(&b, FailoverMsgType::State, 4);
    assert_eq!(m.server_state(), Some(4));
    assert_eq!(m.server_flags().map(|f| f.0), Some(3));
    assert_eq!(m.partner_down_time(), Some(0x32dc_9000));
}

#[test]
fn disconnect_and_contact_s5_3_10_s6_5() {
    let b = hex("
        21 000005 32dc91af            # DISCONNECT
        000d 0005 0014 627965         # STATUS_CODE 20 ServerShuttingDown \"bye\"
    ");
    let m = check(&b, FailoverMsgType::Disconnect, 5);
    assert_eq!(m.status_code().map(|s| s.code), Some(20));
    let m = check(&hex("23 000006 32dc91af"), FailoverMsgType::Contact, 6);
    assert!(m.options.is_empty());
}

#[test]
fn requests_without_options_s5_3() {
    for (t, code) in [
        (FailoverMsgType::PoolReq, 0x1a),
        (FailoverMsgType::PoolResp, 0x1b),
        (FailoverMsgType::UpdReq, 0x1c),
        (FailoverMsgType::UpdReqAll, 0x1d),
        (FailoverMsgType::UpdDone, 0x1e),
    ] {
        let b = hex(&format!("{code:02x} 0000ff 32dc91af"));
        let m = check(&b, t, 0xff);
        assert!(m.options.is_empty());
    }
}

#[test]
fn bndupd_for_a_client_s7_4() {
    let b = hex("
        18 000007 32dc91af                        # BNDUPD, xid 7
        002d 005f                                 # CLIENT_DATA, 95 bytes
          0001 000a 00030001020000000007          #   CLIENTID DUID-LL
          0003 0045                               #   IA_NA, 69 bytes
            00000001 00000708 00000b40            #     IAID 1, T1 1800, T2 2880
            0005 0035                             #     IAADDR, 53 bytes
              20010db8000100000000000000001001    #       2001:db8:1::1001
              00000e10 00001c20                   #       preferred 3600, valid 7200
              0072 0001 01                        #       BINDING_STATUS ACTIVE
              0085 0004 32dc9000                  #       START_TIME_OF_STATE
              0086 0004 32dcac20                  #       STATE_EXPIRATION_TIME (+7200)
              007b 0004 32dcb330                  #       PARTNER_LIFETIME
          002e 0004 0000000a                      #   CLT_TIME 10 s before sent-time
    ");
    let m = check(&b, FailoverMsgType::BndUpd, 7);
    let cd = m.client_data();
    assert_eq!(cd.len(), 1);
    assert_eq!(cd[0].client_id(), Some(&hex("00030001020000000007")[..]));
    assert_eq!(cd[0].clt_time(), Some(10));
    let ias = cd[0].ia_nas();
    assert_eq!(
        (ias.len(), ias[0].iaid, ias[0].t1, ias[0].t2),
        (1, 1, 1800, 2880)
    );
    let addrs = ias[0].ia_addrs();
    let a = addrs[0];
    assert_eq!(a.addr, "2001:db8:1::1001".parse::<Ipv6Addr>().unwrap());
    assert_eq!((a.preferred, a.valid), (3600, 7200));
    assert!(a.options.contains(&DhcpOption::BindingStatus(1)));
    assert!(a
        .options
        .contains(&DhcpOption::StateExpirationTime(0x32dc_ac20)));
    assert!(a
        .options
        .contains(&DhcpOption::PartnerLifetime(0x32dc_b330)));
}

#[test]
fn bndupd_for_a_pool_block_s7_4() {
    let b = hex("
        18 000008 32dc91af                        # BNDUPD
        001a 0026                                 # top-level IAPREFIX, 38 bytes
          00000000 00000000 29                    #   lifetimes 0, /41
          20010db8010000000000000000000000        #   2001:db8:100::
          0072 0001 06                            #   BINDING_STATUS FREE-BACKUP
          0085 0004 32dc9000                      #   START_TIME_OF_STATE
    ");
    let m = check(&b, FailoverMsgType::BndUpd, 8);
    let p = m.ia_prefixes();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].prefix_len, p[0].prefix),
        (41, "2001:db8:100::".parse().unwrap())
    );
    assert!(p[0].options.contains(&DhcpOption::BindingStatus(6)));
}

#[test]
fn bndreply_with_a_rejected_lease_s7_6() {
    let good = hex("
        19 000007 32dc91af                        # BNDREPLY to xid 7
        002d 0048                                 # CLIENT_DATA, 72 bytes
          0001 000a 00030001020000000007          #   CLIENTID
          0003 0036                               #   IA_NA, 54 bytes
            00000001 00000000 00000000            #     IAID 1
            0005 0026                             #     IAADDR, 38 bytes
              20010db8000100000000000000001001    #       2001:db8:1::1001
              00000000 00000000                   #       lifetimes
              000d 000a 0013 6f75746461746564     #       STATUS_CODE 19 (outdated)
    ");
    let m = check(&good, FailoverMsgType::BndReply, 7);
    let cd = m.client_data();
    let ia = cd[0].ia_nas()[0];
    let a = ia.ia_addrs()[0];
    let s = a.status_code().expect("per-lease status");
    assert_eq!((s.code, s.message.as_str()), (19, "outdated"));
}

#[test]
fn damaged_vectors_are_errors_not_panics() {
    let good = hex("22 000003 32dc91af 0084 0001 02 0083 0001 01 0085 0004 32dc9000");
    for cut in 0..good.len() {
        let _ = FailoverMessage::parse(&good[..cut]);
    }
    // An option claiming more bytes than remain.
    let bad = hex("22 000003 32dc91af 0084 0009 02");
    let e = FailoverMessage::parse(&bad).unwrap_err();
    assert_eq!(e.offset, 8, "{e}");
    // Unknown message type 36.
    assert!(FailoverMessage::parse(&hex("24 000003 32dc91af")).is_err());
}
