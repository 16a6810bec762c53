//! The thresholds `rotor rotate-test` checks, and the check itself (pure).
//!
//! Each threshold comes from a flag, else the registry's `ci:` section; the
//! success rate always has one (the seeds' 95 %). A threshold holds when:
//!
//! - `min_success_rate`: succeeded prompts ÷ prompts ≥ the minimum;
//! - `max_p95_ms`: the p95 of the time to an answer (waits and retries
//!   included, answered prompts only) ≤ the maximum;
//! - `max_fallback_rate`: answers from a model other than the primary ÷
//!   answers ≤ the maximum.
//!
//! A value that cannot be measured (no prompt answered) fails its threshold:
//! a check that saw nothing does not hold.

use serde::Serialize;

use crate::registry::CiThresholds;

/// Comparisons forgive this much floating-point noise.
const EPS: f64 = 1e-9;

/// The thresholds of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    pub min_success_rate: f64,
    pub max_p95_ms: Option<u64>,
    pub max_fallback_rate: Option<f64>,
}

impl Thresholds {
    /// The registry's `ci:` section with any flag given in its place.
    pub fn resolve(
        ci: &CiThresholds,
        min_success_rate: Option<f64>,
        max_p95_ms: Option<u64>,
        max_fallback_rate: Option<f64>,
    ) -> Thresholds {
        Thresholds {
            min_success_rate: min_success_rate.unwrap_or(ci.min_success_rate),
            max_p95_ms: max_p95_ms.or(ci.max_p95_ms),
            max_fallback_rate: max_fallback_rate.or(ci.max_fallback_rate),
        }
    }

    /// Checks the measured values: one [`Check`] per threshold in force.
    pub fn evaluate(&self, m: &Measured) -> Vec<Check> {
        let mut checks = vec![Check::at_least(
            "min_success_rate",
            self.min_success_rate,
            m.success_rate,
        )];
        if let Some(max) = self.max_p95_ms {
            checks.push(Check::at_most("max_p95_ms", max as f64, m.p95_ms));
        }
        if let Some(max) = self.max_fallback_rate {
            checks.push(Check::at_most("max_fallback_rate", max, m.fallback_rate));
        }
        checks
    }
}

/// What the thresholds are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measured {
    pub success_rate: Option<f64>,
    pub p95_ms: Option<f64>,
    pub fallback_rate: Option<f64>,
}

/// Whether the value must be at least or at most the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtLeast,
    AtMost,
}

/// One threshold, the measured value and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The threshold's name, as in the registry's `ci:` section.
    pub name: &'static str,
    pub bound: Bound,
    pub limit: f64,
    /// `None` when nothing could be measured.
    pub value: Option<f64>,
    pub passed: bool,
}

impl Check {
    fn at_least(name: &'static str, limit: f64, value: Option<f64>) -> Check {
        Check {
            name,
            bound: Bound::AtLeast,
            limit,
            value,
            passed: value.is_some_and(|v| v + EPS >= limit),
        }
    }

    fn at_most(name: &'static str, limit: f64, value: Option<f64>) -> Check {
        Check {
            name,
            bound: Bound::AtMost,
            limit,
            value,
            passed: value.is_some_and(|v| v <= limit + EPS),
        }
    }

    /// The flag that sets it (`--min-success-rate`).
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }

    /// What is measured, for people ("success rate").
    pub fn label(&self) -> &'static str {
        match self.name {
            "min_success_rate" => "success rate",
            "max_p95_ms" => "p95 latency",
            "max_fallback_rate" => "fallback rate",
            _ => "value",
        }
    }

    /// A value or limit in the threshold's unit (`96.4%`, `1234 ms`).
    pub fn show(&self, x: f64) -> String {
        if self.name.ends_with("_ms") {
            format!("{x:.0} ms")
        } else {
            format!("{:.1}%", x * 100.0)
        }
    }

    /// `success rate 80.0% is below the minimum 95.0% (min_success_rate)`.
    pub fn describe(&self) -> String {
        let limit = self.show(self.limit);
        match (self.value, self.bound, self.passed) {
            (None, _, _) => format!(
                "{} could not be measured: no prompt was answered ({} {limit})",
                self.label(),
                self.name
            ),
            (Some(v), Bound::AtLeast, false) => format!(
                "{} {} is below the minimum {limit} ({})",
                self.label(),
                self.show(v),
                self.name
            ),
            (Some(v), Bound::AtMost, false) => format!(
                "{} {} is above the maximum {limit} ({})",
                self.label(),
                self.show(v),
                self.name
            ),
            (Some(v), Bound::AtLeast, true) => {
                format!("{} {} ≥ {limit}", self.label(), self.show(v))
            }
            (Some(v), Bound::AtMost, true) => {
                format!("{} {} ≤ {limit}", self.label(), self.show(v))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(success: f64, p95: f64, fallback: f64) -> Measured {
        Measured {
            success_rate: Some(success),
            p95_ms: Some(p95),
            fallback_rate: Some(fallback),
        }
    }

    #[test]
    fn flags_replace_the_registry_and_the_default_is_the_seeds_95_percent() {
        let ci = CiThresholds::default();
        let t = Thresholds::resolve(&ci, None, None, None);
        assert_eq!(t.min_success_rate, 0.95);
        assert_eq!(t.evaluate(&measured(1.0, 1.0, 1.0)).len(), 1);
        let ci = CiThresholds {
            min_success_rate: 0.8,
            max_p95_ms: Some(5000),
            max_fallback_rate: Some(0.1),
        };
        let t = Thresholds::resolve(&ci, Some(0.99), None, Some(0.5));
        assert_eq!(
            t,
            Thresholds {
                min_success_rate: 0.99,
                max_p95_ms: Some(5000),
                max_fallback_rate: Some(0.5),
            }
        );
    }

    #[test]
    fn each_threshold_holds_at_its_limit_and_fails_past_it() {
        let t = Thresholds {
            min_success_rate: 0.95,
            max_p95_ms: Some(2000),
            max_fallback_rate: Some(0.1),
        };
        let ok = t.evaluate(&measured(0.95, 2000.0, 0.1));
        assert!(ok.iter().all(|c| c.passed), "{ok:?}");
        let bad = t.evaluate(&measured(0.949, 2000.5, 0.11));
        let names: Vec<&str> = bad.iter().filter(|c| !c.passed).map(|c| c.name).collect();
        assert_eq!(
            names,
            ["min_success_rate", "max_p95_ms", "max_fallback_rate"]
        );
        // 19 of 20 is exactly 95 %, whatever the float rounding.
        let c = &t.evaluate(&measured(19.0 / 20.0, 0.0, 0.0))[0];
        assert!(c.passed);
    }

    #[test]
    fn nothing_measured_fails_and_messages_name_the_threshold() {
        let t = Thresholds {
            min_success_rate: 0.95,
            max_p95_ms: Some(2000),
            max_fallback_rate: None,
        };
        let checks = t.evaluate(&Measured {
            success_rate: Some(0.8),
            p95_ms: None,
            fallback_rate: None,
        });
        assert!(checks.iter().all(|c| !c.passed));
        assert_eq!(
            checks[0].describe(),
            "success rate 80.0% is below the minimum 95.0% (min_success_rate)"
        );
        assert_eq!(checks[0].flag(), "--min-success-rate");
        assert!(checks[1].describe().contains("max_p95_ms"));
        assert!(checks[1].describe().contains("could not be measured"));
        let over = Thresholds {
            min_success_rate: 0.0,
            max_p95_ms: Some(100),
            max_fallback_rate: None,
        }
        .evaluate(&measured(1.0, 250.0, 0.0));
        assert_eq!(
            over[1].describe(),
            "p95 latency 250 ms is above the maximum 100 ms (max_p95_ms)"
        );
    }
}
