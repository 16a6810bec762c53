//! Turns an admitted request (its draws, its fault, its answer) into the
//! response: a paced SSE stream or a JSON completion; faults are in
//! `inject.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use tokio::time::Instant;

use crate::sim::answer::{self, AnswerKind};
use crate::sim::body::{LogHandle, Script, Step, Tail, after, play, wait_until};
use crate::sim::conn::Conn;
use crate::sim::draw::Draws;
use crate::sim::errors::{self, bytes_response};
use crate::sim::faults::FaultKind;
use crate::sim::inject;
use crate::sim::model::Behavior;
use crate::sim::server::Shared;
use crate::suite::SuiteItem;
use crate::wire::{ChatChunk, ChatCompletion, Choice, ChunkChoice, Delta, ResponseMessage, Usage};

pub(crate) const KEEPALIVE: &[u8] = b": OPENROUTER PROCESSING\n\n";
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

/// An admitted request, ready to be answered.
pub(crate) struct Go {
    pub model: usize,
    pub fault: Option<FaultKind>,
    pub draws: Draws,
    pub kind: AnswerKind,
    pub log: LogHandle,
    pub id: String,
    pub arrived: Instant,
    pub stream: bool,
    pub include_usage: bool,
    pub max_tokens: Option<u32>,
    pub prompt_tokens: u64,
    /// The connection, when the server keeps it (for `reset_before_headers`).
    pub conn: Option<Conn>,
}

/// The generated text of an answer and its timing (real time).
pub(crate) struct Generated {
    pub reasoning: Option<String>,
    pub content: String,
    pub finish: &'static str,
    pub ttft: Duration,
    pub per_token: Duration,
}

impl Generated {
    fn new(scale: f64, m: &Behavior, go: &Go, item: Option<&SuiteItem>) -> Generated {
        let mut rng = go.draws.text_rng();
        let reasoning = m
            .reasoning
            .then(|| answer::reasoning_text(&mut rng, go.draws.reasoning_tokens));
        let mut content = answer::answer_text(go.kind, item, go.draws.output_tokens, &mut rng);
        let mut finish = "stop";
        if let Some(max) = go.max_tokens
            && answer::tokens_of(&content) > u64::from(max)
        {
            content = answer::first_tokens(&content, u64::from(max).max(1)).to_owned();
            finish = "length";
        }
        Generated {
            reasoning,
            content,
            finish,
            ttft: secs(go.draws.ttft_ms / 1000.0 * scale),
            per_token: secs(scale / go.draws.tokens_per_s),
        }
    }

    /// Content plus reasoning tokens.
    pub fn completion_tokens(&self) -> u64 {
        answer::tokens_of(&self.content) + self.reasoning.as_deref().map_or(0, answer::tokens_of)
    }

    /// When the last token is due.
    pub fn total(&self) -> Duration {
        let n = self.completion_tokens().saturating_sub(1);
        self.ttft
            + self
                .per_token
                .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

pub(crate) fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// Everything needed to write one request's response.
pub(crate) struct Reply<'a> {
    pub model: &'a Behavior,
    pub go: &'a Go,
    pub g: Generated,
    pub created: i64,
    pub usage: Usage,
    pub scale: f64,
}

impl Reply<'_> {
    /// One `data:` chunk with a delta.
    pub fn chunk(&self, delta: Delta, finish: Option<&str>) -> Bytes {
        chunk_bytes(&self.go.id, self.created, &self.model.id, delta, finish)
    }

    /// The usage chunk (`choices: []`).
    pub fn usage_chunk(&self) -> Bytes {
        sse(&ChatChunk {
            id: self.go.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.id.clone(),
            choices: vec![],
            usage: Some(self.usage),
            error: None,
        })
    }

    /// The non-stream completion body.
    pub fn completion(&self, finish: Option<&str>) -> String {
        self.completion_body(finish, true)
    }

    /// The non-stream completion body, with or without `usage`.
    pub fn completion_body(&self, finish: Option<&str>, usage: bool) -> String {
        let body = ChatCompletion {
            id: self.go.id.clone(),
            object: "chat.completion".into(),
            created: self.created,
            model: self.model.id.clone(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: Some("assistant".into()),
                    content: Some(self.g.content.clone()),
                    reasoning: self.g.reasoning.clone(),
                    reasoning_content: None,
                },
                finish_reason: Some(finish.unwrap_or(self.g.finish).to_owned()),
            }],
            usage: usage.then_some(self.usage),
        };
        serde_json::to_string(&body).unwrap_or_else(|_| "{}".into())
    }

    /// Steps of a stream: keep-alives until the first token, the role chunk,
    /// reasoning then content deltas (one token each, paced), up to
    /// `content_limit` content tokens. Returns the steps and the time of the
    /// last one.
    pub fn stream_steps(&self, content_limit: Option<u64>) -> (Vec<Step>, Duration) {
        let g = &self.g;
        let mut steps = Vec::new();
        if let Some(every) = self.model.keepalive {
            let mut at = every;
            while at < g.ttft && steps.len() < 10_000 {
                steps.push(Step::new(at, Bytes::from_static(KEEPALIVE)));
                at += every;
            }
        }
        let role = Delta {
            role: Some("assistant".into()),
            content: Some(String::new()),
            ..Delta::default()
        };
        steps.push(Step::new(g.ttft, self.chunk(role, None)));
        let reasoning = g
            .reasoning
            .as_deref()
            .map(answer::pieces)
            .unwrap_or_default();
        let content = answer::pieces(&g.content);
        let limit =
            content_limit.map_or(content.len(), |n| usize::try_from(n).unwrap_or(usize::MAX));
        let deltas = reasoning
            .into_iter()
            .map(|piece| (false, piece))
            .chain(content.into_iter().take(limit).map(|piece| (true, piece)));
        let mut last = g.ttft;
        // Every delta chunk is the same bytes around its delta: serialised
        // once here rather than whole for each token (this runs when the
        // request arrives, so its cost delays the next requests' arrival
        // times in a burst: 64 at once).
        let frame = ChunkFrame::new(&self.go.id, self.created, &self.model.id);
        for (j, (is_content, piece)) in deltas.enumerate() {
            last = g.ttft
                + g.per_token
                    .saturating_mul(u32::try_from(j).unwrap_or(u32::MAX));
            let delta = if is_content {
                Delta {
                    content: Some(piece.to_owned()),
                    ..Delta::default()
                }
            } else {
                Delta {
                    reasoning: Some(piece.to_owned()),
                    ..Delta::default()
                }
            };
            let bytes = match &frame {
                Some(f) => f.chunk(delta),
                None => self.chunk(delta, None),
            };
            let mut step = Step::new(last, bytes);
            step.content = is_content;
            steps.push(step);
        }
        (steps, last)
    }
}

impl Reply<'_> {
    /// Steps of a whole stream: the deltas, the finish chunk, `usage_chunks`
    /// usage chunks, and `[DONE]` when `done`.
    pub fn full_stream_steps(&self, usage_chunks: usize, done: bool) -> Vec<Step> {
        let (mut steps, last) = self.stream_steps(None);
        steps.push(Step::new(
            last,
            self.chunk(Delta::default(), Some(self.g.finish)),
        ));
        for _ in 0..usage_chunks {
            steps.push(Step::new(last, self.usage_chunk()));
        }
        if done {
            steps.push(Step::new(last, Bytes::from_static(DONE)));
        }
        steps
    }
}

/// One `data:` chunk with a delta, serialised whole.
fn chunk_bytes(id: &str, created: i64, model: &str, delta: Delta, finish: Option<&str>) -> Bytes {
    sse(&ChatChunk {
        id: id.to_owned(),
        object: "chat.completion.chunk".into(),
        created,
        model: model.to_owned(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.map(str::to_owned),
        }],
        usage: None,
        error: None,
    })
}

/// The bytes of a delta chunk (no finish reason) before and after its
/// delta, cut from one chunk serialised whole, so that the chunks made with
/// it are byte for byte those of [`chunk_bytes`].
struct ChunkFrame {
    head: String,
    tail: String,
}

impl ChunkFrame {
    const DELTA: &str = "\"delta\":";

    fn new(id: &str, created: i64, model: &str) -> Option<ChunkFrame> {
        let whole = chunk_bytes(id, created, model, Delta::default(), None);
        let whole = std::str::from_utf8(&whole).ok()?;
        let empty = serde_json::to_string(&Delta::default()).ok()?;
        // The id and model come first, and any quote in them is escaped:
        // the first `"delta":` is the field.
        let at = whole.find(Self::DELTA)? + Self::DELTA.len();
        let tail = whole[at..].strip_prefix(empty.as_str())?;
        Some(ChunkFrame {
            head: whole[..at].to_owned(),
            tail: tail.to_owned(),
        })
    }

    fn chunk(&self, delta: Delta) -> Bytes {
        let mut out = Vec::with_capacity(self.head.len() + self.tail.len() + 96);
        out.extend_from_slice(self.head.as_bytes());
        if serde_json::to_writer(&mut out, &delta).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(self.tail.as_bytes());
        Bytes::from(out)
    }
}

fn sse<T: serde::Serialize>(value: &T) -> Bytes {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("data: {json}\n\n"))
}

/// A 200 `text/event-stream` response.
pub(crate) fn sse_response(body: axum::body::Body) -> Response {
    let mut r = bytes_response(StatusCode::OK, "text/event-stream", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A 200 JSON body handed over at once (only its first half when the tail
/// aborts the connection).
pub(crate) fn json_now(body: String, log: LogHandle, tail: Tail) -> Response {
    let mut bytes = Bytes::from(body);
    if matches!(tail, Tail::Abort) {
        bytes.truncate(bytes.len() / 2);
    }
    let mut step = Step::new(Duration::ZERO, bytes);
    step.content = true;
    let script = Script {
        steps: vec![step],
        tail,
    };
    bytes_response(
        StatusCode::OK,
        "application/json",
        play(script, Instant::now(), log),
    )
}

/// Answers an admitted request.
pub(crate) async fn respond(shared: &Arc<Shared>, go: Go, item: Option<&SuiteItem>) -> Response {
    let Some(model) = shared.models.get(go.model) else {
        return errors::bad_request("unknown model");
    };
    let scale = shared.scenario.time_scale;
    let g = Generated::new(scale, model, &go, item);
    let completion_tokens = g.completion_tokens();
    let reply = Reply {
        model,
        go: &go,
        g,
        created: chrono::Utc::now().timestamp(),
        usage: Usage {
            prompt_tokens: go.prompt_tokens,
            completion_tokens,
            total_tokens: go.prompt_tokens + completion_tokens,
        },
        scale,
    };
    let mut shutdown = shared.shutdown.clone();
    if let Some(kind) = go.fault {
        return inject::fault(&reply, kind, &mut shutdown, &shared.redirect_to).await;
    }
    go.log.tokens(completion_tokens);
    if go.stream {
        let script = Script {
            steps: reply.full_stream_steps(usize::from(go.include_usage), true),
            tail: Tail::End,
        };
        sse_response(play(script, go.arrived, go.log.clone()))
    } else {
        if !wait_until(after(go.arrived, reply.g.total()), &mut shutdown).await {
            return errors::shutting_down();
        }
        json_now(reply.completion(None), go.log.clone(), Tail::End)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_chunks_are_byte_for_byte_the_whole_ones() {
        for (id, model) in [
            ("gen-1-abc", "m/x:free"),
            ("gen-\"delta\":{}", "odd \"delta\":{} \u{e9}"),
        ] {
            let frame = ChunkFrame::new(id, 1_700_000_000, model).expect("a frame");
            for delta in [
                Delta::default(),
                Delta {
                    content: Some("def f():\n    return \"x\" \\ \u{1F600}".into()),
                    ..Delta::default()
                },
                Delta {
                    reasoning: Some("think\tabout it".into()),
                    ..Delta::default()
                },
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Delta::default()
                },
            ] {
                assert_eq!(
                    frame.chunk(delta.clone()),
                    chunk_bytes(id, 1_700_000_000, model, delta, None)
                );
            }
        }
    }
}
