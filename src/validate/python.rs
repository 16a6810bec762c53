//! Python: `solution.py` + `test_main.py` (harness.py), run as
//! `python3 -s -S -B test_main.py`: no user site directory, no `site` (so only
//! the standard library is importable), no bytecode files. Not `-I`: isolated
//! mode implies `-E`, which ignores `PYTHONHASHSEED=0` and makes set and dict
//! orders of strings differ between runs (so would verdicts); the environment
//! is rotor's own empty one anyway. The harness compiles the answer first (a
//! syntax error is reported with its line), runs it as module `solution`, then
//! the tests.

use std::ffi::OsString;

use super::runner::HarnessKind;
use super::sandbox::Limits;

pub(crate) static HARNESS: HarnessKind = HarnessKind {
    solution_file: "solution.py",
    harness_file: "test_main.py",
    harness_source: include_str!("harness.py"),
    args,
    address_space: |limits| limits.memory_bytes,
    memory_hint,
};

fn args(_limits: &Limits) -> Vec<OsString> {
    ["-s", "-S", "-B", "test_main.py"]
        .into_iter()
        .map(OsString::from)
        .collect()
}

fn memory_hint(stderr: &str) -> bool {
    stderr.contains("MemoryError") || stderr.contains("Cannot allocate memory")
}

/// Arguments that print the interpreter version (`3.11.7`) and fail on
/// Python older than 3.6.
pub(crate) fn version_args() -> Vec<OsString> {
    [
        "-s",
        "-S",
        "-B",
        "-c",
        "import sys; assert sys.version_info >= (3, 6); sys.stdout.write('%d.%d.%d' % sys.version_info[:3])",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}
