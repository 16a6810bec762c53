//! `POST {base}/chat/completions`: send once, read the answer under rotor's
//! own deadlines, classify what came back.

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::time::{Instant, Sleep, sleep_until};

use super::body::{
    BodyKind, ERROR_BODY_CAP, Feed, StreamReader, body_kind, push_error_body, push_whole,
};
use super::classify::{
    body_error_type, classify_status, describe_error, error_object, excerpt, transport_error,
};
use super::decode::{Failure, apply_completion, judge_stream_end};
use super::hints::{RateLimitHints, is_rate_limit_error, rate_limit_scope};
use super::result::CallResult;
use super::stamped::StampedBody;
use super::{CallSpec, Endpoint, HttpClient};
use crate::record::Outcome;
use crate::secret::Secret;
#[cfg(doc)]
use crate::wire::ChatRequest;
use crate::wire::{ErrorObject, StreamOptions};

/// After `[DONE]`, how long the rest of the body may take to arrive so the
/// connection can go back to the pool (not part of any timing).
const DRAIN_AFTER_DONE: Duration = Duration::from_millis(50);

/// Why reading the body stopped early.
enum ReadStop {
    /// `total` is true when the whole-call deadline fired first.
    Timeout {
        total: bool,
    },
    Transport(reqwest::Error),
}

/// The response being read, with the whole-call deadline and the call's one
/// timer: re-armed only when its deadline moves (moving it later, as every
/// data event does, is an atomic store in tokio, where a timer per read would
/// register and deregister under the timer wheel's lock every time).
struct Body {
    resp: reqwest::Response,
    total: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Body {
    /// The next chunk, or a timeout when nothing arrives before `idle` (or the
    /// total deadline, whichever is first).
    async fn next(&mut self, idle: Instant) -> Result<Option<Bytes>, ReadStop> {
        let deadline = idle.min(self.total);
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        tokio::select! {
            biased;
            r = self.resp.chunk() => r.map_err(ReadStop::Transport),
            () = &mut self.timer => Err(ReadStop::Timeout {
                total: self.total <= idle,
            }),
        }
    }
}

impl HttpClient {
    /// Sends one chat-completions request and reads the answer. Never
    /// retries, never follows redirects, never panics: every failure is a
    /// classified [`CallResult`].
    pub async fn chat(&self, ep: &Endpoint, spec: &CallSpec<'_>) -> CallResult {
        let handed_over = Instant::now();
        let key = ep.api_key.as_ref();
        let request = match self.build_chat(ep, spec) {
            Ok(r) => r,
            Err(message) => {
                let mut r = CallResult::new(Outcome::BadRequest, Instant::now());
                r.error_type = Some("invalid_request".into());
                r.error_message = Some(excerpt(&message, key));
                return r;
            }
        };
        let (client, request, written) = request;
        let sent = Instant::now();
        let mut r = CallResult::new(Outcome::Ok, sent);
        r.timings.scheduled = spec.scheduled.unwrap_or(handed_over).min(sent);
        let total = after(sent, spec.total_timeout);
        let first_byte = after(sent, spec.first_byte_timeout);
        let mut timer = Box::pin(sleep_until(first_byte.min(total)));
        let resp = tokio::select! {
            biased;
            r = client.execute(request) => Ok(r),
            () = &mut timer => Err(()),
        };
        // The request went out when the connection asked for its body (see
        // stamped.rs): from then on the time is the server's and the
        // network's. A request that never went out keeps `sent`.
        if let Some(&at) = written.get() {
            r.timings.sent = at.max(sent);
            r.timings.end = r.timings.sent;
        }
        let resp = match resp {
            Err(_) => {
                // When both deadlines are the same instant (the engine passes
                // first_byte = total), "no headers" is the better diagnosis.
                let (kind, limit) = if total < first_byte {
                    ("total", spec.total_timeout)
                } else {
                    ("first_byte", spec.first_byte_timeout)
                };
                let msg = format!("no response headers within {limit:?}");
                return fail(r, Outcome::Timeout, kind, msg, key);
            }
            Ok(Err(e)) => {
                let (outcome, kind, msg) = transport_error(e, false, key);
                return fail(r, outcome, kind, msg, key);
            }
            Ok(Ok(resp)) => resp,
        };
        r.timings.headers = Some(Instant::now());
        let status = resp.status().as_u16();
        r.http_status = Some(status);
        r.hints = RateLimitHints::parse(resp.headers(), None, SystemTime::now());
        let kind = body_kind(status, resp.headers(), spec.stream);
        // Only an error answer needs its headers again (with its body's hints).
        let headers = matches!(kind, BodyKind::Error).then(|| resp.headers().clone());
        let mut body = Body { resp, total, timer };
        match kind {
            BodyKind::Stream => self.read_stream(r, body, key).await,
            BodyKind::Whole => self.read_completion(r, body, key).await,
            BodyKind::Redirect => {
                let msg =
                    format!("server answered {status} (a redirect); redirects are not followed");
                fail(r, Outcome::InvalidResponse, "redirect", msg, key)
            }
            BodyKind::Error => {
                let cap = self.cfg.max_body_bytes.min(ERROR_BODY_CAP);
                let bytes = self.read_error_body(&mut body, cap, &mut r).await;
                let (end, wall) = (Instant::now(), SystemTime::now());
                let headers = headers.unwrap_or_default();
                error_response(r, status, &headers, &bytes, key, end, wall)
            }
        }
    }

    fn build_chat(
        &self,
        ep: &Endpoint,
        spec: &CallSpec<'_>,
    ) -> Result<(&reqwest::Client, reqwest::Request, WrittenAt), String> {
        let prepared = self.prepared(ep)?;
        let json = encode_request(spec).map_err(|e| format!("cannot encode request: {e}"))?;
        let client = if prepared.direct {
            &self.direct
        } else {
            &self.proxied
        };
        // Built directly rather than through a RequestBuilder, which would
        // merge the headers into an empty map one by one.
        let mut request = reqwest::Request::new(reqwest::Method::POST, prepared.url.clone());
        *request.headers_mut() = prepared.headers.clone();
        let (body, written) = StampedBody::new(json.into());
        *request.body_mut() = Some(reqwest::Body::wrap(body));
        Ok((client, request, written))
    }

    async fn read_stream(
        &self,
        mut r: CallResult,
        mut body: Body,
        key: Option<&Secret>,
    ) -> CallResult {
        let read_timeout = self.cfg.read_timeout;
        let start = r.timings.headers.unwrap_or(r.timings.sent);
        let mut reader = StreamReader::new(self.cfg.max_body_bytes, start);
        let done = loop {
            let chunk = match body.next(after(reader.last_data, read_timeout)).await {
                Ok(c) => c,
                Err(stop) => return read_stopped(r, stop, read_timeout, key),
            };
            let now = Instant::now();
            match reader.feed(&mut r, chunk.as_deref(), now) {
                Feed::More => {}
                Feed::End { done } => {
                    r.timings.end = now;
                    break done;
                }
                Feed::Fail(f) => {
                    r.timings.end = now;
                    return failure(r, f, key, SystemTime::now());
                }
            }
        };
        if done {
            drain(&mut body).await;
        }
        match judge_stream_end(&r, done) {
            Ok(()) => settle(r),
            Err(f) => failure(r, f, key, SystemTime::now()),
        }
    }

    async fn read_completion(
        &self,
        mut r: CallResult,
        mut body: Body,
        key: Option<&Secret>,
    ) -> CallResult {
        let read_timeout = self.cfg.read_timeout;
        let cap = self.cfg.max_body_bytes;
        if body.resp.content_length().is_some_and(|n| n > cap as u64) {
            let msg = format!("response body is over {cap} bytes");
            return fail(r, Outcome::InvalidResponse, "too_large", msg, key);
        }
        let mut buf = Vec::new();
        let mut last = r.timings.headers.unwrap_or(r.timings.sent);
        loop {
            match body.next(after(last, read_timeout)).await {
                Err(stop) => return read_stopped(r, stop, read_timeout, key),
                Ok(None) => break,
                Ok(Some(bytes)) => {
                    last = Instant::now();
                    r.timings.first_byte.get_or_insert(last);
                    if let Err(f) = push_whole(&mut buf, &bytes, cap) {
                        r.timings.end = last;
                        return failure(r, f, key, SystemTime::now());
                    }
                }
            }
        }
        let end = Instant::now();
        r.timings.end = end;
        match apply_completion(&mut r, &buf, end) {
            Ok(()) => settle(r),
            Err(f) => failure(r, f, key, SystemTime::now()),
        }
    }

    /// Reads an error body up to `cap` bytes; a timeout or a broken body just
    /// ends it (the status already classifies the response).
    async fn read_error_body(&self, body: &mut Body, cap: usize, r: &mut CallResult) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut last = Instant::now();
        while let Ok(Some(bytes)) = body.next(after(last, self.cfg.read_timeout)).await {
            last = Instant::now();
            r.timings.first_byte.get_or_insert(last);
            if push_error_body(&mut buf, &bytes, cap) {
                break;
            }
        }
        buf
    }
}

/// [`ChatRequest`]'s JSON, serialised from borrowed fields: the messages
/// (the whole prompt) are not copied for every call.
#[derive(serde::Serialize)]
struct ChatRequestRef<'a> {
    model: &'a str,
    messages: &'a [crate::wire::Message],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

/// The request body of `spec`: exactly what serialising a [`ChatRequest`]
/// gives.
fn encode_request(spec: &CallSpec<'_>) -> serde_json::Result<Vec<u8>> {
    let mut buf =
        Vec::with_capacity(256 + spec.messages.iter().map(|m| m.content.len()).sum::<usize>());
    serde_json::to_writer(
        &mut buf,
        &ChatRequestRef {
            model: spec.model,
            messages: spec.messages,
            stream: spec.stream,
            stream_options: spec.stream.then_some(StreamOptions {
                include_usage: true,
            }),
            max_tokens: spec.max_tokens,
            temperature: spec.temperature,
            seed: spec.seed,
        },
    )?;
    Ok(buf)
}

/// `t + d`, saturating at about thirty years for absurd durations.
fn after(t: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    t.checked_add(d.min(FAR)).unwrap_or(t)
}

/// Gives the rest of a finished stream a moment to arrive so the connection
/// is reused; bounded in time and chunks.
async fn drain(body: &mut Body) {
    let until = (Instant::now() + DRAIN_AFTER_DONE).min(body.total);
    for _ in 0..16 {
        match body.next(until).await {
            Ok(Some(_)) => continue,
            _ => break,
        }
    }
}

fn read_stopped(
    r: CallResult,
    stop: ReadStop,
    read_timeout: Duration,
    key: Option<&Secret>,
) -> CallResult {
    match stop {
        ReadStop::Timeout { total: true } => fail(
            r,
            Outcome::Timeout,
            "total",
            "total deadline passed while reading".into(),
            key,
        ),
        ReadStop::Timeout { total: false } => {
            let msg = format!("no data within the read timeout of {read_timeout:?}");
            fail(r, Outcome::Timeout, "read", msg, key)
        }
        ReadStop::Transport(e) => {
            let (outcome, kind, msg) = transport_error(e, true, key);
            fail(r, outcome, kind, msg, key)
        }
    }
}

/// Classifies a non-2xx, non-3xx response from its status and body, read
/// completely at `end`; `wall` is the wall clock for `Retry-After` dates.
pub(super) fn error_response(
    mut r: CallResult,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&Secret>,
    end: Instant,
    wall: SystemTime,
) -> CallResult {
    r.timings.end = end;
    let err: Option<ErrorObject> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| error_object(&v));
    r.outcome = classify_status(status);
    r.error_type = match status {
        408 => Some("http_408".into()),
        _ => err.as_ref().and_then(|e| body_error_type(status, e)),
    };
    let detail = match &err {
        Some(e) => describe_error(e),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    // An error object whose code is the status ("401: No auth credentials
    // found") does not say it twice.
    let status_prefix = format!("{status}: ");
    let detail = detail.strip_prefix(&status_prefix).unwrap_or(&detail);
    let msg = if detail.trim().is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    r.error_message = Some(excerpt(&msg, key));
    if let Some(e) = &err {
        r.hints = RateLimitHints::parse(headers, Some(e), wall);
    }
    if status == 429 || err.as_ref().is_some_and(is_rate_limit_error) {
        r.scope = Some(rate_limit_scope(status, headers, err.as_ref()));
    }
    settle(r)
}

/// Ends a call with a failure found in a 2xx body (`wall`: the wall clock for
/// `Retry-After` dates in the error object).
pub(super) fn failure(
    mut r: CallResult,
    f: Failure,
    key: Option<&Secret>,
    wall: SystemTime,
) -> CallResult {
    if let Some(e) = &f.error {
        let merged = RateLimitHints::parse(&HeaderMap::new(), Some(e), wall);
        r.hints = merge(r.hints, merged);
        if is_rate_limit_error(e) {
            let status = r.http_status.unwrap_or(200);
            r.scope = Some(rate_limit_scope(status, &HeaderMap::new(), Some(e)));
        }
    }
    r.outcome = f.outcome;
    r.error_type = Some(f.error_type.to_string());
    r.error_message = Some(excerpt(&f.message, key));
    settle(r)
}

/// Header hints win; the body fills what they lack.
fn merge(headers: RateLimitHints, body: RateLimitHints) -> RateLimitHints {
    RateLimitHints {
        retry_after_ms: headers.retry_after_ms.or(body.retry_after_ms),
        limit: headers.limit.or(body.limit),
        remaining: headers.remaining.or(body.remaining),
        reset_epoch_ms: headers.reset_epoch_ms.or(body.reset_epoch_ms),
    }
}

/// Ends a call with `outcome` at this instant.
/// When the request went out (set by [`StampedBody`]).
type WrittenAt = std::sync::Arc<std::sync::OnceLock<Instant>>;

fn fail(
    mut r: CallResult,
    outcome: Outcome,
    kind: &str,
    message: String,
    key: Option<&Secret>,
) -> CallResult {
    r.timings.end = Instant::now();
    r.outcome = outcome;
    r.error_type = Some(kind.to_string());
    r.error_message = Some(excerpt(&message, key));
    settle(r)
}

pub(super) fn settle(mut r: CallResult) -> CallResult {
    r.settle_tokens();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ChatRequest, Message};

    #[test]
    fn borrowed_encoding_matches_the_wire_type() {
        let messages = vec![
            Message::system("be brief \"quoted\" \u{e9}"),
            Message::user("line\nbreak"),
        ];
        for (stream, max_tokens, temperature, seed) in [
            (true, Some(64), Some(0.5), Some(7)),
            (false, None, None, None),
        ] {
            let spec = CallSpec {
                model: "m/x:free",
                messages: &messages,
                stream,
                max_tokens,
                temperature,
                seed,
                total_timeout: Duration::from_secs(1),
                first_byte_timeout: Duration::from_secs(1),
                scheduled: None,
            };
            let owned = ChatRequest {
                model: spec.model.into(),
                messages: messages.clone(),
                stream,
                stream_options: stream.then_some(StreamOptions {
                    include_usage: true,
                }),
                max_tokens,
                temperature,
                seed,
            };
            assert_eq!(
                encode_request(&spec).unwrap(),
                serde_json::to_vec(&owned).unwrap()
            );
        }
    }

    /// A request that waits for its connection (held open by the
    /// connect-counting layer here; in a run: opening one, or the connection
    /// task busy with other requests) counts the wait in `queue_ms`, not in
    /// its latency: the clock starts when the request goes out.
    #[tokio::test]
    async fn latency_counts_from_when_the_request_went_out() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            // The request (head and body) arrives in one write.
            let _ = s.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.read(&mut buf).await;
        });
        let client = HttpClient::new(super::super::ClientConfig::default()).unwrap();
        let ep = Endpoint {
            base_url: format!("http://{addr}/v1"),
            api_key: None,
            headers: Vec::new(),
        };
        let hold = client.connects.hold();
        let call = {
            let (client, ep) = (client.clone(), ep.clone());
            tokio::spawn(async move {
                let messages = vec![Message::user("hi")];
                let spec = CallSpec {
                    model: "m",
                    messages: &messages,
                    stream: false,
                    max_tokens: None,
                    temperature: None,
                    seed: None,
                    total_timeout: Duration::from_secs(30),
                    first_byte_timeout: Duration::from_secs(30),
                    scheduled: None,
                };
                client.chat(&ep, &spec).await
            })
        };
        let wait = Duration::from_millis(300);
        tokio::time::sleep(wait).await;
        drop(hold);
        let r = call.await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        let waited = wait.as_secs_f64() * 1e3;
        assert!(r.queue_ms() >= waited, "queue_ms {}", r.queue_ms());
        assert!(r.latency_ms() < waited, "latency_ms {}", r.latency_ms());
    }
}
