//! Every decision of the engine is an [`Event`], handed to the caller's
//! [`Observer`]; the engine itself never prints or writes files. Events
//! serialise with an `event` tag in snake_case (`attempt`, `wait`,
//! `fallback`, `breaker`, `quota_exhausted`, `give_up`) so the caller can
//! turn them into result records as they are.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::breaker::BreakerState;
use crate::client::CallResult;
use crate::record::{Outcome, RateLimitScope};

/// Why the engine slept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The latest response's Retry-After / reset hint (this prompt's).
    RetryAfter,
    /// Jittered exponential backoff (no hint, or retrying after an error).
    Backoff,
    /// A client-side limiter slot (known limit or AIMD pacing).
    Limiter,
    /// A daily quota until its reset.
    Quota,
    /// An open breaker, or a half-open one whose probe is in flight.
    Breaker,
    /// A cooldown another prompt's 429 set.
    Cooldown,
}

/// Why a prompt moved from one model to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// A 429, or a cooldown from one.
    RateLimited,
    /// Errors (5xx, timeouts, network, invalid or rejected answers).
    Error,
    /// 400/403/404: the model cannot serve this run.
    Incompatible,
    /// The prompt does not fit the model's context.
    ContextLength,
    /// The model's breaker is open.
    BreakerOpen,
    /// The provider's daily quota is spent.
    Quota,
    /// Wait-first: the wait would exceed `max_wait`.
    MaxWait,
    /// 402: the provider is out for the run.
    Payment,
    /// A stream failed after content started; the prompt restarts elsewhere.
    MidStream,
    /// Waiting for a limiter slot would be slower.
    Limiter,
    /// Adaptive: another model is expected to answer sooner.
    Slower,
}

/// Why a prompt ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    /// The next possible attempt would start after the deadline.
    Deadline,
    /// The prompt's retry budget is spent.
    RetriesExhausted,
    /// No model of the chain can be used (unknown ids, providers out).
    ChainExhausted,
    /// A 401: the whole run stops.
    Auth,
    /// Every model is incompatible or too small for the prompt.
    AllIncompatible,
    /// The models that could answer in time are out of daily quota until
    /// after the deadline (the provider's reset).
    Quota,
}

impl GiveUpReason {
    /// The snake_case name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::Deadline => "deadline",
            GiveUpReason::RetriesExhausted => "retries_exhausted",
            GiveUpReason::ChainExhausted => "chain_exhausted",
            GiveUpReason::Auth => "auth",
            GiveUpReason::AllIncompatible => "all_incompatible",
            GiveUpReason::Quota => "quota",
        }
    }
}

/// One engine decision.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An HTTP attempt ended.
    Attempt {
        model: String,
        provider: String,
        /// 1-based, within the prompt.
        attempt: u32,
        /// Fallbacks before this attempt (0: the primary, no switch yet).
        hop: u32,
        outcome: Outcome,
        http_status: Option<u16>,
        error_type: Option<String>,
        scope: Option<RateLimitScope>,
        retry_after_ms: Option<u64>,
        latency_ms: f64,
        content_started: bool,
        /// The caller's `accept` verdict on an `ok` answer.
        accepted: Option<bool>,
        /// The whole result (not serialised).
        #[serde(skip)]
        result: Arc<CallResult>,
    },
    /// The engine slept `wait_ms` before the next step, for `model`; when
    /// `provider` is set the wait was on the provider's shared state
    /// (account cooldown, quota, account limiter).
    Wait {
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        reason: WaitReason,
        wait_ms: u64,
    },
    /// The prompt moved from one model to another.
    Fallback {
        from: String,
        to: String,
        reason: FallbackReason,
    },
    /// A breaker changed state.
    Breaker {
        model: String,
        from: BreakerState,
        to: BreakerState,
        #[serde(skip_serializing_if = "Option::is_none")]
        open_for_ms: Option<u64>,
    },
    /// A provider's daily quota is spent (once per exhaustion).
    QuotaExhausted {
        provider: String,
        /// Only the provider's free models are affected.
        free_only: bool,
        /// From now until the reset.
        until_ms: u64,
        until_epoch_ms: u64,
    },
    /// The prompt ended without an answer.
    GiveUp {
        reason: GiveUpReason,
        waited_ms: u64,
        /// How long the next attempt would have had to wait (deadline).
        #[serde(skip_serializing_if = "Option::is_none")]
        would_wait_ms: Option<u64>,
        attempts: u32,
    },
}

impl Event {
    /// The `event` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Attempt { .. } => "attempt",
            Event::Wait { .. } => "wait",
            Event::Fallback { .. } => "fallback",
            Event::Breaker { .. } => "breaker",
            Event::QuotaExhausted { .. } => "quota_exhausted",
            Event::GiveUp { .. } => "give_up",
        }
    }
}

/// An event with the prompt it belongs to and when it happened.
#[derive(Debug, Clone, Serialize)]
pub struct EngineEvent {
    pub prompt_id: String,
    pub repeat: u32,
    /// Milliseconds since the engine started (monotonic).
    pub at_ms: f64,
    /// Unix epoch milliseconds.
    pub epoch_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// Receives every event. Called outside the engine's lock, from the task of
/// the prompt the event belongs to; keep it quick.
pub trait Observer: Send + Sync {
    fn on_event(&self, event: &EngineEvent);
}

/// Drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullObserver;

impl Observer for NullObserver {
    fn on_event(&self, _event: &EngineEvent) {}
}

/// Keeps every event in memory (tests, summaries).
#[derive(Debug, Default)]
pub struct EventLog {
    events: Mutex<Vec<EngineEvent>>,
}

impl EventLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<EngineEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Observer for EventLog {
    fn on_event(&self, event: &EngineEvent) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_snake_case_tag() {
        let e = EngineEvent {
            prompt_id: "p1".into(),
            repeat: 0,
            at_ms: 1.5,
            epoch_ms: 1_700_000_000_000,
            event: Event::Wait {
                model: None,
                provider: Some("openrouter".into()),
                reason: WaitReason::RetryAfter,
                wait_ms: 1200,
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "wait");
        assert_eq!(v["reason"], "retry_after");
        assert_eq!(v["provider"], "openrouter");
        assert!(v.get("model").is_none());
        let g = serde_json::to_value(Event::GiveUp {
            reason: GiveUpReason::AllIncompatible,
            waited_ms: 0,
            would_wait_ms: None,
            attempts: 2,
        })
        .unwrap();
        assert_eq!(g["event"], "give_up");
        assert_eq!(g["reason"], "all_incompatible");
        let q = Event::QuotaExhausted {
            provider: "p".into(),
            free_only: true,
            until_ms: 1,
            until_epoch_ms: 2,
        };
        assert_eq!(serde_json::to_value(&q).unwrap()["event"], q.name());
        let f = serde_json::to_value(Event::Fallback {
            from: "a".into(),
            to: "b".into(),
            reason: FallbackReason::ContextLength,
        })
        .unwrap();
        assert_eq!(f["reason"], "context_length");
    }
}
