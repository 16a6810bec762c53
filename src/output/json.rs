//! `rotor report --json`: the new ordering, the statistics and every change,
//! for other tools. The document carries [`REPORT_SCHEMA_VERSION`].
//!
//! ```json
//! { "schema_version": 1, "registry": "registry.yaml",
//!   "inputs": {"files": [...], "attempts": 120, "events": 40, ...},
//!   "settings": {"half_life_days": 7, "min_samples": 10, "min_success": 0.8,
//!                "min_well_formed": 0.5, "since": null},
//!   "tiers": [{"name": "tier1", "label": "ultra-fast", "max_p50_ms": 2000, "models": ["a", "b"]}],
//!   "chain": ["a", "b", ...],
//!   "models": [{"id": "a", "in_registry": true, "position": 1, "verdict": "pass", ...,
//!               "stats": {"samples": 40, "success": {"rate": 0.97, "lo": 0.87, "hi": 0.99}, ...,
//!                         "validation": {"judged": 40, "passed": 36, "no_code": 1, "pass": {...},
//!                                        "well_formed": {"rate": 0.98, "lo": 0.87, "hi": 1.0, ...}},
//!                         "pass_at_1": 0.9, "pass_at_k": {"k": 4, "value": 0.99},
//!                         "well_formed_rate": 0.98, ...}}],
//!   "chain_metrics": {"requests": 40, "primary_share": 0.9, "fallback_rate": 0.1, ...},
//!   "changes": [{"model": "b", "kind": "position", "from": "3", "to": "2", "reason": "..."}] }
//! ```

use serde::Serialize;

use super::export::{ExportError, Exporter};
use crate::rank::{Change, Score, TierOrder, Verdict};
use crate::registry::Status;
use crate::report::{ChainMetrics, ModelStats, ReadStats, Report, Settings};

/// Bumped whenever a field of the report document changes meaning or disappears.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The `--json` exporter (pretty-printed, one trailing newline).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonExporter;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    registry: &'a str,
    inputs: Inputs<'a>,
    settings: &'a Settings,
    tiers: &'a [TierOrder],
    chain: &'a [String],
    models: Vec<ModelEntry<'a>>,
    chain_metrics: &'a ChainMetrics,
    changes: &'a [Change],
}

#[derive(Serialize)]
struct Inputs<'a> {
    #[serde(flatten)]
    read: &'a ReadStats,
    oldest: Option<String>,
    newest: Option<String>,
}

#[derive(Serialize)]
struct ModelEntry<'a> {
    id: &'a str,
    in_registry: bool,
    /// 1-based chain position after the report.
    position: Option<usize>,
    position_before: Option<usize>,
    verdict: Option<Verdict>,
    reason: Option<&'a str>,
    status_before: Option<Status>,
    status: Option<Status>,
    tier_before: Option<&'a str>,
    tier: Option<&'a str>,
    score_ms: Option<&'a Score>,
    flags: Vec<&'a str>,
    stats: Option<&'a ModelStats>,
}

/// The report as a JSON value (keys sorted; tests use it).
pub fn to_value(report: &Report) -> Result<serde_json::Value, ExportError> {
    Ok(serde_json::to_value(document(report))?)
}

fn document(report: &Report) -> Document<'_> {
    let models = report
        .rows()
        .into_iter()
        .map(|r| {
            let p = r.placement;
            ModelEntry {
                id: r.id,
                in_registry: p.is_some(),
                position: p.and_then(|p| p.position_after),
                position_before: p.and_then(|p| p.position_before),
                verdict: p.map(|p| p.verdict),
                reason: p.map(|p| p.reason.as_str()),
                status_before: p.map(|p| p.status_before),
                status: p.map(|p| p.status_after),
                tier_before: p.and_then(|p| p.tier_before.as_deref()),
                tier: p.and_then(|p| p.tier_after.as_deref()),
                score_ms: p.and_then(|p| p.score.as_ref()),
                flags: match p {
                    Some(p) => p.flags.iter().map(String::as_str).collect(),
                    None => vec!["not in the registry"],
                },
                stats: r.stats,
            }
        })
        .collect();
    let ts = |ms: Option<i64>| ms.map(crate::report::aggregate::rfc3339);
    Document {
        schema_version: REPORT_SCHEMA_VERSION,
        registry: &report.registry_source,
        inputs: Inputs {
            read: &report.read,
            oldest: ts(report.summary.oldest_ms),
            newest: ts(report.summary.newest_ms),
        },
        settings: &report.settings,
        tiers: &report.ranking.tiers,
        chain: &report.ranking.chain,
        models,
        chain_metrics: &report.summary.chain,
        changes: &report.ranking.changes,
    }
}

impl Exporter for JsonExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut out = serde_json::to_vec_pretty(&document(report))?;
        out.push(b'\n');
        Ok(out)
    }
}
