//! The model registry (`registry.yaml`): providers, speed tiers, the rotation policy,
//! CI thresholds and the models with their last measured figures.
//!
//! [`Registry::load`] parses and validates the file; every problem is a
//! [`LoadError`] with `file:line:column` and a hint. The types here are the parsed,
//! validated form the rest of rotor uses. Writing the file back is not done here.

mod check;
pub mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::diag::{self, LoadError};

/// Where rotor looks for the registry unless `--registry` says otherwise.
pub const DEFAULT_REGISTRY_PATH: &str = "registry.yaml";

/// The registry format version this build reads.
pub const REGISTRY_VERSION: u32 = 1;

/// The repository's registry.yaml, built into the binary so rotor works anywhere.
const EMBEDDED_REGISTRY: &str = include_str!("../registry.yaml");

/// The `source` of the embedded registry.
pub const EMBEDDED_REGISTRY_SOURCE: &str = "embedded:registry.yaml";

/// A loaded, validated registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Format version; must be [`REGISTRY_VERSION`].
    pub version: u32,
    /// Providers by name (the name models refer to).
    pub providers: BTreeMap<String, Provider>,
    /// Speed tiers, fastest first.
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub rotation: Rotation,
    #[serde(default)]
    pub ci: CiThresholds,
    /// Models in file order.
    pub models: Vec<Model>,
    /// Where the registry came from (a path, or [`EMBEDDED_REGISTRY_SOURCE`]).
    #[serde(skip)]
    pub source: PathBuf,
}

/// One OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The key of this provider in `providers:` (filled in by the loader).
    #[serde(skip)]
    pub name: String,
    pub kind: ProviderKind,
    /// Base URL up to and including `/v1` (requests go to `{base_url}/chat/completions`).
    pub base_url: String,
    /// Name of the environment variable holding the API key; `None` for servers that
    /// need none (a local Ollama or llama.cpp server).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Extra headers sent with each request (OpenRouter: `HTTP-Referer`, `X-Title`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Known request limits, so rotor can wait instead of spending requests on 429s.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Whether the provider's `GET /models` reports prices (so free models can be told
    /// from paid ones by price, not only by the `:free` suffix).
    #[serde(default)]
    pub pricing_known: bool,
    #[serde(default)]
    pub notes: Option<String>,
}

/// What kind of server a provider is (it decides small wire differences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openrouter,
    OpenaiCompatible,
    Ollama,
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
    Litellm,
    Vllm,
}

/// A provider's request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute, at least 1.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Requests per day, at least 1.
    #[serde(default)]
    pub per_day: Option<u32>,
    /// Which of the provider's models the limits count (OpenRouter: `:free` models,
    /// account-wide).
    #[serde(default)]
    pub applies_to: LimitScope,
    /// When the daily count resets, in UTC.
    #[serde(default)]
    pub day_reset: DayReset,
}

/// Which models a provider's limits apply to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitScope {
    /// Only `:free` models, sharing one account-wide budget.
    Free,
    /// Every model of the provider.
    #[default]
    All,
}

/// A time of day in UTC, written `"HH:MMZ"` (default `"00:00Z"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DayReset {
    pub hour: u8,
    pub minute: u8,
}

impl DayReset {
    /// Seconds after midnight UTC.
    pub fn seconds_after_midnight(self) -> u32 {
        u32::from(self.hour) * 3600 + u32::from(self.minute) * 60
    }
}

impl FromStr for DayReset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid day_reset '{}'", s.escape_debug());
        let body = s.strip_suffix('Z').ok_or_else(bad)?;
        let (h, m) = body.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour: u8 = h.parse().map_err(|_| bad())?;
        let minute: u8 = m.parse().map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(DayReset { hour, minute })
    }
}

impl TryFrom<String> for DayReset {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DayReset> for String {
    fn from(r: DayReset) -> String {
        r.to_string()
    }
}

impl fmt::Display for DayReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}Z", self.hour, self.minute)
    }
}

/// A speed tier: models whose p50 latency is below `max_p50_ms` (and not in a faster
/// tier) belong to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Identifier models refer to (`tier1`).
    pub name: String,
    /// Human label (`ultra-fast`).
    pub label: String,
    /// Exclusive upper bound of the p50 latency, in milliseconds.
    pub max_p50_ms: u64,
}

/// How the rotation engine chooses the model for each attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Lowest expected time to a good answer, preferring chain order within a margin.
    #[default]
    Adaptive,
    /// On a 429, move to the next model at once.
    FallbackFirst,
    /// Wait the server's time on the primary up to `max_wait_s`, then fall back.
    WaitFirst,
}

impl Policy {
    /// Every policy, in the order they are documented.
    pub const ALL: [Policy; 3] = [Policy::Adaptive, Policy::FallbackFirst, Policy::WaitFirst];

    /// The kebab-case name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Adaptive => "adaptive",
            Policy::FallbackFirst => "fallback-first",
            Policy::WaitFirst => "wait-first",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy name that is not one of [`Policy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rotation policy '{name}': use one of adaptive, fallback-first, wait-first")]
pub struct UnknownPolicy {
    pub name: String,
}

impl FromStr for Policy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| UnknownPolicy {
                name: s.escape_debug().to_string(),
            })
    }
}

/// Rotation settings (`rotation:`); every field has the seeds' default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rotation {
    pub policy: Policy,
    /// The explicit fallback chain (model ids, primary first); `None`: verified models
    /// by tier, then file order.
    pub order: Option<Vec<String>>,
    /// `wait-first`: the longest wait on the primary before falling back, seconds.
    pub max_wait_s: f64,
    /// Deadline of one prompt across all attempts and hops, seconds.
    pub deadline_s: f64,
    pub backoff: Backoff,
    pub breaker: Breaker,
    /// `adaptive`: keep chain order while the earlier model's expected time is within
    /// this fraction of the best one (0.2 = 20%).
    pub adaptive_margin: f64,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            policy: Policy::Adaptive,
            order: None,
            max_wait_s: 300.0,
            deadline_s: 120.0,
            backoff: Backoff::default(),
            breaker: Breaker::default(),
            adaptive_margin: 0.2,
        }
    }
}

impl Rotation {
    /// [`Rotation::max_wait_s`] as a duration.
    pub fn max_wait(&self) -> Duration {
        secs(self.max_wait_s)
    }

    /// [`Rotation::deadline_s`] as a duration.
    pub fn deadline(&self) -> Duration {
        secs(self.deadline_s)
    }
}

/// Exponential backoff with full jitter: `sleep = rand(0, min(cap, base * factor^n))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    pub base_s: f64,
    pub cap_s: f64,
    pub factor: f64,
    /// Retries per prompt, kept across fallback hops.
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_s: 1.0,
            cap_s: 60.0,
            factor: 2.0,
            max_retries: 5,
        }
    }
}

impl Backoff {
    /// The first delay's upper bound.
    pub fn base(&self) -> Duration {
        secs(self.base_s)
    }

    /// The largest delay.
    pub fn cap(&self) -> Duration {
        secs(self.cap_s)
    }
}

/// Circuit breaker: open after `failures` consecutive failures, half-open after
/// `cooldown_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Breaker {
    pub failures: u32,
    pub cooldown_s: f64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            failures: 5,
            cooldown_s: 30.0,
        }
    }
}

impl Breaker {
    /// [`Breaker::cooldown_s`] as a duration.
    pub fn cooldown(&self) -> Duration {
        secs(self.cooldown_s)
    }
}

/// Thresholds `rotor rotate-test` checks (exit code 1 when one is missed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CiThresholds {
    /// Fraction of prompts that must end in a valid answer (the seeds' "> 95%").
    pub min_success_rate: f64,
    pub max_p95_ms: Option<u64>,
    /// Largest fraction of prompts answered by a model other than the primary.
    pub max_fallback_rate: Option<f64>,
}

impl Default for CiThresholds {
    fn default() -> Self {
        CiThresholds {
            min_success_rate: 0.95,
            max_p95_ms: None,
            max_fallback_rate: None,
        }
    }
}

/// Where a model stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Measured and passing: part of the default chain.
    Verified,
    /// Listed but not (yet) measured or not passing the gate; may be probed.
    Candidate,
    /// Does not work for this use (bad requests, wrong output format).
    Incompatible,
    /// Gone from the provider or deliberately dropped.
    Retired,
}

impl Status {
    /// Verified or candidate.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Verified | Status::Candidate)
    }

    /// The kebab-case name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Candidate => "candidate",
            Status::Incompatible => "incompatible",
            Status::Retired => "retired",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One model of one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The id sent as `model` in requests (`meta-llama/llama-3.3-8b-instruct:free`).
    pub id: String,
    /// A key of `providers:`.
    pub provider: String,
    pub status: Status,
    /// A tier name; required unless the model is incompatible or retired.
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub context_length: Option<u64>,
    #[serde(default)]
    pub family: Option<String>,
    /// Emits reasoning before the answer (slower first token; may need more tokens).
    #[serde(default)]
    pub reasoning: bool,
    #[serde(default)]
    pub stats: Option<Stats>,
    #[serde(default)]
    pub notes: Option<String>,
}

impl Model {
    /// An OpenRouter free variant (the id ends with `:free`).
    pub fn is_free(&self) -> bool {
        self.id.ends_with(":free")
    }

    /// The last measured p50 latency, if any.
    pub fn p50_ms(&self) -> Option<u64> {
        self.stats.as_ref().and_then(|s| s.p50_ms)
    }
}

/// Last measured figures of a model, and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    #[serde(default)]
    pub p50_ms: Option<u64>,
    /// Fraction of requests that succeeded, 0..=1.
    #[serde(default)]
    pub success_rate: Option<f64>,
    /// Number of requests the figures come from.
    #[serde(default)]
    pub samples: Option<u64>,
    #[serde(default)]
    pub measured: Option<NaiveDate>,
    /// Where the figures come from (a run id, or a document).
    pub source: String,
}

impl Registry {
    /// Reads and validates a registry file.
    pub fn load(path: &Path) -> Result<Registry, LoadError> {
        let text = diag::read_text(path)?;
        Registry::from_str(&text, path)
    }

    /// Parses and validates registry text; `path` is used in error messages and kept
    /// as [`Registry::source`].
    pub fn from_str(text: &str, path: &Path) -> Result<Registry, LoadError> {
        check::parse(text, path)
    }

    /// The registry built into the binary (the repository's registry.yaml).
    pub fn embedded() -> Result<Registry, LoadError> {
        Registry::from_str(EMBEDDED_REGISTRY, Path::new(EMBEDDED_REGISTRY_SOURCE))
    }

    /// The text of the embedded registry (to write a starting file for a user).
    pub fn embedded_text() -> &'static str {
        EMBEDDED_REGISTRY
    }

    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The provider with this name.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name)
    }

    /// The provider a model belongs to.
    pub fn provider_of(&self, model: &Model) -> Option<&Provider> {
        self.provider(&model.provider)
    }

    /// The tier with this name.
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }

    /// Verified and candidate models, in file order.
    pub fn active_models(&self) -> Vec<&Model> {
        self.models
            .iter()
            .filter(|m| m.status.is_active())
            .collect()
    }

    /// The fallback chain, primary first: `rotation.order` when set, else the verified
    /// models by tier, then file position.
    pub fn chain(&self) -> Vec<&Model> {
        if let Some(order) = &self.rotation.order {
            return order.iter().filter_map(|id| self.model(id)).collect();
        }
        let tier_index = |m: &Model| {
            m.tier
                .as_deref()
                .and_then(|t| self.tiers.iter().position(|x| x.name == t))
                .unwrap_or(usize::MAX)
        };
        let mut chain: Vec<&Model> = self
            .models
            .iter()
            .filter(|m| m.status == Status::Verified)
            .collect();
        // A stable sort keeps file order within a tier.
        chain.sort_by_key(|m| tier_index(m));
        chain
    }

    /// The fastest tier whose bound is above `p50_ms`; `None` when slower than all.
    pub fn tier_for_latency(&self, p50_ms: u64) -> Option<&Tier> {
        self.tiers.iter().find(|t| p50_ms < t.max_p50_ms)
    }
}

/// Seconds as a duration without panicking (validation keeps them finite and positive).
fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for p in Policy::ALL {
            assert_eq!(p.to_string().parse::<Policy>().unwrap(), p);
        }
        assert_eq!("wait-first".parse::<Policy>().unwrap(), Policy::WaitFirst);
        let e = "fast".parse::<Policy>().unwrap_err();
        assert!(
            e.to_string()
                .contains("adaptive, fallback-first, wait-first")
        );
        assert_eq!(Policy::default(), Policy::Adaptive);
    }

    #[test]
    fn day_reset_parses_hh_mm_z() {
        let r: DayReset = "00:00Z".parse().unwrap();
        assert_eq!(r, DayReset::default());
        let r: DayReset = "23:30Z".parse().unwrap();
        assert_eq!(r.seconds_after_midnight(), 23 * 3600 + 30 * 60);
        assert_eq!(r.to_string(), "23:30Z");
        for bad in ["24:00Z", "00:60Z", "0:00Z", "00:00", "midnight", ""] {
            assert!(bad.parse::<DayReset>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_never_panic() {
        assert_eq!(secs(-1.0), Duration::ZERO);
        assert_eq!(secs(f64::NAN), Duration::ZERO);
        assert_eq!(secs(1.5), Duration::from_millis(1500));
        assert_eq!(Rotation::default().max_wait(), Duration::from_secs(300));
    }
}
