//! Live per-model statistics the adaptive policy ranks by.
//!
//! - Expected latency: an EWMA (α = 0.3) of successful attempts' latency,
//!   starting from the target's `prior_latency_ms`, else 5 s.
//! - Success probability: the mean of a Beta posterior whose prior has mean
//!   `prior_success` (else 0.8) and weight 4 pseudo-attempts, updated with
//!   this run's successes and failures. Failures are the errors a model is
//!   blamed for; rate limits are not failures here, nor are
//!   incompatibilities (those exclude the model).
//! - Admission probability: a second Beta posterior (prior mean 0.95,
//!   weight 10) of a request to the model not being turned away by a 429 of
//!   its own (scope `upstream`, `model` or `unknown`; account-wide 429s are
//!   the account's, not the model's, and are kept away by the limiter). A
//!   cooldown shows the wait *after* a 429; this shows how likely the *next*
//!   request is to meet one: a primary under a 429 storm costs a round trip
//!   and a limiter slot per rejected attempt, so the adaptive policy ranks
//!   by `p_success × p_admit` ([`LiveStats::p_answer`]). A refusal counts
//!   as two observations ([`REJECTION_WEIGHT`]): after one 429 a primary no
//!   faster than the next model is rested a little beyond its Retry-After,
//!   after several until the evidence has aged (found by
//!   `bench/policies.sh`: adaptive met as many 429s as fallback-first).
//! - The run's evidence ages: all counts halve every
//!   `half_life` (the breaker's cooldown), so the posterior drifts back to
//!   the prior. Without it a primary that failed during an outage kept its
//!   low probability forever, the adaptive policy never chose it again and,
//!   since only an attempt can bring new evidence, never learned it was
//!   back (found by `rotor rotate-test --sim ci-outage`).

use std::time::Duration;

use tokio::time::Instant;

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
/// Prior mean probability that a request is not turned away by a 429.
pub const PRIOR_ADMIT: f64 = 0.95;
/// Pseudo-requests the admission prior is worth.
pub const ADMIT_PRIOR_WEIGHT: f64 = 10.0;
/// What one 429 of the model's own counts for: a refused request costs a
/// round trip, a limiter slot and a retry, and in a storm the next one is
/// likely refused too, so one refusal weighs as two observations.
pub const REJECTION_WEIGHT: f64 = 2.0;

/// Latency and reliability of one model during a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStats {
    ewma_ms: Option<f64>,
    alpha0: f64,
    beta0: f64,
    /// Decayed counts as of `updated`.
    successes: f64,
    failures: f64,
    admitted: f64,
    rejected: f64,
    updated: Option<Instant>,
    /// `None`: evidence never ages.
    half_life: Option<Duration>,
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
            successes: 0.0,
            failures: 0.0,
            admitted: 0.0,
            rejected: 0.0,
            updated: None,
            half_life: None,
        }
    }

    /// Evidence halves every `half_life` (a zero duration keeps it forever).
    pub fn with_half_life(mut self, half_life: Duration) -> Self {
        self.half_life = (!half_life.is_zero()).then_some(half_life);
        self
    }

    /// The weight left at `now` of evidence recorded at `updated`.
    fn decay(&self, now: Instant) -> f64 {
        match (self.half_life, self.updated) {
            (Some(h), Some(t)) => {
                let age = now.saturating_duration_since(t).as_secs_f64();
                0.5_f64.powf(age / h.as_secs_f64())
            }
            _ => 1.0,
        }
    }

    /// Ages the counts to `now`.
    fn age(&mut self, now: Instant) {
        let k = self.decay(now);
        self.successes *= k;
        self.failures *= k;
        self.admitted *= k;
        self.rejected *= k;
        self.updated = Some(now);
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

    /// Posterior mean success probability at `now`, at least [`MIN_P_SUCCESS`].
    pub fn p_success(&self, now: Instant) -> f64 {
        let k = self.decay(now);
        let a = self.alpha0 + self.successes * k;
        let b = self.beta0 + self.failures * k;
        (a / (a + b)).max(MIN_P_SUCCESS)
    }

    /// Probability at `now` that a request is not turned away by a 429 of the
    /// model's own.
    pub fn p_admit(&self, now: Instant) -> f64 {
        let k = self.decay(now);
        let a = PRIOR_ADMIT * ADMIT_PRIOR_WEIGHT + self.admitted * k;
        let b = (1.0 - PRIOR_ADMIT) * ADMIT_PRIOR_WEIGHT + self.rejected * k;
        a / (a + b)
    }

    /// Probability at `now` that an attempt brings a good answer: admitted,
    /// then successful. At least [`MIN_P_SUCCESS`].
    pub fn p_answer(&self, now: Instant) -> f64 {
        (self.p_success(now) * self.p_admit(now)).max(MIN_P_SUCCESS)
    }

    /// The model answered (well or not): it was not turned away.
    pub fn record_admitted(&mut self, now: Instant) {
        self.age(now);
        self.admitted += 1.0;
    }

    /// The model turned a request away with a 429 of its own.
    pub fn record_rejected(&mut self, now: Instant) {
        self.age(now);
        self.rejected += REJECTION_WEIGHT;
    }

    pub fn record_success(&mut self, latency_ms: f64, now: Instant) {
        self.age(now);
        self.successes += 1.0;
        if latency_ms.is_finite() && latency_ms >= 0.0 {
            self.ewma_ms = Some(match self.ewma_ms {
                Some(e) => e + EWMA_ALPHA * (latency_ms - e),
                None => latency_ms,
            });
        }
    }

    pub fn record_failure(&mut self, now: Instant) {
        self.age(now);
        self.failures += 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_moves_towards_new_latencies() {
        let now = Instant::now();
        let mut s = LiveStats::new(Some(1000.0), None);
        s.record_success(2000.0, now);
        assert!((s.ewma_ms().unwrap() - 1300.0).abs() < 1e-9);
        let mut fresh = LiveStats::new(None, None);
        assert_eq!(fresh.expected_latency(), Duration::from_secs(5));
        fresh.record_success(800.0, now);
        assert_eq!(fresh.expected_latency(), Duration::from_millis(800));
    }

    #[test]
    fn beta_posterior_starts_at_the_prior_and_learns() {
        let now = Instant::now();
        let mut s = LiveStats::new(None, Some(0.5));
        assert!((s.p_success(now) - 0.5).abs() < 1e-9);
        for _ in 0..4 {
            s.record_failure(now);
        }
        assert!((s.p_success(now) - 2.0 / 8.0).abs() < 1e-9);
        let mut bad = LiveStats::new(None, Some(0.0));
        for _ in 0..1000 {
            bad.record_failure(now);
        }
        assert_eq!(bad.p_success(now), MIN_P_SUCCESS);
        assert!(LiveStats::new(Some(f64::NAN), Some(f64::NAN)).p_success(now) > 0.7);
        // Without a half-life the evidence never ages.
        let later = now + Duration::from_secs(3600);
        assert!((s.p_success(later) - 2.0 / 8.0).abs() < 1e-9);
    }

    #[test]
    fn evidence_halves_every_half_life_so_a_recovered_model_is_forgiven() {
        let t0 = Instant::now();
        let h = Duration::from_secs(30);
        let mut s = LiveStats::new(None, Some(0.5)).with_half_life(h);
        for _ in 0..4 {
            s.record_failure(t0);
        }
        assert!((s.p_success(t0) - 2.0 / 8.0).abs() < 1e-9);
        // One half-life later two failures are left: 2 / (4 + 2).
        assert!((s.p_success(t0 + h) - 2.0 / 6.0).abs() < 1e-9);
        // A success then counts fully against the aged failures: 3 / (4 + 2 + 1).
        s.record_success(100.0, t0 + h);
        assert!((s.p_success(t0 + h) - 3.0 / 7.0).abs() < 1e-9);
        // Long after, only the prior is left.
        assert!((s.p_success(t0 + h * 40) - 0.5).abs() < 1e-6);
        // Admission is learned and forgotten the same way.
        let mut r = LiveStats::new(None, Some(0.5)).with_half_life(h);
        assert!((r.p_admit(t0) - 0.95).abs() < 1e-9);
        for _ in 0..4 {
            r.record_rejected(t0);
        }
        // Each refusal weighs two: 9.5 / (10 + 8), about half.
        assert!((r.p_admit(t0) - 9.5 / 18.0).abs() < 1e-9);
        assert!((r.p_answer(t0) - 0.5 * 9.5 / 18.0).abs() < 1e-9);
        r.record_admitted(t0 + h);
        assert!((r.p_admit(t0 + h) - 10.5 / 15.0).abs() < 1e-9);
        assert!((r.p_admit(t0 + h * 40) - 0.95).abs() < 1e-6);
        // A zero half-life means no ageing.
        let mut z = LiveStats::new(None, Some(0.5)).with_half_life(Duration::ZERO);
        z.record_failure(t0);
        assert!((z.p_success(t0 + h) - 2.0 / 5.0).abs() < 1e-9);
    }
}
