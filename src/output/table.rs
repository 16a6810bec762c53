//! Human tables (comfy-table) on stdout.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::summary::{Quantiles, RunSummary};

/// Formats milliseconds for a table cell: `—` when unknown.
pub fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 10_000.0 => format!("{:.1}s", x / 1000.0),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "—".into(),
    }
}

/// Formats milliseconds with their unit, for prose: `906 ms`, `11.0 s`, `—`.
pub fn duration(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 10_000.0 => format!("{:.1} s", x / 1000.0),
        Some(_) => format!("{} ms", ms(v)),
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
/// p50 TTFT, output tokens/s, pass@1, pass@k (with `--repeat`: k is the
/// fewest answers any model has for a prompt) and the share with code.
pub fn probe_table(summary: &RunSummary, terminal: bool) -> Table {
    let k = summary.models.iter().filter_map(|m| m.pass_k()).min();
    let pass_k = k.map(|k| format!("pass@{k}"));
    let mut header = vec![
        "model", "reqs", "ok", "429", "errors", "p50 ms", "p95 ms", "TTFT p50", "tok/s", "pass@1",
    ];
    header.extend(pass_k.as_deref());
    header.push("code");
    let mut t = new_table(&header, terminal);
    for m in &summary.models {
        let mut parts: Vec<String> = m.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
        parts.extend(m.gave_up.iter().map(|(k, v)| format!("{v} gave up ({k})")));
        let errors = if parts.is_empty() {
            "0".to_string()
        } else {
            parts.join(", ")
        };
        let latency = Quantiles::of_sample(&m.latency_ms);
        let ttft = Quantiles::of_sample(&m.ttft_ms);
        let tokens = Quantiles::of_sample(&m.tokens_per_s);
        let mut row = vec![
            m.model.clone(),
            m.attempts.to_string(),
            m.ok.to_string(),
            m.rate_limited.to_string(),
            errors,
            latency.cell(latency.p50, ms),
            latency.cell(latency.p95, ms),
            ttft.cell(ttft.p50, ms),
            tokens.cell(tokens.p50, num),
            pct(m.pass_at_k(1)),
        ];
        row.extend(k.map(|k| pct(m.pass_at_k(k))));
        row.push(pct(m.well_formed_rate()));
        t.add_row(row);
    }
    for col in 1..header.len() {
        if col == 4 {
            continue;
        }
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(summary: &RunSummary) -> String {
        probe_table(summary, false).to_string()
    }

    #[test]
    fn durations_in_prose_carry_one_unit() {
        assert_eq!(duration(Some(906.4)), "906 ms");
        assert_eq!(duration(Some(42.25)), "42.2 ms");
        assert_eq!(duration(Some(11_040.0)), "11.0 s");
        assert_eq!(duration(None), "—");
    }

    #[test]
    fn pass_at_k_gets_a_column_only_with_repeats() {
        let mut summary = RunSummary::with_models([("m/a", "p"), ("m/b", "p")]);
        let set = |s: &mut RunSummary, i: usize, per: &[(u64, u64)]| {
            let m = &mut s.models[i];
            for (j, &(n, c)) in per.iter().enumerate() {
                m.per_prompt.insert(format!("q{j}"), (n, c));
                *m.verdicts.entry("passed".into()).or_default() += c;
                *m.verdicts.entry("tests_failed".into()).or_default() += n - c;
            }
        };
        set(&mut summary, 0, &[(1, 1), (1, 0)]);
        set(&mut summary, 1, &[(1, 0), (1, 0)]);
        let once = rendered(&summary);
        assert!(
            once.contains("pass@1") && !once.contains("pass@2"),
            "{once}"
        );

        // Three answers per prompt: one of three passes on each prompt of
        // m/a → pass@1 33%, pass@3 100%; m/b never passes.
        let mut summary = RunSummary::with_models([("m/a", "p"), ("m/b", "p")]);
        set(&mut summary, 0, &[(3, 1), (3, 1)]);
        set(&mut summary, 1, &[(3, 0), (4, 0)]);
        let text = rendered(&summary);
        let header = text.lines().next().unwrap();
        assert!(
            header.contains("pass@1") && header.contains("pass@3"),
            "{text}"
        );
        let row = |id: &str| {
            text.lines()
                .find(|l| l.contains(id))
                .unwrap()
                .split('|')
                .map(str::trim)
                .filter(|c| c.ends_with('%'))
                .collect::<Vec<_>>()
        };
        assert_eq!(row("m/a"), ["33%", "100%", "100%"], "{text}");
        assert_eq!(row("m/b"), ["0%", "0%", "100%"], "{text}");
    }
}
