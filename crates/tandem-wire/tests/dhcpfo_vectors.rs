//! A real ISC dhcpd 4.4.3-P1 failover pair, cold start then perfdhcp clients
//! (tests/vectors/README.md): both TCP byte streams are de-framed, every message decodes
//! with nothing skipped, key fields are what tshark's dhcpfo dissector showed, and every
//! message re-encodes to exactly the captured bytes (draft-ietf-dhc-failover-12 §6, §7,
//! §12 as dhcpd speaks it).

use std::net::Ipv4Addr;

use tandem_wire::dhcpfo::{
    take_message, BindingStatus, Body, Deframer, Hba, Message, MsgType, RejectReason, ServerState,
};

mod common;
use common::load;

/// Every message of one direction, with its raw bytes.
fn stream(name: &str) -> Vec<(Message, Vec<u8>)> {
    let bytes = load(name);
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while let Some((raw, used)) = take_message(rest).expect("frames") {
        let d = Message::decode(raw).expect("decodes");
        assert!(d.skipped.is_empty(), "nothing skipped: {:?}", d.skipped);
        assert_eq!(d.extra_header, 0);
        out.push((d.message, raw.to_vec()));
        rest = &rest[used..];
    }
    assert!(rest.is_empty(), "the capture ends on a message boundary");
    // The stream de-framer, fed in odd-sized reads, sees the same messages.
    let mut f = Deframer::new();
    let mut again = Vec::new();
    for chunk in bytes.chunks(7) {
        f.push(chunk);
        while let Some(d) = f.next_message().unwrap() {
            again.push(d.message);
        }
    }
    assert_eq!(
        again,
        out.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>()
    );
    out
}

/// Option codes in wire order, read straight from the bytes.
fn codes(raw: &[u8]) -> Vec<u16> {
    let mut v = Vec::new();
    let mut p = 12;
    while p + 4 <= raw.len() {
        v.push(u16::from_be_bytes([raw[p], raw[p + 1]]));
        p += 4 + usize::from(u16::from_be_bytes([raw[p + 2], raw[p + 3]]));
    }
    v
}

const PRIMARY: &str = "dhcpd44_failover_primary";
const SECONDARY: &str = "dhcpd44_failover_secondary";

/// tshark's `dhcpfo.type` per message, frame after frame, for each direction.
const PRIMARY_TYPES: &str =
    "5,10,10,7,7,3,3,3,3,3,3,3,3,3,3,4,4,4,4,4,4,4,4,4,4,3,3,3,3,3,3,3,3,3,3,\
    4,4,4,4,4,4,4,4,4,4,3,4,10,8,10,3,3,3,3,3,3,3,3,3,3,11,11,11,11,11,11,3,3,3,11,4,4,4,11,11,11,\
    11,11";
const SECONDARY_TYPES: &str = "6,10,10,7,7,3,3,3,3,3,3,3,3,3,3,4,4,4,4,4,4,4,4,4,4,3,3,3,3,3,3,3,\
    3,3,3,4,4,4,4,4,4,4,4,4,4,3,8,4,10,10,4,4,4,4,4,4,4,4,4,4,11,11,11,11,11,11,11,4,4,4,3,3,3,11,\
    11,11,11,11";

fn types(s: &str) -> Vec<u8> {
    s.split(',').map(|t| t.trim().parse().unwrap()).collect()
}

#[test]
fn every_captured_message_decodes_and_reencodes_byte_for_byte() {
    for (name, want) in [(PRIMARY, PRIMARY_TYPES), (SECONDARY, SECONDARY_TYPES)] {
        let msgs = stream(name);
        let got: Vec<u8> = msgs.iter().map(|(m, _)| m.msg_type() as u8).collect();
        assert_eq!(got, types(want), "{name}: the message types tshark saw");
        for (m, raw) in &msgs {
            assert_eq!(raw[3], 12, "dhcpd sends payload offset 12");
            assert_eq!(m.encode().as_deref(), Some(&raw[..]), "{name}: {m:?}");
        }
    }
}

#[test]
fn primary_opens_with_connect_s7_8() {
    let msgs = stream(PRIMARY);
    let (m, raw) = &msgs[0];
    assert_eq!(m.xid, 0, "the xid counter starts at 0 with CONNECT");
    assert_eq!(codes(raw), vec![22, 14, 19, 28, 20, 27, 15, 11]);
    let Body::Connect(c) = &m.body else {
        panic!("{m:?}")
    };
    assert_eq!(c.relationship_name.as_deref(), Some(&b"test"[..]));
    assert_eq!(
        (c.max_unacked, c.receive_timer, c.mclt),
        (Some(10), Some(10), Some(60))
    );
    assert_eq!(c.vendor_class.as_deref(), Some(&b"isc-4.4.3-P1"[..]));
    assert_eq!((c.protocol_version, c.tls_request), (Some(1), Some(0)));
    assert_eq!(c.hba(), Some(Hba::split(128)), "split 128 = ff x16 00 x16");
}

#[test]
fn secondary_answers_with_connectack_s7_9() {
    let msgs = stream(SECONDARY);
    let (m, raw) = &msgs[0];
    assert_eq!(m.xid, 0, "the CONNECT's xid");
    assert_eq!(codes(raw), vec![22, 14, 19, 28, 20, 26]);
    let Body::ConnectAck(a) = &m.body else {
        panic!("{m:?}")
    };
    assert_eq!(a.relationship_name.as_deref(), Some(&b"test"[..]));
    assert_eq!((a.max_unacked, a.receive_timer), (Some(10), Some(10)));
    assert_eq!(
        (a.protocol_version, a.tls_reply, a.reject_reason),
        (Some(1), Some(0), None)
    );
}

#[test]
fn states_recover_startup_then_recover_done_then_normal_s7_10() {
    for name in [PRIMARY, SECONDARY] {
        let states: Vec<(ServerState, bool, Vec<u16>)> = stream(name)
            .iter()
            .filter_map(|(m, raw)| match &m.body {
                Body::State(s) => Some((
                    s.server_state.unwrap(),
                    s.server_flags.unwrap().startup(),
                    codes(raw),
                )),
                _ => None,
            })
            .collect();
        let want = [
            (ServerState::RECOVER, true),
            (ServerState::RECOVER, false),
            (ServerState::RECOVER_DONE, false),
            (ServerState::NORMAL, false),
        ];
        assert_eq!(states.len(), 4, "{name}");
        for ((s, f, c), (ws, wf)) in states.iter().zip(want) {
            assert_eq!((*s, *f), (ws, wf), "{name}");
            assert_eq!(c, &vec![24, 23, 25]);
        }
    }
}

/// Each BNDACK carries the BNDUPD's xid and address (draft-ietf-dhc-failover-12 §7.2) and
/// nothing else but a reject reason and message (ISC dhcpd 4.4 behaviour).
#[test]
fn bndacks_answer_the_partners_bndupds_s7_2() {
    for (from, to) in [(PRIMARY, SECONDARY), (SECONDARY, PRIMARY)] {
        let updates: Vec<(u32, Ipv4Addr)> = stream(to)
            .iter()
            .filter_map(|(m, _)| match &m.body {
                Body::BndUpd(b) => Some((m.xid, b.assigned_ip.unwrap())),
                _ => None,
            })
            .collect();
        let mut rejects = 0;
        for (m, raw) in stream(from) {
            let Body::BndAck(a) = &m.body else { continue };
            let ip = a.binding.assigned_ip.unwrap();
            assert!(updates.contains(&(m.xid, ip)), "{from}: ack {} {ip}", m.xid);
            match a.reject_reason {
                None => assert_eq!(codes(&raw), vec![2]),
                Some(r) => {
                    rejects += 1;
                    assert_eq!(r, RejectReason::LESS_CRIT_BIND_INFO);
                    assert_eq!(
                        a.message.as_deref(),
                        Some(&b"incoming update is less critical than outgoing update"[..])
                    );
                    assert_eq!(codes(&raw), vec![2, 21, 16]);
                }
            }
        }
        // Dueling FREE updates at cold start: the primary wins all 21.
        assert_eq!(rejects, if from == PRIMARY { 21 } else { 0 }, "{from}");
    }
}

#[test]
fn bndupds_free_then_active_in_dhcpd_order_s7_1() {
    let hba = Hba::split(128);
    let (mut active, mut backup) = (0, 0);
    for (name, primary) in [(PRIMARY, true), (SECONDARY, false)] {
        for (m, raw) in stream(name) {
            let Body::BndUpd(b) = &m.body else { continue };
            assert_ne!(m.xid, 0, "BNDUPD never uses xid 0");
            let ip = u32::from(b.assigned_ip.unwrap());
            assert!(
                (0xc000_0264..=0xc000_0278).contains(&ip),
                "in 192.0.2.100-120"
            );
            match b.binding_status.unwrap() {
                st @ (BindingStatus::FREE | BindingStatus::BACKUP) => {
                    assert_eq!(codes(&raw), vec![2, 3, 13, 18, 25]);
                    assert_eq!(b.lease_expiration, Some(0), "never used");
                    if st == BindingStatus::BACKUP {
                        // Pool balancing: only the primary hands leases to the secondary.
                        assert!(primary, "{name}: BACKUP from the secondary");
                        backup += 1;
                    }
                }
                BindingStatus::ACTIVE => {
                    active += 1;
                    assert_eq!(codes(&raw), vec![2, 3, 4, 5, 13, 18, 25, 6]);
                    let id = b.client_id.as_deref().unwrap();
                    let (htype, mac) = b.hardware().unwrap();
                    assert_eq!((htype, mac), (1, &id[1..]), "client-id is 01 + MAC");
                    assert_eq!(&mac[..5], &[0x00, 0x0c, 0x01, 0x02, 0x03], "perfdhcp");
                    // First lease = MCLT (60 s); STOS = the lease start = CLTT.
                    let stos = b.start_time_of_state.unwrap();
                    assert_eq!(b.lease_expiration, Some(stos + 60));
                    assert_eq!(b.cltt, Some(stos));
                    // RFC 3074: each server only leased to clients of its own buckets.
                    assert!(hba.mine(primary, id), "{name} served {id:02x?}");
                }
                s => panic!("unexpected {s:?}"),
            }
        }
    }
    assert!(active >= 6, "perfdhcp leases seen: {active}");
    assert_eq!(
        backup, 10,
        "half of the 21 free leases moved to the secondary"
    );
}

#[test]
fn contacts_are_empty_and_updreqall_updone_pair_up_s7_4_s7_5() {
    let p = stream(PRIMARY);
    let s = stream(SECONDARY);
    for (m, raw) in p.iter().chain(&s) {
        if matches!(m.body, Body::Contact | Body::UpdReqAll | Body::UpdDone) {
            assert_eq!(raw.len(), 12, "no options");
        }
    }
    // dhcpd sends two UPDREQALLs; the UPDDONE answers the last one's xid.
    for (req, done) in [(&p, &s), (&s, &p)] {
        let reqs: Vec<u32> = req
            .iter()
            .filter(|(m, _)| m.msg_type() == MsgType::UpdReqAll)
            .map(|(m, _)| m.xid)
            .collect();
        let dones: Vec<u32> = done
            .iter()
            .filter(|(m, _)| m.msg_type() == MsgType::UpdDone)
            .map(|(m, _)| m.xid)
            .collect();
        assert_eq!(reqs.len(), 2);
        assert_eq!(dones, vec![reqs[1]]);
    }
}

#[test]
fn a_capture_cut_anywhere_asks_for_more_bytes() {
    let b = load(PRIMARY);
    let first = usize::from(u16::from_be_bytes([b[0], b[1]]));
    for cut in 0..first {
        assert_eq!(take_message(&b[..cut]).unwrap(), None);
    }
    assert!(take_message(&b[..first]).unwrap().is_some());
}
