//! `--resume`: the part of the run finished before the interruption, rebuilt
//! from the results file's records of the run, so that the report (table,
//! `--json`, JUnit, Markdown) and the thresholds cover every prompt of the
//! run, not only those this invocation runs.
//!
//! A prompt of the earlier part counts when its `request` record is in the
//! file and this invocation plans it (same primary, a prompt of the suite as
//! selected, a repeat below `--repeat`): exactly the prompts the work list
//! skips, so none is counted twice (a duplicate `request` record counts once).
//!
//! Rebuilt as recorded: each of those prompts' outcome (its `request`
//! record), its answer's verdict (the latest `ok` attempt of the model used
//! that has one) and its attempts (latencies, 429s by scope, errors,
//! verdicts, pass@k). Approximated, because the records do not hold it:
//! - the engine's counters: attempts, successes, failures and 429s are
//!   counted from the attempt records (under `--require-valid` an `ok`
//!   answer whose verdict is not `passed` counts as a failure, as the
//!   engine's `accept` check made it; an answer the run could not validate
//!   counts as a success); rotations in and out from the `fallback` events;
//!   waits and their total from the `wait` events; breaker openings from the
//!   `breaker` events to `open`;
//! - the engine's live state (each breaker's state at the end, latency and
//!   success estimates, cooldowns, learned limits and pacing) is not rebuilt:
//!   the report shows this invocation's engine's, which started afresh;
//! - a failed prompt's explanation comes from its `give_up` event and its
//!   last attempt record (whose error message was cut to 300 characters);
//! - the attempts and events of prompts that had not finished when the run
//!   stopped (no `request` record) are left out: those prompts run again now
//!   and only this invocation's attempts of them count;
//! - models the earlier part used that are not in this invocation's targets
//!   get no row;
//! - the elapsed time, the TCP connections and the simulator's own counters
//!   are this invocation's.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::super::resume::Resume;
use crate::engine::{Counters, EngineSnapshot};
use crate::output::rotate::{LastAttempt, PromptOutcome, describe_failure};
use crate::record::{AttemptRecord, EventRecord, Outcome};

/// (prompt_id, repeat): one logical prompt of the run (one primary).
type PromptKey = (String, u32);

/// The earlier part of a resumed run.
#[derive(Debug, Default)]
pub struct Earlier {
    /// The prompts finished before, each once.
    pub prompts: Vec<PromptOutcome>,
    /// Their attempts (for the per-model summary).
    pub attempts: Vec<AttemptRecord>,
    /// Per model: the engine's counters and breaker openings of the earlier part.
    pub counters: HashMap<String, (Counters, u32)>,
}

/// Rebuilds the earlier part of the run in `resume`. `primary` is the
/// chain's first model as `--resume` keys finished prompts by it;
/// `planned(prompt_id, repeat)` says whether this invocation plans a prompt.
pub fn rebuild(
    resume: &Resume,
    primary: &str,
    planned: impl Fn(&str, u32) -> bool,
    require_valid: bool,
) -> Earlier {
    let mut index: HashMap<PromptKey, usize> = HashMap::new();
    let mut prompts = Vec::new();
    for e in resume.events.iter().filter(|e| e.event == "request") {
        let (Some(prompt_id), Some(repeat)) = (&e.prompt_id, e.repeat) else {
            continue;
        };
        // As resume::load keys finished prompts.
        let field = |k: &str| e.fields.get(k);
        let recorded_primary = field("primary").and_then(Value::as_str);
        if recorded_primary.or(e.model.as_deref()).unwrap_or_default() != primary
            || !planned(prompt_id, repeat)
            || index.contains_key(&(prompt_id.clone(), repeat))
        {
            continue;
        }
        index.insert((prompt_id.clone(), repeat), prompts.len());
        let u32_of = |k: &str| {
            field(k)
                .and_then(Value::as_u64)
                .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        let string_of = |k: &str| field(k).and_then(Value::as_str).map(str::to_string);
        prompts.push(PromptOutcome {
            prompt_id: prompt_id.clone(),
            repeat,
            primary: recorded_primary.map(str::to_string),
            model_used: string_of("model_used"),
            ok: field("ok").and_then(Value::as_bool).unwrap_or(false),
            attempts: u32_of("attempts"),
            hops: u32_of("hops"),
            fallbacks: u32_of("fallbacks"),
            waited_ms: field("waited_ms").and_then(Value::as_u64).unwrap_or(0),
            elapsed_ms: field("elapsed_ms").and_then(Value::as_f64).unwrap_or(0.0),
            gave_up: string_of("gave_up"),
            failure: None,
            validation: None,
            validation_detail: None,
        });
    }
    let of = |prompt_id: &Option<String>, repeat: Option<u32>| match (prompt_id, repeat) {
        (Some(p), Some(r)) => index.get(&(p.clone(), r)).copied(),
        _ => None,
    };

    let attempts: Vec<AttemptRecord> = resume
        .attempts
        .iter()
        .filter(|a| index.contains_key(&(a.prompt_id.clone(), a.repeat)))
        .cloned()
        .collect();
    // Each prompt's last attempt, and the latest verdict on its answer.
    let mut last: HashMap<usize, &AttemptRecord> = HashMap::new();
    let mut verdict: HashMap<usize, &AttemptRecord> = HashMap::new();
    for a in &attempts {
        let Some(&i) = index.get(&(a.prompt_id.clone(), a.repeat)) else {
            continue;
        };
        let later = |kept: Option<&&AttemptRecord>| kept.is_none_or(|k| a.attempt >= k.attempt);
        if later(last.get(&i)) {
            last.insert(i, a);
        }
        if a.outcome.is_ok()
            && a.validation.is_some()
            && prompts[i].model_used.as_deref() == Some(a.model.as_str())
            && later(verdict.get(&i))
        {
            verdict.insert(i, a);
        }
    }
    let mut would_wait: HashMap<usize, Duration> = HashMap::new();
    for e in resume.events.iter().filter(|e| e.event == "give_up") {
        if let Some(i) = of(&e.prompt_id, e.repeat)
            && let Some(ms) = e.fields.get("would_wait_ms").and_then(Value::as_u64)
        {
            would_wait.insert(i, Duration::from_millis(ms));
        }
    }
    for (i, p) in prompts.iter_mut().enumerate() {
        if let Some(a) = verdict.get(&i) {
            p.validation = a.validation.clone();
            p.validation_detail = a.validation_detail.clone();
        }
        if !p.ok {
            let last = last.get(&i).map(|a| LastAttempt {
                model: &a.model,
                outcome: a.outcome,
                http_status: a.http_status,
                scope: a.rate_limit_scope,
                error_message: a.error_message.as_deref(),
            });
            p.failure = Some(describe_failure(
                p.gave_up.as_deref(),
                would_wait.get(&i).copied(),
                p.attempts,
                p.hops,
                last,
            ));
        }
    }

    let mut counters: HashMap<String, (Counters, u32)> = HashMap::new();
    for a in &attempts {
        let c = &mut counters.entry(a.model.clone()).or_default().0;
        c.attempts += 1;
        let rejected = require_valid && a.validation.as_deref().is_some_and(|v| v != "passed");
        match a.outcome {
            Outcome::Ok if !rejected => c.successes += 1,
            Outcome::RateLimited => c.rate_limited += 1,
            Outcome::Ok
            | Outcome::Overloaded
            | Outcome::ServerError
            | Outcome::Timeout
            | Outcome::Network
            | Outcome::InvalidResponse => c.failures += 1,
            Outcome::Auth
            | Outcome::Payment
            | Outcome::Forbidden
            | Outcome::BadRequest
            | Outcome::NotFound => {}
        }
    }
    for e in resume
        .events
        .iter()
        .filter(|e| of(&e.prompt_id, e.repeat).is_some())
    {
        count_event(&mut counters, e);
    }
    Earlier {
        prompts,
        attempts,
        counters,
    }
}

/// Adds what an engine event record says to the counters.
fn count_event(counters: &mut HashMap<String, (Counters, u32)>, e: &EventRecord) {
    let str_of = |k: &str| e.fields.get(k).and_then(Value::as_str);
    match e.event.as_str() {
        "fallback" => {
            if let (Some(from), Some(to)) = (str_of("from"), str_of("to")) {
                counters
                    .entry(from.to_string())
                    .or_default()
                    .0
                    .rotations_out += 1;
                counters.entry(to.to_string()).or_default().0.rotations_in += 1;
            }
        }
        "wait" => {
            if let Some(model) = &e.model {
                let c = &mut counters.entry(model.clone()).or_default().0;
                c.waits += 1;
                c.wait_ms += e.fields.get("wait_ms").and_then(Value::as_u64).unwrap_or(0);
            }
        }
        "breaker" if str_of("to") == Some("open") => {
            if let Some(model) = &e.model {
                counters.entry(model.clone()).or_default().1 += 1;
            }
        }
        _ => {}
    }
}

impl Earlier {
    /// Adds the earlier part's counters to this invocation's engine snapshot.
    pub fn add_to(&self, snapshot: &mut EngineSnapshot) {
        for m in &mut snapshot.models {
            let Some((c, opens)) = self.counters.get(&m.id) else {
                continue;
            };
            let k = &mut m.counters;
            k.attempts += c.attempts;
            k.successes += c.successes;
            k.failures += c.failures;
            k.rate_limited += c.rate_limited;
            k.rotations_in += c.rotations_in;
            k.rotations_out += c.rotations_out;
            k.waits += c.waits;
            k.wait_ms += c.wait_ms;
            m.breaker_opens += opens;
        }
    }
}
