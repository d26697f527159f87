//! Binding-level messages from the partner: BNDUPD / BNDREPLY (§7.5 – §7.7),
//! UPDREQ / UPDREQALL / UPDDONE (§5.3.5 – §5.3.7), POOLREQ / POOLRESP (§5.3.3, §5.3.4).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv6Net;
use tandem_core::{BindingStatus, Duid, FailoverFields, Lease, LeaseChange, Resource, Time};
use tandem_wire::failover::{FailoverMessage, FailoverMsgType};
use tandem_wire::v6::{DhcpOption, StatusCode};

use super::{Event, FailoverServer, Output};
use crate::allocation::proportional::RebalanceTrigger;
use crate::binding::ack::resend_may_succeed;
use crate::binding::{process_reply, receive_update, RelationshipScope};
use crate::outbox::UpdateKey;
use crate::types::Role;
use crate::update::wire::{reply_from_wire, reply_to_wire, update_from_wire};
use crate::update::{draft12, BindingUpdate, FailoverStatus};
use crate::wire::{Kind, PeerMessage};
use tandem_wire::dhcpfo;

/// Which resources this relationship covers: the configured pools (§6.2, §7.5.4).
struct Scope<'a> {
    server: &'a FailoverServer,
}

/// The configured subnet whose pools (or reservations) hold `resource`. None for a DHCPv4
/// address: no RFC 8156 relationship covers one (§1: DHCPv6 only).
pub(super) fn subnet_of(cfg: &tandem_core::ServerConfig, resource: &Resource) -> Option<u32> {
    cfg.subnets
        .iter()
        .find(|s| match resource {
            Resource::Address(a) => {
                s.pools.iter().any(|p| (p.first..=p.last).contains(a))
                    || s.reservations.iter().any(|r| r.address == Some(*a))
            }
            Resource::Prefix(p) => {
                s.pd_pools.iter().any(|pool| pool.prefix.contains(p))
                    || s.reservations.iter().any(|r| r.prefix == Some(*p))
            }
            Resource::V4Address(_) => false,
        })
        .map(|s| s.id)
        .or_else(|| match resource {
            // draft-12: the DHCPv4 pools and reservations (§5.1).
            Resource::V4Address(a) => cfg
                .subnets4
                .iter()
                .find(|s| {
                    s.pools.iter().any(|p| (p.first..=p.last).contains(a))
                        || s.reservations.iter().any(|r| r.address == *a)
                })
                .map(|s| s.id),
            _ => None,
        })
}

/// A draft-12 message sent now (times are 32-bit seconds since 1970, §6.1).
pub(super) fn draft12_message(xid: u32, body: dhcpfo::Body, now: Time) -> PeerMessage {
    let secs = u32::try_from(now.as_secs()).unwrap_or(u32::MAX);
    dhcpfo::Message::new(secs, xid, body).into()
}

impl RelationshipScope for Scope<'_> {
    fn subnet_of(&self, resource: &Resource) -> Option<u32> {
        subnet_of(self.server.dhcp.config(), resource)
    }

    fn delegated_within(&self, block: &Ipv6Net, now: Time) -> bool {
        self.server.dhcp.leases().iter().any(|l| match l.resource {
            Resource::Prefix(p) => p != *block && block.contains(&p) && l.is_active_at(now),
            Resource::Address(_) | Resource::V4Address(_) => false,
        })
    }
}

impl FailoverServer {
    pub(super) fn binding_message(&mut self, now: Time, m: PeerMessage) {
        let xid = m.xid();
        match m.kind() {
            Kind::BndUpd => self.on_bndupd(now, &m),
            Kind::BndReply => self.on_bndreply(now, &m),
            Kind::UpdReq => {
                self.outbox.begin_updreq(xid);
            }
            Kind::UpdReqAll => {
                let keys: BTreeSet<UpdateKey> = self
                    .dhcp
                    .leases()
                    .iter()
                    .filter_map(|l| self.key_for(l))
                    .collect();
                self.outbox.begin_updreqall(xid, keys);
            }
            Kind::UpdDone => {
                if self.our_request == Some(xid) {
                    self.our_request = None;
                    self.outbox.xids().release(xid);
                    let fx = self.ep.upd_done(now);
                    self.effects(now, fx);
                } else {
                    self.out.push_back(Output::Event(Event::Unexpected(format!(
                        "UPDDONE {xid} answers no request of ours"
                    ))));
                }
            }
            Kind::PoolReq => {
                if self.role() == Role::Primary {
                    self.rebalance(now, RebalanceTrigger::PoolReq);
                }
                self.send_bare(now, Kind::PoolResp, xid);
            }
            // POOLRESP only says the primary has done what it will (§5.3.4).
            Kind::PoolResp => {}
            _ => {}
        }
        self.pump_updates(now);
    }

    /// Reads a received BNDUPD in its protocol; an unreadable one is answered with a
    /// refusal, never dropped (RFC 8156 §7.5.3; ISC dhcpd 4.4 answers with a BNDACK reject).
    fn read_update(&mut self, now: Time, m: &PeerMessage) -> Option<BindingUpdate> {
        let (refusal, why): (PeerMessage, String) = match m {
            PeerMessage::Rfc8156(m) => match update_from_wire(m) {
                Ok(u) => return Some(u),
                Err(e) => (
                    FailoverMessage::new(
                        FailoverMsgType::BndReply,
                        m.transaction_id,
                        now.to_failover(),
                    )
                    .with(DhcpOption::StatusCode(StatusCode {
                        code: FailoverStatus::MissingBindingInformation.as_u16(),
                        message: e.to_string(),
                    }))
                    .into(),
                    e.to_string(),
                ),
            },
            PeerMessage::Draft12(msg) => {
                let dhcpfo::Body::BndUpd(b) = &msg.body else {
                    return None;
                };
                match draft12::update_from_binding(b) {
                    Ok(u) => return Some(u),
                    Err(r) => (
                        draft12_message(
                            msg.xid,
                            dhcpfo::Body::BndAck(draft12::bndack_refusing(b, &r)),
                            now,
                        ),
                        r.message,
                    ),
                }
            }
        };
        self.out
            .push_back(Output::Event(Event::ProtocolError(format!(
                "unreadable BNDUPD {}: {why}",
                m.xid()
            ))));
        self.send(now, refusal);
        None
    }

    fn on_bndupd(&mut self, now: Time, m: &PeerMessage) {
        self.ep.note_progress(now);
        let Some(update) = self.read_update(now, m) else {
            return;
        };
        let role = self.role();
        let received = {
            let scope = Scope { server: self };
            let lookup = |r: &Resource| self.dhcp.leases().get(r).cloned();
            receive_update(&update, &scope, &lookup, role, now)
        };
        for d in received.displaced {
            self.out.push_back(Output::Event(Event::BindingDisplaced {
                resource: d.resource,
                client: d.client,
                until: d.until,
                by: d.by,
            }));
        }
        let mut pools_changed = false;
        for c in received.changes {
            if let LeaseChange::Upsert(l) = c {
                if l.duid.is_empty() {
                    if let Resource::Prefix(p) = l.resource {
                        for pool in self.prefix_pools.iter_mut() {
                            if pool.parent().contains(&p) && pool.apply_status(p, l.status).is_ok()
                            {
                                pools_changed = true;
                            }
                        }
                    }
                }
                self.store(l);
            }
        }
        if pools_changed {
            self.refresh_policy();
        }
        for r in received.resend_now {
            if let Some(k) = self.dhcp.leases().get(&r).and_then(|l| self.key_for(l)) {
                self.outbox.enqueue(k);
            }
        }
        let reply = match m {
            PeerMessage::Rfc8156(_) => Some(reply_to_wire(&received.reply, m.xid(), now).into()),
            PeerMessage::Draft12(_) => draft12::bndack_from_reply(&received.reply)
                .map(|a| draft12_message(m.xid(), dhcpfo::Body::BndAck(a), now)),
        };
        if let Some(reply) = reply {
            self.send(now, reply);
        }
    }

    fn on_bndreply(&mut self, now: Time, m: &PeerMessage) {
        let Some(sent) = self.outbox.on_reply(m.xid()) else {
            self.out.push_back(Output::Event(Event::Unexpected(format!(
                "BNDREPLY {} matches no outstanding BNDUPD",
                m.xid()
            ))));
            return;
        };
        let reply = match m {
            PeerMessage::Rfc8156(m) => reply_from_wire(m).map_err(|e| e.to_string()),
            PeerMessage::Draft12(msg) => match &msg.body {
                dhcpfo::Body::BndAck(a) => draft12::reply_from_bndack(a, &sent.update)
                    .ok_or_else(|| "the BNDACK names another address than its BNDUPD".into()),
                _ => Err("not a BNDACK".into()),
            },
        };
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                self.out
                    .push_back(Output::Event(Event::ProtocolError(format!(
                        "unreadable BNDREPLY {}: {e}",
                        m.xid()
                    ))));
                // Not acknowledged: the periodic scan sends it again. Not at once: a partner
                // that always answers like this would have us ping-pong the same BNDUPD
                // without end (§7.5.4 storm prevention).
                self.outbox.retry_later(sent.key);
                return;
            }
        };
        let outcome = {
            let lookup = |r: &Resource| self.dhcp.leases().get(r).cloned();
            process_reply(&sent.update, &reply, &lookup, now)
        };
        for c in outcome.changes {
            if let LeaseChange::Upsert(l) = c {
                self.store(l);
            }
        }
        for k in outcome.follow_up {
            self.outbox.enqueue(k);
        }
        for (resource, reason) in &outcome.rejected {
            self.out.push_back(Output::Event(Event::UpdateRejected {
                resource: *resource,
                code: reason.code(),
            }));
        }
        // §7.5.4/§7.7: rejected leases keep update_pending (on storage too: nothing was
        // written for them) and the periodic scan sends them again, unless every rejection
        // that still matters is one a resend cannot fix: then only a local change or a new
        // connection does.
        let still_pending = |r: &Resource| {
            self.dhcp
                .leases()
                .get(r)
                .is_some_and(|l| l.failover.update_pending)
        };
        let retry = outcome
            .rejected
            .iter()
            .any(|(r, why)| resend_may_succeed(*why) && still_pending(r));
        if !retry
            && outcome
                .rejected
                .iter()
                .any(|(_, why)| !resend_may_succeed(*why))
        {
            self.outbox.hold(sent.key.clone());
        }
        // A pool move the secondary refused stays (or returns) with the primary (§7.7).
        if let BindingUpdate::Prefix { lease, .. } = &sent.update {
            if let Resource::Prefix(block) = lease.resource {
                let accepted = !outcome.rejected.iter().any(|(r, _)| *r == lease.resource);
                for pool in self.prefix_pools.iter_mut() {
                    if pool.parent().contains(&block) {
                        let _ = pool.on_move_reply(block, lease.status, accepted);
                    }
                }
                self.refresh_policy();
            }
        }
    }

    /// The primary gives the secondary BACKUP addresses of each DHCPv4 pool (see
    /// [`crate::allocation::backup_pool`]): from the top of the pool down, addresses never
    /// used or FREE, each a BNDUPD of its own (draft-12 §5.4).
    pub(super) fn balance_v4_pools(&mut self, now: Time) {
        if self.role() != Role::Primary || self.ep.state() != crate::types::ServerState::Normal {
            return;
        }
        let mut moves: Vec<(Ipv4Addr, u32)> = Vec::new();
        for s in &self.dhcp.config().subnets4 {
            for pool in &s.pools {
                let range = u32::from(pool.first)..=u32::from(pool.last);
                let total = u64::from(range.end().saturating_sub(*range.start())) + 1;
                let (mut backup, mut used) = (0u64, 0u64);
                for l in self.dhcp.leases().iter() {
                    if let Resource::V4Address(a) = l.resource {
                        if range.contains(&u32::from(a)) {
                            match l.status {
                                BindingStatus::FreeBackup => backup += 1,
                                BindingStatus::Free => {}
                                _ => used += 1,
                            }
                        }
                    }
                }
                let free = total - backup - used;
                let n = crate::allocation::backup_pool::backup_moves(total, free, backup);
                let candidates = range
                    .rev()
                    .map(Ipv4Addr::from)
                    .filter(|a| {
                        self.dhcp
                            .leases()
                            .get(&Resource::V4Address(*a))
                            .is_none_or(|l| l.status == BindingStatus::Free)
                    })
                    .take(usize::try_from(n).unwrap_or(usize::MAX));
                moves.extend(candidates.map(|a| (a, s.id)));
            }
        }
        for (a, subnet_id) in moves {
            let record = Lease {
                resource: Resource::V4Address(a),
                status: BindingStatus::FreeBackup,
                duid: Duid::default(),
                hw_address: Vec::new(),
                iaid: 0,
                subnet_id,
                preferred_lifetime: 0,
                valid_lifetime: 0,
                t1: 0,
                t2: 0,
                cltt: Time::ZERO,
                start_time_of_state: now,
                state_expiration: None,
                failover: FailoverFields {
                    update_pending: true,
                    ..FailoverFields::default()
                },
            };
            self.outbox.enqueue(UpdateKey::V4Address(a));
            self.store(record);
        }
    }

    /// Part of the periodic scan: queue again the updates the partner rejected whose leases
    /// are still update-pending, and those it answered unreadably, while communications are OK
    /// (§7.5.4: "an update will be sent during the next periodic scan, but not immediately").
    pub(super) fn resend_pending_updates(&mut self) {
        if self.ep.comm_ok() {
            let FailoverServer { outbox, dhcp, .. } = self;
            outbox.rescan(dhcp.leases().iter());
        }
    }

    /// The primary hands prefix blocks to the secondary, or asks some back (§4.2.2).
    pub(super) fn rebalance(&mut self, now: Time, trigger: RebalanceTrigger) {
        if self.protocol() == crate::wire::Protocol::Draft12 {
            return self.balance_v4_pools(now);
        }
        let used: Vec<Ipv6Net> = self
            .dhcp
            .leases()
            .iter()
            .filter_map(|l| match l.resource {
                Resource::Prefix(p)
                    if !matches!(l.status, BindingStatus::Free | BindingStatus::FreeBackup) =>
                {
                    Some(p)
                }
                _ => None,
            })
            .collect();
        let used_in = |b: Ipv6Net| used.iter().filter(|p| b.contains(*p)).count() as u64;
        let mut moves: Vec<(Ipv6Net, BindingStatus, u32)> = Vec::new();
        for (i, pool) in self.prefix_pools.iter().enumerate() {
            let plan = pool.plan_rebalance(&used_in, trigger);
            let _ = i;
            let subnet_id = self
                .dhcp
                .config()
                .subnets
                .iter()
                .find(|s| s.pd_pools.iter().any(|p| p.prefix.contains(&pool.parent())))
                .map_or(0, |s| s.id);
            moves.extend(
                plan.give_to_secondary
                    .iter()
                    .map(|b| (*b, BindingStatus::FreeBackup, subnet_id)),
            );
            moves.extend(
                plan.take_back
                    .iter()
                    .map(|b| (*b, BindingStatus::Free, subnet_id)),
            );
        }
        if moves.is_empty() {
            return;
        }
        for (block, status, subnet_id) in moves {
            if status == BindingStatus::FreeBackup {
                for pool in self.prefix_pools.iter_mut() {
                    if pool.parent().contains(&block) {
                        let _ = pool.set_owner(block, Role::Secondary);
                    }
                }
            }
            let record = Lease {
                resource: Resource::Prefix(block),
                status,
                duid: Duid::default(),
                hw_address: Vec::new(),
                iaid: 0,
                subnet_id,
                preferred_lifetime: 0,
                valid_lifetime: 0,
                t1: 0,
                t2: 0,
                cltt: Time::ZERO,
                start_time_of_state: now,
                state_expiration: None,
                failover: FailoverFields {
                    update_pending: true,
                    ..FailoverFields::default()
                },
            };
            self.outbox.enqueue(UpdateKey::Prefix(block));
            self.store(record);
        }
        self.refresh_policy();
    }
}
