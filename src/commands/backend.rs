//! Where requests go: the embedded simulator, a `--base-url`, or the registry's
//! providers — and the targets, keys and known limits that follow from it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::cli::RunArgs;
use crate::client::Endpoint;
use crate::engine::{ProviderLimits, Target};
use crate::exit::{Failure, ResultExt};
use crate::registry::{DEFAULT_REGISTRY_PATH, Registry};
use crate::secret::Secret;
use crate::sim::{Scenario, SimServer};
use crate::suite::Suite;

/// Loads a scenario by embedded name (`free-tier`, `storm`, …) or from a file.
pub fn load_scenario(name_or_path: &str) -> anyhow::Result<Scenario> {
    if let Some(s) = Scenario::embedded(name_or_path) {
        return Ok(s);
    }
    let path = Path::new(name_or_path);
    if path.exists() {
        return Scenario::load(path).input_err();
    }
    Err(Failure::input(anyhow!(
        "no scenario named '{name_or_path}' and no such file\n  hint: use one of {} or a path to a scenario YAML file",
        Scenario::embedded_names().join(", ")
    )))
}

/// The models a run uses when none are named: `default` (the registry's),
/// except with `--sim SCENARIO`, whose server answers only its scenario's
/// models: those of `default` it has, else all of the scenario's (the
/// `all-outcomes`, `hostile` and `validation` scenarios have models of their
/// own).
pub fn default_models(run: &RunArgs, default: Vec<String>) -> anyhow::Result<Vec<String>> {
    let Some(name) = &run.sim else {
        return Ok(default);
    };
    let scenario = load_scenario(name)?;
    let served: Vec<String> = default
        .into_iter()
        .filter(|id| scenario.model(id).is_some())
        .collect();
    if !served.is_empty() {
        return Ok(served);
    }
    Ok(scenario.models.iter().map(|m| m.id.clone()).collect())
}

/// Loads a suite from a file, or the embedded code-generation suite.
pub fn load_suite(path: Option<&Path>) -> anyhow::Result<Suite> {
    match path {
        Some(p) => Suite::load(p).input_err(),
        None => Suite::embedded_default().input_err(),
    }
}

/// Loads the registry; when the default `registry.yaml` is not in the current
/// directory, uses the copy built into the binary and says so.
pub fn load_registry(path: &Path) -> anyhow::Result<Registry> {
    if path == Path::new(DEFAULT_REGISTRY_PATH) && !path.exists() {
        tracing::info!("no registry.yaml here: using the registry built into rotor");
        return Registry::embedded().input_err();
    }
    Registry::load(path).input_err()
}

/// What the run talks to.
pub struct Backend {
    /// Set when the run uses the embedded simulator (it stops when dropped/shut down).
    pub sim: Option<SimServer>,
    /// For people and records: "simulator:free-tier", a base URL, or "registry".
    pub label: String,
    /// The simulator scenario answering, embedded or a `rotor sim` server found
    /// by the preflight: every record of the run says so.
    pub simulated: Option<String>,
}

/// The run's targets (one per model, in order), the known provider limits and the backend.
pub struct Plan {
    pub targets: Vec<Target>,
    pub limits: HashMap<String, ProviderLimits>,
    pub backend: Backend,
}

/// The provider name given to models probed through `--base-url` that the
/// registry does not know.
pub const CUSTOM_PROVIDER: &str = "custom";

/// Decides the backend and builds the targets for `model_ids` (already chosen).
pub async fn plan(
    run: &RunArgs,
    registry: &Registry,
    suite: &Suite,
    model_ids: &[String],
    command: &str,
    quiet: bool,
) -> anyhow::Result<Plan> {
    // Every id must be known unless --base-url says where to send it, or
    // it is a model of the scenario --sim names.
    let scenario = match &run.sim {
        Some(name) => Some(load_scenario(name)?),
        None => None,
    };
    if run.base_url.is_none() {
        for id in model_ids {
            if registry.model(id).is_none()
                && scenario.as_ref().is_none_or(|s| s.model(id).is_none())
            {
                if let Some(s) = &scenario {
                    let served: Vec<&str> = s.models.iter().map(|m| m.id.as_str()).collect();
                    return Err(Failure::input(anyhow!(
                        "unknown model '{id}': it is not in {} nor in the scenario {}\n  hint: the scenario serves {}",
                        registry.source.display(),
                        s.name,
                        served.join(", ")
                    )));
                }
                return Err(Failure::input(anyhow!(
                    "unknown model '{id}': it is not in {}\n  hint: {}use --base-url URL to probe models outside the registry",
                    registry.source.display(),
                    suggestion(registry, id)
                )));
            }
        }
    }

    let key_var = first_key_var(registry, model_ids);
    let use_sim = run.sim.is_some()
        || (run.base_url.is_none()
            && key_var
                .as_deref()
                .is_some_and(|v| std::env::var_os(v).is_none_or(|x| x.is_empty())));

    if use_sim {
        let scenario_name = run.sim.as_deref().unwrap_or("free-tier");
        let mut scenario = match scenario {
            Some(s) => s,
            None => load_scenario(scenario_name)?,
        };
        if let Some(seed) = run.seed {
            scenario.seed = seed;
        }
        if run.sim.is_none() && !quiet {
            crate::say!(
                "{} is not set: {command} runs against the embedded simulator (scenario {scenario_name}, fixtures/scenarios/{scenario_name}.yaml); set it to measure the real models",
                key_var.as_deref().unwrap_or("the API key")
            );
        }
        let limits_by_group: HashMap<String, ProviderLimits> = registry
            .providers
            .iter()
            .filter_map(|(name, p)| {
                let free_only = p
                    .limits
                    .as_ref()
                    .is_some_and(|l| l.applies_to == crate::registry::LimitScope::Free);
                scenario
                    .group_limits(name)
                    .map(|g| (name.clone(), sim_limits(&g, free_only)))
            })
            .collect();
        // On a runtime of its own: see SimServer::start_isolated.
        let server =
            SimServer::start_isolated(scenario, Some(suite.clone()), "127.0.0.1:0".parse()?)
                .await
                .context("cannot start the embedded simulator")
                .env_err()?;
        let endpoint = Endpoint {
            base_url: server.base_url(),
            api_key: None,
            headers: Vec::new(),
        };
        let targets = model_ids
            .iter()
            .map(|id| target_for(registry, id, endpoint.clone()))
            .collect();
        let label = format!("simulator:{scenario_name}");
        let simulated = server.scenario().name.clone();
        return Ok(Plan {
            targets,
            limits: limits_by_group,
            backend: Backend {
                sim: Some(server),
                label,
                simulated: Some(simulated),
            },
        });
    }

    if let Some(base) = &run.base_url {
        let base = normalise_base_url(base)?;
        let api_key = match &run.api_key_env {
            Some(var) => Some(read_key(var)?),
            None => None,
        };
        let endpoint = Endpoint {
            base_url: base.clone(),
            api_key,
            headers: Vec::new(),
        };
        let targets = model_ids
            .iter()
            .map(|id| target_for(registry, id, endpoint.clone()))
            .collect();
        return Ok(Plan {
            targets,
            limits: HashMap::new(),
            backend: Backend {
                sim: None,
                // What the run prints and records as its backend: without
                // a key in the URL's user info.
                label: crate::client::classify::display_url(&base)
                    .trim_end_matches('/')
                    .to_string(),
                simulated: None,
            },
        });
    }

    // The registry's providers.
    let mut endpoints: HashMap<String, Endpoint> = HashMap::new();
    let mut limits = HashMap::new();
    let mut targets = Vec::new();
    for id in model_ids {
        let Some(model) = registry.model(id) else {
            continue;
        };
        let provider = registry
            .provider(&model.provider)
            .ok_or_else(|| Failure::input(anyhow!("model '{id}' names unknown provider")))?;
        if !endpoints.contains_key(&model.provider) {
            let api_key = match &provider.api_key_env {
                Some(var) => Some(read_key(var)?),
                None => None,
            };
            endpoints.insert(
                model.provider.clone(),
                Endpoint {
                    base_url: provider.base_url.trim_end_matches('/').to_string(),
                    api_key,
                    headers: provider
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                },
            );
            if let Some(l) = &provider.limits {
                limits.insert(model.provider.clone(), real_limits(l));
            }
        }
        targets.push(target_for(registry, id, endpoints[&model.provider].clone()));
    }
    Ok(Plan {
        targets,
        limits,
        backend: Backend {
            sim: None,
            label: "registry".into(),
            simulated: None,
        },
    })
}

fn target_for(registry: &Registry, id: &str, endpoint: Endpoint) -> Target {
    match registry.model(id) {
        Some(m) => Target {
            id: m.id.clone(),
            provider: m.provider.clone(),
            endpoint,
            context_length: m.context_length,
            free: m.is_free(),
            prior_latency_ms: m.stats.as_ref().and_then(|s| s.p50_ms).map(|x| x as f64),
            prior_success: m.stats.as_ref().and_then(|s| s.success_rate),
        },
        None => Target {
            id: id.to_string(),
            provider: CUSTOM_PROVIDER.into(),
            endpoint,
            context_length: None,
            free: id.ends_with(":free"),
            prior_latency_ms: None,
            prior_success: None,
        },
    }
}

/// The key variable of the first selected model whose provider needs one.
fn first_key_var(registry: &Registry, model_ids: &[String]) -> Option<String> {
    model_ids
        .iter()
        .filter_map(|id| registry.model(id))
        .filter_map(|m| registry.provider(&m.provider))
        .find_map(|p| p.api_key_env.clone())
}

fn read_key(var: &str) -> anyhow::Result<Secret> {
    let key = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        Ok(v) if !v.is_empty() => {
            return Err(Failure::environment(anyhow!(
                "the environment variable {var} holds only white space (it should hold the API key)\n  hint: export {var}=... or choose another variable with --api-key-env"
            )));
        }
        Ok(_) => {
            return Err(Failure::environment(anyhow!(
                "the environment variable {var} is empty (it should hold the API key)\n  hint: export {var}=... or choose another variable with --api-key-env"
            )));
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Failure::environment(anyhow!(
                "the environment variable {var} is not valid UTF-8, so it cannot be an API key\n  hint: set it again from the provider's page (a key is plain ASCII)"
            )));
        }
        Err(std::env::VarError::NotPresent) => {
            return Err(Failure::environment(anyhow!(
                "the environment variable {var} is not set (it should hold the API key)\n  hint: export {var}=... or choose another variable with --api-key-env"
            )));
        }
    };
    // Every request would fail on it, and the models would be blamed.
    if crate::client::bearer(&key).is_err() {
        return Err(Failure::environment(anyhow!(
            "the environment variable {var} holds a character that cannot go in an HTTP header (a control character or a pasted line break?), so no request could carry it\n  hint: set it again from the provider's page (a key is plain ASCII)"
        )));
    }
    Ok(Secret::new(key))
}

fn normalise_base_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(Failure::input(anyhow!(
            "--base-url must start with http:// or https://, got '{url}'\n  hint: for example http://127.0.0.1:11434/v1"
        )));
    }
    Ok(trimmed.to_string())
}

fn suggestion(registry: &Registry, id: &str) -> String {
    let needle = id.to_lowercase();
    let stem = needle
        .split(['/', ':'])
        .find(|s| s.len() >= 3)
        .unwrap_or(&needle);
    let close: Vec<&str> = registry
        .models
        .iter()
        .map(|m| m.id.as_str())
        .filter(|m| m.to_lowercase().contains(stem))
        .take(3)
        .collect();
    if close.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? Or ", close.join(", "))
    }
}

/// Limits of the registry for a real provider: minutes and days of wall-clock
/// time, the day resetting at 00:00 UTC.
fn real_limits(l: &crate::registry::Limits) -> ProviderLimits {
    let now = chrono::Utc::now();
    let tomorrow = (now + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc());
    let until_midnight = tomorrow
        .and_then(|t| (t - now).to_std().ok())
        .unwrap_or(Duration::from_secs(86_400));
    ProviderLimits {
        per_window: l.per_minute,
        window: Duration::from_secs(60),
        per_day: l.per_day,
        day: Duration::from_secs(86_400),
        first_reset: Some(tokio::time::Instant::now() + until_midnight),
        applies_to_free_only: l.applies_to == crate::registry::LimitScope::Free,
    }
}

/// Limits of a simulated account (the simulator's group of the provider's
/// name): its minute and day are already scaled by the scenario's time_scale.
/// Whether they count only free models follows the registry's provider.
fn sim_limits(g: &crate::sim::GroupLimits, applies_to_free_only: bool) -> ProviderLimits {
    ProviderLimits {
        per_window: g.per_minute,
        window: g.minute,
        per_day: g.per_day,
        day: g.day,
        first_reset: None,
        applies_to_free_only,
    }
}
