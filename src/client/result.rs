//! What one call returns: its class, timings, content and tokens, and the
//! metrics derived from them.
//!
//! # Metric definitions
//!
//! All instants come from `tokio::time::Instant` (monotonic; paused time in
//! tests). Milliseconds are `f64`.
//!
//! - **scheduled**: the attempt's scheduled start, [`super::CallSpec::scheduled`]:
//!   the instant the rotation engine planned the call for (its decision to
//!   send, the limiter slot it chose, or the planned end of the wait before
//!   it, so a timer that fires late counts); when no caller sets it, when
//!   [`super::HttpClient::chat`] was called.
//! - **sent**: when the request went out: when the connection asked for its
//!   body, just before writing it with the request head (see
//!   `client/stamped.rs`). A request that never got that far (no connection)
//!   keeps the instant it was handed to reqwest.
//! - **queue_ms** = sent − scheduled: everything on rotor's side before the
//!   request goes out: deciding, building and serialising it, a late timer,
//!   waiting for the connection task (behind the other requests started at
//!   the same instant), and opening a connection when none was free (DNS,
//!   TCP, TLS: the warm-up opens them before the run).
//! - **latency_ms** = end − sent, where *end* is when the last byte that
//!   matters was read: for streams the `[DONE]` event (or end of body), for
//!   non-streaming calls the end of the body, for failures the moment the
//!   failure was seen.
//! - **ttfb_ms** = response headers received − sent.
//! - **first_byte**: the first body byte of any kind, comments included.
//! - **ttft_ms** = first non-empty `content` delta − sent. Role-only chunks,
//!   reasoning deltas and SSE comments (`: OPENROUTER PROCESSING`) do not count.
//!   For non-streaming calls it is the time the whole body had arrived.
//!   vLLM's `benchmark_serving` (openai-chat backend) starts its TTFT at the
//!   first chunk that has `choices`, which includes a role-only first chunk,
//!   so on llama.cpp-style servers its TTFT can be lower than rotor's.
//! - **first_reasoning_ms** = first non-empty `reasoning` or
//!   `reasoning_content` delta − sent.
//! - **tokens_per_s**: for streams with at least two content events,
//!   output_tokens / (end − first_token): the decode rate after the first
//!   token. It is close to 1 / TPOT of vLLM's benchmark_serving, which uses
//!   (output_tokens − 1) / (latency − ttft); LLMPerf's per-request output
//!   throughput divides by the whole latency instead. For non-streaming calls:
//!   output_tokens / latency. Only for `Ok` outcomes.
//! - **tokens**: the server's `usage` when present (the last one wins; a
//!   usage chunk with `choices: []` is fine) → [`TokensSource::Usage`];
//!   otherwise ceil(chars / 4) of content + reasoning →
//!   [`TokensSource::Estimated`] (input tokens unknown); no text →
//!   [`TokensSource::None`].

use tokio::time::Instant;

use super::hints::RateLimitHints;
use crate::record::{Outcome, RateLimitScope, TokensSource};
use crate::wire;

/// The raw instants of one call; see the module docs for their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// When the call was handed to the client (the scheduled start).
    pub scheduled: Instant,
    /// When the request went out (see the module docs).
    pub sent: Instant,
    /// Response headers received.
    pub headers: Option<Instant>,
    /// First body byte of any kind.
    pub first_byte: Option<Instant>,
    /// First non-empty content delta (non-streaming: the whole body).
    pub first_token: Option<Instant>,
    /// First non-empty reasoning delta.
    pub first_reasoning: Option<Instant>,
    /// Last byte read (`[DONE]` or end of body), or the failure.
    pub end: Instant,
}

impl Timings {
    /// All instants unset except `scheduled`, `sent` and `end`, all `sent`.
    pub fn new(sent: Instant) -> Self {
        Timings {
            scheduled: sent,
            sent,
            headers: None,
            first_byte: None,
            first_token: None,
            first_reasoning: None,
            end: sent,
        }
    }
}

/// The result of one HTTP attempt. Built by [`super::HttpClient::chat`]; other
/// modules (and test fakes) may build one with [`CallResult::new`] and set the
/// fields they need.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    /// The most specific machine-readable error string (`rate_limit_exceeded`,
    /// `context_length_exceeded`, `first_byte`, `truncated_stream`, …).
    pub error_type: Option<String>,
    /// Short (≤ 300 characters), single line, the key redacted.
    pub error_message: Option<String>,
    /// Who a rate limit is about: set for 429s and for rate-limit errors found
    /// in bodies (e.g. inside a 200 stream).
    pub scope: Option<RateLimitScope>,
    pub hints: RateLimitHints,
    pub timings: Timings,
    pub content: String,
    pub reasoning: String,
    pub usage: Option<wire::Usage>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub tokens_source: TokensSource,
    pub finish_reason: Option<String>,
    /// Some content had arrived before the call failed (never splice it).
    pub content_started: bool,
    pub response_id: Option<String>,
    /// SSE data events received, `[DONE]` included, comments excluded
    /// (0 for non-streaming calls).
    pub sse_events: u32,
    /// Data events that carried a non-empty content delta (non-streaming: 1
    /// when the answer has content). Used by [`CallResult::tokens_per_s`].
    pub content_events: u32,
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

impl CallResult {
    /// An empty result of class `outcome` whose timings all sit at `sent`.
    pub fn new(outcome: Outcome, sent: Instant) -> Self {
        CallResult {
            outcome,
            http_status: None,
            error_type: None,
            error_message: None,
            scope: None,
            hints: RateLimitHints::default(),
            timings: Timings::new(sent),
            content: String::new(),
            reasoning: String::new(),
            usage: None,
            input_tokens: None,
            output_tokens: None,
            tokens_source: TokensSource::None,
            finish_reason: None,
            content_started: false,
            response_id: None,
            sse_events: 0,
            content_events: 0,
        }
    }

    /// sent − scheduled.
    pub fn queue_ms(&self) -> f64 {
        ms(self.timings.scheduled, self.timings.sent)
    }

    /// end − sent.
    pub fn latency_ms(&self) -> f64 {
        ms(self.timings.sent, self.timings.end)
    }

    /// Response headers − sent.
    pub fn ttfb_ms(&self) -> Option<f64> {
        self.timings.headers.map(|t| ms(self.timings.sent, t))
    }

    /// First non-empty content delta − sent (non-streaming: body complete).
    pub fn ttft_ms(&self) -> Option<f64> {
        self.timings.first_token.map(|t| ms(self.timings.sent, t))
    }

    /// First non-empty reasoning delta − sent.
    pub fn first_reasoning_ms(&self) -> Option<f64> {
        self.timings
            .first_reasoning
            .map(|t| ms(self.timings.sent, t))
    }

    /// Decode rate; see the module docs. `None` unless the call succeeded and
    /// the rate is measurable.
    pub fn tokens_per_s(&self) -> Option<f64> {
        if !self.outcome.is_ok() {
            return None;
        }
        let tokens = self.output_tokens? as f64;
        let secs = if self.sse_events == 0 {
            self.latency_ms() / 1000.0
        } else if self.content_events >= 2 {
            ms(self.timings.first_token?, self.timings.end) / 1000.0
        } else {
            return None;
        };
        (secs > 0.0).then(|| tokens / secs)
    }

    /// Fills the token fields from `usage` or an estimate (module docs).
    pub(crate) fn settle_tokens(&mut self) {
        if let Some(u) = self.usage {
            self.input_tokens = Some(u.prompt_tokens);
            self.output_tokens = Some(u.completion_tokens);
            self.tokens_source = TokensSource::Usage;
            return;
        }
        let chars = (self.content.chars().count() + self.reasoning.chars().count()) as u64;
        if chars > 0 {
            self.input_tokens = None;
            self.output_tokens = Some(chars.div_ceil(4));
            self.tokens_source = TokensSource::Estimated;
        } else {
            self.input_tokens = None;
            self.output_tokens = None;
            self.tokens_source = TokensSource::None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn metrics_from_instants() {
        let t0 = Instant::now();
        let mut r = CallResult::new(Outcome::Ok, t0);
        r.timings.headers = Some(at(t0, 10));
        r.timings.first_byte = Some(at(t0, 12));
        r.timings.first_token = Some(at(t0, 60));
        r.timings.first_reasoning = Some(at(t0, 30));
        r.timings.end = at(t0, 1060);
        r.sse_events = 12;
        r.content_events = 10;
        r.output_tokens = Some(50);
        assert_eq!(r.latency_ms(), 1060.0);
        assert_eq!(r.queue_ms(), 0.0, "scheduled defaults to sent");
        r.timings.scheduled = t0 - Duration::from_millis(3);
        assert_eq!(r.queue_ms(), 3.0);
        assert_eq!(r.latency_ms(), 1060.0, "latency still from sent");
        assert_eq!(r.ttfb_ms(), Some(10.0));
        assert_eq!(r.ttft_ms(), Some(60.0));
        assert_eq!(r.first_reasoning_ms(), Some(30.0));
        assert_eq!(r.tokens_per_s(), Some(50.0));
        r.content_events = 1;
        assert_eq!(r.tokens_per_s(), None, "one content event: no decode rate");
        r.sse_events = 0;
        assert_eq!(
            r.tokens_per_s(),
            Some(50.0 / 1.06),
            "non-stream: over latency"
        );
        r.outcome = Outcome::Timeout;
        assert_eq!(r.tokens_per_s(), None);
    }

    #[test]
    fn tokens_from_usage_estimate_or_none() {
        let mut r = CallResult::new(Outcome::Ok, Instant::now());
        r.content = "héllo".into(); // 5 chars
        r.reasoning = "abcd".into();
        r.settle_tokens();
        assert_eq!(
            (r.output_tokens, r.tokens_source),
            (Some(3), TokensSource::Estimated)
        );
        r.usage = Some(wire::Usage {
            prompt_tokens: 7,
            completion_tokens: 9,
            total_tokens: 16,
        });
        r.settle_tokens();
        assert_eq!(r.input_tokens, Some(7));
        assert_eq!(
            (r.output_tokens, r.tokens_source),
            (Some(9), TokensSource::Usage)
        );
        let mut e = CallResult::new(Outcome::Timeout, Instant::now());
        e.settle_tokens();
        assert_eq!(
            (e.output_tokens, e.tokens_source),
            (None, TokensSource::None)
        );
    }
}
