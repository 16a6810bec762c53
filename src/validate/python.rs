//! Python: `solution.py` + `test_main.py` (harness.py), run as
//! `python3 -I -S -B test_main.py` (isolated mode: no user site, no
//! `PYTHON*` variables, no script directory on `sys.path`; no `site`; no
//! bytecode files). The harness compiles the answer first (a syntax error is
//! reported with its line), runs it as module `solution`, then the tests.

use std::ffi::OsString;

use super::runner::HarnessKind;
use super::sandbox::Limits;

pub(crate) static HARNESS: HarnessKind = HarnessKind {
    solution_file: "solution.py",
    harness_file: "test_main.py",
    harness_source: include_str!("harness.py"),
    args,
    memory_hint,
};

fn args(_limits: &Limits) -> Vec<OsString> {
    ["-I", "-S", "-B", "test_main.py"]
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
        "-I",
        "-S",
        "-B",
        "-c",
        "import sys; assert sys.version_info >= (3, 6); sys.stdout.write('%d.%d.%d' % sys.version_info[:3])",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}
