//! How the primary of a draft-ietf-dhc-failover-12 pair gives the secondary its share of a
//! DHCPv4 pool. The draft says the primary SHOULD give the secondary BACKUP leases (its
//! §5.4) and leaves the amount open; ISC dhcpd 4.4 moves `(free − backup) / 2` FREE leases
//! to BACKUP once that exceeds `max-lease-misbalance` (default 15 %) of the pool, and so
//! does tandem, so that a dhcpd secondary always has addresses of its own to give when the
//! link is down.

/// ISC dhcpd 4.4's `max-lease-misbalance` default, in percent of the pool.
pub const MAX_LEASE_MISBALANCE_PCT: u64 = 15;

/// How many FREE addresses of a pool of `total` the primary moves to BACKUP, with `free`
/// FREE and `backup` BACKUP now (addresses never used count as FREE).
pub fn backup_moves(total: u64, free: u64, backup: u64) -> u64 {
    let lts = free.saturating_sub(backup) / 2;
    if lts > total * MAX_LEASE_MISBALANCE_PCT / 100 {
        lts
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a real dhcpd primary logged at a cold start: "total 100 free 100 backup 0
    /// lts 50" and then 50 BNDUPDs to BACKUP.
    #[test]
    fn a_fresh_pool_is_split_in_half_as_dhcpd_does() {
        assert_eq!(backup_moves(100, 100, 0), 50);
    }

    #[test]
    fn a_misbalance_within_15_percent_moves_nothing() {
        assert_eq!(backup_moves(100, 50, 50), 0);
        assert_eq!(backup_moves(100, 60, 30), 0); // lts 15, not above 15
        assert_eq!(backup_moves(100, 62, 30), 16);
    }

    #[test]
    fn more_backup_than_free_moves_nothing_from_the_primary() {
        assert_eq!(backup_moves(100, 10, 80), 0);
    }
}
