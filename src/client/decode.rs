//! Turning response bodies into a [`CallResult`]: one SSE event at a time for
//! streams, the whole body for non-streaming calls. Pure: the caller passes
//! the instant each piece arrived.

use serde_json::Value;
use tokio::time::Instant;

use super::classify::{describe_error, error_object};
use super::result::CallResult;
use super::sse::SseEvent;
use crate::record::Outcome;
use crate::wire::{ChatChunk, ChatCompletion, Choice, ErrorObject, Usage};

/// Why a 2xx response is not a usable answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub outcome: Outcome,
    pub error_type: &'static str,
    /// Unredacted detail; the caller shortens and redacts it.
    pub message: String,
    /// An error object the server sent, for its rate-limit hints and scope.
    pub error: Option<Box<ErrorObject>>,
}

impl Failure {
    pub fn invalid(error_type: &'static str, message: impl Into<String>) -> Self {
        Failure {
            outcome: Outcome::InvalidResponse,
            error_type,
            message: message.into(),
            error: None,
        }
    }
}

/// What the stream reader does after one event.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    Continue,
    Done,
    Fail(Failure),
}

/// Applies one SSE event that arrived at `now`. `at_eof` marks events that
/// [`super::sse::SseDecoder::finish`] delivered: a final payload that is not
/// JSON there was cut off, so it is a truncated stream, not a bad chunk.
pub(crate) fn apply_event(r: &mut CallResult, ev: SseEvent, now: Instant, at_eof: bool) -> Step {
    match ev {
        SseEvent::Comment(_) => Step::Continue,
        SseEvent::Done => {
            r.sse_events = r.sse_events.saturating_add(1);
            Step::Done
        }
        SseEvent::Data(text) => {
            r.sse_events = r.sse_events.saturating_add(1);
            let chunk: ChatChunk = match serde_json::from_str(&text) {
                Ok(c) => c,
                Err(e) if at_eof && e.is_eof() => {
                    return Step::Fail(Failure::invalid(
                        "truncated_stream",
                        "stream ended inside a data event",
                    ));
                }
                Err(e) => {
                    return Step::Fail(Failure::invalid(
                        "bad_json_chunk",
                        format!("SSE data is not a chat chunk ({e}): {text}"),
                    ));
                }
            };
            apply_chunk(r, chunk, now)
        }
    }
}

fn apply_chunk(r: &mut CallResult, chunk: ChatChunk, now: Instant) -> Step {
    if let Some(err) = chunk.error {
        return Step::Fail(Failure {
            outcome: Outcome::InvalidResponse,
            error_type: "stream_error",
            message: format!("error inside the stream: {}", describe_error(&err)),
            error: Some(Box::new(err)),
        });
    }
    if r.response_id.is_none() && !chunk.id.is_empty() {
        r.response_id = Some(chunk.id);
    }
    for choice in chunk.choices {
        let d = choice.delta;
        if let Some(c) = d.content.filter(|c| !c.is_empty()) {
            r.timings.first_token.get_or_insert(now);
            r.content_events = r.content_events.saturating_add(1);
            r.content_started = true;
            r.content.push_str(&c);
        }
        for reasoning in [d.reasoning, d.reasoning_content].into_iter().flatten() {
            if !reasoning.is_empty() {
                r.timings.first_reasoning.get_or_insert(now);
                r.reasoning.push_str(&reasoning);
            }
        }
        if let Some(f) = choice.finish_reason.filter(|f| !f.is_empty()) {
            r.finish_reason = Some(f);
        }
    }
    if chunk.usage.is_some() {
        r.usage = chunk.usage;
    }
    if r.finish_reason.as_deref() == Some(FINISH_ERROR) {
        return Step::Fail(Failure::invalid(
            "stream_error",
            "the stream ended with finish_reason \"error\"",
        ));
    }
    Step::Continue
}

/// The `finish_reason` of a generation that failed (OpenRouter sets it next
/// to a mid-stream error object, some servers without one).
const FINISH_ERROR: &str = "error";

/// Whether a body's `error` field reports an error: a non-empty object or
/// string (`"error": null`, `{}` and `""` are what some servers send on
/// success).
fn reports_error(v: &Value) -> bool {
    match v {
        Value::Object(o) => !o.is_empty(),
        Value::String(s) => !s.trim().is_empty(),
        _ => false,
    }
}

/// How a stream that reached its end (`[DONE]` when `done`, otherwise EOF)
/// is judged: EOF without `[DONE]` is fine after a `finish_reason`, a
/// truncated stream otherwise; no content at all is `empty`.
pub(crate) fn judge_stream_end(r: &CallResult, done: bool) -> Result<(), Failure> {
    if !done && r.finish_reason.is_none() {
        return Err(Failure::invalid(
            "truncated_stream",
            "stream ended without [DONE] or a finish_reason",
        ));
    }
    if r.content.is_empty() {
        return Err(Failure::invalid("empty", "stream carried no content"));
    }
    Ok(())
}

/// A non-streaming body: the fields of [`ChatCompletion`], with the same
/// types (a body the one does not accept, the other does not either), and
/// the `error` object a server may put beside them.
#[derive(serde::Deserialize)]
struct CompletionBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
}

impl CompletionBody {
    fn completion(self) -> ChatCompletion {
        ChatCompletion {
            id: self.id,
            object: self.object,
            created: self.created,
            model: self.model,
            choices: self.choices,
            usage: self.usage,
        }
    }
}

/// The completion in `text`, or why it is not one.
fn completion_or_failure(text: &str) -> Result<ChatCompletion, Failure> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| Failure::invalid("not_json", format!("response body is not JSON: {text}")))?;
    // An error object wins even next to choices: OpenRouter sends both (and
    // finish_reason "error") when a generation fails half-way.
    if value.get("error").is_some_and(reports_error) {
        let err = error_object(&value).unwrap_or_default();
        return Err(Failure {
            outcome: Outcome::InvalidResponse,
            error_type: "body_error",
            message: format!("error in a 2xx body: {}", describe_error(&err)),
            error: Some(Box::new(err)),
        });
    }
    serde_json::from_value(value).map_err(|e| {
        Failure::invalid(
            "unexpected_shape",
            format!("not a chat completion ({e}): {text}"),
        )
    })
}

/// Applies a complete non-streaming body that arrived at `now`.
pub(crate) fn apply_completion(
    r: &mut CallResult,
    body: &[u8],
    now: Instant,
) -> Result<(), Failure> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Failure::invalid("invalid_utf8", "response body is not valid UTF-8"))?;
    let completion = match serde_json::from_str::<CompletionBody>(text) {
        // The usual answer, read in one pass.
        Ok(b) if !b.error.as_ref().is_some_and(reports_error) => b.completion(),
        // An error object, or a body that is not a plain completion: the
        // slower pass through a `Value` says which.
        _ => completion_or_failure(text)?,
    };
    if !completion.id.is_empty() {
        r.response_id = Some(completion.id);
    }
    let failed = completion
        .choices
        .first()
        .is_some_and(|c| c.finish_reason.as_deref() == Some(FINISH_ERROR));
    if failed {
        return Err(Failure::invalid(
            "body_error",
            "the completion ended with finish_reason \"error\"",
        ));
    }
    r.usage = completion.usage;
    if let Some(choice) = completion.choices.into_iter().next() {
        let m = choice.message;
        r.content = m.content.unwrap_or_default();
        r.reasoning = [m.reasoning, m.reasoning_content]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .concat();
        r.finish_reason = choice.finish_reason;
    }
    if !r.reasoning.is_empty() {
        r.timings.first_reasoning = Some(now);
    }
    if r.content.is_empty() {
        return Err(Failure::invalid(
            "empty",
            "response has no choices or no content",
        ));
    }
    r.timings.first_token = Some(now);
    r.content_events = 1;
    r.content_started = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn data(s: &str) -> SseEvent {
        SseEvent::Data(s.into())
    }

    #[test]
    fn role_chunk_comment_and_usage_chunk() {
        let t0 = Instant::now();
        let t = |ms| t0 + Duration::from_millis(ms);
        let mut r = CallResult::new(Outcome::Ok, t0);
        let steps = [
            (SseEvent::Comment("OPENROUTER PROCESSING".into()), 5),
            (
                data(r#"{"id":"c1","choices":[{"delta":{"role":"assistant","content":""}}]}"#),
                10,
            ),
            (
                data(r#"{"id":"c1","choices":[{"delta":{"reasoning":"think"}}]}"#),
                20,
            ),
            (
                data(r#"{"id":"c1","choices":[{"delta":{"content":"Hel"}}]}"#),
                60,
            ),
            (
                data(
                    r#"{"id":"c1","choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
                ),
                70,
            ),
            (
                data(
                    r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
                ),
                71,
            ),
        ];
        for (ev, at) in steps {
            assert_eq!(apply_event(&mut r, ev, t(at), false), Step::Continue);
        }
        assert_eq!(
            apply_event(&mut r, SseEvent::Done, t(72), false),
            Step::Done
        );
        assert_eq!(r.content, "Hello");
        assert_eq!(r.reasoning, "think");
        assert_eq!(r.timings.first_token, Some(t(60)));
        assert_eq!(r.timings.first_reasoning, Some(t(20)));
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.response_id.as_deref(), Some("c1"));
        assert_eq!(r.usage.map(|u| u.completion_tokens), Some(2));
        assert_eq!((r.sse_events, r.content_events), (6, 2));
        assert!(judge_stream_end(&r, true).is_ok());
    }

    #[test]
    fn stream_end_rules() {
        let mut r = CallResult::new(Outcome::Ok, Instant::now());
        r.content = "x".into();
        assert_eq!(
            judge_stream_end(&r, false).unwrap_err().error_type,
            "truncated_stream"
        );
        r.finish_reason = Some("stop".into());
        assert!(judge_stream_end(&r, false).is_ok());
        r.content.clear();
        assert_eq!(judge_stream_end(&r, true).unwrap_err().error_type, "empty");
    }

    #[test]
    fn bad_chunk_truncated_chunk_and_stream_error() {
        let now = Instant::now();
        let mut r = CallResult::new(Outcome::Ok, now);
        let Step::Fail(f) = apply_event(&mut r, data("<html>"), now, false) else {
            panic!()
        };
        assert_eq!(f.error_type, "bad_json_chunk");
        let Step::Fail(f) = apply_event(&mut r, data(r#"{"choices":[{"del"#), now, true) else {
            panic!()
        };
        assert_eq!(f.error_type, "truncated_stream");
        let Step::Fail(f) = apply_event(&mut r, data(r#"{"choices":"x"}"#), now, true) else {
            panic!()
        };
        assert_eq!(f.error_type, "bad_json_chunk");
        for body in [
            r#"{"error":{"code":502,"message":"Provider returned error"}}"#,
            r#"{"error":{"code":"server_error","message":"Provider returned error"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}"#,
        ] {
            let Step::Fail(f) = apply_event(&mut r, data(body), now, false) else {
                panic!()
            };
            assert_eq!(
                (f.outcome, f.error_type),
                (Outcome::InvalidResponse, "stream_error")
            );
            assert!(
                f.message.contains("Provider returned error"),
                "{}",
                f.message
            );
            assert!(f.message.contains("502") || f.message.contains("server_error"));
        }
    }

    #[test]
    fn completion_bodies() {
        let now = Instant::now();
        let mut r = CallResult::new(Outcome::Ok, now);
        apply_completion(
            &mut r,
            br#"{"id":"x","choices":[{"message":{"role":"assistant","content":"hi","reasoning_content":"r"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
            now,
        )
        .unwrap();
        assert_eq!((r.content.as_str(), r.reasoning.as_str()), ("hi", "r"));
        assert_eq!(r.timings.first_token, Some(now));
        let kind = |body: &[u8]| {
            apply_completion(&mut CallResult::new(Outcome::Ok, now), body, now)
                .unwrap_err()
                .error_type
        };
        assert_eq!(kind(b"<html>oops</html>"), "not_json");
        assert_eq!(kind(b"\xff\xfe"), "invalid_utf8");
        assert_eq!(kind(br#"{"choices":[]}"#), "empty");
        assert_eq!(
            kind(br#"{"choices":[{"message":{"content":""}}]}"#),
            "empty"
        );
        assert_eq!(kind(br#"{"choices":"x"}"#), "unexpected_shape");
        assert_eq!(
            kind(br#"{"error":{"code":429,"message":"slow"}}"#),
            "body_error"
        );
        // The one-pass reading accepts exactly what the `Value` pass does:
        // an error object still wins beside choices of the wrong shape, and
        // the fields it does not use are type-checked all the same.
        assert_eq!(
            kind(br#"{"choices":"x","error":{"message":"boom"}}"#),
            "body_error"
        );
        assert_eq!(
            kind(br#"{"created":"x","choices":[{"message":{"content":"hi"}}]}"#),
            "unexpected_shape"
        );
        let mut r = CallResult::new(Outcome::Ok, now);
        apply_completion(
            &mut r,
            br#"{"id":"a","id":"b","choices":[{"message":{"content":"hi"}}]}"#,
            now,
        )
        .unwrap();
        assert_eq!(
            r.response_id.as_deref(),
            Some("b"),
            "the last duplicate wins"
        );
    }

    // Regression (hostile-server catalogue, hostile/stream-error-*): a 200
    // completion with choices *and* an error object, or finish_reason
    // "error", was recorded as ok.
    #[test]
    fn a_failed_completion_is_not_ok_even_with_content() {
        let now = Instant::now();
        let run = |body: &str| {
            apply_completion(&mut CallResult::new(Outcome::Ok, now), body.as_bytes(), now)
        };
        for body in [
            r#"{"choices":[{"message":{"content":"half an ans"},"finish_reason":"error"}],"error":{"code":502,"message":"Provider returned error"}}"#,
            r#"{"choices":[{"message":{"content":"half"}}],"error":{"code":"server_error","message":"Provider returned error"}}"#,
            r#"{"choices":[{"message":{"content":"half"}}],"error":"upstream failed"}"#,
        ] {
            let f = run(body).unwrap_err();
            assert_eq!(
                (f.outcome, f.error_type),
                (Outcome::InvalidResponse, "body_error"),
                "{body}"
            );
            assert!(
                f.message.contains("failed") || f.message.contains("Provider"),
                "{}",
                f.message
            );
        }
        let f = run(r#"{"choices":[{"message":{"content":"half"},"finish_reason":"error"}]}"#)
            .unwrap_err();
        assert_eq!(f.error_type, "body_error");
        for fine in [
            r#"{"choices":[{"message":{"content":"ok"}}],"error":null}"#,
            r#"{"choices":[{"message":{"content":"ok"}}],"error":{}}"#,
            r#"{"choices":[{"message":{"content":"ok"}}],"error":""}"#,
        ] {
            assert!(run(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn finish_reason_error_fails_a_stream_without_an_error_object() {
        let now = Instant::now();
        let mut r = CallResult::new(Outcome::Ok, now);
        let ok = data(r#"{"choices":[{"delta":{"content":"some"}}]}"#);
        assert_eq!(apply_event(&mut r, ok, now, false), Step::Continue);
        let end = data(r#"{"choices":[{"delta":{},"finish_reason":"error"}]}"#);
        let Step::Fail(f) = apply_event(&mut r, end, now, false) else {
            panic!()
        };
        assert_eq!(
            (f.outcome, f.error_type),
            (Outcome::InvalidResponse, "stream_error")
        );
    }
}
