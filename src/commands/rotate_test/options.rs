//! rotate-test's flags turned into a validated configuration, and the engine
//! configuration that follows from it and the registry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use crate::cli::{RotateTestArgs, RunArgs};
use crate::commands::run;
use crate::engine::{EngineConfig, Policy, ProviderLimits, Target};
use crate::exit::Failure;
use crate::output::rotate::Thresholds;
use crate::registry::Registry;

/// rotate-test's own flags, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RotateOptions {
    /// `--chain`, when given.
    pub chain: Option<Vec<String>>,
    /// `--policy`, when given (wait-first's `max_wait` comes from the registry).
    pub policy: Option<Policy>,
    /// `--deadline`, when given.
    pub deadline: Option<Duration>,
    pub min_success_rate: Option<f64>,
    pub max_p95_ms: Option<u64>,
    pub max_fallback_rate: Option<f64>,
    pub junit: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub require_valid: bool,
    pub sim_log: Option<PathBuf>,
}

fn bad(msg: String) -> anyhow::Error {
    Failure::input(anyhow!(msg))
}

fn fraction(flag: &str, v: Option<f64>) -> anyhow::Result<Option<f64>> {
    match v {
        Some(x) if !(0.0..=1.0).contains(&x) => Err(bad(format!(
            "{flag} must be a fraction between 0 and 1, got {x}\n  hint: 0.95 means 95%"
        ))),
        _ => Ok(v),
    }
}

impl RotateOptions {
    /// Checks the flags (exit code 2 on a bad one).
    pub fn from_args(args: &RotateTestArgs) -> anyhow::Result<RotateOptions> {
        if !args.run.models.is_empty() {
            return Err(bad(
                "rotate-test takes --chain (the fallback order, primary first), not --models\n  hint: rotor rotate-test --chain a,b,c"
                    .into(),
            ));
        }
        let chain = if args.chain.is_empty() {
            None
        } else {
            let ids = run::dedup(&args.chain);
            if ids.is_empty() {
                return Err(bad("--chain names no model".into()));
            }
            Some(ids)
        };
        let policy = args
            .policy
            .as_deref()
            .map(|p| p.parse::<Policy>().map_err(|e| bad(e.to_string())))
            .transpose()?;
        let deadline = match args.deadline {
            None => None,
            Some(s) => match Duration::try_from_secs_f64(s) {
                Ok(d) if s > 0.0 => Some(d),
                _ => {
                    return Err(bad(format!(
                        "--deadline must be a positive number of seconds, got {s}"
                    )));
                }
            },
        };
        Ok(RotateOptions {
            chain,
            policy,
            deadline,
            min_success_rate: fraction("--min-success-rate", args.min_success_rate)?,
            max_p95_ms: args.max_p95_ms,
            max_fallback_rate: fraction("--max-fallback-rate", args.max_fallback_rate)?,
            junit: args.junit.clone(),
            markdown: args.markdown.clone(),
            require_valid: args.require_valid,
            sim_log: args.sim_log.clone(),
        })
    }

    /// The chain: `--chain`, else the registry's (rotation.order, else
    /// verified models by tier and position).
    pub fn chain(&self, registry: &Registry) -> anyhow::Result<Vec<String>> {
        if let Some(c) = &self.chain {
            return Ok(c.clone());
        }
        let ids: Vec<String> = registry.chain().iter().map(|m| m.id.clone()).collect();
        if ids.is_empty() {
            return Err(bad(format!(
                "{} has no fallback chain: rotation.order is not set and no model is verified\n  hint: set rotation.order, mark models `status: verified`, or pass --chain a,b,c",
                registry.source.display()
            )));
        }
        Ok(ids)
    }

    /// The thresholds: flags, else the registry's `ci:` section.
    pub fn thresholds(&self, registry: &Registry) -> Thresholds {
        Thresholds::resolve(
            &registry.ci,
            self.min_success_rate,
            self.max_p95_ms,
            self.max_fallback_rate,
        )
    }

    /// The engine's configuration: the registry's `rotation:` section, the
    /// flags over it, and — against the simulator — the registry's timings
    /// scaled like the simulated world (see [`scale_for_sim`]).
    pub fn engine_config(
        &self,
        registry: &Registry,
        args: &RunArgs,
        time_scale: Option<f64>,
    ) -> EngineConfig {
        let mut cfg = run::engine_config(registry, args, Duration::from_secs_f64(args.timeout));
        let max_wait = registry.rotation.max_wait();
        if let Some(p) = self.policy {
            cfg.policy = match p {
                Policy::WaitFirst { .. } => Policy::WaitFirst { max_wait },
                other => other,
            };
        }
        cfg.deadline = registry.rotation.deadline();
        if let Some(s) = time_scale {
            scale_for_sim(&mut cfg, s);
        }
        if let Some(d) = self.deadline {
            cfg.deadline = d;
        }
        cfg
    }
}

/// Against the simulator every delay of the simulated world is multiplied
/// by the scenario's `time_scale` (its minute is 60 s × scale, its
/// Retry-After values and latencies too); the engine's own timings from the
/// registry — backoff base and cap, breaker open periods, wait-first's
/// `max_wait` and the default deadline — are scaled the same way, so a
/// compressed run makes the decisions the real one would. `--deadline` and
/// `--timeout` stay wall-clock seconds.
pub fn scale_for_sim(cfg: &mut EngineConfig, scale: f64) {
    let s = |d: Duration| Duration::try_from_secs_f64(d.as_secs_f64() * scale).unwrap_or(d);
    cfg.backoff.base = s(cfg.backoff.base);
    cfg.backoff.cap = s(cfg.backoff.cap);
    cfg.breaker.cooldown = s(cfg.breaker.cooldown);
    cfg.breaker.max_open = s(cfg.breaker.max_open);
    if let Policy::WaitFirst { max_wait } = cfg.policy {
        cfg.policy = Policy::WaitFirst {
            max_wait: s(max_wait),
        };
    }
    cfg.deadline = s(cfg.deadline);
}

/// Loopback and scheduler jitter a compressed minute does not shrink: a
/// request may reach the simulator this much later than its limiter slot
/// (17 ms seen with six runs sharing two cores, against the limiter's 2 %
/// margin of a 0.6 s minute).
pub const SIM_JITTER: Duration = Duration::from_millis(40);

/// The providers' windows against the simulator. Those whose limits the
/// scenario does not give still live in its compressed time: their window
/// (for a limit learned from `X-RateLimit-Limit`, or AIMD pacing) and day
/// are scaled minutes and days, not real ones. Every window gets
/// [`SIM_JITTER`] more, so that rotor causes no account-wide 429 on a busy
/// machine.
pub fn sim_windows(
    limits: &mut HashMap<String, ProviderLimits>,
    targets: &[Target],
    registry: &Registry,
    scale: f64,
) {
    let s = |secs: f64| Duration::try_from_secs_f64(secs * scale).unwrap_or(Duration::ZERO);
    for t in targets {
        if limits.contains_key(&t.provider) || s(60.0).is_zero() {
            continue;
        }
        let free_only = registry
            .provider(&t.provider)
            .and_then(|p| p.limits.as_ref())
            .is_some_and(|l| l.applies_to == crate::registry::LimitScope::Free);
        limits.insert(
            t.provider.clone(),
            ProviderLimits {
                window: s(60.0),
                day: s(86_400.0),
                applies_to_free_only: free_only,
                ..ProviderLimits::default()
            },
        );
    }
    for l in limits.values_mut() {
        l.window += SIM_JITTER;
    }
}

/// The targets' latency priors (the registry's measured p50s, else the
/// engine's default for an unknown model) scaled like the simulated world.
pub fn scale_priors(targets: &mut [Target], scale: f64) {
    for t in targets {
        let ms = t
            .prior_latency_ms
            .unwrap_or(crate::engine::live::DEFAULT_LATENCY_MS);
        t.prior_latency_ms = Some(ms * scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(extra: &[&str]) -> anyhow::Result<RotateOptions> {
        let mut argv = vec!["rotor", "rotate-test"];
        argv.extend_from_slice(extra);
        let Command::RotateTest(a) = Cli::parse_from(argv).command else {
            panic!("rotate-test")
        };
        RotateOptions::from_args(&a)
    }

    fn code(e: anyhow::Error) -> i32 {
        crate::exit::code_of(&e)
    }

    #[test]
    fn bad_flags_are_input_errors_that_say_what_was_wrong() {
        for (flags, needle) in [
            (&["--min-success-rate", "95"][..], "between 0 and 1"),
            (&["--max-fallback-rate", "1.5"][..], "between 0 and 1"),
            (&["--deadline", "0"][..], "--deadline"),
            (&["--models", "a"][..], "--chain"),
            (&["--chain", ","][..], "no model"),
        ] {
            let e = parse(flags).unwrap_err();
            assert!(format!("{e:#}").contains(needle), "{flags:?}: {e:#}");
            assert_eq!(code(e), crate::exit::INPUT);
        }
    }

    #[test]
    fn flags_override_the_registry_and_sim_runs_scale_its_timings() {
        let registry = Registry::embedded().unwrap();
        let args = crate::cli::RunArgs {
            timeout: 120.0,
            ..parse_run()
        };
        let o = parse(&["--policy", "wait-first", "--chain", "b,a,b"]).unwrap();
        assert_eq!(o.chain(&registry).unwrap(), ["b", "a"]);
        let cfg = o.engine_config(&registry, &args, None);
        assert_eq!(
            cfg.policy,
            Policy::WaitFirst {
                max_wait: Duration::from_secs(300)
            }
        );
        assert_eq!(cfg.deadline, Duration::from_secs(120));
        let sim = o.engine_config(&registry, &args, Some(0.01));
        assert_eq!(
            sim.policy,
            Policy::WaitFirst {
                max_wait: Duration::from_secs(3)
            }
        );
        assert_eq!(sim.deadline, Duration::from_millis(1200));
        assert_eq!(sim.backoff.base, Duration::from_millis(10));
        assert_eq!(sim.breaker.cooldown, Duration::from_millis(300));
        let fixed = parse(&["--deadline", "2.5"]).unwrap();
        let cfg = fixed.engine_config(&registry, &args, Some(0.01));
        assert_eq!(
            cfg.deadline,
            Duration::from_millis(2500),
            "--deadline is wall-clock"
        );
        assert_eq!(cfg.policy, Policy::Adaptive);
        let default = parse(&[]).unwrap();
        assert_eq!(default.chain(&registry).unwrap()[0], registry.chain()[0].id);
        assert_eq!(default.thresholds(&registry).min_success_rate, 0.95);
    }

    #[test]
    fn sim_providers_without_known_limits_get_scaled_windows() {
        let registry = Registry::embedded().unwrap();
        let target = |id: &str, provider: &str| Target {
            id: id.into(),
            provider: provider.into(),
            endpoint: crate::client::Endpoint {
                base_url: "http://127.0.0.1:9/v1".into(),
                api_key: None,
                headers: vec![],
            },
            context_length: None,
            free: id.ends_with(":free"),
            prior_latency_ms: None,
            prior_success: None,
        };
        let known = ProviderLimits {
            per_window: Some(20),
            window: Duration::from_millis(1200),
            ..ProviderLimits::default()
        };
        let mut limits = HashMap::from([("local".to_string(), known.clone())]);
        let targets = [target("a:free", "openrouter"), target("m", "local")];
        sim_windows(&mut limits, &targets, &registry, 0.02);
        let local = &limits["local"];
        assert_eq!(local.per_window, Some(20), "known limits stay");
        assert_eq!(local.window, Duration::from_millis(1200) + SIM_JITTER);
        let or = &limits["openrouter"];
        assert_eq!(or.window, Duration::from_millis(1200) + SIM_JITTER);
        assert_eq!(or.day, Duration::from_millis(1_728_000));
        assert_eq!(or.per_window, None);
        assert!(
            or.applies_to_free_only,
            "the registry says free models only"
        );
        let mut t = targets.to_vec();
        scale_priors(&mut t, 0.1);
        assert_eq!(
            t[0].prior_latency_ms,
            Some(500.0),
            "the 5 s default, scaled"
        );
    }

    fn parse_run() -> crate::cli::RunArgs {
        let Command::RotateTest(a) = Cli::parse_from(["rotor", "rotate-test"]).command else {
            panic!("rotate-test")
        };
        a.run
    }
}
