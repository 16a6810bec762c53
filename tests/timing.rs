//! rotor's timings against the simulator's own clock. In a test binary of its
//! own, so no other test competes for the two cores while it measures.

mod common;

use common::*;

fn first_prompt() -> String {
    let suite = rotor::suite::Suite::embedded_default().expect("embedded suite");
    suite.items[0].id.clone()
}

/// A scenario with fixed delays, so rotor's timings can be compared with the
/// simulator's own record of when it sent each byte.
const FIXED_DELAYS: &str = "name: fixed
seed: 3
time_scale: 1.0
defaults:
  ttft_ms: 60
  tokens_per_s: 500
  output_tokens: 30
models:
  - id: fixed/model
";

#[test]
fn ttft_and_latency_agree_with_the_simulators_clock() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("fixed.yaml");
    std::fs::write(&scenario, FIXED_DELAYS).unwrap();
    let sim = SimProcess::start(scenario.to_str().unwrap(), &[]);
    let registry = simple_registry(dir.path(), &["fixed/model"]);
    for stream in ["--stream", "--no-stream"] {
        let out = dir.path().join(format!("t{stream}.jsonl"));
        rotor(dir.path())
            .args([
                "probe",
                "--no-validate",
                stream,
                "--repeat",
                "6",
                "--concurrency",
                "2",
            ])
            .args(["--prompts", &first_prompt()])
            .args(["--base-url", &sim.base_url, "--models", "fixed/model"])
            .arg("--registry")
            .arg(&registry)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        let log = sim.get_json("/sim/log");
        let log = log
            .as_array()
            .or_else(|| log["entries"].as_array())
            .expect("log entries")
            .clone();
        let records = read_records(&out);
        let mut compared = 0;
        let (mut lat_err, mut ttft_err) = (Vec::new(), Vec::new());
        for a in attempts(&records) {
            assert_eq!(a["outcome"], "ok");
            let id = a["response_id"].as_str().expect("response id recorded");
            let entry = log
                .iter()
                .find(|e| e["response_id"] == id)
                .expect("the simulator logged the response");
            let received = entry["received_us"].as_f64().unwrap();
            let last = entry["last_byte_us"].as_f64().unwrap();
            let sim_latency = (last - received) / 1000.0;
            let latency = a["latency_ms"].as_f64().unwrap();
            // rotor's clock starts before the request is written, the
            // simulator's when it has parsed it: rotor's figure is a little
            // larger, never smaller.
            assert!(
                latency > sim_latency - 1.0 && latency < sim_latency + 25.0,
                "{stream}: latency {latency:.2} ms vs simulator {sim_latency:.2} ms"
            );
            lat_err.push(latency - sim_latency);
            if stream == "--stream" {
                let first = entry["first_content_us"].as_f64().unwrap();
                let sim_ttft = (first - received) / 1000.0;
                let ttft = a["ttft_ms"].as_f64().unwrap();
                assert!(
                    ttft > sim_ttft - 1.0 && ttft < sim_ttft + 25.0,
                    "ttft {ttft:.2} ms vs simulator {sim_ttft:.2} ms"
                );
                ttft_err.push(ttft - sim_ttft);
                assert!(ttft >= 60.0, "the scenario's 60 ms before the first token");
            }
            compared += 1;
        }
        assert_eq!(compared, 6);
        // Typical error: a few milliseconds in this debug build on a shared
        // machine (BENCHMARKS.md has the release-build figures).
        let median = |v: &[f64]| rotor::stats::percentile(v, 50.0).unwrap_or(0.0);
        assert!(median(&lat_err) < 5.0, "median latency error {lat_err:?}");
        if !ttft_err.is_empty() {
            assert!(median(&ttft_err) < 5.0, "median ttft error {ttft_err:?}");
        }
    }
}

/// Of the chat requests in `/sim/log`: how many came on a connection the
/// simulator accepted after the first of them had arrived (a connection
/// opened during the run, whose handshake a prompt waited for), how many
/// opened their connection, and how many there were.
fn connections_of_the_run(sim: &SimProcess) -> (usize, usize, usize) {
    let log = sim.get_json("/sim/log");
    let log = log.as_array().expect("log entries");
    let num =
        |e: &serde_json::Value, k: &str| e[k].as_u64().unwrap_or_else(|| panic!("{k} logged"));
    let first = log.iter().map(|e| num(e, "received_us")).min().unwrap_or(0);
    let late = log
        .iter()
        .filter(|e| num(e, "conn_accepted_us") >= first)
        .count();
    let firsts = log.iter().filter(|e| num(e, "conn_request") == 1).count();
    (late, firsts, log.len())
}

#[test]
fn connections_are_opened_before_the_first_prompt_unless_no_warmup() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("fixed.yaml");
    std::fs::write(&scenario, FIXED_DELAYS).unwrap();
    let registry = simple_registry(dir.path(), &["fixed/model"]);
    let run = |sim: &SimProcess, extra: &[&str]| -> serde_json::Value {
        let out = rotor(dir.path())
            .args(["probe", "--no-validate", "--no-stream", "--json"])
            .args(["--repeat", "24", "--concurrency", "8"])
            .args(extra)
            .args(["--prompts", &first_prompt()])
            .args(["--base-url", &sim.base_url, "--models", "fixed/model"])
            .arg("--registry")
            .arg(&registry)
            .arg("--out")
            .arg(dir.path().join("w.jsonl"))
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).expect("--json summary")
    };

    // With the warm-up (the default), every prompt's request travels on a
    // connection that was open before the first prompt was sent.
    let sim = SimProcess::start(scenario.to_str().unwrap(), &[]);
    let summary = run(&sim, &[]);
    assert_eq!(
        summary["connections"],
        serde_json::json!({"opened_before_first_prompt": 8, "opened_during_run": 0}),
        "what the client says it opened"
    );
    let (late, _, n) = connections_of_the_run(&sim);
    assert_eq!(n, 24);
    assert_eq!(late, 0, "no prompt waited for a connection to open");
    let connections = sim.stats()["connections"].as_u64().unwrap();
    assert_eq!(
        connections,
        1 + 8 + 2,
        "one for the pre-flight check, 8 opened ahead and used by the run, and this test's two requests to /sim"
    );

    // Without it, the first request of each slot opens one.
    let sim = SimProcess::start(scenario.to_str().unwrap(), &[]);
    let summary = run(&sim, &["--no-warmup"]);
    assert_eq!(
        summary["connections"],
        serde_json::json!({"opened_before_first_prompt": 0, "opened_during_run": 8})
    );
    let (_, firsts, n) = connections_of_the_run(&sim);
    assert_eq!(n, 24);
    assert!(
        (1..=8).contains(&firsts),
        "the first requests open the connections: {firsts}"
    );
}
