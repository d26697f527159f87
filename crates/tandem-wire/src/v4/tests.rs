//! One test per rule (RFC 2131, 2132, 3396, 3046, 3527, 3011, 3442), then property tests.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;
use option::check;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A request header (xid 0x01020304, chaddr 02:00:00:00:00:01) plus cookie and `opts`
/// (raw option bytes, END included by the caller).
fn packet(opts: &str) -> Vec<u8> {
    let mut h = Header {
        xid: 0x0102_0304,
        ..Header::default()
    };
    h.set_client_hw_addr(&[2, 0, 0, 0, 0, 1]);
    let mut b = Vec::new();
    h.emit_into(&mut b);
    b.extend(hex(opts));
    b
}

fn codes(m: &Message) -> Vec<u8> {
    m.options.iter().map(|o| o.code).collect()
}

// ---- the dhcproto failures, one rule each ----

#[test]
fn option_37_is_kept_under_its_own_code() {
    // RFC 2132 §4.7 TCP default TTL; 23 is the IP default TTL (§4.3).
    let m = Message::parse(&packet("350101 2501 40 ff")).unwrap();
    assert_eq!(codes(&m), vec![53, 37]);
    assert_eq!(m.value(37).as_deref(), Some(&[64][..]));
    assert!(m.value(23).is_none());
}

#[test]
fn a_malformed_option_is_an_error_naming_its_code_and_offset() {
    // Requested IP (RFC 2132 §9.1) with 3 bytes, before the message type.
    let e = Message::parse(&packet("3203 c00002 350101 ff")).unwrap_err();
    assert_eq!(e.option, Some(50));
    assert_eq!(e.offset, OPTIONS_OFFSET + 2);
    assert_eq!(
        e.kind,
        ErrorKind::BadFixedLength {
            expected: 4,
            got: 3
        }
    );
    // A length running past the buffer names the option's code byte.
    let e = Message::parse(&packet("350101 0c09 6162")).unwrap_err();
    assert_eq!((e.option, e.offset), (Some(12), OPTIONS_OFFSET + 3));
    assert_eq!(
        e.kind,
        ErrorKind::LengthPastEnd {
            len: 9,
            available: 2
        }
    );
    // A code with no length byte.
    let e = Message::parse(&packet("350101 0c")).unwrap_err();
    assert_eq!((e.option, e.offset), (Some(12), OPTIONS_OFFSET + 3));
    assert_eq!(e.kind, ErrorKind::TruncatedHeader { need: 2, have: 1 });
}

#[test]
fn a_malformed_option_before_53_fails_the_message_instead_of_dropping_options() {
    let e = Message::parse(&packet("3d01 01 350101 ff")).unwrap_err();
    assert_eq!(
        (e.option, e.kind),
        (Some(61), ErrorKind::TooShort { min: 2, got: 1 })
    );
}

#[test]
fn non_adjacent_repeated_options_are_concatenated() {
    // RFC 3396 §5: all instances of a code, adjacent or not, form one value.
    let b = packet("0c02 6162 350101 0c02 6364 3702 0103 3701 06 ff");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.host_name().as_deref(), Some(&b"abcd"[..]));
    assert_eq!(m.parameter_request_list().as_deref(), Some(&[1, 3, 6][..]));
    // The instances themselves are kept, so the packet re-emits unchanged.
    assert_eq!(codes(&m), vec![12, 53, 12, 55, 55]);
    assert_eq!(m.emit(), b);
}

#[test]
fn option_82_is_echoed_byte_for_byte() {
    // Sub-options deliberately out of numeric order: remote-id, circuit-id, link-selection.
    let agent = "5214 0203 aabbcc 0105 6574683031 0504 c6336401 0900";
    let req = Message::parse(&packet(&format!("350101 {agent} ff"))).unwrap();
    let reply = req
        .reply(MessageType::Offer)
        .yiaddr(ip("198.51.100.7"))
        .option(DhcpOption::server_identifier(ip("198.51.100.1")))
        .option(DhcpOption::lease_time(3600))
        .build();
    let out = reply.emit();
    let want = hex(&format!("350102 3604 c6336401 3304 00000e10 {agent} ff"));
    assert_eq!(&out[OPTIONS_OFFSET..OPTIONS_OFFSET + want.len()], &want[..]);
    assert_eq!(codes(&reply).last(), Some(&code::RELAY_AGENT_INFO));
}

#[test]
fn option_82_sub_options_iterate_in_wire_order() {
    let m = Message::parse(&packet("350101 520c 0203aabbcc 0105 6574683031 ff")).unwrap();
    let info = m.relay_agent_info().unwrap();
    let order: Vec<u8> = info.sub_options().map(|s| s.code).collect();
    assert_eq!(order, vec![2, 1]);
    assert_eq!(info.circuit_id(), Some(&b"eth01"[..]));
    assert_eq!(info.remote_id(), Some(&[0xaa, 0xbb, 0xcc][..]));
    assert_eq!(info.raw(), &hex("0203aabbcc 0105 6574683031")[..]);
}

#[test]
fn a_truncated_option_82_sub_option_is_an_error_at_its_offset() {
    let e = Message::parse(&packet("350101 5205 0109 616263 ff")).unwrap_err();
    assert_eq!((e.option, e.offset), (Some(82), OPTIONS_OFFSET + 5));
    assert_eq!(
        e.kind,
        ErrorKind::LengthPastEnd {
            len: 9,
            available: 3
        }
    );
}

#[test]
fn the_magic_cookie_is_checked() {
    let mut b = packet("350101 ff");
    b[238] = 0x54;
    let e = Message::parse(&b).unwrap_err();
    assert_eq!(e.offset, HEADER_LEN);
    assert_eq!(e.kind, ErrorKind::BadMagicCookie([99, 130, 84, 99]));
}

#[test]
fn a_packet_shorter_than_header_and_cookie_is_an_error() {
    let b = packet("");
    for len in [0, 100, HEADER_LEN, OPTIONS_OFFSET - 1] {
        let e = Message::parse(&b[..len]).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::TruncatedHeader {
                need: 240,
                have: len
            }
        );
    }
    // Header and cookie alone: no options, no END (tolerated).
    let m = Message::parse(&b).unwrap();
    assert!(m.options.is_empty() && m.end_missing());
}

#[test]
fn option_152_of_length_0_is_kept_without_panicking() {
    let b = packet("350101 9800 ff");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.options[1], DhcpOption::new(152, vec![]));
    assert_eq!(&m.emit()[..b.len()], &b[..]);
}

// ---- header (RFC 2131 §2, RFC 951) ----

#[test]
fn hlen_over_16_is_an_error() {
    let mut b = packet("350101 ff");
    b[2] = 17;
    let e = Message::parse(&b).unwrap_err();
    assert_eq!(
        (e.offset, e.kind),
        (2, ErrorKind::HardwareAddressTooLong(17))
    );
    b[2] = 16;
    assert_eq!(
        Message::parse(&b).unwrap().header.client_hw_addr().len(),
        16
    );
}

#[test]
fn header_fields_decode_at_rfc2131_offsets() {
    let mut b = packet("350103 ff");
    b[0] = BOOTREQUEST;
    b[3] = 2; // hops
    b[8..10].copy_from_slice(&7u16.to_be_bytes());
    b[10] = 0x80; // broadcast
    b[12..16].copy_from_slice(&[192, 0, 2, 10]);
    b[24..28].copy_from_slice(&[203, 0, 113, 1]);
    b[SNAME_OFFSET..SNAME_OFFSET + 3].copy_from_slice(b"srv");
    b[FILE_OFFSET..FILE_OFFSET + 4].copy_from_slice(b"boot");
    let m = Message::parse(&b).unwrap();
    let h = &m.header;
    assert_eq!((h.op, h.htype, h.hlen, h.hops), (1, 1, 6, 2));
    assert_eq!((h.xid, h.secs), (0x0102_0304, 7));
    assert!(h.broadcast());
    assert_eq!((h.ciaddr, h.giaddr), (ip("192.0.2.10"), ip("203.0.113.1")));
    assert_eq!(h.client_hw_addr(), &[2, 0, 0, 0, 0, 1]);
    assert_eq!(m.server_name(), Some(&b"srv"[..]));
    assert_eq!(m.boot_file_name(), Some(&b"boot"[..]));
    assert_eq!(m.message_type(), Some(MessageType::Request));
}

#[test]
fn broadcast_flag_accessor_sets_only_the_top_bit() {
    let mut h = Header {
        flags: 0x0001,
        ..Header::default()
    };
    h.set_broadcast(true);
    assert_eq!(h.flags, 0x8001);
    h.set_broadcast(false);
    assert_eq!(h.flags, 0x0001);
    assert!(!h.set_client_hw_addr(&[0; 17]));
}

// ---- pad, end, layout (RFC 2132 §3.1, §3.2) ----

#[test]
fn pads_are_skipped_and_re_emitted_in_place() {
    let b = packet("00 350101 0000 3d0701020000000001 00 ff 00000000 00");
    let m = Message::parse(&b).unwrap();
    assert_eq!(codes(&m), vec![53, 61]);
    // Shorter than 300 bytes as received, so re-emitted at its own length.
    assert_eq!(m.emit(), b);
}

#[test]
fn a_missing_end_is_tolerated_and_noted() {
    let b = packet("350101 3204 c0000232");
    let m = Message::parse(&b).unwrap();
    assert!(m.end_missing());
    assert_eq!(m.requested_ip(), Some(ip("192.0.2.50")));
    // Re-emitted as received: no END, no padding.
    assert_eq!(m.emit(), b);
    assert!(!Message::parse(&packet("350101 ff")).unwrap().end_missing());
}

#[test]
fn bytes_after_end_are_kept_for_re_emission() {
    let mut b = packet("350101 ff");
    b.resize(400, 0);
    b[350] = 0xee;
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.emit(), b);
    // A short packet is not lengthened; a padded one keeps its padding.
    let short = packet("350101 ff 0000");
    assert_eq!(Message::parse(&short).unwrap().emit(), short);
}

#[test]
fn unknown_options_are_kept_and_re_emitted_byte_for_byte() {
    let b = packet("350101 e003 010203 fe00 7b01 ff ff");
    let m = Message::parse(&b).unwrap();
    assert_eq!(codes(&m), vec![53, 224, 254, 123]);
    assert_eq!(m.options[1].data, vec![1, 2, 3]);
    assert_eq!(&m.emit()[..b.len()], &b[..]);
}

// ---- typed options (RFC 2132, RFC 3011, RFC 4039) ----

#[test]
fn typed_options_decode_with_their_rfc2132_lengths() {
    let b = packet(
        "350105 3604 c0000201 3304 00000e10 3a04 00000708 3b04 00000c4e 3902 05dc
         1a02 05dc 0104 ffffff00 0308 c0000201c0000202 0604 08080808 2a04 c0000203
         0f0c 6578616d706c652e636f6d00 0c03 683100 3c08 4d53465420352e30
         3d07 01020000000001 7604 c6336400 5000 ff",
    );
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.server_identifier(), Some(ip("192.0.2.1")));
    assert_eq!(
        (m.lease_time(), m.renewal_time(), m.rebinding_time()),
        (Some(3600), Some(1800), Some(3150))
    );
    assert_eq!(
        (m.max_message_size(), m.interface_mtu()),
        (Some(1500), Some(1500))
    );
    assert_eq!(m.subnet_mask(), Some(ip("255.255.255.0")));
    assert_eq!(m.routers(), Some(vec![ip("192.0.2.1"), ip("192.0.2.2")]));
    assert_eq!(m.dns_servers(), Some(vec![ip("8.8.8.8")]));
    assert_eq!(m.ntp_servers(), Some(vec![ip("192.0.2.3")]));
    // RFC 2132 §2: trailing NULs of NVT ASCII options are removed.
    assert_eq!(m.domain_name().as_deref(), Some(&b"example.com"[..]));
    assert_eq!(m.host_name().as_deref(), Some(&b"h1"[..]));
    assert_eq!(m.vendor_class().as_deref(), Some(&b"MSFT 5.0"[..]));
    assert_eq!(
        m.client_identifier().as_deref(),
        Some(&hex("01020000000001")[..])
    );
    assert_eq!(m.subnet_selection(), Some(ip("198.51.100.0")));
    assert!(m.rapid_commit());
    assert!(m.requested_ip().is_none());
}

#[test]
fn fixed_length_options_that_decide_the_answer_reject_other_lengths() {
    for (opts, c, expected, got) in [
        ("3502 0101 ff", 53, 1, 2),
        ("7603 c63364 ff", 118, 4, 3),
        ("5001 00 ff", 80, 0, 1),
    ] {
        let e = Message::parse(&packet(opts)).unwrap_err();
        assert_eq!(e.option, Some(c));
        assert_eq!(e.offset, OPTIONS_OFFSET + 2);
        assert_eq!(e.kind, ErrorKind::BadFixedLength { expected, got });
    }
}

#[test]
fn two_message_type_options_concatenate_to_a_bad_length() {
    // RFC 3396 §5 applies to every option, so a repeated fixed-length one is malformed.
    let e = Message::parse(&packet("350101 0c0161 350103 ff")).unwrap_err();
    assert_eq!(e.option, Some(53));
    assert_eq!(
        e.kind,
        ErrorKind::BadFixedLength {
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn address_lists_must_be_a_nonzero_multiple_of_4() {
    let m = Message::parse(&packet("350101 0306 c0000201c000 0600 ff")).unwrap();
    assert_eq!((m.routers(), m.dns_servers()), (None, None));
    assert_eq!(m.malformed_options(), vec![3, 6]);
    let list = [DhcpOption::new(3, vec![192, 0, 2, 1, 192, 0])];
    assert_eq!(
        check(3, &list[0].data).unwrap_err().1,
        ErrorKind::NotMultiple { unit: 4, got: 6 }
    );
    assert_eq!(
        check(6, &[]).unwrap_err().1,
        ErrorKind::TooShort { min: 4, got: 0 }
    );
}

#[test]
fn a_malformed_option_that_does_not_decide_the_answer_reads_as_absent_and_the_client_is_served() {
    // RFC 2131 §3: be liberal. An empty host name (RFC 2132 §3.14 asks for 1 byte), a
    // 3-byte requested lease time and a 5-byte maximum message size: the DISCOVER still
    // parses, each reads as absent, and the codes are named for the log.
    let b = packet("350101 0c00 3303 000e10 3905 0000000000 3d07 01020304050607 ff");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Discover));
    assert_eq!(
        (m.host_name(), m.lease_time(), m.max_message_size()),
        (None, None, None)
    );
    assert_eq!(
        m.client_identifier().as_deref(),
        Some(&[1, 2, 3, 4, 5, 6, 7][..])
    );
    assert_eq!(m.malformed_options(), vec![12, 51, 57]);
    assert_eq!(m.emit(), b, "kept as received");
}

#[test]
fn only_the_options_that_decide_the_answer_fail_a_parse() {
    use code::*;
    for c in [
        MESSAGE_TYPE,
        REQUESTED_IP,
        SERVER_ID,
        CLIENT_ID,
        RELAY_AGENT_INFO,
        SUBNET_SELECTION,
        RAPID_COMMIT,
    ] {
        assert!(decides_the_answer(c), "{c}");
    }
    for c in [
        HOST_NAME,
        PARAMETER_REQUEST_LIST,
        LEASE_TIME,
        MAX_MESSAGE_SIZE,
        VENDOR_CLASS,
        CLASSLESS_ROUTES,
    ] {
        assert!(!decides_the_answer(c), "{c}");
    }
}

#[test]
fn an_error_in_a_split_option_points_into_the_instance_holding_it() {
    // Requested IP split 2 + 1 bytes: 3 bytes in all, reported at the first instance.
    let e = Message::parse(&packet("3202 c000 350101 3201 02 ff")).unwrap_err();
    assert_eq!((e.option, e.offset), (Some(50), OPTIONS_OFFSET + 2));
    // Relay agent information split 4 + 3: the second sub-option (length 5, 1 byte
    // there) starts at value offset 4, the first byte of the second instance's data.
    let e = Message::parse(&packet("5204 0102aabb 350101 5203 0205cc ff")).unwrap_err();
    assert_eq!((e.option, e.offset), (Some(82), OPTIONS_OFFSET + 11));
}

#[test]
fn classless_routes_use_the_rfc3442_compact_encoding() {
    let routes = [
        ClasslessRoute::new(ip("0.0.0.0"), 0, ip("192.0.2.1")).unwrap(),
        ClasslessRoute::new(ip("10.0.0.0"), 8, ip("192.0.2.2")).unwrap(),
        ClasslessRoute::new(ip("10.17.0.0"), 16, ip("192.0.2.3")).unwrap(),
        ClasslessRoute::new(ip("10.27.129.0"), 24, ip("192.0.2.4")).unwrap(),
        ClasslessRoute::new(ip("10.229.0.128"), 25, ip("192.0.2.5")).unwrap(),
        ClasslessRoute::new(ip("10.198.122.47"), 32, ip("192.0.2.6")).unwrap(),
    ];
    let o = DhcpOption::classless_routes(&routes);
    assert_eq!(
        o.data,
        hex("00 c0000201 080a c0000202 100a11 c0000203 180a1b81 c0000204
             190ae50080 c0000205 200ac67a2f c0000206")
    );
    let m = Message::parse(&Message::new(Header::default()).push(o).emit()).unwrap();
    assert_eq!(m.classless_routes(), Some(routes.to_vec()));
    // Bits past the width are not on the wire.
    let r = ClasslessRoute::new(ip("10.129.1.1"), 9, ip("192.0.2.1")).unwrap();
    assert_eq!(r.destination, ip("10.128.0.0"));
    assert!(ClasslessRoute::new(ip("10.0.0.0"), 33, ip("192.0.2.1")).is_none());
}

#[test]
fn classless_routes_reject_bad_widths_and_truncation() {
    assert_eq!(
        check(121, &hex("21c0000201")).unwrap_err(),
        (0, ErrorKind::BadRoutePrefix(33))
    );
    assert_eq!(
        check(121, &hex("180a0102c000")).unwrap_err().1,
        ErrorKind::LengthPastEnd {
            len: 7,
            available: 5
        }
    );
    assert_eq!(
        check(121, &hex("00c00002")).unwrap_err().1,
        ErrorKind::TooShort { min: 5, got: 4 }
    );
    // In a message, a bad route list reads as absent (RFC 3442 §3 is a client-side
    // option: a server never acts on it).
    let m = Message::parse(&packet("350101 7905 21c0000201 ff")).unwrap();
    assert_eq!(
        (m.classless_routes(), m.malformed_options()),
        (None, vec![121])
    );
}

#[test]
fn link_selection_sub_option_is_read_and_length_checked() {
    // RFC 3527 §3: sub-option 5 of option 82, one IPv4 address.
    let m = Message::parse(&packet("350101 5206 0504 c6336400 ff")).unwrap();
    assert_eq!(m.link_selection(), Some(ip("198.51.100.0")));
    let e = Message::parse(&packet("350101 5205 0503 c63364 ff")).unwrap_err();
    assert_eq!((e.option, e.offset), (Some(82), OPTIONS_OFFSET + 3 + 2 + 2));
    assert_eq!(
        e.kind,
        ErrorKind::BadFixedLength {
            expected: 4,
            got: 3
        }
    );
}

// ---- RFC 3396 long options and RFC 2131 §4.1 overload ----

#[test]
fn an_option_longer_than_255_bytes_is_split_into_consecutive_instances() {
    let long: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let mut m = Message::new(Header::default());
    m.push(DhcpOption::message_type(MessageType::Offer))
        .push(DhcpOption::new(224, long.clone()));
    let b = m.emit();
    assert_eq!(b.len(), m.emitted_len());
    let p = Message::parse(&b).unwrap();
    let lens: Vec<(u8, usize)> = p.options.iter().map(|o| (o.code, o.data.len())).collect();
    assert_eq!(lens, vec![(53, 1), (224, 255), (224, 255), (224, 90)]);
    assert_eq!(p.value(224).as_deref(), Some(&long[..]));
}

#[test]
fn overload_areas_are_read_options_then_file_then_sname() {
    // Options field: 53, 52=3, host name "ab"; file: host name "cd", 15 "x"; sname: 15 "y".
    let mut b = packet("350101 340103 0c026162 ff");
    b[FILE_OFFSET..FILE_OFFSET + 8].copy_from_slice(&hex("0c026364 0f0178 ff"));
    b[SNAME_OFFSET..SNAME_OFFSET + 4].copy_from_slice(&hex("0f0179 ff"));
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.overload, Some(Overload::Both));
    assert_eq!(codes(&m), vec![53, 12, 12, 15, 15]);
    assert_eq!(m.host_name().as_deref(), Some(&b"abcd"[..]));
    assert_eq!(m.domain_name().as_deref(), Some(&b"xy"[..]));
    assert_eq!((m.server_name(), m.boot_file_name()), (None, None));
}

#[test]
fn overload_file_only_leaves_sname_a_name() {
    let mut b = packet("350101 340101 ff");
    b[FILE_OFFSET..FILE_OFFSET + 4].copy_from_slice(&hex("0c0161 ff"));
    b[SNAME_OFFSET] = b's';
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.overload, Some(Overload::File));
    assert_eq!(m.server_name(), Some(&b"s"[..]));
    assert_eq!(m.host_name().as_deref(), Some(&b"a"[..]));
    // A truncated option inside 'file' is an error at its absolute offset.
    b[FILE_OFFSET..HEADER_LEN].fill(0);
    b[HEADER_LEN - 1] = 0x0c;
    let e = Message::parse(&b).unwrap_err();
    assert_eq!(
        (e.option, e.offset, e.kind),
        (
            Some(12),
            HEADER_LEN - 1,
            ErrorKind::TruncatedHeader { need: 2, have: 1 }
        )
    );
}

#[test]
fn a_bad_overload_value_is_an_error() {
    let e = Message::parse(&packet("350101 340104 ff")).unwrap_err();
    assert_eq!((e.offset, e.option), (OPTIONS_OFFSET + 5, Some(52)));
    assert_eq!(e.kind, ErrorKind::BadOverload(4));
    let e = Message::parse(&packet("350101 34020101 ff")).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::BadFixedLength {
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn a_split_overload_option_is_concatenated_first() {
    // RFC 3396 §5 applies to option 52 too: an empty instance then [2] is value 2.
    let mut b = packet("350101 3400 340102 ff");
    b[SNAME_OFFSET..SNAME_OFFSET + 4].copy_from_slice(&hex("0c0161 ff"));
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.overload, Some(Overload::Sname));
    assert_eq!(codes(&m), vec![53, 12]);
}

#[test]
fn overload_inside_file_or_sname_is_an_error() {
    let mut b = packet("350101 340101 ff");
    b[FILE_OFFSET..FILE_OFFSET + 4].copy_from_slice(&hex("340102 ff"));
    let e = Message::parse(&b).unwrap_err();
    assert_eq!(
        (e.offset, e.option, e.kind),
        (FILE_OFFSET, Some(52), ErrorKind::MisplacedOverload)
    );
}

#[test]
fn an_overloaded_message_re_emits_its_options_in_the_options_field() {
    let mut b = packet("350101 340102 ff");
    b[SNAME_OFFSET..SNAME_OFFSET + 4].copy_from_slice(&hex("0c0161 ff"));
    let m = Message::parse(&b).unwrap();
    let out = m.emit();
    assert!(out[SNAME_OFFSET..FILE_OFFSET].iter().all(|&x| x == 0));
    assert_eq!(
        &out[OPTIONS_OFFSET..OPTIONS_OFFSET + 7],
        &hex("350101 0c0161 ff")[..]
    );
    let again = Message::parse(&out).unwrap();
    assert_eq!((again.overload, &again.options), (None, &m.options));
}

// ---- message types, replies, emit ----

#[test]
fn message_type_numbers_round_trip() {
    for v in 0..=255u8 {
        let t = MessageType::from(v);
        assert_eq!(u8::from(t), v);
        assert_eq!(matches!(t, MessageType::Other(_)), !(1..=18).contains(&v));
    }
    assert_eq!(MessageType::from(8), MessageType::Inform);
    assert_eq!(MessageType::from(18), MessageType::Tls);
}

#[test]
fn reply_copies_header_fields_per_rfc2131_table_3() {
    let mut b = packet("350103 ff");
    b[3] = 1; // hops
    b[8] = 5; // secs
    b[10] = 0x80;
    b[12..16].copy_from_slice(&[192, 0, 2, 10]);
    b[24..28].copy_from_slice(&[203, 0, 113, 1]);
    let req = Message::parse(&b).unwrap();
    let ack = req.reply(MessageType::Ack).yiaddr(ip("192.0.2.10")).build();
    let h = &ack.header;
    assert_eq!(
        (h.op, h.htype, h.hlen, h.hops, h.secs),
        (BOOTREPLY, 1, 6, 0, 0)
    );
    assert_eq!((h.xid, h.flags), (req.header.xid, 0x8000));
    assert_eq!((h.giaddr, h.chaddr), (req.header.giaddr, req.header.chaddr));
    assert_eq!((h.ciaddr, h.yiaddr), (ip("192.0.2.10"), ip("192.0.2.10")));
    let nak = req.reply(MessageType::Nak).build();
    assert_eq!(nak.header.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        nak.options,
        vec![DhcpOption::message_type(MessageType::Nak)]
    );
}

#[test]
fn emit_pads_to_the_300_byte_bootp_minimum_and_allocates_once() {
    let m = req_with(&[DhcpOption::message_type(MessageType::Discover)]);
    let b = m.emit();
    assert_eq!((b.len(), b.capacity()), (BOOTP_MIN_LEN, BOOTP_MIN_LEN));
    assert_eq!(&b[OPTIONS_OFFSET..OPTIONS_OFFSET + 4], &[53, 1, 1, 255]);
    let mut into = vec![9u8];
    m.emit_into(&mut into);
    assert_eq!(&into[1..], &b[..]);
}

fn req_with(opts: &[DhcpOption]) -> Message {
    let mut m = Message::new(Header::default());
    m.options.extend_from_slice(opts);
    m
}

// ---- property tests ----

/// Codes this codec does not type-check, so any value is valid (RFC 2132 §2 leaves
/// unknown options to be skipped).
fn untyped_code() -> impl Strategy<Value = u8> {
    (2u8..=254).prop_filter("typed or structural", |&c| {
        let ok = |d: &[u8]| super::option::check(c, d).is_ok();
        ok(&[]) && ok(&[0xff; 3]) && c != code::OVERLOAD
    })
}

fn arb_ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn arb_route() -> impl Strategy<Value = ClasslessRoute> {
    (arb_ip(), 0u8..=32, arb_ip()).prop_map(|(d, p, r)| ClasslessRoute::new(d, p, r).unwrap())
}

/// Typed options with valid values, each at most once.
fn arb_typed() -> impl Strategy<Value = Vec<DhcpOption>> {
    let sub = prop::collection::vec(
        (1u8..=254, prop::collection::vec(any::<u8>(), 0..8))
            .prop_filter("link selection is 4 bytes", |(c, d)| {
                *c != 5 || d.len() == 4
            }),
        0..4,
    )
    .prop_map(|subs| {
        let mut v = Vec::new();
        for (c, d) in subs {
            v.push(c);
            v.push(d.len() as u8);
            v.extend(d);
        }
        DhcpOption::new(code::RELAY_AGENT_INFO, v)
    });
    (
        any::<u8>().prop_map(|t| DhcpOption::message_type(t.into())),
        arb_ip().prop_map(DhcpOption::server_identifier),
        any::<u32>().prop_map(DhcpOption::lease_time),
        any::<u16>().prop_map(DhcpOption::interface_mtu),
        prop::collection::vec(arb_ip(), 1..4).prop_map(|a| DhcpOption::routers(&a)),
        prop::collection::vec(arb_route(), 1..4).prop_map(|r| DhcpOption::classless_routes(&r)),
        "[a-z0-9.-]{1,30}".prop_map(|s| DhcpOption::host_name(&s)),
        prop::collection::vec(any::<u8>(), 2..20).prop_map(|d| DhcpOption::new(61, d)),
        sub,
        Just(DhcpOption::rapid_commit()),
    )
        .prop_flat_map(|t| {
            let all = vec![t.0, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8, t.9];
            prop::sample::subsequence(all.clone(), 0..=all.len())
        })
}

fn arb_header() -> impl Strategy<Value = Header> {
    (
        (any::<u8>(), any::<u8>(), 0u8..=16, any::<u8>()),
        (any::<u32>(), any::<u16>(), any::<u16>()),
        (arb_ip(), arb_ip(), arb_ip(), arb_ip()),
        (any::<[u8; 16]>(), any::<[u8; 32]>(), any::<[u8; 32]>()),
    )
        .prop_map(
            |((op, htype, hlen, hops), (xid, secs, flags), a, (ch, s, f))| {
                let mut h = Header {
                    op,
                    htype,
                    hlen,
                    hops,
                    xid,
                    secs,
                    flags,
                    ciaddr: a.0,
                    yiaddr: a.1,
                    siaddr: a.2,
                    giaddr: a.3,
                    chaddr: ch,
                    ..Header::default()
                };
                h.sname[..32].copy_from_slice(&s);
                h.file[96..].copy_from_slice(&f);
                h
            },
        )
}

fn arb_message() -> impl Strategy<Value = Message> {
    let untyped = prop::collection::vec(
        (untyped_code(), prop::collection::vec(any::<u8>(), 0..=255)),
        0..6,
    );
    (arb_header(), arb_typed(), untyped)
        .prop_flat_map(|(h, typed, untyped)| {
            let mut all = typed;
            all.extend(untyped.into_iter().map(|(c, d)| DhcpOption::new(c, d)));
            (Just(h), Just(all).prop_shuffle())
        })
        .prop_map(|(h, options)| {
            let mut m = Message::new(h);
            m.options = options;
            m
        })
}

proptest! {
    #[test]
    fn arbitrary_messages_round_trip(m in arb_message()) {
        let b = m.emit();
        prop_assert_eq!(b.len(), m.emitted_len());
        prop_assert!(b.len() >= BOOTP_MIN_LEN);
        let p = Message::parse(&b).unwrap();
        prop_assert_eq!(&p, &m);
        prop_assert_eq!(p.emit(), b);
    }

    #[test]
    fn long_values_survive_splitting_and_concatenation(
        c in untyped_code(),
        data in prop::collection::vec(any::<u8>(), 256..1200),
    ) {
        let m = req_with(&[DhcpOption::new(c, data.clone())]);
        let p = Message::parse(&m.emit()).unwrap();
        let v = p.value(c);
        prop_assert_eq!(v.as_deref(), Some(&data[..]));
        prop_assert!(p.options.iter().all(|o| o.data.len() <= 255));
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..600)) {
        check_reemit(&b)?;
    }

    #[test]
    fn arbitrary_options_after_a_valid_header_never_panic(
        h in arb_header(),
        opts in prop::collection::vec(any::<u8>(), 0..400),
        overload in 0u8..4,
        areas in any::<[u8; 16]>(),
    ) {
        let mut b = Vec::new();
        h.emit_into(&mut b);
        b[FILE_OFFSET..FILE_OFFSET + 16].copy_from_slice(&areas);
        if overload > 0 {
            b.extend([code::OVERLOAD, 1, overload]);
        }
        b.extend(opts);
        check_reemit(&b)?;
    }
}

/// Whatever parses re-emits: byte for byte without overload, to the same options with.
fn check_reemit(b: &[u8]) -> Result<(), TestCaseError> {
    let Ok(m) = Message::parse(b) else {
        return Ok(());
    };
    let out = m.emit();
    prop_assert_eq!(out.len(), m.emitted_len());
    if m.overload.is_none() {
        prop_assert_eq!(&out[..], b);
    }
    let again = Message::parse(&out).unwrap();
    prop_assert_eq!(&again.options, &m.options);
    let _ = (m.relay_agent_info(), m.classless_routes(), m.host_name());
    let _ = m.reply(MessageType::Offer).build().emit();
    Ok(())
}

#[test]
fn a_maximum_size_datagram_of_tiny_options_parses_and_re_emits() {
    // 65507 bytes (largest UDP payload over IPv4): overload, then pad/option pairs with
    // many distinct codes, which exercises the pad bookkeeping and per-code checks.
    let mut b = packet("350101 340101");
    let empty_ok: Vec<u8> = (1..=254)
        .filter(|&c| c != code::OVERLOAD && super::option::check(c, &[]).is_ok())
        .collect();
    for &c in empty_ok.iter().cycle() {
        if b.len() + 3 > 65507 - 1 {
            break;
        }
        b.extend([0, c, 0]);
    }
    b.push(code::END);
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.overload, Some(Overload::File));
    assert_eq!(Message::parse(&m.emit()).unwrap().options, m.options);
}
