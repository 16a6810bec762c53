//! Injected faults, the all-outcomes scenario, determinism and phases.

use std::time::{Duration, Instant};

use rotor::sim::{FaultKind, Scenario, SimServer};
use serde_json::Value;

use super::*;

/// The faults checked here at the wire level; the hostile-server faults
/// (html_502, slow_drip, redirect, ...) are checked through rotor's client
/// in tests/hostile_servers.rs.
const CLASSIC: [FaultKind; 16] = [
    FaultKind::ServerError,
    FaultKind::Overloaded,
    FaultKind::RateLimitUpstream,
    FaultKind::Hang,
    FaultKind::RequestTimeout,
    FaultKind::KeepaliveOnly,
    FaultKind::MalformedJson,
    FaultKind::Html200,
    FaultKind::MidStreamError,
    FaultKind::Truncated,
    FaultKind::Disconnect,
    FaultKind::Auth,
    FaultKind::Payment,
    FaultKind::Forbidden,
    FaultKind::BadRequest,
    FaultKind::NotFound,
];

#[tokio::test]
async fn every_fault_gives_its_documented_response_and_is_counted() {
    let mut yaml = String::from(
        "name: faults\ntime_scale: 0.01\ndefaults: {ttft_ms: 100, tokens_per_s: 50, output_tokens: 20, keepalive_ms: 1000}\nmodels:\n",
    );
    for kind in CLASSIC {
        yaml.push_str(&format!("  - {{id: f/{kind}, faults: {{{kind}: 1}}}}\n"));
    }
    let sim = start(&yaml).await;
    let (sim_ref, http) = (&sim, &client());
    let checks = CLASSIC
        .into_iter()
        .flat_map(|kind| [(kind, false), (kind, true)])
        .map(|(kind, stream)| check_fault(sim_ref, http, kind, stream));
    futures_util::future::join_all(checks).await;
    let stats = sim.stats();
    for kind in CLASSIC {
        let m = &stats.models[&format!("f/{kind}")];
        assert_eq!(m.requests, 2, "{kind}");
        assert_eq!(m.by_outcome[kind.outcome().as_str()], 2, "{kind}");
        assert_eq!(m.faults[kind.as_str()], 2, "{kind}");
    }
    assert_eq!(
        stats.models["f/rate_limit_upstream"].rate_limited_by_scope["upstream"],
        2
    );
    // Hangs and endless keep-alives end when their clients give up.
    let deadline = Instant::now() + Duration::from_secs(2);
    while sim.stats().in_flight > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.stats().in_flight, 0, "requests leaked");
}

async fn check_fault(sim: &SimServer, http: &reqwest::Client, kind: FaultKind, stream: bool) {
    let model = format!("f/{kind}");
    let ctx = format!("{kind} stream={stream}");
    let req = http
        .post(format!("{}/chat/completions", sim.base_url()))
        .timeout(Duration::from_millis(300))
        .json(&request_body(&model, PROMPT, stream, true));
    let r = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(kind, FaultKind::Hang, "{ctx}: {e:?}");
            assert!(e.is_timeout(), "{ctx}: {e}");
            return;
        }
    };
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = read_body(r).await;
    let json_body = || serde_json::from_slice::<Value>(&body.bytes).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(&body.bytes).into_owned();
    match kind {
        FaultKind::ServerError => {
            assert!(status == 500 || status == 502, "{ctx}");
            if content_type == "application/json" {
                assert_eq!(json_body()["error"]["code"], status, "{ctx}");
            } else {
                assert!(text.contains("502 Bad Gateway"), "{ctx}");
            }
        }
        FaultKind::Overloaded => {
            assert!(status == 503 || status == 529, "{ctx}");
            if status == 503 {
                assert_eq!(json_body()["error"]["message"], "No available providers");
            }
        }
        FaultKind::RateLimitUpstream => {
            assert_eq!(status, 429, "{ctx}");
            let v = json_body();
            assert!(v["error"]["message"].as_str().unwrap().starts_with(&format!(
                "{model} is temporarily rate-limited upstream. Please retry shortly, or add your own key"
            )));
            let meta = &v["error"]["metadata"];
            assert_eq!(meta["provider_name"], "Chutes");
            assert_eq!(meta["availability"]["code"], "capacity_exhausted");
            assert_eq!(meta["availability"]["retryable"], true);
            assert!(meta["availability"]["retry_after"].as_f64().unwrap() > 0.0);
            assert!(meta["raw"].is_string());
        }
        FaultKind::Hang => panic!("{ctx}: a hang answered {status}"),
        FaultKind::RequestTimeout => assert_eq!(status, 408, "{ctx}"),
        FaultKind::KeepaliveOnly => {
            assert_eq!(status, 200, "{ctx}");
            assert!(body.timed_out, "{ctx}: the body ended");
            assert!(!body.bytes.is_empty(), "{ctx}: nothing sent");
            if stream {
                let sse = parse_sse(&text);
                assert!(sse.data.is_empty() && sse.comments >= 1, "{ctx}");
            } else {
                assert!(text.trim().is_empty(), "{ctx}");
            }
        }
        FaultKind::MalformedJson => {
            assert_eq!(status, 200, "{ctx}");
            if stream {
                let sse = parse_sse(&text);
                let bad = sse
                    .data
                    .iter()
                    .filter(|d| *d != "[DONE]" && serde_json::from_str::<Value>(d).is_err());
                assert_eq!(bad.count(), 1, "{ctx}");
            } else {
                assert!(serde_json::from_str::<Value>(&text).is_err(), "{ctx}");
            }
        }
        FaultKind::Html200 => {
            assert_eq!(status, 200, "{ctx}");
            assert_eq!(content_type, "text/html");
            assert!(text.contains("<html>"), "{ctx}");
        }
        FaultKind::MidStreamError => {
            assert_eq!(status, 200, "{ctx}");
            if stream {
                let sse = parse_sse(&text);
                let err = sse
                    .data
                    .iter()
                    .find(|d| d.contains("\"error\""))
                    .expect("an error chunk");
                let v: Value = serde_json::from_str(err).unwrap();
                assert_eq!(v["error"]["code"], 502);
                assert_eq!(v["error"]["message"], "Provider returned error");
                assert_eq!(v["choices"][0]["finish_reason"], "error");
                assert!(stream_content(&sse).len() >= 4, "{ctx}: no content first");
            } else {
                let v = json_body();
                assert_eq!(v["error"]["code"], 502, "{ctx}");
                assert_eq!(v["choices"][0]["finish_reason"], "error", "{ctx}");
            }
        }
        FaultKind::Truncated => {
            assert_eq!(status, 200, "{ctx}");
            assert!(body.error.is_none() && !body.timed_out, "{ctx}");
            if stream {
                let sse = parse_sse(&text);
                assert!(!sse.data.iter().any(|d| d == "[DONE]"), "{ctx}");
                assert!(!text.contains("finish_reason\":\"stop"), "{ctx}");
                assert!(!stream_content(&sse).is_empty(), "{ctx}");
            } else {
                assert!(serde_json::from_str::<Value>(&text).is_err(), "{ctx}");
            }
        }
        FaultKind::Disconnect => {
            assert_eq!(status, 200, "{ctx}");
            assert!(
                body.error.is_some() && !body.timed_out,
                "{ctx}: the body ended cleanly"
            );
            assert!(!body.bytes.is_empty(), "{ctx}: nothing before the cut");
        }
        FaultKind::Auth => assert_eq!(status, 401, "{ctx}"),
        FaultKind::Payment => assert_eq!(status, 402, "{ctx}"),
        FaultKind::Forbidden => {
            assert_eq!(status, 403, "{ctx}");
            assert!(
                json_body()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("moderation")
            );
        }
        FaultKind::BadRequest => assert_eq!(status, 400, "{ctx}"),
        FaultKind::NotFound => assert_eq!(status, 404, "{ctx}"),
        other => unreachable!("{other} is checked in tests/hostile_servers.rs"),
    }
    if status >= 400 && content_type == "application/json" {
        let v = json_body();
        assert!(v["error"]["message"].is_string(), "{ctx}: {v}");
    }
}

/// Runs the same requests on two servers (one sequential, one concurrent) and
/// returns what each (model, prompt, k) got.
async fn fates(seed: u64, concurrent: bool) -> Vec<(String, Option<String>, Option<u64>, String)> {
    let yaml = format!(
        r#"
name: det
seed: {seed}
time_scale: 0.001
defaults:
  ttft_ms: {{uniform: [0, 2000]}}
  output_tokens: {{uniform: [5, 50]}}
  quality: {{reference: 1, broken: 1, no_code: 1, syntax_error: 1}}
  faults: {{server_error: 0.15, overloaded: 0.15, truncated: 0.1}}
models: [{{id: a}}, {{id: b}}]
"#
    );
    let sim = start(&yaml).await;
    let sim_ref = &sim;
    let jobs: Vec<(&str, &str)> = (0..6)
        .flat_map(|_| {
            [
                ("a", PROMPT),
                ("b", PROMPT),
                ("a", PROMPT2),
                ("b", "unknown prompt"),
            ]
        })
        .collect();
    if concurrent {
        futures_util::future::join_all(
            jobs.iter().map(|(m, p)| async move {
                read_body(chat(sim_ref, m, p, true, false).await).await
            }),
        )
        .await;
    } else {
        for (m, p) in &jobs {
            read_body(chat(sim_ref, m, p, false, false).await).await;
        }
    }
    let mut out: Vec<_> = sim
        .log()
        .into_iter()
        .map(|e| {
            let fate = format!("{:?}/{:?}/{}", e.fault, e.answer, e.completion_tokens);
            (e.model, e.prompt_id, e.k, fate)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn same_seed_same_fates_whatever_the_interleaving() {
    let sequential = fates(9, false).await;
    let concurrent = fates(9, true).await;
    assert_eq!(sequential.len(), 24);
    assert_eq!(sequential, concurrent);
    assert!(
        sequential
            .iter()
            .any(|f| f.3.contains("Some(\"server_error\")"))
    );
    assert!(sequential.iter().any(|f| f.3.contains("Some(\"broken\")")));
    let other = fates(10, false).await;
    assert_ne!(sequential, other);
}

#[tokio::test]
async fn phases_inject_faults_only_within_their_window() {
    // Scenario seconds x 0.01: the outage runs from 0 to 150 ms real time.
    let sim = start(
        r#"
name: t
time_scale: 0.01
defaults: {ttft_ms: 0, output_tokens: 1}
models: [{id: down}, {id: up}, {id: all}]
phases:
  - {from_s: 0, to_s: 15, models: [down], fault: overloaded}
  - {from_s: 30, to_s: 1000, models: all, fault: payment, probability: 1}
"#,
    )
    .await;
    let r = chat(&sim, "down", "hi", false, false).await;
    assert!(matches!(r.status().as_u16(), 503 | 529), "{}", r.status());
    assert_eq!(chat(&sim, "up", "hi", false, false).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(160)).await;
    assert_eq!(chat(&sim, "down", "hi", false, false).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(chat(&sim, "all", "hi", false, false).await.status(), 402);
    let s = sim.stats();
    assert_eq!(s.models["down"].by_outcome["overloaded"], 1);
    assert_eq!(s.models["down"].by_outcome["ok"], 1);
    assert_eq!(s.models["all"].faults["payment"], 1);
}

#[tokio::test]
async fn all_outcomes_scenario_reaches_every_outcome() {
    let sim = SimServer::start(
        Scenario::embedded("all-outcomes").unwrap(),
        Some(suite()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let url = format!("{}/chat/completions", sim.base_url());
    let requests = sim.scenario().models.iter().map(|m| {
        let req = client()
            .post(&url)
            .timeout(Duration::from_millis(300))
            .json(&request_body(&m.id, PROMPT, true, false));
        async move {
            if let Ok(r) = req.send().await {
                read_body(r).await;
            }
        }
    });
    futures_util::future::join_all(requests).await;
    let stats = sim.stats();
    for outcome in rotor::record::Outcome::ALL {
        assert!(
            stats.by_outcome.get(outcome.as_str()).copied().unwrap_or(0) >= 1,
            "{outcome} not reached: {:?}",
            stats.by_outcome
        );
    }
}
