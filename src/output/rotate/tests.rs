//! The report built from hand-made results: definitions of the overall
//! figures, model rows, and the forms (table, Markdown, JUnit).

use std::time::Duration;

use super::*;
use crate::engine::{
    BreakerState, Counters, EngineSnapshot, GiveUp, GiveUpReason, ModelSnapshot, PromptResult,
};
use crate::output::summary::RunSummary;
use crate::record::Outcome;

fn result(model: &str, ok: bool, elapsed_ms: u64) -> PromptResult {
    PromptResult {
        final_result: Some(std::sync::Arc::new(crate::client::CallResult::new(
            if ok {
                Outcome::Ok
            } else {
                Outcome::RateLimited
            },
            tokio::time::Instant::now(),
        ))),
        model: Some(model.into()),
        attempts: if ok { 1 } else { 3 },
        hops: 1,
        waited: Duration::from_millis(5),
        fallbacks: 0,
        gave_up: (!ok).then_some(GiveUp {
            reason: GiveUpReason::Deadline,
            would_wait: Some(Duration::from_millis(700)),
        }),
        fatal: None,
        elapsed: Duration::from_millis(elapsed_ms),
    }
}

fn snapshot() -> EngineSnapshot {
    let model = |id: &str, attempts, opens| ModelSnapshot {
        id: id.into(),
        provider: "openrouter".into(),
        breaker: BreakerState::Closed,
        breaker_opens: opens,
        counters: Counters {
            attempts,
            ..Counters::default()
        },
        incompatible: false,
        ewma_latency_ms: None,
        p_success: 0.9,
        paced_rate: None,
        cooldown_ms: None,
    };
    EngineSnapshot {
        models: vec![model("a:free", 6, 1), model("b:free", 2, 0)],
        providers: vec![],
    }
}

fn info() -> RunInfo {
    RunInfo {
        run_id: "run1".into(),
        backend: "simulator:ci-storm".into(),
        policy: "adaptive".into(),
        chain: vec!["a:free".into(), "b:free".into()],
        suite: "codegen".into(),
        results_file: "results/x.jsonl".into(),
        deadline_ms: 2000,
        interrupted: false,
        elapsed_s: 1.5,
        connections: crate::output::summary::JsonConnections {
            opened_before_first_prompt: 2,
            opened_during_run: 1,
        },
    }
}

/// 4 prompts: 2 answered by the primary, 1 by the fallback, 1 gave up.
fn report(thresholds: &Thresholds) -> RotateReport {
    let prompts = vec![
        PromptOutcome::from_result("p1", 0, Some("a:free"), &result("a:free", true, 100)),
        PromptOutcome::from_result("p2", 0, Some("a:free"), &result("a:free", true, 200)),
        PromptOutcome::from_result("p3", 0, Some("a:free"), &result("b:free", true, 300)),
        PromptOutcome::from_result("p4", 0, Some("a:free"), &result("a:free", false, 2000)),
    ];
    RotateReport::build(
        info(),
        prompts,
        &snapshot(),
        &RunSummary::default(),
        thresholds,
        None,
    )
}

fn thresholds(min: f64) -> Thresholds {
    Thresholds {
        min_success_rate: min,
        max_p95_ms: Some(1000),
        max_fallback_rate: Some(0.5),
    }
}

#[test]
fn overall_figures_follow_their_definitions() {
    let r = report(&thresholds(0.7));
    let o = &r.overall;
    assert_eq!((o.prompts, o.succeeded, o.failed), (4, 3, 1));
    assert_eq!(o.success_rate, Some(0.75));
    assert_eq!(o.primary_share, Some(0.667));
    assert_eq!(o.fallback_rate, Some(0.333));
    // Answered prompts only: 100, 200, 300.
    assert_eq!(o.latency_ms.p50, Some(200.0));
    assert_eq!(o.latency_ms.n, 3);
    assert_eq!(o.gave_up.get("deadline"), Some(&1));
    assert_eq!((o.attempts, o.breaker_opens), (8, 1));
    assert_eq!(r.models[0].answered, 2);
    assert_eq!(r.models[1].answered, 1);
    assert!(r.passed, "{:?}", r.thresholds);
    let f = r.prompts[3].failure.as_deref().unwrap();
    assert!(
        f.starts_with(
            "gave up at the deadline (the next attempt would have waited 700 ms) after 3 attempts"
        ),
        "{f}"
    );
}

#[test]
fn a_failed_threshold_fails_the_report_and_every_form_says_so() {
    let r = report(&thresholds(0.95));
    assert!(!r.passed);
    let failed: Vec<&str> = r.failed_checks().iter().map(|c| c.name).collect();
    assert_eq!(failed, ["min_success_rate"]);
    let text = table::render(&r, false);
    assert!(
        text.contains("FAIL success rate 75.0% is below the minimum 95.0%"),
        "{text}"
    );
    assert!(text.contains("p4: gave up at the deadline"), "{text}");
    let said = "connections: 2 opened before the first prompt, 1 during the run";
    assert!(
        text.contains(&format!("chain a:free → b:free; {said}")),
        "{text}"
    );
    let md = markdown::render(&r);
    assert!(md.starts_with("## rotor rotate-test: FAILED"), "{md}");
    assert!(md.contains(&format!("TCP {said}.")), "{md}");
    assert!(
        md.contains("| min_success_rate | 95.0% | 75.0% | ❌ failed |"),
        "{md}"
    );
    let xml = junit::render(&r).unwrap();
    assert!(
        xml.contains(r#"<testcase name="p4" classname="rotor.codegen""#),
        "{xml}"
    );
    assert!(xml.contains(r#"type="deadline""#), "{xml}");
    assert!(
        xml.contains(
            r#"<testsuite name="thresholds" tests="3" skipped="0" errors="0" failures="1""#
        ),
        "{xml}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["passed"], false);
    assert_eq!(json["command"], "rotate-test");
    assert_eq!(json["policy"], "adaptive");
    assert_eq!(json["thresholds"][0]["name"], "min_success_rate");
    assert!(json.get("simulator").is_none());
}

#[test]
fn an_interrupted_run_fails_in_junit_too() {
    let mut r = report(&thresholds(0.5));
    r.info.interrupted = true;
    r.passed = false;
    let xml = junit::render(&r).unwrap();
    assert!(
        xml.contains(
            r#"<testsuite name="thresholds" tests="4" skipped="0" errors="1" failures="0""#
        ),
        "{xml}"
    );
    assert!(xml.contains(r#"type="interrupted""#), "{xml}");
    r.info.interrupted = false;
    assert!(!junit::render(&r).unwrap().contains("interrupted"));
}

#[test]
fn validation_scores_per_model_and_overall() {
    let mut records = RunSummary::with_models([("a:free", "openrouter"), ("b:free", "openrouter")]);
    let set = |m: &mut crate::output::summary::ModelSummary,
               verdicts: &[(&str, u64)],
               prompts: &[(&str, (u64, u64))]| {
        m.verdicts = verdicts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        m.per_prompt = prompts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    };
    // a: p1 3 answers (passed, no_code, tests_failed), p2 2 answers (both passed).
    set(
        &mut records.models[0],
        &[("passed", 3), ("no_code", 1), ("tests_failed", 1)],
        &[("p1", (3, 1)), ("p2", (2, 2))],
    );
    // b: p1 2 answers, both passed.
    set(&mut records.models[1], &[("passed", 2)], &[("p1", (2, 2))]);
    let prompts = vec![PromptOutcome::from_result(
        "p1",
        0,
        Some("a:free"),
        &result("a:free", true, 100),
    )];
    let r = RotateReport::build(
        info(),
        prompts,
        &snapshot(),
        &records,
        &thresholds(0.5),
        None,
    );
    let a = &r.models[0];
    // pass@1 (1/3 + 1)/2; pass@2 (1 − C(2,2)/C(3,2) + 1)/2 = 5/6; code 4/5.
    assert_eq!(a.pass_at_1, Some(0.667));
    assert_eq!(a.pass_at_k.map(|p| (p.k, p.value)), Some((2, 0.833)));
    assert_eq!(a.well_formed_rate, Some(0.8));
    assert_eq!(r.models[1].pass_at_1, Some(1.0));
    // Overall, prompt by prompt over both models: p1 5 answers 3 passed, p2 2 of 2.
    // pass@1 (3/5 + 1)/2 = 0.8; pass@2 (1 − C(2,2)/C(5,2) + 1)/2 = 0.95; code 6/7.
    let o = &r.overall;
    assert_eq!(o.pass_at_1, Some(0.8));
    assert_eq!(o.pass_at_k.map(|p| (p.k, p.value)), Some((2, 0.95)));
    assert_eq!(o.well_formed_rate, Some(0.857));
    let text = table::render(&r, false);
    assert!(
        text.contains("pass@1 80.0%, pass@2 95.0%, code 85.7% of 7 validated answers"),
        "{text}"
    );
    assert!(text.contains("|  66.7% |  80.0% |"), "{text}");
    let md = markdown::render(&r);
    assert!(md.contains("| pass@2 | 95.0% |"), "{md}");
    assert!(md.contains("| answers with code | 85.7% |"), "{md}");
    assert!(md.contains("| 66.7% | 80.0% |"), "{md}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["overall"]["pass_at_k"]["k"], 2);
    assert_eq!(json["models"][0]["well_formed_rate"], 0.8);
    assert_eq!(json["models"][1]["pass_at_k"]["value"], 1.0);
}

#[test]
fn without_validation_there_are_no_scores() {
    let r = report(&thresholds(0.7));
    assert_eq!(r.overall.pass_at_1, None);
    assert_eq!(r.overall.well_formed_rate, None);
    assert_eq!(r.models[0].pass_at_k, None);
    assert!(!table::render(&r, false).contains("validated answers"));
    assert!(!markdown::render(&r).contains("answers with code"));
}

#[test]
fn each_prompt_case_carries_its_answers_verdict() {
    let mut r = report(&thresholds(0.5));
    r.prompts[0].validation = Some("tests_failed".into());
    r.prompts[0].validation_detail = Some("test 2/6: assert f(1) == 2".into());
    let xml = junit::render(&r).unwrap();
    assert!(
        xml.contains(r#"<property name="validation" value="tests_failed"/>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<property name="validation_detail" value="test 2/6: assert f(1) == 2"/>"#),
        "{xml}"
    );
    // Only the validated prompt has the properties.
    assert_eq!(xml.matches(r#"name="validation""#).count(), 1, "{xml}");
}
