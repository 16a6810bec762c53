//! The state all prompts of a run share: per model (breaker, cooldown,
//! pacing, live stats, counters) and per provider group (limiter or pacing,
//! daily quota, cooldown). Lives behind the engine's mutex, which is held
//! only while deciding and settling, never across an await.
//!
//! A *provider group* is the set of a provider's models that share its
//! account limits: with `applies_to_free_only` (OpenRouter), the free models
//! form one group and the others another; without it, all of the provider's
//! models form one group. With no limits configured, free and other models
//! are still told apart, so an account-day 429 on a free model stops only
//! the free ones.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::breaker::{Blocked, Breaker, BreakerState};
use super::clock::{Clock, after};
use super::config::{EngineConfig, Policy, ProviderLimits, Target};
use super::events::Event;
use super::limiter::{DailyLimit, RateStore, WindowLimit};
use super::live::LiveStats;
use super::pacer::Pacer;
use super::policy::{BlockKind, Blocker, Candidate, Exclusion, Subject};
use super::prompt::PromptState;
use super::request::Fatal;

/// Where a cooldown came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cooldown {
    pub until: Instant,
    /// From a server hint (else from backoff).
    pub hint: bool,
    /// The prompt whose 429 set it.
    pub prompt: u64,
}

/// Counters of one model for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub attempts: u32,
    pub successes: u32,
    pub failures: u32,
    pub rate_limited: u32,
    pub rotations_in: u32,
    pub rotations_out: u32,
    pub waits: u32,
    pub wait_ms: u64,
}

#[derive(Debug)]
pub(crate) struct ModelState {
    pub target: Arc<Target>,
    pub group: usize,
    pub store_key: String,
    pub breaker: Breaker,
    pub cooldown: Option<Cooldown>,
    pub pacer: Pacer,
    /// A known per-model limit.
    pub limit: Option<WindowLimit>,
    pub stats: LiveStats,
    pub incompatible: bool,
    pub counters: Counters,
    /// The model's latest answer was a 429 of its own (upstream, model or
    /// unknown scope): under the adaptive policy, once its cooldown ends one
    /// request probes it while the others keep away (no herd of prompts
    /// meeting the same storm at once).
    pub rate_suspect: bool,
    /// The send that probes a suspect model, in flight since.
    pub rate_probe: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct GroupState {
    pub provider: String,
    /// The provider's free models under free-only limits (or, without
    /// limits, its free models).
    pub free_only: bool,
    pub store_key: String,
    pub limits: ProviderLimits,
    pub learned_limit: Option<u32>,
    pub cooldown: Option<Cooldown>,
    pub pacer: Pacer,
    pub daily: DailyLimit,
    /// The end of the exhaustion last reported (one event each).
    pub quota_reported_until: Option<Instant>,
}

impl GroupState {
    /// The known window limit (configured, else learned), margin applied.
    pub fn window_limit(&self) -> Option<WindowLimit> {
        self.limits.per_window.or(self.learned_limit).map(|max| {
            WindowLimit {
                max,
                window: self.limits.window,
            }
            .with_margin()
        })
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub models: Vec<ModelState>,
    pub index: HashMap<String, usize>,
    pub groups: Vec<GroupState>,
    /// Providers out for the run (402).
    pub disabled: HashSet<String>,
    pub fatal: Option<Fatal>,
}

/// Time a lost half-open probe is presumed to need before another may go.
const PROBE_POLL: Duration = Duration::from_millis(250);

impl Shared {
    pub fn new(
        cfg: &EngineConfig,
        targets: Vec<Target>,
        limits: &HashMap<String, ProviderLimits>,
        clock: &Clock,
    ) -> Self {
        let mut shared = Shared {
            models: Vec::new(),
            index: HashMap::new(),
            groups: Vec::new(),
            disabled: HashSet::new(),
            fatal: None,
        };
        let mut group_index: HashMap<(String, &'static str), usize> = HashMap::new();
        for target in targets {
            if shared.index.contains_key(&target.id) {
                continue; // the first target with an id wins
            }
            let configured = limits.get(&target.provider);
            let (sub, group_limits) = match configured {
                Some(l) if !l.applies_to_free_only => ("all", l.clone()),
                Some(l) if target.free => ("free", l.clone()),
                Some(l) => (
                    "paid",
                    ProviderLimits {
                        window: l.window,
                        day: l.day,
                        first_reset: l.first_reset,
                        ..ProviderLimits::default()
                    },
                ),
                None if target.free => ("free", ProviderLimits::default()),
                None => ("paid", ProviderLimits::default()),
            };
            let key = (target.provider.clone(), sub);
            let group = *group_index.entry(key).or_insert_with(|| {
                let first_reset = group_limits
                    .first_reset
                    .unwrap_or_else(|| after(clock.start(), group_limits.day));
                shared.groups.push(GroupState {
                    provider: target.provider.clone(),
                    free_only: sub == "free",
                    store_key: format!("group:{}:{sub}", target.provider),
                    daily: DailyLimit {
                        max: group_limits.per_day,
                        period: group_limits.day,
                        first_reset,
                    },
                    pacer: Pacer::new(group_limits.window),
                    limits: group_limits,
                    learned_limit: None,
                    cooldown: None,
                    quota_reported_until: None,
                });
                shared.groups.len() - 1
            });
            let window = shared.groups[group].limits.window;
            shared.index.insert(target.id.clone(), shared.models.len());
            shared.models.push(ModelState {
                store_key: format!("model:{}", target.id),
                group,
                breaker: Breaker::new(cfg.breaker.clone()),
                cooldown: None,
                pacer: Pacer::new(window),
                limit: None,
                stats: LiveStats::new(target.prior_latency_ms, target.prior_success)
                    .with_half_life(cfg.breaker.cooldown),
                incompatible: false,
                counters: Counters::default(),
                rate_suspect: false,
                rate_probe: None,
                target: Arc::new(target),
            });
        }
        shared
    }

    /// Each chain model as the policy sees it at `now`, in chain order.
    pub fn candidates(
        &self,
        p: &PromptState,
        store: &dyn RateStore,
        cfg: &EngineConfig,
        now: Instant,
    ) -> Vec<Candidate> {
        p.chain
            .iter()
            .enumerate()
            .map(|(pos, &t)| self.candidate(p, t, pos, store, cfg, now))
            .collect()
    }

    fn candidate(
        &self,
        p: &PromptState,
        t: usize,
        chain_pos: usize,
        store: &dyn RateStore,
        cfg: &EngineConfig,
        now: Instant,
    ) -> Candidate {
        let m = &self.models[t];
        let g = &self.groups[m.group];
        let too_long =
            p.too_long.contains(&t) || m.target.context_length.is_some_and(|c| p.est_tokens > c);
        let excluded = if m.incompatible {
            Some(Exclusion::Incompatible)
        } else if self.disabled.contains(&m.target.provider) {
            Some(Exclusion::ProviderDisabled)
        } else if too_long {
            Some(Exclusion::ContextLength)
        } else {
            None
        };

        let mut ready = now;
        let mut blocker: Option<Blocker> = None;
        let mut consider = |until: Instant, kind: BlockKind, subject: Subject| {
            if until > ready {
                ready = until;
                blocker = Some(Blocker { kind, subject });
            }
        };
        let cooldown_kind = |c: &Cooldown| BlockKind::Cooldown {
            hint: c.hint,
            own: c.prompt == p.serial,
        };
        if let Some(c) = &m.cooldown {
            consider(c.until, cooldown_kind(c), Subject::Model);
        }
        if let Some(c) = &g.cooldown {
            consider(c.until, cooldown_kind(c), Subject::Provider);
        }
        if let Some(until) = quota_blocked(&store.daily(&g.store_key, &g.daily, now), &g.daily) {
            consider(until, BlockKind::Quota, Subject::Provider);
        }
        match m.breaker.blocked(now) {
            Some(Blocked::Open(until)) => consider(until, BlockKind::Breaker, Subject::Model),
            Some(Blocked::Probing(since)) => {
                let lost = after(since, cfg.attempt_timeout);
                if lost > now {
                    let est = after(since, m.stats.expected_latency()).max(after(now, PROBE_POLL));
                    consider(est.min(lost), BlockKind::Breaker, Subject::Model);
                }
            }
            None => {}
        }
        if cfg.policy == Policy::Adaptive
            && m.rate_suspect
            && let Some(since) = m.rate_probe
        {
            let lost = after(since, cfg.attempt_timeout);
            if lost > now {
                let est = after(since, m.stats.expected_latency()).max(after(now, PROBE_POLL));
                let probing = BlockKind::Cooldown {
                    hint: false,
                    own: false,
                };
                consider(est.min(lost), probing, Subject::Model);
            }
        }
        if let Some(&(nb, hint)) = p.not_before.get(&t) {
            consider(nb, BlockKind::Backoff { hint }, Subject::Model);
        }

        let (slot_at, slot_on) = self.peek_slot(t, store, ready);
        Candidate {
            target: t,
            chain_pos,
            excluded,
            left: p.left.get(&t).copied(),
            ready_at: ready,
            blocker,
            slot_at,
            slot_on,
            expected_latency: m.stats.expected_latency(),
            p_success: m.stats.p_answer(now),
        }
    }

    /// The limiter slot model `t` would get at `at`, and whose limiter sets it.
    fn peek_slot(
        &self,
        t: usize,
        store: &dyn RateStore,
        at: Instant,
    ) -> (Instant, Option<Subject>) {
        let m = &self.models[t];
        let g = &self.groups[m.group];
        let group_slot = match g.window_limit() {
            Some(wl) => store.peek_slot(&g.store_key, wl, at),
            None => g.pacer.peek(at),
        };
        let mut model_slot = m.pacer.peek(at);
        if let Some(l) = m.limit {
            model_slot = model_slot.max(store.peek_slot(&m.store_key, l, at));
        }
        let slot = group_slot.max(model_slot).max(at);
        let on = if slot == at {
            None
        } else if group_slot >= model_slot {
            Some(Subject::Provider)
        } else {
            Some(Subject::Model)
        };
        (slot, on)
    }

    /// Takes the limiter slots, counts the quota unit and admits a breaker
    /// probe for a send to `t` decided for `at`. Returns the send time.
    pub fn commit_send(
        &mut self,
        t: usize,
        at: Instant,
        store: &dyn RateStore,
        clock: &Clock,
        now: Instant,
        events: &mut Vec<Event>,
    ) -> Instant {
        let group = self.models[t].group;
        let g = &mut self.groups[group];
        let mut send_at = at;
        match g.window_limit() {
            Some(wl) => send_at = send_at.max(store.reserve_slot(&g.store_key, wl, at)),
            None => {
                send_at = send_at.max(g.pacer.reserve(at));
                // Log the send anyway, so a limit learned later counts it.
                let record_only = WindowLimit {
                    max: u32::MAX,
                    window: g.limits.window,
                };
                store.reserve_slot(&g.store_key, record_only, at);
            }
        }
        let st = store.consume_daily(&g.store_key, &g.daily, now);
        if let Some(until) = quota_blocked(&st, &g.daily) {
            report_quota(g, until, clock, now, events);
        }
        let m = &mut self.models[t];
        send_at = send_at.max(m.pacer.reserve(at));
        match m.limit {
            Some(l) => send_at = send_at.max(store.reserve_slot(&m.store_key, l, at)),
            None => {
                // As for the group: a limit learned later counts this send.
                let record_only = WindowLimit {
                    max: u32::MAX,
                    window: self.groups[group].limits.window,
                };
                store.reserve_slot(&m.store_key, record_only, at);
            }
        }
        let m = &mut self.models[t];
        if let Some(tr) = m.breaker.on_send(send_at) {
            events.push(breaker_event(&m.target.id, tr));
        }
        if m.rate_suspect && m.rate_probe.is_none() {
            m.rate_probe = Some(send_at);
        }
        send_at
    }

    /// Whether a send to `t` committed for `send_at` must not go after all:
    /// while the prompt waited for its limiter slot the model's breaker
    /// opened, or a cooldown (the model's or its account's) or a server's
    /// quota exhaustion began. The commit's probe marks are released; the
    /// slot and the quota unit stay spent (the limiter errs on the safe side).
    pub fn abandon_if_blocked(
        &mut self,
        t: usize,
        send_at: Instant,
        store: &dyn RateStore,
        now: Instant,
    ) -> bool {
        let m = &self.models[t];
        let g = &self.groups[m.group];
        let blocked = matches!(m.breaker.blocked(now), Some(Blocked::Open(_)))
            || m.cooldown.is_some_and(|c| c.until > now)
            || g.cooldown.is_some_and(|c| c.until > now)
            || store
                .daily(&g.store_key, &g.daily, now)
                .exhausted_until
                .is_some_and(|u| u > now);
        if blocked {
            let m = &mut self.models[t];
            m.breaker.release_probe(send_at);
            if m.rate_probe == Some(send_at) {
                m.rate_probe = None;
            }
        }
        blocked
    }

    /// A per-model summary for the run report.
    pub fn snapshot(&self, store: &dyn RateStore, clock: &Clock, now: Instant) -> EngineSnapshot {
        let models = self
            .models
            .iter()
            .map(|m| ModelSnapshot {
                id: m.target.id.clone(),
                provider: m.target.provider.clone(),
                breaker: m.breaker.state(),
                breaker_opens: m.breaker.opens(),
                counters: m.counters,
                incompatible: m.incompatible,
                ewma_latency_ms: m.stats.ewma_ms(),
                p_success: m.stats.p_success(now),
                paced_rate: m.pacer.rate(),
                cooldown_ms: m
                    .cooldown
                    .map(|c| c.until.saturating_duration_since(now).as_millis() as u64)
                    .filter(|ms| *ms > 0),
            })
            .collect();
        let providers = self
            .groups
            .iter()
            .map(|g| {
                let st = store.daily(&g.store_key, &g.daily, now);
                ProviderSnapshot {
                    provider: g.provider.clone(),
                    free_only: g.free_only,
                    used_in_period: st.used,
                    quota_exhausted_until_epoch_ms: quota_blocked(&st, &g.daily)
                        .map(|u| clock.epoch_ms(u)),
                    known_limit: g.limits.per_window,
                    learned_limit: g.learned_limit,
                    paced_rate: g.pacer.rate(),
                    disabled: self.disabled.contains(&g.provider),
                }
            })
            .collect();
        EngineSnapshot { models, providers }
    }
}

/// When a spent quota frees up, if it is spent.
pub(crate) fn quota_blocked(
    st: &super::limiter::DailyState,
    limit: &DailyLimit,
) -> Option<Instant> {
    st.exhausted_until.or_else(|| {
        limit
            .max
            .filter(|max| st.used >= *max)
            .map(|_| st.period_end)
    })
}

/// Emits `quota_exhausted` once per exhaustion of `g`.
pub(crate) fn report_quota(
    g: &mut GroupState,
    until: Instant,
    clock: &Clock,
    now: Instant,
    events: &mut Vec<Event>,
) {
    if g.quota_reported_until.is_some_and(|u| u > now) {
        return;
    }
    g.quota_reported_until = Some(until);
    events.push(Event::QuotaExhausted {
        provider: g.provider.clone(),
        free_only: g.free_only,
        until_ms: until.saturating_duration_since(now).as_millis() as u64,
        until_epoch_ms: clock.epoch_ms(until),
    });
}

pub(crate) fn breaker_event(model: &str, tr: super::breaker::Transition) -> Event {
    Event::Breaker {
        model: model.to_string(),
        from: tr.from,
        to: tr.to,
        open_for_ms: tr.open_for.map(|d| d.as_millis() as u64),
    }
}

/// One model's state for the run summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSnapshot {
    pub id: String,
    pub provider: String,
    pub breaker: BreakerState,
    pub breaker_opens: u32,
    #[serde(flatten)]
    pub counters: Counters,
    pub incompatible: bool,
    pub ewma_latency_ms: Option<f64>,
    pub p_success: f64,
    /// Sends per window when AIMD pacing is on.
    pub paced_rate: Option<f64>,
    /// Remaining cooldown.
    pub cooldown_ms: Option<u64>,
}

/// One provider group's state for the run summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderSnapshot {
    pub provider: String,
    pub free_only: bool,
    pub used_in_period: u32,
    pub quota_exhausted_until_epoch_ms: Option<u64>,
    pub known_limit: Option<u32>,
    pub learned_limit: Option<u32>,
    pub paced_rate: Option<f64>,
    pub disabled: bool,
}

/// Everything [`super::Engine::snapshot`] reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineSnapshot {
    pub models: Vec<ModelSnapshot>,
    pub providers: Vec<ProviderSnapshot>,
}

impl EngineSnapshot {
    /// The snapshot of model `id`.
    pub fn model(&self, id: &str) -> Option<&ModelSnapshot> {
        self.models.iter().find(|m| m.id == id)
    }
}
