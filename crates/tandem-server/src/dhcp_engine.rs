//! [`Engine`] for `tandem_core`'s DHCPv6 server: socket metadata in, core outcome out.

use std::collections::BTreeMap;

use tandem_core::{Dhcpv6Server, LeaseChange, RxInfo, Time};
use tandem_net::RecvMeta;

use crate::engine::{Engine, Handled};

/// The DHCPv6 core plus what it needs from the edge: interface names by index.
pub struct DhcpEngine {
    core: Dhcpv6Server,
    interfaces: BTreeMap<u32, String>,
}

impl DhcpEngine {
    /// `interfaces` maps kernel ifindex to the names the configuration uses.
    pub fn new(core: Dhcpv6Server, interfaces: BTreeMap<u32, String>) -> Self {
        DhcpEngine { core, interfaces }
    }

    pub fn core(&self) -> &Dhcpv6Server {
        &self.core
    }
}

impl Engine for DhcpEngine {
    fn handle(&mut self, now: Time, bytes: &[u8], meta: &RecvMeta) -> Handled {
        let rx = RxInfo {
            src: meta.src,
            dst: meta.dst,
            // An interface we do not serve directly: only relayed or unicast traffic can
            // be answered from it, and the core decides that by address.
            interface: self
                .interfaces
                .get(&meta.ifindex)
                .cloned()
                .unwrap_or_default(),
        };
        let outcome = self.core.handle(now, bytes, &rx);
        let (reply, reply_to) = match outcome.reply {
            Some(r) => (Some(r.bytes), Some(r.dest)),
            None => (None, None),
        };
        Handled {
            // The core names the destination (the sender, or a relay on port 547); the
            // driver sends out of the arrival interface.
            reply,
            reply_to,
            changes: outcome.changes,
            drop_reason: outcome.drop.map(|d| d.as_str()),
            xid: outcome.xid,
            client_duid: outcome.client_duid,
        }
    }

    fn reclaim_expired(&mut self, now: Time) -> Vec<LeaseChange> {
        self.core.reclaim_expired(now)
    }

    fn next_timeout(&self) -> Option<Time> {
        self.core.next_timeout()
    }
}
