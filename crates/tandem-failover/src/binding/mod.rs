//! Binding (lease) side of failover: the lease state machine (§7.2), who may change what
//! in which failover state (§4.2, §8), receiving BNDUPD (§7.5) and BNDREPLY (§7.7).

pub mod ack;
pub mod lifecycle;
pub mod permissions;
pub mod receive;

use tandem_core::Time;

/// RFC 8156 §7.5.1: times within ±5 s of each other are "the same time".
pub const TIME_FUZZ_SECS: u64 = 5;

/// `a` is later than `b` by more than the fuzz (§7.5.1, §7.5.4).
pub fn clearly_later(a: Time, b: Time) -> bool {
    a.as_secs() > b.as_secs().saturating_add(TIME_FUZZ_SECS)
}

/// `a` and `b` are within the fuzz of each other (§7.5.1).
pub fn same_time(a: Time, b: Time) -> bool {
    a.as_secs().abs_diff(b.as_secs()) <= TIME_FUZZ_SECS
}

pub use ack::{process_reply, ReplyOutcome};
pub use lifecycle::{
    address_owner, apply_event, pending_free_destination, resource_owner_when_free, settle,
    transition, AllocationKind, LeaseEvent, TransitionError,
};
pub use permissions::{
    answer_mode, may_allocate, may_extend, may_free_without_ack, may_return_to_same_client,
    may_reuse_for_other_client, AnswerMode,
};
pub use receive::{
    decide, receive_update, ConflictRule, ReceivedUpdate, RelationshipScope, Verdict,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_is_five_seconds_s7_5_1() {
        assert!(same_time(Time(100), Time(105)));
        assert!(!same_time(Time(100), Time(106)));
        assert!(!clearly_later(Time(105), Time(100)));
        assert!(clearly_later(Time(106), Time(100)));
        assert!(!clearly_later(Time(100), Time(106)));
    }
}

#[cfg(test)]
mod tests_pair;
#[cfg(test)]
mod tests_receive;
