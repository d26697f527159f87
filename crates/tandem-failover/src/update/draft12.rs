//! draft-ietf-dhc-failover-12 binding messages (§7.1 BNDUPD, §7.2 BNDACK) as ISC dhcpd 4.4
//! sends and checks them, read into and written from the same [`BindingUpdate`] /
//! [`BindingReply`] the RFC 8156 path uses, so both protocols share the receive rules
//! (`binding::receive`) and the reply bookkeeping (`binding::ack`).
//!
//! One draft-12 BNDUPD carries one address ([`BindingUpdate::Address4`]). Its fields map
//! onto the lease model as follows (dhcpd's lease-file names in brackets):
//!
//! | option | lease model |
//! |---|---|
//! | 2 assigned-IP | `resource` (`Resource::V4Address`) |
//! | 3 binding-status | `status` (BACKUP = FREE-BACKUP; tandem's local PENDING-FREE goes out as EXPIRED) |
//! | 4 client-identifier, 5 chaddr | `duid` (option 61, else htype + chaddr, as RFC 2131 §4.2 keys a client), `hw_address` |
//! | 13 lease-expiration [ends] | `state_expiration` of an ACTIVE lease |
//! | 18 potential-expiration [tstp] | the partner lifetime: what the sender wants acked (§7.1.1) |
//! | 25 start-time-of-state [starts] | `start_time_of_state` (dhcpd sends the lease's start, not the state's) |
//! | 6 CLTT [cltt] | `cltt` |
//!
//! Times are seconds since 1970 in 32 bits (§6.1); 0 is "none" and all ones "never".

use tandem_core::{BindingStatus, Duid, Lease, Resource, Time};
use tandem_wire::dhcpfo::{self, BndAck, RejectReason as Reason};

use super::{BindingReply, BindingUpdate, FailoverStatus, LeaseReply, LeaseUpdate, RejectReason};

/// Longest client-hardware-address dhcpd accepts: the type byte and 16 bytes of chaddr
/// (RFC 2131 §2).
const MAX_CHADDR: usize = 17;

/// Why a received BNDUPD cannot be read, answered in its BNDACK with dhcpd's reason and
/// message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingRefusal {
    pub reason: Reason,
    pub message: String,
}

impl BindingRefusal {
    fn new(reason: Reason, message: impl Into<String>) -> Self {
        BindingRefusal {
            reason,
            message: message.into(),
        }
    }
}

fn time(t: Option<u32>) -> Option<Time> {
    match t {
        None | Some(0) => None,
        Some(u32::MAX) => Some(Time::NEVER),
        Some(t) => Some(Time(u64::from(t))),
    }
}

fn secs(t: Option<Time>) -> u32 {
    match t {
        None => 0,
        Some(t) if t == Time::NEVER => u32::MAX,
        Some(t) => u32::try_from(t.as_secs()).unwrap_or(u32::MAX - 1),
    }
}

fn status_from_wire(s: dhcpfo::BindingStatus) -> Option<BindingStatus> {
    use dhcpfo::BindingStatus as W;
    Some(match s {
        W::FREE => BindingStatus::Free,
        W::ACTIVE => BindingStatus::Active,
        W::EXPIRED => BindingStatus::Expired,
        W::RELEASED => BindingStatus::Released,
        W::ABANDONED => BindingStatus::Abandoned,
        W::RESET => BindingStatus::Reset,
        // The secondary's free pool (§5.4): RFC 8156's FREE-BACKUP.
        W::BACKUP => BindingStatus::FreeBackup,
        _ => return None,
    })
}

fn status_to_wire(s: BindingStatus) -> dhcpfo::BindingStatus {
    use dhcpfo::BindingStatus as W;
    match s {
        BindingStatus::Free => W::FREE,
        BindingStatus::Active => W::ACTIVE,
        BindingStatus::Expired => W::EXPIRED,
        BindingStatus::Released => W::RELEASED,
        BindingStatus::Abandoned => W::ABANDONED,
        BindingStatus::Reset => W::RESET,
        BindingStatus::FreeBackup => W::BACKUP,
        // draft-12 has no PENDING-FREE: a lease waiting for the partner's ack before it
        // may be free again is EXPIRED there, and becomes FREE after the BNDACK (§5.3).
        BindingStatus::PendingFree => W::EXPIRED,
    }
}

/// Reads a received BNDUPD's binding, with ISC dhcpd 4.4's checks: assigned-IP and
/// binding-status present (reason 3, "lacks required options"), a client-hardware-address
/// for ACTIVE, EXPIRED and RELEASED (3, "BNDUPD without CHADDR"), chaddr at most 17 bytes
/// (6). An undefined binding status is refused as dhcpd refuses an invalid transition (2).
pub fn update_from_binding(b: &dhcpfo::Binding) -> Result<BindingUpdate, BindingRefusal> {
    let (Some(ip), Some(raw_status)) = (b.assigned_ip, b.binding_status) else {
        return Err(BindingRefusal::new(
            Reason::MISSING_BINDINFO,
            "BNDUPD lacks required options (assigned IP address and binding status)",
        ));
    };
    let status = status_from_wire(raw_status).ok_or_else(|| {
        BindingRefusal::new(
            Reason::FATAL_CONFLICT,
            format!("{ip}: invalid binding status {}", raw_status.0),
        )
    })?;
    let hw_address = b.chaddr.clone().unwrap_or_default();
    if hw_address.len() > MAX_CHADDR {
        return Err(BindingRefusal::new(
            Reason::MISC_REJECT,
            format!("{ip}: chaddr too long ({} bytes)", hw_address.len()),
        ));
    }
    let bound = matches!(
        status,
        BindingStatus::Active | BindingStatus::Expired | BindingStatus::Released
    );
    if bound && hw_address.is_empty() {
        return Err(BindingRefusal::new(
            Reason::MISSING_BINDINFO,
            format!("{ip}: BNDUPD without CHADDR"),
        ));
    }
    let ends = time(b.lease_expiration);
    let start = time(b.start_time_of_state).unwrap_or(Time::ZERO);
    let state_expiration = match status {
        BindingStatus::Active => Some(ends.ok_or_else(|| {
            BindingRefusal::new(
                Reason::MISSING_BINDINFO,
                format!("{ip}: ACTIVE binding without a lease expiration time"),
            )
        })?),
        _ => None,
    };
    // The lease length as granted, for the record: dhcpd sends no lifetime, only its ends.
    let granted = state_expiration
        .filter(|e| *e != Time::NEVER)
        .map_or(0, |e| {
            u32::try_from(e.as_secs().saturating_sub(start.as_secs())).unwrap_or(u32::MAX)
        });
    let client = match &b.client_id {
        Some(id) if !id.is_empty() => Duid(id.clone()),
        _ => Duid(hw_address.clone()),
    };
    let cltt = time(b.cltt);
    Ok(BindingUpdate::Address4 {
        client,
        hw_address,
        lease: LeaseUpdate {
            resource: Resource::V4Address(ip),
            preferred: granted,
            valid: granted,
            status,
            start_time_of_state: start,
            state_expiration,
            cltt,
            // tstp bounds what we may do with the lease whatever its state (dhcpd lets a
            // FREE or BACKUP lease move only after it, A.8 of its rules): kept for all.
            partner_lifetime: time(b.potential_expiration),
            partner_raw_cltt: None,
            expiration_time: None,
        },
    })
}

/// The BNDUPD binding for an [`BindingUpdate::Address4`], in the option order ISC dhcpd
/// 4.4 sends (`[2 3 4 5 13 18 25 6]`, the codec's order). The client-identifier goes out
/// only when the client key is not its hardware address (a client that sent option 61 with
/// exactly its htype and chaddr, RFC 2132 §9.14, is then keyed by chaddr at the partner,
/// which names the same client). None for the RFC 8156 forms.
pub fn binding_from_update(u: &BindingUpdate) -> Option<dhcpfo::Binding> {
    let BindingUpdate::Address4 {
        client,
        hw_address,
        lease,
    } = u
    else {
        return None;
    };
    let Resource::V4Address(ip) = lease.resource else {
        return None;
    };
    Some(dhcpfo::Binding {
        assigned_ip: Some(ip),
        binding_status: Some(status_to_wire(lease.status)),
        client_id: (!client.is_empty() && client.0 != *hw_address).then(|| client.0.clone()),
        chaddr: (!hw_address.is_empty()).then(|| hw_address.clone()),
        // dhcpd sends both always, 0 when none.
        lease_expiration: Some(secs(lease.state_expiration)),
        potential_expiration: Some(secs(lease.partner_lifetime)),
        start_time_of_state: Some(secs(Some(lease.start_time_of_state))),
        cltt: lease.cltt.map(|t| secs(Some(t))),
        ..dhcpfo::Binding::default()
    })
}

/// The update to send for one local DHCPv4 lease. None for a DHCPv6 lease.
pub fn update_from_lease(lease: &Lease) -> Option<BindingUpdate> {
    if !lease.is_v4() {
        return None;
    }
    let mut upd = super::lease_update_from(lease);
    // The partner bounds reuse by tstp whatever the state (see above): send ours always.
    upd.partner_lifetime = lease.failover.partner_lifetime.or(lease.state_expiration);
    Some(BindingUpdate::Address4 {
        client: lease.duid.clone(),
        hw_address: lease.hw_address.clone(),
        lease: upd,
    })
}

fn reason_for(r: RejectReason) -> Reason {
    match r {
        RejectReason::Failover(FailoverStatus::OutdatedBindingInformation) => {
            Reason::OUTDATED_BIND_INFO
        }
        RejectReason::Failover(FailoverStatus::AddressInUse) => Reason::FATAL_CONFLICT,
        RejectReason::Failover(FailoverStatus::MissingBindingInformation) => {
            Reason::MISSING_BINDINFO
        }
        // Not in a range this relationship covers (§12.21 reason 1).
        RejectReason::Failover(FailoverStatus::ConfigurationConflict) => Reason::ILLEGAL_IP_ADDR,
        _ => Reason::MISC_REJECT,
    }
}

fn reason_from(r: Reason) -> RejectReason {
    match r {
        // dhcpd's "less critical than outgoing update" (dueling updates) and the draft's
        // outdated: our record stays, and ours goes the other way.
        Reason::OUTDATED_BIND_INFO | Reason::LESS_CRIT_BIND_INFO => {
            FailoverStatus::OutdatedBindingInformation.into()
        }
        Reason::FATAL_CONFLICT => FailoverStatus::AddressInUse.into(),
        Reason::MISSING_BINDINFO => FailoverStatus::MissingBindingInformation.into(),
        Reason::ILLEGAL_IP_ADDR => FailoverStatus::ConfigurationConflict.into(),
        other => RejectReason::Other(u16::from(other.0)),
    }
}

/// The BNDACK for a reply to an [`BindingUpdate::Address4`]: as ISC dhcpd 4.4 sends it,
/// the assigned-IP only, plus reject-reason and message on a refusal. (dhcpd misreads a
/// BNDACK that also carries the client-identifier: it takes the absent potential expiry
/// as acked, so nothing else is sent.)
pub fn bndack_from_reply(reply: &BindingReply) -> Option<BndAck> {
    let BindingReply::Address4 { lease } = reply else {
        return None;
    };
    let Resource::V4Address(ip) = lease.resource else {
        return None;
    };
    let mut ack = BndAck::accept(ip);
    if let Some(r) = lease.reject {
        let reason = reason_for(r);
        ack.reject_reason = Some(reason);
        ack.message =
            Some(format!("{ip}: {}", reason.name().unwrap_or("update refused")).into_bytes());
    }
    Some(ack)
}

/// A refusal of a binding we could not read at all.
pub fn bndack_refusing(b: &dhcpfo::Binding, r: &BindingRefusal) -> BndAck {
    BndAck {
        binding: dhcpfo::Binding {
            assigned_ip: b.assigned_ip,
            ..dhcpfo::Binding::default()
        },
        reject_reason: Some(r.reason),
        message: Some(r.message.clone().into_bytes()),
    }
}

/// Reads a BNDACK as the reply to `sent`, the update with its xid: draft-12's BNDACK does
/// not echo the binding (§7.2; dhcpd sends the address only), so what was acked is what
/// was sent. None if the BNDACK names another address than `sent`.
pub fn reply_from_bndack(ack: &BndAck, sent: &BindingUpdate) -> Option<BindingReply> {
    let BindingUpdate::Address4 { lease, .. } = sent else {
        return None;
    };
    if ack
        .binding
        .assigned_ip
        .is_some_and(|ip| Resource::V4Address(ip) != lease.resource)
    {
        return None;
    }
    Some(BindingReply::Address4 {
        lease: LeaseReply {
            resource: lease.resource,
            reject: ack.reject_reason.map(reason_from),
            binding_status: lease.status,
            state_expiration: lease.state_expiration,
            partner_lifetime_sent: lease.partner_lifetime,
        },
    })
}

#[cfg(test)]
mod tests;
