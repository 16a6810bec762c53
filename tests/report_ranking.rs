//! Ranking properties: deterministic, independent of the order of the input
//! records, stable under noise, and still moving models that are really faster.

use std::path::Path;

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rotor::output::json::to_value;
use rotor::record::{Outcome, RateLimitScope};
use rotor::registry::Registry;
use rotor::report::read::{AttemptView, EventView, RecordSink};
use rotor::report::{Aggregator, ReadStats, Report, Settings};

const DAY: i64 = 86_400_000;

fn registry() -> Registry {
    let text = "version: 1
providers:
  p:
    kind: openrouter
    base_url: https://x.test/v1
tiers:
  - {name: tier1, label: a, max_p50_ms: 2000}
  - {name: tier2, label: b, max_p50_ms: 5000}
  - {name: tier3, label: c, max_p50_ms: 15000}
rotation:
  order: [m0, m1, m2, m3]
models:
  - {id: m0, provider: p, status: verified, tier: tier1}
  - {id: m1, provider: p, status: verified, tier: tier1}
  - {id: m2, provider: p, status: verified, tier: tier1}
  - {id: m3, provider: p, status: verified, tier: tier2}
  - {id: m4, provider: p, status: candidate, tier: tier3}
";
    Registry::from_str(text, Path::new("test.yaml")).unwrap()
}

fn settings() -> Settings {
    Settings {
        half_life_days: 7.0,
        min_samples: 10,
        min_success: 0.8,
        min_well_formed: 0.5,
        since: None,
    }
}

/// A record, owned, so tests can shuffle them.
#[derive(Debug, Clone)]
enum Rec {
    Attempt {
        model: String,
        ts_ms: i64,
        outcome: Outcome,
        scope: Option<RateLimitScope>,
        latency: f64,
        validation: Option<&'static str>,
    },
    Request {
        ts_ms: i64,
        primary: String,
        used: Option<String>,
        wait_ms: f64,
    },
}

fn feed(records: &[Rec]) -> Report {
    let mut agg = Aggregator::new();
    let mut read = ReadStats::default();
    for r in records {
        match r {
            Rec::Attempt {
                model,
                ts_ms,
                outcome,
                scope,
                latency,
                validation,
            } => {
                read.attempts += 1;
                agg.attempt(&AttemptView {
                    ts_ms: *ts_ms,
                    provider: "p",
                    model,
                    outcome: *outcome,
                    scope: *scope,
                    latency_ms: Some(*latency),
                    ttft_ms: Some(latency / 3.0),
                    tokens_per_s: Some(100_000.0 / latency),
                    input_tokens: Some(100),
                    output_tokens: Some(200),
                    validation: *validation,
                    prompt_id: Some(["p1", "p2", "p3"][ts_ms.rem_euclid(3) as usize]),
                });
            }
            Rec::Request {
                ts_ms,
                primary,
                used,
                wait_ms,
            } => {
                read.events += 2;
                agg.event(&EventView {
                    ts_ms: *ts_ms,
                    event: "request",
                    primary: Some(primary),
                    model_used: used.as_deref(),
                    ok: Some(used.is_some()),
                    ..EventView::default()
                });
                agg.event(&EventView {
                    ts_ms: *ts_ms,
                    event: "wait",
                    model: Some(primary),
                    wait_ms: Some(*wait_ms),
                    reason: Some("backoff"),
                    ..EventView::default()
                });
            }
        }
    }
    let summary = agg.finish(7.0 * 86_400.0, &|_, _| Some((0.0, 0.0)));
    Report::from_summary(&registry(), read, settings(), summary)
}

const OUTCOMES: [Outcome; 5] = [
    Outcome::Ok,
    Outcome::Ok,
    Outcome::Ok,
    Outcome::RateLimited,
    Outcome::ServerError,
];
const SCOPES: [RateLimitScope; 3] = [
    RateLimitScope::AccountMinute,
    RateLimitScope::Upstream,
    RateLimitScope::Unknown,
];
const VALIDATIONS: [Option<&str>; 4] =
    [None, Some("passed"), Some("tests_failed"), Some("no_code")];

fn record() -> impl Strategy<Value = Rec> {
    prop_oneof![
        8 => (0usize..5, 0i64..(20 * DAY), 0usize..5, 0usize..3, 100f64..20_000.0, 0usize..4).prop_map(
            |(m, ts_ms, o, s, latency, v)| Rec::Attempt {
                model: format!("m{m}"),
                ts_ms,
                outcome: OUTCOMES[o],
                scope: (OUTCOMES[o] == Outcome::RateLimited).then_some(SCOPES[s]),
                latency,
                validation: VALIDATIONS[v],
            }
        ),
        1 => (0i64..(20 * DAY), 0usize..5, proptest::option::of(0usize..5), 0f64..5000.0).prop_map(
            |(ts_ms, p, u, wait_ms)| Rec::Request {
                ts_ms,
                primary: format!("m{p}"),
                used: u.map(|u| format!("m{u}")),
                wait_ms,
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The same records in any order give the same report, to the last bit.
    #[test]
    fn ranking_is_deterministic_and_order_independent(
        records in proptest::collection::vec(record(), 0..400),
        seed in any::<u64>(),
    ) {
        let a = to_value(&feed(&records)).unwrap();
        let again = to_value(&feed(&records)).unwrap();
        prop_assert_eq!(&a, &again);
        let mut shuffled = records.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in (1..shuffled.len()).rev() {
            let j = rng.random_range(0..=i);
            shuffled.swap(i, j);
        }
        let b = to_value(&feed(&shuffled)).unwrap();
        prop_assert_eq!(a, b);
    }
}

/// `n` successful attempts per model with log-normal noise around `medians`.
fn noisy_run(rng: &mut ChaCha8Rng, medians: &[(&str, f64)], n: usize, sigma: f64) -> Vec<Rec> {
    let mut out = Vec::new();
    for (model, median) in medians {
        for i in 0..n {
            // Box-Muller: one standard normal draw.
            let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let ok = rng.random_range(0.0..1.0) < 0.97;
            out.push(Rec::Attempt {
                model: model.to_string(),
                ts_ms: 19 * DAY + i as i64 * 1000,
                outcome: if ok {
                    Outcome::Ok
                } else {
                    Outcome::ServerError
                },
                scope: None,
                latency: median * (sigma * z).exp(),
                validation: None,
            });
        }
    }
    out
}

#[test]
fn a_noisy_rerun_with_the_same_speeds_does_not_reorder_the_chain() {
    // m0..m2 are within 8% of each other (m1 even a little faster than m0):
    // the current order must survive every re-run.
    let speeds = [
        ("m0", 1000.0),
        ("m1", 960.0),
        ("m2", 1040.0),
        ("m3", 3000.0),
    ];
    for seed in 0..200 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let report = feed(&noisy_run(&mut rng, &speeds, 30, 0.25));
        assert_eq!(
            report.ranking.chain,
            ["m0", "m1", "m2", "m3"],
            "seed {seed}: {:#?}",
            report.ranking.changes
        );
        assert!(
            report
                .ranking
                .changes
                .iter()
                .all(|c| c.kind != rotor::rank::ChangeKind::Position),
            "seed {seed}"
        );
    }
}

#[test]
fn a_really_faster_model_moves_up() {
    // m2 answers in a third of the time: it must lead tier 1 in every re-run.
    let speeds = [
        ("m0", 1200.0),
        ("m1", 1250.0),
        ("m2", 400.0),
        ("m3", 3000.0),
    ];
    for seed in 0..20 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let report = feed(&noisy_run(&mut rng, &speeds, 30, 0.25));
        assert_eq!(
            report.ranking.chain,
            ["m2", "m0", "m1", "m3"],
            "seed {seed}"
        );
    }
}

#[test]
fn old_runs_weigh_less() {
    // m0 failed a lot three weeks before the newest record, then recovered.
    let mut records = Vec::new();
    for i in 0..40 {
        let old = i < 20;
        records.push(Rec::Attempt {
            model: "m0".into(),
            ts_ms: if old { 0 } else { 21 * DAY } + i,
            outcome: if old && i % 2 == 0 {
                Outcome::ServerError
            } else {
                Outcome::Ok
            },
            scope: None,
            latency: 900.0,
            validation: None,
        });
    }
    let report = feed(&records);
    let m0 = report.summary.model("m0").unwrap();
    let s = m0.success.unwrap();
    // Unweighted it would be 75%; three half-lives make the old run weigh 1/8.
    assert!(
        (s.rate - (20.0 + 10.0 / 8.0) / (20.0 + 20.0 / 8.0)).abs() < 1e-6,
        "{}",
        s.rate
    );
    assert!(s.n_eff < 40.0 && s.n_eff > 20.0);
}
