//! What one attempt's result does to the shared state and to the prompt.
//!
//! - **ok** (and accepted): the prompt is answered; breaker success, latency
//!   EWMA, pacing grows.
//! - **429**, by scope (the client decides it): `account_minute` → cooldown
//!   on the whole provider group (rotating among its models cannot help);
//!   `account_day` → the group's quota is spent until the server's reset (or
//!   the next period end), one `quota_exhausted` event; `upstream` → cooldown
//!   on the model; `model`/`unknown` → cooldown on the model. A 429 that
//!   gives no wait hint (and no known limit applies) also lowers the AIMD
//!   pacing rate of the model (`model`/`unknown`) or group
//!   (`account_minute`): a server that says when to come back is followed,
//!   one that says nothing is paced.
//!   The cooldown is the latest response's hint (`wait_ms`: Retry-After wins,
//!   else the reset), else the prompt's next backoff; a later hint replaces
//!   an earlier one. A hint longer than an open breaker's period extends it.
//!   Adaptive leaves a model that answered the prompt such a 429 of its own
//!   (the prompt moves on; other prompts still weigh the model).
//!   A 429 of the model's own makes it *suspect*: under the adaptive policy
//!   the first request after its cooldown probes it and the other prompts
//!   keep away until that probe is answered (any answer but another such
//!   429 clears the suspicion).
//!   Fallback-first leaves the model at once.
//! - **5xx, overloaded, timeout, network, invalid response, rejected by
//!   `accept`**: breaker failure, the prompt waits the response's hint (a 503
//!   with Retry-After) or else its next backoff before the same model again and leaves it after `same_model_retries` retries; a
//!   failure after content started leaves it at once (the prompt restarts
//!   on the next choice, never splicing).
//! - **400/403/404**: the model is incompatible for the run (no retry);
//!   `context_length_exceeded` only excludes it for this prompt.
//! - **401**: the run stops ([`Fatal::Auth`]). **402**: the provider is out
//!   for the run.

use std::time::Duration;

use tokio::time::Instant;

use super::clock::{Clock, after};
use super::config::{EngineConfig, Policy};
use super::events::{Event, FallbackReason};
use super::limiter::{RateStore, WindowLimit};
use super::prompt::PromptState;
use super::request::Fatal;
use super::state::{Cooldown, Shared, breaker_event, report_quota};
use crate::client::CallResult;
use crate::record::{Outcome, RateLimitScope};

/// What the driver does after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Answered,
    Continue,
    Fatal(Fatal),
}

/// True when the error says the prompt is too long for the model.
fn is_context_length(r: &CallResult) -> bool {
    let has = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("context_length"))
    };
    has(&r.error_type) || has(&r.error_message)
}

/// Everything an attempt needs to settle.
pub(crate) struct Settle<'a> {
    pub cfg: &'a EngineConfig,
    pub store: &'a dyn RateStore,
    pub clock: &'a Clock,
    pub now: Instant,
}

impl Shared {
    /// Applies the result of an attempt on `t` to the shared state and the
    /// prompt and pushes any state change event. Also says whether sleeping
    /// prompts should decide again (see `availability_improves`).
    pub fn settle(
        &mut self,
        s: &Settle<'_>,
        p: &mut PromptState,
        t: usize,
        r: &CallResult,
        accepted: Option<bool>,
        events: &mut Vec<Event>,
    ) -> (Verdict, bool) {
        let improved = self.availability_improves(t, r, s);
        (self.apply(s, p, t, r, accepted, events), improved)
    }

    /// Whether settling `r` may make a model available sooner than prompts
    /// asleep planned: a cooldown shortened by a newer hint, or the end of a
    /// half-open probe.
    fn availability_improves(&self, t: usize, r: &CallResult, s: &Settle<'_>) -> bool {
        let m = &self.models[t];
        if m.breaker.state() == super::breaker::BreakerState::HalfOpen || m.rate_probe.is_some() {
            return true;
        }
        if r.outcome != Outcome::RateLimited {
            return false;
        }
        let Some(h) = r.hints.wait_ms(s.clock.epoch_ms(s.now)) else {
            return false;
        };
        let until = after(s.now, Duration::from_millis(h));
        let current = match r.scope {
            Some(RateLimitScope::AccountMinute) => self.groups[m.group].cooldown,
            Some(RateLimitScope::AccountDay) => None,
            _ => m.cooldown,
        };
        current.is_some_and(|c| until < c.until)
    }

    fn apply(
        &mut self,
        s: &Settle<'_>,
        p: &mut PromptState,
        t: usize,
        r: &CallResult,
        accepted: Option<bool>,
        events: &mut Vec<Event>,
    ) -> Verdict {
        let now = s.now;
        p.note_attempt(t);
        let group = self.models[t].group;
        let m = &mut self.models[t];
        m.counters.attempts += 1;
        // Whatever the answer, it is the news a probe was waiting for.
        m.rate_probe = None;
        m.rate_suspect = match (r.outcome, r.scope) {
            (
                Outcome::RateLimited,
                Some(RateLimitScope::AccountMinute | RateLimitScope::AccountDay),
            ) => m.rate_suspect,
            (Outcome::RateLimited, _) => true,
            _ => false,
        };
        let epoch_now = s.clock.epoch_ms(now);
        let hint = r.hints.wait_ms(epoch_now).map(Duration::from_millis);

        // Learn a per-minute limit from X-RateLimit-Limit when none is
        // configured: the account's when a 429 says the account's minute is
        // spent (OpenRouter), else the model's own (OpenAI and LiteLLM send
        // x-ratelimit-limit-requests per model on every response).
        if let Some(limit) = r.hints.limit.filter(|l| *l > 0)
            && r.scope != Some(RateLimitScope::AccountDay)
        {
            let limit = u32::try_from(limit).unwrap_or(u32::MAX);
            if r.scope == Some(RateLimitScope::AccountMinute) {
                let g = &mut self.groups[group];
                if g.limits.per_window.is_none() {
                    g.learned_limit = Some(limit);
                }
            } else if m.limit.is_none() {
                m.limit = Some(
                    WindowLimit {
                        max: limit,
                        window: self.groups[group].limits.window,
                    }
                    .with_margin(),
                );
            }
        }
        if r.scope == Some(RateLimitScope::AccountMinute)
            && let Some(h) = hint
        {
            let g = &self.groups[group];
            s.store
                .align_window(&g.store_key, g.limits.window, after(now, h));
        }
        let m = &mut self.models[t];

        match r.outcome {
            Outcome::Ok if accepted != Some(false) => {
                m.stats.record_admitted(now);
                let latency = r.timings.end.saturating_duration_since(r.timings.sent);
                m.stats.record_success(latency.as_secs_f64() * 1000.0, now);
                m.counters.successes += 1;
                m.pacer.on_success();
                if let Some(tr) = m.breaker.on_success() {
                    events.push(breaker_event(&m.target.id, tr));
                }
                self.groups[group].pacer.on_success();
                Verdict::Answered
            }
            Outcome::RateLimited => {
                m.counters.rate_limited += 1;
                m.breaker.on_neutral();
                if let Some(h) = hint {
                    // An open period ending earlier is extended to the server's wait.
                    m.breaker.extend(after(now, h));
                }
                let scope = r.scope.unwrap_or(RateLimitScope::Unknown);
                if !matches!(
                    scope,
                    RateLimitScope::AccountMinute | RateLimitScope::AccountDay
                ) {
                    m.stats.record_rejected(now);
                }
                let n = p.attempts.saturating_sub(1);
                let cooldown = |p: &mut PromptState| match hint {
                    Some(h) => Cooldown {
                        until: after(now, h),
                        hint: true,
                        prompt: p.serial,
                    },
                    None => Cooldown {
                        until: after(now, p.backoff.delay(n)),
                        hint: false,
                        prompt: p.serial,
                    },
                };
                match scope {
                    RateLimitScope::AccountDay => {
                        let g = &mut self.groups[group];
                        let until = hint
                            .map(|h| after(now, h))
                            .filter(|u| *u > now)
                            .unwrap_or_else(|| g.daily.period_end(now));
                        s.store.exhaust_daily(&g.store_key, &g.daily, until, now);
                        report_quota(g, until, s.clock, now, events);
                    }
                    RateLimitScope::AccountMinute => {
                        let g = &mut self.groups[group];
                        g.cooldown = Some(cooldown(p));
                        if hint.is_none() && g.window_limit().is_none() {
                            g.pacer.on_rate_limited(r.timings.sent, now);
                        }
                    }
                    RateLimitScope::Upstream => m.cooldown = Some(cooldown(p)),
                    RateLimitScope::Model | RateLimitScope::Unknown => {
                        m.cooldown = Some(cooldown(p));
                        if hint.is_none() && m.limit.is_none() {
                            m.pacer.on_rate_limited(r.timings.sent, now);
                        }
                    }
                }
                // Adaptive: a model that refused this prompt with a 429 of its
                // own is left by the prompt (its retry budget is not spent
                // bouncing on it); other prompts decide by the estimates.
                let own = !matches!(
                    scope,
                    RateLimitScope::AccountMinute | RateLimitScope::AccountDay
                );
                if s.cfg.policy == Policy::Adaptive && own {
                    p.leave(t, FallbackReason::RateLimited);
                }
                if s.cfg.policy == Policy::FallbackFirst {
                    let reason = if scope == RateLimitScope::AccountDay {
                        FallbackReason::Quota
                    } else {
                        FallbackReason::RateLimited
                    };
                    p.leave(t, reason);
                }
                Verdict::Continue
            }
            Outcome::Auth => {
                let fatal = Fatal::Auth {
                    provider: m.target.provider.clone(),
                    model: m.target.id.clone(),
                    // The status is in Fatal's own text.
                    message: r
                        .error_message
                        .as_deref()
                        .map(|m| m.strip_prefix("HTTP 401: ").unwrap_or(m).to_string())
                        .unwrap_or_else(|| "the server rejected the API key".into()),
                };
                self.fatal.get_or_insert(fatal.clone());
                Verdict::Fatal(fatal)
            }
            Outcome::Payment => {
                m.breaker.on_neutral();
                self.disabled.insert(m.target.provider.clone());
                p.leave(t, FallbackReason::Payment);
                Verdict::Continue
            }
            Outcome::BadRequest | Outcome::Forbidden | Outcome::NotFound => {
                m.breaker.on_neutral();
                if is_context_length(r) {
                    p.too_long.insert(t);
                    p.leave(t, FallbackReason::ContextLength);
                } else {
                    m.incompatible = true;
                    p.leave(t, FallbackReason::Incompatible);
                }
                Verdict::Continue
            }
            // Server errors, overload, timeouts, network, invalid or
            // rejected answers: the model is blamed.
            Outcome::Ok
            | Outcome::Overloaded
            | Outcome::ServerError
            | Outcome::Timeout
            | Outcome::Network
            | Outcome::InvalidResponse => {
                m.stats.record_admitted(now);
                m.stats.record_failure(now);
                m.counters.failures += 1;
                if let Some(tr) = m.breaker.on_failure(now) {
                    events.push(breaker_event(&m.target.id, tr));
                }
                let n = p.attempts.saturating_sub(1);
                let wait = match hint {
                    Some(h) => {
                        m.breaker.extend(after(now, h));
                        (after(now, h), true)
                    }
                    None => (after(now, p.backoff.delay(n)), false),
                };
                p.not_before.insert(t, wait);
                let errors = p.errors.entry(t).or_insert(0);
                *errors += 1;
                if r.content_started && !r.outcome.is_ok() {
                    p.leave(t, FallbackReason::MidStream);
                } else if *errors > s.cfg.backoff.same_model_retries {
                    p.leave(t, FallbackReason::Error);
                }
                Verdict::Continue
            }
        }
    }
}
