//! JavaScript on Node.js: `solution.js` + `test_main.js` (harness.js), run as
//! `node --max-old-space-size=<MiB> test_main.js`, the V8 heap kept below the
//! address-space limit so running out of memory is an error rather than an
//! abort. Test lines use `assert` (`node:assert`); leading `export` keywords
//! are dropped and `module.exports` is honoured, so CommonJS and ES-module
//! style answers both run.

use std::ffi::OsString;

use super::runner::HarnessKind;
use super::sandbox::Limits;

pub(crate) static HARNESS: HarnessKind = HarnessKind {
    solution_file: "solution.js",
    harness_file: "test_main.js",
    harness_source: include_str!("harness.js"),
    args,
    memory_hint,
};

fn args(limits: &Limits) -> Vec<OsString> {
    // Half the address space for the old generation, at least 64 MiB.
    let heap_mib = (limits.memory_bytes / 2 / (1 << 20)).max(64);
    vec![
        OsString::from(format!("--max-old-space-size={heap_mib}")),
        OsString::from("test_main.js"),
    ]
}

fn memory_hint(stderr: &str) -> bool {
    stderr.contains("heap out of memory")
        || stderr.contains("allocation failed")
        || stderr.contains("Cannot allocate memory")
}

/// Arguments that print the Node.js version (`v20.20.2`).
pub(crate) fn version_args() -> Vec<OsString> {
    ["-e", "process.stdout.write(process.version)"]
        .into_iter()
        .map(OsString::from)
        .collect()
}
