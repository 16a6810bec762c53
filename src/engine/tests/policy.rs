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
    // Out of daily quota until after the deadline: the quota is the reason.
    let spent = blocked(cand(0, now), now + s(3600), BlockKind::Quota);
    for policy in [Policy::Adaptive, Policy::FallbackFirst, wait_first()] {
        c.policy = policy;
        // Another model that is only late gives the earlier answer: deadline.
        assert_eq!(
            decide(&c, &[spent.clone(), later.clone()]),
            Decision::GiveUp {
                reason: GiveUpReason::Deadline,
                would_wait: Some(s(300))
            },
            "{policy}"
        );
        assert_eq!(
            decide(&c, std::slice::from_ref(&spent)),
            Decision::GiveUp {
                reason: GiveUpReason::Quota,
                would_wait: Some(s(3600))
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

/// Found by `bench/policies.sh` on the storm scenario: after a model's
/// upstream 429 cooldown ended, adaptive sent the next prompt straight back
/// to it (a 429 is not a failure of the success estimate), meeting as many
/// 429s as fallback-first. Its admission estimate now counts the 429s, so it
/// moves on until that evidence has aged.
#[tokio::test(start_paused = true)]
async fn adaptive_stays_away_from_a_model_that_answered_429_until_it_ages() {
    let t0 = Instant::now();
    let storm_until = t0 + Duration::from_secs(60);
    let script = Script::server(move |model, arrival| {
        if model == "A" && arrival < storm_until {
            r429(RateLimitScope::Upstream, Some(100))
        } else {
            ok(model)
        }
    });
    let rig = Rig::new(cfg(Policy::Adaptive), abc(), script);
    let chain = ["A", "B"];
    // Prompt 0 meets the storm on A and rotates to B at once.
    assert_eq!(rig.run("p0", &chain).await.model.as_deref(), Some("B"));
    // A's cooldown (100 ms) is long over, but as fast as B and expected to
    // refuse, it is rested: the next prompts go to B without trying it.
    for i in 1..4 {
        let r = rig.run(&format!("p{i}"), &chain).await;
        assert_eq!((r.model.as_deref(), r.attempts), (Some("B"), 1), "p{i}");
    }
    assert_eq!(
        rig.calls(),
        at(&[(0, "A"), (1000, "B"), (2000, "B"), (3000, "B"), (4000, "B")])
    );
    // Minutes later (the evidence halves every 30 s) A is the primary again.
    tokio::time::sleep_until(t0 + Duration::from_secs(300)).await;
    assert_eq!(rig.run("late", &chain).await.model.as_deref(), Some("A"));
}

/// Found by `bench/policies.sh` on the storm scenario: when a refusing
/// model's cooldown ended, every prompt deciding at that moment went to it
/// and met the storm together. Now one request probes it and the others
/// wait for that answer (or go elsewhere); a prompt refused by a model
/// moves on from it.
#[tokio::test(start_paused = true)]
async fn adaptive_probes_a_refusing_model_with_one_request_at_a_time() {
    let t0 = Instant::now();
    let storm_until = t0 + Duration::from_secs(60);
    let script = Script::server(move |model, arrival| match model {
        "A" if arrival < storm_until => {
            r429(RateLimitScope::Upstream, Some(500)).took(Duration::from_millis(100))
        }
        "A" => ok(model).took(Duration::from_millis(100)),
        _ => ok(model),
    });
    // A is ten times faster than B: worth probing again and again.
    let mut targets = abc();
    targets[0].prior_latency_ms = Some(100.0);
    let rig = Rig::new(cfg(Policy::Adaptive), targets, script);
    let chain = ["A", "B"];
    let batch = |tag: &'static str| {
        let rig = &rig;
        async move {
            futures_util::future::join_all((0..4).map(|i| rig.run(&format!("{tag}{i}"), &chain)))
                .await
        }
    };
    // The first batch finds A unknown: all four meet the storm, then B.
    assert!(
        batch("a")
            .await
            .iter()
            .all(|r| r.model.as_deref() == Some("B"))
    );
    // Later batches: never two requests to A at once.
    assert!(batch("b").await.iter().all(|r| r.is_ok()));
    assert!(batch("c").await.iter().all(|r| r.is_ok()));
    let to_a: Vec<u64> = rig
        .calls()
        .into_iter()
        .filter(|(t, m)| m == "A" && *t > 0)
        .map(|(t, _)| t)
        .collect();
    assert!(!to_a.is_empty(), "A was probed again");
    for w in to_a.windows(2) {
        assert!(w[1] >= w[0] + 100, "two requests to A at once: {to_a:?}");
    }
    // No prompt met A's storm twice.
    for e in rig.log.events() {
        if let Event::Attempt {
            model,
            attempt,
            outcome,
            ..
        } = &e.event
            && model == "A"
            && *outcome == Outcome::RateLimited
        {
            let again = rig.log.events().into_iter().any(|o| {
                o.prompt_id == e.prompt_id
                    && matches!(&o.event, Event::Attempt { model, attempt: a, .. } if model == "A" && a > attempt)
            });
            assert!(!again, "{} went back to A", e.prompt_id);
        }
    }
}

/// Found by `rotor rotate-test --sim ci-outage`: a primary that failed
/// during an outage kept its low success estimate forever, so adaptive never
/// tried it again. The estimate ages, and the primary gets its traffic back.
#[tokio::test(start_paused = true)]
async fn adaptive_returns_to_a_primary_whose_failures_have_aged() {
    let t0 = Instant::now();
    let outage_until = t0 + Duration::from_secs(5);
    let script = Script::server(move |model, arrival| {
        if model == "A" && arrival < outage_until {
            fail(Outcome::ServerError, 500)
        } else {
            ok(model)
        }
    });
    let mut c = cfg(Policy::Adaptive);
    c.backoff.same_model_retries = 0;
    let rig = Rig::new(c, abc(), script);
    let chain = ["A", "B"];
    for i in 0..3 {
        assert!(rig.run(&format!("p{i}"), &chain).await.is_ok());
    }
    // Three failures: A's estimate fell and B answers the next prompt.
    assert_eq!(rig.run("during", &chain).await.model.as_deref(), Some("B"));
    // Two minutes later (four half-lives) A is chosen again, and answers.
    tokio::time::sleep_until(t0 + Duration::from_secs(120)).await;
    let r = rig.run("after", &chain).await;
    assert_eq!((r.model.as_deref(), r.attempts), (Some("A"), 1));
}

/// `ci-intermittent-storm` in miniature (bench/policies.sh: adaptive 18 %
/// sooner than either seed policy): while the primary sits out a long
/// Retry-After, the first fallback turns out much slower than its prior
/// and the second is fast. Adaptive learns the slow model's latency from
/// its first answer and sends the next prompts to the fast one;
/// fallback-first keeps taking the next model in chain order, the slow one.
#[tokio::test(start_paused = true)]
async fn adaptive_learns_a_slow_fallback_and_takes_the_fast_one_during_a_cooldown() {
    let server = || {
        Script::server(|model, _| match model {
            "A" => r429(RateLimitScope::Upstream, Some(60_000)).took(Duration::from_millis(300)),
            "B" => ok(model).took(Duration::from_secs(15)),
            _ => ok(model).took(Duration::from_millis(1500)),
        })
    };
    let chain = ["A", "B", "C"];
    let models = |rig: &Rig| rig.calls().into_iter().map(|(_, m)| m).collect::<Vec<_>>();

    let adaptive = Rig::new(cfg(Policy::Adaptive), abc(), server());
    for i in 0..4 {
        assert!(adaptive.run(&format!("p{i}"), &chain).await.is_ok());
    }
    // p0 meets the 429 and tries B (its prior: 1 s, like C's; chain order
    // breaks the tie); B's 15 s answer moves its estimate to 5.2 s, so
    // p1-p3 go to C while A cools down.
    assert_eq!(
        adaptive.calls(),
        at(&[
            (0, "A"),
            (300, "B"),
            (15_300, "C"),
            (16_800, "C"),
            (18_300, "C")
        ])
    );

    let fallback_first = Rig::new(cfg(Policy::FallbackFirst), abc(), server());
    for i in 0..4 {
        assert!(fallback_first.run(&format!("p{i}"), &chain).await.is_ok());
    }
    assert_eq!(models(&fallback_first), ["A", "B", "B", "B", "B"]);
}
