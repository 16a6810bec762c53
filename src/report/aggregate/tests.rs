//! Unit tests of the aggregation.

use super::*;

fn attempt(model: &str, ts_ms: i64, outcome: Outcome, latency: f64) -> AttemptView<'_> {
    AttemptView {
        ts_ms,
        provider: "p",
        model,
        outcome,
        scope: None,
        latency_ms: Some(latency),
        ttft_ms: Some(latency / 2.0),
        tokens_per_s: Some(50.0),
        input_tokens: Some(10),
        output_tokens: Some(100),
        validation: None,
        prompt_id: Some("p1"),
    }
}

#[test]
fn scores_are_computed_per_prompt() {
    let mut agg = Aggregator::new();
    // p1: 3 answers, 1 passed, 1 without code; p2: 2 answers, both passed;
    // an unvalidated success and a failure count toward neither.
    for (prompt, v) in [
        ("p1", "passed"),
        ("p1", "no_code"),
        ("p1", "tests_failed"),
        ("p2", "passed"),
        ("p2", "passed"),
    ] {
        let mut a = attempt("m", 1, Outcome::Ok, 100.0);
        a.prompt_id = Some(prompt);
        a.validation = Some(v);
        agg.attempt(&a);
    }
    agg.attempt(&attempt("m", 2, Outcome::Ok, 100.0));
    agg.attempt(&attempt("m", 3, Outcome::Timeout, 100.0));
    let s = agg.finish(0.0, &|_, _| None);
    let m = s.model("m").unwrap();
    // pass@1 = (1/3 + 1) / 2 = 2/3.
    assert!((m.pass_at_1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    // k = 2: p1 1 − C(2,2)/C(3,2) = 2/3, p2 1; mean 5/6.
    let k = m.pass_at_k.unwrap();
    assert_eq!(k.k, 2);
    assert!((k.value - 5.0 / 6.0).abs() < 1e-12, "{k:?}");
    // 4 of 5 answers carry code.
    assert!((m.well_formed_rate.unwrap() - 0.8).abs() < 1e-12);
    let v = m.validation.as_ref().unwrap();
    assert_eq!((v.judged, v.passed, v.no_code, v.prompts), (5, 3, 1, 2));
    assert!(v.well_formed.lo < 0.8 && v.well_formed.hi > 0.8);
    // Without validated answers there is no score.
    let mut agg = Aggregator::new();
    agg.attempt(&attempt("u", 1, Outcome::Ok, 100.0));
    let s = agg.finish(0.0, &|_, _| None);
    let u = s.model("u").unwrap();
    assert_eq!(
        (u.pass_at_1, u.pass_at_k, u.well_formed_rate),
        (None, None, None)
    );
}

#[test]
fn median_interval_brackets_the_median() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    let [lo, hi] = median_interval(&v).unwrap();
    // n = 100: ranks 40 and 61 (the textbook 95% interval).
    assert_eq!((lo, hi), (40.0, 61.0));
    assert_eq!(median_interval(&[5.0]), Some([5.0, 5.0]));
    assert_eq!(median_interval(&[1.0, 2.0, 3.0]), Some([1.0, 3.0]));
    assert_eq!(median_interval(&[]), None);
}

#[test]
fn decay_halves_per_half_life() {
    let day = 86_400_000;
    assert_eq!(decay_weight(7 * day, 7 * day, 7.0 * 86_400.0), 1.0);
    assert!((decay_weight(7 * day, 0, 7.0 * 86_400.0) - 0.5).abs() < 1e-12);
    assert_eq!(decay_weight(7 * day, 0, 0.0), 1.0);
}

#[test]
fn account_scoped_429s_do_not_count_against_the_model() {
    let mut agg = Aggregator::new();
    for i in 0..8 {
        agg.attempt(&attempt("m", i, Outcome::Ok, 100.0 + i as f64));
    }
    let mut rl = attempt("m", 9, Outcome::RateLimited, 5.0);
    rl.scope = Some(RateLimitScope::AccountMinute);
    agg.attempt(&rl);
    rl.scope = Some(RateLimitScope::Upstream);
    agg.attempt(&rl);
    let mut bad = attempt("m", 10, Outcome::Ok, 120.0);
    bad.validation = Some("syntax_error");
    agg.attempt(&bad);
    let s = agg.finish(0.0, &|_, _| Some((0.0, 0.0)));
    let m = s.model("m").unwrap();
    assert_eq!((m.samples, m.counted, m.ok, m.rate_limited), (11, 10, 9, 2));
    assert!((m.success.unwrap().rate - 0.9).abs() < 1e-12);
    assert_eq!(m.rate_limited_by_scope.len(), 2);
    assert_eq!(m.latency_ms.p50, Some(104.0));
    let v = m.validation.as_ref().unwrap();
    assert_eq!((v.judged, v.passed), (1, 0));
    assert_eq!(m.cost_usd, Some(0.0));
    assert_eq!(s.rate_limits.len(), 2);
}
