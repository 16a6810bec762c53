//! `rotor report`'s gate on answers without code, end to end: a model that
//! answers in prose leaves the chain; the bar is `--min-well-formed`.

use assert_cmd::Command;
use predicates::prelude::*;

const REGISTRY: &str = "fixtures/results/registry.yaml";
const RESULTS: &str = "fixtures/results";

fn rotor() -> Command {
    let mut c = Command::cargo_bin("rotor").unwrap();
    c.env_remove("RUST_LOG").env("NO_COLOR", "1");
    c
}

#[test]
fn a_model_answering_in_prose_leaves_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prose.jsonl");
    let mut text = String::new();
    for (model, validation) in [("fast-a:free", "no_code"), ("fast-b:free", "passed")] {
        for i in 0..20 {
            text.push_str(&format!(
                r#"{{"schema_version":1,"kind":"attempt","ts":"2026-11-01T10:00:{i:02}Z","provider":"openrouter","model":"{model}","prompt_id":"p{}","outcome":"ok","latency_ms":900,"validation":"{validation}"}}"#,
                i % 4
            ));
            text.push('\n');
        }
    }
    std::fs::write(&path, text).unwrap();
    let run = |extra: &[&str]| {
        let out = rotor()
            .args(["--registry", REGISTRY, "report", "--json"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = run(&[]);
    let model = |v: &serde_json::Value, id: &str| {
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap()
            .clone()
    };
    let prose = model(&v, "fast-a:free");
    assert_eq!(prose["verdict"], "fail");
    assert_eq!(prose["status"], "candidate");
    assert_eq!(prose["position"], serde_json::Value::Null);
    assert!(
        prose["reason"]
            .as_str()
            .unwrap()
            .starts_with("answers carry no code: well-formed 0% (95% CI 0%–16.1%, n=20)"),
        "{}",
        prose["reason"]
    );
    assert_eq!(prose["stats"]["well_formed_rate"], 0.0);
    assert_eq!(prose["stats"]["pass_at_1"], 0.0);
    assert_eq!(prose["stats"]["pass_at_k"]["k"], 5);
    let coder = model(&v, "fast-b:free");
    assert_eq!(coder["verdict"], "pass");
    assert_eq!(coder["stats"]["pass_at_k"]["value"], 1.0);
    assert_eq!(v["settings"]["min_well_formed"], 0.5);
    // The bar is a flag.
    let v = run(&["--min-well-formed", "0"]);
    assert_eq!(model(&v, "fast-a:free")["verdict"], "pass");
    rotor()
        .args([
            "--registry",
            REGISTRY,
            "report",
            RESULTS,
            "--min-well-formed",
            "2",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--min-well-formed 2 is outside 0..1",
        ));
}
