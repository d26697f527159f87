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
        Handled {
            // The core addresses replies to the datagram's source, which is exactly where
            // the driver sends them (SendMeta::reply_to).
            reply: outcome.reply.map(|r| r.bytes),
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
