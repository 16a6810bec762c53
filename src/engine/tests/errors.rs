//! Hints, backoff, the retry budget, the deadline and every error class.

use super::*;

fn one_model_cfg(policy: Policy) -> EngineConfig {
    let mut c = cfg(policy);
    c.breaker.failure_threshold = 100; // keep the breaker out of the way
    c
}

#[tokio::test(start_paused = true)]
async fn retry_after_wins_over_backoff_and_backoff_fills_in() {
    let script = Script::new().on(
        "A",
        [
            r429(RateLimitScope::Model, Some(7000)),
            // Silent, and upstream: backoff, no pacing.
            r429(RateLimitScope::Upstream, None),
            r429(RateLimitScope::Model, Some(2000)),
            ok("a"),
        ],
    );
    let rig = Rig::new(one_model_cfg(wait_first()), abc(), script);
    let r = rig.run("p", &["A", "B"]).await;
    assert!(r.is_ok());
    // The only backoff draw of this prompt: its first draw, for retry n = 1.
    let mut b = Backoff::for_prompt(BackoffConfig::default(), 42, "p", 0);
    let d = b.delay(1).as_millis() as u64;
    assert!(d <= 2000);
    assert_eq!(
        rig.calls(),
        at(&[(0, "A"), (8000, "A"), (9000 + d, "A"), (12_000 + d, "A")])
    );
    assert_eq!(
        rig.waits(),
        [
            ("A".into(), WaitReason::RetryAfter, 7000),
            ("A".into(), WaitReason::Backoff, d),
            ("A".into(), WaitReason::RetryAfter, 2000),
        ]
    );
    assert_eq!((r.attempts, r.hops, r.fallbacks), (4, 1, 0));
    assert_eq!(r.waited, Duration::from_millis(9000 + d));
}

#[tokio::test(start_paused = true)]
async fn the_latest_hint_replaces_a_longer_earlier_one() {
    // Two prompts in flight on A: the first 429 says 60 s, the later one 2 s.
    let script = Script::new().on(
        "A",
        [
            r429(RateLimitScope::Model, Some(60_000)),
            r429(RateLimitScope::Model, Some(2000)).took(Duration::from_secs(2)),
            ok("1"),
            ok("2"),
        ],
    );
    let rig = Rig::new(one_model_cfg(wait_first()), abc(), script);
    let (a, b) = tokio::join!(rig.run("p1", &["A"]), rig.run("p2", &["A"]));
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(
        rig.calls(),
        at(&[(0, "A"), (0, "A"), (4000, "A"), (4000, "A")])
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_follows_the_seeded_full_jitter_sequence() {
    let script = Script::server(|_, _| fail(Outcome::ServerError, 500));
    let rig = Rig::new(one_model_cfg(Policy::FallbackFirst), abc(), script);
    let r = rig.run("p", &["A"]).await;
    let d = draws(42, "p", 5);
    for (n, ms) in d.iter().enumerate() {
        let ceiling = BackoffConfig::default().ceiling(n as u32).as_millis() as u64;
        assert!(*ms <= ceiling, "draw {n}: {ms} > {ceiling}");
    }
    let mut expected = vec![(0u64, "A")];
    let mut t = 0;
    for ms in &d {
        t += 1000 + ms;
        expected.push((t, "A"));
    }
    assert_eq!(rig.calls(), at(&expected));
    let waits: Vec<u64> = rig.waits().into_iter().map(|(_, _, ms)| ms).collect();
    assert_eq!(waits, d);
    assert_eq!(r.attempts, 6, "1 + 5 retries");
    assert_eq!(r.gave_up.unwrap().reason, GiveUpReason::RetriesExhausted);
    assert_eq!(r.final_result.unwrap().outcome, Outcome::ServerError);
}

#[tokio::test(start_paused = true)]
async fn one_retry_budget_is_shared_across_fallback_hops() {
    let script = Script::server(|_, _| fail(Outcome::ServerError, 502));
    let mut targets = abc();
    targets.push(target("D", "other", false));
    let rig = Rig::new(cfg(Policy::FallbackFirst), targets, script);
    let r = rig.run("p", &["A", "B", "C", "D"]).await;
    let d = draws(42, "p", 6);
    // A, A (after backoff), B at once, B (after backoff), C at once, C.
    let t1 = 1000 + d[0];
    let t2 = t1 + 1000;
    let t3 = t2 + 1000 + d[2];
    let t4 = t3 + 1000;
    let t5 = t4 + 1000 + d[4];
    assert_eq!(
        rig.calls(),
        at(&[
            (0, "A"),
            (t1, "A"),
            (t2, "B"),
            (t3, "B"),
            (t4, "C"),
            (t5, "C")
        ])
    );
    assert_eq!(r.attempts, 6);
    assert_eq!(r.hops, 3);
    assert_eq!(r.gave_up.unwrap().reason, GiveUpReason::RetriesExhausted);
    let reasons: Vec<_> = rig.fallbacks().into_iter().map(|f| f.2).collect();
    assert_eq!(reasons, [FallbackReason::Error, FallbackReason::Error]);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_never_overslept() {
    let mut c = cfg(wait_first());
    c.deadline = Duration::from_secs(10);
    let script = Script::new().on("A", [r429(RateLimitScope::Model, Some(30_000))]);
    let rig = Rig::new(c.clone(), abc(), script);
    let r = rig.run("p", &["A"]).await;
    let g = r.gave_up.unwrap();
    assert_eq!(g.reason, GiveUpReason::Deadline);
    assert_eq!(g.would_wait, Some(Duration::from_secs(30)));
    assert_eq!(
        r.elapsed,
        Duration::from_secs(1),
        "gave up at once, no sleep"
    );
    assert_eq!(r.waited, Duration::ZERO);

    // A call that hangs is cut at the deadline; the timeout says so.
    let script = Script::new().on("A", [ok("late").took(Duration::from_secs(1000))]);
    let rig = Rig::new(c.clone(), abc(), script);
    let r = rig.run("p", &["A", "C"]).await;
    assert_eq!(r.elapsed, Duration::from_secs(10));
    assert_eq!(r.final_result.unwrap().outcome, Outcome::Timeout);
    assert_eq!(rig.script.seen()[0].total_timeout, Duration::from_secs(10));

    // A transport that ignores its timeout is cut by the engine's guard, a
    // moment after the client's own timer would have ended it.
    let script = Script::new()
        .on("A", [ok("late").took(Duration::from_secs(1000))])
        .ignoring_timeouts();
    let rig = Rig::new(c.clone(), abc(), script);
    let r = rig.run("p", &["A", "C"]).await;
    assert_eq!(r.elapsed, Duration::from_millis(10_100));
    assert_eq!(r.final_result.unwrap().outcome, Outcome::Timeout);

    // The time left caps each call's timeout.
    let script = Script::new().on("A", [fail(Outcome::ServerError, 500), ok("a")]);
    let rig = Rig::new(c, abc(), script);
    assert!(rig.run("p", &["A"]).await.is_ok());
    let seen = rig.script.seen();
    assert_eq!(
        seen[1].total_timeout,
        rig.t0 + Duration::from_secs(10) - seen[1].at
    );
}

#[tokio::test(start_paused = true)]
async fn auth_aborts_the_run() {
    let script = Script::new().on("A", [fail(Outcome::Auth, 401)]);
    let rig = Rig::new(cfg(Policy::Adaptive), abc(), script);
    let r = rig.run("p1", &["A", "B"]).await;
    assert!(matches!(r.fatal, Some(Fatal::Auth { ref model, .. }) if model == "A"));
    assert_eq!(r.gave_up.unwrap().reason, GiveUpReason::Auth);
    let r2 = rig.run("p2", &["B", "C"]).await;
    assert!(r2.fatal.is_some(), "every later prompt stops too");
    assert_eq!(r2.attempts, 0);
    assert_eq!(rig.calls(), at(&[(0, "A")]));
    assert!(rig.engine.fatal().is_some());
}

#[tokio::test(start_paused = true)]
async fn payment_takes_the_provider_out_for_the_run() {
    let targets = vec![
        target("A", "x", false),
        target("B", "x", false),
        target("C", "y", false),
    ];
    let script = Script::new()
        .on("A", [fail(Outcome::Payment, 402)])
        .on("C", [ok("1"), ok("2")]);
    let rig = Rig::new(cfg(Policy::Adaptive), targets, script);
    assert!(rig.run("p1", &["A", "B", "C"]).await.is_ok());
    assert!(rig.run("p2", &["A", "B", "C"]).await.is_ok());
    assert_eq!(rig.calls(), at(&[(0, "A"), (1000, "C"), (2000, "C")]));
    assert_eq!(
        rig.fallbacks(),
        [
            ("A".into(), "C".into(), FallbackReason::Payment),
            ("A".into(), "C".into(), FallbackReason::Payment),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn bad_request_forbidden_not_found_move_on_and_mark_incompatible() {
    for (outcome, code) in [
        (Outcome::BadRequest, 400),
        (Outcome::Forbidden, 403),
        (Outcome::NotFound, 404),
    ] {
        let script = Script::new()
            .on("A", [fail(outcome, code)])
            .on("B", [ok("1"), ok("2")]);
        let rig = Rig::new(cfg(Policy::FallbackFirst), abc(), script);
        assert!(rig.run("p1", &["A", "B"]).await.is_ok());
        assert!(rig.run("p2", &["A", "B"]).await.is_ok());
        assert_eq!(
            rig.calls(),
            at(&[(0, "A"), (1000, "B"), (2000, "B")]),
            "{code}"
        );
        assert!(rig.waits().is_empty(), "{code}: no retry, no wait");
        assert!(rig.engine.snapshot().model("A").unwrap().incompatible);
        let reasons: Vec<_> = rig.fallbacks().into_iter().map(|f| f.2).collect();
        assert_eq!(reasons, [FallbackReason::Incompatible; 2], "{code}");
    }
    let script = Script::new().on("A", [fail(Outcome::NotFound, 404)]);
    let rig = Rig::new(cfg(Policy::Adaptive), abc(), script);
    let r = rig.run("p", &["A"]).await;
    assert_eq!(r.gave_up.unwrap().reason, GiveUpReason::AllIncompatible);
}

#[tokio::test(start_paused = true)]
async fn context_length_skips_the_target_or_follows_the_servers_400() {
    let mut targets = abc();
    targets[0].context_length = Some(100);
    let script = Script::new().on("A", [ok("short")]).on("B", [ok("long")]);
    let rig = Rig::new(cfg(Policy::FallbackFirst), targets, script);
    let mut long = req("long", &["A", "B"]);
    long.messages = vec![crate::wire::Message::user("x".repeat(1000))].into();
    assert_eq!(rig.engine.run(long).await.model.as_deref(), Some("B"));
    assert_eq!(
        rig.fallbacks(),
        [("A".into(), "B".into(), FallbackReason::ContextLength)]
    );
    assert_eq!(
        rig.run("short", &["A", "B"]).await.model.as_deref(),
        Some("A")
    );
    assert_eq!(rig.calls(), at(&[(0, "B"), (1000, "A")]));

    // The server's own verdict: a 400 context_length_exceeded.
    let too_long = Reply {
        error_type: Some("context_length_exceeded".into()),
        ..fail(Outcome::BadRequest, 400)
    };
    let script = Script::new()
        .on("A", [too_long, ok("a")])
        .on("B", [ok("b")]);
    let rig = Rig::new(cfg(Policy::Adaptive), abc(), script);
    assert_eq!(rig.run("p1", &["A", "B"]).await.model.as_deref(), Some("B"));
    assert_eq!(
        rig.fallbacks(),
        [("A".into(), "B".into(), FallbackReason::ContextLength)]
    );
    assert!(!rig.engine.snapshot().model("A").unwrap().incompatible);
    assert_eq!(rig.run("p2", &["A", "B"]).await.model.as_deref(), Some("A"));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_mid_way_restarts_on_the_next_choice() {
    let broken = Reply {
        content: "def fizz(".into(),
        content_started: true,
        error_type: Some("truncated_stream".into()),
        ..fail(Outcome::InvalidResponse, 200)
    };
    let script = Script::new()
        .on("A", [broken])
        .on("B", [ok("def fizzbuzz(): pass")]);
    let rig = Rig::new(cfg(Policy::Adaptive), abc(), script);
    let r = rig.run("p", &["A", "B"]).await;
    assert_eq!(rig.calls(), at(&[(0, "A"), (1000, "B")]));
    let answer = r.final_result.unwrap();
    assert_eq!(answer.content, "def fizzbuzz(): pass", "never spliced");
    assert_eq!(
        rig.fallbacks(),
        [("A".into(), "B".into(), FallbackReason::MidStream)]
    );
    let started: Vec<bool> = rig
        .named("attempt")
        .into_iter()
        .map(|e| match e {
            Event::Attempt {
                content_started, ..
            } => content_started,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(started, [true, true]);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_answer_counts_as_a_failure() {
    let script = Script::new()
        .on("A", [ok("wrong"), ok("wrong again")])
        .on("B", [ok("right")]);
    let rig = Rig::new(cfg(Policy::FallbackFirst), abc(), script);
    let mut r = req("p", &["A", "B"]);
    r.accept = Some(Arc::new(|c: &CallResult| {
        let ok = c.content == "right";
        Box::pin(async move { ok })
    }));
    let res = rig.engine.run(r).await;
    assert_eq!(res.final_result.unwrap().content, "right");
    assert_eq!(res.attempts, 3);
    assert_eq!(
        rig.engine.snapshot().model("A").unwrap().counters.failures,
        2
    );
}

#[tokio::test(start_paused = true)]
async fn an_errors_retry_after_replaces_the_backoff() {
    let overloaded = Reply {
        retry_after_ms: Some(3000),
        ..fail(Outcome::Overloaded, 503)
    };
    let script = Script::new().on("A", [overloaded, ok("a")]);
    let rig = Rig::new(cfg(wait_first()), abc(), script);
    assert!(rig.run("p", &["A", "B"]).await.is_ok());
    assert_eq!(rig.calls(), at(&[(0, "A"), (4000, "A")]));
    assert_eq!(rig.waits(), [("A".into(), WaitReason::RetryAfter, 3000)]);
}

#[tokio::test(start_paused = true)]
async fn attempt_events_carry_attempt_and_hop_numbers() {
    let script = Script::server(|_, _| fail(Outcome::Network, 0));
    let rig = Rig::new(cfg(Policy::FallbackFirst), abc(), script);
    rig.run("p", &["A", "B", "C"]).await;
    let numbers: Vec<(String, u32, u32)> = rig
        .named("attempt")
        .into_iter()
        .map(|e| match e {
            Event::Attempt {
                model,
                attempt,
                hop,
                ..
            } => (model, attempt, hop),
            _ => unreachable!(),
        })
        .collect();
    let expected: Vec<(String, u32, u32)> = [
        ("A", 1, 0),
        ("A", 2, 0),
        ("B", 3, 1),
        ("B", 4, 1),
        ("C", 5, 2),
        ("C", 6, 2),
    ]
    .into_iter()
    .map(|(m, a, h)| (m.to_string(), a, h))
    .collect();
    assert_eq!(numbers, expected);
    let give_up = rig.named("give_up");
    assert!(matches!(
        give_up.as_slice(),
        [Event::GiveUp {
            reason: GiveUpReason::RetriesExhausted,
            attempts: 6,
            ..
        }]
    ));
}

#[tokio::test(start_paused = true)]
async fn absurd_hints_and_priors_do_not_panic() {
    let mut targets = abc();
    targets[0].prior_latency_ms = Some(1e300);
    targets[1].prior_success = Some(-3.0);
    targets[1].provider = "b".into(); // not in A's account group
    let script = Script::new()
        .on("A", [r429(RateLimitScope::AccountMinute, Some(u64::MAX))])
        .on(
            "B",
            [Reply {
                reset_epoch_ms: Some(u64::MAX),
                ..r429(RateLimitScope::AccountDay, None)
            }],
        )
        .on(
            "C",
            [Reply {
                retry_after_ms: Some(u64::MAX),
                ..fail(Outcome::Overloaded, 503)
            }],
        );
    let mut c = cfg(Policy::FallbackFirst);
    c.deadline = Duration::MAX;
    c.breaker.cooldown = Duration::MAX;
    c.breaker.failure_threshold = 1;
    let rig = Rig::new(c, targets, script);
    let r = rig.run("p", &["A", "B", "C"]).await;
    assert_eq!(r.attempts, 3);
    // Every model is held for about a year (each wait clamped); the earliest
    // is B, out of daily quota, so the quota is the reason given.
    assert_eq!(r.gave_up.unwrap().reason, GiveUpReason::Quota);
}
