//! Helpers of the rotate-test integration tests: run the binary against the
//! simulator, read rotor's side (the JSON report, the results file) and the
//! simulator's side (its counters and request log), and check one against
//! the other.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub const P: &str = "meta-llama/llama-3.3-8b-instruct:free";
pub const F1: &str = "cognitivecomputations/dolphin-mistral-24b-venice-edition:free";
pub const F2: &str = "cognitivecomputations/dolphin3.0-mistral-24b:free";
pub const LOCAL: &str = "ministral-3:3b";

/// A registry whose models are the `all-outcomes` scenario's: a model that
/// answers 400 and one that answers, with a context too small for the
/// longest prompts.
pub const OUTCOMES_REGISTRY: &str = r#"
version: 1
providers:
  sim:
    kind: openai-compatible
    base_url: http://127.0.0.1:9/v1
tiers:
  - {name: tier1, label: fast, max_p50_ms: 2000}
rotation:
  order: [outcome/bad-request, outcome/ok]
models:
  - {id: outcome/bad-request, provider: sim, status: verified, tier: tier1}
  - {id: outcome/ok, provider: sim, status: verified, tier: tier1, context_length: 1130}
"#;

/// rotate-test on three prompts of the `all-outcomes` scenario, one at a
/// time, without validation (with [`OUTCOMES_REGISTRY`]).
pub const OUTCOMES_RUN: [&str; 10] = [
    "rotate-test",
    "--sim",
    "all-outcomes",
    "--prompts",
    "parse-duration,count-weekdays,grid-shortest-path",
    "--concurrency",
    "1",
    "--deadline",
    "10",
    "--no-validate",
];

/// The repository's registry.
pub fn registry() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("registry.yaml")
}

/// One finished rotate-test run and both sides of it.
pub struct Run {
    pub code: i32,
    pub stderr: String,
    pub stdout: String,
    /// The `--json` report (Null when the run printed none).
    pub report: Value,
    /// Every record of the results file.
    pub records: Vec<Value>,
    /// The simulator's request log (`--sim-log`) and its start epoch.
    pub sim_log: Vec<Value>,
    pub sim_start_ms: f64,
    pub dir: tempfile::TempDir,
}

/// The rotor binary with the repository's registry.
pub fn rotor() -> Command {
    rotor_with(&registry())
}

/// The rotor binary with `registry`, quiet, without GitHub's or OpenRouter's
/// variables.
pub fn rotor_with(registry: &Path) -> Command {
    let mut c = Command::cargo_bin("rotor").unwrap();
    c.arg("--registry").arg(registry).arg("-q");
    c.env_remove("GITHUB_STEP_SUMMARY");
    c.env_remove("OPENROUTER_API_KEY");
    c
}

/// `rotor rotate-test --sim <scenario> --json --no-validate` with `args`,
/// its results file and the simulator's log in a temp directory.
pub fn rotate(scenario: &str, args: &[&str]) -> Run {
    rotate_with(&registry(), scenario, args)
}

/// Scenario runs measure timing against a compressed clock: one at a time,
/// so the tests of a binary do not compete for the two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// [`rotate`] with another registry.
pub fn rotate_with(registry: &Path, scenario: &str, args: &[&str]) -> Run {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let log = dir.path().join("sim-log.json");
    let mut c = rotor_with(registry);
    c.args(["rotate-test", "--sim", scenario, "--json", "--no-validate"])
        .arg("--out")
        .arg(&out)
        .arg("--sim-log")
        .arg(&log)
        .args(args);
    finish(c, dir, &out, Some(&log))
}

/// Runs `c` and reads what it left in `dir`.
pub fn finish(mut c: Command, dir: tempfile::TempDir, out: &Path, log: Option<&Path>) -> Run {
    let o = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let records = std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (sim_log, sim_start_ms) = match log.and_then(|l| std::fs::read(l).ok()) {
        Some(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            (
                v["log"].as_array().unwrap().clone(),
                v["start_epoch_ms"].as_f64().unwrap(),
            )
        }
        None => (Vec::new(), 0.0),
    };
    Run {
        code: o.status.code().unwrap_or(-1),
        stderr,
        stdout,
        report,
        records,
        sim_log,
        sim_start_ms,
        dir,
    }
}

/// Epoch milliseconds of an RFC 3339 time stamp.
pub fn epoch_ms(ts: &str) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(ts).unwrap();
    t.timestamp_micros() as f64 / 1000.0
}

impl Run {
    /// Fails with everything useful when the exit code is not `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
        self
    }

    pub fn attempts(&self) -> impl Iterator<Item = &Value> {
        self.records.iter().filter(|r| r["kind"] == "attempt")
    }

    /// The event records named `name`.
    pub fn events<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.records
            .iter()
            .filter(move |r| r["kind"] == "event" && r["event"] == name)
    }

    pub fn sim_stats(&self) -> &Value {
        &self.report["simulator"]["stats"]
    }

    /// (epoch ms of arrival, log entry) of every request the simulator got for `model`.
    pub fn arrivals(&self, model: &str) -> Vec<(f64, &Value)> {
        self.sim_log
            .iter()
            .filter(|e| e["model"] == model)
            .map(|e| {
                (
                    self.sim_start_ms + e["received_us"].as_f64().unwrap() / 1000.0,
                    e,
                )
            })
            .collect()
    }

    /// Epoch ms at `scenario_s` seconds of simulated time.
    pub fn sim_time(&self, scenario_s: f64) -> f64 {
        let scale = self.report["simulator"]["time_scale"].as_f64().unwrap();
        self.sim_start_ms + scenario_s * scale * 1000.0
    }

    /// rotor's attempts per model and per (model, 429 scope) equal the
    /// simulator's own counts.
    pub fn assert_counts_match_the_simulator(&self) {
        let mut mine: BTreeMap<String, u64> = BTreeMap::new();
        let mut scopes: BTreeMap<(String, String), u64> = BTreeMap::new();
        for a in self.attempts() {
            let model = a["model"].as_str().unwrap().to_string();
            *mine.entry(model.clone()).or_default() += 1;
            if let Some(s) = a["rate_limit_scope"].as_str() {
                *scopes.entry((model, s.to_string())).or_default() += 1;
            }
        }
        let stats = self.sim_stats();
        let mut theirs: BTreeMap<String, u64> = BTreeMap::new();
        let mut their_scopes: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (model, m) in stats["models"].as_object().unwrap() {
            let n = m["requests"].as_u64().unwrap();
            if n > 0 {
                theirs.insert(model.clone(), n);
            }
            for (s, n) in m["rate_limited_by_scope"].as_object().unwrap() {
                their_scopes.insert((model.clone(), s.clone()), n.as_u64().unwrap());
            }
        }
        assert_eq!(mine, theirs, "attempts per model: rotor vs simulator");
        assert_eq!(
            scopes, their_scopes,
            "429s per model and scope: rotor vs simulator"
        );
    }

    /// No account-wide 429 reached rotor (the limits were known).
    pub fn assert_no_account_429s(&self) {
        for (name, g) in self.sim_stats()["groups"].as_object().unwrap() {
            assert_eq!(g["rate_limited_minute"], 0, "group {name}: {g}");
            assert_eq!(g["rate_limited_day"], 0, "group {name}: {g}");
        }
    }

    /// No request reached a model inside the Retry-After of a 429 it had
    /// answered: a window opens when rotor received the 429 (its attempt's
    /// send time + latency), lasts the Retry-After rotor recorded, and is cut
    /// short by the model's next 429 (the latest hint wins). Requests sent
    /// before rotor read the 429 may arrive up to `slack_ms` after it.
    /// Returns the number of windows checked.
    pub fn assert_retry_after_respected(&self, slack_ms: f64) -> usize {
        let mut by_model: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for a in self.attempts() {
            let scope = a["rate_limit_scope"].as_str();
            if a["outcome"] != "rate_limited" || !matches!(scope, Some("upstream" | "model")) {
                continue;
            }
            let Some(ra) = a["retry_after_ms"].as_f64() else {
                continue;
            };
            let end = epoch_ms(a["ts"].as_str().unwrap()) + a["latency_ms"].as_f64().unwrap();
            by_model
                .entry(a["model"].as_str().unwrap().to_string())
                .or_default()
                .push((end, ra));
        }
        let mut checked = 0;
        for (model, mut windows) in by_model {
            windows.sort_by(|a, b| a.0.total_cmp(&b.0));
            let arrivals = self.arrivals(&model);
            for (i, &(end, ra)) in windows.iter().enumerate() {
                let until = windows
                    .get(i + 1)
                    .map_or(end + ra, |next| (end + ra).min(next.0));
                checked += 1;
                for (t, e) in &arrivals {
                    assert!(
                        !(*t > end + slack_ms && *t < until - 2.0),
                        "{model} got a request {:.1} ms into a {ra} ms Retry-After \
                         (window {:.1} ms): {e}",
                        t - end,
                        until - end
                    );
                }
            }
        }
        checked
    }

    /// The open periods of each model's breaker, from rotor's `breaker`
    /// events: (model, opened at, half-open probe sent at or run end).
    pub fn open_periods(&self) -> Vec<(String, f64, f64)> {
        let end = self
            .records
            .iter()
            .filter_map(|r| r["ts"].as_str())
            .map(epoch_ms);
        let run_end = end.fold(0.0, f64::max) + 1.0;
        let mut open: BTreeMap<String, f64> = BTreeMap::new();
        let mut out = Vec::new();
        let mut events: Vec<&Value> = self.events("breaker").collect();
        events.sort_by(|a, b| {
            a["epoch_ms"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["epoch_ms"].as_f64().unwrap())
        });
        for e in events {
            let model = e["model"].as_str().unwrap().to_string();
            let at = e["epoch_ms"].as_f64().unwrap();
            if e["to"] == "open" {
                open.insert(model, at);
            } else if e["from"] == "open"
                && let Some(t1) = open.remove(&model)
            {
                out.push((model, t1, at));
            }
        }
        out.extend(open.into_iter().map(|(m, t1)| (m, t1, run_end)));
        out
    }

    /// No request reached a model while its breaker was open (requests sent
    /// before it opened may arrive up to `slack_ms` after). Returns the
    /// number of open periods checked.
    pub fn assert_no_traffic_while_open(&self, slack_ms: f64) -> usize {
        let periods = self.open_periods();
        for (model, t1, t2) in &periods {
            for (t, e) in self.arrivals(model) {
                assert!(
                    !(t > t1 + slack_ms && t < t2 - 2.0),
                    "{model} got a request {:.1} ms after its breaker opened \
                     (open for {:.1} ms): {e}",
                    t - t1,
                    t2 - t1
                );
            }
        }
        periods.len()
    }

    /// Every prompt ended within its deadline (+ `slack_ms` for scheduling).
    pub fn assert_deadline_held(&self, slack_ms: f64) {
        let mut n = 0;
        for r in self.events("request") {
            let deadline = r["deadline_ms"].as_f64().unwrap();
            let elapsed = r["elapsed_ms"].as_f64().unwrap();
            assert!(
                elapsed <= deadline + slack_ms,
                "prompt {} took {elapsed} ms, deadline {deadline} ms",
                r["prompt_id"]
            );
            n += 1;
        }
        assert!(n > 0, "no request records");
    }

    /// Requests the simulator answered `ok` per model after epoch `t`.
    pub fn ok_after(&self, t: f64) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for e in &self.sim_log {
            let at = self.sim_start_ms + e["received_us"].as_f64().unwrap() / 1000.0;
            if at > t && e["outcome"] == "ok" {
                *out.entry(e["model"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
        out
    }
}
