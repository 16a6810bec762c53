//! The rotation engine: sends one prompt at a time through a chain of models
//! (any providers; a local server can be last), deciding for every attempt
//! which model to use, how long to wait and when to give up. Shared by all
//! concurrent prompts of a run: cooldowns, limiters, quotas and breakers are
//! run-wide state. The engine never prints or writes files; every decision
//! is an [`Event`] for the caller's [`Observer`].
//!
//! # Semantics
//!
//! **Time.** Everything runs on `tokio::time::Instant` ([`Clock`]), with an
//! epoch view derived from it so server resets given as epoch milliseconds
//! work under paused time. Provider windows and days are configurable
//! durations (a "minute" may be 1.2 s against the simulator).
//!
//! **Per model**: a circuit breaker ([`breaker`]: 5 consecutive failures
//! open it for 30 s, then one half-open probe; each re-open doubles the
//! period up to 10×), a cooldown from the latest 429, optional known limit,
//! AIMD pacing ([`pacer`]), live stats ([`live`]: latency EWMA, Beta success
//! probability from the target's priors, its evidence halving every breaker
//! cooldown so a recovered model is tried again) and counters.
//!
//! **Per provider group** (a provider's free models, or all its models; see
//! `state`): a limiter for account-wide limits — the configured
//! `per_window`, else one learned from `X-RateLimit-Limit`, else AIMD
//! pacing — a daily quota counter (resetting at `first_reset + k·day`, or
//! when an account-day 429 says), and an account cooldown. A spent quota
//! skips every model of the group until the reset, with one
//! `quota_exhausted` event.
//!
//! **Limiter** ([`limiter`]): an exact sliding-window log, at most N sends in
//! any `[t − W·1.02, t)`, reservation-based so concurrent prompts get
//! distinct slots; state behind [`RateStore`] so a shared store can replace
//! the in-process one. A prompt that waited for a slot checks its model
//! again when the slot comes (a breaker opened or a cooldown began in the
//! meantime: it decides anew, the slot stays spent).
//!
//! **A 429's scope** decides the answer: `account_minute` → cooldown on the
//! whole group (rotating within it cannot help); `account_day` → the group's
//! quota is spent until reset (other providers and the provider's non-free
//! models stay usable); `upstream`/`model`/`unknown` → cooldown on that
//! model only. The cooldown is the latest response's hint (Retry-After,
//! else reset − now), else backoff.
//!
//! **Backoff** ([`backoff`]): full jitter, `rand(0, min(cap, base·factor^n))`
//! with n the index of the failed attempt in the prompt; one retry budget per
//! prompt (default 5 retries, so at most 6 attempts) kept across fallbacks.
//! The HTTP client never retries.
//!
//! **Policies** ([`policy`], pure): `fallback-first` (on a 429 move to the
//! next model at once; on errors retry the same model after backoff, then
//! move on; when the chain is exhausted wait for the earliest model the
//! deadline allows), `wait-first { max_wait }` (wait the server's time on the
//! primary unless that exceeds `max_wait`; fall back on breaker/quota at once
//! and on other errors after one retry), `adaptive` (lowest
//! `(wait + expected latency) / p_success`, chain order within a 20 %
//! margin; chosen afresh for every attempt, so the primary is used again as
//! soon as its Retry-After ends).
//!
//! **Error classes** (module `outcome`): 401 stops the run ([`Fatal::Auth`], exit
//! code 3 for the caller); 402 takes the provider out for the run;
//! 400/403/404 move on without retrying and mark the model incompatible for
//! the run (`context_length_exceeded` only skips it for that prompt);
//! 5xx/overload/timeouts/network/invalid answers are retried with backoff
//! and count for the breaker; a stream that failed after content started is
//! never spliced — the prompt restarts on the next choice.
//!
//! **Context length**: a prompt whose estimate (characters / 4 +
//! `max_tokens`) exceeds a target's `context_length` skips it (fallback
//! reason `context_length`).
//!
//! **Deadline**: per prompt (default 120 s). The engine never sleeps past
//! it: a wait that would end after it is not taken (give-up reason
//! `deadline`, with the wait it would have needed), and the time left caps
//! every call's total and first-byte timeouts.

pub mod backoff;
pub mod breaker;
pub mod clock;
pub mod config;
mod driver;
pub mod events;
pub mod limiter;
pub mod live;
mod outcome;
pub mod pacer;
pub mod policy;
mod prompt;
pub mod request;
mod state;
pub mod transport;

#[cfg(test)]
mod tests;

pub use backoff::{Backoff, BackoffConfig};
pub use breaker::{BreakerConfig, BreakerState};
pub use clock::Clock;
pub use config::{EngineConfig, Policy, ProviderLimits, Target, UnknownPolicy};
pub use driver::Engine;
pub use events::{
    EngineEvent, Event, EventLog, FallbackReason, GiveUpReason, NullObserver, Observer, WaitReason,
};
pub use limiter::{DailyLimit, DailyState, InMemoryStore, RateStore, WindowLimit};
pub use request::{AcceptFn, Fatal, GiveUp, PromptRequest, PromptResult};
pub use state::{Counters, EngineSnapshot, ModelSnapshot, ProviderSnapshot};
pub use transport::{BoxFuture, Transport};
