//! Breaker cycles, recovery to the primary, waits and chain exhaustion.

use super::*;

fn sorted(mut v: Vec<(u64, String)>) -> Vec<(u64, String)> {
    v.sort();
    v
}

fn breaker_changes(rig: &Rig) -> Vec<(BreakerState, BreakerState, Option<u64>)> {
    rig.named("breaker")
        .into_iter()
        .map(|e| match e {
            Event::Breaker {
                from,
                to,
                open_for_ms,
                ..
            } => (from, to, open_for_ms),
            _ => unreachable!(),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_blocks_probes_once_reopens_longer_and_closes() {
    let mut c = cfg(Policy::FallbackFirst);
    c.backoff.same_model_retries = 0; // one error on A, then B
    let t0 = Instant::now();
    let script = Script::server(move |model, arrival| {
        if model == "A" && arrival < t0 + Duration::from_secs(100) {
            fail(Outcome::ServerError, 500)
        } else {
            ok(model)
        }
    });
    let rig = Rig::new(c, abc(), script);
    let chain = ["A", "B"];
    // Five prompts: A fails five times in a row and opens (at 9 s, for 30 s).
    for i in 0..5 {
        assert!(rig.run(&format!("p{i}"), &chain).await.is_ok());
    }
    // While open, nothing reaches A.
    assert!(rig.run("p5", &chain).await.is_ok());
    tokio::time::sleep_until(rig.t0 + Duration::from_secs(39)).await;
    // Half-open: three prompts at once, exactly one probes A (and fails).
    let batch = |tag: &'static str| {
        let rig = &rig;
        async move {
            futures_util::future::join_all((0..3).map(|i| rig.run(&format!("{tag}{i}"), &chain)))
                .await
        }
    };
    assert!(batch("h").await.iter().all(|r| r.is_ok()));
    // Re-opened for 60 s (until 100 s); then the probe succeeds and closes it.
    tokio::time::sleep_until(rig.t0 + Duration::from_secs(100)).await;
    assert!(batch("k").await.iter().all(|r| r.is_ok()));
    assert_eq!(rig.run("last", &chain).await.model.as_deref(), Some("A"));

    let expected = at(&[
        (0, "A"),
        (1000, "B"),
        (2000, "A"),
        (3000, "B"),
        (4000, "A"),
        (5000, "B"),
        (6000, "A"),
        (7000, "B"),
        (8000, "A"),
        (9000, "B"),
        (10_000, "B"),
        (39_000, "A"),
        (39_000, "B"),
        (39_000, "B"),
        (40_000, "B"),
        (100_000, "A"),
        (100_000, "B"),
        (100_000, "B"),
        (101_000, "A"),
    ]);
    assert_eq!(sorted(rig.calls()), expected);
    use BreakerState::*;
    assert_eq!(
        breaker_changes(&rig),
        [
            (Closed, Open, Some(30_000)),
            (Open, HalfOpen, None),
            (HalfOpen, Open, Some(60_000)),
            (Open, HalfOpen, None),
            (HalfOpen, Closed, None),
        ]
    );
    assert_eq!(
        rig.fallbacks()[5],
        ("A".into(), "B".into(), FallbackReason::BreakerOpen)
    );
    let snap = rig.engine.snapshot();
    let a = snap.model("A").unwrap();
    assert_eq!((a.breaker, a.breaker_opens), (Closed, 2));
    assert_eq!(
        (
            a.counters.attempts,
            a.counters.failures,
            a.counters.successes
        ),
        (8, 6, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn adaptive_returns_to_the_primary_after_its_retry_after() {
    let mut targets = abc();
    targets[1].prior_latency_ms = Some(3000.0);
    let slow = |s: &str| ok(s).took(Duration::from_secs(3));
    let script = Script::new()
        .on(
            "A",
            [
                r429(RateLimitScope::Model, Some(10_000)),
                ok("a1"),
                ok("a2"),
            ],
        )
        .on("B", [slow("b1"), slow("b2"), slow("b3")]);
    let rig = Rig::new(cfg(Policy::Adaptive), targets, script);
    let mut models = vec![];
    for i in 0..5 {
        models.push(rig.run(&format!("p{i}"), &["A", "B"]).await.model.unwrap());
    }
    assert_eq!(models, ["B", "B", "B", "A", "A"]);
    // p3 at 10 s: A is 1 s from its cooldown's end — worth waiting for.
    assert_eq!(
        rig.calls(),
        at(&[
            (0, "A"),
            (1000, "B"),
            (4000, "B"),
            (7000, "B"),
            (11_000, "A"),
            (12_000, "A")
        ])
    );
    assert_eq!(rig.waits(), [("A".into(), WaitReason::Cooldown, 1000)]);
    let snap = rig.engine.snapshot();
    assert_eq!(snap.model("B").unwrap().counters.rotations_in, 3);
    assert_eq!(snap.model("A").unwrap().counters.rate_limited, 1);
}

#[tokio::test(start_paused = true)]
async fn wait_first_falls_back_when_the_wait_exceeds_max_wait() {
    let script = Script::new()
        .on("A", [r429(RateLimitScope::Model, Some(400_000))])
        .on("B", [ok("b")]);
    let rig = Rig::new(cfg(wait_first()), abc(), script);
    assert!(rig.run("p", &["A", "B"]).await.is_ok());
    assert_eq!(rig.calls(), at(&[(0, "A"), (1000, "B")]));
    assert_eq!(
        rig.fallbacks(),
        [("A".into(), "B".into(), FallbackReason::MaxWait)]
    );
}

#[tokio::test(start_paused = true)]
async fn wait_first_falls_back_after_one_retry_on_other_errors() {
    let script = Script::new()
        .on(
            "A",
            [fail(Outcome::Overloaded, 503), fail(Outcome::Timeout, 408)],
        )
        .on("B", [ok("b")]);
    let rig = Rig::new(cfg(wait_first()), abc(), script);
    assert!(rig.run("p", &["A", "B"]).await.is_ok());
    let d = draws(42, "p", 2);
    assert_eq!(
        rig.calls(),
        at(&[(0, "A"), (1000 + d[0], "A"), (2000 + d[0], "B")])
    );
    assert_eq!(
        rig.fallbacks(),
        [("A".into(), "B".into(), FallbackReason::Error)]
    );
}

#[tokio::test(start_paused = true)]
async fn fallback_first_waits_for_the_earliest_model_once_the_chain_is_exhausted() {
    let script = Script::new()
        .on("A", [r429(RateLimitScope::Model, Some(10_000))])
        .on("B", [r429(RateLimitScope::Model, Some(5000)), ok("b")]);
    let rig = Rig::new(cfg(Policy::FallbackFirst), abc(), script);
    let r = rig.run("p", &["A", "B"]).await;
    assert!(r.is_ok());
    assert_eq!(rig.calls(), at(&[(0, "A"), (1000, "B"), (7000, "B")]));
    assert_eq!(rig.waits(), [("B".into(), WaitReason::RetryAfter, 5000)]);
    assert_eq!((r.attempts, r.hops, r.fallbacks), (3, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn unknown_ids_are_ignored_and_an_empty_chain_gives_up() {
    let rig = Rig::new(
        cfg(Policy::Adaptive),
        abc(),
        Script::new().on("B", [ok("b")]),
    );
    assert_eq!(rig.engine.unknown_ids(&["X".into(), "B".into()]), ["X"]);
    assert!(rig.run("p", &["X", "B", "B"]).await.is_ok());
    let r = rig.run("q", &["X"]).await;
    assert_eq!(r.gave_up.unwrap().reason, GiveUpReason::ChainExhausted);
    assert_eq!(r.attempts, 0);
}

#[tokio::test(start_paused = true)]
async fn the_engine_is_shared_by_spawned_tasks() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    let rig = Rig::new(cfg(Policy::Adaptive), abc(), Script::server(|m, _| ok(m)));
    assert_send_sync(&rig.engine);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let engine = rig.engine.clone();
            tokio::spawn(async move { engine.run(req(&format!("p{i}"), &["A", "B"])).await })
        })
        .collect();
    for h in handles {
        assert!(h.await.unwrap().is_ok());
    }
    let snap = rig.engine.snapshot();
    assert_eq!(snap.model("A").unwrap().counters.successes, 8);
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["models"][0]["breaker"], "closed");
    assert_eq!(json["models"][0]["attempts"], 8);
}

/// An attempt's scheduled start is the instant the engine planned it for,
/// not when its timer woke it: here the retry after a 429 was due at 6 s and
/// the timer fired at 6.5 s (time jumped past it), so the client's
/// `queue_ms` (sent − scheduled) holds the 500 ms of lateness.
#[tokio::test(start_paused = true)]
async fn the_scheduled_start_is_the_planned_instant_not_the_late_wake_up() {
    let script = Script::new().on("B", [r429(RateLimitScope::Model, Some(5000)), ok("b")]);
    let rig = Rig::new(cfg(Policy::FallbackFirst), abc(), script);
    let t0 = rig.t0;
    let late = tokio::spawn(async move {
        tokio::time::sleep_until(t0 + Duration::from_secs(3)).await;
        tokio::time::advance(Duration::from_millis(3500)).await;
    });
    assert!(rig.run("p", &["B"]).await.is_ok());
    late.await.unwrap();
    assert_eq!(rig.calls(), at(&[(0, "B"), (6500, "B")]));
    let scheduled: Vec<u64> = rig
        .script
        .seen()
        .iter()
        .map(|s| (s.scheduled.expect("the engine passes it") - t0).as_millis() as u64)
        .collect();
    assert_eq!(scheduled, [0, 6000]);
    assert_eq!(rig.waits(), [("B".into(), WaitReason::RetryAfter, 5500)]);
}

/// A limiter slot the engine chose is the scheduled start of the attempt
/// that waits for it, however late the timer wakes it.
#[tokio::test(start_paused = true)]
async fn a_limiter_slot_is_the_scheduled_start_of_its_attempt() {
    let script = Script::server(|_, _| ok("x").took(Duration::from_millis(10)));
    let mut limits = HashMap::new();
    limits.insert(
        "or".to_string(),
        ProviderLimits {
            per_window: Some(1),
            ..ProviderLimits::default()
        },
    );
    let rig = Rig::with_limits(cfg(Policy::FallbackFirst), abc(), limits, script);
    assert!(rig.run("p1", &["A"]).await.is_ok());
    let t0 = rig.t0;
    let late = tokio::spawn(async move {
        tokio::time::sleep_until(t0 + Duration::from_secs(30)).await;
        tokio::time::advance(Duration::from_secs(40)).await;
    });
    assert!(rig.run("p2", &["A"]).await.is_ok());
    late.await.unwrap();
    let ms = |i: Instant| (i - t0).as_millis() as u64;
    let seen = rig.script.seen();
    let got: Vec<(u64, u64)> = seen
        .iter()
        .map(|s| (ms(s.at), ms(s.scheduled.expect("the engine passes it"))))
        .collect();
    assert_eq!(got, [(0, 0), (70_000, 61_200)]);
}
