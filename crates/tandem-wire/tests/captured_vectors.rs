//! Real packets captured from perfdhcp and ISC dhclient (see tests/vectors/README.md);
//! expectations are what tshark decoded from the same bytes (RFC 8415 §8, §9, §21).

use tandem_wire::v6::{code, MessageType, OptionsExt, Packet, RelayChain};

mod common;
use common::load;

fn codes(opts: &[tandem_wire::v6::DhcpOption]) -> Vec<u16> {
    opts.iter().map(|o| o.code()).collect()
}

fn round_trips(b: &[u8]) -> Packet {
    let p = Packet::parse(b).expect("parses");
    assert_eq!(p.emit(), b, "emit reproduces the captured bytes");
    p
}

#[test]
fn rfc8415_perfdhcp_solicit_ia_na() {
    let Packet::Message(m) = round_trips(&load("perfdhcp_solicit_na")) else {
        panic!()
    };
    assert_eq!(m.msg_type, MessageType::Solicit);
    assert_eq!(m.transaction_id, 0);
    assert_eq!(codes(&m.options), vec![1, 3, 6, 8]);
    assert_eq!(m.ia_nas()[0].iaid, 1);
    assert_eq!(
        m.client_id().unwrap(),
        &[0, 1, 0, 1, 0x32, 0x95, 0x86, 0xb2, 0, 0x0c, 1, 2, 3, 4][..]
    );
}

#[test]
fn rfc8415_perfdhcp_solicit_ia_na_and_ia_pd() {
    let Packet::Message(m) = round_trips(&load("perfdhcp_solicit_na_pd")) else {
        panic!()
    };
    assert_eq!(codes(&m.options), vec![1, 3, 6, 8, 25]);
    assert_eq!((m.ia_nas()[0].iaid, m.ia_pds()[0].iaid), (1, 1));
}

#[test]
fn rfc8415_9_perfdhcp_relayed_solicit() {
    let p = round_trips(&load("perfdhcp_relayed_solicit"));
    let Packet::Relay(r) = &p else { panic!() };
    assert_eq!((r.msg_type, r.hop_count), (MessageType::RelayForw, 0));
    assert_eq!(
        r.link_address,
        "2001:db8:77::1".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(codes(&r.options), vec![code::RELAY_MSG]);
    let chain = RelayChain::unwrap(p).unwrap();
    assert_eq!(chain.hops.len(), 1);
    assert_eq!(chain.message.msg_type, MessageType::Solicit);
    assert_eq!(codes(&chain.message.options), vec![1, 3, 6, 8]);
    assert_eq!(chain.message.ia_nas()[0].iaid, 1);
}

#[test]
fn rfc8415_dhclient_solicit() {
    let Packet::Message(m) = round_trips(&load("dhclient_solicit")) else {
        panic!()
    };
    assert_eq!(
        (m.msg_type, m.transaction_id),
        (MessageType::Solicit, 0x92de1a)
    );
    assert_eq!(codes(&m.options), vec![1, 6, 8, 3]);
    assert_eq!(m.ia_nas()[0].iaid, 0xe3c36a9f);
}

/// `dhclient -6 -P` (prefix delegation only): RFC 8415 §21.21 IA_PD without IAPREFIX,
/// §21.7 ORO 23,24,39,31, §21.9 elapsed time 0 (all as tshark decoded).
#[test]
fn rfc8415_21_21_dhclient_solicit_ia_pd() {
    let Packet::Message(m) = round_trips(&load("dhclient_solicit_pd")) else {
        panic!()
    };
    assert_eq!(
        (m.msg_type, m.transaction_id),
        (MessageType::Solicit, 0x31d7fd)
    );
    assert_eq!(codes(&m.options), vec![1, 6, 8, 25]);
    assert!(m.ia_nas().is_empty());
    let pd = m.ia_pds()[0];
    assert_eq!((pd.iaid, pd.t1, pd.t2), (0xafb35e82, 3600, 5400));
    assert!(pd.options.is_empty());
    assert_eq!(m.oro(), vec![23, 24, 39, 31]);
    assert_eq!(m.elapsed_time(), Some(0));
}
