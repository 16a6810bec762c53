//! Helpers for tests/validate_sandbox.rs: a shared validator, item builders
//! and small probes of the host. The hostile answers are the `.py` files here.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::signal::kill;
use nix::unistd::Pid;
use rotor::suite::SuiteItem;
use rotor::validate::{Availability, Language, ValidationResult, Validator, ValidatorConfig};
use tokio::sync::OnceCell;

/// A suite with references and broken solutions in both languages.
pub const SUITE: &str = include_str!("tiny_suite.yaml");

static VALIDATOR: OnceCell<Validator> = OnceCell::const_new();

pub async fn validator() -> &'static Validator {
    VALIDATOR
        .get_or_init(|| Validator::new(ValidatorConfig::default()))
        .await
}

/// The shared validator when `language` runs here; otherwise prints why not.
pub async fn usable(language: Language) -> Option<&'static Validator> {
    let v = validator().await;
    match v.availability(language) {
        Availability::Available { .. } => Some(v),
        Availability::Unavailable { reason } => {
            eprintln!("NOTE: skipping: {language} is unavailable here: {reason}");
            None
        }
    }
}

pub fn item(language: &str, entry: &str, tests: &[&str], timeout_s: f64) -> SuiteItem {
    SuiteItem {
        id: format!("{language}-{entry}"),
        language: language.into(),
        prompt: format!("Write {entry}."),
        entry_point: entry.into(),
        tests: tests.iter().map(|s| s.to_string()).collect(),
        reference: String::new(),
        broken: String::new(),
        max_tokens: None,
        timeout_s: Some(timeout_s),
        tags: Vec::new(),
    }
}

pub fn fenced(lang: &str, code: &str) -> String {
    format!("Here is my solution:\n\n```{lang}\n{code}\n```\n")
}

pub async fn run_py(v: &Validator, tests: &[&str], timeout_s: f64, code: &str) -> ValidationResult {
    let it = item("python", "solve", tests, timeout_s);
    v.validate(&it, &fenced("python", code)).await.unwrap()
}

/// A hostile answer from tests/hostile/ with `NAME = value` lines put first.
pub fn hostile(source: &str, constants: &[(&str, String)]) -> String {
    let mut code: String = constants
        .iter()
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect();
    code.push_str(source);
    code
}

/// A Python string literal for an ASCII path.
pub fn py_str(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

pub fn dead(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
}

/// A directory under /tmp every uid may write (for answers to leave pids in).
pub fn drop_box() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rotor-test-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

pub fn read_pids(dir: &Path, name: &str) -> Vec<i32> {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

pub fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
