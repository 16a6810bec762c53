//! Validation scores over prompts: pass@1 and pass@k from per-prompt counts
//! (validated answers `n`, passed `c`), shared by `report` and `rotate-test`.
//!
//! - **pass@1**: the mean over prompts of `c / n` (every prompt weighs the
//!   same, however many answers it has).
//! - **pass@k**: `k` is the smallest number of validated answers any prompt
//!   has, when it is more than 1 (one answer per prompt gives pass@1 only);
//!   the mean over prompts with at least `k` answers (all of them) of the
//!   unbiased estimator `1 − C(n−c, k)/C(n, k)`
//!   ([`crate::validate::score::pass_at_k`]).
//!
//! Both are plain counts: no decay applies (a per-prompt estimator over
//! weighted answers would not be pass@k any more).

use serde::Serialize;

use crate::validate::score::pass_at_k;

/// pass@k for the `k` it was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PassAtK {
    pub k: u64,
    pub value: f64,
}

/// The scores of a set of prompts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PromptScores {
    /// Prompts with at least one validated answer.
    pub prompts: u64,
    pub pass_at_1: Option<f64>,
    /// `None` when some prompt has a single validated answer.
    pub pass_at_k: Option<PassAtK>,
}

impl PromptScores {
    /// From `(n, c)` per prompt: validated answers and passed ones. Prompts
    /// with `n = 0` are left out; `c` is clamped to `n`.
    pub fn of(per_prompt: impl IntoIterator<Item = (u64, u64)>) -> PromptScores {
        let counts: Vec<(u64, u64)> = per_prompt
            .into_iter()
            .filter(|&(n, _)| n > 0)
            .map(|(n, c)| (n, c.min(n)))
            .collect();
        let mean_at = |k: u64| -> Option<f64> {
            let per: Vec<f64> = counts
                .iter()
                .filter_map(|&(n, c)| pass_at_k(n, c, k))
                .collect();
            (!per.is_empty()).then(|| per.iter().sum::<f64>() / per.len() as f64)
        };
        let pass_at_k = counts
            .iter()
            .map(|&(n, _)| n)
            .min()
            .filter(|&k| k > 1)
            .and_then(|k| mean_at(k).map(|value| PassAtK { k, value }));
        PromptScores {
            prompts: counts.len() as u64,
            pass_at_1: mean_at(1),
            pass_at_k,
        }
    }

    /// Every figure rounded to 3 decimals (for JSON summaries).
    pub fn rounded(self) -> PromptScores {
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        PromptScores {
            prompts: self.prompts,
            pass_at_1: self.pass_at_1.map(r),
            pass_at_k: self.pass_at_k.map(|p| PassAtK {
                k: p.k,
                value: r(p.value),
            }),
        }
    }
}

/// Answers with extractable code ÷ validated answers: `(validated − no_code) / validated`.
pub fn well_formed_rate(validated: u64, no_code: u64) -> Option<f64> {
    (validated > 0).then(|| validated.saturating_sub(no_code) as f64 / validated as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn pass_at_k_is_averaged_over_prompts() {
        // p1: 4 answers, 2 passed; p2: 3 answers, 0 passed; p3: 2 answers, 1 passed.
        // k = 2 (p3's count).
        // pass@2: p1 1 − C(2,2)/C(4,2) = 5/6; p2 0; p3 1 − C(1,2)/C(2,2) = 1.
        // mean (5/6 + 0 + 1) / 3 = 11/18.
        // pass@1: (1/2 + 0 + 1/2) / 3 = 1/3.
        let s = PromptScores::of([(4, 2), (3, 0), (2, 1)]);
        assert_eq!(s.prompts, 3);
        assert!(close(s.pass_at_1, 1.0 / 3.0), "{s:?}");
        let k = s.pass_at_k.unwrap();
        assert_eq!(k.k, 2);
        assert!((k.value - 11.0 / 18.0).abs() < 1e-12, "{k:?}");
        let r = s.rounded();
        assert_eq!(r.pass_at_1, Some(0.333));
        assert_eq!(r.pass_at_k.map(|p| p.value), Some(0.611));
    }

    #[test]
    fn one_answer_per_prompt_gives_pass_at_1_only() {
        let s = PromptScores::of([(1, 1), (3, 1), (0, 0)]);
        assert_eq!(s.prompts, 2);
        assert!(close(s.pass_at_1, (1.0 + 1.0 / 3.0) / 2.0));
        assert_eq!(s.pass_at_k, None);
        assert_eq!(PromptScores::of([]), PromptScores::default());
        // A count of passes above the answers cannot make a score above 1.
        assert!(close(PromptScores::of([(2, 5)]).pass_at_1, 1.0));
    }

    #[test]
    fn well_formed_is_answers_with_code() {
        assert_eq!(well_formed_rate(4, 1), Some(0.75));
        assert_eq!(well_formed_rate(4, 4), Some(0.0));
        assert_eq!(well_formed_rate(0, 0), None);
        assert_eq!(well_formed_rate(2, 5), Some(0.0));
    }
}
