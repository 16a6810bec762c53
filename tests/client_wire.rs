//! `HttpClient::chat` against real HTTP servers started in the test on
//! 127.0.0.1:0 (axum, or raw TCP for broken connections). Timeouts are about
//! 200 ms so every test is quick.

#[path = "client_wire/faults.rs"]
mod faults;
#[path = "client_wire/support.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Response};
use axum::routing::post;
use rotor::record::{Outcome, RateLimitScope, TokensSource};
use serde_json::{Value, json};

use support::*;

#[tokio::test]
async fn non_stream_ok_with_usage_sends_the_right_request() {
    let seen: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let seen2 = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen2.clone();
            async move {
                seen.lock().unwrap().push((headers, serde_json::from_slice(&body).unwrap()));
                json_response(200, &[], json!({
                    "id": "gen-1", "object": "chat.completion", "model": "m/x:free",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
                }))
            }
        }),
    );
    let base = serve(app).await;
    let r = client().chat(&endpoint(&base), &spec(false)).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.http_status, Some(200));
    assert_eq!(r.content, "Hello there");
    assert_eq!(r.response_id.as_deref(), Some("gen-1"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(11), Some(3)));
    assert_eq!(r.tokens_source, TokensSource::Usage);
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        r.ttft_ms(),
        Some(r.latency_ms()),
        "non-stream: ttft is the whole body"
    );
    assert!(r.ttfb_ms().unwrap() <= r.latency_ms());
    assert!(r.tokens_per_s().unwrap() > 0.0);
    assert_eq!(r.sse_events, 0);

    let (headers, body) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(headers["x-title"], "rotor-test");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["model"], "m/x:free");
    assert_eq!(body["stream"], false);
    assert!(body.get("stream_options").is_none());
    assert_eq!(body["seed"], 7);
    assert_eq!(body["messages"][0]["content"], "Say hi");

    // Without a key, no Authorization header at all — from the same client,
    // which prepares each endpoint's URL and headers once.
    let c = client();
    let r = c.chat(&endpoint(&base), &spec(false)).await;
    assert_eq!(r.outcome, Outcome::Ok);
    let (headers, _) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(headers["authorization"], format!("Bearer {KEY}"));
    let mut ep = endpoint(&base);
    ep.api_key = None;
    let r = c.chat(&ep, &spec(false)).await;
    assert_eq!(r.outcome, Outcome::Ok);
    let (headers, _) = seen.lock().unwrap().pop().unwrap();
    assert!(!headers.contains_key("authorization"));
    assert_eq!(headers["x-title"], "rotor-test");

    // The scheduled start the caller passes is where queue_ms counts from.
    let planned = tokio::time::Instant::now() - Duration::from_millis(40);
    let spec = rotor::client::CallSpec {
        scheduled: Some(planned),
        ..spec(false)
    };
    let r = c.chat(&ep, &spec).await;
    assert_eq!(r.outcome, Outcome::Ok);
    assert_eq!(r.timings.scheduled, planned);
    assert!(r.queue_ms() >= 40.0, "{}", r.queue_ms());
}

#[tokio::test]
async fn stream_ttft_excludes_role_chunk_and_comments() {
    let seen: Arc<Mutex<Option<Value>>> = Arc::default();
    let seen2 = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |body: Bytes| {
            let seen = seen2.clone();
            async move {
                *seen.lock().unwrap() = serde_json::from_slice(&body).ok();
                sse(scripted(vec![
                    (0, ": OPENROUTER PROCESSING\n\n".into()),
                    (0, "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n".into()),
                    (20, ": OPENROUTER PROCESSING\n\n".into()),
                    (40, delta("Hel")),
                    (10, delta("lo")),
                    (10, delta(" world")),
                    (0, "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".into()),
                    (0, USAGE.into()),
                    (0, "data: [DONE]\n\n".into()),
                ]))
            }
        }),
    );
    let base = serve(app).await;
    let r = client().chat(&endpoint(&base), &spec(true)).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.content, "Hello world");
    let ttft = r.ttft_ms().unwrap();
    assert!(
        (60.0..100.0).contains(&ttft),
        "ttft {ttft} must exclude role chunk and comments"
    );
    let ttfb = r.ttfb_ms().unwrap();
    assert!(ttfb < 40.0, "headers come at once: {ttfb}");
    let first_byte = r.timings.first_byte.unwrap() - r.timings.sent;
    assert!(
        first_byte < Duration::from_millis(40),
        "the comment is the first byte"
    );
    assert!(r.latency_ms() >= 80.0);
    assert_eq!(
        (r.output_tokens, r.tokens_source),
        (Some(4), TokensSource::Usage)
    );
    assert_eq!(r.content_events, 3);
    assert_eq!(r.sse_events, 7, "role, 3 deltas, finish, usage, [DONE]");
    let tps = r.tokens_per_s().unwrap();
    let decode_s = (r.timings.end - r.timings.first_token.unwrap()).as_secs_f64();
    assert!((tps - 4.0 / decode_s).abs() < 1e-6);
    let body = seen.lock().unwrap().clone().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_no_key(&r);
}

#[tokio::test]
async fn stream_without_usage_is_estimated_and_reasoning_is_timed() {
    let base = serve_chat(|| {
        sse(scripted(vec![
            (0, "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n".into()),
            (30, "data:{\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\r\n\r\n".into()),
            (0, "data: {\"choices\":[{\"delta\":{\"content\":\"ij\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".into()),
        ]))
    })
    .await;
    let r = client().chat(&endpoint(&base), &spec(true)).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.reasoning, "hmm");
    assert_eq!(r.content, "abcdefghij");
    // ceil((10 + 3) / 4) = 4
    assert_eq!(
        (r.output_tokens, r.tokens_source),
        (Some(4), TokensSource::Estimated)
    );
    assert_eq!(r.input_tokens, None);
    assert!(r.first_reasoning_ms().unwrap() < r.ttft_ms().unwrap() - 20.0);
}

#[tokio::test]
async fn each_status_class() {
    let app = Router::new().route(
        "/{code}/v1/chat/completions",
        post(|axum::extract::Path(code): axum::extract::Path<u16>| async move {
            let body = match code {
                400 => json!({"error": {"code": 400, "message": "This model's maximum context length is 4096 tokens"}}),
                401 => json!({"error": {"code": 401, "message": format!("Incorrect API key provided: {KEY}")}}),
                404 => json!({"error": {"code": "free_variant_ended", "message": "gone"}}),
                _ => json!({"error": {"code": code, "message": "nope", "type": "some_type"}}),
            };
            json_response(code, &[], body)
        }),
    );
    let base = serve(app).await;
    let root = base.trim_end_matches("/v1");
    let cases = [
        (400, Outcome::BadRequest, Some("context_length_exceeded")),
        (401, Outcome::Auth, Some("401")),
        (402, Outcome::Payment, Some("some_type")),
        (403, Outcome::Forbidden, Some("some_type")),
        (404, Outcome::NotFound, Some("free_variant_ended")),
        (408, Outcome::Timeout, Some("http_408")),
        (409, Outcome::BadRequest, Some("some_type")),
        (500, Outcome::ServerError, Some("some_type")),
        (502, Outcome::ServerError, Some("some_type")),
        (503, Outcome::Overloaded, Some("some_type")),
        (529, Outcome::Overloaded, Some("some_type")),
    ];
    let c = client();
    for (code, outcome, error_type) in cases {
        let r = c
            .chat(&endpoint(&format!("{root}/{code}/v1")), &spec(true))
            .await;
        assert_eq!(r.outcome, outcome, "status {code}: {r:?}");
        assert_eq!(r.http_status, Some(code));
        assert_eq!(r.error_type.as_deref(), error_type, "status {code}");
        assert!(r.scope.is_none());
        assert!(
            r.error_message
                .as_deref()
                .unwrap()
                .starts_with(&format!("HTTP {code}"))
        );
        assert_no_key(&r);
    }
}

#[tokio::test]
async fn html_error_page_classifies_by_status_with_short_excerpt() {
    let base = serve_chat(|| {
        let page = format!(
            "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n{}\nkey={KEY}\n</body></html>",
            "x".repeat(2000)
        );
        Response::builder()
            .status(502)
            .header("content-type", "text/html")
            .body(Body::from(page))
            .unwrap()
    })
    .await;
    let r = client().chat(&endpoint(&base), &spec(false)).await;
    assert_eq!(r.outcome, Outcome::ServerError);
    assert_eq!(r.error_type, None);
    let msg = r.error_message.clone().unwrap();
    assert!(
        msg.starts_with("HTTP 502: <html> <head><title>502 Bad Gateway"),
        "{msg}"
    );
    assert!(msg.chars().count() <= 300 && !msg.contains('\n'));
    assert_no_key(&r);
}

/// The five 429 bodies the simulator sends, each with its scope and hints.
#[tokio::test]
async fn rate_limits_of_each_scope() {
    let reset = epoch_ms() + 30_000;
    let app = Router::new().route(
        "/{scope}/v1/chat/completions",
        post(move |axum::extract::Path(scope): axum::extract::Path<String>| async move {
            let account = |limit: &str| {
                vec![
                    ("X-RateLimit-Limit", limit.to_string()),
                    ("X-RateLimit-Remaining", "0".into()),
                    ("X-RateLimit-Reset", reset.to_string()),
                    ("Retry-After", "30".into()),
                    ("retry-after-ms", "29500".into()),
                ]
            };
            let meta_headers = json!({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.to_string()});
            match scope.as_str() {
                "minute" => json_response(429, &account("20"), json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min. ", "metadata": {"headers": meta_headers}}})),
                "day" => json_response(429, &account("50"), json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day"}})),
                "upstream" => json_response(429, &[], json!({"error": {"code": 429, "message": "m/x:free is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations", "metadata": {"raw": "m/x:free is temporarily rate-limited upstream", "provider_name": "Chutes", "availability": {"code": "capacity_exhausted", "retryable": true, "retry_after": 2}}}})),
                "model" => json_response(429, &[("Retry-After", "8".into()), ("retry-after-ms", "7500".into())], json!({"error": {"code": 429, "message": "Rate limit exceeded for model m/x:free: 8 requests per minute", "metadata": {"error_type": "rate_limit_exceeded", "scope": "model"}}})),
                "body_only" => json_response(429, &[], json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min. ", "metadata": {"headers": meta_headers}}})),
                _ => json_response(429, &[], json!({"error": {"message": "Too Many Requests"}})),
            }
        }),
    );
    let base = serve(app).await;
    let root = base.trim_end_matches("/v1");
    let c = client();
    let call = |scope: &'static str| {
        let c = c.clone();
        let ep = endpoint(&format!("{root}/{scope}/v1"));
        async move { c.chat(&ep, &spec(true)).await }
    };

    let r = call("minute").await;
    assert_eq!(
        (r.outcome, r.scope),
        (Outcome::RateLimited, Some(RateLimitScope::AccountMinute))
    );
    assert_eq!(r.error_type.as_deref(), Some("429"));
    assert_eq!(r.hints.retry_after_ms, Some(29_500));
    assert_eq!(
        (r.hints.limit, r.hints.remaining, r.hints.reset_epoch_ms),
        (Some(20), Some(0), Some(reset))
    );

    let r = call("day").await;
    assert_eq!(r.scope, Some(RateLimitScope::AccountDay));
    assert_eq!(r.hints.limit, Some(50));

    let r = call("upstream").await;
    assert_eq!(r.scope, Some(RateLimitScope::Upstream));
    assert_eq!(r.hints.retry_after_ms, Some(2000));

    let r = call("model").await;
    assert_eq!(r.scope, Some(RateLimitScope::Model));
    assert_eq!(r.error_type.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(r.hints.retry_after_ms, Some(7500));
    assert_eq!(r.hints.limit, None);

    let r = call("body_only").await;
    assert_eq!(r.scope, Some(RateLimitScope::AccountMinute));
    assert_eq!(
        (r.hints.limit, r.hints.reset_epoch_ms),
        (Some(20), Some(reset))
    );
    let wait = r.hints.wait_ms(epoch_ms()).unwrap();
    assert!((25_000..=30_000).contains(&wait), "{wait}");

    let r = call("unknown").await;
    assert_eq!(
        (r.outcome, r.scope),
        (Outcome::RateLimited, Some(RateLimitScope::Unknown))
    );
    assert!(r.hints.is_empty());
}

#[tokio::test]
async fn html_200_is_not_json() {
    let base = serve_chat(|| {
        Response::builder()
            .header("content-type", "text/html")
            .body(Body::from(
                "<!DOCTYPE html><html><body>Cloudflare</body></html>",
            ))
            .unwrap()
    })
    .await;
    let r = client().chat(&endpoint(&base), &spec(false)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("not_json"))
    );
    assert_eq!(r.http_status, Some(200));
    // A stream request answered with an HTML page: the same.
    let r = client().chat(&endpoint(&base), &spec(true)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("not_json"))
    );
}

#[tokio::test]
async fn truncated_stream_and_eof_after_finish_reason() {
    let cut = serve_chat(|| sse(scripted(vec![(0, delta("partial "))]))).await;
    let r = client().chat(&endpoint(&cut), &spec(true)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("truncated_stream"))
    );
    assert!(r.content_started);
    assert_eq!(r.content, "partial ");

    let mid_event = serve_chat(|| {
        sse(scripted(vec![
            (0, delta("a")),
            (0, "data: {\"choices\":[{\"del".into()),
        ]))
    })
    .await;
    let r = client().chat(&endpoint(&mid_event), &spec(true)).await;
    assert_eq!(r.error_type.as_deref(), Some("truncated_stream"));

    let finished = serve_chat(|| {
        sse(scripted(vec![
            (0, delta("whole")),
            (
                0,
                "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}".into(),
            ),
        ]))
    })
    .await;
    let r = client().chat(&endpoint(&finished), &spec(true)).await;
    assert_eq!(
        r.outcome,
        Outcome::Ok,
        "EOF after a finish_reason is fine: {r:?}"
    );
    assert_eq!(r.content, "whole");
}

#[tokio::test]
async fn error_object_inside_a_200_stream() {
    for (code, shown) in [(json!(502), "502"), (json!("server_error"), "server_error")] {
        let base = serve_chat(move || {
            let err = json!({"error": {"code": code, "message": format!("Provider returned error for {KEY}")},
                             "choices": [{"delta": {"content": ""}, "finish_reason": "error"}]});
            sse(scripted(vec![
                (0, delta("some ")),
                (0, format!("data: {err}\n\n")),
                (0, "data: [DONE]\n\n".into()),
            ]))
        })
        .await;
        let r = client().chat(&endpoint(&base), &spec(true)).await;
        assert_eq!(r.outcome, Outcome::InvalidResponse, "{r:?}");
        assert_eq!(r.error_type.as_deref(), Some("stream_error"));
        let msg = r.error_message.clone().unwrap();
        assert!(
            msg.contains(shown) && msg.contains("Provider returned error"),
            "{msg}"
        );
        assert!(r.content_started);
        assert!(r.scope.is_none());
        assert_no_key(&r);
    }
    // A rate limit reported inside the stream still carries its scope and hints.
    let base = serve_chat(|| {
        let err = json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day",
                         "metadata": {"headers": {"X-RateLimit-Limit": "50", "Retry-After": "3"}}}});
        sse(scripted(vec![(0, format!("data: {err}\n\n"))]))
    })
    .await;
    let r = client().chat(&endpoint(&base), &spec(true)).await;
    assert_eq!(r.outcome, Outcome::InvalidResponse);
    assert_eq!(r.scope, Some(RateLimitScope::AccountDay));
    assert_eq!(
        (r.hints.limit, r.hints.retry_after_ms),
        (Some(50), Some(3000))
    );
    assert!(!r.content_started);
}
