//! Live per-model statistics the adaptive policy ranks by.
//!
//! - Expected latency: an EWMA (α = 0.3) of successful attempts' latency,
//!   starting from the target's `prior_latency_ms`, else 5 s.
//! - Success probability: the mean of a Beta posterior whose prior has mean
//!   `prior_success` (else 0.8) and weight 4 pseudo-attempts, updated with
//!   this run's successes and failures. Failures are the errors a model is
//!   blamed for; rate limits are not failures here (their cooldowns already
//!   show in the wait), nor are incompatibilities (those exclude the model).

use std::time::Duration;

/// EWMA weight of the newest latency.
pub const EWMA_ALPHA: f64 = 0.3;
/// Expected latency of a model nothing is known about.
pub const DEFAULT_LATENCY_MS: f64 = 5000.0;
/// Longest expected latency used (a day): absurd priors cannot overflow.
pub const MAX_LATENCY_MS: f64 = 86_400_000.0;
/// Prior mean success rate of a model nothing is known about.
pub const DEFAULT_PRIOR_SUCCESS: f64 = 0.8;
/// Pseudo-attempts the prior is worth.
pub const PRIOR_WEIGHT: f64 = 4.0;
/// Lowest success probability used in ranking (avoids dividing by zero).
pub const MIN_P_SUCCESS: f64 = 0.02;

/// Latency and reliability of one model during a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStats {
    ewma_ms: Option<f64>,
    alpha0: f64,
    beta0: f64,
    successes: u32,
    failures: u32,
}

impl LiveStats {
    /// Starts from the target's priors.
    pub fn new(prior_latency_ms: Option<f64>, prior_success: Option<f64>) -> Self {
        let p0 = prior_success
            .filter(|p| p.is_finite())
            .unwrap_or(DEFAULT_PRIOR_SUCCESS)
            .clamp(0.01, 0.99);
        LiveStats {
            ewma_ms: prior_latency_ms.filter(|l| l.is_finite() && *l >= 0.0),
            alpha0: p0 * PRIOR_WEIGHT,
            beta0: (1.0 - p0) * PRIOR_WEIGHT,
            successes: 0,
            failures: 0,
        }
    }

    /// The latency the next attempt is expected to take.
    pub fn expected_latency(&self) -> Duration {
        let ms = self
            .ewma_ms
            .unwrap_or(DEFAULT_LATENCY_MS)
            .clamp(0.0, MAX_LATENCY_MS);
        Duration::from_secs_f64(ms / 1000.0)
    }

    /// The latency EWMA (or prior), milliseconds.
    pub fn ewma_ms(&self) -> Option<f64> {
        self.ewma_ms
    }

    /// Posterior mean success probability, at least [`MIN_P_SUCCESS`].
    pub fn p_success(&self) -> f64 {
        let a = self.alpha0 + f64::from(self.successes);
        let b = self.beta0 + f64::from(self.failures);
        (a / (a + b)).max(MIN_P_SUCCESS)
    }

    pub fn record_success(&mut self, latency_ms: f64) {
        self.successes = self.successes.saturating_add(1);
        if latency_ms.is_finite() && latency_ms >= 0.0 {
            self.ewma_ms = Some(match self.ewma_ms {
                Some(e) => e + EWMA_ALPHA * (latency_ms - e),
                None => latency_ms,
            });
        }
    }

    pub fn record_failure(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_moves_towards_new_latencies() {
        let mut s = LiveStats::new(Some(1000.0), None);
        s.record_success(2000.0);
        assert!((s.ewma_ms().unwrap() - 1300.0).abs() < 1e-9);
        let mut fresh = LiveStats::new(None, None);
        assert_eq!(fresh.expected_latency(), Duration::from_secs(5));
        fresh.record_success(800.0);
        assert_eq!(fresh.expected_latency(), Duration::from_millis(800));
    }

    #[test]
    fn beta_posterior_starts_at_the_prior_and_learns() {
        let mut s = LiveStats::new(None, Some(0.5));
        assert!((s.p_success() - 0.5).abs() < 1e-9);
        for _ in 0..4 {
            s.record_failure();
        }
        assert!((s.p_success() - 2.0 / 8.0).abs() < 1e-9);
        let mut bad = LiveStats::new(None, Some(0.0));
        for _ in 0..1000 {
            bad.record_failure();
        }
        assert_eq!(bad.p_success(), MIN_P_SUCCESS);
        assert!(LiveStats::new(Some(f64::NAN), Some(f64::NAN)).p_success() > 0.7);
    }
}
