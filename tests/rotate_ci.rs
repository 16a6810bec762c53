//! rotate-test against the CI scenarios (fixtures/scenarios/ci-*.yaml): the
//! engine's behaviour checked against the simulator's own ground truth —
//! its counters (`/sim/stats`, in the JSON report) and its request log
//! (`--sim-log`, what `GET /sim/log` serves) — beside rotor's records.

mod rotate_support;

use rotate_support::{F1, F2, LOCAL, P, rotate, rotate_with};

fn chain(ids: &[&str]) -> String {
    ids.join(",")
}

/// Loopback arrivals of requests sent just before rotor learned something.
const SLACK_MS: f64 = 30.0;

#[test]
fn storm_on_the_primary_rotates_respects_retry_after_and_comes_back() {
    let c = chain(&[P, F1, F2]);
    let run = rotate("ci-storm", &["--chain", &c, "--repeat", "12"]);
    run.expect_code(0);
    run.assert_counts_match_the_simulator();
    run.assert_no_account_429s();
    let stats = run.sim_stats();
    let storm = stats["models"][P]["rate_limited_by_scope"]["upstream"]
        .as_u64()
        .unwrap_or(0);
    assert!(storm > 0, "the storm reached the primary: {stats}");
    let windows = run.assert_retry_after_respected(SLACK_MS);
    assert_eq!(
        windows as u64, storm,
        "one Retry-After window per upstream 429"
    );
    // Each 429 moved the prompt to another model at once.
    let rotations = run
        .events("fallback")
        .filter(|f| f["from"] == P && f["reason"] == "rate_limited")
        .count();
    assert!(rotations > 0, "no rotation away from the primary on a 429");
    // After the storm (t = 120 s) and the longest Retry-After (30 s), the
    // primary answers again.
    let after = run.ok_after(run.sim_time(150.0));
    let primary = after.get(P).copied().unwrap_or(0);
    let total: u64 = after.values().sum();
    assert!(total > 0, "the run outlasted the storm");
    // Adaptive shares the load by expected latency; a primary written off
    // for the run would get nothing.
    assert!(
        primary * 4 >= total,
        "the primary answered {primary} of {total} after the storm: {after:?}"
    );
    assert_eq!(run.report["overall"]["succeeded"], 168);
}

#[test]
fn a_known_account_limit_is_waited_for_not_hit() {
    let c = chain(&[P, F1, F2]);
    let run = rotate(
        "ci-account-limit",
        &["--chain", &c, "--repeat", "2", "--concurrency", "6"],
    );
    run.expect_code(0);
    run.assert_counts_match_the_simulator();
    run.assert_no_account_429s();
    assert_eq!(run.sim_stats()["by_outcome"]["ok"], 28);
    assert!(run.sim_stats()["by_outcome"].get("rate_limited").is_none());
    let limiter_waits = run
        .events("wait")
        .filter(|w| w["reason"] == "limiter")
        .count();
    assert!(limiter_waits > 0, "no limiter wait recorded");
    // 28 requests at 12 per 1.2 s: requests 24-27 cannot go before 2.4 s.
    let bound = run.report["simulator"]["lower_bound_s"].as_f64().unwrap();
    assert!(
        (bound - 2.4).abs() < 1e-6,
        "⌊27 / 12⌋ minutes of 1.2 s: {bound}"
    );
    let elapsed = run.report["elapsed_s"].as_f64().unwrap();
    assert!(
        elapsed >= bound,
        "finished in {elapsed} s, sooner than the limit allows"
    );
}

#[test]
fn a_spent_daily_quota_moves_the_rest_to_another_provider() {
    let c = chain(&[P, F1, LOCAL]);
    let run = rotate("ci-daily-quota", &["--chain", &c]);
    run.expect_code(0);
    run.assert_counts_match_the_simulator();
    run.assert_no_account_429s();
    let g = &run.sim_stats()["groups"]["openrouter"];
    assert_eq!(g["admitted"], 10, "{g}");
    let quota: Vec<_> = run.events("quota_exhausted").collect();
    assert_eq!(quota.len(), 1, "one quota_exhausted event: {quota:?}");
    assert_eq!(quota[0]["provider"], "openrouter");
    assert_eq!(run.report["overall"]["succeeded"], 14);
    let local = run.report["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == LOCAL)
        .unwrap();
    assert_eq!(local["answered"], 4, "{local}");
}

#[test]
fn an_outage_opens_the_breaker_and_the_primary_gets_nothing_until_it_may() {
    // fallback-first retries the primary after backoff, so its failures
    // accumulate; a breaker opening after two of them opens for sure.
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.yaml");
    let text = std::fs::read_to_string(rotate_support::registry()).unwrap();
    assert!(text.contains("failures: 5"));
    std::fs::write(&registry, text.replace("failures: 5", "failures: 2")).unwrap();
    let c = chain(&[P, F1, F2]);
    let run = rotate_with(
        &registry,
        "ci-outage",
        &["--chain", &c, "--repeat", "3", "--policy", "fallback-first"],
    );
    run.expect_code(0);
    run.assert_counts_match_the_simulator();
    let periods = run.assert_no_traffic_while_open(SLACK_MS);
    assert!(
        periods > 0,
        "the breaker never opened: {:?}",
        run.report["models"]
    );
    assert!(
        run.open_periods().iter().all(|(m, _, _)| m == P),
        "{:?}",
        run.open_periods()
    );
    // The outage ends at t = 20 s, the breaker's half-open probe (30 s after
    // it opened) finds the primary healthy: the next burst of requests (one
    // minute after the first) reaches it again.
    let after = run.ok_after(run.sim_time(40.0));
    assert!(after.get(P).copied().unwrap_or(0) > 0, "{after:?}");
}

#[test]
fn after_an_outage_adaptive_returns_to_the_primary() {
    let c = chain(&[P, F1, F2]);
    // 84 prompts: with 30 per minute, three bursts (at 0, 1.2 and 2.4 s real);
    // the last comes long after the outage (0.04 s to 0.4 s real).
    let run = rotate("ci-outage", &["--chain", &c, "--repeat", "6"]);
    run.expect_code(0);
    run.assert_counts_match_the_simulator();
    run.assert_no_traffic_while_open(SLACK_MS);
    let stats = run.sim_stats();
    assert!(
        stats["models"][P]["by_outcome"]["overloaded"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the outage reached the primary: {stats}"
    );
    // Over two half-lives of the evidence (30 s each) after the outage (t = 20 s).
    let after = run.ok_after(run.sim_time(100.0));
    let primary = after.get(P).copied().unwrap_or(0);
    let total: u64 = after.values().sum();
    assert!(total > 0, "the run outlasted the outage");
    // Adaptive shares the load by expected latency (noisy on a busy
    // machine); before its evidence aged, the primary got nothing.
    assert!(
        primary * 4 >= total,
        "the primary answered {primary} of {total} after the outage: {after:?}"
    );
}

#[test]
fn slow_models_give_up_at_the_deadline_and_the_success_threshold_fails() {
    let c = chain(&[P, F1, F2]);
    let run = rotate("ci-slow", &["--chain", &c, "--deadline", "0.3"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("success rate") && run.stderr.contains("min_success_rate"),
        "{}",
        run.stderr
    );
    run.assert_counts_match_the_simulator();
    run.assert_deadline_held(60.0);
    let gave_up = &run.report["overall"]["gave_up"];
    assert!(gave_up["deadline"].as_u64().unwrap_or(0) > 0, "{gave_up}");
    assert_eq!(run.report["passed"], false);
    assert_eq!(run.report["deadline_ms"], 300);
}

#[test]
fn upstream_429s_rotate_at_once_and_are_recorded_as_the_server_sent_them() {
    let c = chain(&[P, F1, F2, LOCAL]);
    let run = rotate("ci-upstream", &["--chain", &c, "--repeat", "2"]);
    run.expect_code(0);
    run.assert_counts_match_the_simulator();
    run.assert_no_account_429s();
    let windows = run.assert_retry_after_respected(SLACK_MS);
    let received = run.report["overall"]["rate_limited_by_scope"]["upstream"]
        .as_u64()
        .unwrap_or(0);
    assert!(received > 0 && windows as u64 == received);
    // Upstream 429s are not waited out on the same model.
    let waited_out = run
        .events("wait")
        .filter(|w| w["reason"] == "retry_after")
        .count();
    assert_eq!(waited_out, 0, "waited for an upstream Retry-After");
    assert_eq!(run.report["overall"]["succeeded"], 28);
}
