//! The scenario: what the simulated account, its models and their faults look
//! like. Loaded from YAML (`fixtures/scenarios/*.yaml`); see `load.rs` for
//! parsing, validation and the error messages.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::sim::dist::Dist;
use crate::sim::faults::{FaultKind, Faults};

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown by `rotor sim` and in logs.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of every random draw; same seed, same answers and faults.
    #[serde(default)]
    pub seed: u64,
    /// Multiplies every delay, every rate-limit window and every Retry-After.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// When set, requests must carry `Authorization: Bearer <api_key>`.
    #[serde(default, deserialize_with = "secret_opt")]
    pub api_key: Option<Secret>,
    /// Accounts: sets of models sharing rate limits.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Behaviour of every model that does not set its own.
    #[serde(default)]
    pub defaults: ModelDefaults,
    pub models: Vec<ModelSpec>,
    /// Timed faults (an outage from t1 to t2).
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Where the `redirect` fault sends clients (an absolute http(s) URL on
    /// another host). Default: the simulator's own trap,
    /// `http://localhost:PORT/sim/redirected`, which counts the requests that
    /// followed the redirect (and those that carried a key) in `/sim/stats`.
    #[serde(default)]
    pub redirect_to: Option<String>,
}

fn one() -> f64 {
    1.0
}

fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

/// An account: models that share per-minute and per-day limits, like
/// OpenRouter's free tier.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    /// Models named one by one.
    #[serde(default)]
    pub models: Vec<String>,
    /// Every model whose id ends with this suffix (e.g. `:free`).
    #[serde(default, rename = "match")]
    pub match_suffix: Option<String>,
    /// Requests in any sliding window of one (scaled) minute.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Requests per (scaled) day; days start when the simulator starts.
    #[serde(default)]
    pub per_day: Option<u32>,
    /// Where the 429 tells the client about the limit.
    #[serde(default)]
    pub hints: Hints,
}

/// How much a group's 429s say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hints {
    /// `X-RateLimit-*`, `Retry-After` and `retry-after-ms` headers and the body's metadata.
    #[default]
    Headers,
    /// The `X-RateLimit-*` values only inside `error.metadata.headers`.
    BodyOnly,
    /// A bare `{"error":{"message":"Too Many Requests"}}`.
    None,
}

/// The limits of a group in real time, so a client can pace at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
    /// Length of the group's "minute" in real time (60 s × time_scale).
    pub minute: Duration,
    /// Length of the group's "day" in real time (86 400 s × time_scale).
    pub day: Duration,
}

/// Behaviour fields a model may set and `defaults` may supply.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDefaults {
    #[serde(default)]
    pub context_length: Option<u64>,
    /// Time to the first generated token (reasoning or content), milliseconds.
    #[serde(default)]
    pub ttft_ms: Option<Dist>,
    #[serde(default)]
    pub tokens_per_s: Option<Dist>,
    /// Length of a generic answer (a prompt the suite does not know).
    #[serde(default)]
    pub output_tokens: Option<Dist>,
    /// Reasoning tokens sent before the content by `reasoning: true` models.
    #[serde(default)]
    pub reasoning_tokens: Option<Dist>,
    /// Interval of `: OPENROUTER PROCESSING` comments before the first token.
    #[serde(default)]
    pub keepalive_ms: Option<f64>,
    #[serde(default)]
    pub quality: Option<Quality>,
    #[serde(default)]
    pub faults: Option<Faults>,
}

/// One model of the scenario.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Defaults to the part of the id before `/` (or `local`).
    #[serde(default)]
    pub owned_by: Option<String>,
    /// Defaults to `"0"` for both.
    #[serde(default)]
    pub pricing: Option<Pricing>,
    /// `false` hides the model from `GET /v1/models` (it still answers).
    #[serde(default = "yes")]
    pub listed: bool,
    #[serde(default)]
    pub reasoning: bool,
    /// Per-model token bucket: refill rate in requests per (scaled) minute.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Capacity of the bucket (default 1).
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub context_length: Option<u64>,
    #[serde(default)]
    pub ttft_ms: Option<Dist>,
    #[serde(default)]
    pub tokens_per_s: Option<Dist>,
    #[serde(default)]
    pub output_tokens: Option<Dist>,
    #[serde(default)]
    pub reasoning_tokens: Option<Dist>,
    #[serde(default)]
    pub keepalive_ms: Option<f64>,
    #[serde(default)]
    pub quality: Option<Quality>,
    #[serde(default)]
    pub faults: Option<Faults>,
}

fn yes() -> bool {
    true
}

/// OpenRouter-style prices per token, as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    #[serde(deserialize_with = "price")]
    pub prompt: String,
    #[serde(deserialize_with = "price")]
    pub completion: String,
}

/// A price given as a string (`"0.0000002"`) or a number.
fn price<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct PriceVisitor;
    impl Visitor<'_> for PriceVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a price per token, as a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(PriceVisitor)
}

/// Relative weights of the kinds of answer to a suite prompt (normalised; all
/// zero means always the reference).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quality {
    /// The suite's reference solution, fenced.
    #[serde(default)]
    pub reference: f64,
    /// The suite's broken solution, fenced.
    #[serde(default)]
    pub broken: f64,
    /// Prose without any code block.
    #[serde(default)]
    pub no_code: f64,
    /// The reference cut in half, fenced.
    #[serde(default)]
    pub syntax_error: f64,
    /// A fenced solution whose entry point never returns (validation: timeout).
    #[serde(default)]
    pub infinite_loop: f64,
    /// A fenced solution whose entry point kills its process (validation: crashed).
    #[serde(default)]
    pub crash: f64,
}

/// A timed fault: from `from_s` to `to_s` (scenario seconds, scaled by
/// `time_scale`) requests to `models` get `fault` with `probability`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub from_s: f64,
    pub to_s: f64,
    #[serde(default)]
    pub models: ModelSelector,
    pub fault: FaultKind,
    #[serde(default = "one")]
    pub probability: f64,
}

/// `all` or a list of model ids.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub enum ModelSelector {
    #[default]
    All,
    Only(Vec<String>),
}

impl ModelSelector {
    pub fn contains(&self, model: &str) -> bool {
        match self {
            ModelSelector::All => true,
            ModelSelector::Only(ids) => ids.iter().any(|m| m == model),
        }
    }
}

impl<'de> Deserialize<'de> for ModelSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SelVisitor;
        impl<'de> Visitor<'de> for SelVisitor {
            type Value = ModelSelector;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all` or a list of model ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ModelSelector, E> {
                if v == "all" {
                    Ok(ModelSelector::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ModelSelector, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<String>()? {
                    ids.push(id);
                }
                Ok(ModelSelector::Only(ids))
            }
        }
        deserializer.deserialize_any(SelVisitor)
    }
}

impl Scenario {
    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Index of the group a model belongs to: the first group that names it,
    /// else the first whose `match` suffix fits.
    pub fn group_index_of(&self, model: &str) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.models.iter().any(|m| m == model))
            .or_else(|| {
                self.groups.iter().position(|g| {
                    g.match_suffix
                        .as_deref()
                        .is_some_and(|s| !s.is_empty() && model.ends_with(s))
                })
            })
    }

    /// Name of the group a model belongs to.
    pub fn group_of(&self, model: &str) -> Option<&str> {
        self.group_index_of(model)
            .map(|i| self.groups[i].name.as_str())
    }

    /// Whether any model (or phase) can get the fault `kind`.
    pub fn can_fault(&self, kind: FaultKind) -> bool {
        let defaults = self.defaults.faults.unwrap_or_default();
        self.models
            .iter()
            .any(|m| m.faults.unwrap_or(defaults).can(kind))
            || self.phases.iter().any(|p| p.fault == kind)
    }

    /// Real length of one scenario second.
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::try_from_secs_f64(seconds * self.time_scale).unwrap_or(Duration::ZERO)
    }

    /// The limits of group `group` in real time, so a client can pace at the
    /// simulated account's limits.
    pub fn group_limits(&self, group: &str) -> Option<GroupLimits> {
        let g = self.groups.iter().find(|g| g.name == group)?;
        Some(GroupLimits {
            per_minute: g.per_minute,
            per_day: g.per_day,
            minute: self.scaled(60.0),
            day: self.scaled(86_400.0),
        })
    }
}
