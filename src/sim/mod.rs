//! The embedded simulator: a real OpenAI-compatible HTTP server on loopback,
//! driven by a scenario (models, latencies, rate limits, faults, outages).
//! It is `rotor probe`'s default backend without an API key and the fixture
//! of the integration tests; the official OpenAI SDKs work against it.
//!
//! Routes: `GET /v1/models`, `POST /v1/chat/completions` (stream and not),
//! `GET /sim/stats` ([`SimStats`]), `GET /sim/log` (a JSON array of
//! [`LogEntry`]), `POST /sim/reset` (clears counters, limits and the log, and
//! restarts the scenario clock), and `/sim/redirected`, the default target of
//! the `redirect` fault, which counts the clients that followed it.
//!
//! The faults ([`FaultKind`]) include a catalogue of hostile-server
//! behaviours (`fixtures/scenarios/hostile.yaml`, docs/hostile-servers.md).

mod answer;
mod body;
mod conn;
pub mod dist;
mod draw;
mod errors;
pub mod faults;
mod inject;
mod limits;
mod load;
mod model;
mod quirks;
mod respond;
pub mod scenario;
mod server;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use dist::Dist;
pub use faults::{FaultKind, Faults};
pub use load::ScenarioError;
pub use scenario::{
    Group, GroupLimits, Hints, ModelDefaults, ModelSelector, ModelSpec, Phase, Pricing, Quality,
    Scenario,
};
pub use stats::{GroupStats, LogEntry, ModelStats, SimStats};

use crate::suite::Suite;
use server::Shared;

/// How long [`SimServer::shutdown`] waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator. Dropping it shuts it down too (without waiting).
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// The simulator's own runtime, when it has one ([`SimServer::start_isolated`]).
    runtime: Option<tokio::runtime::Runtime>,
}

impl SimServer {
    /// Binds `addr` (`127.0.0.1:0` for an ephemeral port) and starts serving
    /// `scenario`; `suite` tells the simulator what the prompts ask.
    pub async fn start(
        scenario: Scenario,
        suite: Option<Suite>,
        addr: SocketAddr,
    ) -> anyhow::Result<SimServer> {
        scenario.validate()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot bind the simulator to {addr}"))?;
        let addr = listener
            .local_addr()
            .context("cannot read the simulator's bound address")?;
        let (stop, stopped) = watch::channel(false);
        let resets = scenario.can_fault(FaultKind::ResetBeforeHeaders);
        let shared = Arc::new(Shared::new(scenario, suite, stopped.clone(), addr));
        let app = server::router(Arc::clone(&shared));
        let mut signal = stopped;
        let stopping = async move {
            let _ = signal.wait_for(|s| *s).await;
        };
        // Only a scenario that resets connections before the headers needs
        // each connection's socket (see conn.rs).
        let listener = conn::Counting {
            inner: listener,
            shared: Arc::clone(&shared),
            keep_fd: resets,
        };
        let app = app.into_make_service_with_connect_info::<conn::Conn>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopping)
                .await
        });
        tracing::debug!(%addr, scenario = %shared.scenario.name, "simulator started");
        Ok(SimServer {
            addr,
            shared,
            stop,
            task: Some(task),
            runtime: None,
        })
    }

    /// Like [`SimServer::start`], but the simulator runs on a runtime of its
    /// own (one worker thread, `rotor-sim`) instead of the caller's: the
    /// embedded simulator of `probe` and `rotate-test` then neither takes
    /// turns with the client on the client's worker nor is stalled by it.
    pub async fn start_isolated(
        scenario: Scenario,
        suite: Option<Suite>,
        addr: SocketAddr,
    ) -> anyhow::Result<SimServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rotor-sim")
            .enable_all()
            .build()
            .context("cannot start the simulator's runtime")?;
        let started = runtime
            .spawn(SimServer::start(scenario, suite, addr))
            .await
            .map_err(|e| anyhow::anyhow!("the simulator did not start: {e}"));
        match started {
            Ok(Ok(mut server)) => {
                server.runtime = Some(runtime);
                Ok(server)
            }
            Ok(Err(e)) | Err(e) => {
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server did so far (same as `GET /sim/stats`).
    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }

    /// The per-request log (same as `GET /sim/log`).
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log()
    }

    /// Clears counters, limits and the log (same as `POST /sim/reset`).
    pub fn reset(&self) {
        self.shared.reset();
    }

    pub fn scenario(&self) -> &Scenario {
        &self.shared.scenario
    }

    /// Stops accepting, ends hanging and endless responses, and waits (up to
    /// a few seconds) for open connections to close.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let Some(mut task) = self.task.take() else {
            return;
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "simulator stopped with an error"),
            Ok(_) => {}
            Err(_) => {
                tracing::warn!("simulator connections still open after the grace period");
                task.abort();
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // Dropping a runtime blocks until its workers stop, which tokio
        // forbids inside async code: let them stop in the background.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
