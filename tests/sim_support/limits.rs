//! Rate limits through HTTP: the account's per-minute window, the daily
//! quota, the per-model bucket and how much each 429 says.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn account_per_minute_limit_is_exact_and_shared() {
    // A "minute" lasts 60 s x 0.01 = 600 ms.
    let sim = start(
        r#"
name: t
time_scale: 0.01
groups:
  - {name: openrouter, match: ":free", per_minute: 3}
defaults: {ttft_ms: 0, tokens_per_s: 100000, output_tokens: 1}
models: [{id: "a:free"}, {id: "b:free"}, {id: c}]
"#,
    )
    .await;
    let t0 = Instant::now();
    for model in ["a:free", "b:free", "a:free"] {
        assert_eq!(chat(&sim, model, "hi", false, false).await.status(), 200);
    }
    // Another model of the account does not escape the limit; other models do.
    let before = chrono::Utc::now().timestamp_millis();
    let r = chat(&sim, "b:free", "hi", false, false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(chat(&sim, "c", "hi", false, false).await.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["retry-after"], "1");
    let wait_ms: u64 = h["retry-after-ms"].to_str().unwrap().parse().unwrap();
    assert!(wait_ms > 0 && wait_ms <= 600, "{wait_ms}");
    let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!(
        reset >= before && reset <= before + 700,
        "{reset} vs {before}"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min. ",
            "metadata": {"headers": {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.to_string()}}}})
    );
    // Rejected requests do not consume the window: the wait only shrinks.
    let r = chat(&sim, "a:free", "hi", false, false).await;
    assert_eq!(r.status(), 429);
    let wait2: u64 = r.headers()["retry-after-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait2 <= wait_ms);
    assert!(
        t0.elapsed() < Duration::from_millis(550),
        "test machine too slow"
    );
    tokio::time::sleep(Duration::from_millis(wait2)).await;
    // The oldest request left the window exactly when the server said: one
    // more fits. (The window's exact arithmetic is unit-tested in limits.rs.)
    assert_eq!(chat(&sim, "a:free", "hi", false, false).await.status(), 200);
    let s = sim.stats();
    assert_eq!(
        s.models["a:free"].rate_limited_by_scope["account_minute"],
        1
    );
    assert_eq!(
        s.models["b:free"].rate_limited_by_scope["account_minute"],
        1
    );
    assert_eq!(s.models["a:free"].by_outcome["ok"], 3);
    let g = &s.groups["openrouter"];
    assert_eq!((g.requests, g.admitted, g.rate_limited_minute), (6, 4, 2));
    assert!(g.used_this_minute >= 1 && g.used_this_minute <= 3);
}

#[tokio::test]
async fn concurrent_burst_admits_exactly_the_limit() {
    let sim = start(
        r#"
name: t
time_scale: 0.5
groups: [{name: g, models: [m], per_minute: 4}]
defaults: {ttft_ms: 0, output_tokens: 1}
models: [{id: m}]
"#,
    )
    .await;
    let sim_ref = &sim;
    let statuses = futures_util::future::join_all(
        (0..10).map(|_| async move { chat(sim_ref, "m", "hi", false, false).await.status() }),
    )
    .await;
    assert_eq!(statuses.iter().filter(|s| s.as_u16() == 200).count(), 4);
    assert_eq!(statuses.iter().filter(|s| s.as_u16() == 429).count(), 6);
}

#[tokio::test]
async fn daily_limit_resets_with_the_scaled_day() {
    // A "day" lasts 86 400 s x 0.00001 = 864 ms.
    let sim = start(
        r#"
name: t
time_scale: 0.00001
groups: [{name: g, match: ":free", per_day: 2}]
defaults: {ttft_ms: 0, output_tokens: 1}
models: [{id: "m:free"}]
"#,
    )
    .await;
    for _ in 0..2 {
        assert_eq!(chat(&sim, "m:free", "hi", false, false).await.status(), 200);
    }
    let r = chat(&sim, "m:free", "hi", false, false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-ratelimit-limit"], "2");
    let wait: u64 = r.headers()["retry-after-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 400 && wait <= 864, "{wait}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["message"],
        "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day"
    );
    assert_eq!(
        sim.stats().models["m:free"].rate_limited_by_scope["account_day"],
        1
    );
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(chat(&sim, "m:free", "hi", false, false).await.status(), 200);
}

#[tokio::test]
async fn per_model_bucket_allows_burst_then_refills() {
    // rpm 60 at time_scale 0.1: one token per 100 ms, burst 2.
    let sim = start(
        r#"
name: t
time_scale: 0.1
defaults: {ttft_ms: 0, output_tokens: 1}
models: [{id: m, rpm: 60, burst: 2}, {id: other}]
"#,
    )
    .await;
    for _ in 0..2 {
        assert_eq!(chat(&sim, "m", "hi", false, false).await.status(), 200);
    }
    let r = chat(&sim, "m", "hi", false, false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let wait: u64 = r.headers()["retry-after-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 100, "{wait}");
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": {"code": 429, "message": "Rate limit exceeded for model m: 60 requests per minute",
            "metadata": {"error_type": "rate_limit_exceeded", "scope": "model"}}})
    );
    assert_eq!(chat(&sim, "other", "hi", false, false).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(chat(&sim, "m", "hi", false, false).await.status(), 200);
    assert_eq!(sim.stats().models["m"].rate_limited_by_scope["model"], 1);
}

#[tokio::test]
async fn hints_body_only_and_none() {
    let sim = start(
        r#"
name: t
groups:
  - {name: quiet, models: [q], per_minute: 1, hints: body_only}
  - {name: silent, models: [s], per_minute: 1, hints: none}
defaults: {ttft_ms: 0, output_tokens: 1}
models: [{id: q}, {id: s}]
"#,
    )
    .await;
    for m in ["q", "s"] {
        assert_eq!(chat(&sim, m, "hi", false, false).await.status(), 200);
    }
    let r = chat(&sim, "q", "hi", false, false).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert!(r.headers().get("x-ratelimit-reset").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["metadata"]["headers"]["X-RateLimit-Limit"], "1");
    let r = chat(&sim, "s", "hi", false, false).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"error":{"message":"Too Many Requests"}}"#
    );
    let s = sim.stats();
    assert_eq!(s.models["q"].rate_limited_by_scope["account_minute"], 1);
    assert_eq!(s.models["s"].rate_limited_by_scope["unknown"], 1);
}
