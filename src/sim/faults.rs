//! Injected faults: their names, the per-model probabilities and the outcome a
//! correct client must record for each.
//!
//! Most faults break the answer; a few are *quirks* that a correct client
//! handles as a normal answer (`no_done`, `no_usage`, `duplicate_usage`,
//! `data_keepalive`): their outcome is [`Outcome::Ok`]. The catalogue of
//! hostile servers (docs/hostile-servers.md) lists what rotor records for
//! each.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::record::Outcome;

/// Declares [`FaultKind`] with each variant's name and outcome in one place.
macro_rules! fault_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $outcome:ident, )*) => {
        /// A fault the simulator can inject instead of (or in the middle of) an answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FaultKind {
            $( $(#[$doc])* $variant, )*
        }

        impl FaultKind {
            /// How many kinds there are.
            pub const COUNT: usize = [$($name),*].len();

            /// Every kind, in the order probabilities are accumulated.
            pub const ALL: [FaultKind; FaultKind::COUNT] = [$(FaultKind::$variant),*];

            /// Every kind's name, in [`FaultKind::ALL`] order.
            pub const NAMES: [&'static str; FaultKind::COUNT] = [$($name),*];

            /// The name used in scenario files and `/sim/stats`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( FaultKind::$variant => $name, )*
                }
            }

            /// The outcome a correct client records for this fault.
            pub fn outcome(self) -> Outcome {
                match self {
                    $( FaultKind::$variant => Outcome::$outcome, )*
                }
            }
        }
    };
}

fault_kinds! {
    /// 500 or 502 with a JSON body, sometimes a 502 HTML page.
    ServerError = "server_error" => ServerError,
    /// 503 "No available providers" or 529.
    Overloaded = "overloaded" => Overloaded,
    /// 429 from the upstream provider (capacity exhausted).
    RateLimitUpstream = "rate_limit_upstream" => RateLimited,
    /// Accepts the request and never answers.
    Hang = "hang" => Timeout,
    /// 408 request timeout.
    RequestTimeout = "request_timeout" => Timeout,
    /// A 200 stream of keep-alive comments only (non-stream: whitespace).
    KeepaliveOnly = "keepalive_only" => Timeout,
    /// A 200 whose body or chunk is not JSON.
    MalformedJson = "malformed_json" => InvalidResponse,
    /// A 200 HTML page.
    Html200 = "html_200" => InvalidResponse,
    /// A 200 stream with some content, then an error chunk whose code is a
    /// number (non-stream: a completion with an error object next to it).
    MidStreamError = "mid_stream_error" => InvalidResponse,
    /// A 200 stream with some content, then EOF without finish_reason or `[DONE]`.
    Truncated = "truncated" => InvalidResponse,
    /// The connection is reset in the middle of the body.
    Disconnect = "disconnect" => Network,
    /// 401.
    Auth = "auth" => Auth,
    /// 402.
    Payment = "payment" => Payment,
    /// 403 (moderation).
    Forbidden = "forbidden" => Forbidden,
    /// 400.
    BadRequest = "bad_request" => BadRequest,
    /// 404.
    NotFound = "not_found" => NotFound,
    /// A 502 HTML page (a proxy in front of the API).
    Html502 = "html_502" => ServerError,
    /// Like `mid_stream_error`, with the error code as a string.
    MidStreamErrorString = "mid_stream_error_string" => InvalidResponse,
    /// A whole stream (finish_reason, usage) that ends without `[DONE]`: fine.
    NoDone = "no_done" => Ok,
    /// A 200 whose body comes one byte per (scaled) second.
    SlowDrip = "slow_drip" => Timeout,
    /// A 200 body of 11 MiB (over rotor's 10 MiB cap), without Content-Length.
    HugeBody = "huge_body" => InvalidResponse,
    /// A 200 whose content contains bytes that are not UTF-8.
    InvalidUtf8 = "invalid_utf8" => InvalidResponse,
    /// Like `invalid_utf8`, the bad sequence split across two chunks.
    InvalidUtf8Split = "invalid_utf8_split" => InvalidResponse,
    /// No usage at all, even when `stream_options.include_usage` asked: fine.
    NoUsage = "no_usage" => Ok,
    /// The usage sent twice (stream: two usage chunks; non-stream: two
    /// `usage` keys): fine, if the client does not add them up.
    DuplicateUsage = "duplicate_usage" => Ok,
    /// Keep-alives written as `data: : keepalive` around the content: fine.
    DataKeepalive = "data_keepalive" => Ok,
    /// 429 with `Retry-After` as an HTTP date (30 scaled seconds ahead).
    RetryAfterDate = "retry_after_date" => RateLimited,
    /// 429 with `Retry-After` as an HTTP date an hour in the past.
    RetryAfterPast = "retry_after_past" => RateLimited,
    /// 429 with `Retry-After: 999999` (eleven days).
    RetryAfterHuge = "retry_after_huge" => RateLimited,
    /// 429 with `Retry-After: -5`.
    RetryAfterNegative = "retry_after_negative" => RateLimited,
    /// 429 with a `Retry-After` that is not a number or a date.
    RetryAfterGarbage = "retry_after_garbage" => RateLimited,
    /// 429 with `X-RateLimit-Reset` in epoch seconds.
    ResetSeconds = "reset_seconds" => RateLimited,
    /// 429 with `X-RateLimit-Reset` in epoch milliseconds (OpenRouter).
    ResetMillis = "reset_millis" => RateLimited,
    /// 429 whose rate-limit hints are only in `error.metadata.headers`.
    RateLimitBodyOnly = "rate_limit_body_only" => RateLimited,
    /// The connection is reset after the request arrived, before any header.
    ResetBeforeHeaders = "reset_before_headers" => Network,
    /// 307 to another host (the scenario's `redirect_to`).
    Redirect = "redirect" => InvalidResponse,
}

impl FaultKind {
    /// The kind named `name` (as in scenario files).
    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The rate-limit scope a correct client records for this fault (for
    /// 429s), as in `/sim/stats`.
    pub fn scope(self) -> Option<&'static str> {
        match self {
            FaultKind::RateLimitUpstream => Some("upstream"),
            FaultKind::ResetSeconds | FaultKind::ResetMillis | FaultKind::RateLimitBodyOnly => {
                Some("account_minute")
            }
            k if k.outcome() == Outcome::RateLimited => Some("unknown"),
            _ => None,
        }
    }

    fn index(self) -> usize {
        // `ALL` lists the variants in declaration order.
        self as usize
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FaultKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        FaultKind::from_name(&name)
            .ok_or_else(|| de::Error::unknown_variant(&name, &FaultKind::NAMES))
    }
}

/// Per-model probabilities of each fault (each in 0..=1, summing to at most
/// 1). Written in scenario files as a map from fault name to probability,
/// e.g. `{server_error: 0.1, hang: 0.02}`; names not given are 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    p: [f64; FaultKind::COUNT],
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            p: [0.0; FaultKind::COUNT],
        }
    }
}

impl Faults {
    /// Only `kind`, with probability `p`.
    pub fn only(kind: FaultKind, p: f64) -> Faults {
        Faults::default().with(kind, p)
    }

    /// These probabilities with `kind` set to `p`.
    pub fn with(mut self, kind: FaultKind, p: f64) -> Faults {
        self.set(kind, p);
        self
    }

    /// Sets the probability of `kind`.
    pub fn set(&mut self, kind: FaultKind, p: f64) {
        self.p[kind.index()] = p;
    }

    /// The probability of `kind`.
    pub fn get(&self, kind: FaultKind) -> f64 {
        self.p[kind.index()]
    }

    /// Whether `kind` can happen at all.
    pub fn can(&self, kind: FaultKind) -> bool {
        self.get(kind) > 0.0
    }

    /// Sum of all probabilities.
    pub fn total(&self) -> f64 {
        self.p.iter().sum()
    }

    /// Checks each probability and their sum.
    pub fn check(&self) -> Result<(), String> {
        for kind in FaultKind::ALL {
            let p = self.get(kind);
            if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
                return Err(format!(
                    "fault probability {kind} = {p} is not within 0..=1"
                ));
            }
        }
        let total = self.total();
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "fault probabilities add up to {total}, more than 1"
            ));
        }
        Ok(())
    }

    /// The fault a uniform draw `u` in [0, 1) selects, accumulating the
    /// probabilities in [`FaultKind::ALL`] order.
    pub fn pick(&self, u: f64) -> Option<FaultKind> {
        let mut acc = 0.0;
        for kind in FaultKind::ALL {
            acc += self.get(kind);
            if u < acc {
                return Some(kind);
            }
        }
        None
    }
}

impl Serialize for Faults {
    /// The non-zero probabilities, by name.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set: Vec<FaultKind> = FaultKind::ALL
            .into_iter()
            .filter(|k| self.get(*k) != 0.0)
            .collect();
        let mut map = s.serialize_map(Some(set.len()))?;
        for k in set {
            map.serialize_entry(k.as_str(), &self.get(k))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Faults {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FaultsVisitor;
        impl<'de> Visitor<'de> for FaultsVisitor {
            type Value = Faults;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from fault name to probability, e.g. {server_error: 0.1}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Faults, A::Error> {
                let mut faults = Faults::default();
                while let Some(name) = map.next_key::<String>()? {
                    let kind = FaultKind::from_name(&name)
                        .ok_or_else(|| de::Error::unknown_field(&name, &FaultKind::NAMES))?;
                    faults.set(kind, map.next_value::<f64>()?);
                }
                Ok(faults)
            }
        }
        d.deserialize_map(FaultsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        for kind in FaultKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            let back: FaultKind = serde_json::from_str(&json).unwrap();
            assert_eq!(back, kind);
            assert_eq!(FaultKind::ALL[kind.index()], kind);
        }
        let e = serde_json::from_str::<FaultKind>("\"nope\"").unwrap_err();
        assert!(e.to_string().contains("html_502"), "{e}");
    }

    #[test]
    fn faults_read_as_a_map_and_reject_unknown_names() {
        let f: Faults = serde_json::from_str(r#"{"hang": 0.25, "html_502": 0.5}"#).unwrap();
        assert_eq!(f.get(FaultKind::Hang), 0.25);
        assert_eq!(f.get(FaultKind::Html502), 0.5);
        assert_eq!(f.total(), 0.75);
        assert_eq!(
            serde_json::to_value(f).unwrap(),
            serde_json::json!({"hang": 0.25, "html_502": 0.5})
        );
        let e = serde_json::from_str::<Faults>(r#"{"hang": 0.1, "hnag": 0.1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `hnag`"), "{e}");
    }

    #[test]
    fn pick_accumulates_in_order() {
        let f = Faults::only(FaultKind::ServerError, 0.1).with(FaultKind::Hang, 0.2);
        assert_eq!(f.pick(0.05), Some(FaultKind::ServerError));
        assert_eq!(f.pick(0.1), Some(FaultKind::Hang));
        assert_eq!(f.pick(0.29), Some(FaultKind::Hang));
        assert_eq!(f.pick(0.31), None);
        assert!(f.check().is_ok());
        let bad = Faults::only(FaultKind::Payment, 0.7).with(FaultKind::Forbidden, 0.7);
        assert!(bad.check().is_err());
        assert!(Faults::only(FaultKind::Hang, f64::NAN).check().is_err());
    }

    #[test]
    fn every_outcome_is_reachable_by_a_fault() {
        use std::collections::BTreeSet;
        let reached: BTreeSet<Outcome> = FaultKind::ALL.iter().map(|k| k.outcome()).collect();
        for o in Outcome::ALL {
            assert!(reached.contains(&o), "{o}");
        }
    }

    #[test]
    fn rate_limit_faults_and_only_they_have_a_scope() {
        for kind in FaultKind::ALL {
            assert_eq!(
                kind.scope().is_some(),
                kind.outcome() == Outcome::RateLimited,
                "{kind}"
            );
        }
    }
}
