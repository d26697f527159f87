//! The one contract, both modes: what leaves when (the gate), read as timelines.

use std::net::SocketAddrV6;

use tandem_core::config::{AddressPool, Subnet};
use tandem_wire::v6::{DhcpOption, Ia, IaAddr, Message, MessageType, OptionsExt};

use super::*;

const T0: Time = Time(1_800_000_000);

fn config() -> ServerConfig {
    let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
    s.interface = Some("eth0".into());
    s.pools.push(AddressPool {
        first: "2001:db8:1::100".parse().unwrap(),
        last: "2001:db8:1::1ff".parse().unwrap(),
    });
    ServerConfig {
        subnets: vec![s],
        ..ServerConfig::default()
    }
}

fn rx() -> RxInfo {
    RxInfo {
        src: SocketAddrV6::new("fe80::99".parse().unwrap(), 546, 0, 0),
        dst: "ff02::1:2".parse().unwrap(),
        interface: "eth0".into(),
    }
}

fn solicit() -> Message {
    let mut m = Message::new(MessageType::Solicit, 7);
    m.options
        .push(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 9]));
    m.options.push(DhcpOption::IaNa(Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![],
    }));
    m
}

fn outputs(n: &mut Node) -> Vec<Output> {
    std::iter::from_fn(|| n.poll_output()).collect()
}

fn request_for(adv: &Message) -> Message {
    let mut m = Message::new(MessageType::Request, 8);
    m.options
        .push(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 9]));
    m.options
        .push(DhcpOption::ServerId(adv.server_id().unwrap().to_vec()));
    let addr = adv.ia_nas()[0].ia_addrs()[0].addr;
    m.options.push(DhcpOption::IaNa(Ia {
        iaid: 1,
        t1: 0,
        t2: 0,
        options: vec![DhcpOption::IaAddr(IaAddr {
            addr,
            preferred: 0,
            valid: 0,
            options: vec![],
        })],
    }));
    m
}

/// DESIGN "the core's contract": an Advertise depends on no persist and leaves at once; the
/// Reply that grants a lease leaves only once its batch is durable (RFC 8415 §18.3.1, §18.3.2).
#[test]
fn standalone_reply_leaves_only_after_its_batch_and_advertise_at_once() {
    let mut n = Node::standalone(config(), Duid(vec![0, 2, 0, 0, 0, 9, 1]), vec![]);
    n.handle_client(T0, &solicit().emit(), &rx(), Via::default());
    let out = outputs(&mut n);
    let [Output::Client { reply: adv, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let adv = Message::parse(&adv.bytes).unwrap();
    n.handle_client(T0, &request_for(&adv).emit(), &rx(), Via::default());
    let out = outputs(&mut n);
    let [Output::Persist(batch)] = out.as_slice() else {
        panic!("only the batch may come out before it is durable: {out:?}")
    };
    assert_eq!(batch.items.len(), 1);
    n.on_persisted(batch.id, Ok(()));
    let out = outputs(&mut n);
    assert!(
        matches!(out.as_slice(), [Output::Client { reply: r, .. }] if r.bytes[0] == 7),
        "{out:?}"
    );
}

/// A failed commit withholds the Reply for good (the client retries) and says so.
#[test]
fn standalone_failed_commit_withholds_the_reply() {
    let mut n = Node::standalone(config(), Duid(vec![0, 2, 0, 0, 0, 9, 1]), vec![]);
    n.handle_client(T0, &solicit().emit(), &rx(), Via::default());
    let adv = match outputs(&mut n).pop() {
        Some(Output::Client { reply: r, .. }) => Message::parse(&r.bytes).unwrap(),
        o => panic!("{o:?}"),
    };
    n.handle_client(T0, &request_for(&adv).emit(), &rx(), Via::default());
    let Some(Output::Persist(batch)) = n.poll_output() else {
        panic!()
    };
    n.on_persisted(batch.id, Err("disk full".into()));
    let out = outputs(&mut n);
    assert_eq!(
        out,
        [Output::Event(Event::CommitFailed {
            error: "disk full".into(),
            replies_withheld: 1,
            link_reset: false,
        })]
    );
    assert_eq!(n.waiting_for_commit(), 0);
}

/// A pair member's CONNECTREPLY after it adopted the primary's MCLT waits for that persist
/// (RFC 8156 §6.1.2), through the same gate.
#[test]
fn pair_member_gates_partner_messages_on_their_persists_s6_1_2() {
    use crate::endpoint::EndpointConfig;
    use crate::types::Role;
    let pair = |role, mclt| PairConfig {
        endpoint: EndpointConfig::new(role, "t", mclt),
        secondary_prefix_share: 50,
        rebalance_threshold: 1,
    };
    let mut primary = Node::pair_member(
        config(),
        Duid(vec![0, 2, 0, 0, 0, 9, 0]),
        vec![],
        None,
        pair(Role::Primary, 90),
        T0,
    )
    .unwrap();
    let mut secondary = Node::pair_member(
        config(),
        Duid(vec![0, 2, 0, 0, 0, 9, 1]),
        vec![],
        None,
        pair(Role::Secondary, 60),
        T0,
    )
    .unwrap();
    outputs(&mut secondary);
    secondary.handle_connected(T0 + 1);
    primary.handle_connected(T0 + 1);
    let connect = outputs(&mut primary)
        .into_iter()
        .find_map(|o| match o {
            Output::Peer(m) => Some(m),
            _ => None,
        })
        .expect("CONNECT");
    secondary.handle_peer_bytes(T0 + 1, &connect.emit().unwrap());
    let out = outputs(&mut secondary);
    let batch = out.iter().find_map(|o| match o {
        Output::Persist(b) => Some(b.clone()),
        _ => None,
    });
    let batch = batch.expect("the adopted MCLT is persisted");
    assert!(
        !out.iter().any(|o| matches!(o, Output::Peer(_))),
        "nothing for the partner before the batch is durable: {out:?}"
    );
    secondary.on_persisted(batch.id, Ok(()));
    let out = outputs(&mut secondary);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Peer(m) if m.kind() == crate::wire::Kind::ConnectReply)));
}
