//! Engine scenario tests: a scripted transport (replies queued per model, or
//! a server function), tokio paused time, exact expected sequences.

mod errors;
mod flow;
mod limits;
mod policy;
mod scopes;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::client::{CallResult, CallSpec, Endpoint};
use crate::record::{Outcome, RateLimitScope};

/// Epoch milliseconds of the engine start in every test.
pub const EPOCH: u64 = 1_700_000_000_000;

/// What the scripted server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub outcome: Outcome,
    pub http: Option<u16>,
    pub scope: Option<RateLimitScope>,
    pub retry_after_ms: Option<u64>,
    pub reset_epoch_ms: Option<u64>,
    pub limit: Option<u64>,
    pub error_type: Option<String>,
    pub content: String,
    pub content_started: bool,
    /// Simulated duration of the call.
    pub took: Duration,
}

pub fn ok(content: &str) -> Reply {
    Reply {
        outcome: Outcome::Ok,
        http: Some(200),
        scope: None,
        retry_after_ms: None,
        reset_epoch_ms: None,
        limit: None,
        error_type: None,
        content: content.into(),
        content_started: true,
        took: Duration::from_secs(1),
    }
}

pub fn fail(outcome: Outcome, http: u16) -> Reply {
    Reply {
        outcome,
        http: Some(http),
        content: String::new(),
        content_started: false,
        ..ok("")
    }
}

pub fn r429(scope: RateLimitScope, retry_after_ms: Option<u64>) -> Reply {
    Reply {
        scope: Some(scope),
        retry_after_ms,
        ..fail(Outcome::RateLimited, 429)
    }
}

impl Reply {
    pub fn took(mut self, d: Duration) -> Self {
        self.took = d;
        self
    }
    fn result(&self, sent: Instant, end: Instant) -> CallResult {
        let mut r = CallResult::new(self.outcome, sent);
        r.timings.end = end;
        r.http_status = self.http;
        r.scope = self.scope;
        r.hints.retry_after_ms = self.retry_after_ms;
        r.hints.reset_epoch_ms = self.reset_epoch_ms;
        r.hints.limit = self.limit;
        r.error_type = self.error_type.clone();
        r.content = self.content.clone();
        r.content_started = self.content_started;
        r
    }
}

/// A server function: (model, arrival) → reply.
pub type ServerFn = Box<dyn Fn(&str, Instant) -> Reply + Send + Sync>;

/// One call the transport saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub model: String,
    pub total_timeout: Duration,
    /// The scheduled start the engine passed.
    pub scheduled: Option<Instant>,
}

/// The scripted transport.
#[derive(Default)]
pub struct Script {
    queues: Mutex<HashMap<String, VecDeque<Reply>>>,
    server: Option<ServerFn>,
    seen: Mutex<Vec<Seen>>,
    /// A broken transport that does not keep its own timeout.
    ignores_timeouts: bool,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn server(f: impl Fn(&str, Instant) -> Reply + Send + Sync + 'static) -> Self {
        Script {
            server: Some(Box::new(f)),
            ..Self::default()
        }
    }
    /// Makes the transport ignore `total_timeout` (only the engine's guard
    /// stops a hanging call then).
    pub fn ignoring_timeouts(mut self) -> Self {
        self.ignores_timeouts = true;
        self
    }
    /// Queues replies for `model` (answered in order).
    pub fn on(self, model: &str, replies: impl IntoIterator<Item = Reply>) -> Self {
        self.queues
            .lock()
            .unwrap()
            .entry(model.into())
            .or_default()
            .extend(replies);
        self
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    /// (milliseconds since `t0`, model) of every call.
    pub fn calls(&self, t0: Instant) -> Vec<(u64, String)> {
        self.seen()
            .into_iter()
            .map(|s| ((s.at - t0).as_millis() as u64, s.model))
            .collect()
    }
}

impl Transport for Script {
    fn call<'a>(&'a self, target: &'a Target, spec: &'a CallSpec<'a>) -> BoxFuture<'a, CallResult> {
        Box::pin(async move {
            let at = Instant::now();
            self.seen.lock().unwrap().push(Seen {
                at,
                model: target.id.clone(),
                total_timeout: spec.total_timeout,
                scheduled: spec.scheduled,
            });
            let queued = self
                .queues
                .lock()
                .unwrap()
                .get_mut(&target.id)
                .and_then(|q| q.pop_front());
            let reply = match (queued, &self.server) {
                (Some(r), _) => r,
                (None, Some(f)) => f(&target.id, at),
                (None, None) => panic!("no reply scripted for {} at {:?}", target.id, at),
            };
            // Like the real client, the call keeps its own total timeout.
            if reply.took > spec.total_timeout && !self.ignores_timeouts {
                tokio::time::sleep(spec.total_timeout).await;
                let mut r = CallResult::new(Outcome::Timeout, at);
                r.timings.end = Instant::now();
                r.error_type = Some("total".into());
                return r;
            }
            tokio::time::sleep(reply.took).await;
            reply.result(at, Instant::now())
        })
    }
}

pub fn target(id: &str, provider: &str, free: bool) -> Target {
    Target {
        id: id.into(),
        provider: provider.into(),
        endpoint: Endpoint {
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            headers: vec![],
        },
        context_length: None,
        free,
        prior_latency_ms: Some(1000.0),
        prior_success: Some(0.9),
    }
}

/// A, B: free models of provider "or"; C: a paid model of "other".
pub fn abc() -> Vec<Target> {
    vec![
        target("A", "or", true),
        target("B", "or", true),
        target("C", "other", false),
    ]
}

pub fn cfg(policy: Policy) -> EngineConfig {
    EngineConfig {
        policy,
        seed: 42,
        ..EngineConfig::default()
    }
}

pub fn wait_first() -> Policy {
    Policy::WaitFirst {
        max_wait: Policy::DEFAULT_MAX_WAIT,
    }
}

pub struct Rig {
    pub engine: Engine,
    pub log: Arc<EventLog>,
    pub script: Arc<Script>,
    pub t0: Instant,
}

impl Rig {
    pub fn new(cfg: EngineConfig, targets: Vec<Target>, script: Script) -> Self {
        Rig::with_limits(cfg, targets, HashMap::new(), script)
    }

    pub fn with_limits(
        cfg: EngineConfig,
        targets: Vec<Target>,
        limits: HashMap<String, ProviderLimits>,
        script: Script,
    ) -> Self {
        let t0 = Instant::now();
        let log = Arc::new(EventLog::new());
        let script = Arc::new(script);
        let engine = Engine::with_parts(
            cfg,
            targets,
            limits,
            script.clone(),
            log.clone(),
            Clock::with_epoch(t0, EPOCH),
            Arc::new(InMemoryStore::new()),
        );
        Rig {
            engine,
            log,
            script,
            t0,
        }
    }

    pub fn run<'a>(
        &'a self,
        id: &str,
        chain: &[&str],
    ) -> impl std::future::Future<Output = PromptResult> + use<'a> {
        self.engine.run(req(id, chain))
    }

    pub fn calls(&self) -> Vec<(u64, String)> {
        self.script.calls(self.t0)
    }

    pub fn events(&self) -> Vec<Event> {
        self.log.events().into_iter().map(|e| e.event).collect()
    }

    /// The events named `name`.
    pub fn named(&self, name: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.name() == name)
            .collect()
    }

    /// (from, to, reason) of every fallback.
    pub fn fallbacks(&self) -> Vec<(String, String, FallbackReason)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Fallback { from, to, reason } => Some((from, to, reason)),
                _ => None,
            })
            .collect()
    }

    /// (model or provider, reason, ms) of every wait.
    pub fn waits(&self) -> Vec<(String, WaitReason, u64)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Wait {
                    model,
                    provider,
                    reason,
                    wait_ms,
                } => Some((provider.or(model).unwrap_or_default(), reason, wait_ms)),
                _ => None,
            })
            .collect()
    }
}

pub fn req(id: &str, chain: &[&str]) -> PromptRequest {
    PromptRequest {
        prompt_id: id.into(),
        messages: vec![crate::wire::Message::user("write fizzbuzz")].into(),
        chain: chain.iter().map(|s| s.to_string()).collect(),
        ..PromptRequest::default()
    }
}

/// Shorthand for expected call lists.
pub fn at(list: &[(u64, &str)]) -> Vec<(u64, String)> {
    list.iter().map(|(t, m)| (*t, m.to_string())).collect()
}

/// The backoff draws a prompt makes (the engine's own stream).
pub fn draws(seed: u64, id: &str, n: u32) -> Vec<u64> {
    let mut b = Backoff::for_prompt(BackoffConfig::default(), seed, id, 0);
    (0..n).map(|i| b.delay(i).as_millis() as u64).collect()
}
