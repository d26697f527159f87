use std::net::Ipv4Addr;

use super::*;
use crate::binding::receive::receive_update;
use crate::test_vectors::{dhcpd_primary, dhcpd_secondary};
use crate::types::Role;
use tandem_core::LeaseChange;
use tandem_wire::dhcpfo::{Body, Message};

const NOW: Time = Time(1_800_000_000);

fn captured_bindings() -> Vec<dhcpfo::Binding> {
    dhcpd_primary()
        .into_iter()
        .chain(dhcpd_secondary())
        .filter_map(|(m, _)| match m.body {
            Body::BndUpd(b) => Some(b),
            _ => None,
        })
        .collect()
}

fn active(client_id: Option<&[u8]>) -> BindingUpdate {
    let hw = vec![1, 0x02, 0, 0, 0, 0, 0x2a];
    BindingUpdate::Address4 {
        client: Duid(client_id.map_or(hw.clone(), <[u8]>::to_vec)),
        hw_address: hw,
        lease: LeaseUpdate {
            resource: Resource::V4Address(Ipv4Addr::new(192, 0, 2, 100)),
            preferred: 600,
            valid: 600,
            status: BindingStatus::Active,
            start_time_of_state: NOW,
            state_expiration: Some(NOW + 600),
            cltt: Some(NOW),
            partner_lifetime: Some(NOW + 900),
            partner_raw_cltt: None,
            expiration_time: None,
        },
    }
}

#[test]
fn every_bndupd_of_a_real_dhcpd_pair_reads_as_one_v4_address_s7_1() {
    let all = captured_bindings();
    assert!(all.len() >= 50, "{}", all.len());
    let mut seen = std::collections::BTreeSet::new();
    for b in &all {
        let u = update_from_binding(b).unwrap_or_else(|e| panic!("{b:?}: {e:?}"));
        let BindingUpdate::Address4 {
            lease,
            client,
            hw_address,
        } = &u
        else {
            panic!("{u:?}")
        };
        assert!(matches!(lease.resource, Resource::V4Address(_)));
        seen.insert(lease.status.as_u8());
        if lease.status == BindingStatus::Active {
            assert!(!hw_address.is_empty() && !client.is_empty(), "{u:?}");
            assert!(lease
                .state_expiration
                .is_some_and(|e| e > lease.start_time_of_state));
            assert!(lease.partner_lifetime.is_some());
        }
        // And it goes back to the same binding, option for option, except a client
        // identifier that repeats the chaddr (dhclient's `01:<mac>`), which the lease model
        // does not tell from no identifier: it is left out, and dhcpd, finding no uid on
        // the lease, still matches the client by chaddr.
        let mut expected = b.clone();
        if expected.client_id == expected.chaddr {
            expected.client_id = None;
        }
        assert_eq!(binding_from_update(&u), Some(expected), "{u:?}");
    }
    // The capture has the pool split (FREE, BACKUP) and clients (ACTIVE).
    for s in [
        BindingStatus::Free,
        BindingStatus::FreeBackup,
        BindingStatus::Active,
    ] {
        assert!(seen.contains(&s.as_u8()), "{s:?} in {seen:?}");
    }
}

#[test]
fn a_v4_update_round_trips_with_and_without_a_client_identifier() {
    for u in [active(None), active(Some(b"\x00router-17"))] {
        let b = binding_from_update(&u).unwrap();
        let BindingUpdate::Address4 {
            client, hw_address, ..
        } = &u
        else {
            unreachable!()
        };
        assert_eq!(b.client_id.is_some(), client != &Duid(hw_address.clone()));
        let back = update_from_binding(&b).unwrap();
        assert_eq!(back, u);
        // And through the codec.
        let bytes = Message::new(1, 7, Body::BndUpd(b.clone()))
            .encode()
            .unwrap();
        let m = Message::decode(&bytes).unwrap().message;
        assert_eq!(m.body, Body::BndUpd(b));
    }
}

fn refused(b: dhcpfo::Binding) -> Reason {
    update_from_binding(&b).unwrap_err().reason
}

#[test]
fn a_bndupd_without_address_or_status_is_refused_as_missing_binding_info_as_dhcpd_does() {
    let ip = Ipv4Addr::new(192, 0, 2, 100);
    let mut b = dhcpfo::Binding::new(ip, dhcpfo::BindingStatus::FREE);
    b.assigned_ip = None;
    assert_eq!(refused(b), Reason::MISSING_BINDINFO);
    let mut b = dhcpfo::Binding::new(ip, dhcpfo::BindingStatus::FREE);
    b.binding_status = None;
    assert_eq!(refused(b), Reason::MISSING_BINDINFO);
}

#[test]
fn an_active_expired_or_released_bndupd_without_chaddr_is_refused_as_dhcpd_does() {
    for s in [
        dhcpfo::BindingStatus::ACTIVE,
        dhcpfo::BindingStatus::EXPIRED,
        dhcpfo::BindingStatus::RELEASED,
    ] {
        let mut b = binding_from_update(&active(None)).unwrap();
        b.binding_status = Some(s);
        b.chaddr = None;
        assert_eq!(refused(b), Reason::MISSING_BINDINFO, "{s:?}");
    }
}

#[test]
fn a_chaddr_over_17_bytes_or_an_undefined_status_is_refused() {
    let mut b = binding_from_update(&active(None)).unwrap();
    b.chaddr = Some(vec![1; 18]);
    assert_eq!(refused(b), Reason::MISC_REJECT);
    let mut b = binding_from_update(&active(None)).unwrap();
    b.binding_status = Some(dhcpfo::BindingStatus(9));
    assert_eq!(refused(b), Reason::FATAL_CONFLICT);
}

#[test]
fn an_active_bndupd_without_lease_expiration_is_refused() {
    let mut b = binding_from_update(&active(None)).unwrap();
    b.lease_expiration = Some(0);
    assert_eq!(refused(b), Reason::MISSING_BINDINFO);
}

#[test]
fn a_lease_of_a_real_dhcpd_client_is_stored_with_its_hardware_address_and_acked_with_the_address_only_s7_2(
) {
    let b = captured_bindings()
        .into_iter()
        .find(|b| b.binding_status == Some(dhcpfo::BindingStatus::ACTIVE))
        .expect("the capture has an ACTIVE binding");
    let u = update_from_binding(&b).unwrap();
    let now = Time(u64::from(b.start_time_of_state.unwrap()) + 1);
    let r = receive_update(
        &u,
        &|_: &Resource| Some(1),
        &|_: &Resource| None,
        Role::Secondary,
        now,
    );
    let [LeaseChange::Upsert(l)] = &r.changes[..] else {
        panic!("{r:?}")
    };
    assert_eq!(l.resource, Resource::V4Address(b.assigned_ip.unwrap()));
    assert_eq!(l.status, BindingStatus::Active);
    assert_eq!(Some(&l.hw_address), b.chaddr.as_ref());
    assert_eq!(l.subnet_id, 1);
    // The partner's tstp is what we acknowledge: it bounds our use of the lease.
    assert_eq!(l.failover.expiration_time, time(b.potential_expiration));
    let ack = bndack_from_reply(&r.reply).unwrap();
    assert_eq!(ack, BndAck::accept(b.assigned_ip.unwrap()));
    let bytes = Message::new(1, 9, Body::BndAck(ack)).encode().unwrap();
    // header 12 + assigned-IP (2+2+4): nothing else, as dhcpd sends.
    assert_eq!(bytes.len(), 12 + 8);
}

#[test]
fn a_v4_address_outside_the_relationship_is_refused_as_illegal_ip() {
    let r = receive_update(
        &active(None),
        &|_: &Resource| None,
        &|_: &Resource| None,
        Role::Secondary,
        NOW,
    );
    assert!(r.changes.is_empty());
    let ack = bndack_from_reply(&r.reply).unwrap();
    assert_eq!(ack.reject_reason, Some(Reason::ILLEGAL_IP_ADDR));
    assert!(ack.message.is_some());
}

#[test]
fn a_v4_address_never_fits_an_rfc8156_ia_s1() {
    // The RFC 8156 path keeps refusing a DHCPv4 address inside a client's IA.
    let BindingUpdate::Address4 { lease, .. } = active(None) else {
        unreachable!()
    };
    let u = BindingUpdate::Client {
        duid: Duid(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 0x2a]),
        base_time: NOW,
        ias: vec![crate::update::IaUpdate {
            ia_type: tandem_core::IaType::Na,
            iaid: 1,
            t1: 0,
            t2: 0,
            leases: vec![lease],
        }],
    };
    let r = receive_update(
        &u,
        &|_: &Resource| Some(1),
        &|_: &Resource| None,
        Role::Secondary,
        NOW,
    );
    assert!(r.changes.is_empty());
    assert_eq!(
        r.reply.verdicts()[0].2,
        Some(FailoverStatus::MissingBindingInformation.into())
    );
}

#[test]
fn a_bndack_answers_the_update_it_acks_and_dhcpds_less_critical_reads_as_outdated() {
    let sent = active(None);
    let ip = Ipv4Addr::new(192, 0, 2, 100);
    let ok = reply_from_bndack(&BndAck::accept(ip), &sent).unwrap();
    let v = ok.verdicts();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].2, None);
    assert_eq!(v[0].1.partner_lifetime_sent, Some(NOW + 900));
    let mut dueling = BndAck::accept(ip);
    dueling.reject_reason = Some(Reason::LESS_CRIT_BIND_INFO);
    let r = reply_from_bndack(&dueling, &sent).unwrap();
    assert_eq!(
        r.verdicts()[0].2,
        Some(FailoverStatus::OutdatedBindingInformation.into())
    );
    // A BNDACK for another address does not answer this update.
    assert_eq!(
        reply_from_bndack(&BndAck::accept(Ipv4Addr::new(192, 0, 2, 101)), &sent),
        None
    );
}

#[test]
fn pending_free_goes_out_as_expired_and_backup_is_free_backup_s5_3() {
    assert_eq!(
        status_to_wire(BindingStatus::PendingFree),
        dhcpfo::BindingStatus::EXPIRED
    );
    assert_eq!(
        status_to_wire(BindingStatus::FreeBackup),
        dhcpfo::BindingStatus::BACKUP
    );
    assert_eq!(
        status_from_wire(dhcpfo::BindingStatus::BACKUP),
        Some(BindingStatus::FreeBackup)
    );
}
