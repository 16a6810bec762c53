//! A whole HTTP response (status, headers, body cut into chunks) through the
//! client's classification: `decode_body` runs the functions `HttpClient::chat`
//! uses (SSE reader, completion parser, error-body classification, rate-limit
//! hints and scope, redacted excerpts).
//!
//! Checks: no panic; the same result whether the body arrives whole or in
//! chunks; outcome consistent with the status; an `Ok` has content and no
//! error; error messages are short, single-line and never hold 8 characters
//! in a row of the key; waits are clamped; token fields are consistent.
//!
//! Input: `[status_sel, status, flags, chunk_len, headers "\n\n" body]`.
//! `status_sel & 0x80` takes `status_sel<<8|status` (mod 1000) as the status,
//! otherwise a common status from a table. Flags: bit 0 stream, bit 1 a
//! 256-byte body cap, bits 2-3 a Content-Type, bit 4 no key.
//! Header lines are `name: value`; `chunk_len` 0 feeds one byte at a time.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use rotor::client::classify::MAX_MESSAGE_CHARS;
use rotor::client::hints::MAX_WAIT_MS;
use rotor::client::{CallResult, RawResponse, classify_status, decode_body};
use rotor::record::{Outcome, TokensSource};
use rotor::secret::Secret;

const KEY: &str = "sk-or-v1-fuzz0123456789abcdefcanary";

const STATUSES: &[u16] = &[
    200, 200, 200, 201, 204, 301, 302, 307, 400, 401, 402, 403, 404, 408, 413, 422, 429, 429, 500,
    502, 503, 504, 529, 0, 99, 103, 600, 999,
];

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("text/event-stream"),
    Some("application/json"),
    Some("text/html; charset=utf-8"),
];

fn headers_from(block: &[u8], content_type: Option<&'static str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(ct) = content_type {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    for line in block.split(|&b| b == b'\n') {
        let Some(i) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..i].trim_ascii();
        let value = line[i + 1..].trim_ascii();
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            h.append(n, v);
        }
    }
    h
}

fn check(r: &CallResult, status: u16, key: Option<&Secret>) {
    assert_eq!(r.http_status, Some(status));
    match status {
        200..=299 => assert!(matches!(r.outcome, Outcome::Ok | Outcome::InvalidResponse)),
        300..=399 => {
            assert_eq!(r.outcome, Outcome::InvalidResponse);
            assert_eq!(r.error_type.as_deref(), Some("redirect"));
        }
        _ => assert_eq!(r.outcome, classify_status(status)),
    }
    if r.outcome == Outcome::Ok {
        assert!(!r.content.is_empty(), "an Ok without content");
        assert!(r.error_type.is_none() && r.error_message.is_none());
    } else {
        assert!(r.error_message.is_some(), "a failure without a message");
    }
    if status == 429 {
        assert!(r.scope.is_some(), "a 429 without a scope");
    }
    if let Some(msg) = &r.error_message {
        assert!(msg.chars().count() <= MAX_MESSAGE_CHARS, "message too long");
        assert!(
            !msg.chars().any(char::is_control),
            "control character in {msg:?}"
        );
        if key.is_some() {
            for w in KEY.as_bytes().windows(8) {
                let w = std::str::from_utf8(w).unwrap_or_default();
                assert!(!msg.contains(w), "key piece {w:?} in {msg:?}");
            }
        }
    }
    if let Some(ms) = r.hints.retry_after_ms {
        assert!(ms <= MAX_WAIT_MS, "retry_after_ms {ms} over the clamp");
    }
    if let Some(ms) = r.hints.wait_ms(1_700_000_000_000) {
        assert!(ms <= MAX_WAIT_MS, "wait {ms} over the clamp");
    }
    assert_eq!(r.tokens_source == TokensSource::Usage, r.usage.is_some());
    assert_eq!(
        r.tokens_source == TokensSource::None,
        r.output_tokens.is_none()
    );
    assert_eq!(r.content_started, !r.content.is_empty());
    assert!(r.content_events <= r.sse_events || r.sse_events == 0);
    let _ = (r.latency_ms(), r.ttfb_ms(), r.ttft_ms(), r.tokens_per_s());
}

fuzz_target!(|data: &[u8]| {
    let [sel, st, flags, chunk_len, rest @ ..] = data else {
        return;
    };
    let status = if sel & 0x80 != 0 {
        u16::from_be_bytes([sel & 0x7f, *st]) % 1000
    } else {
        STATUSES[usize::from(*st) % STATUSES.len()]
    };
    let stream = flags & 1 != 0;
    let cap = if flags & 2 != 0 { 256 } else { 1 << 20 };
    let content_type = CONTENT_TYPES[usize::from((flags >> 2) & 3)];
    let secret = Secret::new(KEY);
    let key = (flags & 16 == 0).then_some(&secret);
    let (block, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&[][..], rest),
    };
    let headers = headers_from(block, content_type);
    let whole: Vec<&[u8]> = if body.is_empty() { vec![] } else { vec![body] };
    let split: Vec<&[u8]> = body.chunks(usize::from(*chunk_len).max(1)).collect();

    let now = tokio::time::Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let run = |chunks: &[&[u8]]| {
        let resp = RawResponse {
            status,
            headers: &headers,
            chunks,
            stream,
        };
        decode_body(&resp, cap, key, now, wall)
    };
    let a = run(&whole);
    let b = run(&split);
    assert_eq!(a, b, "chunking changed the result");
    check(&a, status, key);
});
