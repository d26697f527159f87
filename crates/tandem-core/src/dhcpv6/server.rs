//! RFC 8415 server-side message processing (§16 validation, §18.3 server behaviour,
//! §19 relays) over the lease table and pool allocators.
//!
//! # How a message is mapped to a subnet (link)
//! * Relayed: walking from the innermost RELAY-FORW outwards, the first link-address that
//!   is not `::` selects the subnet whose prefix contains it. If every link-address is
//!   `::` (lightweight relays), the innermost Interface-ID, read as UTF-8, is matched
//!   against `Subnet::interface`.
//! * Direct: the arrival interface name matches `Subnet::interface`; failing that, a
//!   global (non-link-local) source address inside a subnet prefix, then a unicast
//!   destination address inside a subnet prefix (loopback/unicast test clients).
//!
//! # Where replies go
//! To `rx.src` exactly: the client's address and port (546 for real clients), or for
//! relayed messages the outermost relay's source address and port (547 for relays,
//! RFC 8357 source port otherwise).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;

use tandem_wire::v6::name::is_valid_name;
use tandem_wire::v6::{
    code as opt, status, DhcpOption, Message, MessageType, OptionsExt, Packet, StatusCode,
};

use crate::alloc::{AllocStats, PoolAllocator};
use crate::config::{OptionSet, ServerConfig, Subnet};
use crate::lease::{BindingStatus, Duid, FailoverFields, IaType, Lease, LeaseChange, Resource};
use crate::table::{ClientRef, LeaseTable};
use crate::time::Time;

use super::inbound::Inbound;
use super::outcome::{DropReason, Malformed, Outcome, Reply, RxInfo};
use super::policy::{LeasePolicy, Standalone};

/// One subnet's allocators: address pools (IA_NA, or a DHCPv4 subnet's pools) and
/// prefix pools (IA_PD; none for DHCPv4).
#[derive(Debug)]
pub(crate) struct SubnetPools {
    pub(crate) na: Vec<PoolAllocator>,
    pub(crate) pd: Vec<PoolAllocator>,
}

/// One resource in a reply IA, with the lifetimes sent.
#[derive(Clone, Debug)]
pub(super) struct Grant {
    pub(super) resource: Resource,
    pub(super) preferred: u32,
    pub(super) valid: u32,
    /// The lease to commit (ACTIVE), T1/T2 filled in once the whole reply is known.
    pub(super) commit: Option<Lease>,
}

#[derive(Clone, Debug)]
pub(super) struct IaOut {
    pub(super) kind: IaType,
    pub(super) iaid: u32,
    pub(super) grants: Vec<Grant>,
    pub(super) status: Option<(u16, &'static str)>,
}

/// The parsed request with the bits every handler needs.
pub(super) struct Request<'a> {
    pub(super) msg: &'a Message,
    pub(super) duid: Duid,
    pub(super) subnet: usize,
    pub(super) now: Time,
}

/// The sans-I/O DHCPv6 server.
pub struct DhcpServer {
    pub(crate) config: ServerConfig,
    pub(crate) server_duid: Duid,
    pub(crate) leases: LeaseTable,
    pub(crate) pools: Vec<SubnetPools>,
    pub(crate) subnet_index: HashMap<u32, usize>,
    /// The DHCPv4 subnets' allocators, in `config.subnets4` order, and their index by id.
    pub(crate) pools4: Vec<SubnetPools>,
    pub(crate) subnet4_index: HashMap<u32, usize>,
    pub(crate) policy: Box<dyn LeasePolicy>,
    /// Advertised-but-not-requested resources: resource → (client, hold end).
    pub(crate) offers: HashMap<Resource, (ClientRef, Time)>,
    pub(crate) offers_by_client: HashMap<ClientRef, Resource>,
    pub(crate) alloc_stats: AllocStats,
    /// Drops so far, by [`DropReason::as_str`].
    pub(crate) drops: BTreeMap<&'static str, u64>,
    /// IA kinds of the message being answered that found nothing to assign (moved into
    /// [`Outcome::exhausted`]).
    pub(crate) exhausted: Vec<IaType>,
    /// DHCPv4 addresses a probe found in use ([`Self::address_in_use`]).
    pub(crate) ping_conflicts: u64,
}

impl std::fmt::Debug for DhcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhcpServer")
            .field("server_duid", &self.server_duid)
            .field("leases", &self.leases.len())
            .finish_non_exhaustive()
    }
}

/// Empty allocators for every pool of `config`, per subnet, and each subnet's index by
/// id: the DHCPv6 subnets', then the DHCPv4 subnets'.
struct Allocators {
    v6: (Vec<SubnetPools>, HashMap<u32, usize>),
    v4: (Vec<SubnetPools>, HashMap<u32, usize>),
}

fn allocators(config: &ServerConfig) -> Allocators {
    let v6 = config
        .subnets
        .iter()
        .map(|s| SubnetPools {
            na: s
                .pools
                .iter()
                .map(PoolAllocator::for_address_pool)
                .collect(),
            pd: s.pd_pools.iter().map(PoolAllocator::for_pd_pool).collect(),
        })
        .collect();
    let v4 = config
        .subnets4
        .iter()
        .map(|s| SubnetPools {
            na: s
                .pools
                .iter()
                .map(PoolAllocator::for_address_pool4)
                .collect(),
            pd: Vec::new(),
        })
        .collect();
    let by_id = |ids: &mut dyn Iterator<Item = u32>| -> HashMap<u32, usize> {
        ids.enumerate().map(|(i, id)| (id, i)).collect()
    };
    Allocators {
        v6: (v6, by_id(&mut config.subnets.iter().map(|s| s.id))),
        v4: (v4, by_id(&mut config.subnets4.iter().map(|s| s.id))),
    }
}

impl DhcpServer {
    /// A stand-alone server. `config` should have passed [`ServerConfig::validate`].
    pub fn new(config: ServerConfig, server_duid: Duid, leases: LeaseTable) -> Self {
        let Allocators {
            v6: (pools, subnet_index),
            v4: (pools4, subnet4_index),
        } = allocators(&config);
        let mut server = DhcpServer {
            config,
            server_duid,
            leases: LeaseTable::new(),
            pools,
            subnet_index,
            pools4,
            subnet4_index,
            policy: Box::new(Standalone),
            offers: HashMap::new(),
            offers_by_client: HashMap::new(),
            alloc_stats: AllocStats::default(),
            drops: BTreeMap::new(),
            exhausted: Vec::new(),
            ping_conflicts: 0,
        };
        server.leases = leases;
        server.track_all();
        server
    }

    /// One pass over the leases (not the pools): each pool learns where records are.
    fn track_all(&mut self) {
        let leases = std::mem::take(&mut self.leases);
        for l in leases.iter() {
            self.track(&l.resource, l.subnet_id, Some(l));
        }
        self.leases = leases;
    }

    /// Stores a lease in the table, keeping the pools' view of used space in step.
    pub(crate) fn put(&mut self, lease: Lease) {
        self.track(&lease.resource, lease.subnet_id, Some(&lease));
        self.leases.upsert(lease);
    }

    /// Forgets the record for `r`: never-used space again.
    pub(super) fn forget(&mut self, r: &Resource) {
        if let Some(old) = self.leases.remove(r) {
            self.track(r, old.subnet_id, None);
        }
    }

    /// Tells the pool holding `r` that it now has this record (or none).
    fn track(&mut self, r: &Resource, subnet_id: u32, record: Option<&Lease>) {
        let (all, index) = if r.is_v4() {
            (&mut self.pools4, &self.subnet4_index)
        } else {
            (&mut self.pools, &self.subnet_index)
        };
        let home = index.get(&subnet_id).copied();
        let holds = |sp: &SubnetPools| sp.na.iter().chain(sp.pd.iter()).any(|p| p.contains(r));
        let Some(i) = home
            .filter(|i| all.get(*i).is_some_and(holds))
            .or_else(|| all.iter().position(holds))
        else {
            return;
        };
        let sp = &mut all[i];
        for p in sp.na.iter_mut().chain(sp.pd.iter_mut()) {
            if !p.contains(r) {
                continue;
            }
            match record {
                None => p.vacate(r),
                Some(l) => {
                    p.occupy(r);
                    if matches!(
                        l.status,
                        BindingStatus::Free
                            | BindingStatus::FreeBackup
                            | BindingStatus::Expired
                            | BindingStatus::Released
                    ) {
                        p.push_free(*r);
                    }
                }
            }
        }
    }

    /// Ends the client's binding of `r` at `now`: RELEASED (kept until `until` so the
    /// client gets it back) or ABANDONED (declined: quarantined until `until`). The same
    /// transition for both families (RFC 8415 §18.3.7, §18.3.8; RFC 2131 §4.3.3, §4.3.4).
    pub(crate) fn end_binding(
        &mut self,
        r: &Resource,
        to: BindingStatus,
        until: Time,
        now: Time,
    ) -> Option<LeaseChange> {
        let mut l = self.leases.get(r)?.clone();
        l.status = to;
        l.start_time_of_state = now;
        l.cltt = now;
        l.state_expiration = Some(until);
        self.put(l.clone());
        Some(LeaseChange::Upsert(l))
    }

    /// The ACTIVE record granting `r` to `holder` at `now` with these lifetimes (T1/T2
    /// left 0 for the caller): the one way a binding is made or extended, for both
    /// families. A DHCPv4 holder's record has IAID 0; its hardware address is the
    /// caller's to fill in.
    pub(crate) fn active_record(
        &self,
        r: Resource,
        holder: &ClientRef,
        subnet_id: u32,
        preferred: u32,
        valid: u32,
        now: Time,
    ) -> Lease {
        let (duid, iaid) = match holder {
            ClientRef::V6((duid, iaid, _)) => (duid.clone(), *iaid),
            ClientRef::V4(client) => (client.clone(), 0),
        };
        let existing = self.leases.get(&r);
        let same_active =
            existing.is_some_and(|l| l.status == BindingStatus::Active && holder.holds(l));
        let mut lease = Lease {
            resource: r,
            status: BindingStatus::Active,
            duid,
            hw_address: Vec::new(),
            iaid,
            subnet_id,
            preferred_lifetime: preferred,
            valid_lifetime: valid,
            t1: 0,
            t2: 0,
            cltt: now,
            start_time_of_state: if same_active {
                existing.map_or(now, |l| l.start_time_of_state)
            } else {
                now
            },
            // RFC 8415 §7.7: an infinite valid lifetime never ends (not now + 0xffffffff).
            state_expiration: Some(now.plus_lifetime(valid)),
            // A new binding starts with nothing acknowledged by the partner (RFC 8156 §7.3
            // keeps these per lease; the previous client's ack says nothing of this one:
            // tandem-sim seed 109, check (g)). What this server acked stays: it bounds how
            // long the partner may have let the previous client run.
            failover: match existing {
                Some(l) if same_active => l.failover.clone(),
                Some(l) => FailoverFields {
                    acked_partner_lifetime: None,
                    partner_lifetime: None,
                    ..l.failover.clone()
                },
                None => FailoverFields::default(),
            },
        };
        // A renewal may give less than before (the failover MCLT cap, RFC 8156 §4.4), but
        // the record never ends before what the client was told earlier: this reply may be
        // lost, and the client may then use the resource as long as it was told before.
        if same_active {
            if let Some(told) = existing.and_then(|l| l.state_expiration) {
                lease.state_expiration = lease.state_expiration.map(|e| e.max(told));
            }
        }
        lease
    }

    /// Replaces the lease policy (failover installs its own).
    pub fn set_policy(&mut self, policy: Box<dyn LeasePolicy>) {
        self.policy = policy;
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn server_duid(&self) -> &Duid {
        &self.server_duid
    }

    /// Read access for `tandem ctl`, failover and tests.
    pub fn leases(&self) -> &LeaseTable {
        &self.leases
    }

    /// Applies a change decided elsewhere (a partner's binding update) to the table.
    pub fn apply_external(&mut self, change: &LeaseChange) {
        match change {
            LeaseChange::Upsert(l) => self.put(l.clone()),
            LeaseChange::Remove(r) => self.forget(r),
        }
    }

    pub fn alloc_stats(&self) -> AllocStats {
        self.alloc_stats
    }

    /// Datagrams dropped so far, by reason ([`DropReason::as_str`]).
    pub fn drop_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.drops
    }

    /// When [`Self::reclaim_expired`] next has work.
    pub fn next_timeout(&self) -> Option<Time> {
        self.leases.next_expiry()
    }

    /// Processes one datagram received at `now`: decodes it, then [`Self::handle_packet`].
    pub fn handle(&mut self, now: Time, bytes: &[u8], rx: &RxInfo) -> Outcome {
        match Packet::parse(bytes) {
            Ok(packet) => self.handle_packet(now, &packet, rx),
            Err(error) => self.counted(Outcome::dropped(DropReason::Malformed(Malformed::Wire {
                relay_depth: 0,
                error,
            }))),
        }
    }

    /// Processes one datagram already decoded by `tandem_wire::v6::Packet::parse`.
    pub fn handle_packet(&mut self, now: Time, packet: &Packet, rx: &RxInfo) -> Outcome {
        let out = match Inbound::unwrap(packet) {
            Ok(inbound) => self.answer(now, &inbound, rx),
            Err(r) => Outcome::dropped(r),
        };
        self.counted(out)
    }

    /// Every answer of either family leaves through here: the exhausted kinds noted while
    /// answering move into the outcome, and a drop is counted by its reason.
    pub(crate) fn counted(&mut self, mut out: Outcome) -> Outcome {
        out.exhausted = std::mem::take(&mut self.exhausted);
        if let Some(r) = &out.drop {
            *self.drops.entry(r.as_str()).or_default() += 1;
        }
        out
    }

    fn answer(&mut self, now: Time, inbound: &Inbound, rx: &RxInfo) -> Outcome {
        let client = inbound.client();
        let t = client.msg_type;
        let mut out = Outcome {
            msg_type: Some(t.into()),
            xid: Some(client.transaction_id),
            ..Outcome::default()
        };
        let drop = |mut o: Outcome, r: DropReason| {
            o.drop = Some(r);
            o
        };
        use MessageType as M;
        if !matches!(
            t,
            M::Solicit
                | M::Request
                | M::Confirm
                | M::Renew
                | M::Rebind
                | M::Release
                | M::Decline
                | M::InformationRequest
        ) {
            return drop(out, DropReason::UnknownType);
        }
        let client_id = client.client_id().map(|d| Duid(d.to_vec()));
        out.client_duid = client_id.clone();
        // RFC 8415 §11: a DUID is a 2-byte type plus 1..=128 bytes.
        if let Some(len) = client_id
            .as_ref()
            .map(|d| d.0.len())
            .filter(|n| !(3..=130).contains(n))
        {
            return drop(out, DropReason::Malformed(Malformed::ClientIdLength(len)));
        }
        let server_id = client.server_id();
        let names_us = server_id == Some(self.server_duid.0.as_slice());

        // RFC 8415 §16: per-type validation.
        match t {
            M::Solicit | M::Confirm | M::Rebind => {
                if client_id.is_none() {
                    return drop(out, DropReason::MissingClientId);
                }
                if server_id.is_some() {
                    return drop(out, DropReason::UnexpectedServerId);
                }
            }
            M::Request | M::Renew | M::Release | M::Decline => {
                if client_id.is_none() {
                    return drop(out, DropReason::MissingClientId);
                }
                match server_id {
                    None => return drop(out, DropReason::MissingServerId),
                    Some(_) if !names_us => return drop(out, DropReason::ForeignServerId),
                    _ => {}
                }
            }
            _ => {
                // Information-request (§16.12).
                if server_id.is_some() && !names_us {
                    return drop(out, DropReason::ForeignServerId);
                }
                if client.options.iter().any(|o| {
                    matches!(
                        o,
                        DhcpOption::IaNa(_) | DhcpOption::IaTa(_) | DhcpOption::IaPd(_)
                    )
                }) {
                    return drop(out, DropReason::IaInInformationRequest);
                }
            }
        }

        // RFC 8415 §16 / §18.4: unicast rules for messages straight from clients.
        let unicast =
            !inbound.is_relayed() && !rx.dst_is_multicast() && !self.config.accept_unicast;
        if unicast {
            match t {
                M::Solicit | M::Confirm | M::Rebind => {
                    return drop(out, DropReason::UnicastNotAllowed)
                }
                M::Request | M::Renew | M::Release | M::Decline => {
                    let opts = vec![status_option(
                        status::USE_MULTICAST,
                        "use multicast: this server did not offer unicast",
                    )];
                    out.reply = Some(self.finish(inbound, M::Reply, opts, rx));
                    return out;
                }
                _ => {}
            }
        }

        if !self.policy.should_answer(t.into(), names_us) {
            return drop(out, DropReason::Policy);
        }

        let subnet = self.select_subnet(inbound, rx);
        out.subnet_id = subnet
            .and_then(|i| self.config.subnets.get(i))
            .map(|s| s.id);

        if t == M::InformationRequest {
            let opts = self.info_options(subnet, client, true);
            out.reply = Some(self.finish(inbound, M::Reply, opts, rx));
            return out;
        }
        let (Some(subnet), Some(duid)) = (subnet, client_id) else {
            return drop(out, DropReason::NoSubnet);
        };
        let req = Request {
            msg: client,
            duid,
            subnet,
            now,
        };
        let answer = match t {
            M::Solicit => self.solicit(&req),
            M::Request => Some(self.request(&req)),
            M::Renew => Some(self.renew_or_rebind(&req, false)),
            M::Rebind => Some(self.renew_or_rebind(&req, true)),
            M::Release => Some(self.release_or_decline(&req, false)),
            M::Decline => Some(self.release_or_decline(&req, true)),
            _ => self.confirm(&req),
        };
        let Some((reply_type, opts, changes)) = answer else {
            return drop(out, DropReason::NothingToSay);
        };
        out.changes = changes;
        out.reply = Some(self.finish(inbound, reply_type, opts, rx));
        out
    }

    /// Adds Client ID and Server ID, wraps in RELAY-REPLs mirroring the request.
    fn finish(
        &self,
        inbound: &Inbound,
        msg_type: MessageType,
        body: Vec<DhcpOption>,
        rx: &RxInfo,
    ) -> Reply {
        let client = inbound.client();
        let mut options = Vec::with_capacity(body.len() + 2);
        if let Some(c) = client
            .options
            .iter()
            .find(|o| matches!(o, DhcpOption::ClientId(_)))
        {
            options.push(c.clone());
        }
        options.push(DhcpOption::ServerId(self.server_duid.0.clone()));
        options.extend(body);
        let reply = Message {
            msg_type,
            transaction_id: client.transaction_id,
            options,
        };
        Reply {
            bytes: inbound.wrap(reply),
            dest: rx.src.into(),
        }
    }

    fn select_subnet(&self, inbound: &Inbound, rx: &RxInfo) -> Option<usize> {
        let subnets = &self.config.subnets;
        let relays = inbound.hops();
        if !relays.is_empty() {
            // RFC 8415 §19.1.1: a relay puts a global (or ULA) address of the client's link
            // in link-address; ::, or a link-local one (perfdhcp -A sends its own fe80::),
            // says nothing about the link, so the next relay out, the Interface-ID, and
            // finally the arrival interface of a single-hop relay are tried instead.
            if let Some(link) = relays
                .iter()
                .rev()
                .map(|r| r.link_address)
                .find(|a| !a.is_unspecified() && !is_link_local(a))
            {
                return subnets.iter().position(|s| s.prefix.contains(&link));
            }
            let by_ifid = relays
                .last()
                .and_then(|r| r.interface_id.as_deref())
                .and_then(|ifid| std::str::from_utf8(ifid).ok())
                .and_then(|name| {
                    subnets
                        .iter()
                        .position(|s| s.interface.as_deref() == Some(name))
                });
            if by_ifid.is_some() || relays.len() > 1 || rx.interface.is_empty() {
                return by_ifid;
            }
            return subnets
                .iter()
                .position(|s| s.interface.as_deref() == Some(rx.interface.as_str()));
        }
        if !rx.interface.is_empty() {
            if let Some(i) = subnets
                .iter()
                .position(|s| s.interface.as_deref() == Some(rx.interface.as_str()))
            {
                return Some(i);
            }
        }
        let src = *rx.src.ip();
        if !is_link_local(&src) && !src.is_unspecified() {
            if let Some(i) = subnets.iter().position(|s| s.prefix.contains(&src)) {
                return Some(i);
            }
        }
        if !rx.dst.is_multicast() {
            return subnets.iter().position(|s| s.prefix.contains(&rx.dst));
        }
        None
    }

    pub(super) fn subnet(&self, i: usize) -> Option<&Subnet> {
        self.config.subnets.get(i)
    }

    pub(super) fn options_for(&self, subnet: Option<usize>) -> OptionSet {
        match subnet.and_then(|i| self.subnet(i)) {
            Some(s) => s.options.merged_over(&self.config.options),
            None => self.config.options.clone(),
        }
    }

    /// Options the client asked for in its ORO (plus refresh time on Information-request).
    pub(super) fn info_options(
        &self,
        subnet: Option<usize>,
        client: &Message,
        info_request: bool,
    ) -> Vec<DhcpOption> {
        let set = self.options_for(subnet);
        let oro: &[u16] = client
            .options
            .iter()
            .find_map(|o| match o {
                DhcpOption::Oro(codes) => Some(codes.as_slice()),
                _ => None,
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        if oro.contains(&opt::DNS_SERVERS) && !set.dns_servers.is_empty() {
            out.push(DhcpOption::DnsServers(set.dns_servers.clone()));
        }
        if oro.contains(&opt::DOMAIN_LIST) && !set.domain_search.is_empty() {
            // RFC 8415 §10: uncompressed names; one that cannot be encoded is left out.
            let names = set.domain_search.iter().filter(|n| is_valid_name(n));
            out.push(DhcpOption::DomainList(names.cloned().collect()));
        }
        if info_request {
            if let Some(irt) = set.information_refresh_time {
                out.push(DhcpOption::InformationRefreshTime(irt));
            }
        }
        // Configured options go out byte for byte as configured, whatever their code
        // (tandem-wire's `Unknown` is its verbatim option).
        for (code, data) in &set.other {
            if oro.contains(code) && !out.iter().any(|o| o.code() == *code) {
                out.push(DhcpOption::Unknown {
                    code: *code,
                    data: data.clone(),
                });
            }
        }
        out
    }

    // ---------------------------------------------------------------- reconfiguration

    /// What stops `config` from replacing the running configuration at `now`, one line per
    /// problem (empty: it may be applied with [`Self::reconfigure`]). The new configuration
    /// must already have passed [`ServerConfig::validate`]. Refused: a subnet id that now
    /// names a different prefix (every stored lease carries the id), and a pool removed or
    /// shrunk under a lease that is still active (its client would keep an address the
    /// server no longer knows it lent).
    pub fn check_reconfigure(&self, config: &ServerConfig, now: Time) -> Vec<String> {
        let mut problems = Vec::new();
        // Every stored lease carries its subnet's id: an id may not name another network.
        let networks = |c: &ServerConfig| -> Vec<(u32, String)> {
            let v6 = c.subnets.iter().map(|s| (s.id, s.prefix.to_string()));
            v6.chain(c.subnets4.iter().map(|s| (s.id, s.subnet.to_string())))
                .collect()
        };
        let running = networks(&self.config);
        for (id, net) in networks(config) {
            if let Some((_, old)) = running.iter().find(|(i, o)| *i == id && *o != net) {
                problems.push(format!(
                    "subnet id {id} is {old} in the running configuration and {net} in the new one: \
                     stored leases carry the id, so an id may not change its prefix \
                     (give the new subnet a new id)"
                ));
            }
        }
        let new_pools: Vec<(PoolAllocator, u32)> = config
            .subnets
            .iter()
            .flat_map(|s| {
                s.pools
                    .iter()
                    .map(PoolAllocator::for_address_pool)
                    .chain(s.pd_pools.iter().map(PoolAllocator::for_pd_pool))
                    .map(move |p| (p, s.id))
            })
            .chain(config.subnets4.iter().flat_map(|s| {
                s.pools
                    .iter()
                    .map(PoolAllocator::for_address_pool4)
                    .map(move |p| (p, s.id))
            }))
            .collect();
        // Active leases inside a running pool that no pool of the same subnet keeps.
        let mut orphaned: BTreeMap<u32, (usize, Resource)> = BTreeMap::new();
        for l in self.leases.iter().filter(|l| l.is_active_at(now)) {
            let in_old_pool = self.pools.iter().chain(&self.pools4).any(|sp| {
                sp.na
                    .iter()
                    .chain(sp.pd.iter())
                    .any(|p| p.contains(&l.resource))
            });
            let kept = new_pools
                .iter()
                .any(|(p, id)| *id == l.subnet_id && p.contains(&l.resource));
            if in_old_pool && !kept {
                let e = orphaned.entry(l.subnet_id).or_insert((0, l.resource));
                e.0 += 1;
                e.1 = e.1.min(l.resource);
            }
        }
        for (id, (n, first)) in orphaned {
            problems.push(format!(
                "subnet id {id}: {n} active lease(s) (the first {first}) would be outside every \
                 pool of the new configuration: a pool that holds active leases may not be \
                 removed or shrunk (wait until they expire, or delete them with the control API)"
            ));
        }
        problems
    }

    /// Replaces the configuration: options, lifetimes, subnets, pools and reservations
    /// take effect for the next message. Every lease stays; the allocators are rebuilt
    /// from the lease table. Advertised-but-not-requested holds outside the new pools are
    /// dropped (the client's Request is then answered from the new pools). Call
    /// [`Self::check_reconfigure`] first.
    pub fn reconfigure(&mut self, config: ServerConfig) {
        let a = allocators(&config);
        (self.pools, self.subnet_index) = a.v6;
        (self.pools4, self.subnet4_index) = a.v4;
        self.config = config;
        self.track_all();
        let pools = &self.pools;
        let pools4 = &self.pools4;
        self.offers.retain(|r, _| {
            pools
                .iter()
                .chain(pools4)
                .any(|sp| sp.na.iter().chain(sp.pd.iter()).any(|p| p.contains(r)))
        });
        let offers = &self.offers;
        self.offers_by_client.retain(|_, r| offers.contains_key(r));
    }

    // ---------------------------------------------------------------- expiry

    /// Moves leases whose state timed out by `now` on (RFC 8156 §7.2 transitions a
    /// stand-alone server uses): ACTIVE → EXPIRED (record kept `affinity_time` so the
    /// client gets it back), EXPIRED/RELEASED/ABANDONED(quarantine over) → removed and
    /// offered again first. Costs O(due leases) via the expiry index.
    pub fn reclaim_expired(&mut self, now: Time) -> Vec<LeaseChange> {
        let affinity = u64::from(self.config.affinity_time);
        let keeps_lapsed = self.policy.keeps_lapsed_leases();
        let mut changes = Vec::new();
        for r in self.leases.due(now) {
            let Some(l) = self.leases.get(&r) else {
                continue;
            };
            // Kept for an RFC 8156 partner's acknowledgement, which never comes for a
            // DHCPv4 lease (§1: DHCPv6 only): that one lapses as on a server alone.
            let keep = keeps_lapsed && !l.is_v4();
            if l.status == BindingStatus::Active {
                let mut l = l.clone();
                l.status = BindingStatus::Expired;
                // The lease expired when its lifetime ended, not when we got round to it
                // (after a restart that can be much later; RFC 8156 §7.5.4 compares these
                // times with the partner's).
                l.start_time_of_state = l.state_expiration.unwrap_or(now).min(now);
                l.state_expiration = (!keep).then(|| now.plus(affinity));
                self.put(l.clone());
                changes.push(LeaseChange::Upsert(l));
            } else if keep {
                // Failover: the record stays until the partner acknowledges it; a
                // quarantine that ended becomes RESET (RFC 8156 §7.2 event 10).
                let mut l = l.clone();
                if l.status == BindingStatus::Abandoned {
                    l.status = BindingStatus::Reset;
                    l.start_time_of_state = now;
                }
                l.state_expiration = None;
                self.put(l.clone());
                changes.push(LeaseChange::Upsert(l));
            } else {
                // Back to never-used space: the pool finds it again.
                self.forget(&r);
                changes.push(LeaseChange::Remove(r));
            }
        }
        self.offers.retain(|_, (_, until)| now < *until);
        let offers = &self.offers;
        self.offers_by_client.retain(|_, r| offers.contains_key(r));
        changes
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// OPTION_STATUS_CODE (RFC 8415 §21.13).
pub(super) fn status_option(code: u16, message: &str) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode {
        code,
        message: message.to_owned(),
    })
}
