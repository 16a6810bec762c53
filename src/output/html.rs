//! `rotor report --html PATH`: one self-contained HTML file (inline CSS and
//! SVG, no script, nothing fetched) with the tier map, the latency
//! distribution per model, 429s over time, the table and the changes.

use std::fmt::Write as _;

use super::charts::{esc, latency_chart, rate_limit_chart, tier_map};
use super::export::{ExportError, Exporter};
use super::text::{HEADER, cells, chain_line, change_text, inputs_line};
use crate::report::Report;

/// The `--html` exporter.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlExporter;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1240px;color:#222;padding:0 12px}
h1{margin:0 0 4px}h2{margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:4px 0}
svg{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 6px;text-align:left;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.model{white-space:normal;word-break:break-all;font-family:ui-monospace,monospace;font-size:12px}
tr.out td{color:#777}
ul{padding-left:20px}li{margin:3px 0}
code{font-family:ui-monospace,monospace;font-size:12px}
.rules{color:#444;font-size:13px}
";

const RULES: &str = "<p class=\"rules\">A model passes the reliability gate when the lower bound of the \
95% Wilson interval of its (decayed) success rate reaches the threshold with enough samples; one whose \
upper bound is below it leaves the chain (incompatible or unavailable); fewer samples keep it in place, \
flagged stale. Passing models are tiered by p50 latency (leaving a tier only when the median's 95% \
interval is past the bound) and ordered within a tier by expected time to a good answer, \
p50 / (success × validation pass rate). A model moves ahead of another only when it is significantly better: \
its score interval is below the other's, or its median latency interval is below the other's and it is not \
less reliable (non-overlapping intervals). A model whose answers carry no code (with enough validated answers, the upper bound of the 95% interval of its share of answers with extractable code is below --min-well-formed) leaves the chain as a candidate. pass@1 and pass@k are averaged over prompts and not decayed. Records weigh 0.5^(age / half-life), age from the newest record.</p>";

impl Exporter for HtmlExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut out = String::with_capacity(64 * 1024);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>rotor report</title><style>{STYLE}</style></head><body>\n\
             <h1>rotor report</h1>\n<p class=\"meta\">{}</p>\n<p class=\"meta\">registry: <code>{}</code></p>\n",
            esc(&inputs_line(report)),
            esc(&report.registry_source)
        );
        if let Some(c) = chain_line(&report.summary.chain) {
            let _ = writeln!(out, "<p class=\"meta\"><b>Chain:</b> {}</p>", esc(&c));
        }
        let _ = writeln!(out, "<h2>Tier map</h2>\n{}", tier_map(report));
        let _ = writeln!(
            out,
            "<h2>Latency distribution (successful attempts)</h2>\n{}",
            latency_chart(report)
        );
        let _ = writeln!(out, "<h2>429s over time</h2>\n{}", rate_limit_chart(report));
        out.push_str("<h2>Models</h2>\n<table><thead><tr>");
        for (i, h) in HEADER.iter().enumerate() {
            let class = if is_num(i) { " class=\"num\"" } else { "" };
            let _ = write!(out, "<th{class}>{}</th>", esc(h));
        }
        out.push_str("</tr></thead><tbody>\n");
        for r in report.rows() {
            let out_of_chain = r.placement.is_none_or(|p| p.position_after.is_none());
            let _ = write!(
                out,
                "<tr{}>",
                if out_of_chain { " class=\"out\"" } else { "" }
            );
            for (i, c) in cells(&r).iter().enumerate() {
                let class = if i == 2 {
                    " class=\"model\""
                } else if is_timing(i) {
                    " class=\"num t\""
                } else if is_num(i) {
                    " class=\"num\""
                } else {
                    ""
                };
                let _ = write!(out, "<td{class}>{}</td>", esc(c));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n<h2>Changes</h2>\n");
        if report.ranking.changes.is_empty() {
            out.push_str("<p>No changes to the registry's ordering.</p>\n");
        } else {
            out.push_str("<ul>\n");
            for c in &report.ranking.changes {
                let _ = writeln!(
                    out,
                    "<li><code>{}</code>: {} — {}</li>",
                    esc(&c.model),
                    esc(&change_text(c.kind, c.from.as_deref(), c.to.as_deref())),
                    esc(&c.reason)
                );
            }
            out.push_str("</ul>\n");
        }
        let flagged: Vec<_> = report
            .ranking
            .placements
            .iter()
            .filter(|p| !p.flags.is_empty())
            .collect();
        if !flagged.is_empty() {
            out.push_str("<h2>Flags</h2>\n<ul>\n");
            for p in flagged {
                for f in &p.flags {
                    let _ = writeln!(out, "<li><code>{}</code>: {}</li>", esc(&p.id), esc(f));
                }
            }
            out.push_str("</ul>\n");
        }
        let _ = writeln!(
            out,
            "<h2>How the ranking works</h2>\n{RULES}\n</body></html>"
        );
        Ok(out.into_bytes())
    }
}

/// Columns holding timings (p50, p95, TTFT, tokens/s).
fn is_timing(col: usize) -> bool {
    matches!(col, 7..=10)
}

fn is_num(col: usize) -> bool {
    matches!(col, 0 | 4 | 6 | 7 | 8 | 9 | 10 | 11 | 12)
}
