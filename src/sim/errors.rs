//! Error responses, shaped like OpenRouter's: `{"error": {"code", "message",
//! "metadata"}}`, plus the rate-limit headers. The client classifies by these
//! exact bodies, so they are fixed here in one place.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::sim::faults::FaultKind;
use crate::sim::scenario::Hints;

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    bytes_response(status, "application/json", body.to_string())
}

pub(crate) fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn error(code: u16, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A model id safe to echo: bounded length.
fn shown(model: &str) -> String {
    model.chars().take(200).collect()
}

/// Answer to a request still pending when the server shuts down.
pub(crate) fn shutting_down() -> Response {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &error(503, "simulator shutting down"),
    )
}

pub(crate) fn unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &error(401, "No auth credentials found"),
    )
}

pub(crate) fn unknown_model(model: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &error(404, &format!("No endpoints found for {}.", shown(model))),
    )
}

pub(crate) fn bad_request(message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &error(400, message))
}

pub(crate) fn context_too_long(limit: u64, asked: u64) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": {
            "code": 400,
            "message": format!("This endpoint's maximum context length is {limit} tokens. However, you requested about {asked} tokens. (context_length_exceeded)"),
            "metadata": {"error_type": "context_length_exceeded"}
        }}),
    )
}

/// Whole seconds, rounded up, for `Retry-After`.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000_000) as u64
}

/// Milliseconds, rounded up, for `retry-after-ms`.
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000) as u64
}

fn set(r: &mut Response, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        r.headers_mut().insert(name, v);
    }
}

fn retry_headers(r: &mut Response, wait: Duration) {
    set(r, "retry-after", ceil_secs(wait));
    set(r, "retry-after-ms", ceil_ms(wait));
}

/// Which account limit a 429 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountLimit {
    Minute,
    Day,
}

/// An account (group) limit: per-minute or per-day. `reset_ms` is the wall
/// clock (epoch milliseconds) at which the limit lets requests through again.
pub(crate) fn account_limited(
    which: AccountLimit,
    limit: u32,
    wait: Duration,
    reset_ms: i64,
    hints: Hints,
) -> Response {
    if hints == Hints::None {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": {"message": "Too Many Requests"}}),
        );
    }
    let message = match which {
        AccountLimit::Minute => "Rate limit exceeded: free-models-per-min. ",
        AccountLimit::Day => {
            "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day"
        }
    };
    let body = json!({"error": {
        "code": 429,
        "message": message,
        "metadata": {"headers": {
            "X-RateLimit-Limit": limit.to_string(),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset_ms.to_string(),
        }}
    }});
    let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
    if hints == Hints::Headers {
        set(&mut r, "x-ratelimit-limit", limit);
        set(&mut r, "x-ratelimit-remaining", 0);
        set(&mut r, "x-ratelimit-reset", reset_ms);
        retry_headers(&mut r, wait);
    }
    r
}

/// The per-model token bucket is empty.
pub(crate) fn model_limited(model: &str, rpm: u32, wait: Duration) -> Response {
    let body = json!({"error": {
        "code": 429,
        "message": format!("Rate limit exceeded for model {}: {rpm} requests per minute", shown(model)),
        "metadata": {"error_type": "rate_limit_exceeded", "scope": "model"}
    }});
    let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
    retry_headers(&mut r, wait);
    r
}

/// The upstream provider is at capacity (an injected fault). `retry_after` is
/// in real seconds.
pub(crate) fn upstream_limited(model: &str, retry_after: Duration) -> Response {
    let model = shown(model);
    let secs = (retry_after.as_secs_f64() * 1000.0).ceil() / 1000.0;
    let body = json!({"error": {
        "code": 429,
        "message": format!("{model} is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations"),
        "metadata": {
            "raw": format!("{model} is temporarily rate-limited upstream. Please retry shortly."),
            "provider_name": "Chutes",
            "availability": {"code": "capacity_exhausted", "retryable": true, "retry_after": secs}
        }
    }});
    json_response(StatusCode::TOO_MANY_REQUESTS, &body)
}

const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

/// A friendly HTML page served with 200 (a captive portal, a misrouted proxy).
pub(crate) const HTML_200: &str = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>It works!</h1><p>This page is served instead of the API.</p></body></html>\n";

/// A proxy's 502 page (`html_502`).
pub(crate) fn html_502() -> Response {
    bytes_response(status(502), "text/html", HTML_502)
}

/// 500, 502 JSON or 502 HTML, chosen by `variant` in [0, 1).
pub(crate) fn server_error(variant: f64) -> (u16, Response) {
    if variant < 0.4 {
        (
            500,
            json_response(status(500), &error(500, "Internal Server Error")),
        )
    } else if variant < 0.8 {
        let body = json!({"error": {"code": 502, "message": "Provider returned error",
            "metadata": {"provider_name": "Chutes", "raw": "upstream connect error or disconnect/reset before headers"}}});
        (502, json_response(status(502), &body))
    } else {
        (502, bytes_response(status(502), "text/html", HTML_502))
    }
}

/// 503 "No available providers" or 529, chosen by `variant`.
pub(crate) fn overloaded(variant: f64) -> (u16, Response) {
    if variant < 0.75 {
        (
            503,
            json_response(status(503), &error(503, "No available providers")),
        )
    } else {
        let body = json!({"error": {"code": 529, "message": "Overloaded", "metadata": {"error_type": "overloaded_error"}}});
        (529, json_response(status(529), &body))
    }
}

pub(crate) fn request_timeout() -> Response {
    json_response(status(408), &error(408, "Request timed out upstream"))
}

pub(crate) fn payment() -> Response {
    json_response(
        status(402),
        &error(
            402,
            "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
        ),
    )
}

pub(crate) fn forbidden(model: &str) -> Response {
    let body = json!({"error": {
        "code": 403,
        "message": format!("{} requires moderation on OpenRouter. Your input was flagged for \"harassment\". No credits were charged.", shown(model)),
        "metadata": {"reasons": ["harassment"], "provider_name": "OpenAI", "model_slug": shown(model)}
    }});
    json_response(status(403), &body)
}

pub(crate) fn injected_bad_request() -> Response {
    let body = json!({"error": {"code": 400, "message": "Provider returned error",
        "metadata": {"provider_name": "Chutes", "raw": "{\"error\":{\"message\":\"Invalid parameter: this model does not support the requested options\"}}"}}});
    json_response(StatusCode::BAD_REQUEST, &body)
}

/// The error chunk sent inside a 200 stream.
pub(crate) const MID_STREAM_ERROR: &str = r#"{"error":{"code":502,"message":"Provider returned error"},"choices":[{"delta":{},"finish_reason":"error"}]}"#;

/// The same with the code as a string (`mid_stream_error_string`).
pub(crate) const MID_STREAM_ERROR_STRING: &str = r#"{"error":{"code":"server_error","message":"Provider returned error"},"choices":[{"delta":{},"finish_reason":"error"}]}"#;

/// The error object of a mid-stream error fault, for non-stream bodies.
pub(crate) fn mid_stream_error_object(kind: FaultKind) -> Value {
    let code = if kind == FaultKind::MidStreamErrorString {
        json!("server_error")
    } else {
        json!(502)
    };
    json!({"code": code, "message": "Provider returned error"})
}

/// The status of the `redirect` fault: 307 keeps the method and the body, so
/// a client that follows it re-sends everything, its key included.
pub(crate) const REDIRECT_STATUS: u16 = 307;

/// A redirect to `location`.
pub(crate) fn redirect(location: &str) -> Response {
    let mut r = json_response(
        status(REDIRECT_STATUS),
        &json!({"error": {"code": REDIRECT_STATUS, "message": "Moved to another host"}}),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The value of `Retry-After` each Retry-After fault sends (`scale` is the
/// scenario's time scale, `now` the wall clock).
pub(crate) fn odd_retry_after(kind: FaultKind, scale: f64, now: SystemTime) -> Option<String> {
    let date = httpdate::fmt_http_date;
    match kind {
        // HTTP dates have whole seconds: at least 2 s ahead so it is not
        // already (almost) past when it arrives.
        FaultKind::RetryAfterDate => {
            let ahead = Duration::from_secs_f64((30.0 * scale).clamp(2.0, 1e9));
            Some(date(now + ahead))
        }
        FaultKind::RetryAfterPast => Some(date(
            now.checked_sub(Duration::from_secs(3600))
                .unwrap_or(UNIX_EPOCH),
        )),
        FaultKind::RetryAfterHuge => Some("999999".into()),
        FaultKind::RetryAfterNegative => Some("-5".into()),
        FaultKind::RetryAfterGarbage => Some("soon, maybe tomorrow".into()),
        _ => None,
    }
}

/// The 429s of the rate-limit faults that test a client's parsing of hints:
/// odd `Retry-After` values, `X-RateLimit-Reset` in seconds or milliseconds,
/// hints only in the body.
pub(crate) fn odd_rate_limit(kind: FaultKind, scale: f64, now: SystemTime) -> Response {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let minute_ms = (60_000.0 * scale).ceil() as u64;
    let reset_ms = now_ms + minute_ms;
    match kind {
        FaultKind::ResetSeconds | FaultKind::ResetMillis => {
            let body = json!({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min. "}});
            let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            set(&mut r, "x-ratelimit-limit", 20);
            set(&mut r, "x-ratelimit-remaining", 0);
            if kind == FaultKind::ResetSeconds {
                set(&mut r, "x-ratelimit-reset", reset_ms.div_ceil(1000));
            } else {
                set(&mut r, "x-ratelimit-reset", reset_ms);
            }
            r
        }
        FaultKind::RateLimitBodyOnly => account_limited(
            AccountLimit::Minute,
            20,
            Duration::from_millis(minute_ms),
            i64::try_from(reset_ms).unwrap_or(i64::MAX),
            Hints::BodyOnly,
        ),
        _ => {
            let body = json!({"error": {"code": 429, "message": "Too Many Requests"}});
            let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            if let Some(v) = odd_retry_after(kind, scale, now) {
                set(&mut r, "retry-after", v);
            }
            r
        }
    }
}
