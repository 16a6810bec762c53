//! STAND-IN for the engine worktree only — replaced at merge by the real
//! HTTP client (branch `client`). It holds exactly the types the engine codes
//! against, with the same names and fields, so the engine compiles; calls
//! always fail with a network error. Do not add anything here.

use std::time::Duration;

use tokio::time::Instant;

use crate::record::{Outcome, RateLimitScope, TokensSource};
use crate::secret::Secret;
use crate::wire;

/// Where to send calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, String)>,
}

/// One chat-completions call.
#[derive(Debug, Clone, Copy)]
pub struct CallSpec<'a> {
    pub model: &'a str,
    pub messages: &'a [wire::Message],
    pub stream: bool,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub seed: Option<u64>,
    pub total_timeout: Duration,
    pub first_byte_timeout: Duration,
}

/// The raw instants of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub sent: Instant,
    pub headers: Option<Instant>,
    pub first_byte: Option<Instant>,
    pub first_token: Option<Instant>,
    pub first_reasoning: Option<Instant>,
    pub end: Instant,
}

impl Timings {
    /// All instants unset except `sent` and `end`, both `sent`.
    pub fn new(sent: Instant) -> Self {
        Timings {
            sent,
            headers: None,
            first_byte: None,
            first_token: None,
            first_reasoning: None,
            end: sent,
        }
    }
}

/// The rate-limit hints of one response (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitHints {
    pub retry_after_ms: Option<u64>,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset_epoch_ms: Option<u64>,
}

impl RateLimitHints {
    /// `retry_after_ms` wins, else reset − now (0 when past); `None` when silent.
    pub fn wait_ms(&self, now_epoch_ms: u64) -> Option<u64> {
        self.retry_after_ms
            .or_else(|| self.reset_epoch_ms.map(|r| r.saturating_sub(now_epoch_ms)))
    }
}

/// The result of one HTTP attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
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
    pub content_started: bool,
    pub response_id: Option<String>,
    pub sse_events: u32,
    pub content_events: u32,
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
}

/// The HTTP client (stand-in: every call fails with a network error).
#[derive(Debug, Clone, Default)]
pub struct HttpClient;

impl HttpClient {
    /// Stand-in: always a network error.
    pub async fn chat(&self, _ep: &Endpoint, _spec: &CallSpec<'_>) -> CallResult {
        let mut r = CallResult::new(Outcome::Network, Instant::now());
        r.error_type = Some("stand_in".into());
        r.error_message = Some("stand-in client: no network".into());
        r
    }
}
