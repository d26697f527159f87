//! The Maximum Client Lead Time rule (RFC 8156 §4.4, §4.4.1, §8.8.1, §8.9.1, §8.11.1, §8.4.1).
//!
//! Invariant: outside PARTNER-DOWN the expiry a client knows may exceed
//! `max(acked partner lifetime, now)` by at most MCLT. Because updates are lazy (§4.3),
//! this bounds how far a client can run ahead of what the partner durably knows.

use tandem_core::Time;

use crate::types::ServerState;

/// RFC 8156 §1: failover must not be used for *new* leases shorter than 30 seconds.
pub const MIN_NEW_LEASE_LIFETIME: u32 = 30;

/// Whether a new lease with this valid lifetime may be handed out under failover (§1).
/// Leases that are merely close to their end (renewals) are not affected.
pub fn new_lease_lifetime_allowed(valid: u32) -> bool {
    valid >= MIN_NEW_LEASE_LIFETIME
}

/// Whether an MCLT value makes sense: below 30 s every first lease would violate §1.
pub fn mclt_is_usable(mclt: u32) -> bool {
    mclt >= MIN_NEW_LEASE_LIFETIME
}

/// How the MCLT limits lifetimes in a failover state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LifetimeCap {
    /// NORMAL, CONFLICT-DONE, RECOVER-DONE (and non-serving states): base = max(acked, now).
    Acked,
    /// COMMUNICATIONS-INTERRUPTED, RESOLUTION-INTERRUPTED (§8.9.1, §8.11.1): base also
    /// includes the partner lifetime received from the partner.
    AckedOrReceived,
    /// PARTNER-DOWN (§8.4.1): no cap.
    None,
}

/// Which cap applies in `state`.
pub fn cap_for(state: ServerState) -> LifetimeCap {
    match state {
        ServerState::PartnerDown => LifetimeCap::None,
        ServerState::CommunicationsInterrupted | ServerState::ResolutionInterrupted => {
            LifetimeCap::AckedOrReceived
        }
        _ => LifetimeCap::Acked,
    }
}

/// The latest client expiry allowed at `now` (None = unlimited, PARTNER-DOWN).
///
/// `partner_lifetime_received` is the lease's `expiration-time` (the PARTNER_LIFETIME the
/// partner sent us); it only counts in the two *-INTERRUPTED states.
pub fn latest_client_expiry(
    state: ServerState,
    now: Time,
    mclt: u32,
    acked_partner_lifetime: Option<Time>,
    partner_lifetime_received: Option<Time>,
) -> Option<Time> {
    let acked = acked_partner_lifetime.unwrap_or(Time::ZERO);
    let base = match cap_for(state) {
        LifetimeCap::None => return None,
        LifetimeCap::Acked => acked.max(now),
        LifetimeCap::AckedOrReceived => acked
            .max(now)
            .max(partner_lifetime_received.unwrap_or(Time::ZERO)),
    };
    Some(base + u64::from(mclt))
}

/// The valid lifetime to give the client (§4.4.1): `min(desired, cap - now)`.
///
/// An infinite `desired` (RFC 8415 §7.7) is capped like any other: it is only granted
/// when the cap is [`Time::NEVER`] (PARTNER-DOWN, or the partner acknowledged a partner
/// lifetime of "never"). A finite cap always yields a finite lifetime.
pub fn client_valid_lifetime(
    desired: u32,
    acked_partner_lifetime: Option<Time>,
    now: Time,
    mclt: u32,
    state: ServerState,
    partner_lifetime_received: Option<Time>,
) -> u32 {
    match latest_client_expiry(
        state,
        now,
        mclt,
        acked_partner_lifetime,
        partner_lifetime_received,
    ) {
        None => desired,
        Some(limit) => desired.min(now.lifetime_until(limit)),
    }
}

/// The partner lifetime to put in the BNDUPD (example policy of §4.4.1):
/// `now + t1 + desired`, never earlier than the client's own expiry.
///
/// Proposing "the next renewal plus a full desired lifetime" lets the partner lead the
/// client: when the client renews at T1 the acked value already covers a full lease.
/// With an infinite desired or actual lifetime (RFC 8415 §7.7) it is [`Time::NEVER`],
/// never `now + 0xffffffff`.
pub fn partner_lifetime_to_send(now: Time, t1: u32, actual_valid: u32, desired: u32) -> Time {
    let lead = now.plus_lifetime(t1).plus_lifetime(desired);
    lead.max(now.plus_lifetime(actual_valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: u32 = 3600;
    const D: u32 = 86400;
    const T: Time = Time(1_700_000_000);

    /// RFC 8156 §4.4.1 worked example: MCLT 1 h, desired 3 d, T1 = ½.
    #[test]
    fn worked_example_timeline_s4_4_1() {
        let mclt = H;
        let desired = 3 * D;
        // (now, acked partner lifetime before the client's message, expected client lifetime)
        let mut acked: Option<Time> = None;
        let steps: [(Time, u32); 3] = [
            (T, H),                                   // new client: min(3 d, 0 + 1 h)
            (T + 1800, 3 * D),                        // renews at T1 = 30 min
            (T + 1800 + u64::from(3 * D / 2), 3 * D), // next renewal 1.5 d later
        ];
        for (now, expect) in steps {
            let got = client_valid_lifetime(desired, acked, now, mclt, ServerState::Normal, None);
            assert_eq!(got, expect, "at {now}");
            let pl = partner_lifetime_to_send(now, got / 2, got, desired);
            assert_eq!(pl, now + u64::from(got / 2) + u64::from(desired));
            // The partner's BNDREPLY arrives at once and acks `pl`.
            acked = Some(pl);
        }
        // First BNDUPD: partner lifetime = t + 30 min + 3 d, as in the example table.
        assert_eq!(
            partner_lifetime_to_send(T, H / 2, H, desired),
            T + 1800 + u64::from(3 * D)
        );
    }

    #[test]
    fn ack_in_the_past_counts_as_now_s4_4() {
        // The acked lifetime is long gone: only MCLT remains.
        let got = client_valid_lifetime(3 * D, Some(T - 100), T, H, ServerState::Normal, None);
        assert_eq!(got, H);
    }

    #[test]
    fn no_ack_gives_at_most_mclt_s4_4() {
        assert_eq!(
            client_valid_lifetime(3 * D, None, T, H, ServerState::Normal, None),
            H
        );
        // A desire below MCLT is honoured as-is.
        assert_eq!(
            client_valid_lifetime(600, None, T, H, ServerState::Normal, None),
            600
        );
    }

    #[test]
    fn partner_down_is_not_capped_s8_4_1() {
        let got = client_valid_lifetime(3 * D, None, T, H, ServerState::PartnerDown, None);
        assert_eq!(got, 3 * D);
    }

    #[test]
    fn interrupted_states_also_count_received_partner_lifetime_s8_9_1_s8_11_1() {
        let received = Some(T + u64::from(D));
        for s in [
            ServerState::CommunicationsInterrupted,
            ServerState::ResolutionInterrupted,
        ] {
            let got = client_valid_lifetime(3 * D, None, T, H, s, received);
            assert_eq!(got, D + H, "{s}");
        }
        // NORMAL ignores the received value.
        assert_eq!(
            client_valid_lifetime(3 * D, None, T, H, ServerState::Normal, received),
            H
        );
    }

    #[test]
    fn interrupted_lifetimes_shrink_towards_mclt_s8_9_1() {
        // No acks arrive while interrupted: later renewals get less and less, never below MCLT.
        let acked = Some(T + u64::from(D));
        let early = client_valid_lifetime(
            3 * D,
            acked,
            T,
            H,
            ServerState::CommunicationsInterrupted,
            None,
        );
        let late = client_valid_lifetime(
            3 * D,
            acked,
            T + u64::from(D) / 2,
            H,
            ServerState::CommunicationsInterrupted,
            None,
        );
        let after = client_valid_lifetime(
            3 * D,
            acked,
            T + u64::from(2 * D),
            H,
            ServerState::CommunicationsInterrupted,
            None,
        );
        assert!(early > late && late > after);
        assert_eq!(after, H);
    }

    use tandem_core::INFINITE_LIFETIME as INFINITY;
    const NEVER: Time = Time::NEVER;

    /// §4.4 applies to an infinite desired lifetime like to any other: outside
    /// PARTNER-DOWN the client gets at most max(acked, now) + MCLT.
    #[test]
    fn infinite_desired_lifetime_is_capped_to_acked_plus_mclt_s4_4_s8_9_1() {
        assert_eq!(
            client_valid_lifetime(INFINITY, None, T, H, ServerState::Normal, None),
            H
        );
        assert_eq!(
            client_valid_lifetime(
                INFINITY,
                Some(T + u64::from(D)),
                T,
                H,
                ServerState::Normal,
                None
            ),
            D + H
        );
        assert_eq!(
            client_valid_lifetime(
                INFINITY,
                None,
                T,
                H,
                ServerState::CommunicationsInterrupted,
                Some(T + u64::from(D))
            ),
            D + H
        );
        // A finite cap, however far, gives a finite lifetime: never 0xffffffff, which the
        // client would read as infinity (RFC 8415 §7.7).
        let far = Some(T + 5_000_000_000);
        assert_eq!(
            client_valid_lifetime(INFINITY, far, T, H, ServerState::Normal, None),
            INFINITY - 1
        );
        let just = Some(T + u64::from(INFINITY) - u64::from(H));
        assert_eq!(
            client_valid_lifetime(INFINITY, just, T, H, ServerState::Normal, None),
            INFINITY - 1
        );
    }

    #[test]
    fn infinite_lifetime_needs_a_never_ack_or_partner_down_s4_4_s8_4_1() {
        // §8.4.1: PARTNER-DOWN is not capped.
        assert_eq!(
            client_valid_lifetime(INFINITY, None, T, H, ServerState::PartnerDown, None),
            INFINITY
        );
        // The partner acked "never": never + MCLT is still never.
        assert_eq!(
            client_valid_lifetime(INFINITY, Some(NEVER), T, H, ServerState::Normal, None),
            INFINITY
        );
        // A finite desire under a never ack is the desire.
        assert_eq!(
            client_valid_lifetime(3 * D, Some(NEVER), T, H, ServerState::Normal, None),
            3 * D
        );
    }

    /// §4.4.1 policy with an infinite desired (or actual) lifetime: the partner lifetime is
    /// "never", not `now + t1 + 0xffffffff` (a finite time that wraps modulo 2^32 on the
    /// wire).
    #[test]
    fn partner_lifetime_for_an_infinite_desire_is_never_s4_4_1() {
        // First grant: client got MCLT, desire is infinite.
        assert_eq!(partner_lifetime_to_send(T, H / 2, H, INFINITY), NEVER);
        // Renewal after a never ack: everything infinite.
        assert_eq!(
            partner_lifetime_to_send(T, INFINITY, INFINITY, INFINITY),
            NEVER
        );
        // Finite stays finite.
        assert_eq!(
            partner_lifetime_to_send(T, H / 2, H, 3 * D),
            T + u64::from(H / 2) + u64::from(3 * D)
        );
    }

    #[test]
    fn thirty_second_minimum_s1() {
        assert!(!new_lease_lifetime_allowed(29));
        assert!(new_lease_lifetime_allowed(30));
        assert!(!mclt_is_usable(10));
        assert!(mclt_is_usable(3600));
    }

    proptest! {
        /// §4.4 invariant: expiry ≤ max(acked, now) + MCLT outside PARTNER-DOWN
        /// (plus the received lifetime in the *-INTERRUPTED states).
        #[test]
        fn client_expiry_never_exceeds_acked_plus_mclt_s4_4(
            desired in 0u32..=u32::MAX,
            acked in proptest::option::of(0u64..4_000_000_000),
            now in 0u64..4_000_000_000,
            mclt in 0u32..10_000_000,
            state in 1u8..=10,
        ) {
            let state = ServerState::from_u8(state).unwrap();
            let acked = acked.map(Time);
            let now = Time(now);
            let got = client_valid_lifetime(desired, acked, now, mclt, state, None);
            prop_assert!(got <= desired);
            if state != ServerState::PartnerDown {
                let base = acked.unwrap_or(Time::ZERO).max(now);
                prop_assert!(now + u64::from(got) <= base + u64::from(mclt));
            }
        }
    }
}
