//! The simulator against a real HTTP client (reqwest) on loopback: response
//! shapes, exact rate limits, every fault, determinism, time scaling and the
//! ground-truth log.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use rotor::sim::{Scenario, SimServer};
use rotor::wire::{ChatChunk, ChatCompletion};
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn models_lists_listed_models_with_prices() {
    let sim = start(
        r#"
name: t
models:
  - id: a/one:free
  - id: b/paid
    pricing: {prompt: "0.000001", completion: 0.000002}
    context_length: 4096
  - id: c/hidden
    listed: false
"#,
    )
    .await;
    let list: Value = client()
        .get(format!("{}/models", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a/one:free", "b/paid"]);
    assert_eq!(data[0]["object"], "model");
    assert_eq!(data[0]["owned_by"], "a");
    assert_eq!(
        data[0]["pricing"],
        json!({"prompt": "0", "completion": "0"})
    );
    assert_eq!(
        data[1]["pricing"],
        json!({"prompt": "0.000001", "completion": "0.000002"})
    );
    assert_eq!(data[1]["context_length"], 4096);
    assert!(data[0]["created"].as_i64().unwrap() > 0);
    // Unlisted models still answer.
    let r = chat(&sim, "c/hidden", PROMPT, false, false).await;
    assert_eq!(r.status(), 200);
}

const FAST: &str = r#"
name: t
defaults:
  ttft_ms: 0
  tokens_per_s: 100000
  output_tokens: 5
models:
  - id: m
"#;

#[tokio::test]
async fn non_stream_completion_is_openai_shaped_with_usage() {
    let sim = start(FAST).await;
    let r = chat(&sim, "m", PROMPT, false, false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let c: ChatCompletion = serde_json::from_value(v.clone()).unwrap();
    assert!(c.id.starts_with("gen-"));
    assert_eq!(c.object, "chat.completion");
    assert_eq!(c.model, "m");
    let choice = &c.choices[0];
    assert_eq!(choice.message.role.as_deref(), Some("assistant"));
    assert_eq!(choice.message.content.as_deref(), Some(REFERENCE_ANSWER));
    assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
    let usage = c.usage.unwrap();
    let prompt_chars = (SYSTEM.len() + PROMPT.len()) as u64;
    assert_eq!(usage.prompt_tokens, prompt_chars.div_ceil(4));
    assert_eq!(
        usage.completion_tokens,
        (REFERENCE_ANSWER.len() as u64).div_ceil(4)
    );
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    // An unknown prompt gets generic prose of output_tokens tokens.
    let v: Value = chat(&sim, "m", "hello?", false, false)
        .await
        .json()
        .await
        .unwrap();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text.len(), 20);
    assert!(!text.contains("```"));
}

#[tokio::test]
async fn stream_sends_role_chunk_content_finish_and_usage_only_when_asked() {
    let sim = start(FAST).await;
    for include_usage in [false, true] {
        let r = chat(&sim, "m", PROMPT, true, include_usage).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let sse = parse_sse(&r.text().await.unwrap());
        assert_eq!(sse.data.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<ChatChunk> = sse.data[..sse.data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(chunks.iter().all(|c| c.object == "chat.completion.chunk"));
        let first = &chunks[0].choices[0].delta;
        assert_eq!(first.role.as_deref(), Some("assistant"));
        assert_eq!(first.content.as_deref(), Some(""));
        let text: String = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.content.clone())
            .collect();
        assert_eq!(text, REFERENCE_ANSWER);
        // One token (four characters) per content chunk.
        let pieces = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter(|c| c.delta.content.as_deref().is_some_and(|s| !s.is_empty()));
        assert_eq!(pieces.count(), REFERENCE_ANSWER.len().div_ceil(4));
        let usage_chunks: Vec<&ChatChunk> = chunks.iter().filter(|c| c.usage.is_some()).collect();
        let finish_at = chunks
            .iter()
            .position(|c| {
                c.choices
                    .iter()
                    .any(|ch| ch.finish_reason.as_deref() == Some("stop"))
            })
            .unwrap();
        if include_usage {
            assert_eq!(usage_chunks.len(), 1);
            assert!(usage_chunks[0].choices.is_empty());
            assert_eq!(finish_at, chunks.len() - 2);
            let u = usage_chunks[0].usage.unwrap();
            assert_eq!(
                u.completion_tokens,
                (REFERENCE_ANSWER.len() as u64).div_ceil(4)
            );
        } else {
            assert!(usage_chunks.is_empty());
            assert_eq!(finish_at, chunks.len() - 1);
        }
    }
}

#[tokio::test]
async fn reasoning_models_think_first_with_keepalives() {
    let sim = start(
        r#"
name: t
models:
  - id: r
    reasoning: true
    reasoning_tokens: 10
    ttft_ms: 120
    tokens_per_s: 100000
    keepalive_ms: 25
"#,
    )
    .await;
    let sse = parse_sse(
        &chat(&sim, "r", PROMPT, true, true)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(sse.comments >= 3, "{} keep-alives", sse.comments);
    assert!(sse.comments_before_data >= 3);
    let chunks: Vec<ChatChunk> = sse.data[..sse.data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<char> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| match (&c.delta.reasoning, &c.delta.content) {
            (Some(_), _) => Some('r'),
            (_, Some(s)) if !s.is_empty() => Some('c'),
            _ => None,
        })
        .collect();
    let first_content = kinds.iter().position(|k| *k == 'c').unwrap();
    assert_eq!(first_content, 10);
    assert!(kinds[..10].iter().all(|k| *k == 'r'));
    let usage = chunks.iter().find_map(|c| c.usage).unwrap();
    assert_eq!(
        usage.completion_tokens,
        (REFERENCE_ANSWER.len() as u64).div_ceil(4) + 10
    );
    // Non-stream: the reasoning comes in `message.reasoning`.
    let v: Value = chat(&sim, "r", PROMPT, false, false)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["choices"][0]["message"]["reasoning"]
            .as_str()
            .unwrap()
            .len()
            >= 37
    );
}

#[tokio::test]
async fn request_errors_unknown_model_auth_json_and_context() {
    let sim = start(
        r#"
name: t
api_key: sk-test-secret-1234567890
models:
  - id: m
    context_length: 10
    ttft_ms: 0
"#,
    )
    .await;
    let url = format!("{}/chat/completions", sim.base_url());
    let body = request_body("m", "hi", false, false);
    // Missing and wrong keys: 401, and the key is never echoed.
    let r = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let text = r.text().await.unwrap();
    assert_eq!(
        text,
        r#"{"error":{"code":401,"message":"No auth credentials found"}}"#
    );
    let r = client()
        .post(&url)
        .bearer_auth("sk-test-secret-1234567891")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains("sk-test"));
    let auth = |rb: reqwest::RequestBuilder| rb.bearer_auth("sk-test-secret-1234567890");
    // The right key works.
    let r = auth(client().post(&url)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Unknown model.
    let r = auth(client().post(&url))
        .json(&request_body("x/nope", "hi", false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": {"code": 404, "message": "No endpoints found for x/nope."}})
    );
    // Invalid JSON.
    let r = auth(client().post(&url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], 400);
    // Too long for the context (10 tokens = 40 characters).
    let long = "x".repeat(100);
    let r = auth(client().post(&url))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": long}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("context_length_exceeded"));
    let s = sim.stats();
    assert_eq!(s.requests, 6);
    assert_eq!(s.by_outcome["auth"], 2);
    assert_eq!(s.by_outcome["bad_request"], 2);
    assert_eq!(s.by_outcome["not_found"], 1);
    assert_eq!(s.models["m"].by_outcome["ok"], 1);
    assert_eq!(s.models["m"].by_outcome["bad_request"], 1);
    assert_eq!(s.models["x/nope"].by_outcome["not_found"], 1);
}

#[tokio::test]
async fn time_scale_shrinks_delays() {
    // A fixed TTFT of 1000 ms at time_scale 0.05 takes about 50 ms.
    let sim = start(
        r#"
name: t
time_scale: 0.05
models: [{id: m, ttft_ms: 1000, tokens_per_s: 1000000, output_tokens: 1}]
"#,
    )
    .await;
    let t0 = Instant::now();
    let r = chat(&sim, "m", "hi", true, false).await;
    let mut stream = r.bytes_stream();
    use futures_util::StreamExt;
    let mut seen = String::new();
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if seen.contains("\"content\":\"") && !seen.ends_with("\"content\":\"\"") {
            break;
        }
    }
    let ttft = t0.elapsed();
    assert!(
        ttft >= Duration::from_millis(48) && ttft < Duration::from_millis(400),
        "{ttft:?}"
    );
    let e = &sim.log()[0];
    let server_ttft = e.first_content_us.unwrap() - e.received_us;
    assert!((49_000..150_000).contains(&server_ttft), "{server_ttft}");
}

#[tokio::test]
async fn log_records_timings_of_each_request() {
    // TTFT 30 ms, then 10 tokens at 200 tokens/s: the last is 45 ms after the first.
    let sim = start(
        r#"
name: t
models: [{id: m, ttft_ms: 30, tokens_per_s: 200, output_tokens: 10}]
"#,
    )
    .await;
    read_body(chat(&sim, "m", "hi", true, true).await).await;
    read_body(chat(&sim, "m", "hi", false, false).await).await;
    let log: Vec<Value> = client()
        .get(format!("http://{}/sim/log", sim.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    let (s, n) = (&log[0], &log[1]);
    assert_eq!((s["seq"].as_u64(), n["seq"].as_u64()), (Some(1), Some(2)));
    assert_eq!(s["stream"], true);
    assert_eq!(s["status"], 200);
    assert_eq!(s["outcome"], "ok");
    assert!(s["response_id"].as_str().unwrap().starts_with("gen-1-"));
    let us = |v: &Value, k: &str| v[k].as_u64().unwrap();
    let ttft = us(s, "first_content_us") - us(s, "received_us");
    assert!((29_000..100_000).contains(&ttft), "ttft {ttft}");
    // Timers never fire early, so the last byte is at least TTFT + 45 ms in.
    let last = us(s, "last_byte_us") - us(s, "received_us");
    assert!((75_000..200_000).contains(&last), "last byte {last}");
    assert_eq!(us(s, "completion_tokens"), 10);
    // Non-stream: the body goes out at once, after TTFT + generation.
    let total = us(n, "first_content_us") - us(n, "received_us");
    assert!((74_000..200_000).contains(&total), "total {total}");
    assert!(us(n, "received_us") >= us(s, "received_us"));
}

#[tokio::test]
async fn reset_clears_stats_limits_and_log() {
    let sim = start(
        r#"
name: t
groups: [{name: g, models: [m], per_minute: 1}]
defaults: {ttft_ms: 0, output_tokens: 1}
models: [{id: m}]
"#,
    )
    .await;
    assert_eq!(chat(&sim, "m", "hi", false, false).await.status(), 200);
    assert_eq!(chat(&sim, "m", "hi", false, false).await.status(), 429);
    let r = client()
        .post(format!("http://{}/sim/reset", sim.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let stats: Value = client()
        .get(format!("http://{}/sim/stats", sim.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 0);
    assert_eq!(stats["models"]["m"]["requests"], 0);
    assert!(sim.log().is_empty());
    assert_eq!(chat(&sim, "m", "hi", false, false).await.status(), 200);
    assert_eq!(sim.log()[0].k, Some(0));
}

#[tokio::test]
async fn shutdown_ends_hanging_requests_promptly() {
    let sim = start("name: t\nmodels: [{id: h, faults: {hang: 1}}]\n").await;
    let url = format!("{}/chat/completions", sim.base_url());
    let pending = tokio::spawn(async move {
        client()
            .post(url)
            .json(&request_body("h", "hi", false, false))
            .send()
            .await
    });
    while sim.stats().in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t0 = Instant::now();
    sim.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    let answered = tokio::time::timeout(Duration::from_secs(1), pending).await;
    assert!(answered.is_ok(), "the hanging client was never released");
}

#[tokio::test]
async fn embedded_scenarios_all_start_and_free_tier_lists_its_models() {
    for name in Scenario::embedded_names() {
        let scenario = Scenario::embedded(name).unwrap_or_else(|| panic!("{name}"));
        let sim = SimServer::start(scenario, None, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        assert!(sim.base_url().starts_with("http://127.0.0.1:"));
        assert!(sim.base_url().ends_with("/v1"));
        let list: Value = client()
            .get(format!("{}/models", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listed = sim.scenario().models.iter().filter(|m| m.listed).count();
        assert_eq!(list["data"].as_array().unwrap().len(), listed, "{name}");
        sim.shutdown().await;
    }
    let free = Scenario::embedded("free-tier").unwrap();
    assert!(free.models.len() >= 21);
    assert!(
        free.model("meta-llama/llama-3.3-8b-instruct:free")
            .is_some()
    );
}

/// The embedded simulator of probe and rotate-test runs on a runtime of its
/// own: it answers even while the caller's runtime (here a current-thread
/// one, blocked in a synchronous request) cannot run anything. On the
/// caller's runtime it could not answer until the read below gave up.
#[tokio::test]
async fn an_isolated_simulator_answers_while_the_callers_runtime_is_blocked() {
    use std::io::{Read, Write};
    let scenario = Scenario::from_str(FAST, "test").unwrap();
    let sim = SimServer::start_isolated(scenario, None, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut conn = std::net::TcpStream::connect(sim.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"GET /v1/models HTTP/1.1\r\nhost: sim\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .expect("the simulator answers on its own runtime");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(sim.stats().connections, 1);
    sim.shutdown().await;
}
