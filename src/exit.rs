//! Exit codes (documented in the README; asserted by tests) and the error
//! type that carries one to `main`.

use std::fmt;

/// Everything went as asked.
pub const OK: i32 = 0;
/// The run finished but a check failed (rotate-test thresholds).
pub const CHECKS_FAILED: i32 = 1;
/// Bad input: flags, registry, suite or scenario files.
pub const INPUT: i32 = 2;
/// The environment: authentication, network, a missing tool.
pub const ENVIRONMENT: i32 = 3;
/// Interrupted by SIGINT/SIGTERM; finished work is on disk.
pub const INTERRUPTED: i32 = 130;

/// An error that knows its exit code. Anything else reaching `main` exits 1.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::error_text(&self.error))
    }
}

impl std::error::Error for Failure {}

impl Failure {
    pub fn input(error: impl Into<anyhow::Error>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            code: INPUT,
            error: error.into(),
        })
    }
    pub fn environment(error: impl Into<anyhow::Error>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            code: ENVIRONMENT,
            error: error.into(),
        })
    }
    pub fn checks(error: impl Into<anyhow::Error>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            code: CHECKS_FAILED,
            error: error.into(),
        })
    }
}

/// The exit code for an error: the innermost [`Failure`] in its chain, else 1.
pub fn code_of(error: &anyhow::Error) -> i32 {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>().map(|f| f.code))
        .unwrap_or(CHECKS_FAILED)
}

/// Extension to tag a result's error with an exit code.
pub trait ResultExt<T> {
    fn input_err(self) -> anyhow::Result<T>;
    fn env_err(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn input_err(self) -> anyhow::Result<T> {
        self.map_err(Failure::input)
    }
    fn env_err(self) -> anyhow::Result<T> {
        self.map_err(Failure::environment)
    }
}
