//! Running an extracted answer with its tests through a language harness, and
//! turning what happened into a [`Verdict`].
//!
//! The harness (`harness.py`, `harness.js`) writes `result.json`; when it is
//! missing (the process died, ran out of time or output) the verdict comes
//! from the run itself: output limit → `crashed`, wall-clock limit →
//! `timeout`, `SIGXCPU` → `timeout`, `SIGXFSZ` → `crashed` (file size limit),
//! a memory error in stderr → `crashed` "memory limit", any other signal or
//! exit code → `crashed` with the signal or the last stderr line.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::sandbox::{self, Limits, RunOutput, SandboxDir};
use super::{Isolation, Language, Verdict, javascript, python, short_detail};

/// How one language's harness is laid out and run.
pub(crate) struct HarnessKind {
    /// Where the answer's code goes.
    pub solution_file: &'static str,
    pub harness_file: &'static str,
    pub harness_source: &'static str,
    /// Interpreter arguments that run the harness.
    pub args: fn(&Limits) -> Vec<OsString>,
    /// The `RLIMIT_AS` to set for a memory budget of `Limits::memory_bytes`
    /// (V8 reserves far more address space than it uses).
    pub address_space: fn(&Limits) -> u64,
    /// Whether stderr shows the memory limit was hit.
    pub memory_hint: fn(&str) -> bool,
}

impl HarnessKind {
    pub fn of(language: Language) -> &'static HarnessKind {
        match language {
            Language::Python => &python::HARNESS,
            Language::JavaScript => &javascript::HARNESS,
        }
    }
}

/// The harness's `result.json`.
#[derive(Debug, Deserialize)]
struct HarnessReport {
    verdict: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    total: usize,
    #[serde(default)]
    test: Option<String>,
}

/// Everything a run needs besides the code.
pub(crate) struct RunRequest<'a> {
    pub program: &'a Path,
    pub entry_point: &'a str,
    pub tests: &'a [String],
    pub limits: &'a Limits,
    pub isolation: Isolation,
    pub uid: Option<u32>,
}

/// The verdict of one run and the isolation it had.
pub(crate) struct Judged {
    pub verdict: Verdict,
    pub detail: String,
    pub isolation: Isolation,
}

/// Writes the files, runs the harness in the sandbox and classifies the outcome.
pub(crate) async fn run_answer(
    kind: &HarnessKind,
    code: &str,
    req: &RunRequest<'_>,
) -> Result<Judged, (&'static str, std::io::Error)> {
    let spec_json = serde_json::json!({
        "entry_point": req.entry_point,
        "tests": req.tests,
    })
    .to_string();
    let uid = req.uid;
    let code = code.to_owned();
    let (solution_file, harness_file, harness_source) =
        (kind.solution_file, kind.harness_file, kind.harness_source);
    let dir = tokio::task::spawn_blocking(move || -> std::io::Result<SandboxDir> {
        SandboxDir::new(
            uid,
            &[
                (solution_file, code.as_bytes()),
                (harness_file, harness_source.as_bytes()),
                ("spec.json", spec_json.as_bytes()),
            ],
        )
    })
    .await
    .map_err(|e| ("preparing the sandbox directory", std::io::Error::other(e)))?
    .map_err(|e| ("preparing the sandbox directory", e))?;

    let limits = Limits {
        memory_bytes: (kind.address_space)(req.limits),
        ..req.limits.clone()
    };
    let spec = sandbox::Spec {
        program: req.program,
        args: (kind.args)(req.limits),
        dir: dir.path(),
        limits: &limits,
        isolation: req.isolation,
        uid: req.uid,
    };
    let out = match sandbox::run(&spec).await {
        Ok(out) => out,
        Err(e) => {
            dir.remove().await;
            return Err(("starting the interpreter", e));
        }
    };
    let report = dir.read_result("result.json", 64 << 10);
    dir.remove().await;
    let (verdict, detail) = classify(kind, &out, report.as_deref(), req.limits.wall);
    Ok(Judged {
        verdict,
        detail: short_detail(&detail),
        isolation: out.isolation,
    })
}

/// `2 s`, `1.5 s`.
pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// Turns a finished run (and the harness report, if any) into a verdict.
pub(crate) fn classify(
    kind: &HarnessKind,
    out: &RunOutput,
    report: Option<&str>,
    wall: Duration,
) -> (Verdict, String) {
    if out.output_overflow {
        return (
            Verdict::Crashed,
            format!(
                "output limit exceeded ({} bytes written, killed)",
                out.output_bytes
            ),
        );
    }
    if out.timed_out {
        return (
            Verdict::Timeout,
            format!("time limit {} exceeded", seconds(wall)),
        );
    }
    if let Some(report) = report.and_then(|r| serde_json::from_str::<HarnessReport>(r).ok()) {
        return from_report(report);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let Some(status) = out.status else {
        return (
            Verdict::Crashed,
            "the process could not be waited for".into(),
        );
    };
    if let Some(sig) = status.signal() {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {sig}"));
        return match name.as_str() {
            "SIGXCPU" => (Verdict::Timeout, "CPU time limit exceeded (SIGXCPU)".into()),
            "SIGXFSZ" => (
                Verdict::Crashed,
                "file size limit exceeded (SIGXFSZ)".into(),
            ),
            _ if (kind.memory_hint)(&stderr) => (Verdict::Crashed, "memory limit".into()),
            _ => (Verdict::Crashed, format!("killed by {name}")),
        };
    }
    if (kind.memory_hint)(&stderr) {
        return (Verdict::Crashed, "memory limit".into());
    }
    let code = status.code().unwrap_or(-1);
    let line = last_line(&out.stderr);
    if line.is_empty() {
        (
            Verdict::Crashed,
            format!("exit code {code} without a test result"),
        )
    } else {
        (Verdict::Crashed, format!("exit code {code}: {line}"))
    }
}

fn from_report(r: HarnessReport) -> (Verdict, String) {
    let verdict = match r.verdict.as_str() {
        "passed" => Verdict::Passed,
        "tests_failed" => Verdict::TestsFailed,
        "syntax_error" => Verdict::SyntaxError,
        "crashed" => Verdict::Crashed,
        other => {
            return (
                Verdict::Crashed,
                format!("unexpected harness verdict '{other}'"),
            );
        }
    };
    let detail = match (verdict, r.index, r.test) {
        (Verdict::Passed, _, _) if r.total == 1 => "1 test passed".to_string(),
        (Verdict::Passed, _, _) => format!("{} tests passed", r.total),
        (Verdict::Crashed, Some(i), Some(test)) => {
            format!(
                "{} in test {}/{}: {}",
                r.detail,
                i + 1,
                r.total,
                test.trim()
            )
        }
        (_, Some(i), Some(test)) => {
            let mut d = format!("test {}/{}: {}", i + 1, r.total, test.trim());
            if !r.detail.is_empty() {
                d.push_str(" -> ");
                d.push_str(&r.detail);
            }
            d
        }
        _ => r.detail,
    };
    (verdict, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_output(status: i32, stderr: &str) -> RunOutput {
        RunOutput {
            pid: 1,
            status: Some(std::process::ExitStatus::from_raw(status)),
            timed_out: false,
            output_overflow: false,
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            output_bytes: stderr.len(),
            elapsed: Duration::from_millis(5),
            sweep: None,
            isolation: Isolation::NONE,
        }
    }

    const PY: &HarnessKind = &python::HARNESS;
    const WALL: Duration = Duration::from_secs(2);

    #[test]
    fn report_verdicts() {
        let out = run_output(0, "");
        let r = r#"{"verdict":"tests_failed","detail":"","index":1,"total":3,"test":"assert f(2) == 4"}"#;
        assert_eq!(
            classify(PY, &out, Some(r), WALL),
            (Verdict::TestsFailed, "test 2/3: assert f(2) == 4".into())
        );
        let r = r#"{"verdict":"tests_failed","detail":"ZeroDivisionError: division by zero","index":0,"total":1,"test":"assert f(0) == 1"}"#;
        assert_eq!(
            classify(PY, &out, Some(r), WALL).1,
            "test 1/1: assert f(0) == 1 -> ZeroDivisionError: division by zero"
        );
        let r = r#"{"verdict":"passed","detail":"","index":null,"total":4,"test":null}"#;
        assert_eq!(
            classify(PY, &out, Some(r), WALL),
            (Verdict::Passed, "4 tests passed".into())
        );
        let r = r#"{"verdict":"syntax_error","detail":"line 2: invalid syntax","total":4}"#;
        assert_eq!(classify(PY, &out, Some(r), WALL).0, Verdict::SyntaxError);
        let r = r#"{"verdict":"crashed","detail":"memory limit","index":0,"total":2,"test":"assert f()"}"#;
        assert_eq!(
            classify(PY, &out, Some(r), WALL),
            (
                Verdict::Crashed,
                "memory limit in test 1/2: assert f()".into()
            )
        );
        let r = r#"{"verdict":"weird"}"#;
        assert_eq!(classify(PY, &out, Some(r), WALL).0, Verdict::Crashed);
    }

    #[test]
    fn limits_win_over_reports() {
        let mut out = run_output(0, "");
        out.timed_out = true;
        let pass = r#"{"verdict":"passed","total":1}"#;
        assert_eq!(
            classify(PY, &out, Some(pass), WALL),
            (Verdict::Timeout, "time limit 2 s exceeded".into())
        );
        out.output_overflow = true;
        assert_eq!(classify(PY, &out, Some(pass), WALL).0, Verdict::Crashed);
    }

    #[test]
    fn statuses_without_report() {
        // Raw wait statuses: a signal number, or the exit code shifted by 8.
        let xcpu = run_output(nix::sys::signal::Signal::SIGXCPU as i32, "");
        assert_eq!(classify(PY, &xcpu, None, WALL).0, Verdict::Timeout);
        let segv = run_output(nix::sys::signal::Signal::SIGSEGV as i32, "");
        assert_eq!(
            classify(PY, &segv, None, WALL),
            (Verdict::Crashed, "killed by SIGSEGV".into())
        );
        let mem = run_output(1 << 8, "Traceback...\nMemoryError\n");
        assert_eq!(
            classify(PY, &mem, None, WALL),
            (Verdict::Crashed, "memory limit".into())
        );
        let exit = run_output(3 << 8, "boom\n\n");
        assert_eq!(
            classify(PY, &exit, None, WALL),
            (Verdict::Crashed, "exit code 3: boom".into())
        );
        let quiet = run_output(0, "");
        assert_eq!(
            classify(PY, &quiet, Some("not json"), WALL).0,
            Verdict::Crashed
        );
    }

    #[test]
    fn seconds_format() {
        assert_eq!(seconds(Duration::from_secs(5)), "5 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
