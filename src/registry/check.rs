//! Parsing and validation of registry.yaml.
//!
//! The file is parsed twice: once into the public types (strict: unknown fields are
//! errors), once into the lenient `*Locs` mirrors below, which keep the location of each
//! value a semantic check may need to point at.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{REGISTRY_VERSION, Registry, Status};
use crate::diag::{self, LoadError, Pos};

/// Hints for wrongly typed values, by key.
const KEY_HINTS: &[(&str, &str)] = &[
    ("version", "write 'version: 1'"),
    ("p50_ms", "a whole number of milliseconds, e.g. 880"),
    ("max_p50_ms", "a whole number of milliseconds, e.g. 2000"),
    ("max_p95_ms", "a whole number of milliseconds, e.g. 20000"),
    ("success_rate", "a fraction between 0 and 1, e.g. 0.95"),
    ("min_success_rate", "a fraction between 0 and 1, e.g. 0.95"),
    ("max_fallback_rate", "a fraction between 0 and 1, e.g. 0.15"),
    ("adaptive_margin", "a fraction between 0 and 1, e.g. 0.2"),
    ("samples", "a whole number of requests, e.g. 20"),
    ("measured", "a date written YYYY-MM-DD, e.g. 2025-10-25"),
    ("per_minute", "a whole number of requests, at least 1"),
    ("per_day", "a whole number of requests, at least 1"),
    ("context_length", "a whole number of tokens, e.g. 131072"),
    ("max_retries", "a whole number of retries, e.g. 5"),
    ("failures", "a whole number of consecutive failures, e.g. 5"),
    ("max_wait_s", "a number of seconds, e.g. 300"),
    ("deadline_s", "a number of seconds, e.g. 120"),
    ("base_s", "a number of seconds, e.g. 1 or 0.5"),
    ("cap_s", "a number of seconds, e.g. 60"),
    ("cooldown_s", "a number of seconds, e.g. 30"),
    ("factor", "a number of at least 1, e.g. 2"),
    ("reasoning", "true or false"),
    ("pricing_known", "true or false"),
    (
        "day_reset",
        "a UTC time written \"HH:MMZ\" (quoted), e.g. \"00:00Z\"",
    ),
    (
        "policy",
        "use one of: adaptive, fallback-first, wait-first (adaptive is the default)",
    ),
    (
        "status",
        "use one of: verified, candidate, incompatible, retired",
    ),
    (
        "kind",
        "use one of: openrouter, openai-compatible, ollama, llama.cpp, litellm, vllm",
    ),
    (
        "applies_to",
        "use 'free' (account-wide budget of ':free' models) or 'all'",
    ),
];

/// The largest duration accepted anywhere in the file: one week.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

#[derive(Deserialize)]
struct RegistryLocs {
    version: Spanned<u32>,
    providers: Spanned<BTreeMap<String, Spanned<ProviderLocs>>>,
    tiers: Spanned<Vec<TierLocs>>,
    #[serde(default)]
    rotation: Option<RotationLocs>,
    #[serde(default)]
    ci: Option<CiLocs>,
    models: Spanned<Vec<ModelLocs>>,
}

#[derive(Deserialize)]
struct ProviderLocs {
    base_url: Spanned<String>,
    #[serde(default)]
    api_key_env: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    limits: Option<LimitsLocs>,
}

#[derive(Deserialize)]
struct LimitsLocs {
    #[serde(default)]
    per_minute: Option<Spanned<u32>>,
    #[serde(default)]
    per_day: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
struct TierLocs {
    name: Spanned<String>,
    max_p50_ms: Spanned<u64>,
}

#[derive(Deserialize)]
struct RotationLocs {
    #[serde(default)]
    order: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    max_wait_s: Option<Spanned<f64>>,
    #[serde(default)]
    deadline_s: Option<Spanned<f64>>,
    #[serde(default)]
    backoff: Option<BackoffLocs>,
    #[serde(default)]
    breaker: Option<BreakerLocs>,
    #[serde(default)]
    adaptive_margin: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
struct BackoffLocs {
    #[serde(default)]
    base_s: Option<Spanned<f64>>,
    #[serde(default)]
    cap_s: Option<Spanned<f64>>,
    #[serde(default)]
    factor: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
struct BreakerLocs {
    #[serde(default)]
    failures: Option<Spanned<u32>>,
    #[serde(default)]
    cooldown_s: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
struct CiLocs {
    #[serde(default)]
    min_success_rate: Option<Spanned<f64>>,
    #[serde(default)]
    max_p95_ms: Option<Spanned<u64>>,
    #[serde(default)]
    max_fallback_rate: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
struct ModelLocs {
    id: Spanned<String>,
    provider: Spanned<String>,
    status: Spanned<Status>,
    #[serde(default)]
    tier: Option<Spanned<String>>,
    #[serde(default)]
    context_length: Option<Spanned<u64>>,
    #[serde(default)]
    stats: Option<StatsLocs>,
}

#[derive(Deserialize)]
struct StatsLocs {
    #[serde(default)]
    p50_ms: Option<Spanned<u64>>,
    #[serde(default)]
    success_rate: Option<Spanned<f64>>,
    #[serde(default)]
    samples: Option<Spanned<u64>>,
}

/// Parses and validates registry text.
pub(super) fn parse(text: &str, path: &Path) -> Result<Registry, LoadError> {
    let empty_hint = "a registry needs version, providers, tiers and models; \
                      see the example in README.md or rotor's own registry.yaml";
    let mut registry: Registry = diag::parse_yaml_with_hints(text, path, KEY_HINTS)
        .map_err(|e| e.with_empty_hint(empty_hint))?;
    let locs: RegistryLocs = diag::parse_yaml_with_hints(text, path, KEY_HINTS)?;
    Checker { path }.check(&registry, &locs)?;
    registry.source = path.to_path_buf();
    for (name, provider) in &mut registry.providers {
        provider.name.clone_from(name);
    }
    Ok(registry)
}

struct Checker<'a> {
    path: &'a Path,
}

impl Checker<'_> {
    fn err<T>(
        &self,
        at: &Spanned<T>,
        what: impl Into<String>,
        hint: impl Into<String>,
    ) -> LoadError {
        LoadError::at_spanned(self.path, at, what, hint)
    }

    fn check(&self, reg: &Registry, locs: &RegistryLocs) -> Result<(), LoadError> {
        if reg.version != REGISTRY_VERSION {
            return Err(self.err(
                &locs.version,
                format!("unsupported registry version {}", reg.version),
                format!("this rotor reads 'version: {REGISTRY_VERSION}'"),
            ));
        }
        self.providers(locs)?;
        self.tiers(locs)?;
        let first_seen = self.models(reg, locs)?;
        if let Some(rotation) = &locs.rotation {
            self.rotation(reg, rotation, &first_seen)?;
        }
        if let Some(ci) = &locs.ci {
            self.ci(ci)?;
        }
        Ok(())
    }

    fn providers(&self, locs: &RegistryLocs) -> Result<(), LoadError> {
        if locs.providers.value.is_empty() {
            return Err(self.err(
                &locs.providers,
                "no providers",
                "add at least one provider, e.g. openrouter with base_url \
                 https://openrouter.ai/api/v1",
            ));
        }
        for (name, p) in &locs.providers.value {
            let p = &p.value;
            let url = p.base_url.value.trim();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                return Err(self.err(
                    &p.base_url,
                    format!("provider '{name}': base_url must be an http(s) URL"),
                    "write the URL up to /v1, e.g. https://openrouter.ai/api/v1 or \
                     http://127.0.0.1:11434/v1",
                ));
            }
            if let Some(env) = &p.api_key_env {
                // Never echo the value: a user may have pasted the key itself here.
                if !is_env_name(&env.value) {
                    return Err(self.err(
                        env,
                        format!(
                            "provider '{name}': api_key_env is not an environment variable name"
                        ),
                        "give the NAME of the variable that holds the key (e.g. \
                         OPENROUTER_API_KEY), never the key itself; omit it for servers \
                         that need no key",
                    ));
                }
            }
            for (header, value) in &p.headers {
                if header.eq_ignore_ascii_case("authorization") {
                    return Err(self.err(
                        value,
                        format!("provider '{name}': an Authorization header in the file"),
                        "remove it: rotor sends the key from api_key_env as a bearer token, \
                         and keys do not belong in files",
                    ));
                }
                let valid_name = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok();
                let valid_value = reqwest::header::HeaderValue::from_str(&value.value).is_ok();
                if !valid_name || !valid_value {
                    return Err(self.err(
                        value,
                        format!("provider '{name}': header '{}' is not a valid HTTP header", header.escape_debug()),
                        "header names are letters, digits and '-'; values are visible ASCII on one line",
                    ));
                }
            }
            if let Some(limits) = &p.limits {
                for (key, v) in [
                    ("per_minute", &limits.per_minute),
                    ("per_day", &limits.per_day),
                ] {
                    if let Some(v) = v.as_ref().filter(|v| v.value == 0) {
                        return Err(self.err(
                            v,
                            format!("provider '{name}': limits.{key} is 0"),
                            format!("give the number of requests allowed (at least 1), or remove {key} if there is no limit"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn tiers(&self, locs: &RegistryLocs) -> Result<(), LoadError> {
        let tiers = &locs.tiers.value;
        if tiers.is_empty() {
            return Err(self.err(
                &locs.tiers,
                "no tiers",
                "add tiers, fastest first, e.g. - {name: tier1, label: ultra-fast, max_p50_ms: 2000}",
            ));
        }
        let mut seen: HashMap<&str, Option<Pos>> = HashMap::new();
        for (i, tier) in tiers.iter().enumerate() {
            if let Some(first) = seen.insert(&tier.name.value, Pos::of_spanned(&tier.name)) {
                return Err(self.err(
                    &tier.name,
                    format!("duplicate tier '{}'{}", tier.name.value, first_at(first)),
                    "give each tier its own name",
                ));
            }
            if tier.max_p50_ms.value == 0 {
                return Err(self.err(
                    &tier.max_p50_ms,
                    format!("tier '{}': max_p50_ms is 0", tier.name.value),
                    "give the tier's upper bound of p50 latency in milliseconds, e.g. 2000",
                ));
            }
            if let Some(prev) = i.checked_sub(1).and_then(|j| tiers.get(j))
                && tier.max_p50_ms.value <= prev.max_p50_ms.value
            {
                return Err(self.err(
                    &tier.max_p50_ms,
                    format!(
                        "tier '{}': max_p50_ms {} is not above the previous tier's {}",
                        tier.name.value, tier.max_p50_ms.value, prev.max_p50_ms.value
                    ),
                    "list tiers fastest first, each bound larger than the one before",
                ));
            }
        }
        Ok(())
    }

    /// Checks the models; returns where each id was first written.
    fn models<'r>(
        &self,
        reg: &'r Registry,
        locs: &RegistryLocs,
    ) -> Result<HashMap<&'r str, Option<Pos>>, LoadError> {
        if reg.models.is_empty() {
            return Err(self.err(
                &locs.models,
                "no models",
                "add at least one model (id, provider, status, tier); \
                 `rotor models` lists a provider's models",
            ));
        }
        let mut first_seen: HashMap<&str, Option<Pos>> = HashMap::new();
        let tier_names: Vec<&str> = reg.tiers.iter().map(|t| t.name.as_str()).collect();
        let provider_names: Vec<&str> = reg.providers.keys().map(String::as_str).collect();
        for (model, loc) in reg.models.iter().zip(&locs.models.value) {
            let id = &model.id;
            if id.trim().is_empty() || id.chars().any(char::is_whitespace) {
                return Err(self.err(
                    &loc.id,
                    format!(
                        "model id '{}' is empty or contains whitespace",
                        id.escape_debug()
                    ),
                    "write the id exactly as the provider lists it, e.g. \
                     meta-llama/llama-3.3-8b-instruct:free",
                ));
            }
            if let Some(first) = first_seen.insert(id, Pos::of_spanned(&loc.id)) {
                return Err(self.err(
                    &loc.id,
                    format!("duplicate model '{id}'{}", first_at(first)),
                    "list each model once: merge the two entries",
                ));
            }
            if !reg.providers.contains_key(&model.provider) {
                return Err(self.err(
                    &loc.provider,
                    format!(
                        "model '{id}': unknown provider '{}'",
                        model.provider.escape_debug()
                    ),
                    format!(
                        "use one of the providers defined above: {}",
                        provider_names.join(", ")
                    ),
                ));
            }
            match (&loc.tier, model.status.is_active()) {
                (Some(tier), _) if !tier_names.contains(&tier.value.as_str()) => {
                    return Err(self.err(
                        tier,
                        format!("model '{id}': unknown tier '{}'", tier.value.escape_debug()),
                        format!(
                            "use one of the tiers defined above: {}",
                            tier_names.join(", ")
                        ),
                    ));
                }
                (None, true) => {
                    return Err(self.err(
                        &loc.status,
                        format!("model '{id}' is {} but has no tier", model.status),
                        format!(
                            "add 'tier:' with one of {} (only incompatible or retired models may omit it)",
                            tier_names.join(", ")
                        ),
                    ));
                }
                _ => {}
            }
            if let Some(c) = loc.context_length.as_ref().filter(|c| c.value == 0) {
                return Err(self.err(
                    c,
                    format!("model '{id}': context_length is 0"),
                    "give the context window in tokens, or remove the field",
                ));
            }
            if let Some(stats) = &loc.stats {
                if let Some(p) = stats.p50_ms.as_ref().filter(|p| p.value == 0) {
                    return Err(self.err(
                        p,
                        format!("model '{id}': stats.p50_ms is 0"),
                        "give the measured p50 latency in milliseconds (at least 1)",
                    ));
                }
                if let Some(s) = stats.samples.as_ref().filter(|s| s.value == 0) {
                    return Err(self.err(
                        s,
                        format!("model '{id}': stats.samples is 0"),
                        "give the number of requests measured, or remove the field",
                    ));
                }
                if let Some(rate) = &stats.success_rate {
                    self.fraction(rate, &format!("model '{id}': stats.success_rate"))?;
                }
            }
        }
        Ok(first_seen)
    }

    fn rotation(
        &self,
        reg: &Registry,
        loc: &RotationLocs,
        first_seen: &HashMap<&str, Option<Pos>>,
    ) -> Result<(), LoadError> {
        if let Some(order) = &loc.order {
            if order.value.is_empty() {
                return Err(self.err(order, "rotation.order is empty", "list model ids, primary first, or remove 'order:' to use the verified models by tier"));
            }
            let mut seen: HashMap<&str, Option<Pos>> = HashMap::new();
            for entry in &order.value {
                let id = entry.value.as_str();
                let Some(model) = reg.model(id) else {
                    return Err(self.err(
                        entry,
                        format!("rotation.order names unknown model '{}'", id.escape_debug()),
                        "add the model under 'models:' first, or check the id's spelling (ids are case-sensitive and include ':free')",
                    ));
                };
                if !model.status.is_active() {
                    let at = first_seen.get(id).copied().flatten();
                    return Err(self.err(
                        entry,
                        format!(
                            "rotation.order names model '{id}', which is {}",
                            model.status
                        ),
                        format!(
                            "remove it from the chain, or change its status{}",
                            at.map(|p| format!(" (at {p})")).unwrap_or_default()
                        ),
                    ));
                }
                if let Some(first) = seen.insert(id, Pos::of_spanned(entry)) {
                    return Err(self.err(
                        entry,
                        format!("rotation.order names '{id}' twice{}", first_at(first)),
                        "list each model once in the chain",
                    ));
                }
            }
        }
        for (key, v) in [
            ("max_wait_s", &loc.max_wait_s),
            ("deadline_s", &loc.deadline_s),
        ] {
            self.seconds(v.as_ref(), &format!("rotation.{key}"))?;
        }
        if let Some(b) = &loc.backoff {
            self.seconds(b.base_s.as_ref(), "rotation.backoff.base_s")?;
            self.seconds(b.cap_s.as_ref(), "rotation.backoff.cap_s")?;
            if let Some(f) = b
                .factor
                .as_ref()
                .filter(|f| !(1.0..=100.0).contains(&f.value))
            {
                return Err(self.err(
                    f,
                    format!("rotation.backoff.factor {} is out of range", f.value),
                    "use a factor between 1 and 100; 2 doubles each delay",
                ));
            }
            let base = b
                .base_s
                .as_ref()
                .map_or(reg.rotation.backoff.base_s, |s| s.value);
            if let Some(cap) = b.cap_s.as_ref().filter(|c| c.value < base) {
                return Err(self.err(
                    cap,
                    format!(
                        "rotation.backoff.cap_s {} is below base_s {base}",
                        cap.value
                    ),
                    "the cap is the largest delay: make it at least base_s",
                ));
            }
        }
        if let Some(b) = &loc.breaker {
            if let Some(f) = b.failures.as_ref().filter(|f| f.value == 0) {
                return Err(self.err(
                    f,
                    "rotation.breaker.failures is 0",
                    "give the number of consecutive failures that open the breaker, e.g. 5",
                ));
            }
            self.seconds(b.cooldown_s.as_ref(), "rotation.breaker.cooldown_s")?;
        }
        if let Some(m) = &loc.adaptive_margin {
            self.fraction(m, "rotation.adaptive_margin")?;
        }
        Ok(())
    }

    fn ci(&self, ci: &CiLocs) -> Result<(), LoadError> {
        if let Some(r) = &ci.min_success_rate {
            self.fraction(r, "ci.min_success_rate")?;
        }
        if let Some(r) = &ci.max_fallback_rate {
            self.fraction(r, "ci.max_fallback_rate")?;
        }
        if let Some(p) = ci.max_p95_ms.as_ref().filter(|p| p.value == 0) {
            return Err(self.err(
                p,
                "ci.max_p95_ms is 0",
                "give the largest acceptable p95 latency in milliseconds, or remove the field",
            ));
        }
        Ok(())
    }

    fn fraction(&self, v: &Spanned<f64>, what: &str) -> Result<(), LoadError> {
        if (0.0..=1.0).contains(&v.value) {
            return Ok(());
        }
        Err(self.err(
            v,
            format!("{what} {} is outside 0..1", v.value),
            "write a fraction between 0 and 1: 95% is 0.95",
        ))
    }

    fn seconds(&self, v: Option<&Spanned<f64>>, what: &str) -> Result<(), LoadError> {
        match v {
            Some(v) if !(v.value > 0.0 && v.value <= MAX_SECONDS) => Err(self.err(
                v,
                format!("{what} {} is not a positive duration", v.value),
                format!("give a number of seconds above 0 and at most {MAX_SECONDS} (a week)"),
            )),
            _ => Ok(()),
        }
    }
}

/// ` (first at 12:7)` when the position is known.
fn first_at(pos: Option<Pos>) -> String {
    pos.map(|p| format!(" (first at {p})")).unwrap_or_default()
}

/// A portable environment variable name: a letter or `_`, then letters, digits, `_`.
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}
