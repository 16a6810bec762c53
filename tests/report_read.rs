//! Reading what rotor's own sinks write: JSON Lines and CSV of the same
//! attempts give the same statistics; engine events written as EventRecords
//! are understood.

use chrono::{DateTime, Utc};
use rotor::record::{
    AttemptRecord, EventRecord, Outcome, RateLimitScope, RecordKind, RecordSink, SCHEMA_VERSION,
    TokensSource,
};
use rotor::report::{Aggregator, Simulated, read_files};

fn attempt(i: u32) -> AttemptRecord {
    let outcome = match i % 6 {
        4 => Outcome::RateLimited,
        5 => Outcome::Timeout,
        _ => Outcome::Ok,
    };
    let ok = outcome == Outcome::Ok;
    AttemptRecord {
        schema_version: SCHEMA_VERSION,
        kind: RecordKind::Attempt,
        run_id: "r1".into(),
        ts: DateTime::<Utc>::from_timestamp_millis(1_790_000_000_000 + i64::from(i) * 1234)
            .unwrap(),
        command: "probe".into(),
        provider: "openrouter".into(),
        model: format!("m{}:free", i % 3),
        prompt_id: format!("p{i}"),
        repeat: 0,
        attempt: 1,
        outcome,
        http_status: Some(if ok { 200 } else { 429 }),
        error_type: None,
        error_message: (!ok).then(|| "a message, with a comma\nand a newline".into()),
        rate_limit_scope: (outcome == Outcome::RateLimited).then_some(RateLimitScope::Upstream),
        retry_after_ms: None,
        ratelimit_limit: None,
        ratelimit_remaining: None,
        ratelimit_reset_ms: None,
        queue_ms: Some(0.25),
        ttfb_ms: Some(10.0),
        ttft_ms: ok.then_some(100.0 + f64::from(i)),
        first_reasoning_ms: None,
        latency_ms: 500.0 + f64::from(i) * 7.5,
        input_tokens: ok.then_some(50),
        output_tokens: ok.then_some(120),
        tokens_source: if ok {
            TokensSource::Usage
        } else {
            TokensSource::None
        },
        tokens_per_s: ok.then_some(80.0),
        stream: true,
        response_id: None,
        content_started: false,
        validation: ok.then(|| {
            if i.is_multiple_of(5) {
                "tests_failed"
            } else {
                "passed"
            }
            .to_string()
        }),
        validation_detail: None,
        validation_ms: None,
        validation_isolation: None,
        simulated: None,
    }
}

#[test]
fn jsonl_and_csv_of_the_same_attempts_give_the_same_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("run.jsonl");
    let csv = dir.path().join("run.csv");
    let sink = RecordSink::open(&jsonl, Some(&csv)).unwrap();
    for i in 0..60 {
        sink.write(attempt(i));
    }
    sink.close().unwrap();
    let stats = |path: &std::path::Path| {
        let mut agg = Aggregator::new();
        let read = read_files(&[path.to_path_buf()], None, Simulated::Skip, &mut agg).unwrap();
        (
            read.attempts,
            agg.finish(7.0 * 86_400.0, &|_, _| Some((0.0, 0.0))),
        )
    };
    let (n_json, from_json) = stats(&jsonl);
    let (n_csv, from_csv) = stats(&csv);
    assert_eq!((n_json, n_csv), (60, 60));
    assert_eq!(from_json, from_csv);
    let m0 = from_json.model("m1:free").unwrap();
    assert_eq!(m0.samples, 20);
    assert!(m0.validation.is_some() && m0.rate_limited > 0);
}

#[test]
fn event_records_from_the_sink_give_chain_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let sink = RecordSink::open(&path, None).unwrap();
    let ev = |event: &str, fields: serde_json::Value| EventRecord {
        schema_version: SCHEMA_VERSION,
        kind: RecordKind::Event,
        run_id: "r1".into(),
        ts: DateTime::<Utc>::from_timestamp_millis(1_790_000_000_000).unwrap(),
        command: "rotate-test".into(),
        event: event.into(),
        model: None,
        prompt_id: Some("p1".into()),
        repeat: Some(0),
        simulated: None,
        fields: fields.as_object().unwrap().clone(),
    };
    sink.write(ev(
        "fallback",
        serde_json::json!({"from": "a", "to": "b", "reason": "rate_limited"}),
    ));
    sink.write(ev(
        "wait",
        serde_json::json!({"wait_ms": 1200, "reason": "retry_after", "provider": "openrouter"}),
    ));
    sink.write(ev("wait", serde_json::json!({"duration_ms": 300.5})));
    sink.write(ev("request", serde_json::json!({"primary": "a", "model_used": "b", "attempts": 2, "hops": 2, "waited_ms": 1200, "ok": true})));
    sink.write(ev(
        "request",
        serde_json::json!({"primary": "a", "model_used": "a", "attempts": "one", "ok": "yes"}),
    ));
    sink.write(ev(
        "quota_exhausted",
        serde_json::json!({"provider": "openrouter", "until_ms": 5}),
    ));
    sink.write(ev(
        "a_future_event",
        serde_json::json!({"anything": [1, {"x": null}]}),
    ));
    sink.close().unwrap();
    let mut agg = Aggregator::new();
    let read = read_files(&[path], None, Simulated::Skip, &mut agg).unwrap();
    assert_eq!((read.attempts, read.events), (0, 7));
    let s = agg.finish(0.0, &|_, _| None);
    let c = &s.chain;
    assert_eq!(
        (c.requests, c.fallbacks, c.waits, c.quota_exhausted),
        (2, 1, 2, 1)
    );
    assert_eq!(c.wait_ms_total, 1500.5);
    assert_eq!(c.primary_share, Some(0.5));
    assert_eq!(c.fallback_rate, Some(0.5));
}
