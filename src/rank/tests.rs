use std::path::Path;

use super::*;
use crate::record::Outcome;
use crate::report::read::{AttemptView, RecordSink};
use crate::report::{Aggregator, Summary};

const DAY: i64 = 86_400_000;

fn registry(models: &[(&str, &str, &str)], order: Option<&[&str]>) -> Registry {
    let mut text = String::from(
        "version: 1\nproviders:\n  p:\n    kind: openrouter\n    base_url: https://x.test/v1\n\
         tiers:\n  - {name: tier1, label: a, max_p50_ms: 2000}\n  - {name: tier2, label: b, max_p50_ms: 5000}\n  - {name: tier3, label: c, max_p50_ms: 15000}\n",
    );
    if let Some(order) = order {
        text.push_str("rotation:\n  order:\n");
        for id in order {
            text.push_str(&format!("    - {id}\n"));
        }
    }
    text.push_str("models:\n");
    for (id, status, tier) in models {
        text.push_str(&format!(
            "  - id: {id}\n    provider: p\n    status: {status}\n    tier: {tier}\n"
        ));
    }
    Registry::from_str(&text, Path::new("test.yaml")).unwrap()
}

/// `n` attempts of `model`: `ok` of them succeed with latencies spread evenly
/// around `median` (±`spread` fraction); the rest fail with `fail`.
fn feed(
    agg: &mut Aggregator,
    model: &str,
    n: usize,
    ok: usize,
    median: f64,
    spread: f64,
    fail: Outcome,
) {
    for i in 0..n {
        let outcome = if i < ok { Outcome::Ok } else { fail };
        let f = if ok > 1 {
            i as f64 / (ok - 1) as f64 - 0.5
        } else {
            0.0
        };
        agg.attempt(&AttemptView {
            ts_ms: 10 * DAY + i as i64,
            provider: "p",
            model,
            outcome,
            scope: None,
            latency_ms: Some(median * (1.0 + 2.0 * spread * f)),
            ttft_ms: None,
            tokens_per_s: None,
            input_tokens: None,
            output_tokens: None,
            validation: None,
            prompt_id: Some("p1"),
        });
    }
}

fn summary(f: impl FnOnce(&mut Aggregator)) -> Summary {
    let mut agg = Aggregator::new();
    f(&mut agg);
    agg.finish(0.0, &|_, _| None)
}

#[test]
fn the_gate_passes_fails_and_leaves_uncertain_models_alone() {
    let reg = registry(
        &[
            ("good", "candidate", "tier2"),
            ("flaky", "verified", "tier1"),
            ("broken", "verified", "tier1"),
            ("rejects", "verified", "tier1"),
            ("few", "verified", "tier1"),
            ("none", "verified", "tier1"),
        ],
        None,
    );
    let s = summary(|a| {
        feed(a, "good", 30, 30, 1000.0, 0.1, Outcome::Ok);
        feed(a, "flaky", 30, 26, 1000.0, 0.1, Outcome::ServerError);
        feed(a, "broken", 30, 10, 1000.0, 0.1, Outcome::Timeout);
        feed(a, "rejects", 30, 5, 1000.0, 0.1, Outcome::BadRequest);
        feed(a, "few", 5, 5, 1000.0, 0.1, Outcome::Ok);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    let p = |id| r.placement(id).unwrap();
    assert_eq!(p("good").verdict, Verdict::Pass);
    assert_eq!(p("good").status_after, Status::Verified);
    assert_eq!(p("good").tier_after.as_deref(), Some("tier1"));
    assert_eq!(
        p("flaky").verdict,
        Verdict::Uncertain,
        "{}",
        p("flaky").reason
    );
    assert_eq!(p("flaky").status_after, Status::Verified);
    assert_eq!(p("broken").verdict, Verdict::Fail);
    assert_eq!(p("broken").status_after, Status::Candidate);
    assert!(
        p("broken").reason.starts_with("unavailable"),
        "{}",
        p("broken").reason
    );
    assert_eq!(p("rejects").status_after, Status::Incompatible);
    assert_eq!(p("few").verdict, Verdict::Stale);
    assert_eq!(p("none").verdict, Verdict::NoData);
    // Failing models leave the chain; stale and empty ones keep their place.
    assert!(!r.chain.contains(&"broken".to_string()));
    assert!(!r.chain.contains(&"rejects".to_string()));
    for id in ["good", "flaky", "few", "none"] {
        assert!(r.chain.contains(&id.to_string()), "{id}");
    }
    // Every change says why.
    assert!(r.changes.iter().all(|c| !c.reason.is_empty()));
    assert!(
        r.changes
            .iter()
            .any(|c| c.model == "broken" && c.kind == ChangeKind::LeftChain)
    );
}

#[test]
fn a_failing_model_never_gets_a_better_status() {
    let reg = registry(
        &[("x", "incompatible", "tier1"), ("y", "verified", "tier1")],
        None,
    );
    let s = summary(|a| {
        feed(a, "x", 20, 2, 500.0, 0.1, Outcome::Timeout);
        feed(a, "y", 20, 20, 500.0, 0.1, Outcome::Ok);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    assert_eq!(r.placement("x").unwrap().status_after, Status::Incompatible);
}

#[test]
fn tiers_change_only_past_the_boundary() {
    let reg = registry(
        &[
            ("hover", "verified", "tier2"),
            ("clear", "verified", "tier2"),
            ("slow", "verified", "tier1"),
            ("glacial", "verified", "tier3"),
        ],
        None,
    );
    let s = summary(|a| {
        // p50 1950 ms, interval crossing 2000 ms: stays in tier2.
        feed(a, "hover", 40, 40, 1950.0, 0.1, Outcome::Ok);
        feed(a, "clear", 40, 40, 1200.0, 0.1, Outcome::Ok);
        feed(a, "slow", 40, 40, 3000.0, 0.1, Outcome::Ok);
        feed(a, "glacial", 40, 40, 20000.0, 0.1, Outcome::Ok);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    let p = |id| r.placement(id).unwrap();
    assert_eq!(p("hover").tier_after.as_deref(), Some("tier2"));
    assert!(
        p("hover")
            .flags
            .iter()
            .any(|f| f.contains("near a tier boundary"))
    );
    assert_eq!(p("clear").tier_after.as_deref(), Some("tier1"));
    assert_eq!(p("slow").tier_after.as_deref(), Some("tier2"));
    assert_eq!(p("glacial").tier_after.as_deref(), Some("tier3"));
    assert!(
        p("glacial")
            .flags
            .iter()
            .any(|f| f.contains("slower than every tier"))
    );
    assert_eq!(r.chain, ["clear", "hover", "slow", "glacial"]);
}

#[test]
fn only_significant_differences_reorder_a_tier() {
    let reg = registry(
        &[
            ("a", "verified", "tier1"),
            ("b", "verified", "tier1"),
            ("c", "verified", "tier1"),
        ],
        Some(&["a", "b", "c"]),
    );
    let s = summary(|agg| {
        // b is a little faster than a (overlapping), c much faster than both.
        feed(agg, "a", 40, 40, 1000.0, 0.3, Outcome::Ok);
        feed(agg, "b", 40, 40, 950.0, 0.3, Outcome::Ok);
        feed(agg, "c", 40, 40, 300.0, 0.1, Outcome::Ok);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    assert_eq!(r.chain, ["c", "a", "b"]);
    let b = r.placement("b").unwrap();
    assert!(
        b.flags.iter().any(|f| f.contains("order kept")),
        "{:?}",
        b.flags
    );
    let moved = r
        .changes
        .iter()
        .find(|c| c.model == "c" && c.kind == ChangeKind::Position)
        .unwrap();
    assert!(
        moved.reason.contains("significantly better than a, b"),
        "{}",
        moved.reason
    );
}

#[test]
fn stale_models_keep_their_index_in_the_tier() {
    let reg = registry(
        &[
            ("a", "verified", "tier1"),
            ("s", "verified", "tier1"),
            ("c", "verified", "tier1"),
        ],
        Some(&["a", "s", "c"]),
    );
    let s = summary(|agg| {
        feed(agg, "a", 40, 40, 1500.0, 0.1, Outcome::Ok);
        feed(agg, "s", 3, 3, 100.0, 0.1, Outcome::Ok);
        feed(agg, "c", 40, 40, 400.0, 0.1, Outcome::Ok);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    assert_eq!(r.chain, ["c", "s", "a"]);
    assert_eq!(r.placement("s").unwrap().verdict, Verdict::Stale);
}

#[test]
fn validation_failures_slow_the_expected_time() {
    let reg = registry(
        &[("a", "verified", "tier1"), ("b", "verified", "tier1")],
        None,
    );
    let mut agg = Aggregator::new();
    for (model, validation) in [("a", "tests_failed"), ("b", "passed")] {
        for i in 0..40 {
            agg.attempt(&AttemptView {
                ts_ms: i,
                provider: "p",
                model,
                outcome: Outcome::Ok,
                scope: None,
                latency_ms: Some(1000.0 + i as f64),
                ttft_ms: None,
                tokens_per_s: None,
                input_tokens: None,
                output_tokens: None,
                validation: Some(if i % 2 == 0 { validation } else { "passed" }),
                prompt_id: Some("p1"),
            });
        }
    }
    let s = agg.finish(0.0, &|_, _| None);
    let r = rank(&reg, &s, &RankConfig::default());
    assert_eq!(r.chain, ["b", "a"], "half of a's answers fail their tests");
}

#[test]
fn retired_models_are_left_alone() {
    let reg = registry(
        &[("r", "retired", "tier1"), ("v", "verified", "tier1")],
        None,
    );
    let s = summary(|a| {
        feed(a, "r", 30, 30, 100.0, 0.1, Outcome::Ok);
        feed(a, "v", 30, 30, 1000.0, 0.1, Outcome::Ok);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    let p = r.placement("r").unwrap();
    assert_eq!(
        (p.verdict, p.status_after),
        (Verdict::Retired, Status::Retired)
    );
    assert_eq!(r.chain, ["v"]);
}

#[test]
fn file_order_fills_chain_slots_and_keeps_the_rest() {
    let reg = registry(
        &[
            ("a", "verified", "tier1"),
            ("x", "candidate", "tier3"),
            ("b", "verified", "tier1"),
            ("y", "candidate", "tier3"),
        ],
        None,
    );
    // y joins the chain first; a leaves it.
    let order = file_order(&reg, &["y".into(), "b".into()]);
    assert_eq!(order, ["y", "x", "b", "a"]);
    assert_eq!(
        file_order(&reg, &["a".into(), "b".into()]),
        ["a", "x", "b", "y"]
    );
}

#[test]
fn percentages_and_durations_read_well() {
    assert_eq!(pct(0.8), "80%");
    assert_eq!(pct(0.8666), "86.7%");
    assert_eq!(ms(880.4), "880 ms");
    assert_eq!(ms(2350.0), "2.35 s");
    assert_eq!(ms(f64::INFINITY), "∞");
}

fn feed_validated(
    agg: &mut Aggregator,
    model: &str,
    n: usize,
    ok: usize,
    median: f64,
    spread: f64,
) {
    for i in 0..n {
        let f = i as f64 / (n - 1) as f64 - 0.5;
        agg.attempt(&AttemptView {
            ts_ms: i as i64,
            provider: "p",
            model,
            outcome: if i < ok {
                Outcome::Ok
            } else {
                Outcome::ServerError
            },
            scope: None,
            latency_ms: Some(median * (1.0 + 2.0 * spread * f)),
            ttft_ms: None,
            tokens_per_s: None,
            input_tokens: None,
            output_tokens: None,
            validation: (i < ok).then_some("passed"),
            prompt_id: Some("p1"),
        });
    }
}

#[test]
fn a_clearly_faster_model_as_reliable_moves_even_when_scores_overlap() {
    let reg = registry(
        &[("slow", "verified", "tier2"), ("fast", "verified", "tier2")],
        None,
    );
    let s = summary(|a| {
        feed_validated(a, "slow", 25, 25, 4000.0, 0.1);
        feed_validated(a, "fast", 25, 25, 3000.0, 0.1);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    let (f, sl) = (
        r.placement("fast").unwrap().score.unwrap(),
        r.placement("slow").unwrap().score.unwrap(),
    );
    assert!(f.hi >= sl.lo, "the score intervals overlap: {f:?} {sl:?}");
    assert_eq!(
        r.chain,
        ["fast", "slow"],
        "but the medians do not, at equal reliability"
    );
}

#[test]
fn a_faster_but_less_reliable_model_does_not_jump_on_latency_alone() {
    let reg = registry(
        &[
            ("steady", "verified", "tier1"),
            ("shaky", "verified", "tier1"),
        ],
        None,
    );
    let s = summary(|a| {
        feed_validated(a, "steady", 60, 60, 1000.0, 0.1);
        // 75% success: its interval is entirely below steady's.
        feed_validated(a, "shaky", 60, 45, 800.0, 0.1);
    });
    let r = rank(&reg, &s, &RankConfig::default());
    assert_eq!(r.chain, ["steady", "shaky"]);
}

/// One successful attempt of `model` per verdict, on two prompts.
fn answers(agg: &mut Aggregator, model: &str, verdicts: &[Option<&'static str>]) {
    for (i, v) in verdicts.iter().enumerate() {
        agg.attempt(&AttemptView {
            ts_ms: i as i64,
            provider: "p",
            model,
            outcome: Outcome::Ok,
            scope: None,
            latency_ms: Some(1000.0 + i as f64),
            ttft_ms: None,
            tokens_per_s: None,
            input_tokens: None,
            output_tokens: None,
            validation: *v,
            prompt_id: Some(if i % 2 == 0 { "p1" } else { "p2" }),
        });
    }
}

#[test]
fn a_model_that_answers_only_prose_leaves_the_chain() {
    let reg = registry(
        &[
            ("prose", "verified", "tier1"),
            ("coder", "verified", "tier1"),
            ("unvalidated", "verified", "tier1"),
            ("few", "verified", "tier1"),
        ],
        None,
    );
    let mut agg = Aggregator::new();
    answers(&mut agg, "prose", &[Some("no_code"); 20]);
    let mut mixed = vec![Some("passed"); 16];
    mixed.extend([Some("no_code"); 4]);
    answers(&mut agg, "coder", &mixed);
    answers(&mut agg, "unvalidated", &[None; 20]);
    // 20 answers, 5 of them validated (all prose): too few to judge the code.
    let mut few = vec![None; 15];
    few.extend([Some("no_code"); 5]);
    answers(&mut agg, "few", &few);
    let s = agg.finish(0.0, &|_, _| None);
    let prose = s.model("prose").unwrap();
    assert_eq!(prose.well_formed_rate, Some(0.0));
    assert_eq!(prose.validation.as_ref().unwrap().no_code, 20);

    let r = rank(&reg, &s, &RankConfig::default());
    let p = r.placement("prose").unwrap();
    assert_eq!(p.verdict, Verdict::Fail);
    assert_eq!(p.status_after, Status::Candidate);
    assert!(
        p.reason
            .starts_with("answers carry no code: well-formed 0%"),
        "{}",
        p.reason
    );
    assert!(p.reason.contains("(--min-well-formed)"), "{}", p.reason);
    assert_eq!(p.position_after, None);
    assert!(r.changes.iter().any(|c| c.model == "prose"
        && c.kind == ChangeKind::LeftChain
        && c.reason.contains("answers carry no code")));
    for id in ["coder", "unvalidated", "few"] {
        let p = r.placement(id).unwrap();
        assert_eq!(
            (p.verdict, p.status_after),
            (Verdict::Pass, Status::Verified),
            "{id}: {}",
            p.reason
        );
    }
    assert_eq!(r.chain.len(), 3);
    assert!(!r.chain.contains(&"prose".to_string()));

    // A lower bar lets it stay.
    let lenient = RankConfig {
        min_well_formed: 0.0,
        ..RankConfig::default()
    };
    assert_eq!(
        rank(&reg, &s, &lenient).placement("prose").unwrap().verdict,
        Verdict::Pass
    );
}
