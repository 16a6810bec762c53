//! The `rotor` binary: parse, set up logging, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

// mimalloc: 15-20 % less CPU per request than glibc's malloc in a probe at
// concurrency 8 (BENCHMARKS.md). Built without transparent huge pages
// ("no_thp"), which would otherwise grow the resident set in 2 MB steps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rotor::secret::install_panic_hook();
    let cli = rotor::cli::Cli::parse();
    // A batch returns freed memory at once; a run keeps it a moment for
    // reuse (src/alloc.rs).
    rotor::alloc::purge_freed_memory_after_ms(match cli.command {
        rotor::cli::Command::Report(_) => 0,
        _ => rotor::alloc::RUN_PURGE_DELAY_MS,
    });
    rotor::logging::init(cli.verbose, cli.quiet);
    let code = rotor::run(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
