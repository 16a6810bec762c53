//! `rotate-test --resume`: the report of a resumed run — the table, `--json`,
//! JUnit, Markdown and the thresholds — covers every prompt of the run, those
//! finished before the interruption (rebuilt from the results file) and those
//! run now, none twice.

mod rotate_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rotate_support::{OUTCOMES_REGISTRY, OUTCOMES_RUN, Run, finish, rotor_with};
use serde_json::Value;

// OUTCOMES_REGISTRY (rotate_support): with one prompt at a time,
// `parse-duration` (first in the suite) fails — too long for `outcome/ok`, a
// 400 from `outcome/bad-request` — and the other two are answered: 2 of 3,
// below the default 95 % success rate.

/// `rotor rotate-test` on the three prompts, one at a time, with `extra`.
fn rotate_test(dir: &tempfile::TempDir, extra: &[&str]) -> assert_cmd::Command {
    let registry = dir.path().join("registry.yaml");
    std::fs::write(&registry, OUTCOMES_REGISTRY).unwrap();
    let mut c = rotor_with(&registry);
    c.args(OUTCOMES_RUN).arg("--json");
    c.args(extra);
    c
}

fn request_keys(run: &Run) -> Vec<(String, u64)> {
    run.events("request")
        .map(|r| {
            (
                r["prompt_id"].as_str().unwrap().to_string(),
                r["repeat"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The report's entry for prompt `id`.
fn prompt<'a>(run: &'a Run, id: &str) -> &'a Value {
    run.report["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["prompt_id"] == id)
        .unwrap_or_else(|| panic!("no prompt {id} in {}", run.report))
}

fn threshold<'a>(run: &'a Run, name: &str) -> &'a Value {
    run.report["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[test]
fn a_resumed_rotate_test_reports_and_judges_the_whole_run() {
    // The whole run, uninterrupted.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("full.jsonl");
    let c = {
        let mut c = rotate_test(&dir, &[]);
        c.arg("--out").arg(&out);
        c
    };
    let full = finish(c, dir, &out, None);
    full.expect_code(1);
    assert_eq!(full.report["overall"]["prompts"], 3, "{}", full.report);
    assert_eq!(full.report["overall"]["succeeded"], 2);
    assert_eq!(threshold(&full, "min_success_rate")["passed"], false);

    // As if it had been interrupted after its first two prompts (the
    // failing one among them): the file up to the second `request` record.
    let text = std::fs::read_to_string(&out).unwrap();
    let mut kept = String::new();
    let mut requests = 0;
    for line in text.lines() {
        if requests == 2 {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
        requests += usize::from(line.contains("\"event\":\"request\""));
    }
    assert_eq!(requests, 2);
    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("run.jsonl");
    std::fs::write(&partial, &kept).unwrap();
    let (junit, md) = (dir.path().join("rotor.xml"), dir.path().join("rotor.md"));
    let c = {
        let mut c = rotate_test(&dir, &["--resume", partial.to_str().unwrap()]);
        c.arg("--junit").arg(&junit).arg("--markdown").arg(&md);
        c
    };
    let junit_xml = |dir: &Path| std::fs::read_to_string(dir.join("rotor.xml")).unwrap();
    let resumed = finish(c, dir, &partial, None);

    // It ran the last prompt only, appending to the file, none twice.
    let keys = request_keys(&resumed);
    let unique: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(unique.len(), 3, "no prompt finished twice: {keys:?}");
    let run_ids: BTreeSet<&str> = resumed
        .records
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(run_ids.len(), 1, "the run keeps its id");

    // The report covers the whole run: its count equals the full run's, and
    // the threshold the earlier prompts fail fails.
    resumed.expect_code(1);
    let overall = &resumed.report["overall"];
    assert_eq!(overall["prompts"], full.report["overall"]["prompts"]);
    assert_eq!(overall["succeeded"], 2, "{overall}");
    assert_eq!(overall["failed"], 1);
    assert_eq!(overall["gave_up"]["all_incompatible"], 1);
    let check = threshold(&resumed, "min_success_rate");
    assert_eq!(check["passed"], false, "{check}");
    assert_eq!(check["value"], 0.667);
    assert_eq!(resumed.report["passed"], false);
    assert!(
        resumed
            .stderr
            .contains("success rate 66.7% is below the minimum 95.0% (min_success_rate)"),
        "{}",
        resumed.stderr
    );
    // The earlier prompts as the full run reported them, failure text included.
    for id in ["parse-duration", "count-weekdays"] {
        assert_eq!(prompt(&resumed, id), prompt(&full, id), "{id}");
    }
    assert_eq!(prompt(&resumed, "grid-shortest-path")["ok"], true);
    let ids: Vec<&str> = resumed.report["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prompt_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["count-weekdays", "grid-shortest-path", "parse-duration"]
    );

    // Per model, the attempts and rotations of the whole file.
    let mut attempts: BTreeMap<&str, u64> = BTreeMap::new();
    for a in resumed.attempts() {
        *attempts.entry(a["model"].as_str().unwrap()).or_default() += 1;
    }
    for m in resumed.report["models"].as_array().unwrap() {
        let id = m["model"].as_str().unwrap();
        assert_eq!(
            m["attempts"].as_u64().unwrap(),
            attempts.get(id).copied().unwrap_or(0),
            "{id}: {m}"
        );
        let rotations_in = resumed.events("fallback").filter(|f| f["to"] == id).count();
        assert_eq!(m["rotations_in"].as_u64().unwrap(), rotations_in as u64);
    }
    assert_eq!(
        overall["attempts"].as_u64().unwrap(),
        resumed.attempts().count() as u64
    );
    assert_eq!(
        overall["fallbacks"].as_u64().unwrap(),
        resumed.events("fallback").count() as u64
    );

    // JUnit and Markdown too.
    let xml = junit_xml(resumed.dir.path());
    assert!(
        xml.contains(
            r#"<testsuite name="rotate-test codegen" tests="3" skipped="0" errors="0" failures="1""#
        ),
        "{xml}"
    );
    let failure = prompt(&full, "parse-duration")["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("gave up: all incompatible after 1 attempt on 1 model; last: outcome/bad-request gave HTTP 400"),
        "{failure}"
    );
    assert!(xml.contains(failure), "{xml}");
    assert!(
        xml.contains(r#"<failure message="success rate 66.7% is below the minimum 95.0% (min_success_rate)" type="threshold"/>"#),
        "{xml}"
    );
    let markdown = std::fs::read_to_string(resumed.dir.path().join("rotor.md")).unwrap();
    assert!(
        markdown.contains("## rotor rotate-test: FAILED"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| answered | 2 / 3 (66.7%) |"),
        "{markdown}"
    );
}
