//! A model's behaviour with the scenario's defaults and the built-in defaults
//! filled in, ready for the server.

use std::time::Duration;

use crate::sim::dist::Dist;
use crate::sim::faults::Faults;
use crate::sim::scenario::{ModelSpec, Quality, Scenario};

/// Built-in context length when neither the model nor `defaults` sets one.
pub const DEFAULT_CONTEXT_LENGTH: u64 = 131_072;

/// Shortest real interval between keep-alive comments.
const MIN_KEEPALIVE: Duration = Duration::from_millis(5);

/// One model, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Behavior {
    pub id: String,
    pub reasoning: bool,
    pub context_length: u64,
    pub ttft_ms: Dist,
    pub tokens_per_s: Dist,
    pub output_tokens: Dist,
    pub reasoning_tokens: Dist,
    /// Real interval of keep-alive comments while thinking.
    pub keepalive: Option<Duration>,
    pub quality: Quality,
    pub faults: Faults,
    /// Requests per real second and capacity of the per-model bucket.
    pub bucket: Option<(f64, u32)>,
    /// The rpm as written (for the 429 message).
    pub rpm: Option<u32>,
    pub group: Option<usize>,
}

impl Behavior {
    pub fn resolve(scenario: &Scenario, m: &ModelSpec) -> Behavior {
        let d = &scenario.defaults;
        let keepalive_ms = m.keepalive_ms.or(d.keepalive_ms);
        let minute_s = 60.0 * scenario.time_scale;
        Behavior {
            id: m.id.clone(),
            reasoning: m.reasoning,
            context_length: m
                .context_length
                .or(d.context_length)
                .unwrap_or(DEFAULT_CONTEXT_LENGTH),
            ttft_ms: m.ttft_ms.or(d.ttft_ms).unwrap_or(Dist::Fixed(300.0)),
            tokens_per_s: m
                .tokens_per_s
                .or(d.tokens_per_s)
                .unwrap_or(Dist::Fixed(100.0)),
            output_tokens: m
                .output_tokens
                .or(d.output_tokens)
                .unwrap_or(Dist::Fixed(150.0)),
            reasoning_tokens: m
                .reasoning_tokens
                .or(d.reasoning_tokens)
                .unwrap_or(Dist::Uniform([50.0, 250.0])),
            keepalive: keepalive_ms.map(|ms| {
                Duration::try_from_secs_f64(ms / 1000.0 * scenario.time_scale)
                    .unwrap_or(MIN_KEEPALIVE)
                    .max(MIN_KEEPALIVE)
            }),
            quality: m.quality.or(d.quality).unwrap_or_default(),
            faults: m.faults.or(d.faults).unwrap_or_default(),
            bucket: m
                .rpm
                .map(|rpm| (f64::from(rpm) / minute_s, m.burst.unwrap_or(1))),
            rpm: m.rpm,
            group: scenario.group_index_of(&m.id),
        }
    }

    /// `owned_by` of `GET /v1/models`.
    pub fn owned_by(m: &ModelSpec) -> String {
        m.owned_by.clone().unwrap_or_else(|| {
            m.id.split_once('/')
                .map(|(o, _)| o.to_owned())
                .unwrap_or_else(|| "local".to_owned())
        })
    }
}
