//! `rotor report --markdown`: the ordering tier by tier, the models out of
//! the chain, the chain metrics and the changes, as GitHub-flavoured Markdown
//! (for a CI job summary or a pull request).

use std::fmt::Write as _;

use super::export::{ExportError, Exporter};
use super::text::{HEADER, cells, chain_line, change_text, inputs_line};
use crate::report::{Report, Row};

/// The `--markdown` exporter.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkdownExporter;

/// A table cell: pipes escaped, newlines flattened.
pub fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn table(out: &mut String, rows: &[Row<'_>]) {
    // The tier column is the section's name: leave it out.
    let header: Vec<&str> = HEADER
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, h)| *h)
        .collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let align: Vec<&str> = header
        .iter()
        .map(|h| match *h {
            "model" | "status" | "success (95% CI)" | "move" => "---",
            _ => "---:",
        })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for r in rows {
        let c: Vec<String> = cells(r)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(i, v)| {
                if i == 2 {
                    format!("`{}`", escape(&v))
                } else {
                    escape(&v)
                }
            })
            .collect();
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
}

impl Exporter for MarkdownExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut out = String::from("# rotor report\n\n");
        let _ = writeln!(out, "{}\n", escape(&inputs_line(report)));
        if let Some(c) = chain_line(&report.summary.chain) {
            let _ = writeln!(out, "**Chain:** {}\n", escape(&c));
        }
        let rows = report.rows();
        for tier in &report.ranking.tiers {
            let _ = writeln!(
                out,
                "## {} — {} (p50 < {} ms)\n",
                tier.name, tier.label, tier.max_p50_ms
            );
            let in_tier: Vec<Row<'_>> = tier
                .models
                .iter()
                .filter_map(|id| rows.iter().find(|r| r.id == id).copied())
                .collect();
            if in_tier.is_empty() {
                out.push_str("_no model_\n\n");
            } else {
                table(&mut out, &in_tier);
                out.push('\n');
            }
        }
        let out_of_chain: Vec<Row<'_>> = rows
            .iter()
            .filter(|r| r.placement.is_some_and(|p| p.position_after.is_none()))
            .copied()
            .collect();
        if !out_of_chain.is_empty() {
            out.push_str("## Out of the chain\n\n");
            table(&mut out, &out_of_chain);
            out.push('\n');
        }
        let unlisted: Vec<Row<'_>> = rows
            .iter()
            .filter(|r| r.placement.is_none())
            .copied()
            .collect();
        if !unlisted.is_empty() {
            out.push_str("## Measured but not in the registry\n\n");
            table(&mut out, &unlisted);
            out.push('\n');
        }
        out.push_str("## Changes\n\n");
        if report.ranking.changes.is_empty() {
            out.push_str("No changes to the registry's ordering.\n");
        }
        for c in &report.ranking.changes {
            let _ = writeln!(
                out,
                "- `{}`: {} — {}",
                escape(&c.model),
                change_text(c.kind, c.from.as_deref(), c.to.as_deref()),
                escape(&c.reason)
            );
        }
        let flagged: Vec<_> = report
            .ranking
            .placements
            .iter()
            .filter(|p| !p.flags.is_empty())
            .collect();
        if !flagged.is_empty() {
            out.push_str("\n## Flags\n\n");
            for p in flagged {
                for f in &p.flags {
                    let _ = writeln!(out, "- `{}`: {}", escape(&p.id), escape(f));
                }
            }
        }
        Ok(out.into_bytes())
    }
}
