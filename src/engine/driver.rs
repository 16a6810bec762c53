//! The thin async loop: lock, ask the policy, commit, unlock, sleep or call,
//! lock, settle — until the prompt is answered or gives up. Events collected
//! under the lock are handed to the observer after it is released.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::clock::Clock;
use super::config::{EngineConfig, ProviderLimits, Target};
use super::events::{EngineEvent, Event, GiveUpReason, Observer, WaitReason};
use super::limiter::{InMemoryStore, RateStore, WindowLimit};
use super::outcome::{Settle, Verdict};
use super::policy::{self, Context, Decision, Subject};
use super::prompt::PromptState;
use super::request::{Fatal, GiveUp, PromptRequest, PromptResult};
use super::state::{EngineSnapshot, Shared};
use super::transport::Transport;
use crate::client::{CallResult, CallSpec};
use crate::record::Outcome;

/// The rotation engine. Cheap to clone; all clones share one state, which is
/// the point: every concurrent prompt of a run sees the same cooldowns,
/// limiters, quotas and breakers.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: EngineConfig,
    clock: Clock,
    shared: Mutex<Shared>,
    store: Arc<dyn RateStore>,
    transport: Arc<dyn Transport>,
    observer: Arc<dyn Observer>,
    serial: AtomicU64,
    /// Signalled when a model may have become available earlier than
    /// sleeping prompts planned (a shorter cooldown, a finished probe).
    changed: Notify,
}

/// What the loop does next.
enum Step {
    /// Sleep until `until` (or until the shared state improves), then decide
    /// again; the wait is on model `t` for `reason`.
    Sleep {
        until: Instant,
        t: usize,
        on: Subject,
        reason: WaitReason,
    },
    Call {
        target: Arc<Target>,
        t: usize,
        at: Instant,
    },
    Stop(GiveUp, Option<Fatal>),
}

impl Engine {
    /// An engine on the system clock with in-process limiter state.
    /// Targets with a repeated id are ignored (the first one counts).
    pub fn new(
        cfg: EngineConfig,
        targets: Vec<Target>,
        limits: HashMap<String, ProviderLimits>,
        transport: Arc<dyn Transport>,
        observer: Arc<dyn Observer>,
    ) -> Self {
        Engine::with_parts(
            cfg,
            targets,
            limits,
            transport,
            observer,
            Clock::system(),
            Arc::new(InMemoryStore::new()),
        )
    }

    /// An engine on a given clock and limiter/quota store.
    pub fn with_parts(
        cfg: EngineConfig,
        targets: Vec<Target>,
        limits: HashMap<String, ProviderLimits>,
        transport: Arc<dyn Transport>,
        observer: Arc<dyn Observer>,
        clock: Clock,
        store: Arc<dyn RateStore>,
    ) -> Self {
        let shared = Shared::new(&cfg, targets, &limits, &clock);
        Engine {
            inner: Arc::new(Inner {
                cfg,
                clock,
                shared: Mutex::new(shared),
                store,
                transport,
                observer,
                serial: AtomicU64::new(0),
                changed: Notify::new(),
            }),
        }
    }

    /// The engine's clock.
    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// Sets a known limit of one model (its window gets the safety margin).
    /// Returns false for an unknown id.
    pub fn set_model_limit(&self, id: &str, limit: WindowLimit) -> bool {
        let mut sh = self.lock();
        match sh.index.get(id).copied() {
            Some(t) => {
                sh.models[t].limit = Some(limit.with_margin());
                true
            }
            None => false,
        }
    }

    /// The ids of `chain` that name no target.
    pub fn unknown_ids(&self, chain: &[String]) -> Vec<String> {
        let sh = self.lock();
        chain
            .iter()
            .filter(|id| !sh.index.contains_key(*id))
            .cloned()
            .collect()
    }

    /// Per-model and per-provider state now (for rotate-test's summary).
    pub fn snapshot(&self) -> EngineSnapshot {
        let now = self.inner.clock.now();
        self.lock()
            .snapshot(self.inner.store.as_ref(), &self.inner.clock, now)
    }

    /// The fatal error that stopped the run, if any.
    pub fn fatal(&self) -> Option<Fatal> {
        self.lock().fatal.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic elsewhere must not take the run down: the state stays usable.
        self.inner.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, req: &PromptRequest, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let now = self.inner.clock.now();
        for event in events {
            self.inner.observer.on_event(&EngineEvent {
                prompt_id: req.prompt_id.clone(),
                repeat: req.repeat,
                at_ms: self.inner.clock.since_start_ms(now),
                epoch_ms: self.inner.clock.epoch_ms(now),
                event,
            });
        }
    }

    /// Sends one prompt through its chain until it is answered, gives up or
    /// the run stops. Never sleeps past the prompt's deadline.
    pub async fn run(&self, req: PromptRequest) -> PromptResult {
        let cfg = &self.inner.cfg;
        let start = self.inner.clock.now();
        let serial = self.inner.serial.fetch_add(1, Ordering::Relaxed);
        let chain = {
            let sh = self.lock();
            let mut seen = Vec::new();
            for id in req.chain.iter() {
                if let Some(&t) = sh.index.get(id)
                    && !seen.contains(&t)
                {
                    seen.push(t);
                }
            }
            seen
        };
        let backoff =
            Backoff::for_prompt(cfg.backoff.clone(), cfg.seed, &req.prompt_id, req.repeat);
        let mut p = PromptState::new(
            serial,
            chain,
            req.estimated_tokens(),
            start,
            cfg.deadline,
            backoff,
        );
        let mut last: Option<(usize, Arc<CallResult>)> = None;
        // When the prompt was due to decide again after a sleep: the sleep's
        // end as planned (not when the timer woke it), or when a change in
        // the shared state woke it earlier.
        let mut due: Option<Instant> = None;

        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            let decided = self.inner.clock.now();
            let (step, events) = self.step(&mut p);
            self.emit(&req, events);
            match step {
                Step::Sleep {
                    until,
                    t,
                    on,
                    reason,
                } => {
                    let before = self.inner.clock.now();
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = &mut changed => {}
                    }
                    let woke = self.inner.clock.now();
                    due = Some(until.min(woke));
                    let slept = woke.saturating_duration_since(before);
                    p.waited += slept;
                    let event = {
                        let mut sh = self.lock();
                        let m = &mut sh.models[t];
                        let wait_ms = slept.as_millis() as u64;
                        m.counters.waits += 1;
                        m.counters.wait_ms += wait_ms;
                        wait_event(&m.target, on, reason, wait_ms)
                    };
                    self.emit(&req, vec![event]);
                }
                Step::Call { target, t, at } => {
                    let slot_wait = at > self.inner.clock.now();
                    // The attempt's scheduled start: the limiter slot it
                    // waits for, or when it was due to decide (so a timer
                    // that wakes the prompt late counts in `queue_ms`).
                    let scheduled = if at > decided {
                        at
                    } else {
                        due.unwrap_or(decided)
                    };
                    due = None;
                    self.sleep(&mut p, at).await;
                    if slot_wait && self.abandon_if_blocked(t, at) {
                        // Not sent: decide again (no attempt was made).
                        p.attempts = p.attempts.saturating_sub(1);
                        continue;
                    }
                    let result = self.call(&target, &req, &p, scheduled).await;
                    // The verdict (running the answer's code) waits no longer
                    // than the prompt's deadline: an answer still unjudged
                    // then is not accepted, and the prompt gives up on time.
                    let accepted = match (&req.accept, result.outcome) {
                        (Some(f), Outcome::Ok) => Some(
                            tokio::time::timeout_at(p.deadline, f(&result))
                                .await
                                .unwrap_or(false),
                        ),
                        _ => None,
                    };
                    let result = Arc::new(result);
                    let (verdict, events) = self.settle(&mut p, t, &target, &result, accepted);
                    self.emit(&req, events);
                    match verdict {
                        Verdict::Answered => {
                            return self.finish(&p, Some((t, result)), None, None);
                        }
                        Verdict::Fatal(f) => {
                            let give_up = GiveUp {
                                reason: GiveUpReason::Auth,
                                would_wait: None,
                            };
                            let events = vec![self.give_up_event(&p, give_up)];
                            self.emit(&req, events);
                            return self.finish(&p, Some((t, result)), Some(give_up), Some(f));
                        }
                        Verdict::Continue => last = Some((t, result)),
                    }
                }
                Step::Stop(give_up, fatal) => {
                    return self.finish(&p, last, Some(give_up), fatal);
                }
            }
        }
    }

    /// See `Shared::abandon_if_blocked`.
    fn abandon_if_blocked(&self, t: usize, send_at: Instant) -> bool {
        let now = self.inner.clock.now();
        self.lock()
            .abandon_if_blocked(t, send_at, self.inner.store.as_ref(), now)
    }

    async fn sleep(&self, p: &mut PromptState, until: Instant) {
        let before = self.inner.clock.now();
        if until > before {
            tokio::time::sleep_until(until).await;
            p.waited += self.inner.clock.now().saturating_duration_since(before);
        }
    }

    fn give_up_event(&self, p: &PromptState, g: GiveUp) -> Event {
        Event::GiveUp {
            reason: g.reason,
            waited_ms: p.waited.as_millis() as u64,
            would_wait_ms: g.would_wait.map(|d| d.as_millis() as u64),
            attempts: p.attempts,
        }
    }

    /// One decision under the lock.
    fn step(&self, p: &mut PromptState) -> (Step, Vec<Event>) {
        let inner = &self.inner;
        let now = inner.clock.now();
        let mut events = Vec::new();
        let mut sh = self.lock();
        if let Some(f) = sh.fatal.clone() {
            let g = GiveUp {
                reason: GiveUpReason::Auth,
                would_wait: None,
            };
            events.push(self.give_up_event(p, g));
            return (Step::Stop(g, Some(f)), events);
        }
        let cands = sh.candidates(p, inner.store.as_ref(), &inner.cfg, now);
        let ctx = Context {
            policy: inner.cfg.policy,
            now,
            deadline: p.deadline,
            last: p.last,
            attempts: p.attempts,
            max_attempts: inner.cfg.backoff.max_retries.saturating_add(1),
            margin: inner.cfg.adaptive_margin,
        };
        match policy::decide(&ctx, &cands) {
            Decision::GiveUp { reason, would_wait } => {
                let g = GiveUp { reason, would_wait };
                events.push(self.give_up_event(p, g));
                (Step::Stop(g, None), events)
            }
            Decision::Wait { target, until } => {
                let (on, reason) = cands
                    .iter()
                    .find(|c| c.target == target)
                    .and_then(|c| c.blocker)
                    .map_or((Subject::Model, WaitReason::Backoff), |b| {
                        (b.subject, b.kind.wait_reason())
                    });
                let step = Step::Sleep {
                    until,
                    t: target,
                    on,
                    reason,
                };
                (step, events)
            }
            Decision::Send { target, at } => {
                // The fallback event: from the latest model, or from the
                // primary when the first attempt goes elsewhere.
                let from = p.last.or(if p.attempts == 0 { p.primary() } else { None });
                if let Some(from) = from.filter(|f| *f != target)
                    && let Some(fc) = cands.iter().find(|c| c.target == from)
                {
                    let reason = policy::reason_for(&inner.cfg.policy, fc, now);
                    p.fallbacks += 1;
                    sh.models[from].counters.rotations_out += 1;
                    sh.models[target].counters.rotations_in += 1;
                    events.push(Event::Fallback {
                        from: sh.models[from].target.id.clone(),
                        to: sh.models[target].target.id.clone(),
                        reason,
                    });
                }
                let send_at = sh.commit_send(
                    target,
                    at,
                    inner.store.as_ref(),
                    &inner.clock,
                    now,
                    &mut events,
                );
                if send_at >= p.deadline {
                    // Only a shared store racing with other runners gets here.
                    let g = GiveUp {
                        reason: GiveUpReason::Deadline,
                        would_wait: Some(send_at.saturating_duration_since(now)),
                    };
                    events.push(self.give_up_event(p, g));
                    return (Step::Stop(g, None), events);
                }
                if send_at > now {
                    let slot_on = cands
                        .iter()
                        .find(|c| c.target == target)
                        .and_then(|c| c.slot_on)
                        .unwrap_or(Subject::Provider);
                    let m = &mut sh.models[target];
                    let wait_ms = send_at.saturating_duration_since(now).as_millis() as u64;
                    m.counters.waits += 1;
                    m.counters.wait_ms += wait_ms;
                    events.push(wait_event(&m.target, slot_on, WaitReason::Limiter, wait_ms));
                }
                p.attempts += 1;
                let target_arc = Arc::clone(&sh.models[target].target);
                (
                    Step::Call {
                        target: target_arc,
                        t: target,
                        at: send_at,
                    },
                    events,
                )
            }
        }
    }

    async fn call(
        &self,
        target: &Target,
        req: &PromptRequest,
        p: &PromptState,
        scheduled: Instant,
    ) -> CallResult {
        const GUARD_GRACE: std::time::Duration = std::time::Duration::from_millis(100);
        let cfg = &self.inner.cfg;
        let sent = self.inner.clock.now();
        let remaining = p.deadline.saturating_duration_since(sent);
        let total = cfg.attempt_timeout.min(remaining);
        let spec = CallSpec {
            model: &target.id,
            messages: &req.messages,
            stream: req.stream,
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            seed: req.seed,
            total_timeout: total,
            first_byte_timeout: cfg.first_byte_timeout.min(total),
            scheduled: Some(scheduled),
        };
        // The client keeps `total` itself and reports what it saw; this guard
        // (a little later, so it never wins a race against the client's own
        // timer and loses the status and content it had) only catches a
        // transport that does not.
        let guard = total.saturating_add(GUARD_GRACE);
        match tokio::time::timeout(guard, self.inner.transport.call(target, &spec)).await {
            Ok(r) => r,
            Err(_) => {
                // The client should have stopped by itself; the engine's
                // guard keeps the deadline either way.
                let mut r = CallResult::new(Outcome::Timeout, sent);
                r.timings.scheduled = scheduled.min(sent);
                r.timings.end = self.inner.clock.now();
                r.error_type = Some("total".into());
                r.error_message = Some(format!("no answer within {} ms", guard.as_millis()));
                r
            }
        }
    }

    fn settle(
        &self,
        p: &mut PromptState,
        t: usize,
        target: &Target,
        r: &Arc<CallResult>,
        accepted: Option<bool>,
    ) -> (Verdict, Vec<Event>) {
        let inner = &self.inner;
        let now = inner.clock.now();
        let mut events = vec![Event::Attempt {
            model: target.id.clone(),
            provider: target.provider.clone(),
            attempt: p.attempts,
            hop: p.fallbacks,
            outcome: r.outcome,
            http_status: r.http_status,
            error_type: r.error_type.clone(),
            scope: r.scope,
            retry_after_ms: r.hints.retry_after_ms,
            latency_ms: r
                .timings
                .end
                .saturating_duration_since(r.timings.sent)
                .as_secs_f64()
                * 1000.0,
            content_started: r.content_started,
            accepted,
            // The same allocation the prompt's result keeps: the answer
            // text is not copied for the observer.
            result: Arc::clone(r),
        }];
        let s = Settle {
            cfg: &inner.cfg,
            store: inner.store.as_ref(),
            clock: &inner.clock,
            now,
        };
        let (verdict, improved) = self.lock().settle(&s, p, t, r, accepted, &mut events);
        if improved {
            self.inner.changed.notify_waiters();
        }
        (verdict, events)
    }

    fn finish(
        &self,
        p: &PromptState,
        last: Option<(usize, Arc<CallResult>)>,
        gave_up: Option<GiveUp>,
        fatal: Option<Fatal>,
    ) -> PromptResult {
        let model = last.as_ref().map(|(t, _)| {
            let sh = self.lock();
            sh.models[*t].target.id.clone()
        });
        PromptResult {
            final_result: last.map(|(_, r)| r),
            model,
            attempts: p.attempts,
            hops: u32::try_from(p.tried.len()).unwrap_or(u32::MAX),
            waited: p.waited,
            fallbacks: p.fallbacks,
            gave_up,
            fatal,
            elapsed: self.inner.clock.now().saturating_duration_since(p.start),
        }
    }
}

fn wait_event(target: &Target, subject: Subject, reason: WaitReason, wait_ms: u64) -> Event {
    // `provider` is set when the wait is on the provider's state.
    let provider = (subject == Subject::Provider).then(|| target.provider.clone());
    Event::Wait {
        model: Some(target.id.clone()),
        provider,
        reason,
        wait_ms,
    }
}
