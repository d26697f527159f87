//! PARTNER-DOWN waiting times (RFC 8156 §8.4.1, §4.2.2.1, §7.2 event 4).

use tandem_core::{Lease, Time};

/// When the partner's pool (delegable prefixes it held when we entered PARTNER-DOWN)
/// becomes usable: PD entry + MCLT (§4.2.2, §8.4.1).
pub fn partner_pool_usable_at(partner_down_since: Time, mclt: u32) -> Time {
    partner_down_since + u64::from(mclt)
}

/// When an EXPIRED/RELEASED/RESET lease may become available without the partner's ack in
/// PARTNER-DOWN: MCLT after it entered that state (§7.2 event 4).
pub fn pending_free_at(lease: &Lease, mclt: u32) -> Time {
    lease.start_time_of_state + u64::from(mclt)
}

/// The latest moment any client may believe it holds this lease, as far as this server can
/// know: the client's expiry as recorded (for a lapsed lease, when it lapsed), the partner
/// lifetime sent, the partner lifetime acked, and the expiration time acked to the partner
/// — the partner may have let the client run up to MCLT past the last of these (§4.4).
pub fn latest_known_expiry(lease: &Lease) -> Time {
    use tandem_core::BindingStatus::*;
    let fo = &lease.failover;
    let lapsed_at = matches!(lease.status, Expired | Released | Reset | Abandoned)
        .then_some(lease.start_time_of_state);
    [
        lease.state_expiration,
        lapsed_at,
        fo.partner_lifetime,
        fo.acked_partner_lifetime,
        fo.expiration_time,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(Time::ZERO)
}

/// When a lease held (or last held) by one client may go to a *different* client in
/// PARTNER-DOWN (§8.4.1, conservative reading):
/// `max(latest_known_expiry + MCLT, PD entry + MCLT)`.
pub fn reuse_at(lease: &Lease, partner_down_since: Time, mclt: u32) -> Time {
    (latest_known_expiry(lease) + u64::from(mclt)).max(partner_down_since + u64::from(mclt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::tests::lease;
    use tandem_core::BindingStatus;

    const MCLT: u32 = 3600;

    #[test]
    fn reuse_waits_mclt_past_the_latest_known_lifetime_s8_4_1() {
        // Client lease ran to 10_000, we had acked 12_000 to the partner; PD entered at 5_000.
        let mut l = lease("2001:db8::1", 1, BindingStatus::Active, 1000, Some(10_000));
        l.failover.expiration_time = Some(Time(12_000));
        l.failover.acked_partner_lifetime = Some(Time(11_000));
        assert_eq!(reuse_at(&l, Time(5_000), MCLT), Time(12_000 + 3600));
    }

    #[test]
    fn reuse_never_before_pd_entry_plus_mclt_s8_4_1() {
        let l = lease("2001:db8::1", 1, BindingStatus::Expired, 1000, None);
        assert_eq!(reuse_at(&l, Time(50_000), MCLT), Time(53_600));
    }

    #[test]
    fn a_lapsed_lease_counts_from_when_it_lapsed_s8_4_1() {
        // EXPIRED at 10_000 (no state expiration any more), acked to the partner to 9_000.
        let mut l = lease("2001:db8::1", 1, BindingStatus::Expired, 10_000, None);
        l.failover.expiration_time = Some(Time(9_000));
        assert_eq!(latest_known_expiry(&l), Time(10_000));
        assert_eq!(reuse_at(&l, Time(5_000), MCLT), Time(13_600));
    }

    #[test]
    fn partner_pool_after_mclt_s4_2_2() {
        assert_eq!(partner_pool_usable_at(Time(100), MCLT), Time(3700));
    }

    #[test]
    fn pending_free_after_mclt_in_state_s7_2_event4() {
        let l = lease("2001:db8::1", 1, BindingStatus::Released, 2000, None);
        assert_eq!(pending_free_at(&l, MCLT), Time(5600));
    }
}
