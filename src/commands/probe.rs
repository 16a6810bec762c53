//! `rotor probe`: every prompt of the suite to every model, each model on its
//! own (a chain of one), every attempt recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use futures_util::StreamExt;
use tokio_util::task::TaskTracker;

use super::observer::{RecordingObserver, Validation};
use super::resume;
use super::run::{self, RunContext};
use super::{Global, backend, endpoints};
use crate::cli::ProbeArgs;
use crate::engine::{Engine, PromptRequest};
use crate::exit::{self, Failure};
use crate::output::rotate::PromptOutcome;
use crate::output::summary::RunSummary;
use crate::output::{progress, table};
use crate::wire::Message;

pub async fn run(global: &Global, args: ProbeArgs) -> anyhow::Result<i32> {
    let run_args = &args.run;
    run::check_common_flags(run_args)?;
    let registry = backend::load_registry(&global.registry)?;
    let suite = run::select_prompts(backend::load_suite(run_args.suite.as_deref())?, run_args)?;
    let model_ids: Vec<String> = if run_args.models.is_empty() {
        backend::default_models(
            run_args,
            registry
                .active_models()
                .iter()
                .map(|m| m.id.clone())
                .collect(),
        )?
    } else {
        run::dedup(&run_args.models)
    };
    if model_ids.is_empty() {
        return Err(Failure::input(anyhow!(
            "no models to probe: the registry has no verified or candidate model\n  hint: name some with --models"
        )));
    }

    let resume = match &run_args.resume {
        Some(path) => Some(resume::load(path, "probe")?),
        None => None,
    };
    let mut plan = backend::plan(
        run_args,
        &registry,
        &suite,
        &model_ids,
        "probe",
        global.quiet,
    )
    .await?;
    let targets = endpoints::preflight(&mut plan, global.quiet).await?;
    let mut ctx = RunContext::open("probe", run_args, &plan.backend, resume.as_ref())?;
    ctx.quiet = global.quiet;

    // Work items (repeat, suite item, target) are made as slots free up,
    // not all at once: memory stays flat however many prompts there are.
    let ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
    let item_ids: Vec<String> = suite.items.iter().map(|i| i.id.clone()).collect();
    let resume = resume.map(Arc::new);
    let (n_items, n_targets) = (suite.items.len(), targets.len());
    let work = {
        let resume = resume.clone();
        let (ids, item_ids) = (ids.clone(), item_ids.clone());
        (0..run_args.repeat)
            .flat_map(move |r| {
                (0..n_items).flat_map(move |i| (0..n_targets).map(move |t| (r, i, t)))
            })
            .filter(move |&(r, i, t)| {
                !resume
                    .as_ref()
                    .is_some_and(|done| done.is_done(&ids[t], &item_ids[i], r))
            })
    };
    let to_go = work.clone().count();
    let mut start =
        RunSummary::with_models(targets.iter().map(|t| (t.id.as_str(), t.provider.as_str())));
    if let Some(resume) = &resume {
        for a in &resume.attempts {
            start.add(a);
        }
        if !global.quiet {
            crate::say!(
                "resuming run {} from {}: {} prompt(s) finished, {} to go{}",
                ctx.run_id,
                resume.path.display(),
                resume.done.len(),
                to_go,
                if resume.cut_bytes > 0 {
                    format!(" (cut a partial last line of {} bytes)", resume.cut_bytes)
                } else {
                    String::new()
                }
            );
        }
    }
    let summary = Arc::new(Mutex::new(start));
    let pb = progress::bar(to_go as u64, global.quiet);
    let suite = Arc::new(suite);
    let validation = if run_args.no_validate {
        None
    } else {
        Some(Validation::setup(suite.clone(), global.quiet).await)
    };
    let observer = Arc::new(RecordingObserver::new(
        &ctx,
        run_args.streaming(),
        summary.clone(),
        pb.clone(),
        validation,
    ));
    let mut plan_limits = std::mem::take(&mut plan.limits);
    let mut cfg = run::engine_config(
        &registry,
        run_args,
        Duration::from_secs_f64(run_args.timeout),
    );
    if let Some(sim) = &plan.backend.sim {
        // The simulated world runs time_scale times faster: so do backoff,
        // breaker periods and learned windows (the deadline stays the
        // registry's, in real seconds, like --timeout).
        let scale = sim.scenario().time_scale;
        let deadline = cfg.deadline;
        super::rotate_test::scale_for_sim(&mut cfg, scale);
        cfg.deadline = deadline;
        super::rotate_test::sim_windows(&mut plan_limits, &targets, &registry, scale);
    }
    let policy = cfg.policy.name();
    let deadline_ms = cfg.deadline.as_millis() as u64;
    let client = Arc::new(run::client(run_args)?);
    let warm = endpoints::warm_up(&client, &targets, run_args, to_go, global.quiet).await;
    let engine = Engine::new(cfg, targets, plan_limits, client.clone(), observer.clone());

    let stream = run_args.streaming();
    // Each prompt runs as a task of its own, so prompts run in parallel.
    let (job_engine, job_suite, job_pb, job_summary, job_observer) = (
        engine.clone(),
        suite.clone(),
        pb.clone(),
        summary.clone(),
        observer.clone(),
    );
    let (run_id, command) = (Arc::<str>::from(ctx.run_id.as_str()), ctx.command);
    let tasks = TaskTracker::new();
    let job_tasks = tasks.clone();
    // Built once, shared by every repeat: each item's messages and each
    // model's chain of one.
    let messages: Vec<Arc<[Message]>> = suite
        .items
        .iter()
        .map(|i| suite.messages(i).into())
        .collect();
    let chains: Vec<Arc<[String]>> = ids.iter().map(|id| Arc::from([id.clone()])).collect();
    let jobs = futures_util::stream::iter(work.map(move |(repeat, i, t)| {
        let engine = job_engine.clone();
        let suite = &job_suite;
        let item = &suite.items[i];
        let req = PromptRequest {
            prompt_id: item.id.clone(),
            repeat,
            messages: messages[i].clone(),
            stream,
            max_tokens: item.max_tokens.or(suite.max_tokens),
            chain: chains[t].clone(),
            ..Default::default()
        };
        let pb = job_pb.clone();
        let summary = job_summary.clone();
        let observer = job_observer.clone();
        let run_id = run_id.clone();
        run::spawn_job(&job_tasks, async move {
            let model = req.chain[0].clone();
            let (prompt_id, repeat) = (req.prompt_id.clone(), req.repeat);
            let result = engine.run(req).await;
            if result.fatal.is_none() {
                let outcome = PromptOutcome::from_result(&prompt_id, repeat, Some(&model), &result);
                observer.request_done(
                    &model,
                    run::request_record(&run_id, command, policy, deadline_ms, &outcome),
                );
            }
            if let Some(g) = &result.gave_up
                && let Ok(mut s) = summary.lock()
            {
                let provider = s.provider_of(&model).unwrap_or_default();
                s.gave_up(&model, &provider, g.reason.as_str());
            }
            pb.inc(1);
            result
        })
    }))
    .buffer_unordered(run_args.concurrency);

    let outcome = run::run_jobs(jobs, &tasks, &observer).await;
    drop(engine);
    drop(observer);
    pb.finish_and_clear();
    let elapsed = ctx.started.elapsed().as_secs_f64();
    let time_scale = plan.backend.sim.as_ref().map(|s| s.scenario().time_scale);
    if let Some(sim) = plan.backend.sim {
        sim.shutdown().await;
    }
    let run_id = ctx.run_id.clone();
    let out_path = ctx.out_path.clone();
    let records = ctx.close()?;
    let summary = summary
        .lock()
        .map_err(|_| anyhow!("summary lock poisoned"))?
        .clone();

    if run_args.json {
        let mut json = summary.to_json(
            "probe",
            &run_id,
            &plan.backend.label,
            out_path.display().to_string(),
            outcome.interrupted,
            elapsed,
        );
        json.connections = Some(endpoints::connections_of_run(&client, warm));
        super::print_json_stdout(&json)?;
    } else {
        super::print_stdout(&format!(
            "{}\n",
            table::probe_table(&summary, progress::stdout_is_terminal())
        ))?;
    }
    if !global.quiet {
        crate::say!(
            "{} in {elapsed:.1}s; {} in {}",
            crate::output::text::count(summary.attempts(), "attempt"),
            crate::output::text::count(records, "record"),
            out_path.display()
        );
    }
    if let Some(scale) = time_scale
        && !global.quiet
    {
        crate::say!(
            "(simulated {x:.0}x faster than real time: latencies {x:.0}x shorter and tokens/s {x:.0}x higher than the scenario's models)",
            x = 1.0 / scale
        );
    }
    let gave_up = summary.gave_up_total();
    if !gave_up.is_empty() && !global.quiet {
        let n: u64 = gave_up.values().sum();
        let why: Vec<String> = gave_up.iter().map(|(k, v)| format!("{v} {k}")).collect();
        crate::say!(
            "{n} prompt(s) ended without an answer ({}); the give_up events in the results file say why",
            why.join(", ")
        );
    }
    if let Some(fatal) = outcome.fatal {
        return Err(Failure::environment(anyhow!(fatal)));
    }
    if outcome.interrupted {
        crate::say!("interrupted: the summary above covers the attempts that finished");
        return Ok(exit::INTERRUPTED);
    }
    Ok(exit::OK)
}
