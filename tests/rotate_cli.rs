//! rotate-test's command-line contract: exit codes, the JUnit and Markdown
//! files (snapshots, timings redacted), GitHub's job summary,
//! `--require-valid`, and a run against a separate `rotor sim` through
//! `--base-url` checked against the server's own `/sim/stats` and `/sim/log`.

mod rotate_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use rotate_support::{
    F1, LOCAL, OUTCOMES_REGISTRY, OUTCOMES_RUN, P, epoch_ms, finish, rotate, rotor, rotor_with,
};
use serde_json::Value;

/// Replaces the value of every `name="…"` attribute.
fn redact_attr(s: &str, name: &str) -> String {
    let key = format!(" {name}=\"");
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(&key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push_str("[t]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Timings out of the Markdown summary: the run's duration, latency cells
/// and wait times.
fn redact_markdown(md: &str) -> String {
    md.lines()
        .map(|line| {
            if let Some(i) = line.find(" prompts in ") {
                let j = line[i..].find(" s.").map_or(line.len(), |j| i + j);
                format!("{} prompts in [t]{}", &line[..i], &line[j + 2..])
            } else if line.starts_with("| time to answer") {
                "| time to answer p50 / p95 (waits included) | [t] |".into()
            } else if line.starts_with("| waits |") {
                "| waits | [t] |".into()
            } else if line.starts_with("| `") {
                // Model rows: waits (ms) is the 8th cell, p50 the 11th.
                let mut cells: Vec<String> = line.split('|').map(str::to_string).collect();
                for k in [7, 10] {
                    if let Some(c) = cells.get_mut(k) {
                        *c = " [t] ".into();
                    }
                }
                cells.join("|")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn junit_and_markdown_report_every_prompt_and_the_failed_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.yaml");
    std::fs::write(&registry, OUTCOMES_REGISTRY).unwrap();
    let junit = dir.path().join("out/rotor.xml");
    let md = dir.path().join("rotor.md");
    let step = dir.path().join("step-summary.md");
    std::fs::write(&step, "earlier step\n").unwrap();
    let out = dir.path().join("results.jsonl");
    let mut c = rotor_with(&registry);
    c.args(OUTCOMES_RUN);
    c.arg("--junit").arg(&junit).arg("--markdown").arg(&md);
    c.arg("--out").arg(&out).env("GITHUB_STEP_SUMMARY", &step);
    let run = finish(c, dir, &out, None);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("success rate 66.7% is below the minimum 95.0% (min_success_rate)"),
        "{}",
        run.stderr
    );
    // The table on stdout.
    assert!(
        run.stdout.contains("FAIL success rate 66.7%"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("parse-duration: gave up: all incompatible"),
        "{}",
        run.stdout
    );

    let run_id = run.records[0]["run_id"].as_str().unwrap().to_string();
    let results = out.display().to_string();
    let xml = std::fs::read_to_string(&junit).unwrap();
    let xml = redact_attr(&xml, "time").replace(&run_id, "[run_id]");
    insta::assert_snapshot!("junit", xml);
    let text = std::fs::read_to_string(&md).unwrap();
    let redacted = redact_markdown(&text)
        .replace(&run_id, "[run_id]")
        .replace(&results, "[results]");
    insta::assert_snapshot!("markdown", redacted);
    // GitHub's job summary gets the same text, appended.
    let summary = std::fs::read_to_string(&step).unwrap();
    assert_eq!(summary, format!("earlier step\n{text}\n"));
}

#[test]
fn bad_input_exits_2_and_an_unreachable_server_exits_3() {
    for (args, needle) in [
        (&["--min-success-rate", "1.5"][..], "--min-success-rate"),
        (
            &["--chain", "no/such-model:free"][..],
            "unknown model 'no/such-model:free'",
        ),
        (
            &["--policy", "random"][..],
            "[possible values: adaptive, fallback-first, wait-first]",
        ),
        (
            &["--sim", "no-such-scenario"][..],
            "no scenario named 'no-such-scenario'",
        ),
        (
            &["--sim-log", "x.json", "--base-url", "http://127.0.0.1:9/v1"][..],
            "--sim-log",
        ),
    ] {
        let o = rotor().arg("rotate-test").args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let o = rotor()
        .args([
            "rotate-test",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--no-validate",
        ])
        .args(["--chain", P])
        .arg("--out")
        .arg(dir.path().join("r.jsonl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot reach http://127.0.0.1:9/v1"), "{err}");
}

fn python_available() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn require_valid_moves_past_a_model_whose_answers_fail_their_tests() {
    if !python_available() {
        eprintln!("skipped: no python3 to validate answers");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("broken-primary.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: broken-primary\ntime_scale: 0.02\nmodels:\n  - id: {P}\n    quality: {{broken: 1}}\n  - id: {F1}\n    quality: {{reference: 1}}\n"
        ),
    )
    .unwrap();
    let scenario = scenario.display().to_string();
    let chain = format!("{P},{F1}");
    let common = [
        "--prompts",
        "count-weekdays,compare-versions",
        "--chain",
        &chain,
    ];
    // Validation beside the requests only: the primary's broken answers count.
    let mut c = rotor();
    let out = dir.path().join("plain.jsonl");
    c.args(["rotate-test", "--sim", &scenario, "--json"])
        .args(common)
        .arg("--out")
        .arg(&out);
    let plain = finish(c, tempfile::tempdir().unwrap(), &out, None);
    plain.expect_code(0);
    assert_eq!(plain.report["overall"]["primary_share"], 1.0);
    assert_eq!(plain.report["overall"]["validation"]["tests_failed"], 2);
    // Broken code is code: well-formed, but nothing passes.
    assert_eq!(plain.report["overall"]["pass_at_1"], 0.0);
    assert_eq!(plain.report["overall"]["well_formed_rate"], 1.0);
    // Each prompt says what became of its answer's code, and why.
    for p in plain.report["prompts"].as_array().unwrap() {
        assert_eq!(p["validation"], "tests_failed", "{p}");
        let detail = p["validation_detail"].as_str().unwrap_or_default();
        assert!(detail.contains("assert"), "{p}");
    }
    // --require-valid: a broken answer is a failure, the chain moves on.
    let mut c = rotor();
    let out = dir.path().join("valid.jsonl");
    c.args([
        "rotate-test",
        "--sim",
        &scenario,
        "--json",
        "--require-valid",
    ])
    .args(common)
    .arg("--out")
    .arg(&out);
    let valid = finish(c, tempfile::tempdir().unwrap(), &out, None);
    valid.expect_code(0);
    let o = &valid.report["overall"];
    assert_eq!(o["succeeded"], 2);
    assert_eq!(o["fallback_rate"], 1.0, "{o}");
    let primary = &valid.report["models"][0];
    assert_eq!(primary["model"], P);
    assert_eq!(primary["successes"], 0, "{primary}");
    assert!(primary["failures"].as_u64().unwrap() >= 2, "{primary}");
    assert_eq!(primary["pass_at_1"], 0.0, "{primary}");
    assert_eq!(valid.report["models"][1]["pass_at_1"], 1.0);
    let overall = o["pass_at_1"].as_f64().unwrap();
    assert!(overall > 0.0 && overall < 1.0, "{o}");
    for r in valid.events("request") {
        assert_eq!(r["model_used"], F1, "{r}");
        assert_eq!(r["by_fallback"], true);
    }
    // The verdict shown is the answer's that counted: the fallback's.
    for p in valid.report["prompts"].as_array().unwrap() {
        assert_eq!(p["validation"], "passed", "{p}");
    }
}

/// A `rotor sim` child process, killed when dropped.
struct SimChild {
    child: Child,
    base_url: String,
}

impl SimChild {
    fn start(scenario: &str) -> SimChild {
        let bin = assert_cmd::cargo::cargo_bin("rotor");
        let mut child = std::process::Command::new(bin)
            .args(["sim", "--scenario", scenario])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        SimChild {
            child,
            base_url: line.trim().to_string(),
        }
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.base_url.trim_end_matches("/v1"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            client.get(url).send().await.unwrap().json().await.unwrap()
        })
    }
}

impl Drop for SimChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn against_a_separate_sim_an_unknown_daily_quota_stops_at_the_first_account_day_429() {
    let sim = SimChild::start("ci-daily-quota");
    assert!(sim.base_url.ends_with("/v1"), "{}", sim.base_url);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let chain = format!("{P},{F1},{LOCAL}");
    let mut c = rotor();
    c.args([
        "rotate-test",
        "--base-url",
        &sim.base_url,
        "--json",
        "--no-validate",
    ])
    .args(["--chain", &chain, "--concurrency", "2"])
    .arg("--out")
    .arg(&out);
    let run = finish(c, dir, &out, None);
    run.expect_code(0);
    let stats = sim.get("/sim/stats");
    let log = sim.get("/sim/log");
    // One endpoint for the whole chain: one connection per slot, opened
    // before the first prompt, and each request of the run on one of them.
    assert_eq!(
        run.report["connections"],
        serde_json::json!({"opened_before_first_prompt": 2, "opened_during_run": 0}),
        "{}",
        run.report
    );
    let start = stats["start_epoch_ms"].as_f64().unwrap();
    assert!(start > 1.6e12, "start_epoch_ms: {stats}");

    // rotor's counts are the server's.
    for (model, m) in stats["models"].as_object().unwrap() {
        let mine = run.attempts().filter(|a| a["model"] == *model).count() as u64;
        assert_eq!(mine, m["requests"].as_u64().unwrap(), "{model}: {m}");
    }
    let day_429s: Vec<&Value> = run
        .attempts()
        .filter(|a| a["rate_limit_scope"] == "account_day")
        .collect();
    assert_eq!(
        day_429s.len() as u64,
        stats["groups"]["openrouter"]["rate_limited_day"]
            .as_u64()
            .unwrap()
    );
    assert!(!day_429s.is_empty(), "the quota ran out: {stats}");
    assert!(
        day_429s.len() <= 2,
        "at most one per request in flight: {}",
        day_429s.len()
    );
    // After rotor read the first account_day 429, no request was sent to a
    // free model (requests already on their way may arrive a little later).
    let first = day_429s
        .iter()
        .map(|a| epoch_ms(a["ts"].as_str().unwrap()) + a["latency_ms"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    for e in log.as_array().unwrap() {
        let at = start + e["received_us"].as_f64().unwrap() / 1000.0;
        if e["model"].as_str().unwrap().ends_with(":free") {
            assert!(
                at < first + 30.0,
                "{e} arrived {:.1} ms after the quota ran out",
                at - first
            );
        }
    }
    assert_eq!(run.events("quota_exhausted").count(), 1);
    assert_eq!(run.report["overall"]["succeeded"], 14);
    let local = run.report["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == LOCAL)
        .unwrap();
    assert_eq!(local["answered"], 4, "{local}");
    assert!(run.report.get("simulator").is_none());
    drop(sim);
}

#[test]
fn every_ci_scenario_is_embedded() {
    for name in [
        "ci-storm",
        "ci-account-limit",
        "ci-daily-quota",
        "ci-outage",
        "ci-slow",
        "ci-upstream",
        "ci-intermittent-storm",
        "ci-flaky-primary",
    ] {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/scenarios")
            .join(format!("{name}.yaml"));
        assert!(file.exists(), "{}", file.display());
        assert!(rotor::sim::Scenario::embedded(name).is_some(), "{name}");
    }
    // The table form of a passing run.
    let run = rotate(
        "ci-account-limit",
        &["--prompts", "count-weekdays", "--chain", P],
    );
    run.expect_code(0);
    assert_eq!(run.report["passed"], true);
}

/// A run that cannot be made (exit 3: nothing answers at the base URL)
/// still leaves its `--junit` and `--markdown` files, saying why, so a CI
/// step that publishes them shows the reason.
#[test]
fn an_environment_failure_still_writes_junit_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let out = rotor()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args([
            "rotate-test",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--chain",
            P,
        ])
        .arg("--junit")
        .arg(dir.path().join("r.xml"))
        .arg("--markdown")
        .arg(dir.path().join("r.md"))
        .arg("--out")
        .arg(dir.path().join("r.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let xml = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    assert!(
        xml.contains(r#"errors="1""#) && xml.contains(r#"type="environment""#),
        "{xml}"
    );
    assert!(xml.contains("cannot reach http://127.0.0.1:9/v1"), "{xml}");
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(md.starts_with("## rotor rotate-test: ERROR"), "{md}");
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        format!("{md}\n")
    );
}

/// rotate-test's help lists `--chain`, not probe's `--models` (which it
/// refuses, saying to use `--chain`).
#[test]
fn the_help_lists_chain_not_models() {
    let o = rotor().args(["rotate-test", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains("--chain") && !help.contains("--models"),
        "{help}"
    );
}
