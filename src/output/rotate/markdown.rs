//! rotate-test's Markdown summary (`--markdown`, and GitHub's job summary).

use std::fmt::Write;

use super::report::RotateReport;
use super::table::{counts, pct};
use crate::output::table::{duration, ms};

/// Most failed prompts listed.
const MAX_FAILED_SHOWN: usize = 20;

/// Table cells must not break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The summary as GitHub-flavoured Markdown.
pub fn render(r: &RotateReport) -> String {
    let o = &r.overall;
    let mut s = String::new();
    let verdict = if r.passed { "passed" } else { "FAILED" };
    let _ = writeln!(s, "## rotor rotate-test: {verdict}\n");
    let _ = writeln!(
        s,
        "Policy `{}` on `{}`, suite `{}`, {} prompts in {:.1} s. Chain: {}.\n",
        r.info.policy,
        cell(&r.info.backend),
        cell(&r.info.suite),
        o.prompts,
        r.info.elapsed_s,
        r.info
            .chain
            .iter()
            .map(|c| format!("`{}`", cell(c)))
            .collect::<Vec<_>>()
            .join(" → ")
    );
    let _ = writeln!(s, "TCP {}.\n", r.info.connections.describe());
    if r.info.interrupted {
        s.push_str("**Interrupted**: the figures cover the prompts that finished.\n\n");
    }

    s.push_str("| threshold | limit | measured | result |\n|---|---:|---:|---|\n");
    for c in &r.thresholds {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            c.name,
            c.show(c.limit),
            c.value.map_or_else(|| "—".into(), |v| c.show(v)),
            if c.passed { "✅ held" } else { "❌ failed" }
        );
    }

    s.push_str("\n| overall | |\n|---|---:|\n");
    let rows: [(&str, String); 9] = [
        (
            "answered",
            format!("{} / {} ({})", o.succeeded, o.prompts, pct(o.success_rate)),
        ),
        (
            "time to answer p50 / p95 (waits included)",
            format!(
                "{} / {}",
                duration(o.latency_ms.p50),
                duration(o.latency_ms.p95)
            ),
        ),
        ("primary share", pct(o.primary_share)),
        ("fallback rate", pct(o.fallback_rate)),
        ("attempts", o.attempts.to_string()),
        (
            "429s received",
            format!("{} ({})", o.rate_limited, counts(&o.rate_limited_by_scope)),
        ),
        ("fallbacks", o.fallbacks.to_string()),
        ("waits", format!("{} ({} ms)", o.waits, o.wait_ms)),
        ("breaker opens", o.breaker_opens.to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let validated: u64 = o.validation.values().sum();
    if validated > 0 {
        let _ = writeln!(s, "| validated answers | {validated} |");
        let _ = writeln!(s, "| pass@1 | {} |", pct(o.pass_at_1));
        if let Some(k) = o.pass_at_k {
            let _ = writeln!(s, "| pass@{} | {} |", k.k, pct(Some(k.value)));
        }
        let _ = writeln!(s, "| answers with code | {} |", pct(o.well_formed_rate));
    }

    s.push_str(
        "\n| model | attempts | ok | 429s (scope) | errors | rotations in / out | waits (ms) | breaker opens | answered | p50 ms | pass@1 | code |\n\
         |---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in &r.models {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} ({}) | {} | {} / {} | {} ({}) | {} | {} | {} | {} | {} |",
            cell(&m.model),
            m.attempts,
            m.successes,
            m.rate_limited,
            counts(&m.rate_limited_by_scope),
            counts(&m.errors),
            m.rotations_in,
            m.rotations_out,
            m.waits,
            m.wait_ms,
            m.breaker_opens,
            m.answered,
            m.latency_ms.cell(m.latency_ms.p50, ms),
            pct(m.pass_at_1),
            pct(m.well_formed_rate),
        );
    }

    let failed: Vec<_> = r.prompts.iter().filter(|p| !p.ok).collect();
    if !failed.is_empty() {
        let _ = writeln!(
            s,
            "\n<details><summary>{} failed prompt{}</summary>\n",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" }
        );
        for p in failed.iter().take(MAX_FAILED_SHOWN) {
            let _ = writeln!(
                s,
                "- `{}`: {}",
                cell(&p.name(r.repeats())),
                cell(p.failure.as_deref().unwrap_or("no answer"))
            );
        }
        if failed.len() > MAX_FAILED_SHOWN {
            let _ = writeln!(s, "- … and {} more", failed.len() - MAX_FAILED_SHOWN);
        }
        s.push_str("\n</details>\n");
    }
    let _ = writeln!(
        s,
        "\nRun `{}`; every attempt and decision in `{}`.",
        r.info.run_id,
        cell(&r.info.results_file)
    );
    s
}
