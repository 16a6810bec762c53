//! Bodies of the hostile-server faults that are about the bytes of a 200:
//! a slow drip, a body over rotor's 10 MiB cap, bytes that are not UTF-8
//! (also split across chunks), and the quirks a correct client shrugs off
//! (no `[DONE]`, no usage, usage twice, `data: : keepalive`).

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;

use crate::sim::answer;
use crate::sim::body::{Script, Step, Tail, play};
use crate::sim::errors::bytes_response;
use crate::sim::faults::FaultKind;
use crate::sim::respond::{DONE, Reply, json_now, secs, sse_response};
use crate::wire::Delta;

/// Size of the `huge_body` body: rotor's 10 MiB cap plus 1 MiB.
pub(crate) const HUGE_BODY_BYTES: usize = 11 * 1024 * 1024;
/// Content of one chunk of a huge body.
const HUGE_PIECE: usize = 16 * 1024;
/// Real time between the two halves of a split sequence, so they travel as
/// separate reads.
const SPLIT_GAP: Duration = Duration::from_millis(10);
/// The keep-alive some servers write as a data payload.
pub(crate) const DATA_KEEPALIVE: &[u8] = b"data: : keepalive\n\n";
/// A marker replaced by raw bytes in serialised JSON.
const MARKER: &str = "ROTOR_SIM_MARKER";

/// Plays `steps` as a 200 stream or JSON body.
fn respond(reply: &Reply<'_>, steps: Vec<Step>) -> Response {
    let script = Script {
        steps,
        tail: Tail::End,
    };
    let body = play(script, reply.go.arrived, reply.go.log.clone());
    if reply.go.stream {
        sse_response(body)
    } else {
        bytes_response(StatusCode::OK, "application/json", body)
    }
}

/// The whole normal answer (stream or JSON) as one buffer.
fn whole_answer(reply: &Reply<'_>) -> Bytes {
    if reply.go.stream {
        let steps = reply.full_stream_steps(usize::from(reply.go.include_usage), true);
        let mut all = Vec::new();
        for s in steps {
            all.extend_from_slice(&s.bytes);
        }
        Bytes::from(all)
    } else {
        Bytes::from(reply.completion(None))
    }
}

/// `slow_drip`: the normal answer, one byte per scaled second after the
/// headers (which come at once).
pub(crate) fn slow_drip(reply: &Reply<'_>) -> Response {
    let tick = secs(reply.scale).max(Duration::from_millis(1));
    let all = whole_answer(reply);
    let steps = (0..all.len())
        .map(|i| {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            Step::new(tick.saturating_mul(n), all.slice(i..i + 1))
        })
        .collect();
    respond(reply, steps)
}

/// `huge_body`: a 200 whose body is [`HUGE_BODY_BYTES`] long, sent as fast as
/// the connection takes it, without Content-Length (a stream of 16 KiB
/// content deltas, or one completion with an 11 MiB content).
pub(crate) fn huge_body(reply: &Reply<'_>) -> Response {
    let piece = "x".repeat(HUGE_PIECE);
    let mut steps = Vec::new();
    if reply.go.stream {
        let role = Delta {
            role: Some("assistant".into()),
            content: Some(String::new()),
            ..Delta::default()
        };
        steps.push(Step::new(Duration::ZERO, reply.chunk(role, None)));
        let delta = Delta {
            content: Some(piece),
            ..Delta::default()
        };
        let chunk = reply.chunk(delta, None);
        for _ in 0..=HUGE_BODY_BYTES / chunk.len() {
            steps.push(Step::new(Duration::ZERO, chunk.clone()));
        }
        steps.push(Step::new(
            Duration::ZERO,
            reply.chunk(Delta::default(), Some("stop")),
        ));
        steps.push(Step::new(Duration::ZERO, Bytes::from_static(DONE)));
    } else {
        let body = with_content(reply, MARKER);
        let (head, tail) = body.split_once(MARKER).unwrap_or((&body, ""));
        steps.push(Step::new(Duration::ZERO, Bytes::from(head.to_owned())));
        let chunk = Bytes::from(piece.repeat(4));
        for _ in 0..=HUGE_BODY_BYTES / chunk.len() {
            steps.push(Step::new(Duration::ZERO, chunk.clone()));
        }
        steps.push(Step::new(Duration::ZERO, Bytes::from(tail.to_owned())));
    }
    if let Some(first) = steps.first_mut() {
        first.content = true;
    }
    respond(reply, steps)
}

/// A completion body whose content is `content` (serialised).
fn with_content(reply: &Reply<'_>, content: &str) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&reply.completion(None)).unwrap_or_default();
    if let Some(c) = v.pointer_mut("/choices/0/message/content") {
        *c = serde_json::Value::String(content.to_owned());
    }
    v.to_string()
}

/// `text` with the first [`MARKER`] replaced by raw `bytes`.
fn splice(text: &[u8], bytes: &[u8]) -> Vec<u8> {
    let m = MARKER.as_bytes();
    match text.windows(m.len()).position(|w| w == m) {
        Some(i) => [&text[..i], bytes, &text[i + m.len()..]].concat(),
        None => text.to_vec(),
    }
}

/// `invalid_utf8`: content bytes that are not UTF-8 (`caf\xE9 \xFF`).
/// `invalid_utf8_split`: first a valid `✓` split across two chunks (fine),
/// then a three-byte sequence whose last byte is not a continuation byte,
/// split right before that byte. Streams carry half the answer first and end
/// properly afterwards, so the bytes are the only fault.
pub(crate) fn invalid_utf8(reply: &Reply<'_>, split: bool) -> Response {
    const BAD: &[u8] = b"caf\xE9 \xFF";
    // "ok ✓" and "bad \xE2\x9C(": the cut goes before the last byte.
    const GOOD_SPLIT: &[u8] = "ok \u{2713} ".as_bytes();
    const BAD_SPLIT: &[u8] = b"bad \xE2\x9C(";
    let cut_of = |bytes: &[u8], seq: &[u8]| {
        bytes
            .windows(seq.len())
            .position(|w| w == seq)
            .map_or(bytes.len() / 2, |i| i + seq.len() - 1)
    };
    let go = reply.go;
    let mut steps = Vec::new();
    let mut at;
    let push_split = |steps: &mut Vec<Step>, at: &mut Duration, bytes: Vec<u8>, seq: &[u8]| {
        let cut = cut_of(&bytes, seq);
        let bytes = Bytes::from(bytes);
        steps.push(Step::new(*at, bytes.slice(..cut)));
        *at += SPLIT_GAP;
        steps.push(Step::new(*at, bytes.slice(cut..)));
        *at += SPLIT_GAP;
    };
    if go.stream {
        let half = (answer::tokens_of(&reply.g.content) / 2).max(1);
        let (first, last) = reply.stream_steps(Some(half));
        steps = first;
        at = last;
        let content_chunk = |raw: &[u8]| {
            let delta = Delta {
                content: Some(MARKER.into()),
                ..Delta::default()
            };
            splice(&reply.chunk(delta, None), raw)
        };
        if split {
            push_split(
                &mut steps,
                &mut at,
                content_chunk(GOOD_SPLIT),
                b"\xE2\x9C\x93",
            );
            push_split(&mut steps, &mut at, content_chunk(BAD_SPLIT), b"\xE2\x9C(");
        } else {
            steps.push(Step::new(at, Bytes::from(content_chunk(BAD))));
        }
        steps.push(Step::new(
            at,
            reply.chunk(Delta::default(), Some(reply.g.finish)),
        ));
        steps.push(Step::new(at, Bytes::from_static(DONE)));
    } else {
        // The headers were held back until the whole answer was due.
        at = reply.g.total();
        let body = with_content(reply, MARKER);
        if split {
            let raw = [GOOD_SPLIT, BAD_SPLIT].concat();
            push_split(
                &mut steps,
                &mut at,
                splice(body.as_bytes(), &raw),
                b"\xE2\x9C(",
            );
        } else {
            steps.push(Step::new(at, Bytes::from(splice(body.as_bytes(), BAD))));
        }
        if let Some(first) = steps.first_mut() {
            first.content = true;
        }
    }
    respond(reply, steps)
}

/// The quirks a correct client handles as a normal answer: `no_done`
/// (finish_reason and usage, then EOF), `no_usage`, `duplicate_usage` (two
/// usage chunks, or two `usage` keys in one JSON object) and
/// `data_keepalive` (`data: : keepalive` before and between the deltas;
/// non-stream: leading blank lines).
pub(crate) fn odd_but_fine(reply: &Reply<'_>, kind: FaultKind) -> Response {
    let go = reply.go;
    go.log.tokens(reply.usage.completion_tokens);
    let asked = usize::from(go.include_usage);
    if go.stream {
        let steps = match kind {
            FaultKind::NoDone => reply.full_stream_steps(asked, false),
            FaultKind::NoUsage => reply.full_stream_steps(0, true),
            FaultKind::DuplicateUsage => reply.full_stream_steps(2, true),
            _ => {
                let keepalive = || Bytes::from_static(DATA_KEEPALIVE);
                let mut steps = vec![Step::new(Duration::ZERO, keepalive())];
                for s in reply.full_stream_steps(asked, true) {
                    let (at, content) = (s.at, s.content);
                    steps.push(s);
                    if content {
                        steps.push(Step::new(at, keepalive()));
                    }
                }
                steps
            }
        };
        return respond(reply, steps);
    }
    let body = match kind {
        FaultKind::NoUsage => reply.completion_body(None, false),
        FaultKind::DuplicateUsage => {
            let body = reply.completion(None);
            let usage = serde_json::to_string(&reply.usage).unwrap_or_else(|_| "{}".into());
            match body.strip_suffix('}') {
                Some(open) => format!("{open},\"usage\":{usage}}}"),
                None => body,
            }
        }
        FaultKind::DataKeepalive => format!("\n\n{}", reply.completion(None)),
        _ => reply.completion(None),
    };
    json_now(body, go.log.clone(), Tail::End)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_the_marker_with_raw_bytes() {
        let text = format!("{{\"content\":\"{MARKER}\"}}");
        assert_eq!(
            splice(text.as_bytes(), b"\xFF"),
            b"{\"content\":\"\xFF\"}".to_vec()
        );
        assert_eq!(splice(b"none", b"\xFF"), b"none".to_vec());
    }
}
