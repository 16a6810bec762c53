//! Per-request randomness. Each request's RNG is derived from (scenario seed,
//! model id, prompt hash, the per-(model, prompt) request counter), so the
//! draws do not depend on how concurrent requests interleave: the k-th
//! admitted request of a model for a prompt always gets the same draws.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::dist::unit;
use crate::sim::model::Behavior;

/// FNV-1a, 64 bits: stable across Rust versions and platforms (unlike
/// `DefaultHasher`).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The RNG of the `k`-th request (0-based) of `model` for a prompt with hash `prompt`.
pub(crate) fn request_rng(seed: u64, model: &str, prompt: u64, k: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&fnv1a(model.as_bytes()).to_le_bytes());
    key[16..24].copy_from_slice(&prompt.to_le_bytes());
    key[24..].copy_from_slice(&k.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// Every random value a request may need, drawn in one fixed order whether
/// used or not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Draws {
    /// Whether an active phase's fault applies.
    pub phase: f64,
    /// Which of the model's faults (if any) applies.
    pub fault: f64,
    /// Which variant of a fault (500 or 502, 503 or 529, ...).
    pub variant: f64,
    /// Which kind of answer.
    pub quality: f64,
    pub ttft_ms: f64,
    pub tokens_per_s: f64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    /// Seed of the answer's text.
    pub text_seed: u64,
}

impl Draws {
    pub fn draw(rng: &mut ChaCha8Rng, model: &Behavior) -> Draws {
        let phase = unit(rng);
        let fault = unit(rng);
        let variant = unit(rng);
        let quality = unit(rng);
        let ttft_ms = model.ttft_ms.sample(rng);
        let tokens_per_s = model.tokens_per_s.sample(rng).max(0.01);
        let output_tokens = model.output_tokens.sample(rng).round().clamp(1.0, 1e6) as u64;
        let reasoning_tokens = model.reasoning_tokens.sample(rng).round().clamp(1.0, 1e6) as u64;
        let text_seed = rng.random::<u64>();
        Draws {
            phase,
            fault,
            variant,
            quality,
            ttft_ms,
            tokens_per_s,
            output_tokens,
            reasoning_tokens,
            text_seed,
        }
    }

    /// A fresh RNG for the answer's text.
    pub fn text_rng(&self) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.text_seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn rng_depends_on_every_part_of_the_key() {
        let a = request_rng(1, "m", 2, 3).random::<u64>();
        assert_eq!(a, request_rng(1, "m", 2, 3).random::<u64>());
        assert_ne!(a, request_rng(9, "m", 2, 3).random::<u64>());
        assert_ne!(a, request_rng(1, "n", 2, 3).random::<u64>());
        assert_ne!(a, request_rng(1, "m", 9, 3).random::<u64>());
        assert_ne!(a, request_rng(1, "m", 2, 9).random::<u64>());
    }
}
