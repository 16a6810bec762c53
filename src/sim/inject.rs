//! The responses of injected faults, stream and non-stream variants. The
//! bodies of the hostile-server quirks (odd usage, slow drips, huge or
//! non-UTF-8 bodies) are in `quirks.rs`.

use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::watch;

use crate::sim::answer;
use crate::sim::body::{Script, Step, Tail, after, play, wait_until};
use crate::sim::errors::{self, bytes_response};
use crate::sim::faults::FaultKind;
use crate::sim::quirks;
use crate::sim::respond::{DONE, KEEPALIVE, Reply, json_now, secs, sse_response};

/// Shortest interval of endless keep-alives.
const MIN_KEEPALIVE: Duration = Duration::from_millis(5);

/// How long a `reset_before_headers` handler waits for hyper to drop the
/// reset connection before it gives up and answers (never in practice).
const RESET_FAILSAFE: Duration = Duration::from_secs(5);

/// The faults whose body breaks (or has a quirk) after a 200: a stream
/// starts at once and its steps carry their own times; a non-stream body
/// comes after the full answer time.
fn body_fault(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::MalformedJson
            | FaultKind::Truncated
            | FaultKind::MidStreamError
            | FaultKind::MidStreamErrorString
            | FaultKind::Disconnect
            | FaultKind::NoDone
            | FaultKind::NoUsage
            | FaultKind::DuplicateUsage
            | FaultKind::DataKeepalive
            | FaultKind::InvalidUtf8
            | FaultKind::InvalidUtf8Split
    )
}

/// How long after arrival a fault's first byte comes: error statuses after
/// the time to first token; body faults as [`body_fault`] says; gateway
/// answers (401, 402, 403, 400, 404, redirects) and bodies that carry their
/// own pace (keep-alives, slow drips, huge bodies) at once.
fn first_byte(kind: FaultKind, reply: &Reply<'_>) -> Duration {
    match kind {
        FaultKind::Auth
        | FaultKind::Payment
        | FaultKind::Forbidden
        | FaultKind::BadRequest
        | FaultKind::NotFound
        | FaultKind::Redirect
        | FaultKind::KeepaliveOnly
        | FaultKind::SlowDrip
        | FaultKind::HugeBody => Duration::ZERO,
        k if body_fault(k) && reply.go.stream => Duration::ZERO,
        k if body_fault(k) => reply.g.total(),
        _ => reply.g.ttft,
    }
}

/// Answers a request with the fault `kind`.
pub(crate) async fn fault(
    reply: &Reply<'_>,
    kind: FaultKind,
    shutdown: &mut watch::Receiver<bool>,
    redirect_to: &str,
) -> Response {
    let go = reply.go;
    let m = reply.model;
    let v = go.draws.variant;
    if kind == FaultKind::Hang {
        // Never answers: ends when the client goes away (hyper drops this
        // future) or the server shuts down.
        let _ = shutdown.wait_for(|s| *s).await;
        return errors::shutting_down();
    }
    if !wait_until(after(go.arrived, first_byte(kind, reply)), shutdown).await {
        return errors::shutting_down();
    }
    match kind {
        FaultKind::Hang => errors::shutting_down(),
        FaultKind::Auth => errors::unauthorized(),
        FaultKind::Payment => errors::payment(),
        FaultKind::Forbidden => errors::forbidden(&m.id),
        FaultKind::BadRequest => errors::injected_bad_request(),
        FaultKind::NotFound => errors::unknown_model(&m.id),
        FaultKind::ServerError => errors::server_error(v).1,
        FaultKind::Overloaded => errors::overloaded(v).1,
        FaultKind::RequestTimeout => errors::request_timeout(),
        FaultKind::Html502 => errors::html_502(),
        FaultKind::RateLimitUpstream => {
            errors::upstream_limited(&m.id, secs((5.0 + 25.0 * v) * reply.scale))
        }
        FaultKind::RetryAfterDate
        | FaultKind::RetryAfterPast
        | FaultKind::RetryAfterHuge
        | FaultKind::RetryAfterNegative
        | FaultKind::RetryAfterGarbage
        | FaultKind::ResetSeconds
        | FaultKind::ResetMillis
        | FaultKind::RateLimitBodyOnly => {
            errors::odd_rate_limit(kind, reply.scale, SystemTime::now())
        }
        FaultKind::Redirect => errors::redirect(redirect_to),
        FaultKind::ResetBeforeHeaders => reset_before_headers(reply, shutdown).await,
        FaultKind::Html200 => bytes_response(StatusCode::OK, "text/html", errors::HTML_200),
        FaultKind::KeepaliveOnly => keepalive_forever(reply),
        FaultKind::SlowDrip => quirks::slow_drip(reply),
        FaultKind::HugeBody => quirks::huge_body(reply),
        FaultKind::NoDone
        | FaultKind::NoUsage
        | FaultKind::DuplicateUsage
        | FaultKind::DataKeepalive => quirks::odd_but_fine(reply, kind),
        FaultKind::InvalidUtf8 | FaultKind::InvalidUtf8Split => {
            quirks::invalid_utf8(reply, kind == FaultKind::InvalidUtf8Split)
        }
        _ if go.stream => broken_stream(reply, kind),
        FaultKind::Disconnect => json_now(reply.completion(None), go.log.clone(), Tail::Abort),
        FaultKind::MidStreamError | FaultKind::MidStreamErrorString => {
            // A completion that failed half-way: finish_reason "error" and an
            // error object next to it.
            let mut value: serde_json::Value =
                serde_json::from_str(&reply.completion(Some("error"))).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("error".into(), errors::mid_stream_error_object(kind));
            }
            json_now(value.to_string(), go.log.clone(), Tail::End)
        }
        // Malformed or truncated: the completion cut in half.
        _ => {
            let body = reply.completion(None);
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            json_now(body[..cut].to_owned(), go.log.clone(), Tail::End)
        }
    }
}

/// Resets the connection under the request before any header is written,
/// then waits for hyper to drop this future with the connection. Without
/// the connection's socket (kept only when the scenario can inject this
/// fault, see [`Conn`]), the nearest thing: a 200 whose body is cut at once.
///
/// [`Conn`]: crate::sim::conn::Conn
async fn reset_before_headers(reply: &Reply<'_>, shutdown: &mut watch::Receiver<bool>) -> Response {
    let go = reply.go;
    if go.conn.as_ref().is_some_and(|c| c.reset()) {
        let failsafe = tokio::time::Instant::now() + RESET_FAILSAFE;
        let _ = wait_until(failsafe, shutdown).await;
        return errors::shutting_down();
    }
    tracing::warn!(
        "reset_before_headers without the connection's socket: cutting the body instead"
    );
    json_now(String::new(), go.log.clone(), Tail::Abort)
}

/// 200, then only keep-alives (SSE comments, or whitespace for non-stream
/// requests, as OpenRouter sends while a model is queued) until the client
/// gives up.
fn keepalive_forever(reply: &Reply<'_>) -> Response {
    let every = reply
        .model
        .keepalive
        .unwrap_or_else(|| secs(reply.scale))
        .max(MIN_KEEPALIVE);
    let bytes = if reply.go.stream {
        Bytes::from_static(KEEPALIVE)
    } else {
        Bytes::from_static(b"\n")
    };
    let script = Script {
        steps: vec![],
        tail: Tail::Forever { every, bytes },
    };
    let body = play(script, reply.go.arrived, reply.go.log.clone());
    if reply.go.stream {
        sse_response(body)
    } else {
        bytes_response(StatusCode::OK, "application/json", body)
    }
}

/// A 200 stream with about half the answer, then: a malformed chunk, an
/// error chunk, EOF without finish_reason or [DONE], or a cut connection.
fn broken_stream(reply: &Reply<'_>, kind: FaultKind) -> Response {
    let half = (answer::tokens_of(&reply.g.content) / 2).max(1);
    let (mut steps, last) = reply.stream_steps(Some(half));
    let tail = match kind {
        FaultKind::MalformedJson => {
            let broken = format!(
                "data: {{\"id\":\"{}\",\"choices\":[{{\"delta\":{{\"content\":\"\n\n",
                reply.go.id
            );
            steps.push(Step::new(last, Bytes::from(broken)));
            steps.push(Step::new(last, Bytes::from_static(DONE)));
            Tail::End
        }
        FaultKind::MidStreamError | FaultKind::MidStreamErrorString => {
            let error = if kind == FaultKind::MidStreamError {
                errors::MID_STREAM_ERROR
            } else {
                errors::MID_STREAM_ERROR_STRING
            };
            let chunk = format!("data: {error}\n\n");
            steps.push(Step::new(last, Bytes::from(chunk)));
            steps.push(Step::new(last, Bytes::from_static(DONE)));
            Tail::End
        }
        FaultKind::Disconnect => Tail::Abort,
        _ => Tail::End,
    };
    sse_response(play(
        Script { steps, tail },
        reply.go.arrived,
        reply.go.log.clone(),
    ))
}
