//! Hand-written SVG charts for the HTML report: the tier map, the latency
//! distribution per model, and 429s over time. Plain SVG elements (no
//! script, no external fonts), every label escaped, every mark with a
//! `<title>` tooltip.

use std::fmt::Write as _;

use crate::rank::{ms, pct};
use crate::record::RateLimitScope;
use crate::report::Report;
use crate::report::aggregate::rfc3339;
use crate::stats::percentile_sorted;

/// Chart width in pixels (the page scales it down on narrow screens).
pub const WIDTH: f64 = 1200.0;

const TIER_COLOURS: [&str; 6] = [
    "#1b9e77", "#66a61e", "#e6ab02", "#d95f02", "#7570b3", "#e7298a",
];
const OUT_COLOUR: &str = "#9e9e9e";
const SCOPE_COLOURS: [(RateLimitScope, &str); 5] = [
    (RateLimitScope::AccountMinute, "#4e79a7"),
    (RateLimitScope::AccountDay, "#e15759"),
    (RateLimitScope::Upstream, "#f28e2b"),
    (RateLimitScope::Model, "#76b7b2"),
    (RateLimitScope::Unknown, "#bab0ac"),
];

/// Escapes text for SVG/HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let keep: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{keep}…")
    }
}

fn svg_open(out: &mut String, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">"#,
        esc(label)
    );
}

/// The tier map: one column per tier (fastest first) with the chain's models
/// in order, and one column for registry models out of the chain.
pub fn tier_map(report: &Report) -> String {
    let tiers = &report.ranking.tiers;
    let out_of_chain: Vec<&str> = report
        .ranking
        .placements
        .iter()
        .filter(|p| p.position_after.is_none())
        .map(|p| p.id.as_str())
        .collect();
    let ncols = tiers.len() + 1;
    let gap = 12.0;
    let col_w = (WIDTH - gap * (ncols as f64 + 1.0)) / ncols as f64;
    let box_h = 44.0;
    let rows = tiers
        .iter()
        .map(|t| t.models.len())
        .chain([out_of_chain.len()])
        .max()
        .unwrap_or(0)
        .max(1);
    let height = 56.0 + rows as f64 * (box_h + 8.0) + 12.0;
    let max_chars = ((col_w - 16.0) / 6.4) as usize;
    let mut out = String::new();
    svg_open(
        &mut out,
        height,
        "Tier map: the chain's models by tier, in order",
    );
    let columns = tiers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                format!("{} · {}", t.name, t.label),
                format!("p50 < {}", ms(t.max_p50_ms as f64)),
                t.models.iter().map(String::as_str).collect::<Vec<_>>(),
                TIER_COLOURS[i % TIER_COLOURS.len()],
            )
        })
        .chain([(
            "out of the chain".to_string(),
            "failed the gate, candidates, retired".to_string(),
            out_of_chain,
            OUT_COLOUR,
        )]);
    for (c, (title, sub, models, colour)) in columns.enumerate() {
        let x = gap + c as f64 * (col_w + gap);
        let _ = write!(
            out,
            r##"<rect x="{x}" y="4" width="{col_w}" height="{h}" rx="8" fill="{colour}" fill-opacity="0.08" stroke="{colour}" stroke-opacity="0.5"/><text x="{tx}" y="24" font-weight="600" font-size="14" fill="{colour}">{}</text><text x="{tx}" y="40" fill="#555">{}</text>"##,
            esc(&clip(&title, max_chars)),
            esc(&clip(&sub, max_chars)),
            h = height - 8.0,
            tx = x + 8.0,
        );
        if models.is_empty() {
            let _ = write!(
                out,
                r##"<text x="{}" y="72" fill="#888" font-style="italic">no model</text>"##,
                x + 8.0
            );
        }
        for (r, id) in models.iter().enumerate() {
            let y = 52.0 + r as f64 * (box_h + 8.0);
            let p = report.ranking.placement(id);
            let s = report.summary.model(id);
            let pos = p
                .and_then(|p| p.position_after)
                .map(|n| format!("#{n} "))
                .unwrap_or_default();
            let figures = match s {
                Some(s) => format!(
                    "p50 {} · success {} · n {}",
                    s.latency_ms.p50.map(ms).unwrap_or_else(|| "—".into()),
                    s.success.map(|x| pct(x.rate)).unwrap_or_else(|| "—".into()),
                    s.samples
                ),
                None => "no data".into(),
            };
            let status = p
                .map(|p| format!(" · {}", p.status_after))
                .unwrap_or_default();
            let mark = p.map(|p| match (p.position_before, p.position_after) {
                (Some(a), Some(b)) if b < a => format!(" ↑{}", a - b),
                (Some(a), Some(b)) if b > a => format!(" ↓{}", b - a),
                (None, Some(_)) => " new".into(),
                _ => String::new(),
            });
            let stale = p.is_some_and(|p| {
                matches!(
                    p.verdict,
                    crate::rank::Verdict::Stale | crate::rank::Verdict::NoData
                )
            });
            let tooltip = format!(
                "{id}{status}\n{figures}{}",
                p.map(|p| format!("\n{}: {}", p.verdict.as_str(), p.reason))
                    .unwrap_or_default()
            );
            let _ = write!(
                out,
                r##"<g><title>{}</title><rect x="{bx}" y="{y}" width="{bw}" height="{box_h}" rx="5" fill="#fff" stroke="{colour}"{dash}/><text x="{tx}" y="{ty1}" font-weight="600">{}</text><text x="{tx}" y="{ty2}" fill="#555" font-size="11">{}</text></g>"##,
                esc(&tooltip),
                esc(&clip(
                    &format!("{pos}{id}{}", mark.unwrap_or_default()),
                    max_chars
                )),
                esc(&clip(&format!("{figures}{status}"), max_chars + 4)),
                bx = x + 6.0,
                bw = col_w - 12.0,
                tx = x + 12.0,
                ty1 = y + 18.0,
                ty2 = y + 35.0,
                dash = if stale {
                    r#" stroke-dasharray="4 3""#
                } else {
                    ""
                },
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Log-scale axis from `lo` to `hi` (both > 0) onto `x0..x1`.
struct LogAxis {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LogAxis {
    fn x(&self, v: f64) -> f64 {
        let v = v.clamp(self.lo, self.hi);
        self.x0 + (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln()) * (self.x1 - self.x0)
    }

    /// 1-2-5 ticks inside the range.
    fn ticks(&self) -> Vec<f64> {
        let mut t = Vec::new();
        let mut decade = 10f64.powf(self.lo.log10().floor());
        while decade <= self.hi {
            for m in [1.0, 2.0, 5.0] {
                let v = decade * m;
                if v >= self.lo && v <= self.hi {
                    t.push(v);
                }
            }
            decade *= 10.0;
        }
        t
    }
}

/// Latency distribution per model (successful attempts): whiskers p5–p95,
/// box p25–p75, a bar at the median, a dot at p99; tier bounds as dashed lines.
pub fn latency_chart(report: &Report) -> String {
    let rows: Vec<(&str, &[f64])> = report
        .rows()
        .into_iter()
        .filter_map(|r| {
            r.stats
                .filter(|s| !s.latency_sorted.is_empty())
                .map(|s| (r.id, s.latency_sorted.as_slice()))
        })
        .collect();
    let row_h = 26.0;
    let top = 16.0;
    let label_w = 330.0;
    let height = top + rows.len().max(1) as f64 * row_h + 60.0;
    let mut out = String::new();
    svg_open(&mut out, height, "Latency distribution per model");
    if rows.is_empty() {
        out.push_str(
            r##"<text x="16" y="40" fill="#888">no successful attempt to plot</text></svg>"##,
        );
        return out;
    }
    let lo = rows
        .iter()
        .map(|(_, v)| v[0])
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let hi = rows
        .iter()
        .map(|(_, v)| v[v.len() - 1])
        .fold(0.0, f64::max)
        .max(lo * 2.0);
    let axis = LogAxis {
        lo: lo / 1.2,
        hi: hi * 1.2,
        x0: label_w,
        x1: WIDTH - 24.0,
    };
    let bottom = top + rows.len() as f64 * row_h;
    for t in axis.ticks() {
        let x = axis.x(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#eee"/><text x="{x:.1}" y="{ty}" text-anchor="middle" fill="#555" font-size="11">{}</text>"##,
            esc(&ms(t)),
            ty = bottom + 16.0
        );
    }
    for tier in &report.tiers {
        let b = tier.max_p50_ms as f64;
        if b > axis.lo && b < axis.hi {
            let x = axis.x(b);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#d95f02" stroke-dasharray="5 4"/><text x="{x:.1}" y="{ty}" text-anchor="middle" fill="#d95f02" font-size="11">{} bound</text>"##,
                esc(&tier.name),
                ty = bottom + 32.0
            );
        }
    }
    for (i, (id, v)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h + row_h / 2.0;
        let q = |p| percentile_sorted(v, p);
        let (p5, p25, p50, p75, p95, p99) = (q(5.0), q(25.0), q(50.0), q(75.0), q(95.0), q(99.0));
        let tip = format!(
            "{id}: n {} · p5 {} · p25 {} · p50 {} · p75 {} · p95 {} · p99 {}",
            v.len(),
            ms(p5),
            ms(p25),
            ms(p50),
            ms(p75),
            ms(p95),
            ms(p99)
        );
        let _ = write!(
            out,
            r##"<g><title>{}</title><text x="{lx}" y="{ly:.1}" text-anchor="end">{}</text><line x1="{a:.1}" y1="{y:.1}" x2="{b:.1}" y2="{y:.1}" stroke="#555"/><rect x="{c:.1}" y="{by:.1}" width="{bw:.1}" height="12" fill="#4e79a7" fill-opacity="0.55" stroke="#2b4c6f"/><line x1="{m:.1}" y1="{my1:.1}" x2="{m:.1}" y2="{my2:.1}" stroke="#111" stroke-width="2.5"/><circle cx="{d:.1}" cy="{y:.1}" r="3" fill="#e15759"/></g>"##,
            esc(&tip),
            esc(&clip(id, 50)),
            lx = label_w - 10.0,
            ly = y + 4.0,
            a = axis.x(p5),
            b = axis.x(p95),
            c = axis.x(p25),
            bw = (axis.x(p75) - axis.x(p25)).max(1.0),
            by = y - 6.0,
            m = axis.x(p50),
            my1 = y - 9.0,
            my2 = y + 9.0,
            d = axis.x(p99),
        );
    }
    let _ = write!(
        out,
        r##"<text x="16" y="{ty}" fill="#555" font-size="11">whiskers p5–p95 · box p25–p75 · bar p50 · dot p99 · log scale</text></svg>"##,
        ty = bottom + 50.0
    );
    out
}

/// 429s over time: stacked bars per time bucket, coloured by scope.
pub fn rate_limit_chart(report: &Report) -> String {
    let marks = &report.summary.rate_limits;
    let height = 260.0;
    let mut out = String::new();
    svg_open(&mut out, height, "429 responses over time, by scope");
    let (Some(first), Some(last)) = (marks.first(), marks.last()) else {
        out.push_str(r##"<text x="16" y="40" fill="#888">no 429 in the files read</text></svg>"##);
        return out;
    };
    let start = report
        .summary
        .oldest_ms
        .unwrap_or(first.ts_ms)
        .min(first.ts_ms);
    let end = report
        .summary
        .newest_ms
        .unwrap_or(last.ts_ms)
        .max(last.ts_ms);
    let buckets = 48usize;
    let span = (end - start).max(1) as f64;
    let mut counts = vec![[0u64; 5]; buckets];
    for m in marks {
        let b = (((m.ts_ms - start) as f64 / span) * buckets as f64) as usize;
        let s = SCOPE_COLOURS
            .iter()
            .position(|(sc, _)| *sc == m.scope)
            .unwrap_or(4);
        counts[b.min(buckets - 1)][s] += 1;
    }
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let (x0, x1, y0, y1) = (60.0, WIDTH - 20.0, 30.0, height - 50.0);
    let bw = (x1 - x0) / buckets as f64;
    for k in 0..=4u64 {
        let v = (max as f64 * k as f64 / 4.0).round();
        let y = y1 - (y1 - y0) * v / max as f64;
        let _ = write!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/><text x="{tx}" y="{ty:.1}" text-anchor="end" fill="#555" font-size="11">{v}</text>"##,
            tx = x0 - 6.0,
            ty = y + 4.0
        );
    }
    for (i, c) in counts.iter().enumerate() {
        let mut acc = 0u64;
        let from = start as f64 + span * i as f64 / buckets as f64;
        for (s, n) in c.iter().enumerate().filter(|(_, n)| **n > 0) {
            let ya = y1 - (y1 - y0) * (acc + n) as f64 / max as f64;
            let h = (y1 - y0) * *n as f64 / max as f64;
            acc += n;
            let (scope, colour) = SCOPE_COLOURS[s];
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{ya:.1}" width="{w:.1}" height="{h:.1}" fill="{colour}"><title>{n} × {} from {}</title></rect>"#,
                scope.as_str(),
                esc(&rfc3339(from as i64)),
                x = x0 + i as f64 * bw + 1.0,
                w = (bw - 2.0).max(1.0),
            );
        }
    }
    let _ = write!(
        out,
        r##"<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="#555"/><text x="{x0}" y="{ty}" fill="#555" font-size="11">{}</text><text x="{x1}" y="{ty}" text-anchor="end" fill="#555" font-size="11">{}</text>"##,
        esc(&rfc3339(start)),
        esc(&rfc3339(end)),
        ty = y1 + 16.0
    );
    let mut lx = x0;
    for (scope, colour) in SCOPE_COLOURS {
        let _ = write!(
            out,
            r##"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{colour}"/><text x="{tx}" y="{ty}" font-size="11">{}</text>"##,
            scope.as_str(),
            ly = y1 + 26.0,
            tx = lx + 16.0,
            ty = y1 + 36.0
        );
        lx += 130.0;
    }
    let _ = write!(
        out,
        r##"<text x="{x0}" y="18" fill="#555" font-size="11">429s per {} (max {max})</text></svg>"##,
        esc(&ms(span / buckets as f64))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_clipped() {
        assert_eq!(esc("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }

    #[test]
    fn log_ticks_are_1_2_5() {
        let a = LogAxis {
            lo: 80.0,
            hi: 2500.0,
            x0: 0.0,
            x1: 100.0,
        };
        assert_eq!(a.ticks(), vec![100.0, 200.0, 500.0, 1000.0, 2000.0]);
        assert!((a.x(80.0) - 0.0).abs() < 1e-9 && (a.x(2500.0) - 100.0).abs() < 1e-9);
    }
}
