//! rotor: benchmark, validate and rank LLM models served over OpenAI-compatible APIs.
//!
//! The binary is a thin shell around [`run`]; tests call the library directly.

pub mod cli;
pub mod client;
pub mod commands;
pub mod diag;
pub mod engine;
pub mod exit;
pub mod logging;
pub mod output;
pub mod rank;
pub mod record;
pub mod registry;
pub mod report;
pub mod secret;
pub mod sim;
pub mod stats;
pub mod suite;
pub mod validate;
pub mod wire;

/// Runs a parsed command line and returns the process exit code. Errors are
/// printed on stderr (never with a backtrace), and mapped to the documented codes.
pub fn run(cli: cli::Cli) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ENVIRONMENT;
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code_of(&e)
        }
    }
}
