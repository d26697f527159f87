//! The hook failover plugs into: who may allocate what, for how long, and whom to answer.

use crate::alloc::{PoolSpace, Region};
use crate::lease::{Lease, Resource};
use crate::time::Time;

/// Consulted by [`super::DhcpServer`] on every decision failover constrains (RFC 8156 §4, §5.3).
///
/// The default methods describe a stand-alone server: answer everything, allocate
/// anything, cap nothing.
pub trait LeasePolicy: Send {
    /// Whether to answer a client message of `msg_type` at all. `names_this_server` is
    /// true when it carries this server's DUID in OPTION_SERVERID (a secondary in
    /// NORMAL answers only those, RFC 8156 §3).
    fn should_answer(&self, msg_type: u8, names_this_server: bool) -> bool {
        let _ = (msg_type, names_this_server);
        true
    }

    /// DHCPv4: whether to answer a client message of `msg_type` (option 53, RFC 2132
    /// §9.6) at all. `lb_key` is the client's load-balancing key (RFC 3074 §3: the client
    /// identifier, else chaddr) and `secs` the header's seconds since the client began
    /// (RFC 2131 §2). A message naming another server is never asked about.
    fn should_answer4(&self, msg_type: u8, lb_key: &[u8], secs: u16) -> bool {
        let _ = (msg_type, lb_key, secs);
        true
    }

    /// Whether this server may hand out `resource` to a client that does not hold it yet
    /// (address parity / prefix ownership, RFC 8156 §4.2.1). Renewals of a client's own
    /// binding are not asked. `existing` is the record for the resource, if any (e.g.
    /// FREE vs FREE-BACKUP for prefixes, an EXPIRED lease of another client).
    fn may_allocate(&self, resource: &Resource, existing: Option<&Lease>, now: Time) -> bool {
        let _ = (resource, existing, now);
        true
    }

    /// Where in a pool to look for new resources, best first: every resource of
    /// `ranks[0]` is tried before any of `ranks[1]` (RFC 8156 §8.4.1: a server in
    /// PARTNER-DOWN uses up its own pool before its partner's), client hints included.
    /// Resources outside every rank are never allocated; those inside are still subject to
    /// [`LeasePolicy::may_allocate`].
    fn allocation_ranks(&self, space: PoolSpace, now: Time) -> Vec<Vec<Region>> {
        let _ = (space, now);
        vec![vec![Region::Whole]]
    }

    /// A client asks for `resource`, which this server holds no binding for: it lists it in
    /// a Renew or Rebind (RFC 8415 §18.3.4, §18.3.5 let a server create the binding), or it
    /// is the client's own lapsed lease, to be given back. `existing` is no record, an
    /// available one, or this client's own EXPIRED/RELEASED one; the resource is already
    /// known to be right for the link and held by no other client here. A stand-alone
    /// server gives a client its own lapsed lease back (affinity) and adopts nothing else:
    /// every binding it made is in its own records, so the client is told to stop using
    /// what it claims and asks again.
    fn may_adopt(&self, resource: &Resource, existing: Option<&Lease>, now: Time) -> bool {
        let _ = (resource, now);
        existing.is_some()
    }

    /// The valid lifetime actually granted for `resource` at `now`, at most `proposed`
    /// (MCLT limit, RFC 8156 §4.4). `existing` is this client's ACTIVE binding of the
    /// resource before this grant, if it has one (its acknowledged partner lifetime raises
    /// the limit); a new binding has none. The preferred lifetime
    /// and T1/T2 shrink to fit.
    fn cap_valid_lifetime(
        &self,
        resource: &Resource,
        existing: Option<&Lease>,
        proposed: u32,
        now: Time,
    ) -> u32 {
        let _ = (resource, existing, now);
        proposed
    }

    /// Whether lapsed records (EXPIRED, RELEASED, quarantined ABANDONED) must be kept until
    /// someone else frees them. A stand-alone server forgets them after the affinity time;
    /// under failover they wait for the partner's acknowledgement (RFC 8156 §7.2), so
    /// `reclaim_expired` gives them no timeout and turns an ABANDONED lease whose
    /// quarantine ended into RESET instead of deleting it.
    fn keeps_lapsed_leases(&self) -> bool {
        false
    }
}

/// A server without a partner.
#[derive(Clone, Copy, Debug, Default)]
pub struct Standalone;

impl LeasePolicy for Standalone {}
