//! `rotor sim`: the simulator as a standalone server.

use std::io::Write;

use anyhow::Context;

use super::{Global, backend, shutdown_signal};
use crate::cli::SimArgs;
use crate::exit::{self, ResultExt};
use crate::sim::SimServer;

pub async fn run(_global: &Global, args: SimArgs) -> anyhow::Result<i32> {
    let mut scenario = backend::load_scenario(&args.scenario)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if let Some(ts) = args.time_scale {
        if !(ts > 0.0 && ts.is_finite()) {
            return Err(exit::Failure::input(anyhow::anyhow!(
                "--time-scale must be a positive number, got {ts}"
            )));
        }
        scenario.time_scale = ts;
    }
    let suite = backend::load_suite(args.suite.as_deref())?;
    if !args.addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {} (not loopback): anyone who can reach it can use it",
            args.addr
        );
    }
    let name = scenario.name.clone();
    let server = SimServer::start(scenario, Some(suite), args.addr)
        .await
        .with_context(|| format!("cannot start the simulator on {}", args.addr))
        .env_err()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", server.base_url()).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    crate::say!(
        "rotor sim: scenario '{name}' on {} (stats: {}/sim/stats); Ctrl-C to stop",
        server.base_url(),
        server.base_url().trim_end_matches("/v1")
    );
    shutdown_signal().await;
    server.shutdown().await;
    Ok(exit::OK)
}
