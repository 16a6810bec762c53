//! The engine's settings: policy, targets and provider limits.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::BackoffConfig;
use super::breaker::BreakerConfig;
use crate::client::Endpoint;

/// How the engine chooses the model for each attempt.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Policy {
    /// Lowest expected time to a good answer (the default).
    #[default]
    Adaptive,
    /// On a 429 move to the next model at once (the TTA seed).
    FallbackFirst,
    /// Wait the server's time on the primary up to `max_wait` (the
    /// coffee_maker seed; default 300 s).
    WaitFirst { max_wait: Duration },
}

impl Policy {
    /// `wait-first` with the seed's 300 s.
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(300);

    /// The name used in the registry and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Adaptive => "adaptive",
            Policy::FallbackFirst => "fallback-first",
            Policy::WaitFirst { .. } => "wait-first",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown policy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rotation policy '{name}': expected adaptive, fallback-first or wait-first")]
pub struct UnknownPolicy {
    pub name: String,
}

impl FromStr for Policy {
    type Err = UnknownPolicy;

    /// `adaptive`, `fallback-first`, `wait-first` (max_wait 300 s; set it
    /// afterwards), underscores accepted for hyphens.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "adaptive" => Ok(Policy::Adaptive),
            "fallback-first" => Ok(Policy::FallbackFirst),
            "wait-first" => Ok(Policy::WaitFirst {
                max_wait: Policy::DEFAULT_MAX_WAIT,
            }),
            _ => Err(UnknownPolicy {
                name: s.to_string(),
            }),
        }
    }
}

/// Engine settings for a run.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub policy: Policy,
    pub backoff: BackoffConfig,
    pub breaker: BreakerConfig,
    /// Per prompt, from the call to [`super::Engine::run`]; never overslept.
    pub deadline: Duration,
    /// Adaptive: prefer chain order among models whose expected cost is
    /// within `(1 + margin)` of the best.
    pub adaptive_margin: f64,
    /// Seed of the backoff jitter.
    pub seed: u64,
    /// Per call: headers must arrive within this (capped by the deadline).
    pub first_byte_timeout: Duration,
    /// Per call: total time (capped by the deadline).
    pub attempt_timeout: Duration,
}

impl Default for EngineConfig {
    /// Adaptive; backoff 1 s…60 s, 5 retries; breaker 5 failures / 30 s;
    /// deadline 120 s; margin 0.2; seed 0; first byte 30 s; attempt 90 s.
    fn default() -> Self {
        EngineConfig {
            policy: Policy::Adaptive,
            backoff: BackoffConfig::default(),
            breaker: BreakerConfig::default(),
            deadline: Duration::from_secs(120),
            adaptive_margin: 0.2,
            seed: 0,
            first_byte_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(90),
        }
    }
}

/// One model behind one endpoint: what a chain is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The model id sent in requests (unique within an engine).
    pub id: String,
    /// Provider name; the key of [`ProviderLimits`].
    pub provider: String,
    pub endpoint: Endpoint,
    /// Context window in tokens, when known.
    pub context_length: Option<u64>,
    /// A free variant (subject to the provider's free-tier limits).
    pub free: bool,
    /// Measured latency from earlier runs (the adaptive policy's prior).
    pub prior_latency_ms: Option<f64>,
    /// Measured success rate from earlier runs (the Beta prior's mean).
    pub prior_success: Option<f64>,
}

/// Account-wide limits of a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderLimits {
    /// Requests per `window`, when known (OpenRouter free: 20 per minute).
    pub per_window: Option<u32>,
    /// 60 s, or scaled against a simulator.
    pub window: Duration,
    /// Requests per `day`, when known (OpenRouter free: 50).
    pub per_day: Option<u32>,
    /// 24 h, or scaled.
    pub day: Duration,
    /// The first daily reset (the next 00:00 UTC, see
    /// [`super::Clock::next_utc_midnight`]); `None`: engine start + `day`.
    pub first_reset: Option<Instant>,
    /// The limits apply to the provider's free models only.
    pub applies_to_free_only: bool,
}

impl Default for ProviderLimits {
    /// No known limits, a 60 s window, a 24 h day, all models.
    fn default() -> Self {
        ProviderLimits {
            per_window: None,
            window: Duration::from_secs(60),
            per_day: None,
            day: Duration::from_secs(86_400),
            first_reset: None,
            applies_to_free_only: false,
        }
    }
}

impl ProviderLimits {
    /// OpenRouter's free tier: 20/minute and 50/day, free models only.
    pub fn openrouter_free() -> Self {
        ProviderLimits {
            per_window: Some(20),
            per_day: Some(50),
            applies_to_free_only: true,
            ..ProviderLimits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for p in [
            Policy::Adaptive,
            Policy::FallbackFirst,
            Policy::WaitFirst {
                max_wait: Policy::DEFAULT_MAX_WAIT,
            },
        ] {
            assert_eq!(p.name().parse::<Policy>().unwrap(), p);
        }
        assert_eq!("WAIT_FIRST".parse::<Policy>().unwrap().name(), "wait-first");
        let e = "fastest".parse::<Policy>().unwrap_err();
        assert!(e.to_string().contains("'fastest'"));
    }
}
