//! `rotor rotate-test`: the suite through the rotation engine with the
//! registry's chain and policy (or `--chain`, `--policy`), every attempt and
//! decision recorded, one `request` record per prompt; then the summary, the
//! threshold checks (exit code 1 naming the failed ones), JUnit XML and
//! Markdown. Without an API key it runs against the simulator, whose own
//! counts are reported beside rotor's.

mod earlier;
mod options;
mod truth;

use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use futures_util::StreamExt;
use tokio_util::task::TaskTracker;

pub use options::{RotateOptions, SIM_JITTER, scale_for_sim, scale_priors, sim_windows};
pub use truth::lower_bound_s;

use super::observer::{RecordingObserver, Validation};
use super::resume;
use super::run::{self, RunContext};
use super::{Global, backend, endpoints};
use crate::cli::RotateTestArgs;
use crate::engine::{Engine, PromptRequest};
use crate::exit::{self, Failure, ResultExt};
use crate::output::progress;
use crate::output::rotate::{PromptOutcome, RotateReport, RunInfo, files, junit, markdown, table};
use crate::output::summary::RunSummary;
use crate::wire::Message;

/// The environment variable GitHub Actions sets to the job summary file.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

pub async fn run(global: &Global, args: RotateTestArgs) -> anyhow::Result<i32> {
    let (junit_path, markdown_path) = (args.junit.clone(), args.markdown.clone());
    let result = run_checked(global, args).await;
    if let Err(e) = &result
        && exit::code_of(e) == exit::ENVIRONMENT
    {
        write_environment_failure(
            junit_path.as_deref(),
            markdown_path.as_deref(),
            &crate::error_text(e),
        );
    }
    result
}

/// `--junit` and `--markdown` (and GitHub's job summary) of a run that could
/// not be made: CI's report steps show why instead of failing on a missing
/// file. Best effort: the error itself is what the exit code reports.
fn write_environment_failure(
    junit_path: Option<&std::path::Path>,
    markdown_path: Option<&std::path::Path>,
    why: &str,
) {
    if let Some(path) = junit_path
        && let Ok(xml) = junit::render_environment_failure(why)
    {
        let _ = files::write_atomic(path, xml.as_bytes());
    }
    if let Some(path) = markdown_path {
        let md = format!(
            "## rotor rotate-test: ERROR\n\nThe run could not be made (exit code 3):\n\n```\n{why}\n```\n"
        );
        let _ = files::write_atomic(path, md.as_bytes());
        if let Some(step) = std::env::var_os(GITHUB_STEP_SUMMARY).filter(|v| !v.is_empty()) {
            let _ = files::append(std::path::Path::new(&step), &format!("{md}\n"));
        }
    }
}

async fn run_checked(global: &Global, args: RotateTestArgs) -> anyhow::Result<i32> {
    let run_args = &args.run;
    run::check_common_flags(run_args)?;
    let opts = RotateOptions::from_args(&args)?;
    let registry = backend::load_registry(&global.registry)?;
    let suite = run::select_prompts(backend::load_suite(run_args.suite.as_deref())?, run_args)?;
    let chain_ids = if args.chain.is_empty() {
        backend::default_models(run_args, opts.chain(&registry)?)?
    } else {
        opts.chain(&registry)?
    };
    let thresholds = opts.thresholds(&registry);

    let mut plan = backend::plan(
        run_args,
        &registry,
        &suite,
        &chain_ids,
        "rotate-test",
        global.quiet,
    )
    .await?;
    let time_scale = plan.backend.sim.as_ref().map(|s| s.scenario().time_scale);
    if opts.sim_log.is_some() && time_scale.is_none() {
        return Err(Failure::input(anyhow!(
            "--sim-log needs the simulator as the backend\n  hint: add --sim [SCENARIO], or read GET /sim/log from a `rotor sim` server"
        )));
    }
    if let Some(s) = time_scale {
        scale_priors(&mut plan.targets, s);
        sim_windows(&mut plan.limits, &plan.targets, &registry, s);
    }
    let targets = endpoints::preflight(&mut plan, global.quiet).await?;
    let chain: Vec<String> = chain_ids
        .iter()
        .filter(|id| targets.iter().any(|t| &t.id == *id))
        .cloned()
        .collect();
    let primary = chain.first().cloned();
    let cfg = opts.engine_config(&registry, run_args, time_scale);
    let policy = cfg.policy.name();
    let deadline_ms = cfg.deadline.as_millis() as u64;
    let resume = match &run_args.resume {
        Some(path) => Some(resume::load(path, "rotate-test")?),
        None => None,
    };
    let mut ctx = RunContext::open("rotate-test", run_args, &plan.backend, resume.as_ref())?;
    ctx.quiet = global.quiet;
    if !global.quiet {
        crate::say!(
            "rotate-test: {} prompts × {} through {} ({policy}, deadline {deadline_ms} ms) on {}",
            suite.items.len(),
            run_args.repeat,
            chain.join(" → "),
            plan.backend.label
        );
    }

    let primary_id = primary.clone().unwrap_or_default();
    let work: Vec<(u32, usize)> = (0..run_args.repeat)
        .flat_map(|r| (0..suite.items.len()).map(move |i| (r, i)))
        .filter(|(r, i)| {
            !resume
                .as_ref()
                .is_some_and(|done| done.is_done(&primary_id, &suite.items[*i].id, *r))
        })
        .collect();
    // The prompts finished before an interruption count in the report and
    // the thresholds as much as those run now (see earlier.rs).
    let earlier = resume.as_ref().map(|resume| {
        earlier::rebuild(
            resume,
            &primary_id,
            |prompt_id, repeat| repeat < run_args.repeat && suite.item(prompt_id).is_some(),
            opts.require_valid,
        )
    });
    if let Some(resume) = &resume
        && !global.quiet
    {
        crate::say!(
            "resuming run {} from {}: {} prompt(s) finished, {} to go",
            ctx.run_id,
            resume.path.display(),
            resume.done.len(),
            work.len()
        );
    }
    let mut start =
        RunSummary::with_models(targets.iter().map(|t| (t.id.as_str(), t.provider.as_str())));
    for a in earlier.iter().flat_map(|e| &e.attempts) {
        start.add(a);
    }
    let summary = Arc::new(Mutex::new(start));
    let pb = progress::bar(work.len() as u64, global.quiet);
    let suite = Arc::new(suite);
    let validation = if run_args.no_validate {
        None
    } else {
        Some(Validation::setup(suite.clone(), global.quiet).await)
    };
    let observer = Arc::new(
        RecordingObserver::new(
            &ctx,
            run_args.streaming(),
            summary.clone(),
            pb.clone(),
            validation.clone(),
        )
        .keep_verdicts(),
    );
    let client = Arc::new(run::client(run_args)?);
    let warm = endpoints::warm_up(&client, &targets, run_args, work.len(), global.quiet).await;
    let engine = Engine::new(cfg, targets, plan.limits, client.clone(), observer.clone());

    let outcomes: Arc<Mutex<Vec<PromptOutcome>>> = Arc::new(Mutex::new(Vec::new()));
    let stream = run_args.streaming();
    // Each prompt runs as a task of its own (as in probe), so prompts run in
    // parallel rather than all inside the main loop's task.
    let tasks = TaskTracker::new();
    let (run_id, command) = (Arc::<str>::from(ctx.run_id.as_str()), ctx.command);
    let require_valid = opts.require_valid;
    let jobs = {
        // Built once, shared by every prompt: the chain and each item's messages.
        let chain: Arc<[String]> = chain.clone().into();
        let messages: Vec<Arc<[Message]>> = suite
            .items
            .iter()
            .map(|i| suite.messages(i).into())
            .collect();
        let (engine, suite, validation) = (engine.clone(), suite.clone(), validation.clone());
        let (pb, outcomes, observer) = (pb.clone(), outcomes.clone(), observer.clone());
        let (tasks, primary) = (tasks.clone(), primary.clone());
        futures_util::stream::iter(work.into_iter().map(move |(repeat, i)| {
            let engine = engine.clone();
            let item = &suite.items[i];
            let accept = match (&validation, require_valid) {
                (Some(v), true) => Some(v.accept_fn(&item.id)),
                _ => None,
            };
            let req = PromptRequest {
                prompt_id: item.id.clone(),
                repeat,
                messages: messages[i].clone(),
                stream,
                max_tokens: item.max_tokens.or(suite.max_tokens),
                chain: chain.clone(),
                accept,
                ..Default::default()
            };
            let (pb, outcomes, observer) = (pb.clone(), outcomes.clone(), observer.clone());
            let (run_id, primary) = (run_id.clone(), primary.clone());
            run::spawn_job(&tasks, async move {
                let prompt_id = req.prompt_id.clone();
                let result = engine.run(req).await;
                let outcome =
                    PromptOutcome::from_result(&prompt_id, repeat, primary.as_deref(), &result);
                let key = outcome.model_used.clone().unwrap_or_default();
                observer.request_done(
                    &key,
                    run::request_record(&run_id, command, policy, deadline_ms, &outcome),
                );
                if let Ok(mut o) = outcomes.lock() {
                    o.push(outcome);
                }
                pb.inc(1);
                result
            })
        }))
        .buffer_unordered(run_args.concurrency)
    };

    // The outcomes above hold what the report needs.
    let outcome = run::run_jobs(jobs, &tasks, &observer).await;
    let mut verdicts = observer.take_verdicts();
    let mut snapshot = engine.snapshot();
    drop(engine);
    drop(observer);
    pb.finish_and_clear();
    let elapsed_s = ctx.started.elapsed().as_secs_f64();

    // Taken, not copied: the report holds one outcome per prompt.
    let mut prompts = std::mem::take(
        &mut *outcomes
            .lock()
            .map_err(|_| anyhow!("prompt outcomes lock poisoned"))?,
    );
    // Verdicts kept by the observer are this invocation's answers'.
    for p in &mut prompts {
        let Some(model) = &p.model_used else { continue };
        if let Some((verdict, detail)) =
            verdicts.remove(&(model.clone(), p.prompt_id.clone(), p.repeat))
        {
            p.validation = Some(verdict);
            p.validation_detail = detail;
        }
    }
    let prompts_now = prompts.len() as u64;
    if let Some(earlier) = earlier {
        earlier.add_to(&mut snapshot);
        prompts.extend(earlier.prompts);
    }
    prompts.sort_by(|a, b| (a.repeat, &a.prompt_id).cmp(&(b.repeat, &b.prompt_id)));
    let simulator = match &plan.backend.sim {
        Some(sim) => {
            let label = plan
                .backend
                .label
                .strip_prefix("simulator:")
                .unwrap_or(&plan.backend.label);
            if let Some(path) = &opts.sim_log {
                truth::write_sim_log(sim, label, path)?;
            }
            // The simulator of this invocation saw only its prompts.
            Some(truth::sim_truth(sim, label, &chain, prompts_now))
        }
        None => None,
    };
    if let Some(sim) = plan.backend.sim {
        sim.shutdown().await;
    }
    let info = RunInfo {
        run_id: ctx.run_id.clone(),
        backend: plan.backend.label.clone(),
        policy: policy.to_string(),
        chain,
        suite: suite.name.clone(),
        results_file: ctx.out_path.display().to_string(),
        deadline_ms,
        interrupted: outcome.interrupted,
        elapsed_s: (elapsed_s * 1000.0).round() / 1000.0,
        connections: endpoints::connections_of_run(&client, warm),
    };
    let out_path = ctx.out_path.clone();
    let records = ctx.close()?;
    let attempts = summary
        .lock()
        .map_err(|_| anyhow!("summary lock poisoned"))?
        .clone();
    let report = RotateReport::build(info, prompts, &snapshot, &attempts, &thresholds, simulator);

    if run_args.json {
        super::print_json_stdout(&report)?;
    } else {
        super::print_stdout(&table::render(&report, progress::stdout_is_terminal()))?;
    }
    write_reports(&report, &opts)?;
    if !global.quiet {
        let resumed = if report.overall.prompts > prompts_now {
            format!(" ({prompts_now} run now)")
        } else {
            String::new()
        };
        crate::say!(
            "{} prompts{resumed} in {elapsed_s:.1}s; {records} records in {}",
            report.overall.prompts,
            out_path.display()
        );
    }

    if let Some(fatal) = outcome.fatal {
        return Err(Failure::environment(anyhow!(fatal)));
    }
    if outcome.interrupted {
        crate::say!("interrupted: the summary above covers the prompts that finished");
        return Ok(exit::INTERRUPTED);
    }
    let failed = report.failed_checks();
    if !failed.is_empty() {
        let why: Vec<String> = failed
            .iter()
            .map(|c| format!("{} (set by {} or ci.{})", c.describe(), c.flag(), c.name))
            .collect();
        return Err(Failure::checks(anyhow!(
            "{} threshold{} failed: {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            why.join("; ")
        )));
    }
    Ok(exit::OK)
}

/// Writes the results on stdout; a reader that went away (`| head`) is not
/// an error, and never a panic.
/// `--junit`, `--markdown` and GitHub's job summary.
fn write_reports(report: &RotateReport, opts: &RotateOptions) -> anyhow::Result<()> {
    if let Some(path) = &opts.junit {
        let xml = junit::render(report).map_err(|e| anyhow!("cannot build the JUnit XML: {e}"))?;
        files::write_atomic(path, xml.as_bytes()).env_err()?;
    }
    if let Some(path) = &opts.markdown {
        let md = markdown::render(report);
        files::write_atomic(path, md.as_bytes()).env_err()?;
        if let Some(step) = std::env::var_os(GITHUB_STEP_SUMMARY).filter(|v| !v.is_empty()) {
            files::append(std::path::Path::new(&step), &format!("{md}\n")).env_err()?;
        }
    }
    Ok(())
}
