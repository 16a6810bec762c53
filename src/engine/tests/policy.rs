//! The pure policy on hand-made candidates.

use super::*;
use crate::engine::policy::{
    BlockKind, Blocker, Candidate, Context, Decision, Exclusion, Subject, decide, reason_for,
};

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn cand(target: usize, now: Instant) -> Candidate {
    Candidate {
        target,
        chain_pos: target,
        excluded: None,
        left: None,
        ready_at: now,
        blocker: None,
        slot_at: now,
        slot_on: None,
        expected_latency: s(1),
        p_success: 0.9,
    }
}

fn blocked(mut c: Candidate, until: Instant, kind: BlockKind) -> Candidate {
    c.ready_at = until;
    c.slot_at = until;
    c.blocker = Some(Blocker {
        kind,
        subject: Subject::Model,
    });
    c
}

fn ctx(policy: Policy, now: Instant) -> Context {
    Context {
        policy,
        now,
        deadline: now + s(120),
        last: None,
        attempts: 0,
        max_attempts: 6,
        margin: 0.2,
    }
}

const HINT: BlockKind = BlockKind::Cooldown {
    hint: true,
    own: true,
};

#[test]
fn adaptive_prefers_chain_order_within_the_margin() {
    let now = Instant::now();
    let c = ctx(Policy::Adaptive, now);
    let mut a = cand(0, now);
    let b = cand(1, now);
    a.expected_latency = Duration::from_millis(1150);
    assert_eq!(
        decide(&c, &[a.clone(), b.clone()]),
        Decision::Send { target: 0, at: now }
    );
    a.expected_latency = Duration::from_millis(1300);
    assert_eq!(
        decide(&c, &[a.clone(), b.clone()]),
        Decision::Send { target: 1, at: now }
    );
    // A low success probability costs as much as a long wait.
    a.expected_latency = s(1);
    a.p_success = 0.3;
    assert_eq!(decide(&c, &[a, b]), Decision::Send { target: 1, at: now });
}

#[test]
fn adaptive_counts_waits_and_limiter_slots() {
    let now = Instant::now();
    let c = ctx(Policy::Adaptive, now);
    let a = blocked(cand(0, now), now + s(1), HINT);
    let mut b = cand(1, now);
    b.expected_latency = s(5);
    // A: (1 + 1) / p beats B: 5 / p — wait for A.
    assert_eq!(
        decide(&c, &[a, b.clone()]),
        Decision::Wait {
            target: 0,
            until: now + s(1)
        }
    );
    let mut a = cand(0, now);
    a.slot_at = now + s(2);
    a.slot_on = Some(Subject::Provider);
    assert_eq!(
        decide(&c, &[a, b]),
        Decision::Send {
            target: 0,
            at: now + s(2)
        }
    );
}

#[test]
fn wait_first_waits_for_cooldowns_but_not_breakers_or_quotas() {
    let now = Instant::now();
    let c = ctx(wait_first(), now);
    let b = cand(1, now);
    let cool = blocked(cand(0, now), now + s(10), HINT);
    assert_eq!(
        decide(&c, &[cool, b.clone()]),
        Decision::Wait {
            target: 0,
            until: now + s(10)
        }
    );
    for kind in [BlockKind::Breaker, BlockKind::Quota] {
        let a = blocked(cand(0, now), now + s(10), kind);
        assert_eq!(
            decide(&c, &[a.clone(), b.clone()]),
            Decision::Send { target: 1, at: now }
        );
        let expected = if kind == BlockKind::Quota {
            FallbackReason::Quota
        } else {
            FallbackReason::BreakerOpen
        };
        assert_eq!(reason_for(&c.policy, &a, now), expected);
    }
    let long = blocked(cand(0, now), now + s(301), HINT);
    assert_eq!(
        decide(&c, &[long.clone(), b]),
        Decision::Send { target: 1, at: now }
    );
    assert_eq!(reason_for(&c.policy, &long, now), FallbackReason::MaxWait);
}

#[test]
fn fallback_first_sticks_through_backoff_but_not_after_leaving() {
    let now = Instant::now();
    let mut c = ctx(Policy::FallbackFirst, now);
    c.last = Some(0);
    c.attempts = 1;
    let a = blocked(cand(0, now), now + s(2), BlockKind::Backoff { hint: false });
    let b = cand(1, now);
    assert_eq!(
        decide(&c, &[a.clone(), b.clone()]),
        Decision::Wait {
            target: 0,
            until: now + s(2)
        }
    );
    let mut left = a;
    left.left = Some(FallbackReason::Error);
    assert_eq!(
        decide(&c, &[left, b]),
        Decision::Send { target: 1, at: now }
    );
}

#[test]
fn give_ups_name_their_reason() {
    let now = Instant::now();
    let mut c = ctx(Policy::Adaptive, now);
    let a = cand(0, now);
    c.attempts = 6;
    assert_eq!(
        decide(&c, &[a]),
        Decision::GiveUp {
            reason: GiveUpReason::RetriesExhausted,
            would_wait: None
        }
    );
    c.attempts = 0;
    let late = blocked(cand(0, now), now + s(200), HINT);
    let later = blocked(cand(1, now), now + s(300), HINT);
    for policy in [Policy::Adaptive, Policy::FallbackFirst, wait_first()] {
        c.policy = policy;
        assert_eq!(
            decide(&c, &[late.clone(), later.clone()]),
            Decision::GiveUp {
                reason: GiveUpReason::Deadline,
                would_wait: Some(s(200))
            },
            "{policy}"
        );
    }
    let mut x = cand(0, now);
    x.excluded = Some(Exclusion::Incompatible);
    let mut y = cand(1, now);
    y.excluded = Some(Exclusion::ContextLength);
    assert_eq!(
        decide(&c, &[x.clone(), y]),
        Decision::GiveUp {
            reason: GiveUpReason::AllIncompatible,
            would_wait: None
        }
    );
    let mut z = cand(1, now);
    z.excluded = Some(Exclusion::ProviderDisabled);
    assert_eq!(
        decide(&c, &[x, z]),
        Decision::GiveUp {
            reason: GiveUpReason::ChainExhausted,
            would_wait: None
        }
    );
}
