//! [`Validator`]: finds the interpreters, probes the isolation once, and runs
//! at most `concurrency` sandboxes at a time (a tokio semaphore), so callers
//! can spawn a validation beside each request without starving the HTTP side.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::extract::extract;
use super::isolation::{self, Isolation};
use super::runner::{HarnessKind, RunRequest, run_answer};
use super::sandbox::{self, Limits, SandboxDir};
use super::{
    DEFAULT_TIMEOUT_S, Language, ValidateError, ValidationResult, Verdict, is_identifier,
    javascript, python, short_detail,
};
use crate::suite::SuiteItem;

/// The longest time limit an item may ask for.
pub const MAX_TIMEOUT_S: f64 = 600.0;

/// How a [`Validator`] is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatorConfig {
    /// Sandboxes running at once (at least 1; default: the number of CPUs).
    pub concurrency: usize,
    /// Time limit of items without `timeout_s` (set it from the suite's).
    pub default_timeout: Duration,
    /// Limits of every run; `wall` is replaced by each item's time limit.
    pub limits: Limits,
    /// The Python interpreter to use instead of searching for one.
    pub python: Option<PathBuf>,
    /// The Node.js binary to use instead of searching for one.
    pub node: Option<PathBuf>,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            default_timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_S),
            limits: Limits::default(),
            python: None,
            node: None,
        }
    }
}

impl ValidatorConfig {
    /// The default configuration with the suite's time limit, if it sets one.
    pub fn with_suite_timeout(timeout_s: Option<f64>) -> Self {
        let mut config = Self::default();
        if let Some(t) = timeout_s.and_then(valid_seconds) {
            config.default_timeout = t;
        }
        config
    }
}

fn valid_seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s > 0.0).then(|| Duration::from_secs_f64(s.min(MAX_TIMEOUT_S)))
}

/// Whether a language can be validated here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available { program: PathBuf, version: String },
    Unavailable { reason: String },
}

/// Runs answers against suite items in sandboxes.
#[derive(Debug)]
pub struct Validator {
    config: ValidatorConfig,
    isolation: Isolation,
    python: Availability,
    javascript: Availability,
    permits: Arc<Semaphore>,
}

impl Validator {
    /// Probes the isolation (once per process) and finds a working `python3`
    /// and `node`, trying each candidate inside the sandbox (an interpreter the
    /// sandbox user cannot run, such as one under `/root`, is skipped). Takes
    /// some tens of milliseconds; call it once.
    pub async fn new(config: ValidatorConfig) -> Self {
        let isolation = tokio::task::spawn_blocking(isolation::probe)
            .await
            .unwrap_or(Isolation::NONE);
        let concurrency = config.concurrency.clamp(1, isolation::MAX_SLOTS);
        let python = find(
            isolation,
            "python3",
            config.python.as_deref(),
            &["/usr/bin/python3", "/usr/local/bin/python3"],
            python::version_args(),
        )
        .await;
        let javascript = find(
            isolation,
            "node",
            config.node.as_deref(),
            &["/usr/bin/node", "/usr/local/bin/node"],
            javascript::version_args(),
        )
        .await;
        let config = ValidatorConfig {
            concurrency,
            ..config
        };
        Self {
            config,
            isolation,
            python,
            javascript,
            permits: Arc::new(Semaphore::new(concurrency)),
        }
    }

    /// Whether `language` can be validated, and with what.
    pub fn availability(&self, language: Language) -> &Availability {
        match language {
            Language::Python => &self.python,
            Language::JavaScript => &self.javascript,
        }
    }

    /// The isolation sandboxes get on this machine.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// One note per unavailable language, for the user (printed once).
    pub fn notes(&self) -> Vec<String> {
        [Language::Python, Language::JavaScript]
            .into_iter()
            .filter_map(|l| match self.availability(l) {
                Availability::Unavailable { reason } => {
                    Some(format!("{l} answers will not be validated: {reason}"))
                }
                Availability::Available { .. } => None,
            })
            .collect()
    }

    /// The time limit of `item`: its own `timeout_s` (capped at
    /// [`MAX_TIMEOUT_S`]) or the configured default.
    pub fn timeout_for(&self, item: &SuiteItem) -> Duration {
        item.timeout_s
            .and_then(valid_seconds)
            .unwrap_or(self.config.default_timeout)
    }

    /// Extracts the code from `answer` and runs it with `item`'s tests.
    /// Errors mean the answer could not be judged (unsupported or unavailable
    /// language, a bad entry point in the suite, a sandbox failure), never
    /// that the answer is wrong.
    pub async fn validate(
        &self,
        item: &SuiteItem,
        answer: &str,
    ) -> Result<ValidationResult, ValidateError> {
        let started = Instant::now();
        let language = Language::from_name(&item.language).ok_or_else(|| {
            ValidateError::UnsupportedLanguage {
                item: item.id.clone(),
                language: item.language.clone(),
            }
        })?;
        let program = match self.availability(language) {
            Availability::Available { program, .. } => program.clone(),
            Availability::Unavailable { reason } => {
                return Err(ValidateError::Unavailable {
                    item: item.id.clone(),
                    language,
                    reason: reason.clone(),
                });
            }
        };
        if !is_identifier(&item.entry_point) {
            return Err(ValidateError::BadEntryPoint {
                item: item.id.clone(),
                entry_point: item.entry_point.clone(),
            });
        }
        let code = match extract(answer, language, &item.entry_point) {
            Ok(found) => found.code,
            Err(no_code) => {
                return Ok(ValidationResult {
                    verdict: Verdict::NoCode,
                    detail: short_detail(&no_code.0),
                    duration_ms: ms(started),
                    isolation: Isolation::NONE,
                });
            }
        };

        let sandbox_error = |action, source| ValidateError::Sandbox {
            item: item.id.clone(),
            action,
            source,
        };
        let _permit = self.permits.acquire().await.map_err(|_| {
            sandbox_error("waiting for a slot", std::io::Error::other("pool closed"))
        })?;
        let user = if self.isolation.uid_drop {
            Some(isolation::acquire_user().await.ok_or_else(|| {
                sandbox_error(
                    "taking a sandbox uid",
                    std::io::Error::other("uid pool closed"),
                )
            })?)
        } else {
            None
        };
        let mut user = SweepOnDrop(user);
        let started = Instant::now();
        let limits = Limits {
            wall: self.timeout_for(item),
            ..self.config.limits.clone()
        };
        let request = RunRequest {
            program: &program,
            entry_point: &item.entry_point,
            tests: &item.tests,
            limits: &limits,
            isolation: self.isolation,
            uid: user.0.as_ref().map(|u| u.uid),
        };
        let judged = run_answer(HarnessKind::of(language), &code, &request).await;
        // The run swept its uid (or failed before starting anything).
        user.0.take();
        let judged = judged.map_err(|(action, e)| sandbox_error(action, e))?;
        Ok(ValidationResult {
            verdict: judged.verdict,
            detail: judged.detail,
            duration_ms: ms(started),
            isolation: judged.isolation,
        })
    }
}

/// Holds the run's sandbox uid; if the validation is cancelled mid-run (its
/// future dropped), kills and reaps whatever still runs as that uid on a
/// thread of its own before the uid goes back to the pool.
struct SweepOnDrop(Option<isolation::SandboxUser>);

impl Drop for SweepOnDrop {
    fn drop(&mut self) {
        if let Some(user) = self.0.take() {
            std::thread::spawn(move || {
                isolation::sweep(user.uid);
                drop(user);
            });
        }
    }
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// An executable file named `name` on rotor's own `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The real interpreter behind `program` (resolving symlinks, and asking a
/// Python found on `PATH` for `sys.executable`, which sees through pyenv-style
/// shell shims that cannot run in an empty environment).
async fn real_program(name: &str, program: PathBuf) -> PathBuf {
    if name == "python3" {
        let asked = tokio::process::Command::new(&program)
            .args(["-c", "import sys; sys.stdout.write(sys.executable)"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        if let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), asked).await {
            let exe = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !exe.is_empty() {
                return PathBuf::from(exe);
            }
        }
    }
    std::fs::canonicalize(&program).unwrap_or(program)
}

/// Finds the first candidate that runs in the sandbox.
async fn find(
    isolation: Isolation,
    name: &str,
    configured: Option<&Path>,
    fallbacks: &[&str],
    version_args: Vec<OsString>,
) -> Availability {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = configured {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = on_path(name) {
            candidates.push(real_program(name, p).await);
        }
        candidates.extend(fallbacks.iter().map(PathBuf::from));
    }
    candidates.dedup();
    let mut failures = Vec::new();
    for program in candidates {
        if !program.exists() {
            continue;
        }
        match sandbox_version(isolation, &program, &version_args).await {
            Ok(version) => return Availability::Available { program, version },
            Err(why) => failures.push(format!("{}: {why}", program.display())),
        }
    }
    let reason = if failures.is_empty() {
        format!("{name} was not found")
    } else {
        format!(
            "{name} does not run in the sandbox ({})",
            failures.join("; ")
        )
    };
    Availability::Unavailable { reason }
}

/// Runs `program version_args` in a sandbox; its stdout is the version.
async fn sandbox_version(
    isolation: Isolation,
    program: &Path,
    args: &[OsString],
) -> Result<String, String> {
    let user = if isolation.uid_drop {
        Some(
            isolation::acquire_user()
                .await
                .ok_or_else(|| "no sandbox uid".to_string())?,
        )
    } else {
        None
    };
    let uid = user.as_ref().map(|u| u.uid);
    let dir = tokio::task::spawn_blocking(move || SandboxDir::new(uid, &[]))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("temporary directory: {e}"))?;
    let limits = Limits {
        wall: Duration::from_secs(10),
        ..Limits::default()
    };
    let spec = sandbox::Spec {
        program,
        args: args.to_vec(),
        dir: dir.path(),
        limits: &limits,
        isolation,
        uid,
    };
    let result = sandbox::run(&spec).await;
    dir.remove().await;
    let out = result.map_err(|e| e.to_string())?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match out.status {
        Some(s) if s.success() && !version.is_empty() => Ok(version),
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            Err(short_detail(&format!("failed to start: {line}")))
        }
    }
}
