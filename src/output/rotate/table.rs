//! rotate-test's human summary on stdout: the per-model table, the overall
//! figures, the threshold verdicts and the failed prompts.

use std::collections::BTreeMap;
use std::fmt::Write;

use comfy_table::CellAlignment;

use super::report::{Overall, RotateReport};
use crate::output::table::{duration, ms, new_table};

/// Most failed prompts listed (the JUnit file has them all).
const MAX_FAILED_SHOWN: usize = 10;

/// `upstream 3, account_minute 1`, or `-` when empty.
pub fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `96.4%`, or `—`.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{:.1}%", x * 100.0))
}

/// `pass@1 93.3%, pass@3 100.0%, code 100.0% of 15 validated answers`, or
/// `None` when nothing was validated.
pub fn scores_line(o: &Overall) -> Option<String> {
    let n: u64 = o.validation.values().sum();
    if n == 0 {
        return None;
    }
    let mut s = format!("pass@1 {}", pct(o.pass_at_1));
    if let Some(k) = o.pass_at_k {
        let _ = write!(s, ", pass@{} {}", k.k, pct(Some(k.value)));
    }
    let _ = write!(
        s,
        ", code {} of {n} validated answer{}",
        pct(o.well_formed_rate),
        if n == 1 { "" } else { "s" }
    );
    Some(s)
}

/// The whole summary as text.
pub fn render(r: &RotateReport, terminal: bool) -> String {
    let mut t = new_table(
        &[
            "model",
            "attempts",
            "ok",
            "429s",
            "429 scopes",
            "errors",
            "in",
            "out",
            "waits",
            "wait ms",
            "breaker",
            "answered",
            "p50 ms",
            "pass@1",
            "code",
        ],
        terminal,
    );
    for m in &r.models {
        t.add_row(vec![
            m.model.clone(),
            m.attempts.to_string(),
            m.successes.to_string(),
            m.rate_limited.to_string(),
            counts(&m.rate_limited_by_scope),
            counts(&m.errors),
            m.rotations_in.to_string(),
            m.rotations_out.to_string(),
            m.waits.to_string(),
            m.wait_ms.to_string(),
            format!("{} opens", m.breaker_opens),
            m.answered.to_string(),
            m.latency_ms.cell(m.latency_ms.p50, ms),
            pct(m.pass_at_1),
            pct(m.well_formed_rate),
        ]);
    }
    for col in [1, 2, 3, 6, 7, 8, 9, 11, 12, 13, 14] {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let o = &r.overall;
    let mut s = format!("{t}\n\n");
    let _ = writeln!(
        s,
        "{} prompts, {} answered ({}); time to answer p50 {}, p95 {} (waits included)",
        o.prompts,
        o.succeeded,
        pct(o.success_rate),
        duration(o.latency_ms.p50),
        duration(o.latency_ms.p95),
    );
    let _ = writeln!(
        s,
        "primary share {}, fallback rate {}; {} attempts, {} 429s ({}), {} fallbacks, {} waits ({} ms), {} breaker opens",
        pct(o.primary_share),
        pct(o.fallback_rate),
        o.attempts,
        o.rate_limited,
        counts(&o.rate_limited_by_scope),
        o.fallbacks,
        o.waits,
        o.wait_ms,
        o.breaker_opens,
    );
    if let Some(line) = scores_line(o) {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(
        s,
        "policy {}; chain {}; {}",
        r.info.policy,
        r.info.chain.join(" → "),
        r.info.connections.describe()
    );
    s.push('\n');
    for c in &r.thresholds {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(s, "{mark} {}", c.describe());
    }
    let failed: Vec<_> = r.prompts.iter().filter(|p| !p.ok).collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "\nfailed prompts ({}):", failed.len());
        for p in failed.iter().take(MAX_FAILED_SHOWN) {
            let _ = writeln!(
                s,
                "  {}: {}",
                p.name(r.repeats()),
                p.failure.as_deref().unwrap_or("no answer")
            );
        }
        if failed.len() > MAX_FAILED_SHOWN {
            let _ = writeln!(s, "  … and {} more", failed.len() - MAX_FAILED_SHOWN);
        }
    }
    s
}
