//! Per-model aggregation of attempt records (see the module docs of
//! [`crate::report`] for every formula).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::events::{ChainMetrics, EventAcc, ModelChain};
use super::read::{AttemptView, EventView, RecordSink};
use super::scores::{PassAtK, PromptScores};
use crate::record::{Outcome, RateLimitScope};
use crate::stats::{percentile_sorted, wilson_interval_z};

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The validation outcomes a record may carry (anything else counts as `other`).
pub const VALIDATIONS: [&str; 6] = [
    "passed",
    "no_code",
    "syntax_error",
    "tests_failed",
    "timeout",
    "crashed",
];

// Bits of an attempt's class, kept per attempt for the decayed rates.
const COUNTED: u8 = 1;
const OK: u8 = 2;
const RATE_LIMITED: u8 = 4;
const JUDGED: u8 = 8;
const PASSED: u8 = 16;
const WELL_FORMED: u8 = 32;

/// A decayed rate and its 95% Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub rate: f64,
    pub lo: f64,
    pub hi: f64,
    /// Kish effective sample size, `(Σw)²/Σw²`.
    pub n_eff: f64,
}

impl Rate {
    /// From the sums of weights of the hits, of all, and of the squared weights.
    pub fn from_weights(hits: f64, total: f64, total_sq: f64) -> Option<Rate> {
        if total <= 0.0 || total_sq <= 0.0 {
            return None;
        }
        let rate = (hits / total).clamp(0.0, 1.0);
        let n_eff = total * total / total_sq;
        let (lo, hi) = wilson_interval_z(rate * n_eff, n_eff, Z95);
        Some(Rate {
            rate,
            lo,
            hi,
            n_eff,
        })
    }
}

/// p50/p90/p95/p99 (type 7, [`crate::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Quantiles {
    fn of_sorted(v: &[f64]) -> Quantiles {
        let q = |p| (!v.is_empty()).then(|| percentile_sorted(v, p));
        Quantiles {
            p50: q(50.0),
            p90: q(90.0),
            p95: q(95.0),
            p99: q(99.0),
        }
    }
}

/// Validation outcomes of a model's answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// Answers with a validation outcome.
    pub judged: u64,
    pub passed: u64,
    pub by_outcome: BTreeMap<String, u64>,
    /// Decayed pass rate and its interval.
    pub pass: Rate,
    /// Answers without extractable code (`no_code`).
    pub no_code: u64,
    /// Decayed share of answers with extractable code, and its interval
    /// (the gate's `--min-well-formed` reads its upper bound).
    pub well_formed: Rate,
    /// Prompts with a validated answer.
    pub prompts: u64,
}

/// Everything measured for one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStats {
    pub id: String,
    /// The provider most of its records name.
    pub provider: String,
    /// Attempt records.
    pub samples: u64,
    /// Attempts that count toward success (account-wide 429s, auth and payment
    /// errors left out).
    pub counted: u64,
    pub ok: u64,
    /// Decayed success rate among the counted attempts; `None` when none counts.
    pub success: Option<Rate>,
    pub rate_limited: u64,
    /// Decayed share of attempts that met a 429.
    pub rate_limited_share: Option<f64>,
    pub rate_limited_by_scope: BTreeMap<String, u64>,
    /// Failed attempts by outcome, 429s excluded.
    pub errors: BTreeMap<String, u64>,
    pub latency_ms: Quantiles,
    /// 95% distribution-free interval of the p50 latency.
    pub latency_p50_ci_ms: Option<[f64; 2]>,
    pub ttft_ms: Quantiles,
    /// Median of the attempts' output tokens per second.
    pub tokens_per_s: Option<f64>,
    pub validation: Option<Validation>,
    /// pass@1: the mean over prompts of passed ÷ validated answers (no decay).
    pub pass_at_1: Option<f64>,
    /// pass@k, k = the fewest validated answers of any of its prompts, when > 1 (no decay).
    pub pass_at_k: Option<PassAtK>,
    /// Decayed share of validated answers with extractable code.
    pub well_formed_rate: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Known when the model is free or priced.
    pub cost_usd: Option<f64>,
    pub first_measured: String,
    pub last_measured: String,
    /// Its part in the chain, from engine events.
    pub chain: ModelChain,
    /// Successful latencies, sorted (for charts).
    #[serde(skip)]
    pub latency_sorted: Vec<f64>,
    /// The newest attempt, epoch ms.
    #[serde(skip)]
    pub last_ms: i64,
}

/// A 429 at a time (for the 429-over-time chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RateLimitMark {
    pub ts_ms: i64,
    pub scope: RateLimitScope,
}

/// Everything aggregated from the files.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Models sorted by id.
    pub models: Vec<ModelStats>,
    pub chain: ChainMetrics,
    /// The oldest and newest attempt, epoch ms (decay is measured from the newest).
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    /// Every 429, sorted by time.
    pub rate_limits: Vec<RateLimitMark>,
}

impl Summary {
    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&ModelStats> {
        self.models
            .binary_search_by(|m| m.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.models[i])
    }
}

#[derive(Debug, Default)]
struct Acc {
    providers: Vec<(String, u64)>,
    samples: u64,
    counted: u64,
    ok: u64,
    rate_limited: u64,
    scopes: [u64; 5],
    outcomes: [u64; Outcome::ALL.len()],
    validations: [u64; VALIDATIONS.len() + 1],
    latency: Vec<f64>,
    ttft: Vec<f64>,
    tps: Vec<f64>,
    input_tokens: u64,
    output_tokens: u64,
    first_ms: i64,
    last_ms: i64,
    /// (time, class bits) per attempt, for the decayed rates.
    marks: Vec<(i64, u8)>,
    /// Per prompt: validated answers and passed ones (for pass@k).
    per_prompt: BTreeMap<String, (u64, u64)>,
}

/// Collects attempts and events; [`Aggregator::finish`] turns them into a [`Summary`].
#[derive(Debug, Default)]
pub struct Aggregator {
    index: HashMap<String, usize>,
    models: Vec<(String, Acc)>,
    events: EventAcc,
    rate_limits: Vec<RateLimitMark>,
}

const SCOPES: [RateLimitScope; 5] = [
    RateLimitScope::AccountMinute,
    RateLimitScope::AccountDay,
    RateLimitScope::Upstream,
    RateLimitScope::Model,
    RateLimitScope::Unknown,
];

/// Whether an attempt says something about the model itself.
fn counts_for_model(outcome: Outcome, scope: Option<RateLimitScope>) -> bool {
    match outcome {
        Outcome::Auth | Outcome::Payment => false,
        Outcome::RateLimited => !matches!(
            scope,
            Some(RateLimitScope::AccountMinute | RateLimitScope::AccountDay)
        ),
        _ => true,
    }
}

impl RecordSink for Aggregator {
    fn attempt(&mut self, a: &AttemptView<'_>) {
        let i = match self.index.get(a.model) {
            Some(&i) => i,
            None => {
                self.models.push((a.model.to_string(), Acc::default()));
                self.index
                    .insert(a.model.to_string(), self.models.len() - 1);
                self.models.len() - 1
            }
        };
        let acc = &mut self.models[i].1;
        match acc.providers.iter_mut().find(|(p, _)| p == a.provider) {
            Some((_, n)) => *n += 1,
            None => acc.providers.push((a.provider.to_string(), 1)),
        }
        if acc.samples == 0 || a.ts_ms < acc.first_ms {
            acc.first_ms = a.ts_ms;
        }
        if acc.samples == 0 || a.ts_ms > acc.last_ms {
            acc.last_ms = a.ts_ms;
        }
        acc.samples += 1;
        let mut class = 0u8;
        if counts_for_model(a.outcome, a.scope) {
            acc.counted += 1;
            class |= COUNTED;
        }
        if let Some(pos) = Outcome::ALL.iter().position(|o| *o == a.outcome) {
            acc.outcomes[pos] += 1;
        }
        match a.outcome {
            Outcome::Ok => {
                acc.ok += 1;
                class |= OK;
                if let Some(l) = a.latency_ms.filter(|l| *l >= 0.0) {
                    acc.latency.push(l);
                }
                if let Some(t) = a.ttft_ms.filter(|t| *t >= 0.0) {
                    acc.ttft.push(t);
                }
                if let Some(t) = a.tokens_per_s.filter(|t| *t >= 0.0) {
                    acc.tps.push(t);
                }
            }
            Outcome::RateLimited => {
                acc.rate_limited += 1;
                class |= RATE_LIMITED;
                let scope = a.scope.unwrap_or(RateLimitScope::Unknown);
                if let Some(pos) = SCOPES.iter().position(|s| *s == scope) {
                    acc.scopes[pos] += 1;
                }
                self.rate_limits.push(RateLimitMark {
                    ts_ms: a.ts_ms,
                    scope,
                });
            }
            _ => {}
        }
        if let Some(v) = a.validation {
            class |= JUDGED;
            let pos = VALIDATIONS
                .iter()
                .position(|x| *x == v)
                .unwrap_or(VALIDATIONS.len());
            acc.validations[pos] += 1;
            if pos == 0 {
                class |= PASSED;
            }
            if v != "no_code" {
                class |= WELL_FORMED;
            }
            let prompt = a.prompt_id.unwrap_or("");
            let passed = u64::from(pos == 0);
            if let Some(c) = acc.per_prompt.get_mut(prompt) {
                c.0 += 1;
                c.1 += passed;
            } else {
                acc.per_prompt.insert(prompt.to_string(), (1, passed));
            }
        }
        acc.input_tokens += a.input_tokens.unwrap_or(0);
        acc.output_tokens += a.output_tokens.unwrap_or(0);
        acc.marks.push((a.ts_ms, class));
    }

    fn event(&mut self, e: &EventView<'_>) {
        self.events.add(e);
    }
}

/// A model's price per token (prompt, completion), in USD.
pub type Price = (f64, f64);

impl Aggregator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The statistics: `half_life_s` is the decay's half-life (0: no decay);
    /// `price` gives a model's price per token when known (zero for free models).
    pub fn finish(self, half_life_s: f64, price: &dyn Fn(&str, &str) -> Option<Price>) -> Summary {
        let newest = self.models.iter().map(|(_, a)| a.last_ms).max();
        let oldest = self.models.iter().map(|(_, a)| a.first_ms).min();
        let (chain, mut chains) = self.events.finish();
        let mut models: Vec<ModelStats> = self
            .models
            .into_iter()
            .map(|(id, acc)| {
                let chain = chains.remove(&id).unwrap_or_default();
                model_stats(id, acc, newest.unwrap_or(0), half_life_s, price, chain)
            })
            .collect();
        models.sort_by(|a, b| a.id.cmp(&b.id));
        let mut rate_limits = self.rate_limits;
        rate_limits.sort();
        Summary {
            models,
            chain,
            oldest_ms: oldest,
            newest_ms: newest,
            rate_limits,
        }
    }
}

fn model_stats(
    id: String,
    mut acc: Acc,
    newest: i64,
    half_life_s: f64,
    price: &dyn Fn(&str, &str) -> Option<Price>,
    chain: ModelChain,
) -> ModelStats {
    // A fixed order makes the floating-point sums independent of the input order.
    acc.marks.sort_unstable();
    let (mut all, mut rl) = (0.0, 0.0);
    let (mut cw, mut cw2, mut okw) = (0.0, 0.0, 0.0);
    let (mut vw, mut vw2, mut vpw, mut vcw) = (0.0, 0.0, 0.0, 0.0);
    for &(ts, class) in &acc.marks {
        let w = decay_weight(newest, ts, half_life_s);
        all += w;
        if class & RATE_LIMITED != 0 {
            rl += w;
        }
        if class & COUNTED != 0 {
            cw += w;
            cw2 += w * w;
            if class & OK != 0 {
                okw += w;
            }
        }
        if class & JUDGED != 0 {
            vw += w;
            vw2 += w * w;
            if class & PASSED != 0 {
                vpw += w;
            }
            if class & WELL_FORMED != 0 {
                vcw += w;
            }
        }
    }
    for v in [&mut acc.latency, &mut acc.ttft, &mut acc.tps] {
        v.sort_by(f64::total_cmp);
    }
    acc.providers
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let provider = acc
        .providers
        .first()
        .map(|p| p.0.clone())
        .unwrap_or_default();
    let errors = Outcome::ALL
        .iter()
        .zip(acc.outcomes)
        .filter(|(o, n)| *n > 0 && !matches!(o, Outcome::Ok | Outcome::RateLimited))
        .map(|(o, n)| (o.as_str().to_string(), n))
        .collect();
    let rate_limited_by_scope = SCOPES
        .iter()
        .zip(acc.scopes)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| (s.as_str().to_string(), n))
        .collect();
    let judged: u64 = acc.validations.iter().sum();
    let scores = PromptScores::of(acc.per_prompt.values().copied());
    let no_code_pos = VALIDATIONS.iter().position(|v| *v == "no_code");
    let no_code = no_code_pos.map_or(0, |i| acc.validations[i]);
    let validation = Rate::from_weights(vpw, vw, vw2)
        .zip(Rate::from_weights(vcw, vw, vw2))
        .filter(|_| judged > 0)
        .map(|(pass, well_formed)| Validation {
            judged,
            passed: acc.validations[0],
            by_outcome: VALIDATIONS
                .iter()
                .copied()
                .chain(["other"])
                .zip(acc.validations)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            pass,
            no_code,
            well_formed,
            prompts: scores.prompts,
        });
    let cost_usd = price(&id, &provider)
        .map(|(p, c)| acc.input_tokens as f64 * p + acc.output_tokens as f64 * c);
    let tps = &acc.tps;
    ModelStats {
        provider,
        samples: acc.samples,
        counted: acc.counted,
        ok: acc.ok,
        success: Rate::from_weights(okw, cw, cw2),
        rate_limited: acc.rate_limited,
        rate_limited_share: (all > 0.0).then(|| rl / all),
        rate_limited_by_scope,
        errors,
        latency_ms: Quantiles::of_sorted(&acc.latency),
        latency_p50_ci_ms: median_interval(&acc.latency),
        ttft_ms: Quantiles::of_sorted(&acc.ttft),
        tokens_per_s: (!tps.is_empty()).then(|| percentile_sorted(tps, 50.0)),
        well_formed_rate: validation.as_ref().map(|v| v.well_formed.rate),
        validation,
        pass_at_1: scores.pass_at_1,
        pass_at_k: scores.pass_at_k,
        input_tokens: acc.input_tokens,
        output_tokens: acc.output_tokens,
        cost_usd,
        first_measured: rfc3339(acc.first_ms),
        last_measured: rfc3339(acc.last_ms),
        chain,
        latency_sorted: acc.latency,
        last_ms: acc.last_ms,
        id,
    }
}

/// `0.5^(age / half_life)`, age from `newest`; 1 when `half_life_s` is 0.
pub fn decay_weight(newest_ms: i64, ts_ms: i64, half_life_s: f64) -> f64 {
    if half_life_s <= 0.0 {
        return 1.0;
    }
    let age_s = (newest_ms.saturating_sub(ts_ms)).max(0) as f64 / 1000.0;
    0.5f64.powf(age_s / half_life_s)
}

/// The distribution-free 95% interval of the median of `sorted` (ascending):
/// order statistics of ranks `⌊n/2 − 0.98√n⌋` and `⌈n/2 + 1 + 0.98√n⌉`
/// (1-based, clamped to `1..=n`).
pub fn median_interval(sorted: &[f64]) -> Option<[f64; 2]> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let half = Z95 / 2.0 * nf.sqrt();
    let j = ((nf / 2.0 - half).floor() as i64).clamp(1, n as i64) as usize;
    let k = ((nf / 2.0 + 1.0 + half).ceil() as i64).clamp(1, n as i64) as usize;
    Some([sorted[j - 1], sorted[k - 1]])
}

/// Epoch milliseconds as an RFC 3339 UTC time (seconds precision).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
