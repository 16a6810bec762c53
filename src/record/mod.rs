//! The result records (one JSON object per attempt, per logical request and per
//! engine event) and the sinks that append them to disk as they happen.
//!
//! Every record carries `schema_version` and `kind` (`attempt`, `request`,
//! `event`). Sinks write from their own thread and flush as soon as the queue
//! is empty (at high rates, once per batch gathered over at most a couple of
//! milliseconds), so a crash loses at most what is still in flight and the
//! async runtime never blocks on disk.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

mod sink;
pub use sink::{RecordSink, SinkError};

/// What became of one HTTP attempt. One variant per error class of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    RateLimited,
    Overloaded,
    ServerError,
    Timeout,
    Network,
    Auth,
    Payment,
    Forbidden,
    BadRequest,
    NotFound,
    InvalidResponse,
}

impl Outcome {
    pub const ALL: [Outcome; 12] = [
        Outcome::Ok,
        Outcome::RateLimited,
        Outcome::Overloaded,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::Network,
        Outcome::Auth,
        Outcome::Payment,
        Outcome::Forbidden,
        Outcome::BadRequest,
        Outcome::NotFound,
        Outcome::InvalidResponse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RateLimited => "rate_limited",
            Outcome::Overloaded => "overloaded",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::Network => "network",
            Outcome::Auth => "auth",
            Outcome::Payment => "payment",
            Outcome::Forbidden => "forbidden",
            Outcome::BadRequest => "bad_request",
            Outcome::NotFound => "not_found",
            Outcome::InvalidResponse => "invalid_response",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a 429 is about, which decides what helps: waiting, stopping or rotating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitScope {
    /// Account-wide per-minute limit: wait; another model of the account cannot help.
    AccountMinute,
    /// Account-wide daily quota: stop using the provider's free models until the reset.
    AccountDay,
    /// The upstream provider is at capacity: rotate at once.
    Upstream,
    /// A limit of this one model: rotate at once.
    Model,
    /// Nothing said which: treated like `Model` for rotation, recorded as unknown.
    Unknown,
}

impl RateLimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitScope::AccountMinute => "account_minute",
            RateLimitScope::AccountDay => "account_day",
            RateLimitScope::Upstream => "upstream",
            RateLimitScope::Model => "model",
            RateLimitScope::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for RateLimitScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where `output_tokens` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokensSource {
    /// The server's `usage` object.
    Usage,
    /// Estimated by rotor (characters / 4) because the server sent no usage.
    Estimated,
    /// No tokens (the attempt failed before any content).
    #[default]
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Attempt,
    Request,
    Event,
}

/// One HTTP attempt. Times are milliseconds from the moment the request went
/// out (`sent`: when the connection asked for its body, see
/// `client/stamped.rs`), from monotonic clocks; `queue_ms` is the time from
/// the attempt's scheduled start (the instant the engine planned it for: its
/// decision, its limiter slot, or the planned end of the wait before it) to
/// `sent`: the engine's own work, building and serialising the request, the
/// hand-over to the connection (opening one when none is free), and how late
/// a timer woke it. The engine's deliberate waits
/// (limiter slots, backoff, Retry-After) are `wait` events, not queue time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub schema_version: u32,
    pub kind: RecordKind,
    pub run_id: String,
    pub ts: DateTime<Utc>,
    pub command: String,
    pub provider: String,
    pub model: String,
    pub prompt_id: String,
    pub repeat: u32,
    pub attempt: u32,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub rate_limit_scope: Option<RateLimitScope>,
    pub retry_after_ms: Option<u64>,
    pub ratelimit_limit: Option<u64>,
    pub ratelimit_remaining: Option<u64>,
    /// Absolute reset time, Unix epoch milliseconds.
    pub ratelimit_reset_ms: Option<u64>,
    pub queue_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub first_reasoning_ms: Option<f64>,
    pub latency_ms: f64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub tokens_source: TokensSource,
    pub tokens_per_s: Option<f64>,
    pub stream: bool,
    /// The server's response id (`chatcmpl-…`; OpenRouter's generation id),
    /// to find the request in the server's own logs.
    #[serde(default)]
    pub response_id: Option<String>,
    /// Content had started arriving when the attempt failed (never spliced).
    pub content_started: bool,
    pub validation: Option<String>,
    pub validation_detail: Option<String>,
    pub validation_ms: Option<f64>,
    /// The isolation validation ran under (`netns+uid+rlimits`, …).
    #[serde(default)]
    pub validation_isolation: Option<String>,
    /// The simulator scenario that answered (`free-tier`, …), when the run
    /// used the embedded simulator: its timings are time-scaled, not a real
    /// model's, and `report` leaves such records out next to real ones.
    #[serde(default)]
    pub simulated: Option<String>,
}

/// An engine decision or a logical request's end: `event` names it
/// (`wait`, `fallback`, `breaker`, `give_up`, `quota`, `request`, …) and the
/// remaining fields depend on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub schema_version: u32,
    pub kind: RecordKind,
    pub run_id: String,
    pub ts: DateTime<Utc>,
    pub command: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// As in [`AttemptRecord::simulated`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<String>,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The end of one logical prompt: an [`EventRecord`] with `event:
/// "request"` and these fields, written with a type of its own (one for
/// every prompt of a run: the generic record's field map cost an
/// allocation per field). It reads back as an [`EventRecord`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    pub schema_version: u32,
    pub kind: RecordKind,
    pub run_id: String,
    pub ts: DateTime<Utc>,
    pub command: String,
    /// Always `request`.
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub prompt_id: String,
    pub repeat: u32,
    pub model_used: Option<String>,
    pub primary: Option<String>,
    pub ok: bool,
    pub by_fallback: bool,
    pub attempts: u32,
    pub hops: u32,
    pub fallbacks: u32,
    pub waited_ms: u64,
    pub elapsed_ms: f64,
    pub gave_up: Option<String>,
    pub policy: &'static str,
    pub deadline_ms: u64,
    /// As in [`AttemptRecord::simulated`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulated: Option<String>,
}

/// Anything a sink can write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    Attempt(Box<AttemptRecord>),
    Event(Box<EventRecord>),
    /// Written only: a `request` line reads back as an `Event`.
    #[serde(skip_deserializing)]
    Request(Box<RequestRecord>),
}

impl From<RequestRecord> for Record {
    fn from(r: RequestRecord) -> Self {
        Record::Request(Box::new(r))
    }
}

impl From<AttemptRecord> for Record {
    fn from(r: AttemptRecord) -> Self {
        Record::Attempt(Box::new(r))
    }
}

impl From<EventRecord> for Record {
    fn from(r: EventRecord) -> Self {
        Record::Event(Box::new(r))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_attempt() -> AttemptRecord {
        AttemptRecord {
            schema_version: SCHEMA_VERSION,
            kind: RecordKind::Attempt,
            run_id: "r1".into(),
            ts: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            command: "probe".into(),
            provider: "openrouter".into(),
            model: "m:free".into(),
            prompt_id: "p1".into(),
            repeat: 0,
            attempt: 1,
            outcome: Outcome::RateLimited,
            http_status: Some(429),
            error_type: Some("rate_limit_exceeded".into()),
            error_message: None,
            rate_limit_scope: Some(RateLimitScope::AccountMinute),
            retry_after_ms: Some(1500),
            ratelimit_limit: Some(20),
            ratelimit_remaining: Some(0),
            ratelimit_reset_ms: Some(1_700_000_001_500),
            queue_ms: Some(0.1),
            ttfb_ms: Some(3.0),
            ttft_ms: None,
            first_reasoning_ms: None,
            latency_ms: 3.5,
            input_tokens: None,
            output_tokens: None,
            tokens_source: TokensSource::None,
            tokens_per_s: None,
            stream: true,
            response_id: None,
            content_started: false,
            validation: None,
            validation_detail: None,
            validation_ms: None,
            validation_isolation: None,
            simulated: None,
        }
    }

    #[test]
    fn outcome_names_match_the_record_contract() {
        for o in Outcome::ALL {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
        }
    }

    #[test]
    fn sink_appends_jsonl_and_csv_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/results.jsonl");
        let csv_path = dir.path().join("results.csv");
        let sink = RecordSink::open(&path, Some(&csv_path)).unwrap();
        sink.write(sample_attempt());
        let mut fields = serde_json::Map::new();
        fields.insert("wait_ms".into(), 12.into());
        sink.write(EventRecord {
            schema_version: SCHEMA_VERSION,
            kind: RecordKind::Event,
            run_id: "r1".into(),
            ts: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            command: "probe".into(),
            event: "wait".into(),
            model: Some("m:free".into()),
            prompt_id: None,
            repeat: None,
            simulated: None,
            fields,
        });
        sink.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "flushed before close");
        assert_eq!(sink.close().unwrap(), 2);
        let first: Record = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first, Record::from(sample_attempt()));
        let second: Record = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert!(matches!(second, Record::Event(e) if e.event == "wait"));
        let csv_text = std::fs::read_to_string(&csv_path).unwrap();
        assert!(csv_text.starts_with("schema_version,kind,run_id,ts,"));
        assert_eq!(csv_text.lines().count(), 2, "header and one attempt row");
    }

    #[test]
    fn batched_writes_lose_nothing_and_flush_waits_for_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.jsonl");
        let sink = std::sync::Arc::new(RecordSink::open(&path, None).unwrap());
        let writers: Vec<_> = (0..4u32)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..2500u32 {
                        let mut r = sample_attempt();
                        r.repeat = t * 10_000 + i;
                        sink.write(r);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        sink.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut repeats: Vec<u32> = text
            .lines()
            .map(|l| match serde_json::from_str::<Record>(l).unwrap() {
                Record::Attempt(a) => a.repeat,
                Record::Event(_) | Record::Request(_) => panic!("only attempts were written"),
            })
            .collect();
        assert_eq!(repeats.len(), 10_000, "every record on disk after flush()");
        repeats.sort_unstable();
        repeats.dedup();
        assert_eq!(repeats.len(), 10_000, "each exactly once");
        let sink = std::sync::Arc::try_unwrap(sink).ok().unwrap();
        assert_eq!(sink.close().unwrap(), 10_000);
    }

    #[test]
    fn written_records_are_handed_back_and_dropped_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let sink = RecordSink::open(&dir.path().join("r.jsonl"), None).unwrap();
        for _ in 0..3 {
            sink.write(sample_attempt());
        }
        sink.flush();
        assert_eq!(sink.spent_len(), 3, "the writer hands them back");
        sink.write(sample_attempt());
        assert_eq!(sink.spent_len(), 0, "the writing thread dropped them");
        assert_eq!(sink.close().unwrap(), 4);
    }
}
