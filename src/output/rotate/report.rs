//! The report of a rotate-test run: per prompt, per model and overall, the
//! threshold checks and (against the simulator) the server's own counts. One
//! data structure feeds the table, `--json`, JUnit and Markdown.
//!
//! Definitions (the seeds' metrics):
//! - *success rate*: prompts that ended with an accepted answer ÷ prompts;
//! - *latency*: per answered prompt, from its start to its answer, waits,
//!   retries and fallbacks included (p50/p95/p99 by [`crate::stats`]);
//! - *primary share*: answers from the chain's first model ÷ answers;
//!   *fallback rate*: the other answers ÷ answers (so they add up to 1);
//! - per model, attempts/successes/rotations/waits come from the engine's
//!   counters, 429s by scope and latencies from the attempt records;
//! - *pass@1*, *pass@k*, *well-formed rate*: over the validated answers (see
//!   [`crate::report::scores`]): per model over its own answers, overall over
//!   every answer of the run, prompt by prompt (an answer a fallback replaced
//!   under `--require-valid` counts too). pass@k needs `--repeat` (k = the
//!   fewest answers any prompt has, when > 1); the well-formed rate is the
//!   share of answers with extractable code.

use std::collections::BTreeMap;

use serde::Serialize;

use super::thresholds::{Check, Measured, Thresholds};
use crate::engine::{EngineSnapshot, PromptResult};
use crate::output::summary::{ModelSummary, Quantiles, RunSummary};
use crate::record::{Outcome, RateLimitScope, SCHEMA_VERSION};
use crate::report::scores::{PassAtK, PromptScores, well_formed_rate};
use crate::sim::SimStats;
use crate::stats::Sample;

/// One logical prompt's end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptOutcome {
    pub prompt_id: String,
    pub repeat: u32,
    /// The chain's first model.
    pub primary: Option<String>,
    /// The model of the answer (or of the last attempt when it failed).
    pub model_used: Option<String>,
    pub ok: bool,
    pub attempts: u32,
    /// Distinct models that received an attempt.
    pub hops: u32,
    pub fallbacks: u32,
    pub waited_ms: u64,
    pub elapsed_ms: f64,
    /// The give-up reason (`deadline`, `retries_exhausted`, …).
    pub gave_up: Option<String>,
    /// Why it failed, for people.
    pub failure: Option<String>,
    /// The verdict on the answer's code (`passed`, `tests_failed`, …), when
    /// it was validated.
    pub validation: Option<String>,
    /// What the verdict found: the first failing assertion, the syntax error.
    pub validation_detail: Option<String>,
}

impl PromptOutcome {
    /// Summarises an engine result.
    pub fn from_result(
        prompt_id: &str,
        repeat: u32,
        primary: Option<&str>,
        r: &PromptResult,
    ) -> PromptOutcome {
        let ok = r.is_ok();
        let gave_up = r.gave_up.map(|g| enum_name(&g.reason));
        let failure = (!ok).then(|| failure_text(r, gave_up.as_deref()));
        PromptOutcome {
            prompt_id: prompt_id.to_string(),
            repeat,
            primary: primary.map(str::to_string),
            model_used: r.model.clone(),
            ok,
            attempts: r.attempts,
            hops: r.hops,
            fallbacks: r.fallbacks,
            waited_ms: r.waited.as_millis() as u64,
            elapsed_ms: round3(r.elapsed.as_secs_f64() * 1000.0),
            gave_up,
            failure,
            validation: None,
            validation_detail: None,
        }
    }

    /// Answered by a model other than the primary.
    pub fn by_fallback(&self) -> bool {
        self.ok && self.model_used.is_some() && self.model_used != self.primary
    }

    /// `id` or `id#r` when the run repeats prompts.
    pub fn name(&self, repeats: bool) -> String {
        if repeats {
            format!("{}#{}", self.prompt_id, self.repeat)
        } else {
            self.prompt_id.clone()
        }
    }
}

/// The snake_case serde name of a unit enum value.
fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn failure_text(r: &PromptResult, gave_up: Option<&str>) -> String {
    let last = match (&r.final_result, &r.model) {
        (Some(last), Some(model)) => Some(LastAttempt {
            model,
            outcome: last.outcome,
            http_status: last.http_status,
            scope: last.scope,
            error_message: last.error_message.as_deref(),
        }),
        _ => None,
    };
    describe_failure(
        gave_up,
        r.gave_up.and_then(|g| g.would_wait),
        r.attempts,
        r.hops,
        last,
    )
}

/// The last attempt of a prompt that failed, for [`describe_failure`].
#[derive(Debug, Clone, Copy)]
pub struct LastAttempt<'a> {
    pub model: &'a str,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub scope: Option<RateLimitScope>,
    pub error_message: Option<&'a str>,
}

/// Why a prompt failed, for people: its give-up reason (`would_wait`: how
/// long the next attempt would have waited), its attempts and models, and
/// what its last attempt got. Built from the engine's result, or from the
/// records of a resumed run.
pub fn describe_failure(
    gave_up: Option<&str>,
    would_wait: Option<std::time::Duration>,
    attempts: u32,
    hops: u32,
    last: Option<LastAttempt<'_>>,
) -> String {
    let mut s = match gave_up {
        Some("deadline") => {
            let would = would_wait
                .map(|d| format!(" (the next attempt would have waited {} ms)", d.as_millis()))
                .unwrap_or_default();
            format!("gave up at the deadline{would}")
        }
        Some("quota") => {
            let until = would_wait
                .map(|d| format!(" for another {:.0} s", d.as_secs_f64()))
                .unwrap_or_default();
            format!("gave up: the daily quota is spent{until}")
        }
        Some(reason) => format!("gave up: {}", reason.replace('_', " ")),
        None => "no answer".to_string(),
    };
    s.push_str(&format!(
        " after {} attempt{} on {} model{}",
        attempts,
        plural(attempts),
        hops,
        plural(hops)
    ));
    if let Some(last) = last {
        let what = if last.outcome.is_ok() {
            "an answer that failed validation".to_string()
        } else {
            let status = last
                .http_status
                .map(|s| format!("HTTP {s} "))
                .unwrap_or_default();
            let scope = last.scope.map(|s| format!(", {s}")).unwrap_or_default();
            format!("{status}{}{scope}", last.outcome)
        };
        s.push_str(&format!("; last: {} gave {what}", last.model));
        if let Some(msg) = last.error_message.filter(|m| !m.is_empty()) {
            let short: String = msg.chars().take(160).collect();
            s.push_str(&format!(" ({short})"));
        }
    }
    s
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One model's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    pub model: String,
    pub provider: String,
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    pub rate_limited: u64,
    pub rate_limited_by_scope: BTreeMap<String, u64>,
    /// Failed attempts other than 429s, by outcome.
    pub errors: BTreeMap<String, u64>,
    pub rotations_in: u32,
    pub rotations_out: u32,
    pub waits: u32,
    pub wait_ms: u64,
    pub breaker_opens: u32,
    /// The breaker's state at the end.
    pub breaker: String,
    /// Prompts whose answer came from this model.
    pub answered: u64,
    /// Latency of its successful attempts.
    pub latency_ms: Quantiles,
    /// Validation verdicts of its answers.
    pub validation: BTreeMap<String, u64>,
    /// Mean over prompts of its passed ÷ validated answers.
    pub pass_at_1: Option<f64>,
    /// With `--repeat`: pass@k, k = the fewest validated answers of any prompt.
    pub pass_at_k: Option<PassAtK>,
    /// Its validated answers with extractable code ÷ its validated answers.
    pub well_formed_rate: Option<f64>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    pub prompts: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub success_rate: Option<f64>,
    /// Time to an answer, waits included (answered prompts).
    pub latency_ms: Quantiles,
    pub primary_share: Option<f64>,
    pub fallback_rate: Option<f64>,
    pub attempts: u64,
    /// 429s received.
    pub rate_limited: u64,
    pub rate_limited_by_scope: BTreeMap<String, u64>,
    /// Fallback events (switches between models).
    pub fallbacks: u64,
    pub waits: u64,
    pub wait_ms: u64,
    pub breaker_opens: u64,
    /// Failed prompts by give-up reason.
    pub gave_up: BTreeMap<String, u64>,
    /// Validation verdicts of every validated answer.
    pub validation: BTreeMap<String, u64>,
    /// pass@1 over every validated answer, prompt by prompt.
    pub pass_at_1: Option<f64>,
    pub pass_at_k: Option<PassAtK>,
    pub well_formed_rate: Option<f64>,
}

/// What the simulator itself counted (its ground truth), when it was the backend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimTruth {
    pub scenario: String,
    pub time_scale: f64,
    /// The earliest the run's last request can go given the chain's
    /// per-minute limits (requests ÷ allowed rate, less the first minute's
    /// burst), when every chain model is under one: no policy finishes sooner.
    pub lower_bound_s: Option<f64>,
    pub stats: SimStats,
}

/// Who ran what, for the report's header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub backend: String,
    pub policy: String,
    pub chain: Vec<String>,
    pub suite: String,
    pub results_file: String,
    pub deadline_ms: u64,
    pub interrupted: bool,
    pub elapsed_s: f64,
    /// The TCP connections opened before the first prompt and during the run.
    pub connections: crate::output::summary::JsonConnections,
}

/// Everything rotate-test reports (`--json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RotateReport {
    pub schema_version: u32,
    pub command: &'static str,
    #[serde(flatten)]
    pub info: RunInfo,
    pub passed: bool,
    pub thresholds: Vec<Check>,
    pub overall: Overall,
    pub models: Vec<ModelRow>,
    pub prompts: Vec<PromptOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulator: Option<SimTruth>,
}

impl RotateReport {
    /// Builds the report and checks the thresholds.
    pub fn build(
        info: RunInfo,
        prompts: Vec<PromptOutcome>,
        snapshot: &EngineSnapshot,
        records: &RunSummary,
        thresholds: &Thresholds,
        simulator: Option<SimTruth>,
    ) -> RotateReport {
        let models: Vec<ModelRow> = snapshot
            .models
            .iter()
            .map(|m| {
                let s = records.models.iter().find(|r| r.model == m.id);
                let answered = prompts
                    .iter()
                    .filter(|p| p.ok && p.model_used.as_deref() == Some(m.id.as_str()))
                    .count() as u64;
                model_row(m, s, answered)
            })
            .collect();
        let overall = overall(&prompts, &models, records);
        let checks = thresholds.evaluate(&Measured {
            success_rate: overall.success_rate,
            p95_ms: overall.latency_ms.p95,
            fallback_rate: overall.fallback_rate,
        });
        RotateReport {
            schema_version: SCHEMA_VERSION,
            command: "rotate-test",
            passed: checks.iter().all(|c| c.passed) && !info.interrupted,
            info,
            thresholds: checks,
            overall,
            models,
            prompts,
            simulator,
        }
    }

    /// The checks that failed.
    pub fn failed_checks(&self) -> Vec<&Check> {
        self.thresholds.iter().filter(|c| !c.passed).collect()
    }

    /// True when some prompt repeats (names then carry `#repeat`).
    pub fn repeats(&self) -> bool {
        self.prompts.iter().any(|p| p.repeat > 0)
    }
}

fn model_row(
    m: &crate::engine::ModelSnapshot,
    s: Option<&ModelSummary>,
    answered: u64,
) -> ModelRow {
    let c = &m.counters;
    let scopes = s
        .map(|s| {
            s.rate_limited_by_scope
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect()
        })
        .unwrap_or_default();
    let errors = s
        .map(|s| {
            s.errors
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect()
        })
        .unwrap_or_default();
    let scores = s.map_or_else(PromptScores::default, |s| {
        PromptScores::of(s.per_prompt.values().copied()).rounded()
    });
    let validation: BTreeMap<String, u64> = s.map(|s| s.verdicts.clone()).unwrap_or_default();
    ModelRow {
        model: m.id.clone(),
        provider: m.provider.clone(),
        attempts: u64::from(c.attempts),
        successes: u64::from(c.successes),
        failures: u64::from(c.failures),
        rate_limited: u64::from(c.rate_limited),
        rate_limited_by_scope: scopes,
        errors,
        rotations_in: c.rotations_in,
        rotations_out: c.rotations_out,
        waits: c.waits,
        wait_ms: c.wait_ms,
        breaker_opens: m.breaker_opens,
        breaker: enum_name(&m.breaker),
        answered,
        latency_ms: Quantiles::of_sample(s.map_or(&Sample::default(), |s| &s.latency_ms)),
        pass_at_1: scores.pass_at_1,
        pass_at_k: scores.pass_at_k,
        well_formed_rate: well_formed(&validation),
        validation,
    }
}

/// Answers with code ÷ validated answers, from verdict counts.
fn well_formed(verdicts: &BTreeMap<String, u64>) -> Option<f64> {
    let n = verdicts.values().sum();
    let no_code = verdicts.get("no_code").copied().unwrap_or(0);
    well_formed_rate(n, no_code).map(round3)
}

fn overall(prompts: &[PromptOutcome], models: &[ModelRow], records: &RunSummary) -> Overall {
    let n = prompts.len() as u64;
    let succeeded = prompts.iter().filter(|p| p.ok).count() as u64;
    let by_fallback = prompts.iter().filter(|p| p.by_fallback()).count() as u64;
    let latencies: Vec<f64> = prompts
        .iter()
        .filter(|p| p.ok)
        .map(|p| p.elapsed_ms)
        .collect();
    let ratio = |a: u64, b: u64| (b > 0).then(|| round3(a as f64 / b as f64));
    let mut gave_up = BTreeMap::new();
    for p in prompts.iter().filter(|p| !p.ok) {
        let key = p.gave_up.clone().unwrap_or_else(|| "no_answer".into());
        *gave_up.entry(key).or_insert(0) += 1;
    }
    let mut scopes = BTreeMap::new();
    let mut validation = BTreeMap::new();
    for m in models {
        for (k, v) in &m.rate_limited_by_scope {
            *scopes.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &m.validation {
            *validation.entry(k.clone()).or_insert(0) += v;
        }
    }
    // Every model's answers, prompt by prompt.
    let mut per_prompt: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for m in &records.models {
        for (prompt, (n, c)) in &m.per_prompt {
            let e = per_prompt.entry(prompt.as_str()).or_default();
            e.0 += n;
            e.1 += c;
        }
    }
    let scores = PromptScores::of(per_prompt.into_values()).rounded();
    Overall {
        prompts: n,
        succeeded,
        failed: n - succeeded,
        success_rate: ratio(succeeded, n),
        latency_ms: Quantiles::of(&latencies),
        primary_share: ratio(succeeded - by_fallback, succeeded),
        fallback_rate: ratio(by_fallback, succeeded),
        attempts: models.iter().map(|m| m.attempts).sum(),
        rate_limited: models.iter().map(|m| m.rate_limited).sum(),
        rate_limited_by_scope: scopes,
        fallbacks: prompts.iter().map(|p| u64::from(p.fallbacks)).sum(),
        waits: models.iter().map(|m| u64::from(m.waits)).sum(),
        wait_ms: models.iter().map(|m| m.wait_ms).sum(),
        breaker_opens: models.iter().map(|m| u64::from(m.breaker_opens)).sum(),
        gave_up,
        well_formed_rate: well_formed(&validation),
        validation,
        pass_at_1: scores.pass_at_1,
        pass_at_k: scores.pass_at_k,
    }
}
