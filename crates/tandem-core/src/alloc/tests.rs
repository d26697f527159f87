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

fn v4_pool(first: &str, last: &str) -> PoolAllocator {
    PoolAllocator::for_address_pool4(&AddressPool4 {
        first: first.parse().unwrap(),
        last: last.parse().unwrap(),
    })
}

fn v4(s: &str) -> Resource {
    Resource::V4Address(s.parse().unwrap())
}

#[test]
fn a_v4_pool_never_gives_an_address_outside_first_last() {
    let mut p = v4_pool("192.0.2.10", "192.0.2.20");
    assert_eq!(p.size(), 11);
    let mut used = HashSet::new();
    let mut got = Vec::new();
    while let Some(r) = take(&mut p, &[Region::Whole], &mut used) {
        got.push(r);
    }
    let want: Vec<Resource> = (10..=20).map(|n| v4(&format!("192.0.2.{n}"))).collect();
    assert_eq!(got, want, "every address once, in order, and nothing else");
    assert!(!p.contains(&v4("192.0.2.9")));
    assert!(!p.contains(&v4("192.0.2.21")));
}

proptest::proptest! {
    /// Whatever the range and whichever addresses already have records, a v4 pool hands
    /// out only addresses inside it, each once, until it is full.
    #[test]
    fn a_v4_pool_fills_exactly_its_range(
        first in 0u32..64,
        len in 0u32..64,
        taken in proptest::collection::vec(0u32..140, 0..40),
        at_top in proptest::bool::ANY,
    ) {
        // Near 0.0.0.0 or near 255.255.255.255, so both ends of the space are covered.
        let base = if at_top { u32::MAX - 140 } else { 0 };
        let (lo, hi) = (base + first, base + first + len);
        let mut p = PoolAllocator::for_address_pool4(&AddressPool4 {
            first: lo.into(),
            last: hi.into(),
        });
        let mut used = HashSet::new();
        for k in taken {
            let r = Resource::V4Address((base + k).into());
            used.insert(r);
            p.occupy(&r);
        }
        let free = (lo..=hi)
            .filter(|a| !used.contains(&Resource::V4Address((*a).into())))
            .count();
        let mut got = HashSet::new();
        while let Some(r) = take(&mut p, &[Region::Whole], &mut used) {
            let Resource::V4Address(a) = r else { panic!("{r:?}") };
            proptest::prop_assert!((lo..=hi).contains(&u32::from(a)), "{a} outside the pool");
            proptest::prop_assert!(got.insert(r), "{a} given twice");
        }
        proptest::prop_assert_eq!(got.len(), free);
    }
}

#[test]
fn a_v4_pool_of_a_million_addresses_allocates_without_walking() {
    // 10.0.0.0 - 10.15.255.255: 2^20 addresses.
    let mut p = v4_pool("10.0.0.0", "10.15.255.255");
    assert_eq!(p.size(), 1 << 20);
    let mut used = HashSet::new();
    let mut stats = AllocStats::default();
    for _ in 0..1000 {
        let r = p
            .allocate(&[Region::Whole], 16, &mut |r| !used.contains(r), &mut stats)
            .unwrap();
        used.insert(r);
        p.occupy(&r);
    }
    assert_eq!(stats.probes, 1000, "one probe per allocation");
    // Records over the first half (a restart with many leases) are one run: the next
    // free address is found with one probe, not by walking half a million records.
    for k in 0..(1u32 << 19) {
        p.occupy(&Resource::V4Address(
            (u32::from(Ipv4Addr::new(10, 0, 0, 0)) + k).into(),
        ));
    }
    let mut stats = AllocStats::default();
    let r = p
        .allocate(&[Region::Whole], 4, &mut |_| true, &mut stats)
        .unwrap();
    assert_eq!(r, v4("10.8.0.0"));
    assert_eq!(stats.probes, 1);
}

#[test]
fn a_v4_pool_spanning_the_whole_address_space_does_not_overflow() {
    let mut p = v4_pool("0.0.0.0", "255.255.255.255");
    assert_eq!(p.size(), 1 << 32);
    assert!(p.contains(&v4("255.255.255.255")));
    let mut top = v4_pool("255.255.255.254", "255.255.255.255");
    let mut used = HashSet::new();
    assert_eq!(
        take(&mut top, &[Region::Whole], &mut used),
        Some(v4("255.255.255.254"))
    );
    assert_eq!(
        take(&mut top, &[Region::Whole], &mut used),
        Some(v4("255.255.255.255"))
    );
    assert_eq!(take(&mut top, &[Region::Whole], &mut used), None);
    assert_eq!(
        take(&mut p, &[Region::Whole], &mut used),
        Some(v4("0.0.0.0"))
    );
}

#[test]
fn a_returned_v4_address_is_reused() {
    let mut p = v4_pool("192.0.2.1", "192.0.2.3");
    let mut used = HashSet::new();
    for _ in 0..3 {
        take(&mut p, &[Region::Whole], &mut used).unwrap();
    }
    assert_eq!(take(&mut p, &[Region::Whole], &mut used), None);
    // Released: the record stays (affinity) and the address goes on the free list.
    let back = v4("192.0.2.2");
    used.remove(&back);
    p.push_free(back);
    let mut stats = AllocStats::default();
    assert_eq!(
        p.allocate(
            &[Region::Whole],
            100,
            &mut |r| !used.contains(r),
            &mut stats
        ),
        Some(back)
    );
    assert_eq!(
        stats.probes, 1,
        "taken from the free list, not searched for"
    );
    used.insert(back);
    // Its record gone: never-used space again.
    let gone = v4("192.0.2.3");
    used.remove(&gone);
    p.vacate(&gone);
    assert_eq!(take(&mut p, &[Region::Whole], &mut used), Some(gone));
    // A free list holds only its own pool's addresses.
    p.push_free(v4("198.51.100.1"));
    p.push_free(Resource::Address("2001:db8::2".parse().unwrap()));
    assert_eq!(take(&mut p, &[Region::Whole], &mut used), None);
}

/// Bounded probes: a full pool says no after looking at its records, at most `budget`
/// of them, however large it is.
#[test]
fn a_full_v4_pool_stops_at_the_probe_budget() {
    let mut p = v4_pool("10.0.0.0", "10.0.255.255");
    for k in 0..(1u32 << 16) {
        p.occupy(&Resource::V4Address(
            (u32::from(Ipv4Addr::new(10, 0, 0, 0)) + k).into(),
        ));
    }
    let mut stats = AllocStats::default();
    assert_eq!(
        p.allocate(&[Region::Whole], 32, &mut |_| false, &mut stats),
        None
    );
    assert_eq!(stats.probes, 32);
    assert_eq!(stats.exhausted, 1);
}

/// Never-used space goes before another client's lapsed record, so a client coming back
/// finds its old address still unclaimed as long as possible.
#[test]
fn a_lapsed_v4_lease_is_reused_only_after_free_space() {
    let mut p = v4_pool("192.0.2.1", "192.0.2.4");
    let lapsed = v4("192.0.2.1");
    p.occupy(&lapsed);
    let mut active = HashSet::new();
    let mut stats = AllocStats::default();
    for want in ["192.0.2.2", "192.0.2.3", "192.0.2.4"] {
        let r = p
            .allocate(
                &[Region::Whole],
                16,
                &mut |r| !active.contains(r),
                &mut stats,
            )
            .unwrap();
        assert_eq!(r, v4(want));
        active.insert(r);
        p.occupy(&r);
    }
    let r = p
        .allocate(
            &[Region::Whole],
            16,
            &mut |r| !active.contains(r),
            &mut stats,
        )
        .unwrap();
    assert_eq!(r, lapsed);
}

/// RFC 8156 is DHCPv6 only (§1): its even/odd address split and prefix blocks are no
/// regions of a v4 pool, and v6 resources are not in it.
#[test]
fn a_v4_pool_has_only_the_whole_region_rfc8156_1() {
    let mut p = v4_pool("192.0.2.0", "192.0.2.255");
    let mut stats = AllocStats::default();
    for region in [
        Region::Parity(0),
        Region::Parity(1),
        Region::Block("2001:db8::/48".parse().unwrap()),
    ] {
        assert_eq!(p.allocate(&[region], 16, &mut |_| true, &mut stats), None);
        assert!(!p.region_contains(&region, &v4("192.0.2.2")));
    }
    assert!(p.region_contains(&Region::Whole, &v4("192.0.2.2")));
    assert!(!p.contains(&Resource::Address("::ffff:192.0.2.2".parse().unwrap())));
    // And a v6 pool has no v4 addresses.
    let v6 = PoolAllocator::for_address_pool(&AddressPool {
        first: "::".parse().unwrap(),
        last: "::ffff:ffff".parse().unwrap(),
    });
    assert!(!v6.contains(&v4("192.0.2.2")));
}

/// An inverted range is one address (as for v6 pools), never a wrap-around.
#[test]
fn an_inverted_v4_range_is_a_single_address() {
    let mut p = v4_pool("192.0.2.9", "192.0.2.5");
    assert_eq!(p.size(), 1);
    let mut used = HashSet::new();
    assert_eq!(
        take(&mut p, &[Region::Whole], &mut used),
        Some(v4("192.0.2.9"))
    );
    assert_eq!(take(&mut p, &[Region::Whole], &mut used), None);
}
