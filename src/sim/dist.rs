//! Distributions of delays and sizes in a scenario, sampled by hand (no
//! distribution crate): `150`, `{fixed: 150}`, `{uniform: [a, b]}` or
//! `{lognormal: {median: m, p95: p}}`.

use std::fmt;

use rand::RngExt;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// z-score of the 95th percentile of the standard normal distribution.
const Z95: f64 = 1.644_853_626_951_472_2;

/// A distribution of non-negative values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dist {
    /// Always this value.
    Fixed(f64),
    /// Uniform between the two bounds (inclusive of the lower one).
    Uniform([f64; 2]),
    /// Log-normal with this median and 95th percentile (`p95 > median > 0`).
    Lognormal { median: f64, p95: f64 },
}

/// The tagged form, read through serde's derive so errors name the variants.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Tagged {
    Fixed(f64),
    Uniform([f64; 2]),
    Lognormal(LognormalSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LognormalSpec {
    median: f64,
    p95: f64,
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DistVisitor;
        impl<'de> Visitor<'de> for DistVisitor {
            type Value = Dist;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or one of {fixed: x}, {uniform: [a, b]}, {lognormal: {median: m, p95: p}}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dist, E> {
                Ok(Dist::Fixed(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dist, E> {
                Ok(Dist::Fixed(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dist, E> {
                Ok(Dist::Fixed(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dist, A::Error> {
                let tagged = Tagged::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(match tagged {
                    Tagged::Fixed(x) => Dist::Fixed(x),
                    Tagged::Uniform(b) => Dist::Uniform(b),
                    Tagged::Lognormal(s) => Dist::Lognormal {
                        median: s.median,
                        p95: s.p95,
                    },
                })
            }
        }
        deserializer.deserialize_any(DistVisitor)
    }
}

impl Dist {
    /// Checks the parameters; `positive` demands values above zero (rates).
    pub fn check(&self, positive: bool) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && if positive { x > 0.0 } else { x >= 0.0 };
        let bound = if positive { "> 0" } else { ">= 0" };
        match *self {
            Dist::Fixed(x) if !ok(x) => Err(format!("fixed value {x} must be finite and {bound}")),
            Dist::Uniform([a, b]) if !ok(a) || !ok(b) || a > b => Err(format!(
                "uniform bounds [{a}, {b}] must be finite, {bound} and in increasing order"
            )),
            Dist::Lognormal { median, p95 }
                if !(median.is_finite() && p95.is_finite() && median > 0.0 && p95 > median) =>
            {
                Err(format!(
                    "lognormal needs 0 < median < p95 (got median {median}, p95 {p95})"
                ))
            }
            _ => Ok(()),
        }
    }

    /// The median of the distribution.
    pub fn median(&self) -> f64 {
        match *self {
            Dist::Fixed(x) => x,
            Dist::Uniform([a, b]) => (a + b) / 2.0,
            Dist::Lognormal { median, .. } => median,
        }
    }

    /// One sample. Every call consumes exactly two `u64` draws whatever the
    /// variant, so the random stream does not depend on the distribution type.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let u1 = unit_open(rng.random::<u64>());
        let u2 = unit_open(rng.random::<u64>());
        let x = match *self {
            Dist::Fixed(x) => x,
            Dist::Uniform([a, b]) => a + (b - a) * u1,
            Dist::Lognormal { median, p95 } => {
                let sigma = (p95.ln() - median.ln()) / Z95;
                (median.ln() + sigma * box_muller(u1, u2)).exp()
            }
        };
        if x.is_finite() { x.max(0.0) } else { 0.0 }
    }
}

/// Maps a `u64` to (0, 1): never 0, so `ln` stays finite.
fn unit_open(bits: u64) -> f64 {
    ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal sample from two uniforms in (0, 1) (Box–Muller).
pub fn box_muller(u1: f64, u2: f64) -> f64 {
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A uniform draw in [0, 1) from `rng`.
pub fn unit<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.random::<u64>() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn parse(text: &str) -> Result<Dist, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("150").unwrap(), Dist::Fixed(150.0));
        assert_eq!(parse("2.5").unwrap(), Dist::Fixed(2.5));
        assert_eq!(parse("{fixed: 3}").unwrap(), Dist::Fixed(3.0));
        assert_eq!(parse("uniform: [1, 2]").unwrap(), Dist::Uniform([1.0, 2.0]));
        assert_eq!(
            parse("lognormal: {median: 100, p95: 300}").unwrap(),
            Dist::Lognormal {
                median: 100.0,
                p95: 300.0
            }
        );
        assert!(parse("gauss: 3").is_err());
        assert!(parse("lognormal: {median: 1, p99: 3}").is_err());
    }

    #[test]
    fn checks_parameters() {
        assert!(Dist::Fixed(-1.0).check(false).is_err());
        assert!(Dist::Fixed(0.0).check(true).is_err());
        assert!(Dist::Fixed(0.0).check(false).is_ok());
        assert!(Dist::Uniform([3.0, 2.0]).check(false).is_err());
        assert!(
            Dist::Lognormal {
                median: 5.0,
                p95: 5.0
            }
            .check(false)
            .is_err()
        );
        assert!(Dist::Fixed(f64::NAN).check(false).is_err());
    }

    #[test]
    fn lognormal_hits_its_median_and_p95() {
        let d = Dist::Lognormal {
            median: 1000.0,
            p95: 3000.0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[xs.len() / 2];
        let p95 = xs[xs.len() * 95 / 100];
        assert!((median - 1000.0).abs() < 40.0, "median {median}");
        assert!((p95 - 3000.0).abs() < 200.0, "p95 {p95}");
    }

    #[test]
    fn uniform_stays_in_bounds_and_fixed_is_fixed() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..1000 {
            let x = Dist::Uniform([2.0, 4.0]).sample(&mut rng);
            assert!((2.0..=4.0).contains(&x));
            assert_eq!(Dist::Fixed(9.0).sample(&mut rng), 9.0);
        }
    }
}
