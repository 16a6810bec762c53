//! The rotation policy: a pure function from the chain's candidates (each
//! model's state as seen at `now`) and the prompt's progress to the next
//! step — send to a model (possibly at a future limiter slot), wait for a
//! model to become available and decide again, or give up.
//!
//! Terms: a candidate is *usable* unless excluded for the run (incompatible,
//! provider out after a 402) or the prompt (does not fit its context); it is
//! *left* once the prompt moved on from it (see the driver); its *ready* time
//! is the end of its longest blocker (cooldown, quota, breaker, the prompt's
//! backoff); its *start* time is the limiter slot it would get from then.
//!
//! - **fallback-first**: stay on the current model while it is not left and
//!   only waits for its backoff; otherwise take the first model in chain
//!   order that is not left and ready now.
//! - **wait-first** (`max_wait`): the first model in chain order that is not
//!   left and whose start is within `max_wait` (an open breaker or a spent
//!   quota is never waited for here).
//! - **adaptive**: among models not left (all usable ones if none of those
//!   can start before the deadline), the lowest
//!   `(start − now + expected_latency) / p_success`, preferring chain order
//!   within `(1 + margin)` of the best. `p_success` includes the chance of
//!   not meeting a 429 of the model's own, and a model whose latest answer
//!   was such a 429 is blocked while another prompt's probe of it is in
//!   flight (see `state`).
//!
//! When a policy finds nothing, every usable model is considered and the one
//! that starts earliest is waited for (not-left models and chain order break
//! ties). Nothing starts at or after the deadline: that gives up with reason
//! `deadline` and the wait it would have needed.

use std::time::Duration;

use tokio::time::Instant;

use super::config::Policy;
use super::events::{FallbackReason, GiveUpReason, WaitReason};

/// Why a candidate cannot be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// 400/403/404 earlier in the run.
    Incompatible,
    /// The prompt does not fit (estimate or a `context_length_exceeded`).
    ContextLength,
    /// The provider answered 402.
    ProviderDisabled,
}

/// Whose state a blocker or slot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Model,
    Provider,
}

/// What keeps a candidate from being ready now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A 429's cooldown: from a server hint or from backoff; `own` when this
    /// prompt's 429 set it.
    Cooldown { hint: bool, own: bool },
    /// The daily quota is spent.
    Quota,
    /// Breaker open, or half-open with its probe in flight.
    Breaker,
    /// This prompt's wait before the same model again after an error: the
    /// server's hint when the error carried one (a 503 with Retry-After),
    /// else backoff.
    Backoff { hint: bool },
}

impl BlockKind {
    /// The reason recorded when waiting for it.
    pub fn wait_reason(self) -> WaitReason {
        match self {
            BlockKind::Cooldown { own: false, .. } => WaitReason::Cooldown,
            BlockKind::Cooldown { hint: true, .. } => WaitReason::RetryAfter,
            BlockKind::Cooldown { hint: false, .. } => WaitReason::Backoff,
            BlockKind::Quota => WaitReason::Quota,
            BlockKind::Breaker => WaitReason::Breaker,
            BlockKind::Backoff { hint: true } => WaitReason::RetryAfter,
            BlockKind::Backoff { hint: false } => WaitReason::Backoff,
        }
    }

    /// The reason recorded when moving away from it.
    pub fn fallback_reason(self) -> FallbackReason {
        match self {
            BlockKind::Cooldown { .. } => FallbackReason::RateLimited,
            BlockKind::Quota => FallbackReason::Quota,
            BlockKind::Breaker => FallbackReason::BreakerOpen,
            BlockKind::Backoff { .. } => FallbackReason::Error,
        }
    }
}

/// A blocker and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocker {
    pub kind: BlockKind,
    pub subject: Subject,
}

/// One model of the chain as the policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The engine's index of the target.
    pub target: usize,
    /// Position in the prompt's chain (0: primary).
    pub chain_pos: usize,
    pub excluded: Option<Exclusion>,
    /// The prompt moved on from this model, and why.
    pub left: Option<FallbackReason>,
    /// When no blocker holds it any more (`now` when none does).
    pub ready_at: Instant,
    pub blocker: Option<Blocker>,
    /// The limiter slot it would get at `ready_at` (≥ `ready_at`).
    pub slot_at: Instant,
    /// Whose limiter sets `slot_at`, when it is later than `ready_at`.
    pub slot_on: Option<Subject>,
    pub expected_latency: Duration,
    /// Probability that an attempt brings a good answer (admitted, not
    /// rate-limited by the model, and successful).
    pub p_success: f64,
}

impl Candidate {
    /// When a request could go: the slot at the ready time.
    pub fn start_at(&self) -> Instant {
        self.slot_at.max(self.ready_at)
    }
}

/// The prompt's progress, as the policy needs it.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub policy: Policy,
    pub now: Instant,
    pub deadline: Instant,
    /// The model of the latest attempt.
    pub last: Option<usize>,
    pub attempts: u32,
    /// 1 + the retry budget.
    pub max_attempts: u32,
    pub margin: f64,
}

/// The next step of a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send to `target` at `at` (now, or a limiter slot before the deadline).
    Send { target: usize, at: Instant },
    /// Sleep until `until` (the blocker of `target` ends), then decide again.
    Wait { target: usize, until: Instant },
    GiveUp {
        reason: GiveUpReason,
        would_wait: Option<Duration>,
    },
}

/// Decides the next step. Candidates are in chain order.
pub fn decide(ctx: &Context, cands: &[Candidate]) -> Decision {
    let usable: Vec<&Candidate> = cands.iter().filter(|c| c.excluded.is_none()).collect();
    if usable.is_empty() {
        let all_incompatible = !cands.is_empty()
            && cands.iter().all(|c| {
                matches!(
                    c.excluded,
                    Some(Exclusion::Incompatible | Exclusion::ContextLength)
                )
            });
        return Decision::GiveUp {
            reason: if all_incompatible {
                GiveUpReason::AllIncompatible
            } else {
                GiveUpReason::ChainExhausted
            },
            would_wait: None,
        };
    }
    if ctx.attempts >= ctx.max_attempts {
        return Decision::GiveUp {
            reason: GiveUpReason::RetriesExhausted,
            would_wait: None,
        };
    }
    let chosen = match ctx.policy {
        Policy::FallbackFirst => fallback_first(ctx, &usable),
        Policy::WaitFirst { max_wait } => wait_first(ctx, &usable, max_wait),
        Policy::Adaptive => adaptive(ctx, &usable),
    };
    chosen.unwrap_or_else(|| earliest(ctx, &usable))
}

/// Why a prompt would move away from `c` (for the `fallback` event).
pub fn reason_for(policy: &Policy, c: &Candidate, now: Instant) -> FallbackReason {
    if let Some(r) = c.left {
        return r;
    }
    match c.excluded {
        Some(Exclusion::Incompatible) => return FallbackReason::Incompatible,
        Some(Exclusion::ContextLength) => return FallbackReason::ContextLength,
        Some(Exclusion::ProviderDisabled) => return FallbackReason::Payment,
        None => {}
    }
    let too_long = |w: Duration| matches!(policy, Policy::WaitFirst { max_wait } if w > *max_wait);
    if let Some(b) = c.blocker.filter(|_| c.ready_at > now) {
        let waitable = matches!(
            b.kind,
            BlockKind::Cooldown { .. } | BlockKind::Backoff { .. }
        );
        if waitable && too_long(c.start_at() - now) {
            return FallbackReason::MaxWait;
        }
        return b.kind.fallback_reason();
    }
    if c.slot_at > now {
        if too_long(c.slot_at - now) {
            return FallbackReason::MaxWait;
        }
        return FallbackReason::Limiter;
    }
    FallbackReason::Slower
}

/// Wait for `c` or send to it, if it can start before the deadline.
fn go(ctx: &Context, c: &Candidate) -> Option<Decision> {
    if c.start_at() >= ctx.deadline {
        return None;
    }
    Some(if c.ready_at > ctx.now {
        Decision::Wait {
            target: c.target,
            until: c.ready_at,
        }
    } else {
        Decision::Send {
            target: c.target,
            at: c.slot_at.max(ctx.now),
        }
    })
}

fn fallback_first(ctx: &Context, usable: &[&Candidate]) -> Option<Decision> {
    let current = ctx
        .last
        .and_then(|t| usable.iter().find(|c| c.target == t && c.left.is_none()));
    if let Some(cur) = current {
        let only_backoff = cur
            .blocker
            .is_none_or(|b| matches!(b.kind, BlockKind::Backoff { .. }) || cur.ready_at <= ctx.now);
        if only_backoff && let Some(d) = go(ctx, cur) {
            return Some(d);
        }
    }
    usable
        .iter()
        .filter(|c| c.left.is_none() && c.ready_at <= ctx.now)
        .find_map(|c| go(ctx, c))
}

fn wait_first(ctx: &Context, usable: &[&Candidate], max_wait: Duration) -> Option<Decision> {
    usable
        .iter()
        .filter(|c| c.left.is_none())
        .filter(|c| {
            let hard = c.ready_at > ctx.now
                && c.blocker
                    .is_some_and(|b| matches!(b.kind, BlockKind::Breaker | BlockKind::Quota));
            !hard && c.start_at().saturating_duration_since(ctx.now) <= max_wait
        })
        .find_map(|c| go(ctx, c))
}

fn cost(ctx: &Context, c: &Candidate) -> f64 {
    let wait = c.start_at().saturating_duration_since(ctx.now);
    (wait + c.expected_latency).as_secs_f64() / c.p_success.max(f64::MIN_POSITIVE)
}

fn adaptive(ctx: &Context, usable: &[&Candidate]) -> Option<Decision> {
    let in_time = |c: &&&Candidate| c.start_at() < ctx.deadline;
    let fresh: Vec<&Candidate> = usable
        .iter()
        .filter(|c| c.left.is_none())
        .filter(in_time)
        .copied()
        .collect();
    let pool: Vec<&Candidate> = if fresh.is_empty() {
        usable.iter().filter(in_time).copied().collect()
    } else {
        fresh
    };
    let best = pool
        .iter()
        .map(|c| cost(ctx, c))
        .fold(f64::INFINITY, f64::min);
    let bound = best * (1.0 + ctx.margin.max(0.0)) * (1.0 + 1e-9);
    pool.iter()
        .find(|c| cost(ctx, c) <= bound)
        .and_then(|c| go(ctx, c))
}

fn earliest(ctx: &Context, usable: &[&Candidate]) -> Decision {
    let Some(best) = usable
        .iter()
        .min_by_key(|c| (c.start_at(), c.left.is_some(), c.chain_pos))
    else {
        return Decision::GiveUp {
            reason: GiveUpReason::ChainExhausted,
            would_wait: None,
        };
    };
    // A daily quota that resets after the deadline is the reason to name.
    let quota = best.blocker.is_some_and(|b| b.kind == BlockKind::Quota);
    go(ctx, best).unwrap_or(Decision::GiveUp {
        reason: if quota {
            GiveUpReason::Quota
        } else {
            GiveUpReason::Deadline
        },
        would_wait: Some(best.start_at().saturating_duration_since(ctx.now)),
    })
}
