//! The DHCPOFFERs held while their address is probed (RFC 2131 §4.4.1: "the server
//! SHOULD probe the reused address before allocating the address, e.g., with an ICMP
//! echo request"; ISC dhcpd's `ping-check`). No I/O: the runner keeps this table, the
//! driver sends the echo requests and reports the replies.
//!
//! Each probe holds the OFFER to send when no reply came in time, and the DHCPDISCOVER
//! to submit again when one did. Deadlines are in the driver's monotonic milliseconds
//! ([`Millis`]): a probe lasts a fraction of a second, finer than the core's clock.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use tandem_core::Duid;
use tandem_net::{RecvMeta4, SendMeta4};

/// Probes in flight at most; a DHCPDISCOVER that would need one more is dropped (the
/// client retransmits, RFC 2131 §4.1) rather than offered an unprobed address.
pub const MAX_PROBES_IN_FLIGHT: usize = 1024;

/// Milliseconds of the driver's monotonic clock (from any origin, never stepping).
pub type Millis = u64;

/// One probe's held messages.
#[derive(Debug)]
pub(crate) struct Held {
    /// The OFFER, and where it goes.
    pub(crate) offer: (Vec<u8>, SendMeta4),
    /// The DHCPDISCOVER it answers, to submit again if the address is in use.
    pub(crate) discover: (Vec<u8>, RecvMeta4),
    pub(crate) client: Option<Duid>,
    pub(crate) subnet_id: Option<u32>,
    deadline: Millis,
}

/// What [`PingChecks::hold`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// A new probe: send an echo request to the address.
    Started,
    /// A probe of this address was already under way (the client asked again): the newer
    /// OFFER replaced the held one, the deadline stays.
    Joined,
    /// [`MAX_PROBES_IN_FLIGHT`] are under way: nothing held.
    Full,
}

#[derive(Debug, Default)]
pub(crate) struct PingChecks {
    by_addr: HashMap<Ipv4Addr, Held>,
    by_client: HashMap<Duid, Ipv4Addr>,
    deadlines: BTreeSet<(Millis, Ipv4Addr)>,
}

impl PingChecks {
    pub(crate) fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Holds `offer` of `addr` until its probe ends at `now + timeout_ms`. A probe of
    /// another address for the same client is cancelled and returned: that client's
    /// newer DHCPDISCOVER superseded it, and its OFFER must not go out any more.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn hold(
        &mut self,
        addr: Ipv4Addr,
        now: Millis,
        timeout_ms: u32,
        offer: (Vec<u8>, SendMeta4),
        discover: (Vec<u8>, RecvMeta4),
        client: Option<Duid>,
        subnet_id: Option<u32>,
    ) -> (Hold, Option<(Ipv4Addr, Held)>) {
        let superseded = client
            .as_ref()
            .and_then(|c| self.by_client.get(c).copied())
            .filter(|a| *a != addr)
            .and_then(|a| self.remove(a).map(|h| (a, h)));
        if let Some(h) = self.by_addr.get_mut(&addr) {
            if h.client != client {
                if let Some(c) = h.client.take() {
                    self.by_client.remove(&c);
                }
            }
            h.offer = offer;
            h.discover = discover;
            h.subnet_id = subnet_id;
            if let Some(c) = &client {
                self.by_client.insert(c.clone(), addr);
            }
            h.client = client;
            return (Hold::Joined, superseded);
        }
        if self.by_addr.len() >= MAX_PROBES_IN_FLIGHT {
            return (Hold::Full, superseded);
        }
        let deadline = now.saturating_add(u64::from(timeout_ms));
        if let Some(c) = &client {
            self.by_client.insert(c.clone(), addr);
        }
        self.deadlines.insert((deadline, addr));
        self.by_addr.insert(
            addr,
            Held {
                offer,
                discover,
                client,
                subnet_id,
                deadline,
            },
        );
        (Hold::Started, superseded)
    }

    /// The client's probe, if any, ended without its OFFER: the client moved on (it
    /// sent a DHCPREQUEST, DHCPDECLINE or DHCPRELEASE since).
    pub(crate) fn cancel_client(&mut self, client: &Duid) -> Option<(Ipv4Addr, Held)> {
        let a = self.by_client.get(client).copied()?;
        self.remove(a).map(|h| (a, h))
    }

    /// `addr` answered its probe: what it held, if it is still under way.
    pub(crate) fn answered(&mut self, addr: Ipv4Addr) -> Option<Held> {
        self.remove(addr)
    }

    /// The probes whose time is up at `now`, earliest first.
    pub(crate) fn due(&mut self, now: Millis) -> Vec<(Ipv4Addr, Held)> {
        let mut out = Vec::new();
        while let Some(&(deadline, addr)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            if let Some(h) = self.remove(addr) {
                out.push((addr, h));
            }
        }
        out
    }

    /// When the earliest probe's time is up.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    fn remove(&mut self, addr: Ipv4Addr) -> Option<Held> {
        let h = self.by_addr.remove(&addr)?;
        self.deadlines.remove(&(h.deadline, addr));
        if let Some(c) = &h.client {
            if self.by_client.get(c) == Some(&addr) {
                self.by_client.remove(c);
            }
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn meta() -> (SendMeta4, RecvMeta4) {
        let to = SendMeta4 {
            dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
            ifindex: 1,
            src: None,
        };
        let from = RecvMeta4 {
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            dst: Ipv4Addr::BROADCAST,
            local: Ipv4Addr::new(192, 0, 2, 1),
            ifindex: 1,
            truncated: false,
        };
        (to, from)
    }

    fn hold(p: &mut PingChecks, a: u8, client: u8, now: Millis, tag: u8) -> Hold {
        let (to, from) = meta();
        p.hold(
            Ipv4Addr::new(192, 0, 2, a),
            now,
            1000,
            (vec![tag], to),
            (vec![tag], from),
            Some(Duid(vec![client])),
            Some(1),
        )
        .0
    }

    #[test]
    fn a_probe_ends_at_its_deadline_and_not_before() {
        let mut p = PingChecks::default();
        assert_eq!(hold(&mut p, 10, 1, 5_000, 0), Hold::Started);
        assert_eq!(p.next_deadline(), Some(6_000));
        assert!(p.due(5_999).is_empty());
        let due = p.due(6_000);
        assert_eq!(due.len(), 1);
        assert_eq!(p.len(), 0);
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn the_same_client_asking_again_replaces_the_held_offer_and_keeps_the_deadline() {
        let mut p = PingChecks::default();
        hold(&mut p, 10, 1, 0, 1);
        assert_eq!(hold(&mut p, 10, 1, 700, 2), Hold::Joined);
        let due = p.due(1_000);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.offer.0, vec![2], "the newer OFFER goes out");
    }

    #[test]
    fn a_newer_discover_for_another_address_cancels_the_stale_probe() {
        let mut p = PingChecks::default();
        hold(&mut p, 10, 1, 0, 1);
        let (to, from) = meta();
        let (h, superseded) = p.hold(
            Ipv4Addr::new(192, 0, 2, 11),
            10,
            1000,
            (vec![2], to),
            (vec![2], from),
            Some(Duid(vec![1])),
            Some(1),
        );
        assert_eq!(h, Hold::Started);
        assert_eq!(superseded.map(|s| s.0), Some(Ipv4Addr::new(192, 0, 2, 10)));
        assert!(p.answered(Ipv4Addr::new(192, 0, 2, 10)).is_none());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn no_more_than_the_bound_are_held() {
        let mut p = PingChecks::default();
        for i in 0..MAX_PROBES_IN_FLIGHT {
            let (to, from) = meta();
            let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 51, 100, 0)) + i as u32);
            let r = p.hold(a, 0, 1000, (vec![], to), (vec![], from), None, None);
            assert_eq!(r.0, Hold::Started);
        }
        assert_eq!(hold(&mut p, 10, 1, 0, 0), Hold::Full);
        assert_eq!(p.len(), MAX_PROBES_IN_FLIGHT);
    }

    #[test]
    fn a_client_that_moved_on_has_its_probe_cancelled() {
        let mut p = PingChecks::default();
        hold(&mut p, 10, 1, 0, 1);
        assert!(p.cancel_client(&Duid(vec![2])).is_none());
        assert!(p.cancel_client(&Duid(vec![1])).is_some());
        assert!(p.due(u64::MAX).is_empty());
    }
}
