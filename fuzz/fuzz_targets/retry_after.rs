//! `Retry-After` and `X-RateLimit-Reset` parsing with arbitrary strings, and
//! the same strings as header values and as body metadata hints.
//!
//! Checks: no panic (the clock value is arbitrary too); waits (and the wait
//! a hint set implies) are clamped to `MAX_WAIT_MS`; surrounding whitespace never changes a result; whole
//! seconds mean exactly that many seconds; relative resets land within the
//! clamp of `now`; a hint in a header wins over the same hint in the body.
//!
//! Input: 8 bytes of clock (seconds since the epoch, big-endian), 2 bytes of
//! mask (bit i < 9: the i-th hint header carries the value, in the headers
//! and in the body; bit 15: so does `metadata.availability`), then the value
//! (lossy UTF-8).
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rotor::client::hints::{MAX_WAIT_MS, RateLimitHints, parse_reset, parse_retry_after};
use rotor::wire::ErrorObject;

const HINT_HEADERS: &[&str] = &[
    "retry-after-ms",
    "retry-after",
    "llm_provider-retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let (clock, rest) = data.split_at(8);
    let (mask, value) = rest.split_at(2);
    let mask = u16::from_be_bytes([mask[0], mask[1]]);
    let mut secs = [0u8; 8];
    secs.copy_from_slice(clock);
    // Any instant SystemTime can represent, up to about 1e13 s after 1970.
    let secs = u64::from_be_bytes(secs) % 10_000_000_000_000;
    let Some(now) = UNIX_EPOCH.checked_add(Duration::from_secs(secs)) else {
        return;
    };
    let now_ms = secs.saturating_mul(1000);
    let text = String::from_utf8_lossy(value);
    let s = text.as_ref();

    let ra = parse_retry_after(s, now);
    if let Some(ms) = ra {
        assert!(ms <= MAX_WAIT_MS, "retry-after {ms} over the clamp");
    }
    let padded = format!(" \t{s} ");
    assert_eq!(parse_retry_after(&padded, now), ra, "whitespace changed it");
    if let Ok(n) = s.parse::<u32>() {
        assert_eq!(ra, Some((u64::from(n) * 1000).min(MAX_WAIT_MS)));
    }

    let reset = parse_reset(s, now);
    if let Some(r) = reset {
        assert!(
            r <= now_ms.saturating_add(MAX_WAIT_MS),
            "reset {r} past the clamp"
        );
    }
    assert_eq!(
        parse_reset(&padded, now),
        reset,
        "whitespace changed the reset"
    );
    if let Ok(n) = s.parse::<u32>()
        && n < 1_000_000_000
    {
        let want = now_ms.saturating_add((u64::from(n) * 1000).min(MAX_WAIT_MS));
        assert_eq!(reset, Some(want), "relative seconds");
    }
    let relative = s.trim().ends_with(|c: char| c.is_ascii_alphabetic());
    if let (Some(r), true) = (reset, relative) {
        assert!(
            r >= now_ms && r <= now_ms.saturating_add(MAX_WAIT_MS),
            "duration reset {r}"
        );
    }

    // The same value in the hint headers the mask selects, and in the body's
    // metadata.
    // (A value that is not visible ASCII cannot be read as text: rotor treats
    // such a header as absent and falls back to the body.)
    let mut headers = HeaderMap::new();
    let readable = HeaderValue::from_str(s.trim())
        .ok()
        .filter(|v| v.to_str().is_ok());
    if let Some(v) = readable {
        for (i, name) in HINT_HEADERS.iter().enumerate() {
            if mask & (1 << i) != 0 {
                headers.insert(HeaderName::from_static(name), v.clone());
            }
        }
    }
    let meta: serde_json::Map<String, serde_json::Value> = HINT_HEADERS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| ((*n).to_string(), serde_json::Value::String(s.to_string())))
        .collect();
    let mut metadata = serde_json::Map::new();
    metadata.insert("headers".into(), serde_json::Value::Object(meta));
    let mut availability = serde_json::Map::new();
    availability.insert(
        "retry_after".into(),
        serde_json::Value::String(s.to_string()),
    );
    if mask & (1 << 15) != 0 {
        metadata.insert(
            "availability".into(),
            serde_json::Value::Object(availability),
        );
    }
    let body = ErrorObject {
        message: s.to_string(),
        metadata: Some(serde_json::Value::Object(metadata)),
        ..ErrorObject::default()
    };
    let from_headers = RateLimitHints::parse(&headers, None, now);
    let from_body = RateLimitHints::parse(&HeaderMap::new(), Some(&body), now);
    let both = RateLimitHints::parse(&headers, Some(&body), now);
    for h in [from_headers, from_body, both] {
        if let Some(ms) = h.retry_after_ms {
            assert!(ms <= MAX_WAIT_MS);
        }
        if let Some(w) = h.wait_ms(now_ms) {
            assert!(w <= MAX_WAIT_MS, "wait {w} over the clamp: {h:?}");
        }
    }
    // The body holds the same keys as the headers (plus `availability`, which
    // no header replaces): with readable headers, the headers decide.
    if !headers.is_empty() && mask & (1 << 15) == 0 {
        assert_eq!(both, from_headers, "headers must win over the body");
    }
});
