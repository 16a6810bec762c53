//! The per-model summary of a probe or rotate-test run, built from the attempt
//! records as they arrive, and its machine-readable (JSON) form.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{AttemptRecord, Outcome, RateLimitScope, SCHEMA_VERSION};
use crate::stats::{Sample, percentiles};
use crate::validate::score::pass_at_k;

/// Everything measured for one model in one run.
#[derive(Debug, Clone, Default)]
pub struct ModelSummary {
    pub model: String,
    pub provider: String,
    pub attempts: u64,
    pub ok: u64,
    pub rate_limited: u64,
    pub rate_limited_by_scope: BTreeMap<RateLimitScope, u64>,
    pub errors: BTreeMap<Outcome, u64>,
    /// Latencies of successful attempts, ms (bounded memory: see [`Sample`]).
    pub latency_ms: Sample,
    pub ttft_ms: Sample,
    pub tokens_per_s: Sample,
    pub output_tokens: u64,
    /// Validation verdicts of answers, by name (`passed`, `tests_failed`, …).
    pub verdicts: BTreeMap<String, u64>,
    /// Per prompt: (validated answers, passed), for pass@k.
    pub per_prompt: BTreeMap<String, (u64, u64)>,
    /// Prompts that ended without an answer, by the engine's reason
    /// (`deadline`, `retries_exhausted`, …).
    pub gave_up: BTreeMap<String, u64>,
}

impl ModelSummary {
    /// Answers with a verdict.
    pub fn validated(&self) -> u64 {
        self.verdicts.values().sum()
    }

    /// pass@k averaged over prompts with at least k validated answers (the
    /// unbiased estimator 1 − C(n−c, k)/C(n, k) per prompt).
    pub fn pass_at_k(&self, k: u64) -> Option<f64> {
        let per: Vec<f64> = self
            .per_prompt
            .values()
            .filter_map(|&(n, c)| pass_at_k(n, c, k))
            .collect();
        (!per.is_empty()).then(|| per.iter().sum::<f64>() / per.len() as f64)
    }

    /// The k of pass@k: the fewest validated answers any prompt has, when
    /// `--repeat` gave more than one.
    pub fn pass_k(&self) -> Option<u64> {
        self.per_prompt
            .values()
            .map(|&(n, _)| n)
            .min()
            .filter(|&k| k > 1)
    }

    /// Answers with extractable code / validated answers.
    pub fn well_formed_rate(&self) -> Option<f64> {
        let n = self.validated();
        let no_code = self.verdicts.get("no_code").copied().unwrap_or(0);
        (n > 0).then(|| (n - no_code) as f64 / n as f64)
    }

    pub fn other_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn add(&mut self, r: &AttemptRecord) {
        self.attempts += 1;
        match r.outcome {
            Outcome::Ok => {
                self.ok += 1;
                self.latency_ms.push(r.latency_ms);
                if let Some(t) = r.ttft_ms {
                    self.ttft_ms.push(t);
                }
                if let Some(t) = r.tokens_per_s {
                    self.tokens_per_s.push(t);
                }
                self.output_tokens += r.output_tokens.unwrap_or(0);
                if let Some(v) = &r.validation {
                    *self.verdicts.entry(v.clone()).or_default() += 1;
                    let e = self.per_prompt.entry(r.prompt_id.clone()).or_default();
                    e.0 += 1;
                    e.1 += u64::from(v == "passed");
                }
            }
            Outcome::RateLimited => {
                self.rate_limited += 1;
                let scope = r.rate_limit_scope.unwrap_or(RateLimitScope::Unknown);
                *self.rate_limited_by_scope.entry(scope).or_default() += 1;
            }
            other => *self.errors.entry(other).or_default() += 1,
        }
    }
}

/// A run's summary: models in the order they were first planned.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub models: Vec<ModelSummary>,
    index: BTreeMap<String, usize>,
}

impl RunSummary {
    /// Pre-registers models so the table keeps the planned order even for
    /// models that never answered.
    pub fn with_models<'a>(models: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut s = RunSummary::default();
        for (model, provider) in models {
            s.entry(model, provider);
        }
        s
    }

    fn entry(&mut self, model: &str, provider: &str) -> &mut ModelSummary {
        let i = match self.index.get(model) {
            Some(&i) => i,
            None => {
                self.models.push(ModelSummary {
                    model: model.to_string(),
                    provider: provider.to_string(),
                    ..Default::default()
                });
                self.index.insert(model.to_string(), self.models.len() - 1);
                self.models.len() - 1
            }
        };
        &mut self.models[i]
    }

    pub fn add(&mut self, r: &AttemptRecord) {
        self.entry(&r.model, &r.provider).add(r);
    }

    /// A prompt sent to `model` ended without an answer.
    pub fn gave_up(&mut self, model: &str, provider: &str, reason: &str) {
        *self
            .entry(model, provider)
            .gave_up
            .entry(reason.to_string())
            .or_default() += 1;
    }

    /// Prompts that ended without an answer, by reason, over all models.
    pub fn gave_up_total(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for m in &self.models {
            for (k, v) in &m.gave_up {
                *total.entry(k.clone()).or_default() += v;
            }
        }
        total
    }

    pub fn provider_of(&self, model: &str) -> Option<String> {
        self.index
            .get(model)
            .map(|&i| self.models[i].provider.clone())
    }

    pub fn attempts(&self) -> u64 {
        self.models.iter().map(|m| m.attempts).sum()
    }
}

/// p50/p95 (and p99 where useful) of a sample, ms or tokens/s.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub n: usize,
    /// Set when the percentiles come from a histogram (over
    /// [`Sample::EXACT_LIMIT`] values): each is within this fraction of the
    /// value at its rank. Absent when they are exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relative_error: Option<f64>,
}

impl Quantiles {
    pub fn of(values: &[f64]) -> Self {
        Self::from_percentiles(
            &percentiles(values, &[50.0, 95.0, 99.0]),
            values.len(),
            None,
        )
    }

    pub fn of_sample(s: &Sample) -> Self {
        let error = (!s.is_exact()).then_some(Sample::RELATIVE_ERROR);
        Self::from_percentiles(&s.percentiles(&[50.0, 95.0, 99.0]), s.len(), error)
    }

    /// `v`, one of these percentiles, formatted by `fmt` for a table cell,
    /// marked `≈` when they come from a histogram.
    pub fn cell(&self, v: Option<f64>, fmt: fn(Option<f64>) -> String) -> String {
        match (self.relative_error, v) {
            (Some(_), Some(_)) => format!("≈{}", fmt(v)),
            _ => fmt(v),
        }
    }

    fn from_percentiles(q: &[Option<f64>], n: usize, relative_error: Option<f64>) -> Self {
        Quantiles {
            p50: q[0].map(round3),
            p95: q[1].map(round3),
            p99: q[2].map(round3),
            n,
            relative_error,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The JSON summary printed by `--json` (stdout). `schema_version` changes
/// when a field changes meaning.
#[derive(Debug, Serialize)]
pub struct JsonSummary<'a> {
    pub schema_version: u32,
    pub command: &'a str,
    pub run_id: &'a str,
    pub backend: &'a str,
    pub results_file: String,
    pub interrupted: bool,
    pub elapsed_s: f64,
    pub attempts: u64,
    /// The TCP connections the run's client opened (probe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<JsonConnections>,
    pub models: Vec<JsonModel>,
}

/// Connections opened before the first prompt (the warm-up) and during
/// the run: the first request on each of the latter also waited for its
/// TCP (and TLS) handshake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JsonConnections {
    pub opened_before_first_prompt: u64,
    pub opened_during_run: u64,
}

impl JsonConnections {
    /// "connections: 8 opened before the first prompt, 0 during the run".
    pub fn describe(&self) -> String {
        format!(
            "connections: {} opened before the first prompt, {} during the run",
            self.opened_before_first_prompt, self.opened_during_run
        )
    }
}

#[derive(Debug, Serialize)]
pub struct JsonModel {
    pub model: String,
    pub provider: String,
    pub attempts: u64,
    pub ok: u64,
    pub rate_limited: u64,
    pub rate_limited_by_scope: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub latency_ms: Quantiles,
    pub ttft_ms: Quantiles,
    pub tokens_per_s: Quantiles,
    pub output_tokens: u64,
    /// Prompts that ended without an answer, by reason.
    pub gave_up: BTreeMap<String, u64>,
    /// Validation verdicts by name; empty when nothing was validated.
    pub validation: BTreeMap<String, u64>,
    pub pass_at_1: Option<f64>,
    /// pass@k for k = the largest number of answers every prompt has (when > 1).
    pub pass_at_k: Option<PassAtK>,
    pub well_formed_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct PassAtK {
    pub k: u64,
    pub value: f64,
}

impl From<&ModelSummary> for JsonModel {
    fn from(m: &ModelSummary) -> Self {
        JsonModel {
            model: m.model.clone(),
            provider: m.provider.clone(),
            attempts: m.attempts,
            ok: m.ok,
            rate_limited: m.rate_limited,
            rate_limited_by_scope: m
                .rate_limited_by_scope
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            errors: m
                .errors
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            latency_ms: Quantiles::of_sample(&m.latency_ms),
            ttft_ms: Quantiles::of_sample(&m.ttft_ms),
            tokens_per_s: Quantiles::of_sample(&m.tokens_per_s),
            output_tokens: m.output_tokens,
            gave_up: m.gave_up.clone(),
            validation: m.verdicts.clone(),
            pass_at_1: m.pass_at_k(1).map(round3),
            pass_at_k: m.pass_k().and_then(|k| {
                m.pass_at_k(k).map(|v| PassAtK {
                    k,
                    value: round3(v),
                })
            }),
            well_formed_rate: m.well_formed_rate().map(round3),
        }
    }
}

impl RunSummary {
    pub fn to_json<'a>(
        &self,
        command: &'a str,
        run_id: &'a str,
        backend: &'a str,
        results_file: String,
        interrupted: bool,
        elapsed_s: f64,
    ) -> JsonSummary<'a> {
        JsonSummary {
            schema_version: SCHEMA_VERSION,
            command,
            run_id,
            backend,
            results_file,
            interrupted,
            elapsed_s: round3(elapsed_s),
            attempts: self.attempts(),
            connections: None,
            models: self.models.iter().map(JsonModel::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample_attempt;

    /// A run of more answers than a sample keeps exactly: the summary's
    /// percentiles come from the histogram and every output says so (the
    /// JSON with `relative_error`, the table with `≈`); a short run's are
    /// exact and unmarked.
    #[test]
    fn a_long_runs_percentiles_are_marked_approximate() {
        let run = |n: usize| {
            let mut s = RunSummary::with_models([("m:free", "openrouter")]);
            let mut a = sample_attempt();
            a.outcome = Outcome::Ok;
            for i in 0..n {
                a.latency_ms = 100.0 + (i % 1000) as f64;
                a.ttft_ms = Some(10.0 + (i % 100) as f64);
                a.tokens_per_s = Some(50.0);
                s.add(&a);
            }
            s
        };
        let short = run(1000);
        let json =
            serde_json::to_value(short.to_json("probe", "r", "b", "f".into(), false, 1.0)).unwrap();
        let latency = &json["models"][0]["latency_ms"];
        assert_eq!(latency["p50"], 599.5);
        assert!(latency.get("relative_error").is_none(), "{latency}");
        let table = crate::output::table::probe_table(&short, false).to_string();
        assert!(!table.contains('≈'), "{table}");

        let n = Sample::EXACT_LIMIT + 10_000;
        let long = run(n);
        let json =
            serde_json::to_value(long.to_json("probe", "r", "b", "f".into(), false, 1.0)).unwrap();
        let latency = &json["models"][0]["latency_ms"];
        assert_eq!(latency["n"], n);
        assert_eq!(latency["relative_error"], Sample::RELATIVE_ERROR);
        let exact: Vec<f64> = (0..n).map(|i| 100.0 + (i % 1000) as f64).collect();
        for p in ["p50", "p95", "p99"] {
            let want = crate::stats::percentile(&exact, p[1..].parse().unwrap()).unwrap();
            let got = latency[p].as_f64().unwrap();
            assert!(
                (got - want).abs() <= want * Sample::RELATIVE_ERROR,
                "{p}: {latency}"
            );
        }
        let table = crate::output::table::probe_table(&long, false).to_string();
        assert!(table.contains("≈596"), "{table}");
        // rotate-test's table and Markdown mark their cells the same way.
        let ms = crate::output::table::ms;
        let q = Quantiles::of_sample(&long.models[0].latency_ms);
        assert_eq!(q.cell(q.p50, ms), "≈596");
        assert_eq!(q.cell(None, ms), "—");
        let q = Quantiles::of_sample(&short.models[0].latency_ms);
        assert_eq!(q.cell(q.p50, ms), "600");
    }
}
