//! Lease queries and the checks on lease changes, against the core's table and
//! configuration. Pure: the runner calls these inside the driver loop, so every read sees
//! one consistent table and every change goes through the core's gate
//! ([`tandem_failover::node::Node::operator_changes`]).

use std::collections::HashSet;

use tandem_core::config::Subnet;
use tandem_core::{BindingStatus, Lease, Resource, Time};
use tandem_failover::node::{Node, OperatorChange};
use tandem_failover::ServerState;

use super::model::{parse_duid, ApiError, LeaseFilter, LeaseJson, LeasePage, LeaseQuery, MAX_PAGE};

/// Answers a read of the lease table.
pub fn query(node: &Node, q: &LeaseQuery) -> Result<LeasePage, ApiError> {
    let table = node.leases();
    match q {
        LeaseQuery::Get(r) => match table.get(r) {
            Some(l) => Ok(LeasePage {
                leases: vec![LeaseJson::of(l)],
                ..LeasePage::default()
            }),
            None => Err(ApiError::not_found(format!("no lease record for {r}"))),
        },
        LeaseQuery::ByDuid(d) => {
            let mut found: Vec<&Lease> = table.iter().filter(|l| l.duid == *d).collect();
            if found.is_empty() {
                return Err(ApiError::not_found(format!("no lease record for DUID {d}")));
            }
            found.sort_by_key(|l| l.resource);
            Ok(LeasePage {
                leases: found.into_iter().map(LeaseJson::of).collect(),
                ..LeasePage::default()
            })
        }
        LeaseQuery::List {
            filter,
            after,
            limit,
        } => Ok(page(node, filter, *after, *limit)),
        LeaseQuery::All => {
            let mut all: Vec<&Lease> = table.iter().collect();
            all.sort_by_key(|l| l.resource);
            Ok(LeasePage {
                matched: Some(all.len()),
                leases: all.into_iter().map(LeaseJson::of).collect(),
                next: None,
            })
        }
    }
}

/// One page: the `limit` lowest matching resources after `after`. Linear in the table
/// (no sort of the whole table): the loop pays O(n) per page, not O(n log n).
fn page(node: &Node, filter: &LeaseFilter, after: Option<Resource>, limit: usize) -> LeasePage {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut matched = 0;
    let mut rest: Vec<&Lease> = Vec::new();
    for l in node.leases().iter().filter(|l| filter.matches(l)) {
        matched += 1;
        if after.is_none_or(|a| l.resource > a) {
            rest.push(l);
        }
    }
    let more = rest.len() > limit;
    if more {
        rest.select_nth_unstable_by_key(limit, |l| l.resource);
        rest.truncate(limit);
    }
    rest.sort_by_key(|l| l.resource);
    LeasePage {
        next: more
            .then(|| rest.last().map(|l| l.resource.to_string()))
            .flatten(),
        leases: rest.into_iter().map(LeaseJson::of).collect(),
        matched: Some(matched),
    }
}

/// Failover states in which a pair member takes lease changes from the operator: it
/// serves clients and its table is current (not waiting for the partner's updates).
fn may_change_leases(state: Option<ServerState>) -> bool {
    match state {
        None => true,
        Some(s) => matches!(
            s,
            ServerState::Normal | ServerState::CommunicationsInterrupted | ServerState::PartnerDown
        ),
    }
}

fn refuse_in_state(node: &Node) -> Result<(), ApiError> {
    match node.state() {
        s if may_change_leases(s) => Ok(()),
        Some(s) => Err(ApiError::conflict(format!(
            "this pair member is in {s}: leases can be changed in NORMAL, \
             COMMUNICATIONS-INTERRUPTED or PARTNER-DOWN only (its table may be behind the \
             partner's until then)"
        ))),
        None => Ok(()),
    }
}

/// Checks an add/update (or a whole import) and builds the leases to store. All or
/// nothing: one bad entry refuses the request, every problem listed.
pub fn check_upserts(
    node: &Node,
    now: Time,
    specs: &[LeaseJson],
    import: bool,
) -> Result<(Vec<OperatorChange>, usize), ApiError> {
    refuse_in_state(node)?;
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    let mut conflict = false;
    let mut skipped = 0;
    let mut seen = HashSet::new();
    for (i, spec) in specs.iter().enumerate() {
        let label = |e: &str| {
            if import {
                format!("leases[{i}]: {e}")
            } else {
                e.to_string()
            }
        };
        // An export holds every record; only the leases clients hold are imported.
        if import {
            let active = spec.state.as_deref().is_none_or(|s| s == "ACTIVE");
            let lapsed = spec.expires.is_some_and(|e| e <= now.as_secs());
            if !active || lapsed {
                skipped += 1;
                continue;
            }
        }
        match build_lease(node, now, spec) {
            Ok(l) => {
                if !seen.insert(l.resource) {
                    problems.push(label(&format!("{} appears twice", l.resource)));
                    continue;
                }
                changes.push(OperatorChange::Upsert(l));
            }
            Err(e) => {
                conflict |= e.status == 409;
                problems.push(label(&e.error));
            }
        }
    }
    match problems.len() {
        0 => Ok((changes, skipped)),
        1 if !import => Err(ApiError::new(
            if conflict { 409 } else { 400 },
            &problems[0],
        )),
        n => Err(ApiError::new(
            if conflict && !import { 409 } else { 400 },
            format!("{n} lease(s) refused; nothing was changed"),
        )
        .with_details(problems)),
    }
}

/// The subnet holding `r`: inside one of its pools (prefixes: exactly one delegated
/// prefix of a prefix pool), or reserved there; with the reservation's DUID if any.
fn home_of<'a>(
    subnets: &'a [Subnet],
    r: &Resource,
) -> Option<(&'a Subnet, Option<&'a tandem_core::Duid>)> {
    for s in subnets {
        let reserved = s.reservations.iter().find(|res| match r {
            Resource::Address(a) => res.address == Some(*a),
            Resource::Prefix(p) => res.prefix == Some(*p),
            // The configured subnets are DHCPv6 ones.
            Resource::V4Address(_) => false,
        });
        if let Some(res) = reserved {
            return Some((s, Some(&res.duid)));
        }
        let in_pool = match r {
            Resource::Address(a) => s.pools.iter().any(|p| p.first <= *a && *a <= p.last),
            Resource::Prefix(q) => s.pd_pools.iter().any(|p| {
                q.prefix_len() == p.delegated_len && q.trunc() == *q && p.prefix.contains(q)
            }),
            Resource::V4Address(_) => false,
        };
        if in_pool {
            return Some((s, None));
        }
    }
    None
}

/// Whether this pair member may give `r` to a new client (state-independent: even in
/// PARTNER-DOWN only its own half of an address pool, §4.2.1). Never a DHCPv4 address:
/// RFC 8156 shares are DHCPv6 ones (§1).
fn owns(fs: &tandem_failover::server::FailoverServer, r: &Resource) -> bool {
    match r {
        Resource::Address(a) => {
            tandem_failover::allocation::AddressFilter::new(fs.role(), fs.state()).owns(*a)
        }
        Resource::Prefix(q) => fs
            .prefix_pools()
            .iter()
            .find_map(|p| p.owner_of(*q))
            .is_some_and(|owner| owner == fs.role()),
        Resource::V4Address(_) => false,
    }
}

/// One lease to store from the operator's record, or why not.
pub fn build_lease(node: &Node, now: Time, spec: &LeaseJson) -> Result<Lease, ApiError> {
    let bad = ApiError::bad_request;
    let resource = spec.resource().map_err(bad)?;
    // Shown and looked up like any other, but no configured subnet serves DHCPv4 yet, so
    // there is no pool or lifetime to check an added one against.
    if resource.is_v4() {
        return Err(bad(format!(
            "{resource} is an IPv4 address: DHCPv4 leases cannot be added or imported"
        )));
    }
    let duid = parse_duid(&spec.duid).map_err(bad)?;
    if let Some(s) = spec.state.as_deref().filter(|s| *s != "ACTIVE") {
        return Err(bad(format!(
            "state {s:?}: an added lease is ACTIVE (delete a lease to take it back)"
        )));
    }
    let config = node.dhcp().config();
    let Some((subnet, reserved_for)) = home_of(&config.subnets, &resource) else {
        let what = match resource {
            Resource::Address(_) | Resource::V4Address(_) => "every address pool and reservation",
            Resource::Prefix(_) => {
                "every prefix pool (a lease is one delegated prefix of a pool, at its \
                 delegated length) and reservation"
            }
        };
        return Err(bad(format!(
            "{resource} is outside {what} of the configuration"
        )));
    };
    if let Some(id) = spec.subnet_id.filter(|id| *id != subnet.id) {
        return Err(bad(format!(
            "{resource} belongs to subnet id {}, not {id}",
            subnet.id
        )));
    }
    if let Some(owner) = reserved_for.filter(|d| **d != duid) {
        return Err(ApiError::conflict(format!(
            "{resource} is reserved for DUID {owner} in the configuration"
        )));
    }
    let existing = node.leases().get(&resource);
    if let Some(l) = existing.filter(|l| l.is_active_at(now) && l.duid != duid) {
        return Err(ApiError::conflict(format!(
            "{resource} is leased to DUID {} until {}; delete that lease first",
            l.duid,
            l.state_expiration
                .filter(|t| !t.is_never())
                .map_or("forever".to_string(), |t| t.as_secs().to_string())
        )));
    }
    // RFC 8156 §4.2.1, §4.2.2: a pair member gives a client only what it owns (its parity
    // half of each address pool, the prefix blocks it holds): the partner may have given
    // anything of its own share to a client we have not heard of yet (a BNDUPD in flight,
    // or COMMUNICATIONS-INTERRUPTED). A reservation is the configured client's on either
    // member; a lease the same client holds may be extended by either.
    let held_by_this_client = existing.is_some_and(|l| l.is_active_at(now) && l.duid == duid);
    if let Some(fs) = node.failover() {
        if reserved_for.is_none() && !held_by_this_client && !owns(fs, &resource) {
            return Err(ApiError::conflict(format!(
                "{resource} is in the partner's share of its pool (RFC 8156 §4.2): the \
                 partner may have given it to a client this member has not heard of; add it \
                 on the {}",
                match fs.role() {
                    tandem_failover::Role::Primary => "secondary",
                    tandem_failover::Role::Secondary => "primary",
                }
            )));
        }
    }
    let valid = spec.valid_lifetime.unwrap_or(subnet.valid_lifetime);
    let preferred = spec
        .preferred_lifetime
        .unwrap_or(subnet.preferred_lifetime.min(valid));
    if valid == 0 {
        return Err(bad("valid_lifetime must be greater than 0".into()));
    }
    if preferred > valid {
        return Err(bad(format!(
            "preferred_lifetime {preferred} exceeds valid_lifetime {valid}"
        )));
    }
    let t1 = spec.t1.unwrap_or(subnet.effective_t1()).min(preferred);
    let t2 = spec
        .t2
        .unwrap_or(subnet.effective_t2())
        .min(preferred)
        .max(t1);
    let expiration = match spec.expires {
        Some(e) if e <= now.as_secs() => {
            return Err(bad(format!(
                "expires {e} is in the past (now {})",
                now.as_secs()
            )))
        }
        Some(e) => Time::from_secs(e),
        None => now.plus_lifetime(valid),
    };
    let cltt = spec
        .cltt
        .map_or(now, |c| Time::from_secs(c.min(now.as_secs())));
    Ok(Lease {
        resource,
        status: BindingStatus::Active,
        duid,
        hw_address: Vec::new(),
        iaid: spec.iaid,
        subnet_id: subnet.id,
        preferred_lifetime: preferred,
        valid_lifetime: valid,
        t1,
        t2,
        cltt,
        start_time_of_state: now,
        state_expiration: Some(expiration),
        // The failover history of the record (what each side acknowledged) stays.
        failover: existing.map(|l| l.failover.clone()).unwrap_or_default(),
    })
}

/// Checks a delete: the record must exist and belong to a client.
pub fn check_delete(node: &Node, r: &Resource) -> Result<OperatorChange, ApiError> {
    refuse_in_state(node)?;
    match node.leases().get(r) {
        Some(l) if !l.duid.is_empty() => Ok(OperatorChange::Remove(*r)),
        _ => Err(ApiError::not_found(format!("no lease for {r}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::Ipv6Net;
    use tandem_core::config::{AddressPool, PdPool, ServerConfig};
    use tandem_core::Duid;
    use tandem_failover::endpoint::EndpointConfig;
    use tandem_failover::server::PairConfig;
    use tandem_failover::Role;

    const NOW: Time = Time(1_800_000_000);

    fn member(role: Role) -> Node {
        let mut s = Subnet::new(1, "2001:db8:1::/64".parse().unwrap());
        s.pools.push(AddressPool {
            first: "2001:db8:1::100".parse().unwrap(),
            last: "2001:db8:1::1ff".parse().unwrap(),
        });
        s.pd_pools.push(PdPool {
            prefix: "2001:db8:100::/48".parse().unwrap(),
            delegated_len: 56,
        });
        let config = ServerConfig {
            subnets: vec![s],
            ..ServerConfig::default()
        };
        let pair = PairConfig {
            endpoint: EndpointConfig::new(role, "test", 60),
            secondary_prefix_share: 50,
            rebalance_threshold: 1,
        };
        Node::pair_member(
            config,
            Duid(vec![0, 2, 0, 0, 0, 9, role as u8]),
            vec![],
            None,
            pair,
            NOW,
        )
        .unwrap()
    }

    fn add(resource: &str) -> LeaseJson {
        let mut j = LeaseJson {
            duid: "00:03:00:01:02:00:00:00:00:07".into(),
            iaid: 1,
            ..LeaseJson::default()
        };
        if resource.contains('/') {
            j.prefix = Some(resource.parse().unwrap());
        } else {
            j.address = Some(resource.parse().unwrap());
        }
        j
    }

    #[test]
    fn a_pair_member_adds_only_addresses_of_its_own_half_rfc8156_4_2_1() {
        // The primary owns the odd addresses, the secondary the even ones.
        let p = member(Role::Primary);
        assert!(build_lease(&p, NOW, &add("2001:db8:1::101")).is_ok());
        let e = build_lease(&p, NOW, &add("2001:db8:1::102")).unwrap_err();
        assert_eq!(e.status, 409, "{e:?}");
        assert!(e.error.contains("partner's share"), "{e:?}");
        let s = member(Role::Secondary);
        assert!(build_lease(&s, NOW, &add("2001:db8:1::102")).is_ok());
        assert_eq!(
            build_lease(&s, NOW, &add("2001:db8:1::101"))
                .unwrap_err()
                .status,
            409
        );
    }

    #[test]
    fn a_pair_member_adds_only_prefixes_of_its_own_blocks_rfc8156_4_2_2() {
        for role in [Role::Primary, Role::Secondary] {
            let m = member(role);
            let fs = m.failover().unwrap();
            let pool = &fs.prefix_pools()[0];
            let first_of = |r: Role| {
                pool.blocks_of(r)
                    .next()
                    .map(|b| Ipv6Net::new(b.network(), 56).unwrap().to_string())
            };
            if let Some(own) = first_of(role) {
                assert!(build_lease(&m, NOW, &add(&own)).is_ok(), "{role} {own}");
            }
            let other = if role == Role::Primary {
                Role::Secondary
            } else {
                Role::Primary
            };
            if let Some(theirs) = first_of(other) {
                let e = build_lease(&m, NOW, &add(&theirs)).unwrap_err();
                assert_eq!(e.status, 409, "{role} {theirs}: {e:?}");
            }
        }
    }
}
