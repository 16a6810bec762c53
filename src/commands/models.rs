//! `rotor models`: list a provider's models (`GET {base}/models`), mark the
//! free ones, and diff them against the registry (`--diff`; `--write` adds
//! new free models as candidates and retires gone ones).
//!
//! The diff is one provider's: the list is compared with the registry models
//! of `--provider`, else of the provider whose `base_url` is `--base-url`
//! (none: refused, exit 2), else of openrouter; new models get that provider.
//! A list served by rotor's own simulator is not written without `--simulated`.
//!
//! A model is **free** when its id ends in `:free`, when its prompt and
//! completion prices are both zero, or — without prices — when the provider
//! is a local server (Ollama, llama.cpp).

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::Global;
use crate::cli::ModelsArgs;
use crate::client::{ClientConfig, Endpoint, HttpClient, ModelsError};
use crate::exit::{Failure, ResultExt};
use crate::output::diff;
use crate::output::table::new_table;
use crate::registry::write::{ModelEdit, NewModel, RegistryEdit, apply, write_atomic};
use crate::registry::{DEFAULT_REGISTRY_PATH, ProviderKind, Registry, Status};
use crate::secret::Secret;
use crate::wire::ModelInfo;

/// Bumped whenever a field of `rotor models --json` changes meaning or disappears.
pub const MODELS_SCHEMA_VERSION: u32 = 1;

/// One listed model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listed {
    pub id: String,
    pub name: Option<String>,
    pub free: bool,
    pub context_length: Option<u64>,
    /// USD per token, as the provider lists them.
    pub pricing: Option<Pricing>,
    /// The model's status in the registry, when it is there.
    pub registry_status: Option<Status>,
}

/// Prices per token.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pricing {
    pub prompt: f64,
    pub completion: f64,
}

/// A registry model the provider no longer lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gone {
    pub id: String,
    /// `free variant ended` or `not listed any more`.
    pub reason: String,
}

/// What `--diff` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelsDiff {
    /// Free models the registry lacks.
    pub new: Vec<Listed>,
    pub gone: Vec<Gone>,
}

fn price(v: Option<&serde_json::Value>) -> Option<f64> {
    match v? {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// The listed models, sorted by id, marked free and matched to the registry.
pub fn classify(list: &[ModelInfo], registry: &Registry, local: bool) -> Vec<Listed> {
    let mut out: Vec<Listed> = list
        .iter()
        .filter(|m| !m.id.trim().is_empty())
        .map(|m| {
            let pricing = m.pricing.as_ref().and_then(|p| {
                Some(Pricing {
                    prompt: price(p.get("prompt"))?,
                    completion: price(p.get("completion"))?,
                })
            });
            let zero = pricing.is_some_and(|p| p.prompt == 0.0 && p.completion == 0.0);
            Listed {
                id: m.id.clone(),
                name: m.name.clone(),
                free: m.id.ends_with(":free") || zero || (pricing.is_none() && local),
                context_length: m.context_length,
                pricing,
                registry_status: registry.model(&m.id).map(|r| r.status),
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

/// Free models the registry lacks, and the provider's registry models that are gone.
pub fn diff_models(listed: &[Listed], registry: &Registry, provider: &str) -> ModelsDiff {
    let ids: HashSet<&str> = listed.iter().map(|m| m.id.as_str()).collect();
    let new = listed
        .iter()
        .filter(|m| m.free && m.registry_status.is_none())
        .cloned()
        .collect();
    let gone = registry
        .models
        .iter()
        .filter(|m| m.provider == provider && m.status != Status::Retired)
        .filter(|m| !ids.contains(m.id.as_str()))
        .map(|m| {
            let paid_still_listed =
                m.id.strip_suffix(":free")
                    .is_some_and(|base| ids.contains(base));
            Gone {
                id: m.id.clone(),
                reason: if paid_still_listed {
                    "free variant ended".into()
                } else {
                    "not listed any more".into()
                },
            }
        })
        .collect();
    ModelsDiff { new, gone }
}

/// The registry edit of `--write`: new free models as candidates in the
/// slowest tier (a placeholder until measured), gone ones retired and taken
/// out of `rotation.order`.
pub fn models_edit(
    d: &ModelsDiff,
    registry: &Registry,
    provider: &str,
    date: &str,
) -> RegistryEdit {
    let tier = registry
        .tiers
        .last()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let gone: HashSet<&str> = d.gone.iter().map(|g| g.id.as_str()).collect();
    let mut models = BTreeMap::new();
    for g in &d.gone {
        models.insert(
            g.id.clone(),
            ModelEdit {
                status: Some(Status::Retired),
                ..ModelEdit::default()
            },
        );
    }
    RegistryEdit {
        models,
        chain: registry.rotation.order.as_ref().map(|o| {
            o.iter()
                .filter(|id| !gone.contains(id.as_str()))
                .cloned()
                .collect()
        }),
        file_order: None,
        add: d
            .new
            .iter()
            .map(|m| NewModel {
                id: m.id.clone(),
                provider: provider.to_string(),
                status: Status::Candidate,
                tier: tier.clone(),
                context_length: m.context_length.filter(|c| *c > 0),
                notes: Some(format!("added by rotor models on {date}; not measured yet")),
            })
            .collect(),
    }
}

/// A base URL as compared with the registry's: no trailing slash, lower case.
fn same_base_url(a: &str, b: &str) -> bool {
    a.trim()
        .trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
}

/// The registry provider the listed models belong to: `--provider`, else the
/// provider whose `base_url` is `--base-url`, else openrouter (or the first
/// provider). A diff against a `--base-url` no provider serves is refused:
/// it would judge another provider's models by that server's list.
fn provider_name(args: &ModelsArgs, registry: &Registry, diff: bool) -> anyhow::Result<String> {
    let default = || {
        if registry.provider("openrouter").is_some() {
            "openrouter".to_string()
        } else {
            registry
                .providers
                .keys()
                .next()
                .cloned()
                .unwrap_or_default()
        }
    };
    if let Some(p) = &args.provider {
        return Ok(p.clone());
    }
    let Some(url) = args.base_url.as_deref() else {
        return Ok(default());
    };
    let matching: Vec<&str> = registry
        .providers
        .iter()
        .filter(|(_, p)| same_base_url(&p.base_url, url))
        .map(|(name, _)| name.as_str())
        .collect();
    let known: Vec<&str> = registry.providers.keys().map(String::as_str).collect();
    match matching.as_slice() {
        [one] => Ok((*one).to_string()),
        [] if !diff => Ok(default()),
        [] => Err(Failure::input(anyhow::anyhow!(
            "no registry provider has the base URL {url}: --diff compares a provider's list with that provider's registry models, and the registry cannot tell whose models this server lists\n  hint: pass --provider NAME (one of {}) to compare with that provider's models, or set its base_url in the registry",
            known.join(", ")
        ))),
        several => Err(Failure::input(anyhow::anyhow!(
            "several registry providers have the base URL {url}: {}\n  hint: pass --provider NAME to say which one's models to compare with",
            several.join(", ")
        ))),
    }
}

/// Runs `rotor models`.
pub async fn run(args: ModelsArgs, global: &Global) -> anyhow::Result<i32> {
    let rewrite = args.write || args.dry_run;
    // clap makes --write and --dry-run require --diff.
    let diffing = args.diff || rewrite;
    let (registry, text) = load_registry(&global.registry, rewrite)?;
    let provider_name = provider_name(&args, &registry, diffing)?;
    let provider = registry.provider(&provider_name);
    if provider.is_none() && (args.base_url.is_none() || diffing) {
        let known: Vec<&str> = registry.providers.keys().map(String::as_str).collect();
        return Err(Failure::input(anyhow::anyhow!(
            "unknown provider '{provider_name}'\n  hint: use one of {} (or --base-url URL to list any server)",
            known.join(", ")
        )));
    }
    let base_url = args
        .base_url
        .as_deref()
        .or(provider.map(|p| p.base_url.as_str()))
        .map(|u| u.trim_end_matches('/').to_string())
        .ok_or_else(|| Failure::input(anyhow::anyhow!("no provider and no --base-url")))?;
    // A provider's key and headers go only to its own server (or where
    // --provider says to send them): `--base-url` of a server no provider
    // has gets the key of --api-key-env alone, as probe's does.
    let provider_of_url = match (args.base_url.as_deref(), provider) {
        (Some(url), Some(p)) => args.provider.is_some() || same_base_url(&p.base_url, url),
        _ => true,
    };
    let credentials = provider.filter(|_| provider_of_url);
    let key_var = args
        .api_key_env
        .clone()
        .or_else(|| credentials.and_then(|p| p.api_key_env.clone()));
    let api_key = key_var
        .and_then(|v| std::env::var(v).ok())
        .filter(|k| !k.trim().is_empty())
        .map(Secret::new);
    let endpoint = Endpoint {
        base_url: base_url.clone(),
        api_key,
        headers: credentials
            .map(|p| {
                p.headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    endpoint.validate().input_err()?;
    let client = HttpClient::new(ClientConfig::default()).env_err()?;
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "--timeout must be a positive number of seconds"
            ))
        })?;
    let list = client
        .list_models(&endpoint, timeout)
        .await
        .map_err(|e| match e {
            ModelsError::InvalidRequest { .. } => Failure::input(e),
            _ => Failure::environment(anyhow::Error::new(e).context(
                "cannot list the models\n  hint: check the network, the URL (--base-url) and the key",
            )),
        })?;
    if let Some(scenario) = &list.rotor_simulator {
        if args.write && !args.dry_run && !args.simulated {
            return Err(Failure::input(anyhow::anyhow!(
                "refusing to write a simulated model list into {}: {base_url} is rotor's simulator (scenario {scenario}), whose models are its scenario's, not {provider_name}'s\n  hint: --dry-run shows the diff; --simulated writes it anyway",
                global.registry.display()
            )));
        }
        if !global.quiet {
            crate::say!(
                "note: {base_url} is rotor's simulator (scenario {scenario}): the models it lists are its scenario's, not a real provider's"
            );
        }
    }
    let local =
        provider.is_some_and(|p| matches!(p.kind, ProviderKind::Ollama | ProviderKind::LlamaCpp));
    let mut listed = classify(&list.data, &registry, local);
    let mut stdout = std::io::stdout().lock();
    let terminal = std::io::stdout().is_terminal();
    if !diffing {
        if args.free {
            listed.retain(|m| m.free);
        }
        print_list(&mut stdout, &listed, &provider_name, args.json, terminal)?;
        return Ok(crate::exit::OK);
    }
    let d = diff_models(&listed, &registry, &provider_name);
    if args.json {
        let doc = serde_json::json!({
            "schema_version": MODELS_SCHEMA_VERSION,
            "provider": provider_name,
            "new": d.new,
            "gone": d.gone,
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        print_diff(&mut stdout, &d, terminal)?;
    }
    if let (true, Some(text)) = (rewrite, text) {
        let path = &global.registry;
        let date = chrono::Utc::now().date_naive().to_string();
        let edit = models_edit(&d, &registry, &provider_name, &date);
        let new = apply(&text, path, &edit).input_err()?;
        let patch = diff::unified(&text, &new, &path.display().to_string());
        if args.json {
            crate::say_raw!("{patch}");
        } else {
            write!(stdout, "\n{patch}")?;
        }
        if args.write && !args.dry_run && !patch.is_empty() {
            write_atomic(path, &text, &new).env_err()?;
            if !global.quiet {
                crate::say!("rewrote {}", path.display());
            }
        }
    }
    stdout.flush()?;
    Ok(crate::exit::OK)
}

fn per_million(p: Option<Pricing>, f: impl Fn(Pricing) -> f64) -> String {
    match p {
        Some(p) if f(p) == 0.0 => "0".into(),
        Some(p) => format!("${:.2}/M", f(p) * 1e6),
        None => "—".into(),
    }
}

fn print_list(
    out: &mut impl Write,
    listed: &[Listed],
    provider: &str,
    json: bool,
    terminal: bool,
) -> anyhow::Result<()> {
    if json {
        let doc = serde_json::json!({
            "schema_version": MODELS_SCHEMA_VERSION,
            "provider": provider,
            "models": listed,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    let mut t = new_table(
        &[
            "model",
            "free",
            "context",
            "prompt",
            "completion",
            "registry",
        ],
        terminal,
    );
    for m in listed {
        t.add_row(vec![
            m.id.clone(),
            if m.free { "free".into() } else { String::new() },
            m.context_length
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            per_million(m.pricing, |p| p.prompt),
            per_million(m.pricing, |p| p.completion),
            m.registry_status.map(|s| s.to_string()).unwrap_or_default(),
        ]);
    }
    let free = listed.iter().filter(|m| m.free).count();
    writeln!(out, "{t}\n\n{} models, {free} free", listed.len())?;
    Ok(())
}

fn print_diff(out: &mut impl Write, d: &ModelsDiff, terminal: bool) -> anyhow::Result<()> {
    if d.new.is_empty() && d.gone.is_empty() {
        writeln!(
            out,
            "the registry is up to date with the provider's free models"
        )?;
        return Ok(());
    }
    let mut t = new_table(&["change", "model", "context", "why"], terminal);
    for m in &d.new {
        t.add_row(vec![
            "+ new".to_string(),
            m.id.clone(),
            m.context_length
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            "free, not in the registry".into(),
        ]);
    }
    for g in &d.gone {
        t.add_row(vec![
            "- gone".to_string(),
            g.id.clone(),
            "—".into(),
            g.reason.clone(),
        ]);
    }
    writeln!(out, "{t}\n\n{} new, {} gone", d.new.len(), d.gone.len())?;
    Ok(())
}

/// The registry, and its text when it must be rewritten.
fn load_registry(path: &Path, rewrite: bool) -> anyhow::Result<(Registry, Option<String>)> {
    if path == Path::new(DEFAULT_REGISTRY_PATH) && !path.exists() && !rewrite {
        return Ok((Registry::embedded().input_err()?, None));
    }
    let text = crate::diag::read_text(path)
        .with_context(|| "the registry to compare with".to_string())
        .input_err()?;
    let registry = Registry::from_str(&text, path).input_err()?;
    Ok((registry, rewrite.then_some(text)))
}
