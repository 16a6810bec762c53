//! Statistics used everywhere: one percentile definition, rates, Wilson intervals.
//!
//! **Percentiles** use linear interpolation between closest ranks (Hyndman & Fan
//! type 7, the default of NumPy, R and Excel's PERCENTILE.INC): for sorted values
//! `x[0..n]` and `p` in [0, 100], `h = (n − 1)·p/100`, result
//! `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`. Every percentile rotor prints comes
//! from [`percentile`].

/// The `p`-th percentile (0–100) of `values` (any order), or `None` when empty.
/// NaN values are ignored.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(percentile_sorted(&v, p))
}

/// [`percentile`] of values already sorted ascending (and free of NaN).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let p = p.clamp(0.0, 100.0);
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Several percentiles at once (one sort).
pub fn percentiles(values: &[f64], ps: &[f64]) -> Vec<Option<f64>> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    ps.iter()
        .map(|&p| (!v.is_empty()).then(|| percentile_sorted(&v, p)))
        .collect()
}

/// The 95% Wilson score interval of `successes` out of `n` (z = 1.959964).
/// Returns `(0, 1)` for `n = 0`.
pub fn wilson_interval(successes: u64, n: u64) -> (f64, f64) {
    wilson_interval_z(successes as f64, n as f64, 1.959_963_984_540_054)
}

/// Wilson interval for (possibly weighted, so fractional) counts.
pub fn wilson_interval_z(successes: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = (successes / n).clamp(0.0, 1.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n) + z2 / (4.0 * n * n)).sqrt() / denom;
    // At p = 0 or 1 one bound is exact; rounding must not move it.
    let lo = if p <= 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if p >= 1.0 {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

/// `num / den`, or `None` when `den` is zero.
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&v, 0.0), Some(15.0));
        assert_eq!(percentile(&v, 100.0), Some(50.0));
        assert_eq!(percentile(&v, 50.0), Some(35.0));
        // numpy.percentile([15,20,35,40,50], 40) == 29.0
        assert!((percentile(&v, 40.0).unwrap() - 29.0).abs() < 1e-12);
        // numpy.percentile([1,2,3,4], 95) == 3.85
        assert!((percentile(&[4.0, 1.0, 3.0, 2.0], 95.0).unwrap() - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }

    #[test]
    fn wilson_known_values() {
        // 8 of 10: Wilson 95% interval (0.4902, 0.9433)
        let (lo, hi) = wilson_interval(8, 10);
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson_interval(10, 10);
        assert!(lo > 0.69 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
    }

    proptest! {
        #[test]
        fn percentile_is_monotone_and_bounded(mut v in proptest::collection::vec(-1e6f64..1e6, 1..50), p in 0f64..100.0, q in 0f64..100.0) {
            let (a, b) = (p.min(q), p.max(q));
            let pa = percentile(&v, a).unwrap();
            let pb = percentile(&v, b).unwrap();
            prop_assert!(pa <= pb + 1e-9);
            v.sort_by(f64::total_cmp);
            prop_assert!(pa >= v[0] - 1e-9 && pb <= v[v.len() - 1] + 1e-9);
        }

        #[test]
        fn wilson_contains_the_estimate(n in 1u64..10_000, k in 0u64..10_000) {
            let k = k.min(n);
            let (lo, hi) = wilson_interval(k, n);
            let p = k as f64 / n as f64;
            prop_assert!(lo <= p + 1e-12 && p <= hi + 1e-12);
        }
    }
}
