//! Reading a response body: how it is read (from the status and headers), the
//! SSE reader fed chunk by chunk, the caps, and [`decode_body`], which runs
//! all of it over a body that is already complete. Pure: the caller passes
//! the instant each piece arrived.
//!
//! [`HttpClient::chat`](super::HttpClient::chat) reads the body under its
//! deadlines and hands each piece to the functions here; [`decode_body`] is
//! the same classification without the network (fuzzing, tests of whole
//! responses).

use std::time::SystemTime;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use tokio::time::Instant;

use super::call::{error_response, failure, settle};
use super::decode::{Failure, Step, apply_completion, apply_event, judge_stream_end};
use super::hints::RateLimitHints;
use super::result::CallResult;
use super::sse::{SseDecoder, SseEvent};
use crate::record::Outcome;
use crate::secret::Secret;

/// Error bodies are read up to this many bytes (or the body cap if smaller).
pub(crate) const ERROR_BODY_CAP: usize = 256 * 1024;

/// How a response's body is read, decided from its status and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// A 2xx answer to a stream request that is not JSON or HTML: SSE.
    Stream,
    /// Any other 2xx: one JSON document.
    Whole,
    /// 3xx: never followed, the body is not read.
    Redirect,
    /// Everything else: an error body, read up to [`ERROR_BODY_CAP`].
    Error,
}

/// The [`BodyKind`] of a response to a request that asked for a stream or not.
pub(crate) fn body_kind(status: u16, headers: &HeaderMap, stream: bool) -> BodyKind {
    match status {
        200..=299 => {
            // A JSON or HTML answer to a stream request is read whole.
            let whole_body = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|ct| ct.trim_start().to_ascii_lowercase())
                .is_some_and(|ct| {
                    ct.starts_with("application/json") || ct.starts_with("text/html")
                });
            if stream && !whole_body {
                BodyKind::Stream
            } else {
                BodyKind::Whole
            }
        }
        300..=399 => BodyKind::Redirect,
        _ => BodyKind::Error,
    }
}

/// What the stream reader does after one body chunk.
#[derive(Debug, PartialEq)]
pub(crate) enum Feed {
    /// Read the next chunk.
    More,
    /// The stream ended: with `[DONE]` when `done`, otherwise at end of body.
    End { done: bool },
    /// The stream is not a usable answer.
    Fail(Failure),
}

/// Reads an SSE body chunk by chunk: the decoder, the byte count against the
/// cap and the instant of the last data event (for the read timeout).
#[derive(Debug)]
pub(crate) struct StreamReader {
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    read: usize,
    cap: usize,
    /// When the last data event (not a comment) arrived.
    pub last_data: Instant,
}

impl StreamReader {
    /// A reader of at most `cap` bytes whose read timeout starts at `start`.
    pub fn new(cap: usize, start: Instant) -> Self {
        StreamReader {
            decoder: SseDecoder::new(cap),
            events: Vec::new(),
            read: 0,
            cap,
            last_data: start,
        }
    }

    /// Applies one chunk that arrived at `now` (`None`: the body ended).
    ///
    /// A chunk that crosses the cap is decoded up to the cap first: the events
    /// complete within the first `cap` bytes decide the outcome (an error or
    /// `[DONE]` there wins over `too_large`), so the result does not depend on
    /// how the network cut the body.
    pub fn feed(&mut self, r: &mut CallResult, chunk: Option<&[u8]>, now: Instant) -> Feed {
        let mut over_cap = false;
        let decoded = match chunk {
            Some(bytes) => {
                r.timings.first_byte.get_or_insert(now);
                let room = self.cap.saturating_sub(self.read);
                over_cap = bytes.len() > room;
                let within = &bytes[..bytes.len().min(room)];
                self.read = self.read.saturating_add(within.len());
                self.decoder.push(within, &mut self.events)
            }
            None => self.decoder.finish(&mut self.events),
        };
        let at_eof = chunk.is_none();
        if let Some(step) = self.apply_events(r, now, at_eof) {
            return step;
        }
        if let Err(e) = decoded {
            return Feed::Fail(Failure::invalid(e.error_type(), e.to_string()));
        }
        if over_cap {
            let msg = format!("stream exceeded {} bytes", self.cap);
            return Feed::Fail(Failure::invalid("too_large", msg));
        }
        if at_eof {
            Feed::End { done: false }
        } else {
            Feed::More
        }
    }

    /// Applies the decoded events; `Some` when one of them ends the stream.
    fn apply_events(&mut self, r: &mut CallResult, now: Instant, at_eof: bool) -> Option<Feed> {
        for ev in self.events.drain(..) {
            if !matches!(ev, SseEvent::Comment(_)) {
                self.last_data = now;
            }
            match apply_event(r, ev, now, at_eof) {
                Step::Continue => {}
                Step::Done => return Some(Feed::End { done: true }),
                Step::Fail(f) => return Some(Feed::Fail(f)),
            }
        }
        None
    }
}

/// Appends a chunk of a non-streaming body, refusing to grow past `cap`.
pub(crate) fn push_whole(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) -> Result<(), Failure> {
    if buf.len().saturating_add(bytes.len()) > cap {
        return Err(Failure::invalid(
            "too_large",
            format!("response body is over {cap} bytes"),
        ));
    }
    buf.extend_from_slice(bytes);
    Ok(())
}

/// Appends what fits of a chunk of an error body; true once `cap` is reached.
pub(crate) fn push_error_body(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    buf.len() >= cap
}

/// A complete response as it came off the wire, for [`decode_body`].
#[derive(Debug, Clone, Copy)]
pub struct RawResponse<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    /// The body in the pieces it arrived in.
    pub chunks: &'a [&'a [u8]],
    /// Whether the request asked for a stream.
    pub stream: bool,
}

/// Classifies a complete response as [`HttpClient::chat`](super::HttpClient::chat)
/// would had it arrived at once at `now` (headers, every chunk and the end of
/// body all at `now`; `wall` is the wall clock for `Retry-After` dates).
/// `max_body_bytes` is [`ClientConfig::max_body_bytes`](super::ClientConfig);
/// the key is redacted from the error message. Never panics.
pub fn decode_body(
    resp: &RawResponse<'_>,
    max_body_bytes: usize,
    key: Option<&Secret>,
    now: Instant,
    wall: SystemTime,
) -> CallResult {
    let mut r = CallResult::new(Outcome::Ok, now);
    r.timings.headers = Some(now);
    r.http_status = Some(resp.status);
    r.hints = RateLimitHints::parse(resp.headers, None, wall);
    match body_kind(resp.status, resp.headers, resp.stream) {
        BodyKind::Stream => {
            let mut reader = StreamReader::new(max_body_bytes, now);
            let pieces = resp.chunks.iter().map(|c| Some(*c)).chain([None]);
            for piece in pieces {
                match reader.feed(&mut r, piece, now) {
                    Feed::More => {}
                    Feed::End { done } => {
                        r.timings.end = now;
                        return match judge_stream_end(&r, done) {
                            Ok(()) => settle(r),
                            Err(f) => failure(r, f, key, wall),
                        };
                    }
                    Feed::Fail(f) => {
                        r.timings.end = now;
                        return failure(r, f, key, wall);
                    }
                }
            }
            // `feed(None)` always ends the stream; kept for the type checker.
            settle(r)
        }
        BodyKind::Whole => {
            let mut buf = Vec::new();
            for c in resp.chunks {
                r.timings.first_byte.get_or_insert(now);
                if let Err(f) = push_whole(&mut buf, c, max_body_bytes) {
                    r.timings.end = now;
                    return failure(r, f, key, wall);
                }
            }
            r.timings.end = now;
            match apply_completion(&mut r, &buf, now) {
                Ok(()) => settle(r),
                Err(f) => failure(r, f, key, wall),
            }
        }
        BodyKind::Redirect => {
            r.timings.end = now;
            let msg = format!(
                "server answered {} (a redirect); redirects are not followed",
                resp.status
            );
            failure(r, Failure::invalid("redirect", msg), key, wall)
        }
        BodyKind::Error => {
            let cap = max_body_bytes.min(ERROR_BODY_CAP);
            let mut buf = Vec::new();
            for c in resp.chunks {
                r.timings.first_byte.get_or_insert(now);
                if push_error_body(&mut buf, c, cap) {
                    break;
                }
            }
            error_response(r, resp.status, resp.headers, &buf, key, now, wall)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KEY: &str = "sk-or-v1-canary-0123456789abcdef";

    fn run(status: u16, headers: &[(&str, &str)], chunks: &[&[u8]], stream: bool) -> CallResult {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(v).unwrap(),
            );
        }
        let resp = RawResponse {
            status,
            headers: &h,
            chunks,
            stream,
        };
        // One instant for every call, so results compare equal.
        static NOW: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let now = *NOW.get_or_init(Instant::now);
        let wall = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        decode_body(&resp, 4096, Some(&Secret::new(KEY)), now, wall)
    }

    const STREAM: &[u8] = b": OPENROUTER PROCESSING\n\n\
        data: {\"id\":\"g1\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
        data: {\"id\":\"g1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n\
        data: {\"id\":\"g1\",\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n\
        data: {\"id\":\"g1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn decode_body_streams_in_any_chunking() {
        let whole = run(
            200,
            &[("content-type", "text/event-stream")],
            &[STREAM],
            true,
        );
        assert_eq!(whole.outcome, Outcome::Ok, "{:?}", whole.error_message);
        assert_eq!(whole.content, "Hello");
        assert_eq!(whole.output_tokens, Some(2));
        assert_eq!((whole.sse_events, whole.content_events), (5, 2));
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(run(200, &[], &bytes, true), whole);
        let odd: Vec<&[u8]> = STREAM.chunks(7).collect();
        assert_eq!(run(200, &[], &odd, true), whole);
        // Cut before [DONE] and the finish_reason: a truncated stream.
        let cut = run(200, &[], &[&STREAM[..60]], true);
        assert_eq!(cut.error_type.as_deref(), Some("truncated_stream"));
    }

    #[test]
    fn decode_body_classifies_errors_like_the_call() {
        let body = format!(
            r#"{{"error":{{"code":429,"message":"Rate limit exceeded: free-models-per-min. key {KEY}"}}}}"#
        );
        let r = run(
            429,
            &[("x-ratelimit-limit", "20"), ("retry-after", "7")],
            &[body.as_bytes()],
            true,
        );
        assert_eq!(r.outcome, Outcome::RateLimited);
        assert_eq!(r.scope, Some(crate::record::RateLimitScope::AccountMinute));
        assert_eq!(
            (r.hints.retry_after_ms, r.hints.limit),
            (Some(7000), Some(20))
        );
        let msg = r.error_message.unwrap();
        assert!(
            msg.contains("free-models-per-min") && !msg.contains("canary"),
            "{msg}"
        );

        let redirect = run(302, &[("location", "http://elsewhere/")], &[], false);
        assert_eq!(redirect.outcome, Outcome::InvalidResponse);
        assert_eq!(redirect.error_type.as_deref(), Some("redirect"));

        let big = vec![b'x'; 5000];
        let too_large = run(200, &[], &[&big[..2500], &big[2500..]], false);
        assert_eq!(too_large.error_type.as_deref(), Some("too_large"));
        let json = br#"{"choices":[{"message":{"content":"hi"}}]}"#;
        let whole = run(200, &[("content-type", "application/json")], &[json], true);
        assert_eq!((whole.outcome, whole.content.as_str()), (Outcome::Ok, "hi"));
    }

    // Fuzzing found the outcome depended on chunking: one chunk over the cap
    // was `too_large` at once, while smaller chunks first reached a bad chunk
    // (or the end of the stream) inside the cap.
    #[test]
    fn a_body_over_the_cap_is_judged_by_what_fits_whatever_the_chunking() {
        let mut done_then_junk = STREAM.to_vec();
        done_then_junk.extend(std::iter::repeat_n(b'x', 5000));
        let mut bad_then_junk = b"data: <html>\n\n".to_vec();
        bad_then_junk.extend(std::iter::repeat_n(b'x', 5000));
        let mut junk = b"data: ".to_vec();
        junk.extend(std::iter::repeat_n(b'x', 5000));
        for (body, want) in [
            (&done_then_junk, None),
            (&bad_then_junk, Some("bad_json_chunk")),
            (&junk, Some("too_large")),
        ] {
            let whole = run(200, &[], &[body], true);
            assert_eq!(whole.error_type.as_deref(), want);
            let chunks: Vec<&[u8]> = body.chunks(100).collect();
            assert_eq!(run(200, &[], &chunks, true), whole);
        }
    }
}
