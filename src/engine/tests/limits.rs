//! Client-side limits: known, learned and discovered (AIMD).

use futures_util::future::join_all;

use super::*;

const W: Duration = Duration::from_secs(10);

/// A server allowing `n` requests per `window` (sliding, both ends
/// inclusive: stricter than the engine's half-open window), per model or
/// for everything, answering 429 with the given scope and no hints.
fn limited_server(
    n: usize,
    window: Duration,
    scope: RateLimitScope,
    learn: Option<u64>,
) -> impl Fn(&str, Instant) -> Reply + Send + Sync {
    limited_server_advertising(n, window, scope, learn, false)
}

/// A server allowing `n` requests per `window` (shared by all models, or per
/// model when `scope` is `Model`), advertising `learn` as X-RateLimit-Limit on
/// every response, or only on its 429s (OpenRouter's way) when `on_429_only`.
fn limited_server_advertising(
    n: usize,
    window: Duration,
    scope: RateLimitScope,
    learn: Option<u64>,
    on_429_only: bool,
) -> impl Fn(&str, Instant) -> Reply + Send + Sync {
    let logs: Mutex<HashMap<String, VecDeque<Instant>>> = Mutex::new(HashMap::new());
    move |model, t| {
        let key = if scope == RateLimitScope::Model {
            model.to_string()
        } else {
            String::new()
        };
        let mut logs = logs.lock().unwrap();
        let log = logs.entry(key).or_default();
        while log.front().is_some_and(|a| *a + window < t) {
            log.pop_front();
        }
        let limited = log.len() >= n;
        let mut reply = if limited {
            r429(scope, None)
        } else {
            log.push_back(t);
            ok("fine")
        };
        if limited || !on_429_only {
            reply.limit = learn;
        }
        reply.took = Duration::from_millis(100);
        reply
    }
}

fn free_limit(per_window: Option<u32>) -> HashMap<String, ProviderLimits> {
    HashMap::from([(
        "or".to_string(),
        ProviderLimits {
            per_window,
            window: W,
            applies_to_free_only: true,
            ..ProviderLimits::default()
        },
    )])
}

fn count_429_for(rig: &Rig, model: &str) -> usize {
    rig.named("attempt")
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::Attempt { outcome: Outcome::RateLimited, model: m, .. } if m == model
            )
        })
        .count()
}

fn count_429(rig: &Rig) -> usize {
    rig.named("attempt")
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::Attempt {
                    outcome: Outcome::RateLimited,
                    ..
                }
            )
        })
        .count()
}

/// At most `n` sends in any half-open window `[t − w, t)`.
fn assert_window(times: &[Instant], n: usize, w: Duration) {
    let mut t = times.to_vec();
    t.sort();
    for i in n..t.len() {
        assert!(
            t[i] - t[i - n] >= w,
            "sends {} and {i} only {:?} apart",
            i - n,
            t[i] - t[i - n]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_prompts_get_distinct_slots_within_the_known_limit() {
    let script = Script::server(|m, _| ok(m));
    let rig = Rig::with_limits(cfg(wait_first()), abc(), free_limit(Some(5)), script);
    let results = join_all((0..40).map(|i| rig.run(&format!("p{i}"), &["A", "B"]))).await;
    assert!(results.iter().all(|r| r.is_ok()));
    let times: Vec<Instant> = rig.script.seen().iter().map(|s| s.at).collect();
    assert_eq!(times.len(), 40);
    assert_window(&times, 5, W);
    // Slots are tight: eight rounds of five, 10.2 s apart (2 % margin).
    let last = times.iter().max().unwrap();
    assert_eq!(*last - rig.t0, Duration::from_millis(7 * 10_200));
    assert!(
        rig.waits()
            .iter()
            .all(|(on, r, _)| on == "or" && *r == WaitReason::Limiter)
    );
    assert_eq!(rig.waits().len(), 35);
}

#[tokio::test(start_paused = true)]
async fn a_known_limit_means_no_429_from_a_server_enforcing_it() {
    for (limit, expect_429s) in [(Some(5), false), (None, true)] {
        let script = Script::server(limited_server(5, W, RateLimitScope::AccountMinute, None));
        let rig = Rig::with_limits(cfg(wait_first()), abc(), free_limit(limit), script);
        let results = join_all((0..30).map(|i| rig.run(&format!("p{i}"), &["A", "B"]))).await;
        if limit.is_some() {
            assert!(results.iter().all(|r| r.is_ok()));
        }
        let n429 = count_429(&rig);
        assert_eq!(n429 > 0, expect_429s, "limit {limit:?}: {n429} 429s");
    }
}

#[tokio::test(start_paused = true)]
async fn an_account_limit_is_learned_from_the_x_ratelimit_limit_of_its_429() {
    // OpenRouter: no headers on success; the account-minute 429 carries them.
    let script = Script::server(limited_server_advertising(
        5,
        W,
        RateLimitScope::AccountMinute,
        Some(5),
        true,
    ));
    let rig = Rig::with_limits(cfg(wait_first()), abc(), free_limit(None), script);
    for i in 0..20 {
        assert!(rig.run(&format!("p{i}"), &["A", "B"]).await.is_ok());
    }
    assert_eq!(count_429(&rig), 1, "one 429 teaches the limit; none after");
    let snap = rig.engine.snapshot();
    let or = snap
        .providers
        .iter()
        .find(|p| p.provider == "or" && p.free_only)
        .unwrap();
    assert_eq!(or.learned_limit, Some(5));
    let times: Vec<Instant> = rig.script.seen().iter().map(|s| s.at).collect();
    let sent_ok: Vec<Instant> = times
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, t)| *t)
        .collect();
    assert_window(&sent_ok, 5, W);
}

#[tokio::test(start_paused = true)]
async fn a_limit_advertised_on_every_response_is_the_models_own() {
    // OpenAI / LiteLLM: x-ratelimit-limit-requests on every response, per
    // model. Each model learns its own limit; the others are not slowed.
    let script = Script::server(limited_server_advertising(
        3,
        W,
        RateLimitScope::Model,
        Some(3),
        false,
    ));
    let rig = Rig::with_limits(cfg(wait_first()), abc(), free_limit(None), script);
    // One sequence of prompts per model, the two free models side by side
    // (their group's window is W; C, not free, would use the default minute).
    let per_model = ["A", "B"].map(|m| {
        let rig = &rig;
        async move {
            let mut ok = 0;
            for i in 0..9 {
                ok += usize::from(rig.run(&format!("p{i}{m}"), &[m]).await.is_ok());
            }
            ok
        }
    });
    assert_eq!(join_all(per_model).await, vec![9, 9]);
    assert_eq!(
        count_429(&rig),
        0,
        "the first answer taught each model its limit"
    );
    let snap = rig.engine.snapshot();
    let or = snap
        .providers
        .iter()
        .find(|p| p.provider == "or" && p.free_only)
        .unwrap();
    assert_eq!(or.learned_limit, None, "not the account's");
    for m in ["A", "B"] {
        let times: Vec<Instant> = rig
            .script
            .seen()
            .iter()
            .filter(|s| s.model == m)
            .map(|s| s.at)
            .collect();
        assert_eq!(times.len(), 9);
        assert_window(&times, 3, W);
        assert_eq!(count_429_for(&rig, m), 0);
    }
    // The two models were paced side by side, not one after another.
    let last = rig.script.seen().iter().map(|s| s.at).max().unwrap();
    assert!(
        last - rig.t0 < 3 * W,
        "{:?} {:?}",
        last - rig.t0,
        rig.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn aimd_converges_on_a_hidden_limit_and_the_429s_stop() {
    // The server allows 10 per minute per model; nobody tells the engine.
    let minute = Duration::from_secs(60);
    let script = Script::server(limited_server(10, minute, RateLimitScope::Model, None));
    let mut c = cfg(wait_first());
    c.deadline = Duration::from_secs(600);
    let rig = Rig::with_limits(
        c,
        abc(),
        HashMap::from([("or".to_string(), ProviderLimits::default())]),
        script,
    );
    let mut failed = vec![];
    for i in 0..250 {
        if !rig.run(&format!("p{i}"), &["A"]).await.is_ok() {
            failed.push(i);
        }
    }
    // The first burst fills the server's window for a minute: a prompt
    // caught in it may spend its retries; none fails afterwards.
    assert!(failed.iter().all(|i| *i < 20), "failed: {failed:?}");
    let attempts: Vec<(Instant, bool)> = rig
        .named("attempt")
        .into_iter()
        .zip(rig.script.seen())
        .map(|(e, s)| {
            (
                s.at,
                matches!(
                    e,
                    Event::Attempt {
                        outcome: Outcome::RateLimited,
                        ..
                    }
                ),
            )
        })
        .collect();
    let total_429 = attempts.iter().filter(|(_, r)| *r).count();
    // The first burst's window costs one prompt's retries (6), then at
    // most a couple more while the ceiling settles.
    assert!((1..=8).contains(&total_429), "{total_429} 429s");
    // The last 429 comes early; the last 150 sends are all accepted.
    let last_429 = attempts.iter().rposition(|(_, r)| *r).unwrap();
    assert!(
        attempts.len() - last_429 > 150,
        "last 429 at {last_429} of {}",
        attempts.len()
    );
    // And the rate is close to the limit: over the last ten minutes, at
    // least 8.5 sends per minute (never more than 10).
    let end = attempts.last().unwrap().0;
    let recent = attempts
        .iter()
        .filter(|(t, _)| *t + 10 * minute > end)
        .count();
    assert!(
        (85..=100).contains(&recent),
        "{recent} sends in the last 10 minutes"
    );
    let paced = rig
        .engine
        .snapshot()
        .model("A")
        .unwrap()
        .paced_rate
        .unwrap();
    assert!(paced > 8.5 && paced <= 10.0, "paced at {paced}/min");
}

#[tokio::test(start_paused = true)]
async fn a_per_model_limit_spaces_that_model_only() {
    let script = Script::server(|m, _| ok(m));
    let rig = Rig::new(cfg(wait_first()), abc(), script);
    let one_per_10s = WindowLimit { max: 1, window: W };
    assert!(rig.engine.set_model_limit("A", one_per_10s));
    assert!(!rig.engine.set_model_limit("nope", one_per_10s));
    for i in 0..3 {
        assert!(rig.run(&format!("p{i}"), &["A"]).await.is_ok());
    }
    assert_eq!(rig.calls(), at(&[(0, "A"), (10_200, "A"), (20_400, "A")]));
    assert_eq!(rig.waits()[0], ("A".into(), WaitReason::Limiter, 9200));
}

/// Found while checking `ci-storm` under load: a prompt that committed to a
/// model for a future limiter slot sent to it even if, while it waited, the
/// model answered another prompt a 429 (or its breaker opened). It now
/// checks again when its slot comes, and decides anew when the model became
/// unusable; the spent slot stays spent.
#[tokio::test(start_paused = true)]
async fn a_model_that_became_unusable_during_a_slot_wait_is_not_sent_to() {
    let script = Script::new()
        // Prompt 1's request to A: a 429 after 2 s, retry after 30 s.
        .on(
            "A",
            [r429(RateLimitScope::Upstream, Some(30_000)).took(Duration::from_secs(2))],
        )
        .on("B", [ok("b"), ok("b")]);
    // One send per 10 s for the free models: prompt 2 waits for its slot.
    let rig = Rig::with_limits(
        cfg(Policy::FallbackFirst),
        abc(),
        free_limit(Some(1)),
        script,
    );
    let chain = ["A", "B"];
    let (first, second) = tokio::join!(rig.run("p1", &chain), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rig.run("p2", &chain).await
    });
    assert_eq!(first.model.as_deref(), Some("B"));
    assert_eq!(second.model.as_deref(), Some("B"));
    assert_eq!(second.attempts, 1, "the abandoned send is no attempt");
    // A is never asked inside its Retry-After (2 s to 32 s).
    let calls = rig.calls();
    assert!(
        calls
            .iter()
            .all(|(t, m)| m != "A" || *t < 2000 || *t >= 32_000),
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|(_, m)| m == "A").count(),
        1,
        "{calls:?}"
    );
}
