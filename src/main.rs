//! The `rotor` binary: parse, set up logging, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rotor::secret::install_panic_hook();
    let cli = rotor::cli::Cli::parse();
    rotor::logging::init(cli.verbose, cli.quiet);
    let code = rotor::run(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
