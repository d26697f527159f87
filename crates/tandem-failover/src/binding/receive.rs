//! Receiving a BNDUPD (RFC 8156 §7.5): shape, scope, the accept/reject
//! table of Figure 4, the update-pending side effects, storing (§7.5.5) and the BNDREPLY (§7.6).

use ipnet::Ipv6Net;
use tandem_core::{
    BindingStatus, Duid, FailoverFields, IaType, Lease, LeaseChange, Resource, Time,
};

use super::{clearly_later, same_time};
use crate::types::Role;
use crate::update::{
    BindingReply, BindingUpdate, FailoverStatus, IaReply, IaUpdate, LeaseReply, LeaseUpdate,
    RejectReason,
};

/// Which resources belong to this failover relationship (§6.2, §7.5.4) and where they live.
pub trait RelationshipScope {
    /// The configured subnet a resource belongs to, if it belongs to this relationship.
    fn subnet_of(&self, resource: &Resource) -> Option<u32>;

    /// Whether some prefix *inside* `block` (but not `block` itself) is delegated to a client
    /// at `now`. A FREE take-back of a whole block must then be refused (§4.2.2: "the
    /// secondary MUST reject that BNDUPD if it has already allocated that lease"), exactly
    /// as Figure 4's time(1) would refuse it for the delegated prefix itself.
    fn delegated_within(&self, _block: &Ipv6Net, _now: Time) -> bool {
        false
    }
}

impl<F: Fn(&Resource) -> Option<u32>> RelationshipScope for F {
    fn subnet_of(&self, resource: &Resource) -> Option<u32> {
        self(resource)
    }
}

/// The rule of one cell of Figure 4.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConflictRule {
    /// accept iff the update time is clearly later than the local time.
    Accept,
    /// time(1): accept iff now is past the local state-expiration-time.
    Time1,
    /// time(2): accept iff the update's CLT_TIME is clearly later than local start-time-of-state.
    Time2,
    /// accept(3): same client → accept; else time(2) or we are the secondary → accept;
    /// else AddressInUse.
    Accept3,
}

/// The rule for (local status, received status), §7.5.4 Figure 4. PENDING-FREE is a
/// transient state (§7.2) and is treated like FREE in both dimensions.
pub fn conflict_rule(local: BindingStatus, received: BindingStatus) -> ConflictRule {
    use BindingStatus::*;
    match (local, received) {
        (Active, Active) => ConflictRule::Accept3,
        (Active, Expired) => ConflictRule::Time1,
        (Active, Free | FreeBackup | PendingFree) => ConflictRule::Time1,
        (Reset, Active) => ConflictRule::Time2,
        _ => ConflictRule::Accept,
    }
}

/// Tie-break for the "accept" rule when both times are the same within ±5 s (RFC 8156
/// §7.5.4 leaves it open). Accept when the received status is the local one or its direct
/// successor in the §7.2 lease state machine; reject otherwise.
///
/// Why not "always reject": the sender settles EXPIRED → FREE/FREE-BACKUP the moment the
/// ack arrives, usually within a second of the EXPIRED update, and tells the partner; with
/// a plain reject that follow-up would lose the tie forever and the pool owner could never
/// reuse the lease. Why not "always accept": an older status arriving late (e.g. EXPIRED
/// after the local FREE) must not move a lease backwards.
pub fn tie_accepts(local: BindingStatus, received: BindingStatus) -> bool {
    use BindingStatus::*;
    local == received
        || matches!(
            (local, received),
            (Free | FreeBackup, Active)
                | (Active, Expired | Released | Abandoned)
                | (Expired | Released | Reset, PendingFree | Free | FreeBackup)
                | (Free, FreeBackup)
                | (FreeBackup, Free)
                | (Abandoned, Reset)
        )
}

/// Outcome for one lease.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject(FailoverStatus),
}

/// "Update time" (§7.5.4): for ACTIVE/EXPIRED/RELEASED the CLT_TIME if present, else the
/// start-time-of-state; for the rest the later of the two.
pub fn update_time(upd: &LeaseUpdate) -> Time {
    use BindingStatus::*;
    match upd.status {
        Active | Expired | Released => upd.cltt.unwrap_or(upd.start_time_of_state),
        _ => upd
            .cltt
            .map_or(upd.start_time_of_state, |c| c.max(upd.start_time_of_state)),
    }
}

/// "Local time" (§7.5.4): client-last-transaction-time if there is one, else start-time-of-state.
/// The lease model stores cltt = 0 for "never talked to a client"; for a record learnt from
/// the partner the client-last-transaction-time known here is the partner's (as it
/// reported it), not the moment the lease lapsed here from that data (tandem-sim seed 27).
pub fn local_time(lease: &Lease) -> Time {
    if lease.cltt != Time::ZERO {
        lease.cltt
    } else if let Some(partners) = lease.failover.partner_raw_cltt {
        partners
    } else {
        lease.start_time_of_state
    }
}

/// Accept or reject one received lease against the local record (§7.5.4).
///
/// Ties (times within ±5 s) under the "accept" rule follow [`tie_accepts`]; everything else
/// that is not clearly later is rejected with OutdatedBindingInformation.
pub fn decide(
    local: Option<&Lease>,
    upd: &LeaseUpdate,
    upd_client: Option<&Duid>,
    role: Role,
    now: Time,
) -> Verdict {
    let Some(local) = local else {
        return Verdict::Accept; // nothing to conflict with
    };
    // The update says what we already hold (typically the partner echoing a state it
    // accepted from us inside a whole-client BNDUPD): accept it whatever its times say.
    // Rejecting it as outdated made the two servers re-send one client to each other
    // without end (found by tandem-sim seed 17907).
    let same_client = upd_client.map_or(local.duid.is_empty(), |d| *d == local.duid);
    if same_client && local.status == upd.status && local.state_expiration == upd.state_expiration {
        return Verdict::Accept;
    }
    let outdated = Verdict::Reject(FailoverStatus::OutdatedBindingInformation);
    let time2 = upd
        .cltt
        .is_some_and(|c| clearly_later(c, local.start_time_of_state));
    let ok = |b: bool| if b { Verdict::Accept } else { outdated };
    match conflict_rule(local.status, upd.status) {
        ConflictRule::Accept => {
            let (u, l) = (update_time(upd), local_time(local));
            // In a tie, a RELEASED/ABANDONED never ends an ACTIVE lease that is (by the raw
            // clocks) newer: the client may have released at the partner and then bound
            // again here a moment later (found by tandem-sim seed 1812). Keeping the lease
            // costs only address space until it expires; dropping it could hand it out twice.
            let newer_active_wins = local.status == BindingStatus::Active
                && matches!(
                    upd.status,
                    BindingStatus::Released | BindingStatus::Abandoned
                )
                && u < l;
            ok(clearly_later(u, l)
                || (same_time(u, l) && tie_accepts(local.status, upd.status) && !newer_active_wins))
        }
        // Same clock on both sides of the comparison: no fuzz. Expired from its end second
        // on, as Lease::is_active_at has it (and as ISC dhcpd 4.4 sends EXPIRED).
        ConflictRule::Time1 => ok(local.state_expiration.is_some_and(|end| now >= end)),
        ConflictRule::Time2 => ok(time2),
        ConflictRule::Accept3 => {
            let same_client = upd_client.is_some_and(|d| !d.is_empty() && *d == local.duid);
            // Same client, but our record is clearly newer (the client renewed with us after
            // the partner's last contact, e.g. during a partition): accepting would shorten
            // a lease the client was told of. Figure 4 says accept; we reject as outdated
            // and our newer update goes the other way (a tandem decision: §7.5.4 is silent here).
            if same_client && clearly_later(local_time(local), update_time(upd)) {
                return outdated;
            }
            // Another client's binding that has already run out is no live conflict: it
            // never ends the live lease here (tandem-sim seed 1053, tandem decision).
            let run_out = upd.state_expiration.is_some_and(|end| end <= now);
            if !same_client && run_out && local.is_active_at(now) {
                return outdated;
            }
            if same_client || time2 || role == Role::Secondary {
                Verdict::Accept
            } else {
                Verdict::Reject(FailoverStatus::AddressInUse)
            }
        }
    }
}

/// A live binding of one client that an accepted update gave to another (§7.5.4
/// accept(3)): the lease was held twice, and the client here is about to lose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Displaced {
    pub resource: Resource,
    pub client: Duid,
    pub until: Option<Time>,
    pub by: Duid,
}

/// Result of processing one BNDUPD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedUpdate {
    /// Changes to persist (accepted data; update-pending flags set by Outdated rejections).
    pub changes: Vec<LeaseChange>,
    /// The BNDREPLY content. §7.5.2: send it only after `changes` are durable.
    pub reply: BindingReply,
    /// Always true when `changes` is non-empty: the reply waits for the commit.
    pub send_reply_after_persist: bool,
    /// Leases rejected as outdated whose update-pending flag was clear before: an update MAY
    /// be sent right away (after the BNDREPLY). Leases whose flag was already set wait for
    /// the periodic scan (§7.5.4 storm prevention).
    pub resend_now: Vec<Resource>,
    /// Live bindings of other clients this update replaced (a double assignment found).
    pub displaced: Vec<Displaced>,
}

fn reply_for(upd: &LeaseUpdate, reject: Option<FailoverStatus>) -> LeaseReply {
    LeaseReply {
        resource: upd.resource,
        reject: reject.map(RejectReason::from),
        binding_status: upd.status,
        state_expiration: upd.state_expiration,
        partner_lifetime_sent: upd.partner_lifetime,
    }
}

/// Who a received lease belongs to, as the update carries it.
#[derive(Clone, Copy)]
enum Holder<'a> {
    /// A top-level IAPREFIX (RFC 8156 §7.4), or a DHCPv4 address with no client.
    None,
    /// An IAADDR / IAPREFIX inside a client's IA (RFC 8156 §7.4).
    Ia { duid: &'a Duid, ia: &'a IaUpdate },
    /// A DHCPv4 client (draft-ietf-dhc-failover-12 §7.1): its key and hardware address.
    V4 {
        client: &'a Duid,
        hw_address: &'a [u8],
    },
}

/// Per-lease shape check (§7.4, §7.5.3): the timeout fields come as a set, and the resource
/// kind fits where it sits: an address in IA_NA/IA_TA, a prefix in IA_PD or top level, a
/// DHCPv4 address in a draft-12 binding only (RFC 8156 is DHCPv6 only, §1).
fn lease_shape_ok(upd: &LeaseUpdate, holder: Holder, draft12: bool) -> bool {
    let ia_type = match holder {
        Holder::Ia { ia, .. } => Some(ia.ia_type),
        Holder::None | Holder::V4 { .. } => None,
    };
    let kind_ok = match upd.resource {
        Resource::V4Address(_) => draft12,
        _ if draft12 => false,
        r => matches!(
            (ia_type, r),
            (Some(IaType::Na | IaType::Ta), Resource::Address(_))
                | (Some(IaType::Pd) | None, Resource::Prefix(_))
        ),
    };
    let timed = upd.state_expiration.is_some();
    // A timed status must say how long the partner may consider it (PARTNER_LIFETIME).
    let star_ok = !timed || upd.partner_lifetime.is_some();
    // ACTIVE always has a timeout (§7.2).
    let active_ok = upd.status != BindingStatus::Active || timed;
    kind_ok && star_ok && active_ok && upd.status != BindingStatus::PendingFree
}

/// Store an accepted lease (§7.5.5 and the §7.8 flow table).
fn store(
    local: Option<&Lease>,
    upd: &LeaseUpdate,
    holder: Holder,
    subnet_id: u32,
    top_level_prefix: bool,
) -> Lease {
    let old = local.cloned();
    let old_fo = old.as_ref().map(|l| l.failover.clone()).unwrap_or_default();
    let later = |new: Option<Time>, cur: Option<Time>| match (new, cur) {
        (Some(n), Some(c)) if n > c => Some(n),
        (Some(n), None) => Some(n),
        (_, c) => c,
    };
    let (duid, hw_address, iaid, t1, t2) = match holder {
        Holder::Ia { duid, ia } => (duid.clone(), Vec::new(), ia.iaid, ia.t1, ia.t2),
        Holder::V4 { client, hw_address } => (client.clone(), hw_address.to_vec(), 0, 0, 0),
        Holder::None => (Duid::default(), Vec::new(), 0, 0, 0),
    };
    let old_cltt = old.as_ref().map(|l| l.cltt).filter(|c| *c != Time::ZERO);
    let cltt = later(upd.partner_raw_cltt, old_cltt).unwrap_or(Time::ZERO);
    // Both servers granted this client the same lease at about the same time (e.g. its
    // Rebind reached both): it may hold the longer of the two grants, so an accepted
    // update never shortens a local ACTIVE lease of the same client (found by tandem-sim
    // seed 21854).
    let keep_local_end = old.as_ref().filter(|l| {
        l.status == BindingStatus::Active
            && upd.status == BindingStatus::Active
            && l.duid == duid
            && l.state_expiration > upd.state_expiration
    });
    let same_binding = old.as_ref().is_some_and(|l| {
        l.status == BindingStatus::Active && upd.status == BindingStatus::Active && l.duid == duid
    });
    let (preferred, valid, state_expiration) = match keep_local_end {
        Some(l) => (l.preferred_lifetime, l.valid_lifetime, l.state_expiration),
        None => (upd.preferred, upd.valid, upd.state_expiration),
    };
    Lease {
        resource: upd.resource,
        status: upd.status,
        duid,
        // Empty for RFC 8156 bindings, which are DHCPv6 ones.
        hw_address,
        iaid,
        subnet_id,
        preferred_lifetime: preferred,
        valid_lifetime: valid,
        t1,
        t2,
        cltt,
        start_time_of_state: upd.start_time_of_state,
        state_expiration,
        failover: FailoverFields {
            // partner's PARTNER_LIFETIME → our expiration-time; for a top-level IAPREFIX
            // only "if any" (keep the old bound otherwise, it still protects reuse).
            // It is the *largest* lifetime ever acknowledged (§7.3): for the same client's
            // binding it never falls (tandem-sim seed 250); a new binding or an available
            // lease starts from what this update says.
            expiration_time: if top_level_prefix {
                upd.partner_lifetime.or(old_fo.expiration_time)
            } else if same_binding {
                later(upd.partner_lifetime, old_fo.expiration_time)
            } else {
                upd.partner_lifetime
            },
            acked_partner_lifetime: old_fo.acked_partner_lifetime,
            partner_lifetime: later(upd.expiration_time, old_fo.partner_lifetime),
            // CLT_TIME converted with the raw base time → partner-raw-clt-time (client data only).
            partner_raw_cltt: if top_level_prefix {
                old_fo.partner_raw_cltt
            } else {
                upd.cltt
            },
            // We now hold exactly what the partner holds.
            update_pending: false,
        },
    }
}

struct Ctx<'a, S: RelationshipScope, L: Fn(&Resource) -> Option<Lease>> {
    scope: &'a S,
    lookup: &'a L,
    role: Role,
    now: Time,
    changes: Vec<LeaseChange>,
    resend_now: Vec<Resource>,
    displaced: Vec<Displaced>,
}

impl<S: RelationshipScope, L: Fn(&Resource) -> Option<Lease>> Ctx<'_, S, L> {
    /// Judge and (if accepted) store one lease; returns its rejection, if any.
    fn one(
        &mut self,
        upd: &LeaseUpdate,
        holder: Holder,
        duid: Option<&Duid>,
    ) -> Option<FailoverStatus> {
        let draft12 =
            !matches!(holder, Holder::Ia { .. }) && matches!(upd.resource, Resource::V4Address(_));
        if !lease_shape_ok(upd, holder, draft12) {
            return Some(FailoverStatus::MissingBindingInformation);
        }
        let Some(subnet_id) = self.scope.subnet_of(&upd.resource) else {
            return Some(FailoverStatus::ConfigurationConflict);
        };
        let top_level_prefix =
            matches!(holder, Holder::None) && matches!(upd.resource, Resource::Prefix(_));
        if let (true, Resource::Prefix(block)) = (top_level_prefix, upd.resource) {
            let gives_away = matches!(upd.status, BindingStatus::Free | BindingStatus::FreeBackup);
            if gives_away && self.scope.delegated_within(&block, self.now) {
                return Some(FailoverStatus::OutdatedBindingInformation);
            }
        }
        let local = (self.lookup)(&upd.resource);
        match decide(local.as_ref(), upd, duid, self.role, self.now) {
            Verdict::Accept => {
                // accept(3) resolves two live bindings of one lease in the primary's favour;
                // the client that loses it here must not lose it silently.
                if let Some(l) = local.as_ref().filter(|l| {
                    l.is_active_at(self.now)
                        && upd.status == BindingStatus::Active
                        && duid.is_some_and(|d| *d != l.duid)
                }) {
                    self.displaced.push(Displaced {
                        resource: l.resource,
                        client: l.duid.clone(),
                        until: l.state_expiration,
                        by: duid.cloned().unwrap_or_default(),
                    });
                }
                let stored = store(local.as_ref(), upd, holder, subnet_id, top_level_prefix);
                self.changes.push(LeaseChange::Upsert(stored));
                None
            }
            Verdict::Reject(code) => {
                // §7.5.4: only an Outdated rejection touches the update-pending flag.
                if code == FailoverStatus::OutdatedBindingInformation {
                    if let Some(mut l) = local {
                        if !l.failover.update_pending {
                            l.failover.update_pending = true;
                            self.resend_now.push(l.resource);
                            self.changes.push(LeaseChange::Upsert(l));
                        }
                    }
                }
                Some(code)
            }
        }
    }
}

/// Process one received BNDUPD (§7.5.3 – §7.5.5) and build its BNDREPLY (§7.6).
///
/// `lookup` returns the local lease record for a resource (None if never used). VSS is not
/// modelled yet (only the default VPN), so the VPN check of §7.5.4 cannot fail here.
pub fn receive_update<S, L>(
    update: &BindingUpdate,
    scope: &S,
    lookup: &L,
    role: Role,
    now: Time,
) -> ReceivedUpdate
where
    S: RelationshipScope,
    L: Fn(&Resource) -> Option<Lease>,
{
    let mut ctx = Ctx {
        scope,
        lookup,
        role,
        now,
        changes: Vec::new(),
        resend_now: Vec::new(),
        displaced: Vec::new(),
    };
    let reply = match update {
        BindingUpdate::Client { duid, ias, .. } => {
            // Whole-update shape (§7.4: CLIENTID MUST, at least one IA MUST, each IA has leases).
            let whole_missing =
                duid.is_empty() || ias.is_empty() || ias.iter().any(|ia| ia.leases.is_empty());
            let ia_replies = ias
                .iter()
                .map(|ia| IaReply {
                    ia_type: ia.ia_type,
                    iaid: ia.iaid,
                    reject: None,
                    leases: ia
                        .leases
                        .iter()
                        .map(|l| {
                            let reject = if whole_missing {
                                None
                            } else {
                                ctx.one(l, Holder::Ia { duid, ia }, Some(duid))
                            };
                            reply_for(l, reject)
                        })
                        .collect(),
                })
                .collect();
            BindingReply::Client {
                duid: duid.clone(),
                reject: whole_missing.then_some(FailoverStatus::MissingBindingInformation.into()),
                ias: ia_replies,
            }
        }
        BindingUpdate::Prefix { lease, .. } => {
            let reject = ctx.one(lease, Holder::None, None);
            BindingReply::Prefix {
                lease: reply_for(lease, reject),
            }
        }
        BindingUpdate::Address4 {
            client,
            hw_address,
            lease,
        } => {
            let client = (!client.is_empty()).then_some(client);
            let holder = match client {
                Some(c) => Holder::V4 {
                    client: c,
                    hw_address,
                },
                None => Holder::None,
            };
            let reject = ctx.one(lease, holder, client);
            BindingReply::Address4 {
                lease: reply_for(lease, reject),
            }
        }
    };
    let send_reply_after_persist = !ctx.changes.is_empty();
    ReceivedUpdate {
        changes: ctx.changes,
        reply,
        send_reply_after_persist,
        resend_now: ctx.resend_now,
        displaced: ctx.displaced,
    }
}
