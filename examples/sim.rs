//! Runs the simulator until Ctrl-C (until `rotor sim` exists).
//!
//! `cargo run --example sim -- [SCENARIO] [SUITE] [ADDR]`: SCENARIO is a path or
//! an embedded name (default `free-tier`), SUITE an optional suite YAML path,
//! ADDR defaults to 127.0.0.1:0. The first line on stdout is the base URL.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use rotor::sim::{Scenario, SimServer};
use rotor::suite::Suite;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scenario_arg = args.next().unwrap_or_else(|| "free-tier".into());
    let scenario = match Scenario::embedded(&scenario_arg) {
        Some(s) if !Path::new(&scenario_arg).exists() => s,
        _ => Scenario::load(Path::new(&scenario_arg))?,
    };
    let suite = match args.next().filter(|s| !s.is_empty()) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
            let suite: Suite =
                serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
            Some(suite)
        }
        None => None,
    };
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .context("ADDR must be host:port")?;
    let server = SimServer::start(scenario, suite, addr).await?;
    println!("{}", server.base_url());
    std::io::stdout().flush()?;
    eprintln!(
        "simulating '{}' on {} (Ctrl-C to stop)",
        server.scenario().name,
        server.addr()
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
