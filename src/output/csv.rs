//! `rotor report --csv`: one row per model, in the report's order (the new
//! chain first). Empty cells mean unknown.

use super::export::{ExportError, Exporter};
use crate::report::{Report, Row};

/// The `--csv` exporter.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvExporter;

/// The columns, in order.
pub const COLUMNS: [&str; 35] = [
    "position",
    "tier",
    "model",
    "provider",
    "status",
    "status_before",
    "verdict",
    "samples",
    "counted",
    "ok",
    "success",
    "success_lo",
    "success_hi",
    "rate_limited",
    "rate_limited_share",
    "p50_ms",
    "p50_lo_ms",
    "p50_hi_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "tokens_per_s",
    "validation_pass",
    "pass_at_1",
    "pass_at_k",
    "k",
    "well_formed_rate",
    "cost_usd",
    "score_ms",
    "score_lo_ms",
    "score_hi_ms",
    "last_measured",
    "flags",
];

fn f(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => String::new(),
    }
}

fn row(r: &Row<'_>) -> Vec<String> {
    let p = r.placement;
    let s = r.stats;
    let success = s.and_then(|s| s.success);
    let ci = s.and_then(|s| s.latency_p50_ci_ms);
    let score = p.and_then(|p| p.score);
    let mut flags: Vec<String> = p.map(|p| p.flags.clone()).unwrap_or_default();
    if p.is_none() {
        flags.push("not in the registry".into());
    }
    vec![
        p.and_then(|p| p.position_after)
            .map(|x| x.to_string())
            .unwrap_or_default(),
        p.and_then(|p| p.tier_after.clone()).unwrap_or_default(),
        r.id.to_string(),
        s.map(|s| s.provider.clone()).unwrap_or_default(),
        p.map(|p| p.status_after.to_string()).unwrap_or_default(),
        p.map(|p| p.status_before.to_string()).unwrap_or_default(),
        p.map(|p| p.verdict.as_str().to_string())
            .unwrap_or_default(),
        s.map(|s| s.samples.to_string()).unwrap_or_default(),
        s.map(|s| s.counted.to_string()).unwrap_or_default(),
        s.map(|s| s.ok.to_string()).unwrap_or_default(),
        f(success.map(|x| x.rate), 4),
        f(success.map(|x| x.lo), 4),
        f(success.map(|x| x.hi), 4),
        s.map(|s| s.rate_limited.to_string()).unwrap_or_default(),
        f(s.and_then(|s| s.rate_limited_share), 4),
        f(s.and_then(|s| s.latency_ms.p50), 1),
        f(ci.map(|c| c[0]), 1),
        f(ci.map(|c| c[1]), 1),
        f(s.and_then(|s| s.latency_ms.p90), 1),
        f(s.and_then(|s| s.latency_ms.p95), 1),
        f(s.and_then(|s| s.latency_ms.p99), 1),
        f(s.and_then(|s| s.ttft_ms.p50), 1),
        f(s.and_then(|s| s.ttft_ms.p95), 1),
        f(s.and_then(|s| s.tokens_per_s), 1),
        f(
            s.and_then(|s| s.validation.as_ref().map(|v| v.pass.rate)),
            4,
        ),
        f(s.and_then(|s| s.pass_at_1), 4),
        f(s.and_then(|s| s.pass_at_k.map(|p| p.value)), 4),
        s.and_then(|s| s.pass_at_k.map(|p| p.k.to_string()))
            .unwrap_or_default(),
        f(s.and_then(|s| s.well_formed_rate), 4),
        f(s.and_then(|s| s.cost_usd), 6),
        f(score.map(|x| x.value), 1),
        f(score.map(|x| x.lo), 1),
        f(score.map(|x| x.hi), 1),
        s.map(|s| s.last_measured.clone()).unwrap_or_default(),
        flags.join("; "),
    ]
}

impl Exporter for CsvExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let err = |e: &dyn std::fmt::Display| ExportError::Csv(e.to_string());
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(COLUMNS).map_err(|e| err(&e))?;
        for r in report.rows() {
            w.write_record(row(&r)).map_err(|e| err(&e))?;
        }
        w.into_inner().map_err(|e| err(&e))
    }
}
