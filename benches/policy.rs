//! Decision time of the rotation engine:
//! - `policy_decide`: the pure policy (`rotor::engine::policy::decide`) for
//!   each policy and chains of 1, 4, 12 and 32 models whose states differ
//!   (some cooling down, one half-way through a limiter slot, one excluded);
//! - `engine_prompt`: a whole prompt through `Engine::run` with a transport
//!   that answers at once, so all that is measured is the engine's own work
//!   per attempt (lock, candidates, policy, events, observer), for a chain of
//!   1 and of 12 models, one prompt at a time and 64 at once.
//!
//! Run: `cargo bench --bench policy`. BENCHMARKS.md ("Rotation policy
//! decision time") has the figures and what bounds them.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rotor::client::{CallResult, CallSpec, Endpoint};
use rotor::engine::policy::{BlockKind, Blocker, Candidate, Context, Exclusion, Subject, decide};
use rotor::engine::{
    BoxFuture, Engine, EngineConfig, NullObserver, Policy, PromptRequest, Target, Transport,
};
use rotor::record::Outcome;
use tokio::time::Instant;

fn candidates(n: usize, now: Instant) -> Vec<Candidate> {
    (0..n)
        .map(|i| {
            let cooling = i % 3 == 1;
            Candidate {
                target: i,
                chain_pos: i,
                excluded: (i % 7 == 6).then_some(Exclusion::Incompatible),
                left: None,
                ready_at: if cooling {
                    now + Duration::from_millis(200 * i as u64)
                } else {
                    now
                },
                blocker: cooling.then_some(Blocker {
                    kind: BlockKind::Cooldown {
                        hint: true,
                        own: false,
                    },
                    subject: Subject::Model,
                }),
                slot_at: if i % 5 == 2 {
                    now + Duration::from_millis(50)
                } else {
                    now
                },
                slot_on: (i % 5 == 2).then_some(Subject::Provider),
                expected_latency: Duration::from_millis(800 + 137 * (i as u64 % 11)),
                p_success: 0.6 + 0.03 * (i % 10) as f64,
            }
        })
        .collect()
}

fn bench_decide(c: &mut Criterion) {
    let now = Instant::now();
    let policies = [
        Policy::Adaptive,
        Policy::FallbackFirst,
        Policy::WaitFirst {
            max_wait: Duration::from_secs(300),
        },
    ];
    let mut g = c.benchmark_group("policy_decide");
    for policy in policies {
        for n in [1usize, 4, 12, 32] {
            let cands = candidates(n, now);
            let ctx = Context {
                policy,
                now,
                deadline: now + Duration::from_secs(120),
                last: Some(0),
                attempts: 1,
                max_attempts: 6,
                margin: 0.2,
            };
            g.bench_with_input(BenchmarkId::new(policy.name(), n), &cands, |b, cands| {
                b.iter(|| decide(black_box(&ctx), black_box(cands)))
            });
        }
    }
    g.finish();
}

/// Answers every call at once with a small `ok` result.
struct Instant200;

impl Transport for Instant200 {
    fn call<'a>(&'a self, _t: &'a Target, _s: &'a CallSpec<'a>) -> BoxFuture<'a, CallResult> {
        Box::pin(async {
            let mut r = CallResult::new(Outcome::Ok, Instant::now());
            r.http_status = Some(200);
            r.content = "def f():\n    return 1\n".into();
            r.output_tokens = Some(8);
            r.timings.end = Instant::now();
            r
        })
    }
}

fn engine(n: usize) -> Engine {
    let targets = (0..n)
        .map(|i| Target {
            id: format!("m{i}"),
            provider: "p".into(),
            endpoint: Endpoint {
                base_url: "http://127.0.0.1:9/v1".into(),
                api_key: None,
                headers: Vec::new(),
            },
            context_length: None,
            free: false,
            prior_latency_ms: Some(500.0 + 100.0 * i as f64),
            prior_success: Some(0.9),
        })
        .collect();
    Engine::new(
        EngineConfig::default(),
        targets,
        HashMap::new(),
        Arc::new(Instant200),
        Arc::new(NullObserver),
    )
}

fn request(n: usize, i: u32) -> PromptRequest {
    PromptRequest {
        prompt_id: "p".into(),
        repeat: i,
        chain: (0..n).map(|i| format!("m{i}")).collect(),
        ..Default::default()
    }
}

fn bench_engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("engine_prompt");
    for n in [1usize, 12] {
        let e = engine(n);
        g.bench_with_input(BenchmarkId::new("sequential", n), &n, |b, &n| {
            b.to_async(&rt).iter(|| {
                let e = e.clone();
                async move { e.run(request(n, 0)).await.attempts }
            })
        });
        // 64 prompts at once, spawned as the commands do: time per batch.
        g.bench_with_input(BenchmarkId::new("batch64", n), &n, |b, &n| {
            b.to_async(&rt).iter(|| {
                let e = e.clone();
                async move {
                    let handles: Vec<_> = (0..64u32)
                        .map(|i| {
                            let e = e.clone();
                            tokio::spawn(async move { e.run(request(n, i)).await.attempts })
                        })
                        .collect();
                    let mut total = 0;
                    for h in handles {
                        total += h.await.unwrap_or(0);
                    }
                    total
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_decide, bench_engine);
criterion_main!(benches);
