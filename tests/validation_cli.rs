//! Validation end to end: the simulator answers with every kind of solution
//! and rotor's verdicts, counted per model, match what it sent.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

/// Two items of the embedded suite with a 1 s validation limit (so the
/// infinite loop is cut quickly).
fn quick_suite(dir: &std::path::Path) -> std::path::PathBuf {
    let suite = rotor::suite::Suite::embedded_default().unwrap();
    let mut text = String::from("name: quick\ntimeout_s: 1\nitems:\n");
    for item in &suite.items[..2] {
        let item_yaml = serde_json::to_string(item).unwrap();
        text.push_str(&format!("  - {item_yaml}\n"));
    }
    let path = dir.join("quick.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn python_available() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_verdict_is_reached_and_counted_per_model() {
    if !python_available() {
        eprintln!("SKIPPED every_verdict_is_reached_and_counted_per_model: python3 is not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let suite = quick_suite(dir.path());
    let models = [
        ("answers/reference", "passed"),
        ("answers/broken", "tests_failed"),
        ("answers/no-code", "no_code"),
        ("answers/syntax-error", "syntax_error"),
        ("answers/infinite-loop", "timeout"),
        ("answers/crash", "crashed"),
    ];
    let ids: Vec<&str> = models.iter().map(|m| m.0).collect();
    let registry = simple_registry(dir.path(), &ids);
    let out = dir.path().join("r.jsonl");
    let assert = rotor(dir.path())
        .args(["probe", "--sim", "validation", "--json", "--repeat", "2"])
        .args(["--models", &ids.join(",")])
        .arg("--suite")
        .arg(&suite)
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let summary: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();

    // Every answer has a verdict, and each model's verdicts are its kind's.
    let records = read_records(&out);
    let mut verdicts: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for a in attempts(&records) {
        assert_eq!(a["outcome"], "ok");
        let v = a["validation"]
            .as_str()
            .unwrap_or_else(|| panic!("no verdict: {a}"));
        *verdicts
            .entry(a["model"].as_str().unwrap())
            .or_default()
            .entry(v.to_string())
            .or_default() += 1;
        assert!(a["validation_ms"].as_f64().is_some());
        assert!(a["validation_isolation"].is_string());
        if v == "tests_failed" {
            let detail = a["validation_detail"].as_str().unwrap();
            assert!(
                detail.contains("assert"),
                "first failing assertion: {detail}"
            );
        }
    }
    for (model, verdict) in models {
        assert_eq!(
            verdicts.get(model),
            Some(&BTreeMap::from([(verdict.to_string(), 4)])),
            "{model}"
        );
    }

    // The summary's scores follow: pass@1 1 only for the reference, pass@2
    // with n = 2 per prompt, and the well-formed rate 0 only without code.
    for m in summary["models"].as_array().unwrap() {
        let id = m["model"].as_str().unwrap();
        let pass1 = m["pass_at_1"].as_f64().unwrap();
        assert_eq!(
            pass1,
            if id == "answers/reference" { 1.0 } else { 0.0 },
            "{id}"
        );
        assert_eq!(m["pass_at_k"]["k"], 2, "{id}");
        let wf = m["well_formed_rate"].as_f64().unwrap();
        assert_eq!(wf, if id == "answers/no-code" { 0.0 } else { 1.0 }, "{id}");
    }
}

#[test]
fn no_validate_leaves_answers_unjudged() {
    let dir = tempfile::tempdir().unwrap();
    let registry = simple_registry(dir.path(), &["answers/reference"]);
    let out = dir.path().join("r.jsonl");
    rotor(dir.path())
        .args(["probe", "--sim", "validation", "--no-validate"])
        .args([
            "--models",
            "answers/reference",
            "--prompts",
            "parse-duration",
        ])
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let records = read_records(&out);
    assert!(attempts(&records).iter().all(|a| a["validation"].is_null()));
}

/// `--require-valid` judges an answer within the prompt's deadline: an answer
/// whose code still runs then is not accepted, and the prompt gives up at
/// its deadline — not when the code's own time limit (here 5 s) ends.
#[test]
fn require_valid_keeps_the_prompts_deadline() {
    if !python_available() {
        eprintln!("SKIPPED require_valid_keeps_the_prompts_deadline: python3 is not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let suite = quick_suite(dir.path());
    std::fs::write(
        &suite,
        std::fs::read_to_string(&suite)
            .unwrap()
            .replace("timeout_s: 1", "timeout_s: 5"),
    )
    .unwrap();
    let ids = ["answers/infinite-loop", "answers/reference"];
    let registry = simple_registry(dir.path(), &ids);
    let item = rotor::suite::Suite::embedded_default().unwrap().items[0]
        .id
        .clone();
    let out = rotor(dir.path())
        .args([
            "rotate-test",
            "--sim",
            "validation",
            "--json",
            "--require-valid",
        ])
        .args([
            "--chain",
            &ids.join(","),
            "--deadline",
            "1",
            "--prompts",
            &item,
        ])
        .arg("--suite")
        .arg(&suite)
        .arg("--registry")
        .arg(&registry)
        .args(["--out", "r.jsonl"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &report["prompts"][0];
    assert_eq!(p["gave_up"], "deadline", "{p}");
    let elapsed = p["elapsed_ms"].as_f64().unwrap();
    assert!(
        elapsed < 4000.0,
        "the prompt ended {elapsed} ms after it began; its deadline was 1000 ms"
    );
}
