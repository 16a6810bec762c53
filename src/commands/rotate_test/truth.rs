//! What the simulator itself saw (its counters, its request log and the
//! lower bound of a run's duration).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::exit::ResultExt;
use crate::output::rotate::{SimTruth, files};
use crate::sim::{LogEntry, SimServer};

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
}
