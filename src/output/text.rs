//! `rotor report`'s default output: a table of the new ordering, then the
//! chain metrics, the changes with their reasons, and the flags.

use std::fmt::Write as _;

use comfy_table::CellAlignment;

use super::export::{ExportError, Exporter, ms_cell, pct_cell};
use super::table::new_table;
use crate::rank::{ChangeKind, ms, pct};
use crate::report::{ChainMetrics, Report, Row};

/// The human table; box drawing on a terminal, Markdown-like ASCII otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableExporter {
    pub terminal: bool,
}

/// The table's header.
///
/// `pass@1` is the mean over prompts of passed ÷ validated answers (no
/// decay); `code` the decayed share of validated answers with extractable code.
pub const HEADER: [&str; 14] = [
    "#",
    "tier",
    "model",
    "status",
    "n",
    "success (95% CI)",
    "429",
    "p50 ms",
    "p95 ms",
    "TTFT p50",
    "tok/s",
    "pass@1",
    "code",
    "move",
];

/// The cells of one row (shared with the Markdown exporter).
pub fn cells(r: &Row<'_>) -> Vec<String> {
    let p = r.placement;
    let s = r.stats;
    let status = match p {
        Some(p) if p.status_before != p.status_after => {
            format!("{} → {}", p.status_before, p.status_after)
        }
        Some(p) => p.status_after.to_string(),
        None => "(not listed)".into(),
    };
    let success = match s.and_then(|s| s.success) {
        Some(x) => format!("{} ({}–{})", pct(x.rate), pct(x.lo), pct(x.hi)),
        None => "—".into(),
    };
    let rate = |v: Option<f64>| v.map(pct).unwrap_or_else(|| "—".into());
    vec![
        p.and_then(|p| p.position_after)
            .map(|x| x.to_string())
            .unwrap_or_else(|| "–".into()),
        p.and_then(|p| p.tier_after.clone())
            .unwrap_or_else(|| "–".into()),
        r.id.to_string(),
        status,
        s.map(|s| s.samples.to_string())
            .unwrap_or_else(|| "0".into()),
        success,
        pct_cell(s.and_then(|s| s.rate_limited_share)),
        ms_cell(s.and_then(|s| s.latency_ms.p50)),
        ms_cell(s.and_then(|s| s.latency_ms.p95)),
        ms_cell(s.and_then(|s| s.ttft_ms.p50)),
        s.and_then(|s| s.tokens_per_s)
            .map(|t| format!("{t:.1}"))
            .unwrap_or_else(|| "—".into()),
        rate(s.and_then(|s| s.pass_at_1)),
        rate(s.and_then(|s| s.well_formed_rate)),
        movement(r),
    ]
}

/// `↑2`, `↓1`, `new`, `out`, `stale` or empty.
pub fn movement(r: &Row<'_>) -> String {
    let Some(p) = r.placement else {
        return String::new();
    };
    let stale = matches!(p.verdict, crate::rank::Verdict::Stale);
    match (p.position_before, p.position_after) {
        (Some(a), Some(b)) if b < a => format!("↑{}", a - b),
        (Some(a), Some(b)) if b > a => format!("↓{}", b - a),
        (None, Some(_)) => "new".into(),
        (Some(_), None) => "out".into(),
        _ if stale => "stale".into(),
        _ => String::new(),
    }
}

/// One line about what was read.
pub fn inputs_line(report: &Report) -> String {
    let r = &report.read;
    let mut s = format!(
        "{} file{}, {} attempts, {} events",
        r.files.len(),
        if r.files.len() == 1 { "" } else { "s" },
        r.attempts,
        r.events
    );
    if let (Some(a), Some(b)) = (report.summary.oldest_ms, report.summary.newest_ms) {
        let d = |ms| crate::report::aggregate::rfc3339(ms);
        let _ = write!(s, " from {} to {}", d(a), d(b));
    }
    if r.skipped_old > 0 {
        let _ = write!(s, "; {} older than --since left out", r.skipped_old);
    }
    if r.skipped_truncated > 0 {
        let _ = write!(s, "; {} truncated line(s) skipped", r.skipped_truncated);
    }
    if r.duplicates > 0 {
        let _ = write!(
            s,
            "; {} records of runs already read from another file left out",
            r.duplicates
        );
    }
    let scenarios = r.simulated_scenarios.join(", ");
    if r.simulated > 0 {
        let _ = write!(
            s,
            "; {} attempts from the simulator ({scenarios}): time-scaled, not real models' figures",
            r.simulated
        );
    }
    if r.simulated_left_out > 0 {
        let _ = write!(
            s,
            "; {} simulated attempts ({scenarios}) left out (--simulated to use them)",
            r.simulated_left_out
        );
    }
    let st = &report.settings;
    let _ = write!(
        s,
        "; half-life {} d, gate {} with ≥ {} samples, code in ≥ {} of answers",
        st.half_life_days,
        pct(st.min_success),
        st.min_samples,
        pct(st.min_well_formed)
    );
    s
}

/// The chain metrics in one line, or `None` without engine events.
pub fn chain_line(c: &ChainMetrics) -> Option<String> {
    if c.requests == 0 && c.fallbacks == 0 && c.waits == 0 && c.give_ups == 0 {
        return None;
    }
    let mut s = format!("{} requests ({} ok)", c.requests, c.requests_ok);
    if let Some(p) = c.primary_share {
        let _ = write!(s, ", primary answered {}", pct(p));
    }
    if let Some(f) = c.fallback_rate {
        let _ = write!(s, ", fallback rate {}", pct(f));
    }
    let _ = write!(
        s,
        ", fallbacks {}, waits {} (total {}), give-ups {}",
        c.fallbacks,
        c.waits,
        ms(c.wait_ms_total),
        c.give_ups
    );
    if c.breaker_opens > 0 {
        let _ = write!(s, ", breaker openings {}", c.breaker_opens);
    }
    if c.quota_exhausted > 0 {
        let _ = write!(s, ", daily quotas spent {}", c.quota_exhausted);
    }
    Some(s)
}

/// `tier2 → tier1`, `3 → 1`, `joined at 4`, `left (was 2)`.
pub fn change_text(kind: ChangeKind, from: Option<&str>, to: Option<&str>) -> String {
    let (f, t) = (from.unwrap_or("—"), to.unwrap_or("—"));
    match kind {
        ChangeKind::Status => format!("status {f} → {t}"),
        ChangeKind::Tier => format!("tier {f} → {t}"),
        ChangeKind::JoinedChain => format!("joined the chain at {t}"),
        ChangeKind::LeftChain => format!("left the chain (was {f})"),
        ChangeKind::Position => format!("position {f} → {t}"),
    }
}

impl Exporter for TableExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut t = new_table(&HEADER, self.terminal);
        for r in report.rows() {
            t.add_row(cells(&r));
        }
        for col in [0, 4, 6, 7, 8, 9, 10, 11, 12] {
            if let Some(c) = t.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut out = format!("{t}\n\n{}\n", inputs_line(report));
        if let Some(c) = chain_line(&report.summary.chain) {
            let _ = writeln!(out, "chain: {c}");
        }
        if report.ranking.changes.is_empty() {
            out.push_str("\nno changes to the registry's ordering\n");
        } else {
            out.push_str("\nchanges:\n");
            for c in &report.ranking.changes {
                let _ = writeln!(
                    out,
                    "  {}: {} — {}",
                    c.model,
                    change_text(c.kind, c.from.as_deref(), c.to.as_deref()),
                    c.reason
                );
            }
        }
        let flagged: Vec<_> = report
            .ranking
            .placements
            .iter()
            .filter(|p| !p.flags.is_empty())
            .collect();
        if !flagged.is_empty() {
            out.push_str("\nflags:\n");
            for p in flagged {
                for f in &p.flags {
                    let _ = writeln!(out, "  {}: {f}", p.id);
                }
            }
        }
        Ok(out.into_bytes())
    }
}

/// `n` and the noun, plural unless `n` is 1: "1 attempt", "300 attempts".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
