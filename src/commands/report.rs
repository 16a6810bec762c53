//! `rotor report`: read results, rank, print, and optionally rewrite the registry.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;

use super::Global;
use crate::cli::ReportArgs;
use crate::exit::{Failure, ResultExt};
use crate::output::export::{Exporter, write_file_atomic};
use crate::output::{csv::CsvExporter, diff, html::HtmlExporter, json::JsonExporter};
use crate::output::{markdown::MarkdownExporter, text::TableExporter};
use crate::rank::Verdict;
use crate::registry::write::{ModelEdit, RegistryEdit, StatsUpdate, apply, write_atomic};
use crate::registry::{DEFAULT_REGISTRY_PATH, Registry};
use crate::report::{
    PriceList, Report, Settings, Simulated, parse_duration, parse_since, resolve_inputs,
};

/// Runs `rotor report`.
pub async fn run(args: ReportArgs, global: &Global) -> anyhow::Result<i32> {
    for (flag, v) in [
        ("--min-success", args.min_success),
        ("--min-well-formed", args.min_well_formed),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(Failure::input(anyhow::anyhow!(
                "{flag} {v} is outside 0..1\n  hint: a fraction: 80% is 0.8"
            )));
        }
    }
    let half_life_s = parse_duration(&args.half_life).input_err()?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, chrono::Utc::now()))
        .transpose()
        .input_err()?;
    let rewrite = args.write || args.dry_run;
    let (registry, text) = load_registry(&global.registry, rewrite)?;
    let files = resolve_inputs(&args.files).input_err()?;
    let prices = match &args.pricing {
        Some(p) => {
            let t = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))
                .input_err()?;
            PriceList::from_json(&t)
                .with_context(|| format!("{}: not a model list with prices", p.display()))
                .input_err()?
        }
        None => PriceList::default(),
    };
    let settings = Settings {
        half_life_days: half_life_s / 86_400.0,
        min_samples: args.min_samples,
        min_success: args.min_success,
        min_well_formed: args.min_well_formed,
        since: since.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    };
    let since_ms = since.map(|t| t.timestamp_millis());
    let simulated = if args.simulated {
        Simulated::Include
    } else {
        Simulated::Skip
    };
    let report = tokio::task::block_in_place(|| {
        Report::build(&files, since_ms, simulated, settings, &registry, &prices)
    })
    .input_err()?;
    if report.read.attempts == 0 && !global.quiet {
        crate::say!("warning: no attempt records in the files read: nothing to rank on");
    }
    let read = &report.read;
    let scenarios = read.simulated_scenarios.join(", ");
    if read.simulated > 0 && args.write && !args.simulated {
        return Err(Failure::input(anyhow::anyhow!(
            "refusing to write simulated figures into {}: {} of the attempts read were answered by the embedded simulator (scenario {scenarios}), whose timings are time-scaled\n  hint: measure the real models (set OPENROUTER_API_KEY, or --base-url) and report on those results; --dry-run shows the diff; --simulated writes them anyway",
            global.registry.display(),
            read.simulated
        )));
    }
    if !global.quiet {
        if read.simulated > 0 {
            crate::say!(
                "note: {} of the {} attempts read were answered by the embedded simulator (scenario {scenarios}): their latencies are time-scaled, not the real models' figures",
                read.simulated,
                read.attempts
            );
        }
        if read.simulated_left_out > 0 {
            crate::say!(
                "note: left out {} attempts answered by the embedded simulator (scenario {scenarios}) next to real ones; --simulated uses them too",
                read.simulated_left_out
            );
        }
        if read.duplicates > 0 {
            crate::say!(
                "note: left out {} records of {}: their runs were read from another file first (a --csv twin or a copy counts once)",
                read.duplicates,
                read.duplicate_files.join(", ")
            );
        }
    }
    if let Some(path) = &args.html {
        let bytes = HtmlExporter.export(&report)?;
        write_file_atomic(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))
            .env_err()?;
        if !global.quiet {
            crate::say!("wrote {}", path.display());
        }
    }
    let machine = args.json || args.csv || args.markdown;
    let mut stdout = std::io::stdout().lock();
    if !args.dry_run {
        let bytes = if args.json {
            JsonExporter.export(&report)?
        } else if args.csv {
            CsvExporter.export(&report)?
        } else if args.markdown {
            MarkdownExporter.export(&report)?
        } else {
            TableExporter {
                terminal: std::io::stdout().is_terminal(),
            }
            .export(&report)?
        };
        stdout.write_all(&bytes)?;
    }
    if let (true, Some(text)) = (rewrite, text) {
        let path = &global.registry;
        let edit = registry_edit(&report, &registry);
        let new = apply(&text, path, &edit).input_err()?;
        let d = diff::unified(&text, &new, &path.display().to_string());
        if args.dry_run || !machine {
            if !args.dry_run {
                stdout.write_all(b"\n")?;
            }
            stdout.write_all(d.as_bytes())?;
        } else {
            crate::say_raw!("{d}");
        }
        if d.is_empty() && !global.quiet {
            crate::say!("{}: already up to date", path.display());
        } else if args.write && !args.dry_run {
            write_atomic(path, &text, &new).env_err()?;
            if !global.quiet {
                crate::say!("rewrote {}", path.display());
            }
        }
    }
    stdout.flush()?;
    Ok(crate::exit::OK)
}

/// The registry, and its text when it must be rewritten.
fn load_registry(path: &Path, rewrite: bool) -> anyhow::Result<(Registry, Option<String>)> {
    if path == Path::new(DEFAULT_REGISTRY_PATH) && !path.exists() {
        if rewrite {
            return Err(Failure::input(anyhow::anyhow!(
                "no registry.yaml here to rewrite\n  hint: pass --registry PATH, or start one from rotor's: the repository's registry.yaml"
            )));
        }
        tracing::info!("no registry.yaml here: using the registry built into rotor");
        return Ok((Registry::embedded().input_err()?, None));
    }
    let text = crate::diag::read_text(path).input_err()?;
    let registry = Registry::from_str(&text, path).input_err()?;
    Ok((registry, rewrite.then_some(text)))
}

/// What `--write` changes: statuses, tiers, stats, the chain and the list order.
pub fn registry_edit(report: &Report, registry: &Registry) -> RegistryEdit {
    let date = report.measured_date();
    let mut models = BTreeMap::new();
    for p in &report.ranking.placements {
        let stats = report.summary.model(&p.id);
        let measured = matches!(
            p.verdict,
            Verdict::Pass | Verdict::Fail | Verdict::Uncertain
        );
        let stats_update = stats.filter(|_| measured).map(|m| StatsUpdate {
            p50_ms: m.latency_ms.p50.map(|x| (x.round() as u64).max(1)),
            success_rate: m.success.map(|s| s.rate),
            samples: Some(m.counted).filter(|n| *n > 0),
            measured: chrono::DateTime::from_timestamp_millis(m.last_ms).map(|t| t.date_naive()),
            source: format!(
                "rotor report {} over {} samples",
                date.map(|d| d.to_string()).unwrap_or_default(),
                m.counted
            ),
        });
        let edit = ModelEdit {
            status: (p.status_after != p.status_before).then_some(p.status_after),
            tier: p
                .tier_after
                .clone()
                .filter(|t| p.tier_before.as_ref() != Some(t)),
            stats: stats_update,
        };
        if edit != ModelEdit::default() {
            models.insert(p.id.clone(), edit);
        }
    }
    RegistryEdit {
        models,
        chain: Some(report.ranking.chain.clone()),
        file_order: Some(crate::rank::file_order(registry, &report.ranking.chain)),
        add: Vec::new(),
    }
}
