//! Who may change what in which failover state (RFC 8156 §4.2, §7.2, §8).

use tandem_core::{Lease, Time};

use super::lifecycle::AllocationKind;
use crate::allocation::partner_down::{latest_known_expiry, reuse_at};
use crate::types::{Role, ServerState};

/// How a server treats client messages (§3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AnswerMode {
    /// Answers every valid client message.
    Responsive,
    /// Answers only messages whose Server Identifier is this server's DUID.
    RenewResponsive,
    /// Answers nothing.
    Unresponsive,
}

/// Responsiveness per state and role (RFC 8156 §8.3.1 … §8.12).
pub fn answer_mode(state: ServerState, role: Role) -> AnswerMode {
    use ServerState::*;
    match state {
        Startup | Recover | RecoverWait | PotentialConflict => AnswerMode::Unresponsive,
        Normal => match role {
            Role::Primary => AnswerMode::Responsive,
            Role::Secondary => AnswerMode::RenewResponsive,
        },
        RecoverDone => AnswerMode::RenewResponsive,
        CommunicationsInterrupted | PartnerDown | ResolutionInterrupted => AnswerMode::Responsive,
        // CONFLICT-DONE exists only on the primary (§8.12); a secondary there is a bug.
        ConflictDone => match role {
            Role::Primary => AnswerMode::Responsive,
            Role::Secondary => AnswerMode::Unresponsive,
        },
    }
}

/// May this server hand a *new* lease on an available resource to a client?
///
/// `resource_owner` is the pool the resource is in (the parity owner for addresses, the
/// FREE / FREE-BACKUP holder for delegable prefixes). Rules: own pool only in NORMAL
/// (primary), CONFLICT-DONE, COMM-INT and RESOLUTION-INT; in PARTNER-DOWN additionally the
/// partner's delegable prefixes once MCLT has passed since entering PARTNER-DOWN (§4.2.2,
/// §8.4.1); the partner's addresses never (§4.2.1). The secondary in NORMAL does
/// not allocate (it only answers renewals, RFC 8156 §8.8).
pub fn may_allocate(
    state: ServerState,
    role: Role,
    resource_owner: Role,
    kind: AllocationKind,
    partner_down_since: Option<Time>,
    mclt: u32,
    now: Time,
) -> bool {
    use ServerState::*;
    let own = resource_owner == role;
    match state {
        Normal => role == Role::Primary && own,
        ConflictDone => role == Role::Primary && own,
        CommunicationsInterrupted | ResolutionInterrupted => own,
        PartnerDown => {
            own || (kind == AllocationKind::Proportional
                && partner_down_since.is_some_and(|pd| now >= pd + u64::from(mclt)))
        }
        Startup | Recover | RecoverWait | RecoverDone | PotentialConflict => false,
    }
}

/// May an existing lease be extended (Renew/Rebind)? Any responsive or renew-responsive
/// server may renew a lease whoever issued it (§4.2.1); RECOVER-DONE only known leases,
/// which is all this function is asked about.
pub fn may_extend(state: ServerState) -> bool {
    use ServerState::*;
    matches!(
        state,
        Normal
            | CommunicationsInterrupted
            | PartnerDown
            | ResolutionInterrupted
            | ConflictDone
            | RecoverDone
    )
}

/// May an EXPIRED/RELEASED/RESET lease become available without the partner's ack?
/// Only in PARTNER-DOWN, once MCLT has passed since it entered that state (§7.2 event 4)
/// *and* the §8.4.1 waiting time is over: an available lease may go to any client, so it
/// must not become available while the partner may still have told a client it holds it
/// (the partner renews up to MCLT past what we acked, §4.4).
pub fn may_free_without_ack(
    state: ServerState,
    lease: &Lease,
    partner_down_since: Option<Time>,
    mclt: u32,
    now: Time,
) -> bool {
    use tandem_core::BindingStatus::*;
    state == ServerState::PartnerDown
        && matches!(lease.status, Expired | Released | Reset)
        && now >= lease.start_time_of_state + u64::from(mclt)
        && partner_down_since.is_some_and(|pd| now >= reuse_at(lease, pd, mclt))
}

/// May a lease last held by one client go to a *different* client now?
///
/// Outside PARTNER-DOWN: only once it is available (FREE/FREE-BACKUP), which requires
/// the partner's ack (§4.2.2.1). In PARTNER-DOWN: after the §8.4.1 waiting time — for an
/// available record too, as long as a client may still hold it by the partner's word
/// (RFC 8156 §8.4.1).
pub fn may_reuse_for_other_client(
    state: ServerState,
    lease: &Lease,
    partner_down_since: Option<Time>,
    mclt: u32,
    now: Time,
) -> bool {
    use tandem_core::BindingStatus::*;
    let partner_down = state == ServerState::PartnerDown;
    match lease.status {
        Free | FreeBackup => !partner_down || now >= latest_known_expiry(lease) + u64::from(mclt),
        Active if lease.is_active_at(now) && !partner_down => false,
        _ if partner_down => partner_down_since.is_some_and(|pd| now >= reuse_at(lease, pd, mclt)),
        _ => false,
    }
}

/// May an EXPIRED/RELEASED lease go back to the *same* client (§4.2.2.1, §8.8.1)?
/// Yes as long as no BNDUPD about the expiry/release has been sent (e.g. it expired after
/// PARTNER-DOWN began, or the update still sits in the queue); once sent, only after the
/// ack (when it is FREE/FREE-BACKUP again). `bndupd_sent` = the outbox has sent (and not
/// had answered) a BNDUPD carrying this state.
pub fn may_return_to_same_client(
    lease: &Lease,
    client: &tandem_core::Duid,
    bndupd_sent: bool,
) -> bool {
    use tandem_core::BindingStatus::*;
    match lease.status {
        Expired | Released => lease.duid == *client && !bndupd_sent,
        Free | FreeBackup => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::tests::lease;
    use tandem_core::BindingStatus;
    use AllocationKind::*;
    use ServerState::*;

    const ALL: [ServerState; 10] = [
        Startup,
        Normal,
        CommunicationsInterrupted,
        PartnerDown,
        PotentialConflict,
        Recover,
        RecoverWait,
        RecoverDone,
        ResolutionInterrupted,
        ConflictDone,
    ];

    #[test]
    fn answer_modes_per_state_s3_s8() {
        use AnswerMode::*;
        let expect = |s, r| answer_mode(s, r);
        assert_eq!(expect(Normal, Role::Primary), Responsive);
        assert_eq!(expect(Normal, Role::Secondary), RenewResponsive);
        assert_eq!(expect(RecoverDone, Role::Secondary), RenewResponsive);
        for s in [
            CommunicationsInterrupted,
            PartnerDown,
            ResolutionInterrupted,
        ] {
            for r in [Role::Primary, Role::Secondary] {
                assert_eq!(expect(s, r), Responsive, "{s} {r}");
            }
        }
        for s in [Startup, Recover, RecoverWait, PotentialConflict] {
            assert_eq!(expect(s, Role::Primary), Unresponsive, "{s}");
        }
        assert_eq!(expect(ConflictDone, Role::Primary), Responsive);
    }

    #[test]
    fn allocation_only_from_own_pool_s4_2_s8_8_1_s8_9_1() {
        let t = Time(1000);
        assert!(may_allocate(
            Normal,
            Role::Primary,
            Role::Primary,
            Independent,
            None,
            3600,
            t
        ));
        assert!(!may_allocate(
            Normal,
            Role::Primary,
            Role::Secondary,
            Independent,
            None,
            3600,
            t
        ));
        assert!(!may_allocate(
            Normal,
            Role::Secondary,
            Role::Secondary,
            Independent,
            None,
            3600,
            t
        ));
        for s in [CommunicationsInterrupted, ResolutionInterrupted] {
            assert!(may_allocate(
                s,
                Role::Secondary,
                Role::Secondary,
                Proportional,
                None,
                3600,
                t
            ));
            assert!(!may_allocate(
                s,
                Role::Secondary,
                Role::Primary,
                Proportional,
                None,
                3600,
                t
            ));
        }
        for s in [
            Startup,
            Recover,
            RecoverWait,
            RecoverDone,
            PotentialConflict,
        ] {
            assert!(!may_allocate(
                s,
                Role::Primary,
                Role::Primary,
                Independent,
                None,
                3600,
                t
            ));
        }
    }

    #[test]
    fn partner_down_partner_prefixes_after_mclt_addresses_never_s8_4_1_s14_6() {
        let pd = Some(Time(1000));
        let before = Time(1000 + 3599);
        let after = Time(1000 + 3600);
        assert!(!may_allocate(
            PartnerDown,
            Role::Secondary,
            Role::Primary,
            Proportional,
            pd,
            3600,
            before
        ));
        assert!(may_allocate(
            PartnerDown,
            Role::Secondary,
            Role::Primary,
            Proportional,
            pd,
            3600,
            after
        ));
        assert!(!may_allocate(
            PartnerDown,
            Role::Secondary,
            Role::Primary,
            Independent,
            pd,
            3600,
            after + 1_000_000
        ));
        assert!(may_allocate(
            PartnerDown,
            Role::Secondary,
            Role::Secondary,
            Independent,
            pd,
            3600,
            before
        ));
    }

    #[test]
    fn extension_allowed_in_serving_states_s8() {
        for s in ALL {
            let expect = !matches!(s, Startup | Recover | RecoverWait | PotentialConflict);
            assert_eq!(may_extend(s), expect, "{s}");
        }
    }

    #[test]
    fn free_without_ack_only_in_partner_down_after_mclt_s7_2_event4() {
        let pd = Some(Time(500));
        let l = lease("2001:db8::1", 1, BindingStatus::Expired, 1000, None);
        assert!(!may_free_without_ack(PartnerDown, &l, pd, 3600, Time(4599)));
        assert!(may_free_without_ack(PartnerDown, &l, pd, 3600, Time(4600)));
        for s in ALL.into_iter().filter(|s| *s != PartnerDown) {
            assert!(
                !may_free_without_ack(s, &l, pd, 3600, Time(1_000_000)),
                "{s}"
            );
        }
        let a = lease("2001:db8::1", 1, BindingStatus::Active, 1000, Some(2000));
        assert!(!may_free_without_ack(
            PartnerDown,
            &a,
            pd,
            3600,
            Time(1_000_000)
        ));
    }

    /// §8.4.1: the partner may have renewed the client up to MCLT past what we acked to it,
    /// so a lapsed lease becomes available only MCLT after that too.
    #[test]
    fn free_without_ack_waits_for_what_we_acked_to_the_partner_s8_4_1() {
        let mut l = lease("2001:db8:1::/56", 1, BindingStatus::Expired, 1000, None);
        l.failover.expiration_time = Some(Time(9000));
        let pd = Some(Time(500));
        assert!(!may_free_without_ack(
            PartnerDown,
            &l,
            pd,
            3600,
            Time(12_599)
        ));
        assert!(may_free_without_ack(
            PartnerDown,
            &l,
            pd,
            3600,
            Time(12_600)
        ));
        // Never before PD entry + MCLT either.
        let e = lease("2001:db8:1::/56", 1, BindingStatus::Expired, 1000, None);
        assert!(!may_free_without_ack(
            PartnerDown,
            &e,
            Some(Time(4000)),
            3600,
            Time(7599)
        ));
        assert!(!may_free_without_ack(
            PartnerDown,
            &e,
            None,
            3600,
            Time(100_000)
        ));
    }

    /// §8.4.1 holds for available records too: in PARTNER-DOWN a FREE record whose last
    /// client may still hold it by the partner's word is not reused before that ends + MCLT.
    #[test]
    fn free_record_reuse_in_partner_down_waits_for_the_partners_word_s8_4_1() {
        let mut f = lease("2001:db8:1::/56", 1, BindingStatus::Free, 1000, None);
        f.failover.acked_partner_lifetime = Some(Time(9000));
        let pd = Some(Time(500));
        assert!(!may_reuse_for_other_client(
            PartnerDown,
            &f,
            pd,
            3600,
            Time(12_599)
        ));
        assert!(may_reuse_for_other_client(
            PartnerDown,
            &f,
            pd,
            3600,
            Time(12_600)
        ));
        // Outside PARTNER-DOWN the partner's ack made it FREE: no wait.
        assert!(may_reuse_for_other_client(
            Normal,
            &f,
            None,
            3600,
            Time(1001)
        ));
    }

    #[test]
    fn reuse_for_other_client_needs_ack_outside_partner_down_s4_2_2_1() {
        let l = lease("2001:db8:1::/56", 1, BindingStatus::Expired, 1000, None);
        assert!(!may_reuse_for_other_client(
            Normal,
            &l,
            None,
            3600,
            Time(1_000_000)
        ));
        assert!(!may_reuse_for_other_client(
            CommunicationsInterrupted,
            &l,
            None,
            3600,
            Time(1_000_000)
        ));
        let f = lease("2001:db8:1::/56", 1, BindingStatus::Free, 1000, None);
        assert!(may_reuse_for_other_client(
            Normal,
            &f,
            None,
            3600,
            Time(1000)
        ));
    }

    #[test]
    fn expired_lease_back_to_same_client_only_before_its_bndupd_went_out_s4_2_2_1() {
        let l = lease("2001:db8:1::/56", 1, BindingStatus::Expired, 1000, None);
        let same = l.duid.clone();
        assert!(may_return_to_same_client(&l, &same, false));
        assert!(!may_return_to_same_client(&l, &same, true));
        assert!(!may_return_to_same_client(
            &l,
            &tandem_core::Duid(vec![9]),
            false
        ));
    }
}
