//! Scores over verdicts (pure).
//!
//! * **pass@k** — the unbiased estimator of Chen et al. (2021, "Evaluating
//!   Large Language Models Trained on Code"): for `n` samples of which `c`
//!   passed, `pass@k = 1 − C(n−c, k) / C(n, k)`, the probability that at least
//!   one of `k` samples drawn without replacement passes. Computed in product
//!   form, `1 − ∏_{i=n−c+1}^{n} (1 − k/i)`, which never builds a binomial.
//! * **well-formed rate** — answers with extractable code (any verdict but
//!   `no_code`) over all answers.
//! * **pass rate** — `passed / n` (= pass@1).

use super::Verdict;

/// pass@k for `n` samples with `c` passed; `None` unless `0 < k ≤ n` and `c ≤ n`.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let kf = k as f64;
    let mut all_fail = 1.0_f64;
    for i in (n - c + 1)..=n {
        all_fail *= 1.0 - kf / i as f64;
    }
    Some((1.0 - all_fail).clamp(0.0, 1.0))
}

/// Counts over a set of verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Answers judged.
    pub n: u64,
    /// Verdict `passed`.
    pub passed: u64,
    /// Verdicts other than `no_code`.
    pub well_formed: u64,
}

impl Tally {
    /// Counts `verdicts`.
    pub fn of<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Self {
        let mut t = Self::default();
        for v in verdicts {
            t.add(*v);
        }
        t
    }

    pub fn add(&mut self, verdict: Verdict) {
        self.n += 1;
        self.passed += u64::from(verdict == Verdict::Passed);
        self.well_formed += u64::from(verdict.has_code());
    }

    /// `passed / n`; `None` without answers.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.n > 0).then(|| self.passed as f64 / self.n as f64)
    }

    /// Answers with extractable code / all answers; `None` without answers.
    pub fn well_formed_rate(&self) -> Option<f64> {
        (self.n > 0).then(|| self.well_formed as f64 / self.n as f64)
    }

    /// pass@k over these answers (see [`pass_at_k`]).
    pub fn pass_at_k(&self, k: u64) -> Option<f64> {
        pass_at_k(self.n, self.passed, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook formula with exact binomials, for small n.
    fn reference(n: u64, c: u64, k: u64) -> f64 {
        fn binom(n: u64, k: u64) -> f64 {
            if k > n {
                return 0.0;
            }
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        }
        1.0 - binom(n - c, k) / binom(n, k)
    }

    #[test]
    fn known_values() {
        assert_eq!(pass_at_k(10, 0, 1), Some(0.0));
        assert_eq!(pass_at_k(10, 10, 5), Some(1.0));
        assert!((pass_at_k(10, 3, 1).unwrap() - 0.3).abs() < 1e-12);
        // 1 - C(2,2)/C(4,2) = 1 - 1/6
        assert!((pass_at_k(4, 2, 2).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(pass_at_k(5, 4, 2), Some(1.0));
        assert_eq!(pass_at_k(3, 1, 4), None);
        assert_eq!(pass_at_k(3, 4, 1), None);
        assert_eq!(pass_at_k(0, 0, 0), None);
        // Large n stays finite and sane.
        let big = pass_at_k(1_000_000, 1, 1000).unwrap();
        assert!((big - 0.001).abs() < 1e-9, "{big}");
    }

    #[test]
    fn tally_rates() {
        let t = Tally::of(&[
            Verdict::Passed,
            Verdict::NoCode,
            Verdict::TestsFailed,
            Verdict::Passed,
        ]);
        assert_eq!(
            t,
            Tally {
                n: 4,
                passed: 2,
                well_formed: 3
            }
        );
        assert_eq!(t.pass_rate(), Some(0.5));
        assert_eq!(t.well_formed_rate(), Some(0.75));
        assert_eq!(t.pass_at_k(1), Some(0.5));
        assert_eq!(Tally::default().pass_rate(), None);
        assert_eq!(Tally::default().well_formed_rate(), None);
    }

    proptest! {
        #[test]
        fn in_unit_interval(n in 1u64..400, c_frac in 0.0f64..=1.0, k_frac in 0.0f64..=1.0) {
            let c = (n as f64 * c_frac) as u64;
            let k = ((n as f64 * k_frac) as u64).clamp(1, n);
            let p = pass_at_k(n, c, k).unwrap();
            prop_assert!((0.0..=1.0).contains(&p));
        }

        #[test]
        fn pass_at_1_is_the_pass_rate(n in 1u64..10_000, c_frac in 0.0f64..=1.0) {
            let c = (n as f64 * c_frac) as u64;
            let p = pass_at_k(n, c, 1).unwrap();
            prop_assert!((p - c as f64 / n as f64).abs() < 1e-9);
        }

        #[test]
        fn monotone_in_c_and_k(n in 2u64..300, c in 0u64..300, k in 1u64..300) {
            let c = c % n;
            let k = (k % n).max(1);
            let p = pass_at_k(n, c, k).unwrap();
            prop_assert!(pass_at_k(n, c + 1, k).unwrap() >= p - 1e-12);
            if k < n {
                prop_assert!(pass_at_k(n, c, k + 1).unwrap() >= p - 1e-12);
            }
        }

        #[test]
        fn matches_the_binomial_form(n in 1u64..40, c in 0u64..40, k in 1u64..40) {
            let c = c % (n + 1);
            let k = (k % n).max(1);
            let p = pass_at_k(n, c, k).unwrap();
            prop_assert!((p - reference(n, c, k)).abs() < 1e-9);
        }
    }
}
