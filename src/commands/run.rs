//! What probe and rotate-test share: the results file, flag checks, the engine's
//! configuration, the records of attempts and prompts, and the interruptible
//! main loop (the endpoints' pre-flight check and warm-up: `endpoints.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::Utc;
use futures_util::{Stream, StreamExt};
use tokio_util::task::TaskTracker;

use crate::cli::RunArgs;
use crate::client::{CallResult, ClientConfig, HttpClient};
use crate::engine::{EngineConfig, EngineEvent, PromptResult};
use crate::exit::{Failure, ResultExt};
use crate::output::rotate::PromptOutcome;
use crate::record::{
    AttemptRecord, EventRecord, RecordKind, RecordSink, RequestRecord, SCHEMA_VERSION,
};
use crate::registry::Registry;
use crate::suite::Suite;

/// The identity of a run and its results file.
pub struct RunContext {
    pub run_id: String,
    pub command: &'static str,
    pub out_path: PathBuf,
    pub sink: Arc<RecordSink>,
    pub started: tokio::time::Instant,
    pub backend: String,
    /// `--quiet`: no messages for people on stderr.
    pub quiet: bool,
}

impl RunContext {
    /// Opens the results file: `--out`, the `--resume` file (keeping its run
    /// id), or `results/<command>-<UTC time>.jsonl`.
    pub fn open(
        command: &'static str,
        args: &RunArgs,
        backend: &super::backend::Backend,
        resume: Option<&super::resume::Resume>,
    ) -> anyhow::Result<Self> {
        if let Some(r) = resume {
            super::resume::check_backend(r, backend.simulated.as_deref())?;
        }
        let now = Utc::now();
        let out_path = resume
            .map(|r| r.path.clone())
            .or_else(|| args.out.clone())
            .unwrap_or_else(|| {
                PathBuf::from("results")
                    .join(format!("{command}-{}.jsonl", now.format("%Y%m%dT%H%M%SZ")))
            });
        let mut sink = RecordSink::open(&out_path, args.csv.as_deref()).env_err()?;
        if let Some(scenario) = &backend.simulated {
            sink.mark_simulated(scenario);
        }
        let run_id = resume
            .and_then(|r| r.run_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
        Ok(RunContext {
            run_id,
            command,
            out_path,
            sink: Arc::new(sink),
            started: tokio::time::Instant::now(),
            backend: backend.label.clone(),
            quiet: false,
        })
    }

    /// Writes what is queued and returns the number of records written.
    pub fn close(self) -> anyhow::Result<u64> {
        let sink = Arc::try_unwrap(self.sink).map_err(|_| anyhow!("results sink still in use"))?;
        sink.close().env_err()
    }
}

pub fn check_common_flags(args: &RunArgs) -> anyhow::Result<()> {
    let bad = |msg: String| Err(Failure::input(anyhow!(msg)));
    if args.repeat == 0 {
        return bad("--repeat must be at least 1".into());
    }
    if args.concurrency == 0 || args.concurrency > 4096 {
        return bad(format!(
            "--concurrency must be between 1 and 4096, got {}",
            args.concurrency
        ));
    }
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return bad(format!(
            "--timeout must be a positive number of seconds, got {}",
            args.timeout
        ));
    }
    Ok(())
}

/// Keeps only the prompts named by `--prompts` (all when none are named).
pub fn select_prompts(mut suite: Suite, args: &RunArgs) -> anyhow::Result<Suite> {
    if args.prompts.is_empty() {
        return Ok(suite);
    }
    for id in &args.prompts {
        if suite.item(id).is_none() {
            let ids: Vec<&str> = suite.items.iter().map(|i| i.id.as_str()).collect();
            return Err(Failure::input(anyhow!(
                "no prompt '{id}' in suite {}\n  hint: its prompts are {}",
                suite.source.display(),
                ids.join(", ")
            )));
        }
    }
    suite.items.retain(|i| args.prompts.contains(&i.id));
    Ok(suite)
}

pub fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = id.trim();
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out
}

/// One HTTP client (one connection pool) for the whole run. The pool keeps
/// as many idle connections per host as there can be requests in flight:
/// with fewer, every burst of answers closes connections that the next
/// requests must open again (at concurrency 64 against a 32-connection pool,
/// a quarter of all requests paid for a new TCP connection).
pub fn client(args: &RunArgs) -> anyhow::Result<HttpClient> {
    let defaults = ClientConfig::default();
    let cfg = ClientConfig {
        read_timeout: Duration::from_secs_f64(args.timeout.min(60.0)),
        pool_max_idle_per_host: defaults.pool_max_idle_per_host.max(args.concurrency),
        ..defaults
    };
    HttpClient::new(cfg)
        .context("cannot build the HTTP client")
        .env_err()
}

/// The engine's configuration from the registry's `rotation` section and flags.
pub fn engine_config(
    registry: &Registry,
    args: &RunArgs,
    attempt_timeout: Duration,
) -> EngineConfig {
    let r = &registry.rotation;
    let policy = match r.policy {
        crate::registry::Policy::Adaptive => crate::engine::Policy::Adaptive,
        crate::registry::Policy::FallbackFirst => crate::engine::Policy::FallbackFirst,
        crate::registry::Policy::WaitFirst => crate::engine::Policy::WaitFirst {
            max_wait: r.max_wait(),
        },
    };
    EngineConfig {
        policy,
        backoff: crate::engine::BackoffConfig {
            base: r.backoff.base(),
            cap: r.backoff.cap(),
            factor: r.backoff.factor,
            max_retries: r.backoff.max_retries,
            ..Default::default()
        },
        breaker: crate::engine::BreakerConfig {
            failure_threshold: r.breaker.failures,
            cooldown: r.breaker.cooldown(),
            ..Default::default()
        },
        deadline: r.deadline(),
        adaptive_margin: r.adaptive_margin,
        seed: args.seed.unwrap_or(1),
        first_byte_timeout: attempt_timeout,
        attempt_timeout,
    }
}

/// Who an attempt was for.
pub struct AttemptInfo<'a> {
    pub model: &'a str,
    pub provider: &'a str,
    pub prompt_id: &'a str,
    pub repeat: u32,
    pub attempt: u32,
    pub stream: bool,
}

/// The attempt record of one HTTP call.
pub fn attempt_record(
    run_id: &str,
    command: &str,
    info: &AttemptInfo<'_>,
    r: &CallResult,
) -> AttemptRecord {
    let now = tokio::time::Instant::now();
    let ts = Utc::now()
        - chrono::Duration::from_std(now.saturating_duration_since(r.timings.sent))
            .unwrap_or_default();
    AttemptRecord {
        schema_version: SCHEMA_VERSION,
        kind: RecordKind::Attempt,
        run_id: run_id.to_string(),
        ts,
        command: command.to_string(),
        provider: info.provider.to_string(),
        model: info.model.to_string(),
        prompt_id: info.prompt_id.to_string(),
        repeat: info.repeat,
        attempt: info.attempt,
        outcome: r.outcome,
        http_status: r.http_status,
        error_type: r.error_type.clone(),
        error_message: r.error_message.clone(),
        rate_limit_scope: r.scope,
        retry_after_ms: r.hints.retry_after_ms,
        ratelimit_limit: r.hints.limit,
        ratelimit_remaining: r.hints.remaining,
        ratelimit_reset_ms: r.hints.reset_epoch_ms,
        queue_ms: Some(r.queue_ms()),
        ttfb_ms: r.ttfb_ms(),
        ttft_ms: r.ttft_ms(),
        first_reasoning_ms: r.first_reasoning_ms(),
        latency_ms: r.latency_ms(),
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        tokens_source: r.tokens_source,
        tokens_per_s: r.tokens_per_s(),
        stream: info.stream,
        response_id: r.response_id.clone(),
        content_started: r.content_started,
        validation: None,
        validation_detail: None,
        validation_ms: None,
        validation_isolation: None,
        simulated: None,
    }
}

/// The record of an engine decision (attempts are recorded separately).
pub fn event_record(run_id: &str, command: &str, event: &EngineEvent) -> Option<EventRecord> {
    let value = serde_json::to_value(event).ok()?;
    let serde_json::Value::Object(mut fields) = value else {
        return None;
    };
    let name = fields
        .remove("event")
        .and_then(|v| v.as_str().map(str::to_string))?;
    let take_str = |f: &mut serde_json::Map<String, serde_json::Value>, k: &str| {
        f.remove(k).and_then(|v| v.as_str().map(str::to_string))
    };
    let model = take_str(&mut fields, "model");
    let prompt_id = take_str(&mut fields, "prompt_id");
    let repeat = fields
        .remove("repeat")
        .and_then(|v| v.as_u64())
        .map(|v| v as u32);
    Some(EventRecord {
        schema_version: SCHEMA_VERSION,
        kind: RecordKind::Event,
        run_id: run_id.to_string(),
        ts: chrono::DateTime::from_timestamp_millis(event.epoch_ms as i64).unwrap_or_else(Utc::now),
        command: command.to_string(),
        event: name,
        model,
        prompt_id,
        repeat,
        simulated: None,
        fields,
    })
}

/// The record of one logical prompt, written when the engine is done with it
/// (answered or given up), after its attempts: what `--resume` and `report`
/// read. `policy` and `deadline_ms` describe the engine it went through.
pub fn request_record(
    run_id: &str,
    command: &str,
    policy: &'static str,
    deadline_ms: u64,
    p: &PromptOutcome,
) -> RequestRecord {
    RequestRecord {
        schema_version: SCHEMA_VERSION,
        kind: RecordKind::Event,
        run_id: run_id.to_string(),
        ts: Utc::now(),
        command: command.to_string(),
        event: "request",
        model: p.model_used.clone().or_else(|| p.primary.clone()),
        prompt_id: p.prompt_id.clone(),
        repeat: p.repeat,
        model_used: p.model_used.clone(),
        primary: p.primary.clone(),
        ok: p.ok,
        by_fallback: p.by_fallback(),
        attempts: p.attempts,
        hops: p.hops,
        fallbacks: p.fallbacks,
        waited_ms: p.waited_ms,
        elapsed_ms: p.elapsed_ms,
        gave_up: p.gave_up.clone(),
        policy,
        deadline_ms,
        simulated: None,
    }
}

/// Runs every prompt job to its end, as both run commands do: the loop on a
/// worker thread (beside the prompts' tasks, so handing a finished prompt
/// over and starting the next needs no cross-thread wake-up), results not
/// kept (the records and summaries hold what counts); then waits until the
/// prompts aborted by an interrupt or a fatal answer are gone (they hold the
/// engine and the sink) and lets validations in flight finish (2 s after an
/// interrupt, else up to 10 minutes).
pub async fn run_jobs<S>(
    jobs: S,
    tasks: &TaskTracker,
    observer: &super::observer::RecordingObserver,
) -> DriveOutcome
where
    S: Stream<Item = PromptResult> + Send + 'static,
{
    let outcome = on_worker(drive_each(jobs, drop)).await;
    tasks.close();
    tasks.wait().await;
    let grace = if outcome.interrupted {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(600)
    };
    observer.finish(grace).await;
    outcome
}

/// How the main loop ended.
pub struct DriveOutcome {
    pub interrupted: bool,
    pub fatal: Option<String>,
}

/// Runs a prompt job as a task of its own on the runtime's worker threads,
/// so that concurrent prompts are polled in parallel rather than all inside
/// the main loop's task. Dropping the returned future (an interrupt, a fatal
/// result) aborts the task, as dropping the job itself would; an aborted
/// task is dropped a moment later, so before anything that needs the job's
/// captures gone (closing the results sink), close `tasks` and wait for it.
pub fn spawn_job<F>(
    tasks: &TaskTracker,
    job: F,
) -> impl Future<Output = PromptResult> + Send + use<F>
where
    F: Future<Output = PromptResult> + Send + 'static,
{
    let handle = tokio_util::task::AbortOnDropHandle::new(tasks.spawn(job));
    async move {
        match handle.await {
            Ok(result) => result,
            // A job that panicked takes the run down, as it did unspawned.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only an abort cancels a job, and only this handle aborts it.
            Err(_) => PromptResult {
                final_result: None,
                model: None,
                attempts: 0,
                hops: 0,
                waited: Duration::ZERO,
                fallbacks: 0,
                gave_up: None,
                fatal: None,
                elapsed: Duration::ZERO,
            },
        }
    }
}

/// Runs `fut` as a task on the runtime's worker threads and waits for it (a
/// panic in it is resumed here).
pub async fn on_worker<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match tokio::spawn(fut).await {
        Ok(out) => out,
        // Invariant: nothing aborts this task, and the runtime cannot shut
        // down while this future is polled on it, so the error is a panic.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs prompt jobs to completion, or until SIGINT/SIGTERM, or until a fatal
/// result (a rejected key) — in-flight work is dropped in the latter two
/// cases. Hands each result to `each` as it comes instead of keeping it:
/// memory stays flat however many prompts run. The fatal result is handed
/// over too.
pub async fn drive_each<S, F>(jobs: S, mut each: F) -> DriveOutcome
where
    S: Stream<Item = PromptResult>,
    F: FnMut(PromptResult),
{
    let mut jobs = std::pin::pin!(jobs);
    let signal = super::shutdown_signal();
    let mut signal = std::pin::pin!(signal);
    let mut out = DriveOutcome {
        interrupted: false,
        fatal: None,
    };
    loop {
        tokio::select! {
            next = jobs.next() => match next {
                Some(result) => {
                    let fatal = result.fatal.as_ref().map(|f| f.to_string());
                    each(result);
                    if fatal.is_some() {
                        out.fatal = fatal;
                        break;
                    }
                }
                None => break,
            },
            _ = &mut signal => {
                out.interrupted = true;
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn request_record_carries_what_report_needs() {
        let p = PromptOutcome {
            prompt_id: "fizz".into(),
            repeat: 1,
            primary: Some("a".into()),
            model_used: Some("b".into()),
            ok: true,
            attempts: 3,
            hops: 2,
            fallbacks: 1,
            waited_ms: 40,
            elapsed_ms: 123.5,
            gave_up: None,
            failure: None,
            validation: None,
            validation_detail: None,
        };
        let record = request_record("r1", "rotate-test", "adaptive", 5000, &p);
        // Written with a type of its own, it reads back as the generic event
        // record that report and --resume read.
        let line = serde_json::to_string(&crate::record::Record::from(record.clone())).unwrap();
        match serde_json::from_str::<crate::record::Record>(&line).unwrap() {
            crate::record::Record::Event(e) => {
                assert_eq!(e.event, "request");
                assert_eq!(e.model.as_deref(), Some("b"));
                assert_eq!(e.prompt_id.as_deref(), Some("fizz"));
                assert_eq!(e.repeat, Some(1));
                assert_eq!(e.fields["by_fallback"], true);
                assert_eq!(e.fields["policy"], "adaptive");
                assert_eq!(e.fields.len(), 12, "{line}");
            }
            other => panic!("read back as {other:?}"),
        }
        let v = serde_json::to_value(record).unwrap();
        assert_eq!(v["kind"], "event");
        assert_eq!(v["event"], "request");
        assert_eq!(v["prompt_id"], "fizz");
        assert_eq!(v["repeat"], 1);
        assert_eq!(v["model_used"], "b");
        assert_eq!(v["primary"], "a");
        assert_eq!(v["by_fallback"], true);
        assert_eq!(v["ok"], true);
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["hops"], 2);
        assert_eq!(v["fallbacks"], 1);
        assert_eq!(v["waited_ms"], 40);
        assert_eq!(v["elapsed_ms"], 123.5);
        assert!(v["gave_up"].is_null());
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
    }

    fn run_args(extra: &[&str]) -> crate::cli::RunArgs {
        let mut argv = vec!["rotor", "probe"];
        argv.extend_from_slice(extra);
        match Cli::parse_from(argv).command {
            Command::Probe(p) => p.run,
            _ => unreachable!("a probe command line"),
        }
    }

    #[test]
    fn the_pool_keeps_a_connection_per_request_in_flight() {
        let pool = |args: &[&str]| {
            super::client(&run_args(args))
                .unwrap()
                .config()
                .pool_max_idle_per_host
        };
        assert_eq!(pool(&["--concurrency", "256"]), 256);
        assert_eq!(pool(&["--concurrency", "1"]), 32, "never below the default");
    }
}
