//! The catalogue through the binaries: `rotor probe` against a `rotor sim`
//! process serving it. rotor's per-attempt counts must equal what the
//! simulator says it did, the canary key must appear in no output, and an
//! absurd Retry-After must lose to the engine's deadline.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// The records of a results file.
fn records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Attempt records per model, by outcome.
fn attempts_by_outcome(records: &[Value]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in records.iter().filter(|r| r["kind"] == "attempt") {
        let model = r["model"].as_str().unwrap().to_string();
        let outcome = r["outcome"].as_str().unwrap().to_string();
        *out.entry(model).or_default().entry(outcome).or_default() += 1;
    }
    out
}

/// `rotor` with the canary key in its environment.
fn rotor() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("rotor").unwrap();
    cmd.env("ROTOR_HOSTILE_CANARY", canary())
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60));
    cmd
}

/// What one `rotor probe` run left behind.
struct Probe {
    stdout: String,
    stderr: String,
    records: Vec<Value>,
    csv: String,
    took: Duration,
}

/// The attempt timeout of the catalogue probes, seconds: 2 rather than 1 so
/// a loaded machine still reads the 10 MiB of `huge-body` (about 0.1 s in a
/// debug build when idle) before the deadline.
const PROBE_TIMEOUT: &str = "2";

/// Runs `rotor probe` over the catalogue against `base`, with the canary key.
fn probe(dir: &Path, base: &str, registry: &Path, models: &[String], stream: bool) -> Probe {
    let mode = if stream { "--stream" } else { "--no-stream" };
    let out = dir.join(format!("r{mode}.jsonl"));
    let csv = dir.join(format!("r{mode}.csv"));
    let started = Instant::now();
    let run = assert_cmd::Command::cargo_bin("rotor")
        .unwrap()
        .env("ROTOR_HOSTILE_CANARY", canary())
        .env_remove("RUST_LOG")
        .arg("--registry")
        .arg(registry)
        .args(["probe", "--base-url", base, mode])
        .args(["--api-key-env", "ROTOR_HOSTILE_CANARY"])
        .args(["--models", &models.join(",")])
        .args(["--prompts", "parse-duration", "--timeout", PROBE_TIMEOUT])
        .args(["--concurrency", &models.len().to_string(), "--json", "-vv"])
        .arg("--out")
        .arg(&out)
        .arg("--csv")
        .arg(&csv)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{:?}\n{stderr}", run.status);
    Probe {
        stdout: String::from_utf8_lossy(&run.stdout).into_owned(),
        stderr,
        records: records(&out),
        csv: std::fs::read_to_string(&csv).unwrap(),
        took,
    }
}

/// rotor's counts (records and JSON summary) per model and outcome must be
/// the simulator's.
fn compare(run: &Probe, stats: &Value, models: &[String], mode: &str) {
    let rotor_counts = attempts_by_outcome(&run.records);
    for m in models {
        let truth: BTreeMap<String, u64> =
            serde_json::from_value(stats["models"][m]["by_outcome"].clone()).unwrap();
        let seen = rotor_counts.get(m).cloned().unwrap_or_default();
        assert_eq!(
            seen, truth,
            "{mode} {m}: rotor recorded {seen:?}, the simulator did {truth:?}"
        );
    }
    let total: u64 = rotor_counts.values().flat_map(|c| c.values()).sum();
    assert_eq!(Some(total), stats["requests"].as_u64(), "{mode}");

    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    for m in summary["models"].as_array().unwrap() {
        let id = m["model"].as_str().unwrap();
        let mut seen: BTreeMap<String, u64> = serde_json::from_value(m["errors"].clone()).unwrap();
        for k in ["ok", "rate_limited"] {
            let n = m[k].as_u64().unwrap();
            if n > 0 {
                seen.insert(k.to_string(), n);
            }
        }
        let truth: BTreeMap<String, u64> =
            serde_json::from_value(stats["models"][id]["by_outcome"].clone()).unwrap();
        assert_eq!(seen, truth, "{mode} summary of {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_counts_equal_sim_stats_and_the_canary_key_never_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let (trap, trap_hits) = other_host().await;
    // The catalogue, its redirect pointed at a listener this test owns.
    let scenario = dir.path().join("hostile.yaml");
    let text = std::fs::read_to_string(HOSTILE).unwrap();
    std::fs::write(&scenario, format!("{text}\nredirect_to: {trap}\n")).unwrap();
    let sim = SimProcess::start(&scenario);
    let models = hostile_models();
    let registry = write_registry(dir.path(), &models, 5.0);

    let mut runs = Vec::new();
    for stream in [true, false] {
        let mode = if stream { "stream" } else { "no-stream" };
        let run = probe(dir.path(), &sim.base_url, &registry, &models, stream);
        // Two attempts of at most 2 s each per model, all at once.
        assert!(run.took < Duration::from_secs(12), "{mode}: {:?}", run.took);
        let stats = sim.stats().await;
        compare(&run, &stats, &models, mode);
        // The engine retried what failed: one retry for errors it blames
        // on the model, none for answers.
        let counts = attempts_by_outcome(&run.records);
        let attempts = |m: &str| counts[m].values().sum::<u64>();
        for m in [
            "hostile/html-200",
            "hostile/hang",
            "hostile/reset-before-headers",
        ] {
            assert_eq!(attempts(m), 2, "{mode} {m}: {:?}", counts[m]);
        }
        assert_eq!(attempts("hostile/no-done"), 1, "{mode}");
        assert_eq!(stats["redirects_followed"], 0);
        sim.reset().await;
        runs.push(run);
    }
    // rotate-test through the whole catalogue as one chain, with its JUnit
    // and Markdown reports (the thresholds may fail: exit 0 or 1).
    let junit = dir.path().join("rotor.xml");
    let markdown = dir.path().join("rotor.md");
    let rotated = dir.path().join("rotate.jsonl");
    let rotate = rotor()
        .arg("--registry")
        .arg(&registry)
        .args(["rotate-test", "--base-url", &sim.base_url])
        .args(["--api-key-env", "ROTOR_HOSTILE_CANARY"])
        .args(["--chain", &models.join(",")])
        .args(["--prompts", "parse-duration", "--timeout", PROBE_TIMEOUT])
        .args(["--deadline", "20", "--json", "-vv", "--no-validate"])
        .arg("--junit")
        .arg(&junit)
        .arg("--markdown")
        .arg(&markdown)
        .arg("--out")
        .arg(&rotated)
        .output()
        .unwrap();
    let rotate_err = String::from_utf8_lossy(&rotate.stderr).into_owned();
    assert!(matches!(rotate.status.code(), Some(0 | 1)), "{rotate_err}");
    let (sim_out, sim_err) = sim.stop();

    // report over everything the runs wrote, in every form.
    let html = dir.path().join("report.html");
    let mut reports = Vec::new();
    for form in [&["--json"][..], &["--markdown"], &["--csv"], &[]] {
        let out = rotor()
            .arg("--registry")
            .arg(&registry)
            .arg("report")
            .arg(dir.path())
            .args(form)
            .arg("--html")
            .arg(&html)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "report {form:?}: {err}");
        reports.push(String::from_utf8_lossy(&out.stdout).into_owned());
        reports.push(err);
    }

    // The canary key: nowhere in any output, and no request reached the
    // other host.
    let key = canary();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let mut outputs = vec![
        ("sim stdout", sim_out),
        ("sim stderr", sim_err),
        (
            "rotate-test stdout",
            String::from_utf8_lossy(&rotate.stdout).into_owned(),
        ),
        ("rotate-test stderr", rotate_err),
        ("rotate-test results", read(&rotated)),
        ("JUnit file", read(&junit)),
        ("Markdown file", read(&markdown)),
        ("HTML report", read(&html)),
    ];
    outputs.extend(reports.into_iter().map(|r| ("report", r)));
    assert!(outputs[5].1.contains("<testcase"), "{}", outputs[5].1);
    assert!(
        outputs[7].1.contains("<svg"),
        "the HTML report has no chart"
    );
    for run in runs {
        let results = run.records.iter().map(Value::to_string).collect();
        outputs.extend([
            ("probe stdout", run.stdout),
            ("probe stderr", run.stderr),
            ("results", results),
            ("csv", run.csv),
        ]);
    }
    for (what, text) in &outputs {
        assert!(!text.contains(&key), "the key leaked into {what}");
        assert!(
            !text.contains("sk-canary"),
            "part of the key leaked into {what}"
        );
    }
    assert_eq!(
        trap_hits.load(Ordering::SeqCst),
        0,
        "a redirect was followed"
    );
}

#[test]
fn an_absurd_retry_after_loses_to_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let model = "hostile/retry-after-huge".to_string();
    let registry = write_registry(dir.path(), std::slice::from_ref(&model), 2.0);
    let out = dir.path().join("r.jsonl");
    let started = Instant::now();
    let run = assert_cmd::Command::cargo_bin("rotor")
        .unwrap()
        .env_remove("RUST_LOG")
        .arg("--registry")
        .arg(&registry)
        .args(["probe", "--sim", HOSTILE, "--models", &model])
        .args(["--prompts", "parse-duration", "--timeout", "1", "--json"])
        .arg("--out")
        .arg(&out)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        took < Duration::from_secs(3),
        "the server's 999999 s won: {took:?}"
    );
    let recs = records(&out);
    let attempts: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "attempt").collect();
    assert_eq!(attempts.len(), 1, "{recs:#?}");
    assert_eq!(attempts[0]["outcome"], "rate_limited");
    assert_eq!(attempts[0]["retry_after_ms"], 999_999_000u64);
    let give_up = recs
        .iter()
        .find(|r| r["event"] == "give_up")
        .unwrap_or_else(|| panic!("no give_up event: {recs:#?}"));
    assert_eq!(give_up["reason"], "deadline", "{give_up}");
}
