//! The observer of a run: turns engine events into records (flushed as they
//! come), validates answers beside the requests, feeds the summary and the
//! progress bar.
//!
//! A failed attempt is written at once. An `ok` attempt is validated first, on
//! the validator's bounded pool in a task of its own, so the HTTP side never
//! waits for it; its record (with `validation`, `validation_detail`,
//! `validation_ms`) is written when the verdict is in. Records still waiting
//! for a verdict when the run ends are written without one (see [`finish`]).
//!
//! [`finish`]: RecordingObserver::finish

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use indicatif::ProgressBar;
use tokio_util::task::TaskTracker;

use super::run::{AttemptInfo, RunContext, attempt_record, event_record};
use crate::engine::{AcceptFn, EngineEvent, Event, Observer};
use crate::output::summary::RunSummary;
use crate::record::{AttemptRecord, RecordSink, RequestRecord};
use crate::suite::Suite;
use crate::validate::{CachedValidator, Validator, ValidatorConfig};

/// Validation of answers for a run.
pub struct Validation {
    pub checker: CachedValidator,
    pub suite: Arc<Suite>,
}

impl Validation {
    /// Probes the interpreters and the sandbox once; prints one note per
    /// language that cannot be validated here.
    pub async fn setup(suite: Arc<Suite>, quiet: bool) -> Arc<Validation> {
        let validator = Validator::new(ValidatorConfig::with_suite_timeout(suite.timeout_s)).await;
        if !quiet {
            let languages: Vec<&str> = suite.items.iter().map(|i| i.language.as_str()).collect();
            for note in validator.notes() {
                if languages.iter().any(|l| note.starts_with(l)) {
                    crate::say!("note: {note}");
                }
            }
        }
        Arc::new(Validation {
            checker: CachedValidator::new(validator),
            suite,
        })
    }

    /// An engine `accept` check for `prompt_id`: the answer must pass its tests.
    pub fn accept_fn(self: &Arc<Self>, prompt_id: &str) -> AcceptFn {
        let this = self.clone();
        let prompt_id = prompt_id.to_string();
        Arc::new(move |result| {
            let this = this.clone();
            let prompt_id = prompt_id.clone();
            let content = result.content.clone();
            async move {
                let Some(item) = this.suite.item(&prompt_id) else {
                    return true;
                };
                match this.checker.check(item, &content).await {
                    Ok(v) => v.verdict == crate::validate::Verdict::Passed,
                    // Could not be judged (no interpreter): not the answer's fault.
                    Err(_) => true,
                }
            }
            .boxed()
        })
    }
}

/// See the module docs.
pub struct RecordingObserver {
    run_id: String,
    command: &'static str,
    stream: bool,
    sink: Arc<RecordSink>,
    summary: Arc<Mutex<RunSummary>>,
    pb: ProgressBar,
    validation: Option<Arc<Validation>>,
    tasks: TaskTracker,
    pending: Arc<Mutex<Pending>>,
    next_id: AtomicU64,
    quiet: bool,
    quota_said: Mutex<std::collections::HashSet<String>>,
    /// Each answer's verdict and its detail, when [`Self::keep_verdicts`]
    /// asked for them (rotate-test shows them per prompt).
    verdicts: Option<Arc<Mutex<Verdicts>>>,
}

/// (model, prompt_id, repeat): one logical prompt of a model.
pub type Key = (String, String, u32);

/// The verdict (and its detail) of each validated answer, by [`Key`].
pub type Verdicts = HashMap<Key, (String, Option<String>)>;

/// Attempt records waiting for a verdict, and `request` records waiting for
/// them: a prompt's `request` record is written after all of its attempts, so
/// a file that has it has everything `--resume` needs to skip the prompt.
#[derive(Default)]
struct Pending {
    attempts: HashMap<u64, (Key, AttemptRecord)>,
    per_key: HashMap<Key, usize>,
    requests: HashMap<Key, RequestRecord>,
}

impl Pending {
    fn add(&mut self, id: u64, key: Key, record: AttemptRecord) {
        *self.per_key.entry(key.clone()).or_default() += 1;
        self.attempts.insert(id, (key, record));
    }

    /// Takes attempt `id` out; with it, the `request` record it held back
    /// when it was the last one.
    fn take(&mut self, id: u64) -> Option<(AttemptRecord, Option<RequestRecord>)> {
        let (key, record) = self.attempts.remove(&id)?;
        let left = self.per_key.get_mut(&key).map(|n| {
            *n -= 1;
            *n
        });
        let request = if left == Some(0) {
            self.per_key.remove(&key);
            self.requests.remove(&key)
        } else {
            None
        };
        Some((record, request))
    }
}

impl RecordingObserver {
    pub fn new(
        ctx: &RunContext,
        stream: bool,
        summary: Arc<Mutex<RunSummary>>,
        pb: ProgressBar,
        validation: Option<Arc<Validation>>,
    ) -> Self {
        RecordingObserver {
            run_id: ctx.run_id.clone(),
            command: ctx.command,
            stream,
            sink: ctx.sink.clone(),
            summary,
            pb,
            validation,
            tasks: TaskTracker::new(),
            pending: Arc::new(Mutex::new(Pending::default())),
            next_id: AtomicU64::new(0),
            quiet: ctx.quiet,
            quota_said: Mutex::new(std::collections::HashSet::new()),
            verdicts: None,
        }
    }

    /// Keeps every answer's verdict for [`Self::take_verdicts`].
    pub fn keep_verdicts(mut self) -> Self {
        self.verdicts = Some(Arc::default());
        self
    }

    /// The verdicts kept so far.
    pub fn take_verdicts(&self) -> Verdicts {
        self.verdicts
            .as_ref()
            .and_then(|v| v.lock().ok().map(|mut v| std::mem::take(&mut *v)))
            .unwrap_or_default()
    }

    /// Waits up to `grace` for validations in flight, then writes the records
    /// still waiting without a verdict (`validation_detail` says why).
    pub async fn finish(&self, grace: Duration) {
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
        let (left, requests) = match self.pending.lock() {
            Ok(mut p) => (
                p.attempts.drain().map(|(_, (_, r))| r).collect::<Vec<_>>(),
                p.requests.drain().map(|(_, r)| r).collect::<Vec<_>>(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        };
        for mut record in left {
            record.validation_detail = Some("not validated: the run ended first".into());
            publish(&self.summary, &self.sink, record);
        }
        for request in requests {
            self.sink.write(request);
        }
    }

    /// Writes the `request` record of a logical prompt of `model`, after the
    /// attempt records still waiting for their verdicts.
    pub fn request_done(&self, model: &str, request: RequestRecord) {
        // Without validation no attempt waits for a verdict.
        if self.validation.is_some() {
            let key: Key = (model.to_string(), request.prompt_id.clone(), request.repeat);
            if let Ok(mut p) = self.pending.lock()
                && p.per_key.contains_key(&key)
            {
                p.requests.insert(key, request);
                return;
            }
        }
        self.sink.write(request);
    }

    fn attempt(&self, info: &AttemptInfo<'_>, result: &crate::client::CallResult) {
        let record = attempt_record(&self.run_id, self.command, info, result);
        if !record.outcome.is_ok() {
            self.pb
                .set_message(format!("{} {}", record.model, record.outcome));
        }
        let validation = match &self.validation {
            Some(v) if record.outcome.is_ok() => v.clone(),
            _ => {
                publish(&self.summary, &self.sink, record);
                return;
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut p) = self.pending.lock() {
            p.add(id, key_of(info), record);
        }
        let content = result.content.clone();
        let prompt_id = info.prompt_id.to_string();
        let pending = self.pending.clone();
        let summary = self.summary.clone();
        let sink = self.sink.clone();
        let kept = self.verdicts.clone().map(|v| (v, key_of(info)));
        self.tasks.spawn(async move {
            let verdict = match validation.suite.item(&prompt_id) {
                Some(item) => Some(validation.checker.check(item, &content).await),
                None => None,
            };
            let Some((mut record, request)) = pending.lock().ok().and_then(|mut p| p.take(id))
            else {
                return; // finish() already wrote it
            };
            match verdict {
                Some(Ok(v)) => {
                    record.validation = Some(v.verdict.as_str().to_string());
                    record.validation_detail = (!v.detail.is_empty()).then_some(v.detail);
                    record.validation_ms = Some((v.duration_ms * 1000.0).round() / 1000.0);
                    record.validation_isolation = Some(v.isolation.label());
                    if let Some((kept, key)) = kept
                        && let Ok(mut kept) = kept.lock()
                    {
                        let verdict = v.verdict.as_str().to_string();
                        kept.insert(key, (verdict, record.validation_detail.clone()));
                    }
                }
                Some(Err(e)) => record.validation_detail = Some(format!("not validated: {e}")),
                None => {}
            }
            publish(&summary, &sink, record);
            if let Some(request) = request {
                sink.write(request);
            }
        });
    }
}

fn key_of(info: &AttemptInfo<'_>) -> Key {
    (
        info.model.to_string(),
        info.prompt_id.to_string(),
        info.repeat,
    )
}

fn publish(summary: &Mutex<RunSummary>, sink: &RecordSink, record: AttemptRecord) {
    if let Ok(mut s) = summary.lock() {
        s.add(&record);
    }
    sink.write(record);
}

impl Observer for RecordingObserver {
    fn on_event(&self, ev: &EngineEvent) {
        if let Event::Attempt {
            model,
            provider,
            attempt,
            result,
            ..
        } = &ev.event
        {
            let info = AttemptInfo {
                model,
                provider,
                prompt_id: &ev.prompt_id,
                repeat: ev.repeat,
                attempt: *attempt,
                stream: self.stream,
            };
            self.attempt(&info, result);
        } else {
            if let Event::QuotaExhausted {
                provider,
                free_only,
                until_epoch_ms,
                ..
            } = &ev.event
            {
                self.say_quota_once(provider, *free_only, *until_epoch_ms);
            }
            if let Some(record) = event_record(&self.run_id, self.command, ev) {
                self.sink.write(record);
            }
        }
    }
}

impl RecordingObserver {
    /// Says once per provider (on stderr, above the progress bar) that its
    /// daily quota is spent and its models are skipped until the reset.
    fn say_quota_once(&self, provider: &str, free_only: bool, until_epoch_ms: u64) {
        let first = self
            .quota_said
            .lock()
            .map(|mut said| said.insert(provider.to_string()))
            .unwrap_or(false);
        if !first || self.quiet {
            return;
        }
        let until = chrono::DateTime::from_timestamp_millis(until_epoch_ms as i64)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "its reset".into());
        let which = if free_only { "free models" } else { "models" };
        self.pb.suspend(|| {
            crate::say!(
                "{provider}: the daily quota is spent; its {which} are skipped until {until} (other providers are still used)"
            )
        });
    }
}
