//! The per-prompt `request` record, and what the simulator itself saw (its
//! counters, its request log and the lower bound of a run's duration).

use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::exit::ResultExt;
use crate::output::rotate::{PromptOutcome, SimTruth, files};
use crate::record::{EventRecord, RecordKind, SCHEMA_VERSION};
use crate::sim::{LogEntry, SimServer};

/// The record written once per logical prompt (`kind: event`, `event:
/// request`): which model answered, whether it was the primary, how many
/// attempts, hops and fallbacks it took, how long it waited and why it gave
/// up. `rotor report` derives primary share and fallback rate from these.
pub fn request_record(
    run_id: &str,
    policy: &str,
    deadline_ms: u64,
    p: &PromptOutcome,
) -> EventRecord {
    let mut fields = Map::new();
    let mut put = |k: &str, v: Value| {
        fields.insert(k.to_string(), v);
    };
    put("model_used", json!(p.model_used));
    put("primary", json!(p.primary));
    put("ok", json!(p.ok));
    put("by_fallback", json!(p.by_fallback()));
    put("attempts", json!(p.attempts));
    put("hops", json!(p.hops));
    put("fallbacks", json!(p.fallbacks));
    put("waited_ms", json!(p.waited_ms));
    put("elapsed_ms", json!(p.elapsed_ms));
    put("gave_up", json!(p.gave_up));
    put("policy", json!(policy));
    put("deadline_ms", json!(deadline_ms));
    EventRecord {
        schema_version: SCHEMA_VERSION,
        kind: RecordKind::Event,
        run_id: run_id.to_string(),
        ts: Utc::now(),
        command: "rotate-test".into(),
        event: "request".into(),
        model: p.model_used.clone(),
        prompt_id: Some(p.prompt_id.clone()),
        repeat: Some(p.repeat),
        fields,
    }
}

/// The simulator's counters at the end of the run, and the lower bound of
/// the run's duration for `prompts` prompts through `chain`.
pub fn sim_truth(sim: &SimServer, label: &str, chain: &[String], prompts: u64) -> SimTruth {
    let scenario = sim.scenario();
    SimTruth {
        scenario: label.to_string(),
        time_scale: scenario.time_scale,
        lower_bound_s: lower_bound_s(scenario, chain, prompts),
        stats: sim.stats(),
    }
}

/// The earliest the last of `prompts` requests can be sent through the
/// chain's accounts: with `L` requests allowed per (scaled) minute `W` — the
/// sum of `per_minute` over the distinct groups of the chain's models, plus
/// the `rpm` of chain models outside any group — request `k` (from 0) cannot
/// go before `⌊k / L⌋ · W`, so the run needs at least `⌊(N − 1) / L⌋ · W`
/// (requests ÷ allowed rate, less the first minute's burst). `None` when
/// some chain model has no limit (latency, not the rate, bounds the run).
pub fn lower_bound_s(
    scenario: &crate::sim::Scenario,
    chain: &[String],
    prompts: u64,
) -> Option<f64> {
    let minute = scenario.scaled(60.0).as_secs_f64();
    let mut groups: Vec<usize> = Vec::new();
    let mut per_minute: u64 = 0;
    for id in chain {
        let group = scenario
            .group_index_of(id)
            .filter(|&g| scenario.groups[g].per_minute.is_some());
        match group {
            Some(g) => {
                if !groups.contains(&g) {
                    groups.push(g);
                    per_minute += u64::from(scenario.groups[g].per_minute.unwrap_or(0));
                }
            }
            None => per_minute += u64::from(scenario.model(id).and_then(|m| m.rpm)?),
        }
    }
    (per_minute > 0 && minute > 0.0 && prompts > 0)
        .then(|| ((prompts - 1) / per_minute) as f64 * minute)
}

/// The `--sim-log` file: the simulator's start on the wall clock and every
/// request it received (`received_us` counts from `start_epoch_ms`).
#[derive(Serialize)]
struct SimLogFile<'a> {
    scenario: &'a str,
    start_epoch_ms: u64,
    log: Vec<LogEntry>,
}

pub fn write_sim_log(sim: &SimServer, label: &str, path: &Path) -> anyhow::Result<()> {
    let file = SimLogFile {
        scenario: label,
        start_epoch_ms: sim.stats().start_epoch_ms,
        log: sim.log(),
    };
    let bytes = serde_json::to_vec(&file).context("serialising the simulator log")?;
    files::write_atomic(path, &bytes).env_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Scenario;

    #[test]
    fn lower_bound_is_whole_minutes_of_requests_past_the_first_burst() {
        let s = Scenario::from_str(
            r#"
name: t
time_scale: 0.1
groups:
  - {name: a, match: ":free", per_minute: 12}
models:
  - {id: "x:free"}
  - {id: "y:free"}
  - {id: "z", rpm: 6}
  - {id: "w"}
"#,
            "t",
        )
        .unwrap();
        let chain = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // 12 per 6 s, shared by both free models: requests 0-11 at once,
        // 12-23 after one minute, 24 after two.
        let free = chain(&["x:free", "y:free"]);
        assert_eq!(lower_bound_s(&s, &free, 12), Some(0.0));
        assert_eq!(lower_bound_s(&s, &free, 24), Some(6.0));
        assert_eq!(lower_bound_s(&s, &free, 25), Some(12.0));
        // z adds 6 per minute: 18 per 6 s.
        assert_eq!(lower_bound_s(&s, &chain(&["x:free", "z"]), 37), Some(12.0));
        assert_eq!(lower_bound_s(&s, &chain(&["x:free", "w"]), 30), None);
    }

    #[test]
    fn request_record_carries_what_report_needs() {
        let p = PromptOutcome {
            prompt_id: "fizz".into(),
            repeat: 1,
            primary: Some("a".into()),
            model_used: Some("b".into()),
            ok: true,
            attempts: 3,
            hops: 2,
            fallbacks: 1,
            waited_ms: 40,
            elapsed_ms: 123.5,
            gave_up: None,
            failure: None,
        };
        let v = serde_json::to_value(request_record("r1", "adaptive", 5000, &p)).unwrap();
        assert_eq!(v["kind"], "event");
        assert_eq!(v["event"], "request");
        assert_eq!(v["prompt_id"], "fizz");
        assert_eq!(v["repeat"], 1);
        assert_eq!(v["model_used"], "b");
        assert_eq!(v["primary"], "a");
        assert_eq!(v["by_fallback"], true);
        assert_eq!(v["ok"], true);
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["hops"], 2);
        assert_eq!(v["fallbacks"], 1);
        assert_eq!(v["waited_ms"], 40);
        assert_eq!(v["elapsed_ms"], 123.5);
        assert!(v["gave_up"].is_null());
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
    }
}
