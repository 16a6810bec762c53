//! Human tables (comfy-table) on stdout.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::summary::RunSummary;
use crate::stats::percentile;

/// Formats milliseconds for a table cell: `—` when unknown.
pub fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 10_000.0 => format!("{:.1}s", x / 1000.0),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "—".into(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into())
}

/// A new table in rotor's style: box drawing on a terminal, Markdown-ish ASCII otherwise.
pub fn new_table(header: &[&str], terminal: bool) -> Table {
    let mut t = Table::new();
    if terminal {
        t.load_style(UTF8_FULL_CONDENSED.with_rounded_corners());
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.load_style(ASCII_MARKDOWN);
    }
    t.set_header(header.iter().copied());
    t
}

/// probe's per-model table: requests, ok, 429s, other errors, p50/p95 latency,
/// p50 TTFT, output tokens/s.
pub fn probe_table(summary: &RunSummary, terminal: bool) -> Table {
    let mut t = new_table(
        &[
            "model", "reqs", "ok", "429", "errors", "p50 ms", "p95 ms", "TTFT p50", "tok/s",
            "pass@1", "code",
        ],
        terminal,
    );
    for m in &summary.models {
        let mut parts: Vec<String> = m.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
        parts.extend(m.gave_up.iter().map(|(k, v)| format!("{v} gave up ({k})")));
        let errors = if parts.is_empty() {
            "0".to_string()
        } else {
            parts.join(", ")
        };
        t.add_row(vec![
            m.model.clone(),
            m.attempts.to_string(),
            m.ok.to_string(),
            m.rate_limited.to_string(),
            errors,
            ms(percentile(&m.latency_ms, 50.0)),
            ms(percentile(&m.latency_ms, 95.0)),
            ms(percentile(&m.ttft_ms, 50.0)),
            num(percentile(&m.tokens_per_s, 50.0)),
            pct(m.pass_at_k(1)),
            pct(m.well_formed_rate()),
        ]);
    }
    for col in 1..11 {
        if col == 4 {
            continue;
        }
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}
