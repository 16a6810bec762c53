//! The HTTP side: routes, shared state, and the admission of each request
//! (auth, validation, rate limits, the draws that decide its fate).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::record::Outcome;
use crate::sim::answer::AnswerKind;
use crate::sim::body::LogHandle;
use crate::sim::conn::{Conn, ConnAt, conn_at};
use crate::sim::draw::{Draws, fnv1a, request_rng};
use crate::sim::errors::{self, AccountLimit, ceil_ms};
use crate::sim::faults::FaultKind;
use crate::sim::limits::{DailyQuota, Gates, Limited, SlidingWindow, TokenBucket};
use crate::sim::model::Behavior;
use crate::sim::respond::{Go, respond};
use crate::sim::scenario::{Hints, Scenario};
use crate::sim::stats::{Detail, LogEntry, SimStats};
use crate::suite::Suite;
use crate::wire::{ChatRequest, ModelInfo, ModelList};

/// Most log entries kept; later requests are counted but not logged.
const MAX_LOG: usize = 100_000;

/// Everything the handlers share.
pub(crate) struct Shared {
    pub scenario: Scenario,
    pub suite: Option<Suite>,
    pub models: Vec<Behavior>,
    pub index: HashMap<String, usize>,
    pub shutdown: watch::Receiver<bool>,
    /// Where the `redirect` fault points.
    pub redirect_to: String,
    /// Admitted requests whose handler or body is still alive.
    pub in_flight: AtomicU64,
    /// TCP connections accepted since the start.
    pub connections: AtomicU64,
    inner: Mutex<Inner>,
}

/// Mutable state, reset by `POST /sim/reset`.
pub(crate) struct Inner {
    pub start: Instant,
    /// `start` on the wall clock, Unix epoch milliseconds.
    pub start_epoch_ms: u64,
    pub epoch: u64,
    seq: u64,
    windows: Vec<Option<SlidingWindow>>,
    days: Vec<DailyQuota>,
    buckets: Vec<Option<TokenBucket>>,
    /// Admitted requests per (model index, prompt hash).
    counters: HashMap<(usize, u64), u64>,
    pub stats: SimStats,
    pub log: Vec<LogEntry>,
}

impl Inner {
    fn new(scenario: &Scenario, models: &[Behavior], epoch: u64) -> Inner {
        let minute = scenario.scaled(60.0);
        let day = scenario.scaled(86_400.0);
        Inner {
            start: Instant::now(),
            start_epoch_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            epoch,
            seq: 0,
            windows: scenario
                .groups
                .iter()
                .map(|g| g.per_minute.map(|n| SlidingWindow::new(n, minute)))
                .collect(),
            days: scenario
                .groups
                .iter()
                .map(|g| DailyQuota::new(g.per_day.unwrap_or(u32::MAX), day))
                .collect(),
            buckets: models
                .iter()
                .map(|m| m.bucket.map(|(rate, burst)| TokenBucket::new(rate, burst)))
                .collect(),
            counters: HashMap::new(),
            stats: SimStats::new(
                scenario.models.iter().map(|m| m.id.as_str()),
                scenario.groups.iter().map(|g| g.name.as_str()),
            ),
            log: Vec::new(),
        }
    }

    pub fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    pub fn now_us(&self) -> u64 {
        u64::try_from(self.now().as_micros()).unwrap_or(u64::MAX)
    }

    fn push_log(&mut self, entry: LogEntry) -> usize {
        if self.log.len() >= MAX_LOG {
            return usize::MAX;
        }
        self.log.push(entry);
        self.log.len() - 1
    }
}

impl Shared {
    /// The state of a simulator listening on `addr`.
    pub fn new(
        scenario: Scenario,
        suite: Option<Suite>,
        shutdown: watch::Receiver<bool>,
        addr: SocketAddr,
    ) -> Shared {
        let models: Vec<Behavior> = scenario
            .models
            .iter()
            .map(|m| Behavior::resolve(&scenario, m))
            .collect();
        let index = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let inner = Mutex::new(Inner::new(&scenario, &models, 0));
        let redirect_to = scenario
            .redirect_to
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}{REDIRECT_TRAP}", addr.port()));
        Shared {
            scenario,
            suite,
            models,
            index,
            shutdown,
            redirect_to,
            in_flight: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            inner,
        }
    }

    /// The state; a panicked holder cannot leave it inconsistent beyond one
    /// counter, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> SimStats {
        let mut inner = self.lock();
        let now = inner.now();
        let today: Vec<u32> = inner.days.iter_mut().map(|d| d.used(now)).collect();
        let minute: Vec<u32> = inner
            .windows
            .iter_mut()
            .map(|w| w.as_mut().map_or(0, |w| w.used(now)))
            .collect();
        let mut stats = inner.stats.clone();
        stats.in_flight = self.in_flight.load(Ordering::Relaxed);
        stats.connections = self.connections.load(Ordering::Relaxed);
        stats.start_epoch_ms = inner.start_epoch_ms;
        for ((g, day), min) in self.scenario.groups.iter().zip(today).zip(minute) {
            if let Some(gs) = stats.groups.get_mut(&g.name) {
                gs.used_today = u64::from(day);
                gs.used_this_minute = u64::from(min);
            }
        }
        stats
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.lock().log.clone()
    }

    pub fn reset(&self) {
        let mut inner = self.lock();
        let epoch = inner.epoch + 1;
        *inner = Inner::new(&self.scenario, &self.models, epoch);
    }

    /// Counts and logs a request answered without reaching the limits.
    fn reject(
        &self,
        arrived: Instant,
        at: Option<ConnAt>,
        model: Option<&str>,
        stream: bool,
        status: u16,
        outcome: Outcome,
    ) {
        let mut inner = self.lock();
        inner.stats.count(model, outcome, Detail::default());
        inner.seq += 1;
        let entry = LogEntry {
            seq: inner.seq,
            model: model.unwrap_or_default().chars().take(200).collect(),
            stream,
            received_us: us_since(inner.start, arrived),
            status,
            outcome: outcome.as_str().into(),
            conn: at.map(|a| a.conn),
            conn_request: at.map(|a| a.request),
            conn_accepted_us: at.map(|a| us_since(inner.start, a.accepted)),
            ..LogEntry::default()
        };
        inner.push_log(entry);
    }
}

fn us_since(start: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(start).as_micros()).unwrap_or(u64::MAX)
}

/// The default target of the `redirect` fault.
pub(crate) const REDIRECT_TRAP: &str = "/sim/redirected";

/// The routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/sim/stats", get(stats))
        .route("/sim/log", get(log))
        .route("/sim/reset", post(reset))
        .route(REDIRECT_TRAP, any(redirected))
        .fallback(fallback)
        .with_state(shared)
}

/// A client followed the `redirect` fault: count it (and whether it brought
/// its key along) and tell it off.
async fn redirected(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let with_key = headers.contains_key(header::AUTHORIZATION);
    {
        let mut inner = sh.lock();
        inner.stats.redirects_followed += 1;
        if with_key {
            inner.stats.redirects_with_key += 1;
        }
    }
    tracing::warn!(with_key, "a client followed the simulator's redirect");
    errors::json_response(
        StatusCode::GONE,
        &json!({"error": {"code": 410, "message": "rotor sim: this request followed a redirect to another host; an API client must not follow redirects (it would send its key along)"}}),
    )
}

async fn fallback(uri: Uri) -> Response {
    let path: String = uri.path().chars().take(200).collect();
    errors::json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": {"code": 404, "message": format!("Not found: {path}")}}),
    )
}

async fn stats(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(sh.stats()).into_response()
}

async fn log(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(sh.log()).into_response()
}

async fn reset(State(sh): State<Arc<Shared>>) -> Response {
    sh.reset();
    axum::Json(json!({"reset": true})).into_response()
}

/// Time of creation shown for every model (fixed so listings are stable).
const CREATED: i64 = 1_735_689_600;

async fn models(State(sh): State<Arc<Shared>>, extensions: Extensions) -> Response {
    let _ = conn_at(&extensions);
    let data = sh
        .scenario
        .models
        .iter()
        .zip(&sh.models)
        .filter(|(spec, _)| spec.listed)
        .map(|(spec, b)| {
            let (prompt, completion) = spec
                .pricing
                .as_ref()
                .map_or(("0".to_owned(), "0".to_owned()), |p| {
                    (p.prompt.clone(), p.completion.clone())
                });
            ModelInfo {
                id: spec.id.clone(),
                object: "model".into(),
                created: CREATED,
                owned_by: Behavior::owned_by(spec),
                name: Some(spec.name.clone().unwrap_or_else(|| spec.id.clone())),
                context_length: Some(b.context_length),
                pricing: Some(json!({"prompt": prompt, "completion": completion})),
            }
        })
        .collect();
    axum::Json(ModelList {
        object: "list".into(),
        data,
        rotor_simulator: Some(sh.scenario.name.clone()),
    })
    .into_response()
}

/// Compares the bearer token with the key in constant time.
fn authorized(headers: &HeaderMap, key: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return false;
    };
    let (a, b) = (token.as_bytes(), key.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn chat(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let (conn, at) = conn_at(&extensions);
    let reject = |model: Option<&str>, stream: bool, status: u16, outcome: Outcome| {
        sh.reject(arrived, at, model, stream, status, outcome);
    };
    let parsed = serde_json::from_slice::<ChatRequest>(&body);
    let (model, stream) = match &parsed {
        Ok(r) => (Some(r.model.as_str()), r.stream),
        Err(_) => (None, false),
    };
    if let Some(key) = &sh.scenario.api_key
        && !authorized(&headers, key.expose())
    {
        reject(model, stream, 401, Outcome::Auth);
        return errors::unauthorized();
    }
    let req = match parsed {
        Ok(r) => r,
        Err(e) => {
            reject(None, false, 400, Outcome::BadRequest);
            return errors::bad_request(&format!("Invalid JSON body: {e}"));
        }
    };
    let Some((mi, model)) = sh
        .index
        .get(&req.model)
        .and_then(|&i| Some((i, sh.models.get(i)?)))
    else {
        reject(Some(&req.model), stream, 404, Outcome::NotFound);
        return errors::unknown_model(&req.model);
    };
    if req.messages.is_empty() {
        reject(Some(&req.model), stream, 400, Outcome::BadRequest);
        return errors::bad_request("Input required: specify \"prompt\" or \"messages\"");
    }
    let chars: u64 = req
        .messages
        .iter()
        .map(|m| m.content.chars().count() as u64)
        .sum();
    let prompt_tokens = chars.div_ceil(4);
    let limit = model.context_length;
    if prompt_tokens > limit {
        reject(Some(&req.model), stream, 400, Outcome::BadRequest);
        return errors::context_too_long(limit, prompt_tokens);
    }
    let prompt = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map_or("", |m| m.content.trim());
    let item = sh.suite.as_ref().and_then(|s| s.find_by_prompt(prompt));
    let ask = Ask {
        index: mi,
        model,
        prompt_hash: fnv1a(prompt.as_bytes()),
        prompt_id: item.map(|i| i.id.as_str()),
        req: &req,
        prompt_tokens,
        arrived,
        conn: conn.cloned(),
        at,
    };
    match admit(&sh, ask) {
        Err(limited) => *limited,
        Ok(go) => respond(&sh, go, item).await,
    }
}

/// What admission needs to know about a request.
struct Ask<'a> {
    index: usize,
    model: &'a Behavior,
    prompt_hash: u64,
    /// The suite item's id when the prompt is known.
    prompt_id: Option<&'a str>,
    req: &'a ChatRequest,
    prompt_tokens: u64,
    arrived: Instant,
    /// The connection (see `conn.rs`).
    conn: Option<Conn>,
    at: Option<ConnAt>,
}

/// Applies the rate limits and draws the request's fate, counting it.
fn admit(sh: &Arc<Shared>, ask: Ask<'_>) -> Result<Go, Box<Response>> {
    let m = ask.model;
    let mut guard = sh.lock();
    let inner = &mut *guard;
    let now = ask.arrived.saturating_duration_since(inner.start);
    inner.seq += 1;
    let seq = inner.seq;
    let received_us = us_since(inner.start, ask.arrived);
    let group = m
        .group
        .and_then(|g| sh.scenario.groups.get(g).map(|spec| (g, spec)));
    let gates = Gates {
        minute: group.and_then(|(g, _)| inner.windows.get_mut(g).and_then(Option::as_mut)),
        day: group.and_then(|(g, _)| inner.days.get_mut(g)),
        bucket: inner.buckets.get_mut(ask.index).and_then(Option::as_mut),
    };
    let admitted = gates.admit(now);
    if let Some((_, spec)) = group
        && let Some(gs) = inner.stats.groups.get_mut(&spec.name)
    {
        gs.requests += 1;
        match admitted {
            Ok(()) => gs.admitted += 1,
            Err((Limited::AccountMinute, _)) => gs.rate_limited_minute += 1,
            Err((Limited::AccountDay, _)) => gs.rate_limited_day += 1,
            Err((Limited::Model, _)) => {}
        }
    }
    let mut entry = LogEntry {
        seq,
        model: m.id.clone(),
        stream: ask.req.stream,
        received_us,
        conn: ask.at.map(|a| a.conn),
        conn_request: ask.at.map(|a| a.request),
        conn_accepted_us: ask.at.map(|a| us_since(inner.start, a.accepted)),
        ..LogEntry::default()
    };
    if let Err((which, wait)) = admitted {
        let reset_ms = chrono::Utc::now().timestamp_millis() + ceil_ms(wait) as i64;
        let (scope, response) = match (which, group) {
            (Limited::Model, _) | (_, None) => (
                "model",
                errors::model_limited(&m.id, m.rpm.unwrap_or(0), wait),
            ),
            (Limited::AccountMinute | Limited::AccountDay, Some((_, spec))) => {
                let (kind, limit, scope) = if which == Limited::AccountDay {
                    (AccountLimit::Day, spec.per_day.unwrap_or(0), "account_day")
                } else {
                    (
                        AccountLimit::Minute,
                        spec.per_minute.unwrap_or(0),
                        "account_minute",
                    )
                };
                let scope = if spec.hints == Hints::None {
                    "unknown"
                } else {
                    scope
                };
                (
                    scope,
                    errors::account_limited(kind, limit, wait, reset_ms, spec.hints),
                )
            }
        };
        let detail = Detail {
            scope: Some(scope),
            ..Detail::default()
        };
        inner.stats.count(Some(&m.id), Outcome::RateLimited, detail);
        entry.status = 429;
        entry.outcome = Outcome::RateLimited.as_str().into();
        entry.rate_limit_scope = Some(scope.into());
        inner.push_log(entry);
        return Err(Box::new(response));
    }
    let counter = inner
        .counters
        .entry((ask.index, ask.prompt_hash))
        .or_insert(0);
    let k = *counter;
    *counter += 1;
    let mut rng = request_rng(sh.scenario.seed, &m.id, ask.prompt_hash, k);
    let draws = Draws::draw(&mut rng, m);
    let secs = now.as_secs_f64() / sh.scenario.time_scale;
    let phase_fault = sh
        .scenario
        .phases
        .iter()
        .find(|p| p.from_s <= secs && secs < p.to_s && p.models.contains(&m.id))
        .and_then(|p| (draws.phase < p.probability).then_some(p.fault));
    let fault = phase_fault.or_else(|| m.faults.pick(draws.fault));
    let kind = if ask.prompt_id.is_some() {
        AnswerKind::pick(&m.quality, draws.quality)
    } else {
        AnswerKind::Generic
    };
    let outcome = fault.map_or(Outcome::Ok, FaultKind::outcome);
    entry.prompt_id = ask.prompt_id.map(str::to_owned);
    entry.k = Some(k);
    let detail = Detail {
        scope: fault.and_then(FaultKind::scope),
        fault: fault.map(FaultKind::as_str),
        answer: fault.is_none().then_some(kind.as_str()),
    };
    inner.stats.count(Some(&m.id), outcome, detail);
    let id = format!("gen-{seq}-{:016x}", draws.text_seed);
    entry.status = planned_status(fault, draws.variant);
    entry.outcome = outcome.as_str().into();
    entry.rate_limit_scope = detail.scope.map(str::to_owned);
    entry.fault = detail.fault.map(str::to_owned);
    entry.answer = detail.answer.map(str::to_owned);
    entry.response_id = id.clone();
    let index = inner.push_log(entry);
    let epoch = inner.epoch;
    drop(guard);
    Ok(Go {
        model: ask.index,
        fault,
        draws,
        kind,
        log: LogHandle::new(sh, epoch, index),
        id,
        arrived: ask.arrived,
        stream: ask.req.stream,
        include_usage: ask
            .req
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage),
        max_tokens: ask.req.max_tokens,
        prompt_tokens: ask.prompt_tokens,
        conn: ask.conn,
    })
}

/// The status a request with this fault is answered with (0: none, it
/// hangs or the connection is reset).
fn planned_status(fault: Option<FaultKind>, variant: f64) -> u16 {
    let Some(kind) = fault else {
        return 200;
    };
    match kind {
        FaultKind::ServerError => errors::server_error(variant).0,
        FaultKind::Overloaded => errors::overloaded(variant).0,
        FaultKind::Hang | FaultKind::ResetBeforeHeaders => 0,
        FaultKind::RequestTimeout => 408,
        FaultKind::Auth => 401,
        FaultKind::Payment => 402,
        FaultKind::Forbidden => 403,
        FaultKind::BadRequest => 400,
        FaultKind::NotFound => 404,
        FaultKind::Html502 => 502,
        FaultKind::Redirect => errors::REDIRECT_STATUS,
        k if k.outcome() == Outcome::RateLimited => 429,
        _ => 200,
    }
}
