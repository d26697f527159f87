//! The conflict probe before an offer (RFC 2131 §4.4.1: "the server SHOULD probe the
//! reused address before allocating the address, e.g., with an ICMP echo request"),
//! ISC dhcpd's `ping-check`. The core does no I/O: an [`crate::Outcome`] whose OFFER
//! needs a probe says so in [`crate::Outcome::probe`]; the driver sends the echo request,
//! holds the OFFER, and either sends it when nothing answered in time or reports the
//! answer with [`crate::DhcpServer::address_in_use`] and submits the DHCPDISCOVER again.

use std::net::Ipv4Addr;

use crate::lease::{BindingStatus, Duid, FailoverFields, Lease, LeaseChange, Resource};
use crate::time::Time;
use crate::DhcpServer;

/// "Probe this address first, then send the OFFER": what the driver must do before the
/// outcome's reply leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe4 {
    /// The address offered, to send the ICMP echo request to.
    pub address: Ipv4Addr,
    /// How long to wait for an echo reply before sending the OFFER (the subnet's
    /// `ping_timeout_ms`).
    pub timeout_ms: u32,
}

impl DhcpServer {
    /// Whether an OFFER of `addr` in subnet `subnet` (index into `subnets4`) must wait for
    /// a probe: only when the subnet asks for it, and only for an address new to the
    /// client (`clients_own` false: not its reservation, nor its current or previous
    /// binding, which it may well be using and would answer for itself).
    pub(super) fn probe_for(
        &self,
        addr: Ipv4Addr,
        subnet: usize,
        clients_own: bool,
    ) -> Option<Probe4> {
        let s = self.config.subnets4.get(subnet)?;
        (s.ping_check && !clients_own).then_some(Probe4 {
            address: addr,
            timeout_ms: s.ping_timeout_ms,
        })
    }

    /// The driver's probe found `addr` in use at `now` (a host answered the echo request):
    /// the address is quarantined exactly as a DHCPDECLINE quarantines it (RFC 2131
    /// §4.3.3: ABANDONED for `decline_quarantine`, or the subnet's lease time), and the
    /// offer held on it is forgotten, so the DHCPDISCOVER submitted again gets another.
    /// The changes are to be persisted like any other. Nothing changes when `addr` is no
    /// address of a DHCPv4 subnet or is by now some client's active binding (a stale
    /// probe must do no harm).
    pub fn address_in_use(&mut self, now: Time, addr: Ipv4Addr) -> Vec<LeaseChange> {
        let Some(subnet) = self.config.subnets4.iter().position(|s| {
            s.subnet.contains(&addr) && addr != s.subnet.network() && addr != s.subnet.broadcast()
        }) else {
            return Vec::new();
        };
        let r = Resource::V4Address(addr);
        if self.leases.get(&r).is_some_and(|l| l.is_active_at(now)) {
            return Vec::new();
        }
        self.forget_offer(&r);
        self.ping_conflicts += 1;
        self.quarantine4(addr, Some(subnet), now)
    }

    /// Conflicts the driver's probes found so far ([`Self::address_in_use`]).
    pub fn ping_conflicts(&self) -> u64 {
        self.ping_conflicts
    }

    /// Takes `addr` out of use for a while: ABANDONED until `decline_quarantine` (or the
    /// lease time of `subnet`) has passed. The one quarantine of DHCPv4, for a
    /// DHCPDECLINE and for a probe that was answered. An address with no record yet
    /// gets one, with no client.
    pub(super) fn quarantine4(
        &mut self,
        addr: Ipv4Addr,
        subnet: Option<usize>,
        now: Time,
    ) -> Vec<LeaseChange> {
        let subnet = subnet.and_then(|i| self.config.subnets4.get(i));
        let quarantine = self
            .config
            .decline_quarantine
            .unwrap_or_else(|| subnet.map_or(0, |s| s.lease_time));
        let subnet_id = subnet.map_or(0, |s| s.id);
        let r = Resource::V4Address(addr);
        if self.leases.get(&r).is_none() {
            self.put(Lease {
                resource: r,
                status: BindingStatus::Abandoned,
                duid: Duid(Vec::new()),
                hw_address: Vec::new(),
                iaid: 0,
                subnet_id,
                preferred_lifetime: 0,
                valid_lifetime: 0,
                t1: 0,
                t2: 0,
                cltt: now,
                start_time_of_state: now,
                state_expiration: None,
                failover: FailoverFields::default(),
            });
        }
        let until = now.plus_lifetime(quarantine);
        self.end_binding(&r, BindingStatus::Abandoned, until, now)
            .into_iter()
            .collect()
    }
}
