//! The hostile-server catalogue (docs/hostile-servers.md): rotor's real
//! `HttpClient::chat` against the real simulator serving
//! fixtures/scenarios/hostile.yaml on 127.0.0.1:0, every behaviour in stream
//! and non-stream mode, concurrently. Each call must end within the
//! configured timeouts with the documented outcome and error_type, the
//! simulator must count it under the same outcome, and the key must go
//! nowhere. The binary-level tests (`rotor probe` against `rotor sim`) are in
//! hostile_servers/binary.rs.

#[path = "hostile_servers/binary.rs"]
mod binary;
#[path = "hostile_servers/regressions.rs"]
mod regressions;
#[path = "hostile_servers/support.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rotor::client::CallResult;
use rotor::record::{Outcome, RateLimitScope, TokensSource};
use rotor::sim::SimServer;
use tokio::task::JoinSet;

use support::*;

/// What a correct client records for `model` (outcome, error_type).
fn expected(model: &str, stream: bool) -> (Outcome, Option<&'static str>) {
    use Outcome::*;
    let name = model.trim_start_matches("hostile/");
    match name {
        "html-200" => (InvalidResponse, Some("not_json")),
        "html-502" => (ServerError, None),
        "truncated-stream" if stream => (InvalidResponse, Some("truncated_stream")),
        "truncated-stream" | "invalid-json-chunk" if !stream => (InvalidResponse, Some("not_json")),
        "invalid-json-chunk" => (InvalidResponse, Some("bad_json_chunk")),
        "stream-error-number" | "stream-error-string" if stream => {
            (InvalidResponse, Some("stream_error"))
        }
        "stream-error-number" | "stream-error-string" => (InvalidResponse, Some("body_error")),
        "invalid-utf8" | "invalid-utf8-split" => (InvalidResponse, Some("invalid_utf8")),
        "huge-body" => (InvalidResponse, Some("too_large")),
        "reset-mid-body" => (Network, Some("body")),
        "no-done" | "no-usage" | "duplicate-usage" | "data-keepalive" => (Ok, None),
        // Keep-alive comments and a drip never make an SSE data event; a
        // non-stream body of whitespace or single bytes keeps the byte timer
        // alive, so only the total deadline stops it.
        "keepalive-only" | "slow-drip" if stream => (Timeout, Some("read")),
        "keepalive-only" | "slow-drip" => (Timeout, Some("total")),
        "hang" => (Timeout, Some("first_byte")),
        "retry-after-date"
        | "retry-after-past"
        | "retry-after-huge"
        | "retry-after-negative"
        | "retry-after-garbage"
        | "reset-seconds"
        | "reset-millis"
        | "rate-limit-body-only" => (RateLimited, Some("429")),
        "reset-before-headers" => (Network, Some("reset")),
        "redirect" => (InvalidResponse, Some("redirect")),
        other => panic!("no expectation for {other}: add it to the catalogue"),
    }
}

/// The shortest time a call may take: a timeout must not fire early.
fn earliest(model: &str, stream: bool) -> Duration {
    match expected(model, stream) {
        (_, Some("read")) => READ,
        (_, Some("first_byte")) => FIRST_BYTE,
        (_, Some("total")) => TOTAL,
        _ => Duration::ZERO,
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The hints, tokens and details each behaviour must leave in the result;
/// returns what is wrong.
fn check_details(model: &str, stream: bool, r: &CallResult) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            wrong.push(format!("{what}: {model} stream={stream}: {r:?}"));
        }
    };
    let name = model.trim_start_matches("hostile/");
    let h = r.hints;
    match name {
        "retry-after-date" => {
            let ms = h.retry_after_ms.unwrap_or(0);
            check(
                (1_000..=3_000).contains(&ms),
                "Retry-After date about 2-3 s ahead",
            );
        }
        "retry-after-past" => check(h.retry_after_ms == Some(0), "a past date is 0"),
        "retry-after-huge" => check(h.retry_after_ms == Some(999_999_000), "999999 s kept"),
        "retry-after-negative" | "retry-after-garbage" => {
            check(h.retry_after_ms.is_none(), "a bad Retry-After is ignored");
            check(r.scope == Some(RateLimitScope::Unknown), "scope unknown");
        }
        "reset-seconds" | "reset-millis" | "rate-limit-body-only" => {
            // One scenario minute (6 s at time_scale 0.1) from now.
            let wait = h.wait_ms(epoch_ms()).unwrap_or(0);
            check(
                (4_000..=7_000).contains(&wait),
                "the reset is about 6 s ahead",
            );
            check(
                (h.limit, h.remaining) == (Some(20), Some(0)),
                "limit and remaining",
            );
            check(
                r.scope == Some(RateLimitScope::AccountMinute),
                "scope account_minute",
            );
        }
        "no-usage" => {
            check(
                r.tokens_source == TokensSource::Estimated,
                "tokens estimated",
            );
            check(r.output_tokens.is_some_and(|n| n > 0), "some tokens");
        }
        "duplicate-usage" => {
            check(r.tokens_source == TokensSource::Usage, "tokens from usage");
            let once = (r.content.chars().count() as u64).div_ceil(4);
            check(r.output_tokens == Some(once), "the usage counted once");
        }
        "no-done" | "data-keepalive" => {
            check(r.tokens_source == TokensSource::Usage, "tokens from usage");
            check(!r.content.is_empty(), "content");
            check(r.finish_reason.as_deref() == Some("stop"), "finish_reason");
        }
        "stream-error-number" | "stream-error-string" => {
            let msg = r.error_message.as_deref().unwrap_or_default();
            let code = if name.ends_with("number") {
                "502"
            } else {
                "server_error"
            };
            check(msg.contains(code), "the code in the message");
            check(
                msg.contains("Provider returned error"),
                "the server's message",
            );
            check(r.content_started == stream, "content came first in streams");
        }
        "huge-body" => check(r.content.len() <= 10 * 1024 * 1024, "content capped"),
        "redirect" => check(r.http_status == Some(307), "status 307"),
        "html-502" => check(r.http_status == Some(502), "status 502"),
        "reset-before-headers" | "hang" => check(r.http_status.is_none(), "no status"),
        _ => {}
    }
    if r.outcome.is_ok() {
        check(
            r.error_type.is_none() && r.error_message.is_none(),
            "no error on ok",
        );
    } else {
        check(r.error_message.is_some(), "an error message");
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_behaviour_is_classified_in_time_and_counted() {
    let (trap, trap_hits) = other_host().await;
    let sim = SimServer::start(
        hostile_scenario(&trap),
        None,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let models = hostile_models();
    assert!(models.len() >= 27, "the catalogue shrank: {models:?}");
    let client = client();
    let ep = endpoint(&sim.base_url());
    let mut calls = JoinSet::new();
    for model in &models {
        for stream in [true, false] {
            let (client, ep, model) = (client.clone(), ep.clone(), model.clone());
            calls.spawn(async move {
                let started = Instant::now();
                let r = client.chat(&ep, &spec(&model, stream)).await;
                (model, stream, started.elapsed(), r)
            });
        }
    }
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    while let Some(done) = calls.join_next().await {
        let (model, stream, took, r) = done.unwrap();
        let ctx = format!("{model} stream={stream} took {took:?}: {r:?}");
        let want = expected(&model, stream);
        if (r.outcome, r.error_type.as_deref()) != want {
            wrong.push(format!("expected {want:?}, got {ctx}"));
        } else {
            wrong.extend(check_details(&model, stream, &r));
        }
        if took > TOTAL + SLACK {
            wrong.push(format!("ended late: {ctx}"));
        }
        if took < earliest(&model, stream) {
            wrong.push(format!("ended early: {ctx}"));
        }
        assert!(!format!("{r:?}").contains(&canary()), "key leaked: {ctx}");
        table.push((
            model,
            stream,
            r.outcome,
            r.error_type.clone(),
            took,
            r.scope,
        ));
    }
    table.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    for (model, stream, outcome, error_type, took, _) in &table {
        let mode = if *stream { "stream" } else { "json" };
        eprintln!("{model:34} {mode:6} {outcome:16} {error_type:?} {took:.2?}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));

    // The simulator counted each request under the outcome (and rate-limit
    // scope) the client recorded.
    let stats = sim.stats();
    for (model, _, outcome, _, _, scope) in &table {
        let m = &stats.models[model];
        assert_eq!(m.requests, 2, "{model}: {m:?}");
        assert_eq!(
            m.by_outcome.get(outcome.as_str()),
            Some(&2),
            "{model}: {m:?}"
        );
        match scope {
            Some(scope) => assert_eq!(
                m.rate_limited_by_scope.get(scope.as_str()),
                Some(&2),
                "{model}: {m:?}"
            ),
            None => assert!(m.rate_limited_by_scope.is_empty(), "{model}: {m:?}"),
        }
    }
    assert_eq!(stats.requests, 2 * models.len() as u64);

    // Nothing went to the other host, and nothing is left running.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        trap_hits.load(Ordering::SeqCst),
        0,
        "a redirect was followed"
    );
    assert_eq!(stats.redirects_followed, 0);
    let deadline = Instant::now() + Duration::from_secs(3);
    while sim.stats().in_flight > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.stats().in_flight, 0, "requests still in flight");
    sim.shutdown().await;
}
