//! Statistics used everywhere: one percentile definition, rates, Wilson intervals.
//!
//! **Percentiles** use linear interpolation between closest ranks (Hyndman & Fan
//! type 7, the default of NumPy, R and Excel's PERCENTILE.INC): for sorted values
//! `x[0..n]` and `p` in [0, 100], `h = (n − 1)·p/100`, result
//! `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`. Every percentile rotor prints comes
//! from [`percentile`], except those of a [`Sample`] past
//! [`Sample::EXACT_LIMIT`] values (a long run's summary), which come from a
//! histogram and say so.

use hdrhistogram::Histogram;

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

/// The measurements of one series of a run (latencies in ms, tokens/s), kept
/// in bounded memory however long the run: every value up to
/// [`Sample::EXACT_LIMIT`] (exact percentiles, as [`percentile`]); past
/// that, all of them in an HDR histogram of thousandths of the unit with 3
/// significant digits (percentiles within [`Sample::RELATIVE_ERROR`] of the
/// value at the nearest rank, about 150 KB for latencies up to minutes).
/// Kept exactly, a million answers cost 8 MB per series, and more while the
/// vector grows and when the summary is copied at the end.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    exact: Vec<f64>,
    hist: Option<Box<Histogram<u64>>>,
}

impl Sample {
    /// Values kept as they are (512 KB).
    pub const EXACT_LIMIT: usize = 65_536;
    /// How far a percentile of the histogram may be from the value at its
    /// rank: 3 significant digits.
    pub const RELATIVE_ERROR: f64 = 0.001;
    /// The histogram's unit: thousandths of the values' (µs for ms).
    const SCALE: f64 = 1000.0;

    /// Adds a value; NaN is ignored, negative values count as 0 once in
    /// the histogram.
    pub fn push(&mut self, x: f64) {
        if x.is_nan() {
            return;
        }
        match &mut self.hist {
            Some(h) => record(h, x),
            None => {
                self.exact.push(x);
                if self.exact.len() >= Self::EXACT_LIMIT {
                    self.fold();
                }
            }
        }
    }

    fn fold(&mut self) {
        let mut h = Histogram::new(3).expect("3 significant digits are valid");
        for &x in &self.exact {
            record(&mut h, x);
        }
        self.exact = Vec::new();
        self.hist = Some(Box::new(h));
    }

    /// Values added.
    pub fn len(&self) -> usize {
        match &self.hist {
            Some(h) => usize::try_from(h.len()).unwrap_or(usize::MAX),
            None => self.exact.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the percentiles are exact (every value kept).
    pub fn is_exact(&self) -> bool {
        self.hist.is_none()
    }

    /// Several percentiles (0–100) at once: exact as [`percentiles`] while
    /// every value is kept, else the histogram's (the value at the nearest
    /// rank, within [`Sample::RELATIVE_ERROR`]).
    pub fn percentiles(&self, ps: &[f64]) -> Vec<Option<f64>> {
        match &self.hist {
            None => percentiles(&self.exact, ps),
            Some(h) => ps
                .iter()
                .map(|&p| {
                    (!h.is_empty()).then(|| {
                        let v = h.value_at_quantile(p.clamp(0.0, 100.0) / 100.0);
                        h.median_equivalent(v) as f64 / Self::SCALE
                    })
                })
                .collect(),
        }
    }
}

impl FromIterator<f64> for Sample {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = Sample::default();
        for x in iter {
            s.push(x);
        }
        s
    }
}

/// Records `x` in thousandths, clamped to what an auto-resizing histogram
/// tracks.
fn record(h: &mut Histogram<u64>, x: f64) {
    const MAX: f64 = (i64::MAX / 4) as f64;
    let v = (x * Sample::SCALE).round().clamp(0.0, MAX) as u64;
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
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

    /// Up to the limit a sample is exact; past it the histogram's
    /// percentiles stay within 0.1 % of the exact ones, and memory stops
    /// growing with the count.
    #[test]
    fn a_sample_is_exact_up_to_the_limit_then_within_the_relative_error() {
        // Latency-like values: 0.1 ms to 30 s, skewed (a deterministic mix).
        let value = |i: usize| {
            let u = ((i as u64).wrapping_mul(2_654_435_761) % 1_000_003) as f64 / 1_000_003.0;
            0.1 + 30_000.0 * u.powi(4)
        };
        let ps = [0.0, 1.0, 50.0, 95.0, 99.0, 99.9, 100.0];
        let n = Sample::EXACT_LIMIT;
        let exact: Vec<f64> = (0..n - 1).map(value).collect();
        let s: Sample = exact.iter().copied().collect();
        assert!(s.is_exact());
        assert_eq!(s.percentiles(&ps), percentiles(&exact, &ps));

        let all: Vec<f64> = (0..4 * n).map(value).collect();
        let s: Sample = all.iter().copied().collect();
        assert!(!s.is_exact());
        assert_eq!(s.len(), 4 * n);
        assert!(s.exact.capacity() == 0, "the values were let go");
        let mut sorted = all.clone();
        sorted.sort_by(f64::total_cmp);
        for (p, got) in ps.iter().zip(s.percentiles(&ps)) {
            let got = got.unwrap();
            // The value at the nearest rank, as the histogram defines it.
            let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            let want = sorted[rank - 1];
            // Thousandths of a ms are the histogram's unit: half a unit of
            // rounding on top of the relative error.
            let tolerance = want * Sample::RELATIVE_ERROR + 0.5 / Sample::SCALE;
            assert!((got - want).abs() <= tolerance, "p{p}: {got} vs {want}");
        }
        // NaN is ignored; absurd values neither panic nor resize without bound.
        let mut s = s;
        s.push(f64::NAN);
        s.push(f64::INFINITY);
        s.push(-1.0);
        s.push(1e300);
        assert_eq!(s.len(), 4 * n + 3);
        assert_eq!(Sample::default().percentiles(&[50.0]), vec![None]);
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
