//! Scoring, tiering and reordering of the registry from measured figures.
//!
//! # The rules
//!
//! 1. **Reliability gate.** A model's success is the decayed share of `ok`
//!    among the attempts that say something about it (see [`crate::report`]),
//!    with its 95% Wilson interval `[lo, hi]`.
//!    - fewer than `min_samples` (default 10) such attempts → **stale**: it
//!      keeps its status, tier and place, and is flagged;
//!    - `lo ≥ min_success` (default 0.80) → **pass**: status `verified`, in
//!      the chain;
//!    - `hi < min_success` → **fail**: out of the chain, never deleted; status
//!      `incompatible` when at least half of its failures are `bad_request`,
//!      `forbidden` or `not_found` (the model cannot serve this use), else
//!      `candidate` (unavailable: errors, timeouts, upstream 429s). A failing
//!      model never gets a better status than it had;
//!    - otherwise (the interval straddles the threshold) → **uncertain**: like
//!      stale, it keeps its status and chain membership, but it is tiered and
//!      ordered on its figures.
//!    - **no code**: a model that would pass or be uncertain, with at least
//!      `min_samples` validated answers, whose well-formed rate (the decayed
//!      share of answers with extractable code) has a 95% Wilson interval
//!      entirely below `min_well_formed` (default 0.5, its upper bound below
//!      it) → **fail** with the reason *answers carry no code*: status
//!      `candidate`, out of the chain, never deleted. It answers, but in
//!      prose. A model with fewer validated answers (or none: records from
//!      runs without validation) is judged on its success alone.
//!
//!    `retired` models are never touched (retiring is `rotor models`' or the
//!    user's decision).
//! 2. **Tiers.** A model goes to the first tier whose `max_p50_ms` is above
//!    its p50 latency (the slowest tier when it is slower than all, flagged).
//!    A failing model keeps its tier. A model leaves its current tier only
//!    when the 95% interval of its median is entirely on the other side of the
//!    boundary, so a p50 that hovers around 2 s does not flap between tier 1
//!    and tier 2.
//! 3. **Score within a tier:** the expected time to a good answer,
//!    `p50 / (success × validation pass rate)` (the pass rate is 1 when no
//!    record was validated). Its interval divides the ends of the median's
//!    interval by the other ends of the rates' Wilson intervals.
//! 4. **Order.** Within a tier, models start in their current order (chain
//!    position, then file position, then id — a total order) and a model moves
//!    ahead of another only when it is significantly better (**non-overlapping
//!    intervals**): its whole score interval is below the other's, or its
//!    median latency interval is below the other's while its success and
//!    validation intervals are not below the other's (faster, and not less
//!    reliable). An insertion sort with that comparison. Overlapping intervals keep the current order, so a noisy
//!    re-run does not reorder the chain. Stale models (and chain members
//!    without latency figures) keep their index in the tier.
//! 5. **Chain** = the tiers' lists, fastest tier first. Every difference from
//!    the current registry (status, tier, chain membership, position) is a
//!    [`Change`] with its reason.
//!
//! The result depends only on the figures and the registry, never on the
//! order of the input records or on the clock.

mod order;

use std::collections::HashMap;

use serde::{Serialize, Serializer};

use crate::registry::{Registry, Status};
use crate::report::{ModelStats, Summary};

pub use order::file_order;

/// Default of `--min-samples`.
pub const DEFAULT_MIN_SAMPLES: u64 = 10;
/// Default of `--min-success`.
pub const DEFAULT_MIN_SUCCESS: f64 = 0.80;
/// Default of `--min-well-formed`.
pub const DEFAULT_MIN_WELL_FORMED: f64 = 0.5;

/// The gate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankConfig {
    pub min_samples: u64,
    pub min_success: f64,
    /// The upper bound of the well-formed rate's interval must reach this.
    pub min_well_formed: f64,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            min_samples: DEFAULT_MIN_SAMPLES,
            min_success: DEFAULT_MIN_SUCCESS,
            min_well_formed: DEFAULT_MIN_WELL_FORMED,
        }
    }
}

/// What the gate said about a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Uncertain,
    Stale,
    NoData,
    Retired,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Uncertain => "uncertain",
            Verdict::Stale => "stale",
            Verdict::NoData => "no data",
            Verdict::Retired => "retired",
        }
    }
}

/// Expected time to a good answer, ms, with its interval (`hi` is infinite
/// when no answer was good), and the intervals it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    #[serde(serialize_with = "finite_or_null")]
    pub value: f64,
    #[serde(serialize_with = "finite_or_null")]
    pub lo: f64,
    #[serde(serialize_with = "finite_or_null")]
    pub hi: f64,
    /// The 95% interval of the median latency.
    #[serde(skip)]
    pub p50: [f64; 2],
    /// The 95% Wilson interval of success.
    #[serde(skip)]
    pub success: [f64; 2],
    /// The 95% Wilson interval of the validation pass rate (`[1, 1]` without validation).
    #[serde(skip)]
    pub valid: [f64; 2],
}

fn finite_or_null<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

impl Score {
    /// From the figures; `None` without latency or success figures.
    pub fn of(m: &ModelStats) -> Option<Score> {
        let p50 = m.latency_ms.p50?;
        let [p_lo, p_hi] = m.latency_p50_ci_ms.unwrap_or([p50, p50]);
        let s = m.success?;
        let (v, v_lo, v_hi) = m
            .validation
            .as_ref()
            .map_or((1.0, 1.0, 1.0), |v| (v.pass.rate, v.pass.lo, v.pass.hi));
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
        Some(Score {
            value: div(p50, s.rate * v),
            lo: div(p_lo, s.hi * v_hi),
            hi: div(p_hi, s.lo * v_lo),
            p50: [p_lo, p_hi],
            success: [s.lo, s.hi],
            valid: [v_lo, v_hi],
        })
    }

    /// Significantly better than `other`: the whole score interval is below
    /// the other's, or the median's interval is entirely below the other's
    /// while neither the success nor the validation interval is entirely
    /// below the other's (faster, and not less reliable).
    pub fn significantly_better(&self, other: &Score) -> bool {
        let faster = self.p50[1] < other.p50[0];
        let not_worse = |a: [f64; 2], b: [f64; 2]| a[1] >= b[0];
        self.hi < other.lo
            || (faster
                && not_worse(self.success, other.success)
                && not_worse(self.valid, other.valid))
    }
}

/// One registry model's fate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub id: String,
    pub verdict: Verdict,
    /// Why the gate said so.
    pub reason: String,
    pub status_before: Status,
    pub status_after: Status,
    pub tier_before: Option<String>,
    pub tier_after: Option<String>,
    /// 1-based chain positions.
    pub position_before: Option<usize>,
    pub position_after: Option<usize>,
    pub score: Option<Score>,
    /// Stale, near a tier boundary, slower than every tier, overlapping scores…
    pub flags: Vec<String>,
}

/// What changed for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Status,
    Tier,
    JoinedChain,
    LeftChain,
    Position,
}

/// One difference from the current registry, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub model: String,
    pub kind: ChangeKind,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
}

/// A tier and the chain's models in it, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierOrder {
    pub name: String,
    pub label: String,
    pub max_p50_ms: u64,
    pub models: Vec<String>,
}

/// The new ordering.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    pub tiers: Vec<TierOrder>,
    /// The chain, primary first.
    pub chain: Vec<String>,
    /// Every registry model, in the registry's file order.
    pub placements: Vec<Placement>,
    pub changes: Vec<Change>,
}

impl Ranking {
    /// The placement of a model.
    pub fn placement(&self, id: &str) -> Option<&Placement> {
        self.placements.iter().find(|p| p.id == id)
    }
}

/// Ranks the registry's models on the figures in `summary`.
pub fn rank(registry: &Registry, summary: &Summary, cfg: &RankConfig) -> Ranking {
    let chain_before: HashMap<&str, usize> = registry
        .chain()
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut placements: Vec<Placement> = registry
        .models
        .iter()
        .map(|m| {
            let stats = summary.model(&m.id);
            let (verdict, reason, fail_status) = gate(m.status, stats, cfg);
            let status_after = match verdict {
                Verdict::Pass => Status::Verified,
                Verdict::Fail => worse(m.status, fail_status),
                _ => m.status,
            };
            let mut flags = Vec::new();
            let tier_after = tier_after(registry, m.tier.as_deref(), verdict, stats, &mut flags);
            if matches!(verdict, Verdict::Stale | Verdict::Uncertain) {
                flags.push(format!("{}: {reason}", verdict.as_str()));
            }
            Placement {
                id: m.id.clone(),
                verdict,
                reason,
                status_before: m.status,
                status_after,
                tier_before: m.tier.clone(),
                tier_after,
                position_before: chain_before.get(m.id.as_str()).map(|p| p + 1),
                position_after: None,
                score: stats
                    .filter(|_| !matches!(verdict, Verdict::Stale | Verdict::NoData))
                    .and_then(Score::of),
                flags,
            }
        })
        .collect();
    let (tiers, changes_by_order) = order::order_chain(registry, &mut placements);
    let chain: Vec<String> = tiers.iter().flat_map(|t| t.models.clone()).collect();
    for p in &mut placements {
        p.position_after = chain.iter().position(|id| *id == p.id).map(|i| i + 1);
    }
    let changes = order::changes(&placements, &changes_by_order);
    Ranking {
        tiers,
        chain,
        placements,
        changes,
    }
}

/// The gate: verdict, reason, and the status a failing model gets.
fn gate(
    current: Status,
    stats: Option<&ModelStats>,
    cfg: &RankConfig,
) -> (Verdict, String, Status) {
    if current == Status::Retired {
        return (
            Verdict::Retired,
            "retired models are left as they are".into(),
            current,
        );
    }
    let Some(m) = stats.filter(|m| m.samples > 0) else {
        return (
            Verdict::NoData,
            "no attempts in the files read".into(),
            current,
        );
    };
    let Some(s) = m.success.filter(|_| m.counted >= cfg.min_samples) else {
        return (
            Verdict::Stale,
            format!(
                "{} attempts count toward success, fewer than {} (--min-samples)",
                m.counted, cfg.min_samples
            ),
            current,
        );
    };
    let figures = format!(
        "success {} (95% CI {}–{}, n={})",
        pct(s.rate),
        pct(s.lo),
        pct(s.hi),
        m.counted
    );
    let gate = pct(cfg.min_success);
    if s.hi >= cfg.min_success
        && let Some(reason) = no_code(m, cfg)
    {
        return (
            Verdict::Fail,
            format!("{reason}; {figures}"),
            Status::Candidate,
        );
    }
    if s.lo >= cfg.min_success {
        return (
            Verdict::Pass,
            format!("{figures}: the interval is at or above the gate {gate}"),
            Status::Verified,
        );
    }
    if s.hi >= cfg.min_success {
        return (
            Verdict::Uncertain,
            format!("{figures} straddles the gate {gate}: kept as it is"),
            current,
        );
    }
    let failures = m.counted.saturating_sub(m.ok);
    let incompatible: u64 = ["bad_request", "forbidden", "not_found"]
        .iter()
        .filter_map(|k| m.errors.get(*k))
        .sum();
    let top: Vec<String> = {
        let mut e: Vec<(&String, &u64)> = m.errors.iter().collect();
        e.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let mut v: Vec<String> = e.iter().take(3).map(|(k, n)| format!("{n} {k}")).collect();
        let upstream: u64 = m
            .rate_limited_by_scope
            .iter()
            .filter(|(k, _)| !k.starts_with("account"))
            .map(|(_, n)| n)
            .sum();
        if upstream > 0 {
            v.push(format!("{upstream} rate_limited"));
        }
        v
    };
    let failures_text = if top.is_empty() {
        String::new()
    } else {
        format!("; failures: {}", top.join(", "))
    };
    if incompatible * 2 >= failures && incompatible > 0 {
        (
            Verdict::Fail,
            format!("incompatible: {figures} is below the gate {gate}{failures_text}"),
            Status::Incompatible,
        )
    } else {
        (
            Verdict::Fail,
            format!("unavailable: {figures} is below the gate {gate}{failures_text}"),
            Status::Candidate,
        )
    }
}

/// `Some(reason)` when enough validated answers show the model answers
/// without code: the upper bound of the well-formed rate's interval is below
/// `min_well_formed`.
fn no_code(m: &ModelStats, cfg: &RankConfig) -> Option<String> {
    let v = m.validation.as_ref()?;
    let w = v.well_formed;
    (v.judged >= cfg.min_samples && w.hi < cfg.min_well_formed).then(|| {
        format!(
            "answers carry no code: well-formed {} (95% CI {}–{}, n={}) is below {} (--min-well-formed)",
            pct(w.rate),
            pct(w.lo),
            pct(w.hi),
            v.judged,
            pct(cfg.min_well_formed)
        )
    })
}

/// A failing model never gets a better status than it had.
fn worse(current: Status, proposed: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Verified => 0,
        Status::Candidate => 1,
        Status::Incompatible => 2,
        Status::Retired => 3,
    };
    if rank(proposed) >= rank(current) {
        proposed
    } else {
        current
    }
}

/// The tier after the report, with the boundary hysteresis.
fn tier_after(
    registry: &Registry,
    current: Option<&str>,
    verdict: Verdict,
    stats: Option<&ModelStats>,
    flags: &mut Vec<String>,
) -> Option<String> {
    let keep = current.map(str::to_string);
    // Out of the chain or not judged: the tier stays (a failing model keeps
    // its tier so that it can come back where it was).
    if matches!(verdict, Verdict::Retired | Verdict::Stale | Verdict::NoData)
        || (verdict == Verdict::Fail && current.is_some())
    {
        return keep;
    }
    let Some(m) = stats else { return keep };
    let Some(p50) = m.latency_ms.p50 else {
        return keep;
    };
    let [lo, hi] = m.latency_p50_ci_ms.unwrap_or([p50, p50]);
    let tiers = &registry.tiers;
    let last = tiers.len().checked_sub(1)?;
    let target = tiers
        .iter()
        .position(|t| p50 < t.max_p50_ms as f64)
        .unwrap_or_else(|| {
            flags.push(format!(
                "slower than every tier: p50 {} ≥ {}",
                ms(p50),
                ms(tiers[last].max_p50_ms as f64)
            ));
            last
        });
    let Some(cur) = current.and_then(|c| tiers.iter().position(|t| t.name == c)) else {
        return Some(tiers[target].name.clone());
    };
    if target == cur {
        return keep;
    }
    // Leave the current tier only when the median's interval is past its bound.
    let significant = if target > cur {
        lo >= tiers[cur].max_p50_ms as f64
    } else {
        cur.checked_sub(1)
            .is_some_and(|f| hi < tiers[f].max_p50_ms as f64)
    };
    if significant {
        Some(tiers[target].name.clone())
    } else {
        flags.push(format!(
            "near a tier boundary: p50 {} (95% CI {}–{}) would be {}, kept in {}",
            ms(p50),
            ms(lo),
            ms(hi),
            tiers[target].name,
            tiers[cur].name
        ));
        keep
    }
}

/// `87.5%`.
pub fn pct(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// `880 ms`, `2.35 s`, `12.5 min`, `3.0 h`.
pub fn ms(x: f64) -> String {
    if !x.is_finite() {
        "∞".into()
    } else if x >= 7_200_000.0 {
        format!("{:.1} h", x / 3_600_000.0)
    } else if x >= 120_000.0 {
        format!("{:.1} min", x / 60_000.0)
    } else if x >= 1000.0 {
        format!("{:.2} s", x / 1000.0)
    } else {
        format!("{x:.0} ms")
    }
}

#[cfg(test)]
mod tests;
