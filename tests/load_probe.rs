//! Load correctness: 1,000 prompts at concurrency 256 through `rotor probe`
//! (every prompt goes through the rotation engine as a chain of one) against
//! a `rotor sim` child process whose scenario injects a few faults. Every
//! attempt the simulator answered must be in the results file, with the
//! outcome the simulator says a correct client records, per model; and the
//! connection pool must reuse its connections. The 10k version with memory
//! figures is `bench/load.sh` (BENCHMARKS.md, "Load correctness").

mod common;

use std::collections::BTreeMap;

use common::{SimProcess, attempts, read_records, repo_path, rotor};
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
    // A deadline far beyond what any prompt needs, even in a debug build on
    // a busy machine (at concurrency 256 a request waits its turn in the
    // simulator for a second or more): a deadline that fires after the
    // simulator answered would make the counts differ for the wrong reason.
    let registry = dir.path().join("registry.yaml");
    let models: String = MODELS
        .iter()
        .map(|m| format!("  - {{id: \"{m}\", provider: local, status: verified, tier: tier1}}\n"))
        .collect();
    std::fs::write(
        &registry,
        format!(
            "version: 1
providers:
  local: {{kind: openai-compatible, base_url: \"http://127.0.0.1:9/v1\"}}
tiers:
  - {{name: tier1, label: fast, max_p50_ms: 2000}}
rotation:
  policy: adaptive
  deadline_s: 120
  backoff: {{base_s: 0.01, cap_s: 0.05, factor: 2, max_retries: 3}}
  breaker: {{failures: 50, cooldown_s: 0.2}}
models:
{models}"
        ),
    )
    .unwrap();
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
    assert_eq!(
        total,
        stats["requests"].as_u64().unwrap(),
        "no request unrecorded"
    );
    let ok: u64 = mine.values().filter_map(|m| m.get("ok")).sum();
    assert!(total > ok, "the scenario's faults make some attempts fail");
    assert!(
        ok >= 900,
        "most of the 1000 prompts end with an answer: {ok}"
    );
    assert!(
        mine.values().all(|m| m.len() >= 3),
        "several outcomes per model: {mine:?}"
    );
    // Each prompt is either answered or has a give_up event.
    let gave_up = records.iter().filter(|r| r["event"] == "give_up").count() as u64;
    assert_eq!(ok + gave_up, 1000, "every prompt ends once");
    // Keep-alive: about one connection per request in flight, not one per
    // request. Each fault that leaves a body unread or cut costs a new one,
    // and a request may start just before a finished one's connection is
    // back in the pool: a margin of a tenth of the requests. (Without
    // keep-alive it would be one per request.)
    let broken: u64 = MODELS
        .iter()
        .map(|m| {
            let faults = &stats["models"][m]["faults"];
            [
                "disconnect",
                "truncated",
                "malformed_json",
                "mid_stream_error",
            ]
            .iter()
            .map(|f| faults[f].as_u64().unwrap_or(0))
            .sum::<u64>()
        })
        .sum();
    let connections = stats["connections"].as_u64().unwrap();
    assert!(
        connections <= CONCURRENCY + broken + total / 10,
        "{connections} connections for {total} requests at concurrency {CONCURRENCY} ({broken} broken)"
    );
}
