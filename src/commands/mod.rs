//! One file per subcommand; each wires the parts together and nothing more.

pub mod backend;
pub mod completions;
pub mod endpoints;
pub mod models;
pub mod observer;
pub mod probe;
pub mod report;
pub mod resume;
pub mod rotate_test;
pub mod run;
pub mod sim;

use crate::cli::{Cli, Command};

/// Runs the chosen subcommand; returns the exit code.
pub async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let global = Global {
        registry: cli.registry,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Report(args) => report::run(args, &global).await,
        Command::Models(args) => models::run(args, &global).await,
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
        Command::Probe(args) => probe::run(&global, args).await,
        Command::RotateTest(args) => rotate_test::run(&global, args).await,
        Command::Sim(args) => sim::run(&global, args).await,
    }
}

/// Flags every command sees.
#[derive(Debug, Clone)]
pub struct Global {
    pub registry: std::path::PathBuf,
    pub quiet: bool,
}

/// Writes results to stdout; a closed pipe (`rotor probe | head`) is not an
/// error, any other write failure is an environment error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    stdout_result(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// Writes `value` as pretty JSON and a newline on stdout, as
/// [`print_stdout`] does, serialised straight into the pipe: a report of
/// 100,000 prompts is 45 MB of text that is never held in memory.
pub fn print_json_stdout<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| match e.io_error_kind() {
            Some(kind) => std::io::Error::new(kind, e),
            None => std::io::Error::other(e),
        })
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    stdout_result(written)
}

/// A reader that went away (`| head`) is not an error.
fn stdout_result(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(
            crate::exit::Failure::environment(anyhow::anyhow!("cannot write to stdout: {e}")),
        ),
        _ => Ok(()),
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
