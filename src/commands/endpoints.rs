//! Before a run, its endpoints: the pre-flight check (is each server there,
//! does it take the key, is it rotor's simulator) and the warm-up (open the
//! run's connections before its first prompt).

use std::time::Duration;

use anyhow::anyhow;

use super::backend::Plan;
use crate::cli::RunArgs;
use crate::client::{ClientConfig, ConnectCounts, Endpoint, HttpClient};
use crate::engine::Target;
use crate::exit::{Failure, ResultExt};
use crate::output::summary::JsonConnections;

/// Checks each distinct endpoint once before the run: an unreachable server or a
/// rejected key ends the run at once (exit 3) instead of after hundreds of
/// failed attempts. Targets of an unreachable local provider are dropped with a
/// note when other targets remain.
///
/// A server that says it is rotor's simulator marks the run as simulated.
pub async fn preflight(plan: &mut Plan, quiet: bool) -> anyhow::Result<Vec<Target>> {
    if plan.backend.sim.is_some() {
        return Ok(plan.targets.clone());
    }
    let client = HttpClient::new(ClientConfig::default()).env_err()?;
    let mut bases: Vec<(&str, &Endpoint)> = Vec::new();
    for t in &plan.targets {
        if !bases.iter().any(|(b, _)| *b == t.endpoint.base_url) {
            bases.push((t.endpoint.base_url.as_str(), &t.endpoint));
        }
    }
    let mut unreachable: Vec<(String, String)> = Vec::new();
    for (base, ep) in &bases {
        // A key in the URL's user info is never shown.
        let shown = crate::client::classify::display_url(base);
        match client.list_models(ep, Duration::from_secs(10)).await {
            Ok(list) => {
                if let Some(scenario) = list.rotor_simulator {
                    if !quiet {
                        crate::say!(
                            "note: {shown} is rotor's simulator (scenario {scenario}): its figures are simulated, and the records say so"
                        );
                    }
                    plan.backend.simulated = Some(scenario);
                }
            }
            Err(e) if e.is_auth() => {
                return Err(Failure::environment(anyhow!(
                    "{shown} rejected the API key (401)\n  hint: check the key in the environment variable named by the provider (or --api-key-env)"
                )));
            }
            Err(e) if e.is_unreachable() => unreachable.push((base.to_string(), e.to_string())),
            Err(_) => {} // no /models endpoint, or some other answer: the server is there
        }
    }
    let targets: Vec<Target> = plan
        .targets
        .iter()
        .filter(|t| !unreachable.iter().any(|(b, _)| *b == t.endpoint.base_url))
        .cloned()
        .collect();
    if targets.is_empty() {
        let (_, why) = &unreachable[0];
        return Err(Failure::environment(anyhow!(
            "{why}\n  hint: is the server running, and is the URL right? (--base-url, or the provider's base_url in the registry)"
        )));
    }
    for (base, why) in &unreachable {
        let why = why.as_str();
        let skipped: Vec<&str> = plan
            .targets
            .iter()
            .filter(|t| t.endpoint.base_url == *base)
            .map(|t| t.id.as_str())
            .collect();
        if !quiet {
            crate::say!("{why}: skipping {}", skipped.join(", "));
        }
    }
    Ok(targets)
}

/// Opens the run's connections before its first prompt (unless
/// `--no-warmup`): as many per endpoint as there can be requests in flight
/// (`--concurrency`, or fewer prompts), so that no prompt's TTFT or latency
/// holds a TCP or TLS handshake (see `client::warm`). Endpoints are warmed
/// at once; each request gives up after 5 s (or `--timeout` when shorter).
///
/// Returns the connections the client has opened by then.
///
/// A server that leaves some of them unanswered gets a note on stderr
/// (unless `quiet`): the run waited for them, and its first requests will
/// open connections of their own.
pub async fn warm_up(
    client: &HttpClient,
    targets: &[Target],
    args: &RunArgs,
    prompts: usize,
    quiet: bool,
) -> ConnectCounts {
    let n = args.concurrency.min(prompts);
    if args.no_warmup || n == 0 {
        return client.connects();
    }
    let timeout = Duration::from_secs_f64(args.timeout.min(5.0));
    let mut endpoints: Vec<&Endpoint> = Vec::new();
    for t in targets {
        if !endpoints.contains(&&t.endpoint) {
            endpoints.push(&t.endpoint);
        }
    }
    let done = futures_util::future::join_all(
        endpoints
            .iter()
            .map(|ep| async move { (ep.base_url.as_str(), client.warm_up(ep, n, timeout).await) }),
    )
    .await;
    for (base, w) in done {
        if w.answered < w.sent && !quiet {
            let shown = crate::client::classify::display_url(base);
            crate::say!(
                "note: {} of {} requests that open connections ahead of the run got no answer from {shown} within {}; the first requests will open their own (--no-warmup skips this step)",
                w.sent - w.answered,
                w.sent,
                crate::output::table::duration(Some(w.elapsed.as_secs_f64() * 1e3)),
            );
        }
        tracing::debug!(
            base = %crate::client::classify::display_url(base),
            sent = w.sent,
            answered = w.answered,
            ms = w.elapsed.as_secs_f64() * 1e3,
            "connections opened ahead of the run"
        );
    }
    client.connects()
}

/// The connections `client` opened before the first prompt (`warm`, what
/// [`warm_up`] returned) and since.
pub fn connections_of_run(client: &HttpClient, warm: ConnectCounts) -> JsonConnections {
    JsonConnections {
        opened_before_first_prompt: warm.opened,
        opened_during_run: client.connects().opened.saturating_sub(warm.opened),
    }
}
