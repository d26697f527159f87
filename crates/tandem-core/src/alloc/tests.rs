use super::*;
use std::collections::HashSet;

fn pd_pool(prefix: &str, len: u8) -> PoolAllocator {
    PoolAllocator::for_pd_pool(&PdPool {
        prefix: prefix.parse().unwrap(),
        delegated_len: len,
    })
}

fn pfx(s: &str) -> Resource {
    Resource::Prefix(s.parse().unwrap())
}

/// Allocates until the pool says no, recording each result as a record (as the server does).
fn take(
    p: &mut PoolAllocator,
    regions: &[Region],
    used: &mut HashSet<Resource>,
) -> Option<Resource> {
    let mut stats = AllocStats::default();
    let r = p.allocate(regions, 1024, &mut |r| !used.contains(r), &mut stats)?;
    used.insert(r);
    p.occupy(&r);
    Some(r)
}

#[test]
fn slash_40_split_into_56_has_65536_prefixes_and_maps_offsets() {
    let p = pd_pool("2001:db8:100::/40", 56);
    assert_eq!(p.size(), 65536);
    assert_eq!(p.resource_at(0, 1), pfx("2001:db8:100:100::/56"));
    assert!(p.contains(&p.resource_at(0, 65535)));
    assert!(!p.contains(&pfx("2001:db9::/56")));
    assert!(!p.contains(&pfx("2001:db8:100::/64")));
}

#[test]
fn whole_slash_64_pool_allocates_without_iterating() {
    let mut p = PoolAllocator::for_address_pool(&AddressPool {
        first: "2001:db8::".parse().unwrap(),
        last: "2001:db8::ffff:ffff:ffff:ffff".parse().unwrap(),
    });
    assert_eq!(p.size(), 1u128 << 64);
    let mut used = HashSet::new();
    let mut stats = AllocStats::default();
    for _ in 0..1000 {
        let r = p
            .allocate(&[Region::Whole], 16, &mut |r| !used.contains(r), &mut stats)
            .unwrap();
        used.insert(r);
        p.occupy(&r);
    }
    assert_eq!(stats.probes, 1000);
}

#[test]
fn a_pool_used_alone_fills_in_address_order() {
    let mut p = PoolAllocator::for_address_pool(&AddressPool {
        first: "2001:db8::5".parse().unwrap(),
        last: "2001:db8::9".parse().unwrap(),
    });
    let mut used = HashSet::new();
    let got: Vec<String> = (0..5)
        .map(|_| {
            take(&mut p, &[Region::Whole], &mut used)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        got,
        [
            "2001:db8::5",
            "2001:db8::6",
            "2001:db8::7",
            "2001:db8::8",
            "2001:db8::9"
        ]
    );
    assert_eq!(take(&mut p, &[Region::Whole], &mut used), None);
}

#[test]
fn tiny_pool_exhausts_then_reuses_freed_resource() {
    let mut p = PoolAllocator::for_address_pool(&AddressPool {
        first: "2001:db8::1".parse().unwrap(),
        last: "2001:db8::2".parse().unwrap(),
    });
    let mut used = HashSet::new();
    let mut stats = AllocStats::default();
    for _ in 0..2 {
        let r = p
            .allocate(
                &[Region::Whole],
                100,
                &mut |r| !used.contains(r),
                &mut stats,
            )
            .unwrap();
        used.insert(r);
        p.occupy(&r);
    }
    assert!(p
        .allocate(
            &[Region::Whole],
            100,
            &mut |r| !used.contains(r),
            &mut stats
        )
        .is_none());
    // Bounded by the records there are, not the budget.
    assert_eq!(stats.probes, 2 + 2);
    let back = Resource::Address("2001:db8::2".parse().unwrap());
    used.remove(&back);
    p.vacate(&back);
    assert_eq!(
        p.allocate(
            &[Region::Whole],
            100,
            &mut |r| !used.contains(r),
            &mut stats
        ),
        Some(back)
    );
}

/// RFC 8156 §4.2.1.1: one partner takes only odd addresses, the other only even ones; each
/// finds its next one at once however many of the other half are in use.
#[test]
fn parity_halves_each_find_their_next_address_in_one_probe_s4_2_1_1() {
    let mut p = PoolAllocator::for_address_pool(&AddressPool {
        first: "2001:db8::".parse().unwrap(),
        last: "2001:db8::ffff:ffff".parse().unwrap(),
    });
    let mut used = HashSet::new();
    for _ in 0..5000 {
        let r = take(&mut p, &[Region::Parity(1)], &mut used).unwrap();
        let Resource::Address(a) = r else { panic!() };
        assert_eq!(a.octets()[15] & 1, 1);
    }
    let mut stats = AllocStats::default();
    let r = p
        .allocate(
            &[Region::Parity(0)],
            1024,
            &mut |r| !used.contains(r),
            &mut stats,
        )
        .unwrap();
    assert_eq!(r, Resource::Address("2001:db8::".parse().unwrap()));
    assert_eq!(stats.probes, 1);
}

/// A share at the top of a huge pool is searched directly, not from the bottom of the pool
/// (RFC 8156 §4.2.2: a server delegates from its own share wherever it lies).
#[test]
fn a_block_of_a_slash_34_pool_yields_its_first_prefix_in_one_probe_s4_2_2() {
    let mut p = pd_pool("2001:db8::/34", 56);
    let block: Ipv6Net = "2001:db8:2000::/35".parse().unwrap();
    let mut used = HashSet::new();
    let mut stats = AllocStats::default();
    let r = p
        .allocate(
            &[Region::Block(block)],
            1024,
            &mut |r| !used.contains(r),
            &mut stats,
        )
        .unwrap();
    assert_eq!(r, pfx("2001:db8:2000::/56"));
    assert_eq!(stats.probes, 1);
    used.insert(r);
    p.occupy(&r);
    assert!(p.region_contains(&Region::Block(block), &r));
    assert!(!p.region_contains(&Region::Block(block), &pfx("2001:db8::/56")));
}

/// Whatever the order records were made in (hints, partner updates, restarts), the next free
/// resource is found with one probe, and the pool fills completely before it says no.
#[test]
fn scattered_records_never_hide_free_space() {
    let mut p = pd_pool("2001:db8::/44", 56);
    let mut used = HashSet::new();
    // Records everywhere except at offsets 3, 1000 and 4000 (e.g. a restart with many leases).
    for k in 0..4096u128 {
        if ![3, 1000, 4000].contains(&k) {
            let r = p.resource_at(0, k);
            used.insert(r);
            p.occupy(&r);
        }
    }
    for want in [3u128, 1000, 4000] {
        let mut stats = AllocStats::default();
        let r = p
            .allocate(&[Region::Whole], 4, &mut |r| !used.contains(r), &mut stats)
            .unwrap();
        assert_eq!(r, p.resource_at(0, want));
        assert_eq!(stats.probes, 1, "a jump over the used run, not a walk");
        used.insert(r);
        p.occupy(&r);
    }
}

/// A record the caller may hand out (another client's lapsed lease) is found once there is
/// no never-used space left; never-used space goes first (the lapsed lease's client may
/// come back for it).
#[test]
fn lapsed_records_are_used_only_after_free_space() {
    let mut p = pd_pool("2001:db8::/54", 56);
    let lapsed = p.resource_at(0, 0);
    p.occupy(&lapsed);
    let mut active = HashSet::new();
    let mut stats = AllocStats::default();
    let may = |r: &Resource, active: &HashSet<Resource>| !active.contains(r);
    for want in 1..4u128 {
        let r = p
            .allocate(&[Region::Whole], 16, &mut |r| may(r, &active), &mut stats)
            .unwrap();
        assert_eq!(r, p.resource_at(0, want));
        active.insert(r);
        p.occupy(&r);
    }
    let r = p
        .allocate(&[Region::Whole], 16, &mut |r| may(r, &active), &mut stats)
        .unwrap();
    assert_eq!(r, lapsed);
}
