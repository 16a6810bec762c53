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
use crate::record::{AttemptRecord, RecordSink};
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
                    eprintln!("note: {note}");
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
    pending: Arc<Mutex<HashMap<u64, AttemptRecord>>>,
    next_id: AtomicU64,
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
            pending: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        }
    }

    /// Waits up to `grace` for validations in flight, then writes the records
    /// still waiting without a verdict (`validation_detail` says why).
    pub async fn finish(&self, grace: Duration) {
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
        let left: Vec<AttemptRecord> = match self.pending.lock() {
            Ok(mut p) => p.drain().map(|(_, r)| r).collect(),
            Err(_) => Vec::new(),
        };
        for mut record in left {
            record.validation_detail = Some("not validated: the run ended first".into());
            publish(&self.summary, &self.sink, record);
        }
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
            p.insert(id, record);
        }
        let content = result.content.clone();
        let prompt_id = info.prompt_id.to_string();
        let pending = self.pending.clone();
        let summary = self.summary.clone();
        let sink = self.sink.clone();
        self.tasks.spawn(async move {
            let verdict = match validation.suite.item(&prompt_id) {
                Some(item) => Some(validation.checker.check(item, &content).await),
                None => None,
            };
            let Some(mut record) = pending.lock().ok().and_then(|mut p| p.remove(&id)) else {
                return; // finish() already wrote it
            };
            match verdict {
                Some(Ok(v)) => {
                    record.validation = Some(v.verdict.as_str().to_string());
                    record.validation_detail = (!v.detail.is_empty()).then_some(v.detail);
                    record.validation_ms = Some((v.duration_ms * 1000.0).round() / 1000.0);
                    record.validation_isolation = Some(v.isolation.label());
                }
                Some(Err(e)) => record.validation_detail = Some(format!("not validated: {e}")),
                None => {}
            }
            publish(&summary, &sink, record);
        });
    }
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
        } else if let Some(record) = event_record(&self.run_id, self.command, ev) {
            self.sink.write(record);
        }
    }
}
