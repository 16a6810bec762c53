//! Load correctness: 1,000 prompts at concurrency 256 through `rotor probe`
//! (every prompt goes through the rotation engine as a chain of one) against
//! a `rotor sim` child process whose scenario injects a few faults. Every
//! attempt the simulator answered must be in the results file, with the
//! outcome the simulator says a correct client records, per model; and the
//! connection pool must reuse its connections. The 10k version with memory
//! figures is `bench/load.sh` (BENCHMARKS.md, "Load correctness").

mod common;

use std::collections::BTreeMap;

use common::{SimProcess, attempts, read_records, repo_path, rotor, simple_registry};
use serde_json::Value;

const MODELS: [&str; 2] = ["load/a", "load/b"];
const CONCURRENCY: u64 = 256;

fn first_prompt() -> String {
    let suite = rotor::suite::Suite::embedded_default().expect("embedded suite");
    suite.items[0].id.clone()
}

/// Per model, per outcome: rotor's attempt records.
fn recorded(records: &[Value]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for a in attempts(records) {
        let model = a["model"].as_str().expect("model").to_string();
        let outcome = a["outcome"].as_str().expect("outcome").to_string();
        *m.entry(model).or_default().entry(outcome).or_default() += 1;
    }
    m
}

/// Per model, per outcome: what the simulator says it answered.
fn served(stats: &Value) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut m = BTreeMap::new();
    for model in MODELS {
        let by: BTreeMap<String, u64> =
            serde_json::from_value(stats["models"][model]["by_outcome"].clone())
                .expect("by_outcome");
        m.insert(model.to_string(), by);
    }
    m
}

#[test]
fn every_attempt_at_concurrency_256_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = repo_path("bench/scenarios/load.yaml");
    let sim = SimProcess::start(scenario.to_str().unwrap(), &[]);
    let registry = simple_registry(dir.path(), &MODELS);
    let out = dir.path().join("load.jsonl");
    rotor(dir.path())
        .args(["probe", "--no-validate", "--json", "--repeat", "500"])
        .args(["--concurrency", &CONCURRENCY.to_string()])
        .args(["--prompts", &first_prompt()])
        .args(["--base-url", &sim.base_url, "--models", &MODELS.join(",")])
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();

    let stats = sim.stats();
    let records = read_records(&out);
    let mine = recorded(&records);
    let truth = served(&stats);
    assert_eq!(mine, truth, "records per model and outcome vs /sim/stats");

    let total: u64 = mine.values().flat_map(|m| m.values()).sum();
    assert_eq!(total, stats["requests"].as_u64().unwrap(), "no request unrecorded");
    let ok: u64 = mine.values().filter_map(|m| m.get("ok")).sum();
    assert!(total > ok, "the scenario's faults make some attempts fail");
    assert!(ok >= 900, "most of the 1000 prompts end with an answer: {ok}");
    assert!(
        mine.values().all(|m| m.len() >= 3),
        "several outcomes per model: {mine:?}"
    );
    // Each prompt is either answered or has a give_up event.
    let gave_up = records.iter().filter(|r| r["event"] == "give_up").count() as u64;
    assert_eq!(ok + gave_up, 1000, "every prompt ends once");
    // Keep-alive: about one connection per request in flight, not one per
    // request (faults that break a connection, such as a disconnect or a
    // truncated body, each cost a new one).
    let broken: u64 = MODELS
        .iter()
        .map(|m| {
            let faults = &stats["models"][m]["faults"];
            ["disconnect", "truncated", "malformed_json"]
                .iter()
                .map(|f| faults[f].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    let connections = stats["connections"].as_u64().unwrap();
    assert!(
        connections <= CONCURRENCY + broken + 16,
        "{connections} connections for {total} requests at concurrency {CONCURRENCY} ({broken} broken)"
    );
}
