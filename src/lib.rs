//! rotor: benchmark, validate and rank LLM models served over OpenAI-compatible APIs.
//!
//! The binary is a thin shell around [`run`]; tests call the library directly.

/// `eprintln!` that never panics: a closed stderr (`rotor … 2>&1 | head`)
/// makes a line go nowhere instead of aborting the run (`eprintln!` panics
/// on EPIPE, and the panic hook's own write then aborts the process).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that never panics (see [`say!`]).
#[macro_export]
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod alloc;
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
    let runtime = match runtime_for(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            crate::say!("error: cannot start the async runtime: {e}");
            return exit::ENVIRONMENT;
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            crate::say!("error: {}", error_text(&e));
            exit::code_of(&e)
        }
    }
}

/// An error and its causes, each cause once: messages that already quote
/// their source (`cannot read {path}: {source}`, a hint after it) are not
/// followed by it again, as `{:#}` would.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// The runtime's worker threads for `command`: `None` for tokio's default
/// (one per core).
///
/// The client commands get one worker. Their HTTP side never needs more than
/// one core (a remote API answers in seconds; against the zero-delay
/// simulator one worker answers 1.2–1.3x more requests per second than two,
/// see BENCHMARKS.md): with two, prompts' tasks and their I/O wake-ups move
/// between the workers, and the second worker competes for the cores with
/// what runs beside it (the embedded simulator, which has a thread of its
/// own, the results writer, validation's subprocesses). Work that blocks
/// does not run on the worker (validation, the sink, `report`'s
/// aggregation use their own threads, `spawn_blocking` or `block_in_place`,
/// which the multi-thread runtime allows with one worker). `rotor sim`
/// serves clients from other processes and keeps one worker per core.
/// `TOKIO_WORKER_THREADS`, when set, wins (tokio's builder reads it).
pub fn worker_threads(command: &cli::Command) -> Option<usize> {
    match command {
        cli::Command::Sim(_) => None,
        _ => Some(1),
    }
}

fn runtime_for(command: &cli::Command) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = worker_threads(command)
        && std::env::var_os("TOKIO_WORKER_THREADS").is_none()
    {
        builder.worker_threads(n);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn command(argv: &[&str]) -> cli::Command {
        cli::Cli::parse_from(argv).command
    }

    #[test]
    fn an_error_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read x.yaml: {source}\n  hint: a file, not a directory")]
        struct Quoting {
            source: std::io::Error,
        }
        let io = || std::io::Error::other("it is a directory");
        let quoting = anyhow::Error::new(Quoting { source: io() });
        assert_eq!(
            error_text(&quoting),
            "cannot read x.yaml: it is a directory\n  hint: a file, not a directory"
        );
        let plain = anyhow::Error::new(io()).context("cannot open results file /tmp");
        assert_eq!(
            error_text(&plain),
            "cannot open results file /tmp: it is a directory"
        );
    }

    #[test]
    fn client_commands_run_on_one_worker_and_the_simulator_on_every_core() {
        for argv in [
            &["rotor", "probe"][..],
            &["rotor", "rotate-test"],
            &["rotor", "report", "x.jsonl"],
        ] {
            assert_eq!(worker_threads(&command(argv)), Some(1), "{argv:?}");
        }
        assert_eq!(worker_threads(&command(&["rotor", "sim"])), None);
        if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
            let rt = runtime_for(&command(&["rotor", "probe"])).unwrap();
            assert_eq!(rt.metrics().num_workers(), 1);
        }
    }
}
