//! Injected faults: their names, the per-model probabilities and the outcome a
//! correct client must record for each.

use serde::{Deserialize, Serialize};

use crate::record::Outcome;

/// A fault the simulator can inject instead of (or in the middle of) an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 or 502 with a JSON body, sometimes a 502 HTML page.
    ServerError,
    /// 503 "No available providers" or 529.
    Overloaded,
    /// 429 from the upstream provider (capacity exhausted).
    RateLimitUpstream,
    /// Accepts the request and never answers.
    Hang,
    /// 408 request timeout.
    RequestTimeout,
    /// A 200 stream of keep-alive comments only (non-stream: whitespace).
    KeepaliveOnly,
    /// A 200 whose body or chunk is not JSON.
    MalformedJson,
    /// A 200 HTML page.
    #[serde(rename = "html_200")]
    Html200,
    /// A 200 stream with some content, then an error chunk.
    MidStreamError,
    /// A 200 stream with some content, then EOF without finish_reason or [DONE].
    Truncated,
    /// The connection is closed in the middle of the body.
    Disconnect,
    /// 401.
    Auth,
    /// 402.
    Payment,
    /// 403 (moderation).
    Forbidden,
    /// 400.
    BadRequest,
    /// 404.
    NotFound,
}

impl FaultKind {
    /// Every kind, in the order probabilities are accumulated.
    pub const ALL: [FaultKind; 16] = [
        FaultKind::ServerError,
        FaultKind::Overloaded,
        FaultKind::RateLimitUpstream,
        FaultKind::Hang,
        FaultKind::RequestTimeout,
        FaultKind::KeepaliveOnly,
        FaultKind::MalformedJson,
        FaultKind::Html200,
        FaultKind::MidStreamError,
        FaultKind::Truncated,
        FaultKind::Disconnect,
        FaultKind::Auth,
        FaultKind::Payment,
        FaultKind::Forbidden,
        FaultKind::BadRequest,
        FaultKind::NotFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::ServerError => "server_error",
            FaultKind::Overloaded => "overloaded",
            FaultKind::RateLimitUpstream => "rate_limit_upstream",
            FaultKind::Hang => "hang",
            FaultKind::RequestTimeout => "request_timeout",
            FaultKind::KeepaliveOnly => "keepalive_only",
            FaultKind::MalformedJson => "malformed_json",
            FaultKind::Html200 => "html_200",
            FaultKind::MidStreamError => "mid_stream_error",
            FaultKind::Truncated => "truncated",
            FaultKind::Disconnect => "disconnect",
            FaultKind::Auth => "auth",
            FaultKind::Payment => "payment",
            FaultKind::Forbidden => "forbidden",
            FaultKind::BadRequest => "bad_request",
            FaultKind::NotFound => "not_found",
        }
    }

    /// The outcome a correct client records for this fault.
    pub fn outcome(self) -> Outcome {
        match self {
            FaultKind::ServerError => Outcome::ServerError,
            FaultKind::Overloaded => Outcome::Overloaded,
            FaultKind::RateLimitUpstream => Outcome::RateLimited,
            FaultKind::Hang | FaultKind::RequestTimeout | FaultKind::KeepaliveOnly => {
                Outcome::Timeout
            }
            FaultKind::MalformedJson
            | FaultKind::Html200
            | FaultKind::MidStreamError
            | FaultKind::Truncated => Outcome::InvalidResponse,
            FaultKind::Disconnect => Outcome::Network,
            FaultKind::Auth => Outcome::Auth,
            FaultKind::Payment => Outcome::Payment,
            FaultKind::Forbidden => Outcome::Forbidden,
            FaultKind::BadRequest => Outcome::BadRequest,
            FaultKind::NotFound => Outcome::NotFound,
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-model probabilities of each fault (each in 0..=1, summing to at most 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub server_error: f64,
    #[serde(default)]
    pub overloaded: f64,
    #[serde(default)]
    pub rate_limit_upstream: f64,
    #[serde(default)]
    pub hang: f64,
    #[serde(default)]
    pub request_timeout: f64,
    #[serde(default)]
    pub keepalive_only: f64,
    #[serde(default)]
    pub malformed_json: f64,
    #[serde(default)]
    pub html_200: f64,
    #[serde(default)]
    pub mid_stream_error: f64,
    #[serde(default)]
    pub truncated: f64,
    #[serde(default)]
    pub disconnect: f64,
    #[serde(default)]
    pub auth: f64,
    #[serde(default)]
    pub payment: f64,
    #[serde(default)]
    pub forbidden: f64,
    #[serde(default)]
    pub bad_request: f64,
    #[serde(default)]
    pub not_found: f64,
}

impl Faults {
    /// The probability of `kind`.
    pub fn get(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::ServerError => self.server_error,
            FaultKind::Overloaded => self.overloaded,
            FaultKind::RateLimitUpstream => self.rate_limit_upstream,
            FaultKind::Hang => self.hang,
            FaultKind::RequestTimeout => self.request_timeout,
            FaultKind::KeepaliveOnly => self.keepalive_only,
            FaultKind::MalformedJson => self.malformed_json,
            FaultKind::Html200 => self.html_200,
            FaultKind::MidStreamError => self.mid_stream_error,
            FaultKind::Truncated => self.truncated,
            FaultKind::Disconnect => self.disconnect,
            FaultKind::Auth => self.auth,
            FaultKind::Payment => self.payment,
            FaultKind::Forbidden => self.forbidden,
            FaultKind::BadRequest => self.bad_request,
            FaultKind::NotFound => self.not_found,
        }
    }

    /// Sum of all probabilities.
    pub fn total(&self) -> f64 {
        FaultKind::ALL.iter().map(|k| self.get(*k)).sum()
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
        }
    }

    #[test]
    fn pick_accumulates_in_order() {
        let f = Faults {
            server_error: 0.1,
            hang: 0.2,
            ..Faults::default()
        };
        assert_eq!(f.pick(0.05), Some(FaultKind::ServerError));
        assert_eq!(f.pick(0.1), Some(FaultKind::Hang));
        assert_eq!(f.pick(0.29), Some(FaultKind::Hang));
        assert_eq!(f.pick(0.31), None);
        assert!(f.check().is_ok());
        let bad = Faults {
            payment: 0.7,
            forbidden: 0.7,
            ..Faults::default()
        };
        assert!(bad.check().is_err());
    }

    #[test]
    fn every_outcome_but_ok_is_reachable_by_a_fault() {
        use std::collections::BTreeSet;
        let reached: BTreeSet<Outcome> = FaultKind::ALL.iter().map(|k| k.outcome()).collect();
        for o in Outcome::ALL {
            assert_eq!(reached.contains(&o), o != Outcome::Ok, "{o}");
        }
    }
}
