//! Each policy on a 429 of each scope: the exact (time, model) sequence.

use super::*;
use RateLimitScope::*;

const HINT_MS: u64 = 5000;

fn first_reply(scope: RateLimitScope) -> Reply {
    match scope {
        // The daily quota's reset, three hours ahead, as epoch ms.
        AccountDay => Reply {
            reset_epoch_ms: Some(EPOCH + 3 * 3600 * 1000),
            ..r429(AccountDay, None)
        },
        s => r429(s, Some(HINT_MS)),
    }
}

async fn scenario(policy: Policy, scope: RateLimitScope) -> Rig {
    let script = Script::new()
        .on("A", [first_reply(scope), ok("a")])
        .on("B", [ok("b")])
        .on("C", [ok("c")]);
    let rig = Rig::new(cfg(policy), abc(), script);
    let r = rig.run("p", &["A", "B", "C"]).await;
    assert!(r.is_ok(), "{policy} {scope}: {r:?}");
    rig
}

#[tokio::test(start_paused = true)]
async fn fallback_first_moves_on_at_once_and_respects_the_scope() {
    for (scope, next) in [
        (AccountMinute, "C"),
        (AccountDay, "C"),
        (Upstream, "B"),
        (Model, "B"),
        (Unknown, "B"),
    ] {
        let rig = scenario(Policy::FallbackFirst, scope).await;
        assert_eq!(rig.calls(), at(&[(0, "A"), (1000, next)]), "{scope}");
        assert!(rig.waits().is_empty(), "{scope}: no waiting");
        let reason = if scope == AccountDay {
            FallbackReason::Quota
        } else {
            FallbackReason::RateLimited
        };
        assert_eq!(
            rig.fallbacks(),
            [("A".into(), next.into(), reason)],
            "{scope}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn wait_first_waits_the_servers_time_on_the_primary() {
    for scope in [AccountMinute, Upstream, Model, Unknown] {
        let rig = scenario(wait_first(), scope).await;
        assert_eq!(
            rig.calls(),
            at(&[(0, "A"), (1000 + HINT_MS, "A")]),
            "{scope}"
        );
        let on = if scope == AccountMinute { "or" } else { "A" };
        assert_eq!(
            rig.waits(),
            [(on.into(), WaitReason::RetryAfter, HINT_MS)],
            "{scope}"
        );
        assert!(rig.fallbacks().is_empty(), "{scope}");
    }
    // The daily quota is not waited for: other providers are used at once.
    let rig = scenario(wait_first(), AccountDay).await;
    assert_eq!(rig.calls(), at(&[(0, "A"), (1000, "C")]));
    assert_eq!(
        rig.fallbacks(),
        [("A".into(), "C".into(), FallbackReason::Quota)]
    );
}

#[tokio::test(start_paused = true)]
async fn adaptive_picks_the_soonest_answer_for_each_scope() {
    for (scope, next) in [
        (AccountMinute, "C"),
        (AccountDay, "C"),
        (Upstream, "B"),
        (Model, "B"),
        (Unknown, "B"),
    ] {
        let rig = scenario(Policy::Adaptive, scope).await;
        assert_eq!(rig.calls(), at(&[(0, "A"), (1000, next)]), "{scope}");
        let reason = if scope == AccountDay {
            FallbackReason::Quota
        } else {
            FallbackReason::RateLimited
        };
        assert_eq!(
            rig.fallbacks(),
            [("A".into(), next.into(), reason)],
            "{scope}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn account_day_skips_the_providers_free_models_until_reset_with_one_event() {
    let mut targets = abc();
    targets.push(target("D", "or", false)); // a paid model of the same provider
    let reset = EPOCH + 3 * 3600 * 1000;
    let script = Script::new()
        .on(
            "A",
            [
                Reply {
                    reset_epoch_ms: Some(reset),
                    ..r429(AccountDay, None)
                },
                ok("a"),
            ],
        )
        .on("D", (0..3).map(|_| ok("d")));
    let rig = Rig::new(cfg(Policy::FallbackFirst), targets, script);
    for i in 0..3 {
        let r = rig.run(&format!("p{i}"), &["A", "B", "D", "C"]).await;
        assert_eq!(
            r.model.as_deref(),
            Some("D"),
            "the provider's paid model still serves"
        );
    }
    assert_eq!(
        rig.calls(),
        at(&[(0, "A"), (1000, "D"), (2000, "D"), (3000, "D")])
    );
    let quota = rig.named("quota_exhausted");
    assert_eq!(quota.len(), 1, "{quota:?}");
    match &quota[0] {
        Event::QuotaExhausted {
            provider,
            free_only,
            until_epoch_ms,
            ..
        } => {
            assert_eq!((provider.as_str(), *free_only), ("or", true));
            assert_eq!(*until_epoch_ms, reset);
        }
        e => panic!("{e:?}"),
    }
    // Later prompts skip the primary for the quota.
    assert_eq!(
        rig.fallbacks()[1],
        ("A".into(), "D".into(), FallbackReason::Quota)
    );
    // After the reset the free primary is used again.
    tokio::time::sleep_until(rig.t0 + Duration::from_secs(3 * 3600)).await;
    let r = rig.run("later", &["A", "B", "D", "C"]).await;
    assert_eq!(r.model.as_deref(), Some("A"));
}

#[tokio::test(start_paused = true)]
async fn daily_counter_exhausts_before_any_429() {
    let limits = HashMap::from([(
        "or".to_string(),
        ProviderLimits {
            per_day: Some(2),
            applies_to_free_only: true,
            ..ProviderLimits::default()
        },
    )]);
    let script = Script::new()
        .on("A", [ok("1"), ok("2")])
        .on("C", [ok("3"), ok("4")]);
    let rig = Rig::with_limits(cfg(Policy::Adaptive), abc(), limits, script);
    for i in 0..4 {
        assert!(rig.run(&format!("p{i}"), &["A", "B", "C"]).await.is_ok());
    }
    let models: Vec<String> = rig.calls().into_iter().map(|(_, m)| m).collect();
    assert_eq!(models, ["A", "A", "C", "C"]);
    assert_eq!(rig.named("quota_exhausted").len(), 1);
    let snap = rig.engine.snapshot();
    let or = snap.providers.iter().find(|p| p.provider == "or").unwrap();
    assert_eq!(or.used_in_period, 2);
    // The day is engine start + 24 h when no first reset is given.
    assert_eq!(or.quota_exhausted_until_epoch_ms, Some(EPOCH + 86_400_000));
}
