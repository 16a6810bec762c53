//! What a caller asks of the engine and what it gets back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::events::GiveUpReason;
use crate::client::CallResult;
use crate::wire;

/// The caller's verdict on an `ok` answer; `false` counts as a failure. It may
/// take time (running the answer's code), so it returns a future; the closure
/// copies what it needs from the result before returning it.
pub type AcceptFn =
    Arc<dyn Fn(&CallResult) -> futures_util::future::BoxFuture<'static, bool> + Send + Sync>;

/// One logical request: a prompt sent through a chain until it is answered.
#[derive(Clone, Default)]
pub struct PromptRequest {
    pub prompt_id: String,
    pub repeat: u32,
    /// Shared: every repeat of a prompt sends the same messages, and the
    /// caller builds them once.
    pub messages: Arc<[wire::Message]>,
    pub stream: bool,
    pub max_tokens: Option<u32>,
    /// Sampling temperature passed to every call.
    pub temperature: Option<f32>,
    /// Sampling seed passed to every call.
    pub seed: Option<u64>,
    /// Target ids in order of preference (unknown ids are ignored); shared
    /// by the prompts of a run.
    pub chain: Arc<[String]>,
    /// Optional: an `ok` answer this rejects counts as a failure (retried and
    /// blamed like an invalid response).
    pub accept: Option<AcceptFn>,
}

impl fmt::Debug for PromptRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptRequest")
            .field("prompt_id", &self.prompt_id)
            .field("repeat", &self.repeat)
            .field("messages", &self.messages.len())
            .field("stream", &self.stream)
            .field("max_tokens", &self.max_tokens)
            .field("chain", &self.chain)
            .field("accept", &self.accept.is_some())
            .finish()
    }
}

impl PromptRequest {
    /// The size the engine assumes: ceil(characters / 4) of every message
    /// plus `max_tokens`.
    pub fn estimated_tokens(&self) -> u64 {
        let chars: usize = self
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum();
        (chars as u64).div_ceil(4) + u64::from(self.max_tokens.unwrap_or(0))
    }
}

/// Why a prompt gave up, and how long it would have had to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GiveUp {
    pub reason: GiveUpReason,
    /// For `Deadline`: the wait that would have ended past the deadline.
    pub would_wait: Option<Duration>,
}

/// An error that stops the whole run; the caller exits with code 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fatal {
    #[error(
        "authentication failed at provider {provider} (model {model}, HTTP 401): {message}; \
         check the API key in the provider's key variable"
    )]
    Auth {
        provider: String,
        model: String,
        message: String,
    },
}

/// The end of one logical request.
#[derive(Debug, Clone)]
pub struct PromptResult {
    /// The answer, or the last failed attempt when the prompt gave up (the
    /// same allocation as the attempt event's `result`).
    pub final_result: Option<Arc<CallResult>>,
    /// The model of `final_result`.
    pub model: Option<String>,
    /// HTTP attempts made.
    pub attempts: u32,
    /// Distinct models that received an attempt.
    pub hops: u32,
    /// Time spent sleeping (waits and limiter slots).
    pub waited: Duration,
    /// Fallback events (switches between models, the initial skip of the
    /// primary included).
    pub fallbacks: u32,
    pub gave_up: Option<GiveUp>,
    pub fatal: Option<Fatal>,
    pub elapsed: Duration,
}

impl PromptResult {
    /// An accepted answer arrived.
    pub fn is_ok(&self) -> bool {
        self.gave_up.is_none()
            && self
                .final_result
                .as_ref()
                .is_some_and(|r| r.outcome.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_chars_over_four_plus_max_tokens() {
        let r = PromptRequest {
            messages: vec![
                wire::Message::system("abcde"),
                wire::Message::user("é".repeat(4)),
            ]
            .into(),
            max_tokens: Some(100),
            ..PromptRequest::default()
        };
        assert_eq!(r.estimated_tokens(), 3 + 100);
        assert!(format!("{r:?}").contains("messages: 2"));
    }

    #[test]
    fn fatal_message_names_provider_and_hint_without_secrets() {
        let f = Fatal::Auth {
            provider: "openrouter".into(),
            model: "m:free".into(),
            message: "No auth credentials found".into(),
        };
        let s = f.to_string();
        assert!(s.contains("openrouter") && s.contains("401") && s.contains("key variable"));
    }
}
