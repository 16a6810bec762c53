//! Crash safety: after SIGKILL the results file is valid JSON Lines except at
//! most one partial last line; `probe --resume` continues the run, skipping
//! finished prompts, with no duplicates; `report` reads the file.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const MODELS: &str = "meta-llama/llama-3.3-8b-instruct:free,google/gemma-2-9b-it:free,\
deepseek/deepseek-chat-v3.1:free,microsoft/mai-ds-r1:free,moonshotai/kimi-k2:free";

fn prompts() -> String {
    let suite = rotor::suite::Suite::embedded_default().unwrap();
    suite.items[..5]
        .iter()
        .map(|i| i.id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn request_keys(records: &[Value]) -> Vec<(String, String, u64)> {
    records
        .iter()
        .filter(|r| r["event"] == "request")
        .map(|r| {
            (
                r["model"].as_str().unwrap().to_string(),
                r["prompt_id"].as_str().unwrap().to_string(),
                r["repeat"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn sigkill_then_resume_finishes_the_run_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.jsonl");
    let registry = repo_path("registry.yaml");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "probe",
            "--sim",
            "free-tier",
            "--concurrency",
            "2",
            "--repeat",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend([
            "--models".into(),
            MODELS.into(),
            "--prompts".into(),
            prompts(),
        ]);
        a.extend(["--registry".into(), registry.display().to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    // Start a run and kill it hard once some prompts are finished.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("rotor"))
        .current_dir(dir.path())
        .env_remove("OPENROUTER_API_KEY")
        .args(args(&["--out", out.to_str().unwrap()]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.matches("\"event\":\"request\"").count() >= 8 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Valid JSON Lines, except at most a partial last line.
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let complete = line.ends_with('\n');
        let parsed = serde_json::from_str::<Value>(line.trim_end()).is_ok();
        assert!(
            parsed || (!complete && i == lines.len() - 1),
            "line {} is broken: {line}",
            i + 1
        );
    }
    let before = read_records_lenient(&out);
    let finished_before = request_keys(&before);
    assert!(!finished_before.is_empty());
    // As if the kill had cut a record in half.
    std::fs::write(&out, format!("{text}{{\"schema_version\":1,\"kind\":\"att")).unwrap();

    // Resume: the rest of the run, appended to the same file.
    let assert = rotor(dir.path())
        .args(args(&["--resume", out.to_str().unwrap(), "--json"]))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("resuming run"), "{stderr}");
    let summary: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();

    let after = read_records(&out); // every line valid now
    let keys = request_keys(&after);
    let unique: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), unique.len(), "no prompt finished twice");
    assert_eq!(
        unique.len(),
        5 * 5 * 2,
        "every (model, prompt, repeat) finished"
    );
    for k in &finished_before {
        assert!(unique.contains(k));
    }
    let run_ids: BTreeSet<&str> = after
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(run_ids.len(), 1, "the run keeps its id");
    // The summary covers the whole run: attempts before and after the kill.
    assert_eq!(
        summary["attempts"].as_u64().unwrap(),
        attempts(&after).len() as u64
    );
    // Each finished prompt's ok attempt is on disk (request records follow
    // their attempts, validation included).
    for (model, prompt, repeat) in &unique {
        assert!(
            attempts(&after).iter().any(|a| a["model"] == model.as_str()
                && a["prompt_id"] == prompt.as_str()
                && a["repeat"] == *repeat
                && a["outcome"] == "ok"),
            "{model} {prompt} {repeat}"
        );
    }

    // report reads it.
    rotor(dir.path())
        .args(["report", "--json", "--registry"])
        .arg(&registry)
        .arg(&out)
        .assert()
        .success();
}

/// Records of a file that may end with a partial line.
fn read_records_lenient(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `--resume` continues a run on the backend it began with: another
/// scenario, or a real server after the simulator, is refused (exit 2)
/// before anything is written.
#[test]
fn resuming_against_another_backend_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let registry = repo_path("registry.yaml");
    let probe = |args: &[&str]| {
        rotor(dir.path())
            .args(["--registry", registry.to_str().unwrap(), "-q"])
            .args(["probe", "--no-validate", "--prompts", "parse-duration"])
            .args(["--models", "meta-llama/llama-3.3-8b-instruct:free"])
            .args(args)
            .output()
            .unwrap()
    };
    let first = probe(&["--sim", "free-tier", "--out", "r.jsonl"]);
    assert_eq!(first.status.code(), Some(0));
    let before = std::fs::read(dir.path().join("r.jsonl")).unwrap();
    let other = probe(&["--sim", "storm", "--resume", "r.jsonl"]);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("began against the simulator's scenario free-tier")
            && stderr.contains("continue against the simulator's scenario storm"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dir.path().join("r.jsonl")).unwrap(), before);
    let same = probe(&["--sim", "free-tier", "--resume", "r.jsonl"]);
    assert_eq!(same.status.code(), Some(0));
}
