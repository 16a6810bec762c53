//! Exponential backoff with full jitter from a seeded RNG:
//! `sleep = rand(0, min(cap, base · factor^n))`, rounded to whole
//! milliseconds, where `n` is the 0-based index of the failed attempt within
//! the prompt (the first retry waits up to `base`, the next up to
//! `base · factor`, …). Defaults: base 1 s, cap 60 s, factor 2, five retries
//! per prompt — the seeds' numbers.
//!
//! Every prompt draws from its own ChaCha8 stream seeded from the run's seed,
//! the prompt id and the repeat, so a run is reproducible whatever the order
//! in which concurrent prompts fail.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Backoff and retry-budget settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffConfig {
    /// Upper bound of the first retry's sleep.
    pub base: Duration,
    /// Largest upper bound.
    pub cap: Duration,
    /// Growth of the upper bound per retry.
    pub factor: f64,
    /// Retries per prompt, across every model of the chain (one budget).
    pub max_retries: u32,
    /// Retries of the same model after an error that is not a rate limit,
    /// before moving on ("retry once, then fall back": 1).
    pub same_model_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            factor: 2.0,
            max_retries: 5,
            same_model_retries: 1,
        }
    }
}

impl BackoffConfig {
    /// `min(cap, base · factor^n)`: the bound the jittered sleep stays under.
    pub fn ceiling(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let secs = self.base.as_secs_f64() * factor.powi(exp);
        let cap = self.cap.as_secs_f64();
        let secs = if secs.is_finite() { secs.min(cap) } else { cap };
        Duration::try_from_secs_f64(secs).unwrap_or(self.cap)
    }
}

/// One prompt's backoff draws.
#[derive(Debug, Clone)]
pub struct Backoff {
    cfg: BackoffConfig,
    rng: ChaCha8Rng,
}

impl Backoff {
    /// The stream for one prompt of a run.
    pub fn for_prompt(cfg: BackoffConfig, seed: u64, prompt_id: &str, repeat: u32) -> Self {
        Backoff {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(prompt_seed(seed, prompt_id, repeat)),
        }
    }

    /// The next jittered sleep for retry index `n`, in `[0, ceiling(n)]`,
    /// whole milliseconds. Each call advances the stream by one draw.
    pub fn delay(&mut self, n: u32) -> Duration {
        let ceiling_ms = self.cfg.ceiling(n).as_secs_f64() * 1000.0;
        let u: f64 = self.rng.random();
        Duration::from_millis((u * ceiling_ms).round() as u64)
    }
}

/// FNV-1a of the prompt identity mixed into the run seed (SplitMix64 finish).
fn prompt_seed(seed: u64, prompt_id: &str, repeat: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in prompt_id.bytes().chain(repeat.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_follow_the_seeds_sequence_and_cap() {
        let c = BackoffConfig::default();
        let secs: Vec<u64> = (0..8).map(|n| c.ceiling(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(c.ceiling(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn seed_42_gives_the_pinned_sequence() {
        // Changing the RNG, the seeding or the rounding changes every run's
        // waits: this pins them.
        let mut b = Backoff::for_prompt(BackoffConfig::default(), 42, "p", 0);
        let ms: Vec<u128> = (0..6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(ms, [363, 645, 2045, 2693, 7302, 1537]);
    }

    #[test]
    fn same_seed_same_sequence_other_prompt_other_sequence() {
        let draw = |id: &str, repeat| {
            let mut b = Backoff::for_prompt(BackoffConfig::default(), 42, id, repeat);
            (0..5).map(|n| b.delay(n)).collect::<Vec<_>>()
        };
        assert_eq!(draw("p1", 0), draw("p1", 0));
        assert_ne!(draw("p1", 0), draw("p2", 0));
        assert_ne!(draw("p1", 0), draw("p1", 1));
    }

    #[test]
    fn full_jitter_stays_within_bounds_and_spreads() {
        let cfg = BackoffConfig::default();
        let mut b = Backoff::for_prompt(cfg.clone(), 7, "p", 0);
        for n in 0..8 {
            let draws: Vec<Duration> = (0..400).map(|_| b.delay(n)).collect();
            let ceiling = cfg.ceiling(n);
            assert!(draws.iter().all(|d| *d <= ceiling), "n={n}");
            // Full jitter: both halves of [0, ceiling] are used.
            assert!(draws.iter().any(|d| *d < ceiling / 4), "n={n}");
            assert!(draws.iter().any(|d| *d > ceiling * 3 / 4), "n={n}");
        }
    }

    #[test]
    fn degenerate_settings_do_not_panic() {
        let cfg = BackoffConfig {
            factor: f64::NAN,
            ..BackoffConfig::default()
        };
        assert_eq!(cfg.ceiling(10), Duration::from_secs(1));
        let cfg = BackoffConfig {
            factor: 1e300,
            ..BackoffConfig::default()
        };
        assert_eq!(cfg.ceiling(3), Duration::from_secs(60));
    }
}
