//! JavaScript on Node.js: `solution.js` + `test_main.js` (harness.js), run as
//! `node --max-old-space-size=<MiB> test_main.js` with the old generation at
//! half the memory budget, so a runaway answer meets V8's heap limit ("heap
//! out of memory", reported as the memory limit) before the address-space
//! limit, which is the budget plus 1 GiB for V8's reservations. Test lines use `assert` (`node:assert`); leading `export` keywords
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
    address_space,
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

/// Node reserves about 0.7 GiB of address space before running anything:
/// allow the memory budget on top of 1 GiB.
fn address_space(limits: &Limits) -> u64 {
    limits.memory_bytes.saturating_add(1 << 30)
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
