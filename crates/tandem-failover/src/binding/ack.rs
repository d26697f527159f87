//! Processing a received BNDREPLY (RFC 8156 §7.7).

use tandem_core::{BindingStatus, Lease, LeaseChange, Resource, Time};

use super::lifecycle::{settle, LeaseEvent};
use crate::outbox::UpdateKey;
use crate::update::{BindingReply, BindingUpdate, FailoverStatus, LeaseUpdate, RejectReason};

/// What a BNDREPLY changed locally.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyOutcome {
    pub changes: Vec<LeaseChange>,
    /// Leases the partner rejected, with its reason. Nothing changes locally (§7.7): they keep
    /// update_pending; [`resend_may_succeed`] says whether the periodic scan sends them again
    /// or they wait for a new connection (log them either way).
    pub rejected: Vec<(Resource, RejectReason)>,
    /// Leases in the reply that were not in the update we sent (ignored; log-worthy).
    pub unexpected: Vec<Resource>,
    /// Leases that just settled into FREE/FREE-BACKUP: the partner still holds them as
    /// EXPIRED/RELEASED/RESET and cannot allocate them until told, so they are marked
    /// update_pending and their BNDUPD keys must be queued (`Outbox::enqueue`).
    pub follow_up: Vec<UpdateKey>,
}

/// Whether the same update, sent again later on this connection, may be accepted.
///
/// RFC 8156 §7.5.4 rejects with OutdatedBindingInformation when the partner's record is
/// newer or its lease still runs (time(1)), and with AddressInUse when it holds the lease
/// for another client: both depend on lease state that moves on (the partner's lease ends,
/// its own update reaches us), so the periodic scan retries them and the side with the
/// newest information ends up accepted. The other reasons describe the configuration
/// (ConfigurationConflict), our message (MissingBindingInformation), the partner's
/// abilities (DNSUpdateNotSupported) or its condition (ServerShuttingDown,
/// ExcessiveTimeSkew, anything unknown): the same data would be rejected the same way until
/// something changes on a new connection.
pub fn resend_may_succeed(reason: RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::Failover(
            FailoverStatus::OutdatedBindingInformation | FailoverStatus::AddressInUse
        )
    )
}

/// The local lease still holds exactly the state that was sent (nothing changed meanwhile).
fn unchanged_since_sent(lease: &Lease, sent: &LeaseUpdate) -> bool {
    lease.status == sent.status
        && lease.start_time_of_state == sent.start_time_of_state
        && lease.state_expiration == sent.state_expiration
        && (sent.partner_lifetime.is_none()
            || lease.failover.partner_lifetime.is_none()
            || lease.failover.partner_lifetime == sent.partner_lifetime)
}

/// Apply a BNDREPLY to the update it answers (matched by xid by the outbox).
///
/// For each accepted lease: acked-partner-lifetime ← max(old, PARTNER_LIFETIME_SENT)
/// (§7.3: "greatest ever acked"); if the lease did not change since the update was sent,
/// partner-lifetime is cleared ("nothing more to send") and update_pending is cleared;
/// EXPIRED/RELEASED/RESET then move PENDING-FREE → FREE/FREE-BACKUP (§7.2 event 4–6) and
/// are queued again so the partner learns the new status (`follow_up`).
/// A lease changed meanwhile stays pending: the newer state still has to be sent.
pub fn process_reply<L>(
    sent: &BindingUpdate,
    reply: &BindingReply,
    lookup: &L,
    now: Time,
) -> ReplyOutcome
where
    L: Fn(&Resource) -> Option<Lease>,
{
    let mut out = ReplyOutcome::default();
    let sent_leases = sent.leases();
    for (resource, lr, reject) in reply.verdicts() {
        let Some((_, sent_lease)) = sent_leases.iter().find(|(_, l)| l.resource == resource) else {
            out.unexpected.push(resource);
            continue;
        };
        if let Some(reason) = reject {
            out.rejected.push((resource, reason));
            continue;
        }
        let Some(mut lease) = lookup(&resource) else {
            continue; // forgotten locally meanwhile: nothing to record
        };
        let before = lease.clone();
        if let Some(pls) = lr.partner_lifetime_sent {
            let acked = lease.failover.acked_partner_lifetime;
            lease.failover.acked_partner_lifetime = Some(acked.map_or(pls, |a| a.max(pls)));
        }
        if unchanged_since_sent(&lease, sent_lease) {
            lease.failover.update_pending = false;
            lease.failover.partner_lifetime = None;
            if matches!(
                lease.status,
                BindingStatus::Expired | BindingStatus::Released | BindingStatus::Reset
            ) {
                if let Ok(dest) = settle(lease.status, LeaseEvent::PartnerAcked, &lease.resource) {
                    lease.status = dest;
                    lease.start_time_of_state = now;
                    lease.state_expiration = None;
                    // Tell the partner the lease is available again (and to whom), so the
                    // pool owner can use it (RFC 8156 §7.2 events 5/6; not spelled out in §7.7).
                    lease.failover.update_pending = true;
                    if let Some(k) = UpdateKey::for_lease(sent.protocol(), &lease) {
                        if !out.follow_up.contains(&k) {
                            out.follow_up.push(k);
                        }
                    }
                }
            }
        }
        if lease != before {
            out.changes.push(LeaseChange::Upsert(lease));
        }
    }
    out
}
