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
use std::net::{Ipv6Addr, SocketAddrV6};

use crate::alloc::{AllocStats, PoolAllocator};
use crate::config::{OptionSet, ServerConfig, Subnet};
use crate::lease::{BindingStatus, Duid, Lease, LeaseChange, Resource};
use crate::table::{ClientKey, LeaseTable};
use crate::time::Time;

use super::codec::{
    self, encode_domain_list, find, msg, opt, oro_codes, status, status_option, ClientMessage,
    RawOption, RelayMessage,
};
use super::policy::{LeasePolicy, Standalone};

/// Relay chains deeper than this are dropped (HOP_COUNT_LIMIT is 8, RFC 8415 §7.6).
const MAX_RELAY_DEPTH: usize = 32;

/// Where and how a datagram arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxInfo {
    /// Sender address and port.
    pub src: SocketAddrV6,
    /// Destination address the sender used (ff02::1:2 when multicast).
    pub dst: Ipv6Addr,
    /// Name of the arrival interface ("" when unknown).
    pub interface: String,
}

impl RxInfo {
    pub fn dst_is_multicast(&self) -> bool {
        self.dst.is_multicast()
    }
}

/// Why a datagram got no answer. Each has a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Could not be decoded (RFC 8415 §16 "discard ... that fail validation").
    Malformed,
    /// Not a message type a server processes (Advertise, Reply, unknown codes ...).
    UnknownType,
    MissingClientId,
    /// Server ID in Solicit/Confirm/Rebind (§16.2, §16.5, §16.7).
    UnexpectedServerId,
    /// No Server ID in Request/Renew/Release/Decline (§16.4 ...).
    MissingServerId,
    /// Server ID naming another server.
    ForeignServerId,
    /// IA option in an Information-request (§16.12).
    IaInInformationRequest,
    /// Solicit/Confirm/Rebind sent to a unicast address (§16).
    UnicastNotAllowed,
    /// No configured subnet for the client's link.
    NoSubnet,
    /// The lease policy (failover) says another server answers.
    Policy,
    /// Nothing the RFC lets us say (e.g. Confirm without addresses, §18.3.3).
    NothingToSay,
    /// Relay chain too deep.
    RelayTooDeep,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownType => "unknown_type",
            Self::MissingClientId => "missing_client_id",
            Self::UnexpectedServerId => "unexpected_server_id",
            Self::MissingServerId => "missing_server_id",
            Self::ForeignServerId => "foreign_server_id",
            Self::IaInInformationRequest => "ia_in_information_request",
            Self::UnicastNotAllowed => "unicast_not_allowed",
            Self::NoSubnet => "no_subnet_for_link",
            Self::Policy => "policy",
            Self::NothingToSay => "nothing_to_say",
            Self::RelayTooDeep => "relay_too_deep",
        }
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub dest: SocketAddrV6,
}

/// Everything one `handle` call decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Send only after `changes` are durable.
    pub reply: Option<Reply>,
    /// Lease changes already applied in memory; persist them before sending `reply`.
    pub changes: Vec<LeaseChange>,
    /// Set when no reply is sent because the datagram was dropped.
    pub drop: Option<DropReason>,
    /// Decoded header fields, for logs.
    pub msg_type: Option<u8>,
    pub xid: Option<u32>,
    pub client_duid: Option<Duid>,
    pub subnet_id: Option<u32>,
}

impl Outcome {
    pub(super) fn dropped(reason: DropReason) -> Self {
        Outcome {
            drop: Some(reason),
            ..Outcome::default()
        }
    }
}

#[derive(Debug)]
pub(super) struct SubnetPools {
    pub(super) na: Vec<PoolAllocator>,
    pub(super) pd: Vec<PoolAllocator>,
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
    pub(super) code: u16,
    pub(super) iaid: u32,
    pub(super) grants: Vec<Grant>,
    pub(super) status: Option<(u16, &'static str)>,
}

/// The parsed request with the bits every handler needs.
pub(super) struct Request<'a> {
    pub(super) msg: &'a ClientMessage,
    pub(super) duid: Duid,
    pub(super) subnet: usize,
    pub(super) now: Time,
}

/// The sans-I/O DHCPv6 server.
pub struct Dhcpv6Server {
    pub(super) config: ServerConfig,
    pub(super) server_duid: Duid,
    pub(super) leases: LeaseTable,
    pub(super) pools: Vec<SubnetPools>,
    pub(super) subnet_index: HashMap<u32, usize>,
    pub(super) policy: Box<dyn LeasePolicy>,
    /// Advertised-but-not-requested resources: resource → (client, hold end).
    pub(super) offers: HashMap<Resource, (ClientKey, Time)>,
    pub(super) offers_by_client: HashMap<ClientKey, Resource>,
    pub(super) alloc_stats: AllocStats,
    pub(super) drops: BTreeMap<DropReason, u64>,
}

impl std::fmt::Debug for Dhcpv6Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dhcpv6Server")
            .field("server_duid", &self.server_duid)
            .field("leases", &self.leases.len())
            .finish_non_exhaustive()
    }
}

impl Dhcpv6Server {
    /// A stand-alone server. `config` should have passed [`ServerConfig::validate`].
    pub fn new(config: ServerConfig, server_duid: Duid, leases: LeaseTable) -> Self {
        let pools: Vec<SubnetPools> = config
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
        let subnet_index = config
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let mut server = Dhcpv6Server {
            config,
            server_duid,
            leases: LeaseTable::new(),
            pools,
            subnet_index,
            policy: Box::new(Standalone),
            offers: HashMap::new(),
            offers_by_client: HashMap::new(),
            alloc_stats: AllocStats::default(),
            drops: BTreeMap::new(),
        };
        // One pass over the leases (not the pools): each pool learns where records are.
        for l in leases.iter() {
            server.track(&l.resource, l.subnet_id, Some(l));
        }
        server.leases = leases;
        server
    }

    /// Stores a lease in the table, keeping the pools' view of used space in step.
    pub(super) fn put(&mut self, lease: Lease) {
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
        let home = self.subnet_index.get(&subnet_id).copied();
        let holds = |sp: &SubnetPools| sp.na.iter().chain(sp.pd.iter()).any(|p| p.contains(r));
        let Some(i) = home
            .filter(|i| self.pools.get(*i).is_some_and(holds))
            .or_else(|| self.pools.iter().position(holds))
        else {
            return;
        };
        let sp = &mut self.pools[i];
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

    /// Datagrams dropped so far, by reason.
    pub fn drop_counts(&self) -> &BTreeMap<DropReason, u64> {
        &self.drops
    }

    /// When [`Self::reclaim_expired`] next has work.
    pub fn next_timeout(&self) -> Option<Time> {
        self.leases.next_expiry()
    }

    /// Processes one datagram received at `now`.
    pub fn handle(&mut self, now: Time, bytes: &[u8], rx: &RxInfo) -> Outcome {
        let out = self.handle_inner(now, bytes, rx);
        if let Some(r) = out.drop {
            *self.drops.entry(r).or_default() += 1;
        }
        out
    }

    pub(super) fn handle_inner(&mut self, now: Time, bytes: &[u8], rx: &RxInfo) -> Outcome {
        let (relays, client) = match unwrap_relays(bytes) {
            Ok(v) => v,
            Err(r) => return Outcome::dropped(r),
        };
        let mut out = Outcome {
            msg_type: Some(client.msg_type),
            xid: Some(client.xid),
            ..Outcome::default()
        };
        let drop = |mut o: Outcome, r: DropReason| {
            o.drop = Some(r);
            o
        };
        let t = client.msg_type;
        if !matches!(
            t,
            msg::SOLICIT
                | msg::REQUEST
                | msg::CONFIRM
                | msg::RENEW
                | msg::REBIND
                | msg::RELEASE
                | msg::DECLINE
                | msg::INFORMATION_REQUEST
        ) {
            return drop(out, DropReason::UnknownType);
        }
        let client_id = find(&client.options, opt::CLIENTID).map(|o| Duid(o.data.clone()));
        out.client_duid = client_id.clone();
        // RFC 8415 §11: a DUID is a 2-byte type plus 1..=128 bytes.
        if client_id
            .as_ref()
            .is_some_and(|d| !(3..=130).contains(&d.0.len()))
        {
            return drop(out, DropReason::Malformed);
        }
        let server_id = find(&client.options, opt::SERVERID).map(|o| Duid(o.data.clone()));
        let names_us = server_id.as_ref() == Some(&self.server_duid);

        // RFC 8415 §16: per-type validation.
        match t {
            msg::SOLICIT | msg::CONFIRM | msg::REBIND => {
                if client_id.is_none() {
                    return drop(out, DropReason::MissingClientId);
                }
                if server_id.is_some() {
                    return drop(out, DropReason::UnexpectedServerId);
                }
            }
            msg::REQUEST | msg::RENEW | msg::RELEASE | msg::DECLINE => {
                if client_id.is_none() {
                    return drop(out, DropReason::MissingClientId);
                }
                match &server_id {
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
                if client
                    .options
                    .iter()
                    .any(|o| matches!(o.code, opt::IA_NA | opt::IA_TA | opt::IA_PD))
                {
                    return drop(out, DropReason::IaInInformationRequest);
                }
            }
        }

        // RFC 8415 §16 / §18.4: unicast rules for messages straight from clients.
        let unicast = relays.is_empty() && !rx.dst_is_multicast() && !self.config.accept_unicast;
        if unicast {
            match t {
                msg::SOLICIT | msg::CONFIRM | msg::REBIND => {
                    return drop(out, DropReason::UnicastNotAllowed)
                }
                msg::REQUEST | msg::RENEW | msg::RELEASE | msg::DECLINE => {
                    let opts = vec![status_option(
                        status::USE_MULTICAST,
                        "use multicast: this server did not offer unicast",
                    )];
                    out.reply = Some(self.finish(&relays, &client, msg::REPLY, opts, rx));
                    return out;
                }
                _ => {}
            }
        }

        if !self.policy.should_answer(t, names_us) {
            return drop(out, DropReason::Policy);
        }

        let subnet = self.select_subnet(&relays, rx);
        out.subnet_id = subnet
            .and_then(|i| self.config.subnets.get(i))
            .map(|s| s.id);

        if t == msg::INFORMATION_REQUEST {
            let opts = self.info_options(subnet, &client, true);
            out.reply = Some(self.finish(&relays, &client, msg::REPLY, opts, rx));
            return out;
        }
        let (Some(subnet), Some(duid)) = (subnet, client_id) else {
            return drop(out, DropReason::NoSubnet);
        };
        let req = Request {
            msg: &client,
            duid,
            subnet,
            now,
        };
        let answer = match t {
            msg::SOLICIT => self.solicit(&req),
            msg::REQUEST => Some(self.request(&req)),
            msg::RENEW => Some(self.renew_or_rebind(&req, false)),
            msg::REBIND => Some(self.renew_or_rebind(&req, true)),
            msg::RELEASE => Some(self.release_or_decline(&req, false)),
            msg::DECLINE => Some(self.release_or_decline(&req, true)),
            _ => self.confirm(&req),
        };
        let Some((reply_type, opts, changes)) = answer else {
            return drop(out, DropReason::NothingToSay);
        };
        out.changes = changes;
        out.reply = Some(self.finish(&relays, &client, reply_type, opts, rx));
        out
    }

    /// Adds Client ID and Server ID, wraps in RELAY-REPLs mirroring the request.
    pub(super) fn finish(
        &self,
        relays: &[RelayMessage],
        client: &ClientMessage,
        msg_type: u8,
        body: Vec<RawOption>,
        rx: &RxInfo,
    ) -> Reply {
        let mut options = Vec::with_capacity(body.len() + 2);
        if let Some(c) = find(&client.options, opt::CLIENTID) {
            options.push(c.clone());
        }
        options.push(RawOption::new(opt::SERVERID, self.server_duid.0.clone()));
        options.extend(body);
        let mut bytes = ClientMessage {
            msg_type,
            xid: client.xid,
            options,
        }
        .emit();
        // RFC 8415 §19.3: innermost relay first; copy Interface-ID, same hop/link/peer.
        for r in relays.iter().rev() {
            let mut options = Vec::new();
            if let Some(i) = find(&r.options, opt::INTERFACE_ID) {
                options.push(i.clone());
            }
            options.push(RawOption::new(opt::RELAY_MSG, bytes));
            bytes = RelayMessage {
                msg_type: msg::RELAY_REPL,
                hop_count: r.hop_count,
                link_address: r.link_address,
                peer_address: r.peer_address,
                options,
            }
            .emit();
        }
        Reply {
            bytes,
            dest: rx.src,
        }
    }

    pub(super) fn select_subnet(&self, relays: &[RelayMessage], rx: &RxInfo) -> Option<usize> {
        let subnets = &self.config.subnets;
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
                .and_then(|r| find(&r.options, opt::INTERFACE_ID))
                .and_then(|ifid| std::str::from_utf8(&ifid.data).ok())
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
        client: &ClientMessage,
        info_request: bool,
    ) -> Vec<RawOption> {
        let set = self.options_for(subnet);
        let oro = find(&client.options, opt::ORO)
            .map(|o| oro_codes(&o.data))
            .unwrap_or_default();
        let mut out = Vec::new();
        if oro.contains(&opt::DNS_SERVERS) && !set.dns_servers.is_empty() {
            let data = set.dns_servers.iter().flat_map(|a| a.octets()).collect();
            out.push(RawOption::new(opt::DNS_SERVERS, data));
        }
        if oro.contains(&opt::DOMAIN_LIST) && !set.domain_search.is_empty() {
            out.push(RawOption::new(
                opt::DOMAIN_LIST,
                encode_domain_list(&set.domain_search),
            ));
        }
        if info_request {
            if let Some(irt) = set.information_refresh_time {
                out.push(RawOption::new(
                    opt::INFORMATION_REFRESH_TIME,
                    irt.to_be_bytes().to_vec(),
                ));
            }
        }
        for (code, data) in &set.other {
            if oro.contains(code) && !out.iter().any(|o| o.code == *code) {
                out.push(RawOption::new(*code, data.clone()));
            }
        }
        out
    }

    // ---------------------------------------------------------------- expiry

    /// Moves leases whose state timed out by `now` on (RFC 8156 §7.2 transitions a
    /// stand-alone server uses): ACTIVE → EXPIRED (record kept `affinity_time` so the
    /// client gets it back), EXPIRED/RELEASED/ABANDONED(quarantine over) → removed and
    /// offered again first. Costs O(due leases) via the expiry index.
    pub fn reclaim_expired(&mut self, now: Time) -> Vec<LeaseChange> {
        let affinity = u64::from(self.config.affinity_time);
        let keep = self.policy.keeps_lapsed_leases();
        let mut changes = Vec::new();
        for r in self.leases.due(now) {
            let Some(l) = self.leases.get(&r) else {
                continue;
            };
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

/// Splits a datagram into its RELAY-FORW chain (outermost first) and the client message.
fn unwrap_relays(bytes: &[u8]) -> Result<(Vec<RelayMessage>, ClientMessage), DropReason> {
    let mut relays = Vec::new();
    let mut cur = bytes.to_vec();
    loop {
        match cur.first() {
            None => return Err(DropReason::Malformed),
            Some(&msg::RELAY_FORW) => {
                if relays.len() >= MAX_RELAY_DEPTH {
                    return Err(DropReason::RelayTooDeep);
                }
                let r = RelayMessage::parse(&cur).map_err(|_| DropReason::Malformed)?;
                let inner = find(&r.options, opt::RELAY_MSG)
                    .ok_or(DropReason::Malformed)?
                    .data
                    .clone();
                relays.push(r);
                cur = inner;
            }
            Some(_) => {
                let m = ClientMessage::parse(&cur)
                    .map_err(|_: codec::CodecError| DropReason::Malformed)?;
                return Ok((relays, m));
            }
        }
    }
}
