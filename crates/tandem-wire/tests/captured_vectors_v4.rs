//! Real DHCPv4 packets captured from ISC dhclient and perfdhcp (see tests/vectors/README.md);
//! expectations are what tshark decoded from the same bytes (RFC 2131 §2, RFC 2132, RFC 3046,
//! RFC 3396).

use std::net::Ipv4Addr;

use tandem_wire::v4::{code, DhcpOption, Message, MessageType, OptionsExt, BOOTREQUEST};

mod common;
use common::load;

/// Parses, and re-emits exactly the captured bytes.
fn round_trips(name: &str) -> Message {
    let b = load(name);
    let m = Message::parse(&b).expect("parses");
    assert_eq!(m.emit(), b, "emit reproduces the captured bytes");
    assert!(!m.end_missing());
    m
}

/// tshark's `dhcp.option.type` list (it shows END as a trailing 0, left out here) and
/// `dhcp.option.length` list.
fn options(m: &Message) -> (Vec<u8>, Vec<usize>) {
    (
        m.options.iter().map(|o| o.code).collect(),
        m.options.iter().map(|o| o.data.len()).collect(),
    )
}

const PERFDHCP_MAC: [u8; 6] = [0x00, 0x0c, 0x01, 0x02, 0x03, 0x04];
const DHCLIENT_MAC: [u8; 6] = [0x16, 0xf9, 0x66, 0xb1, 0x6f, 0x3f];
const DHCLIENT_PRL: [u8; 9] = [1, 28, 2, 3, 15, 6, 12, 42, 26];
const PERFDHCP_PRL: [u8; 7] = [1, 28, 2, 3, 15, 6, 12];

#[test]
fn rfc2131_dhclient_discover() {
    let m = round_trips("dhclient4_discover");
    let h = &m.header;
    assert_eq!((h.op, h.htype, h.hlen, h.hops), (BOOTREQUEST, 1, 6, 0));
    assert_eq!((h.xid, h.secs, h.flags), (0xc80a_c057, 0, 0));
    assert_eq!(
        (h.ciaddr, h.giaddr),
        (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(h.client_hw_addr(), &DHCLIENT_MAC);
    assert_eq!(options(&m), (vec![53, 12, 55], vec![1, 10, 9]));
    assert_eq!(m.message_type(), Some(MessageType::Discover));
    assert_eq!(m.host_name().as_deref(), Some(&b"v4c-client"[..]));
    assert_eq!(
        m.parameter_request_list().as_deref(),
        Some(&DHCLIENT_PRL[..])
    );
    // dhclient pads to the 300-byte BOOTP minimum (342-byte frame less 42 of headers).
    assert_eq!(m.emit().len(), 300);
}

/// INIT-REBOOT (RFC 2131 §4.3.2): requested IP from the lease file, no server identifier.
#[test]
fn rfc2131_4_3_2_dhclient_init_reboot_request() {
    let m = round_trips("dhclient4_request");
    assert_eq!(m.header.xid, 0xa80a_7a16);
    assert_eq!(m.header.client_hw_addr(), &DHCLIENT_MAC);
    assert_eq!(options(&m), (vec![53, 50, 12, 55], vec![1, 4, 10, 9]));
    assert_eq!(m.message_type(), Some(MessageType::Request));
    assert_eq!(m.requested_ip(), Some(Ipv4Addr::new(192, 0, 2, 50)));
    assert_eq!(m.server_identifier(), None);
    assert_eq!(
        m.parameter_request_list().as_deref(),
        Some(&DHCLIENT_PRL[..])
    );
}

/// perfdhcp acts as a relay agent (giaddr set, hops 1) and does not pad to 300 bytes
/// (262-byte payload); the re-emission keeps that length.
#[test]
fn rfc2131_perfdhcp_discover() {
    let m = round_trips("perfdhcp4_discover");
    let h = &m.header;
    assert_eq!((h.hops, h.xid, h.flags), (1, 0, 0));
    assert_eq!(h.giaddr, Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(h.client_hw_addr(), &PERFDHCP_MAC);
    assert_eq!(options(&m), (vec![53, 55, 61], vec![1, 7, 7]));
    assert_eq!(m.message_type(), Some(MessageType::Discover));
    assert_eq!(
        m.parameter_request_list().as_deref(),
        Some(&PERFDHCP_PRL[..])
    );
    let id = m.client_identifier().unwrap();
    assert_eq!((id[0], &id[1..]), (1, &PERFDHCP_MAC[..]));
    assert_eq!(m.emit().len(), 262);
}

/// `perfdhcp -o 82,...`: circuit-id "eth0/1", remote-id "tand" (RFC 3046 §3.1, §3.2);
/// the reply echoes the option unchanged as its last option (RFC 3046 §2.2).
#[test]
fn rfc3046_perfdhcp_relayed_discover_with_agent_information() {
    let b = load("perfdhcp4_relayed_discover");
    let m = round_trips("perfdhcp4_relayed_discover");
    assert_eq!(m.header.giaddr, Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(options(&m), (vec![53, 55, 61, 82], vec![1, 7, 7, 14]));
    let info = m.relay_agent_info().unwrap();
    assert_eq!(info.circuit_id(), Some(&b"eth0/1"[..]));
    assert_eq!(info.remote_id(), Some(&b"tand"[..]));
    let subs: Vec<u8> = info.sub_options().map(|s| s.code).collect();
    assert_eq!(subs, vec![1, 2]);

    let offer = m
        .reply(MessageType::Offer)
        .yiaddr(Ipv4Addr::new(192, 0, 2, 100))
        .option(DhcpOption::server_identifier(Ipv4Addr::new(192, 0, 2, 1)))
        .option(DhcpOption::lease_time(600))
        .build();
    let out = offer.emit();
    let parsed = Message::parse(&out).unwrap();
    assert_eq!(parsed.header.xid, m.header.xid);
    assert_eq!(parsed.header.giaddr, m.header.giaddr);
    assert_eq!(parsed.header.chaddr, m.header.chaddr);
    assert_eq!(parsed.message_type(), Some(MessageType::Offer));
    // The request's option 82 bytes (code, length, value) appear verbatim before END.
    let pos = b.windows(2).position(|w| w == [82, 14]).unwrap();
    let agent = &b[pos..pos + 16];
    let end = out.iter().rposition(|&x| x == code::END).unwrap();
    assert_eq!(&out[end - 16..end], agent);
}

/// Kea splits a 300-byte option into instances of 253 and 47 bytes (RFC 3396); the value
/// is their concatenation and the split is kept on re-emission.
#[test]
fn rfc3396_perfdhcp_long_option_split_in_two() {
    let m = round_trips("perfdhcp4_long_option");
    assert_eq!(
        options(&m),
        (vec![53, 55, 61, 224, 224], vec![1, 7, 7, 253, 47])
    );
    let want: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    assert_eq!(m.value(224).as_deref(), Some(&want[..]));
}
