//! What the simulator really did: counters (`GET /sim/stats`) and the
//! per-request ground truth log (`GET /sim/log`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::Outcome;

/// Counters since the start (or the last `POST /sim/reset`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Every `POST /v1/chat/completions`, whatever became of it.
    pub requests: u64,
    /// Every request by the outcome a correct client records (includes
    /// requests that named no known model, e.g. invalid JSON).
    #[serde(default)]
    pub by_outcome: BTreeMap<String, u64>,
    /// Per model id; every scenario model is present, plus unknown ids asked for.
    pub models: BTreeMap<String, ModelStats>,
    /// Per group (account).
    pub groups: BTreeMap<String, GroupStats>,
    /// Admitted requests still being answered (a gauge, not reset): a hang
    /// whose client went away must not stay here.
    #[serde(default)]
    pub in_flight: u64,
    /// TCP connections accepted since the start (not reset): with
    /// keep-alive, a client at concurrency N should need about N.
    #[serde(default)]
    pub connections: u64,
    /// Requests that arrived at the `redirect` fault's default target,
    /// `/sim/redirected`: clients that followed a redirect (they must not).
    #[serde(default)]
    pub redirects_followed: u64,
    /// Of those, the requests that carried an `Authorization` header: a key
    /// that went to another host.
    #[serde(default)]
    pub redirects_with_key: u64,
    /// Unix epoch milliseconds of the start (or the last reset): `received_us`
    /// and the other log times count from here.
    #[serde(default)]
    pub start_epoch_ms: u64,
}

/// Counters of one model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStats {
    pub requests: u64,
    /// Keyed by [`Outcome`] names (`ok`, `rate_limited`, ...).
    pub by_outcome: BTreeMap<String, u64>,
    /// Keyed by rate-limit scope names (`account_minute`, `account_day`,
    /// `upstream`, `model`, `unknown`): what the client should record.
    pub rate_limited_by_scope: BTreeMap<String, u64>,
    /// Injected faults by kind (`server_error`, `hang`, ...).
    pub faults: BTreeMap<String, u64>,
    /// Answers sent by kind (`reference`, `broken`, `no_code`,
    /// `syntax_error`, `generic`), counted for successful requests.
    #[serde(default)]
    pub answers: BTreeMap<String, u64>,
}

/// Counters of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Requests to the group's models that reached the limits.
    pub requests: u64,
    /// Requests the limits let through.
    pub admitted: u64,
    /// 429s for the per-minute limit.
    pub rate_limited_minute: u64,
    /// 429s for the per-day limit.
    pub rate_limited_day: u64,
    /// Admitted requests in the current day.
    pub used_today: u64,
    /// Admitted requests in the current sliding minute.
    #[serde(default)]
    pub used_this_minute: u64,
}

/// One request, as the server saw and answered it. Times are microseconds
/// since the start (or the last reset), from a monotonic clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// 1-based arrival order.
    pub seq: u64,
    /// The model asked for (empty when the body did not parse).
    pub model: String,
    pub stream: bool,
    /// The suite item asked for, when the prompt is one of the suite's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// 0-based index of this admitted request among those for the same
    /// (model, prompt): the key of its random draws with the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u64>,
    pub received_us: u64,
    /// The TCP connection the request came on (1-based order of acceptance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    /// The request's 1-based position on its connection: 1 is the request
    /// that opened it, whose latency on the client's side holds the TCP
    /// (and TLS) handshake that this server's clock does not see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_request: Option<u64>,
    /// When that connection was accepted (same clock as `received_us`; 0
    /// for one accepted before the last `/sim/reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_accepted_us: Option<u64>,
    /// HTTP status sent.
    pub status: u16,
    /// What a correct client records.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// `id` of the completion (empty for errors).
    pub response_id: String,
    /// When the first content delta (stream) or the body (non-stream) was
    /// handed to the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_content_us: Option<u64>,
    /// When the last body bytes were handed to the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_byte_us: Option<u64>,
    /// Content + reasoning tokens sent.
    #[serde(default)]
    pub completion_tokens: u64,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_owned()).or_default() += 1;
}

impl SimStats {
    /// Zeroed counters with every model and group present.
    pub(crate) fn new<'a>(
        models: impl Iterator<Item = &'a str>,
        groups: impl Iterator<Item = &'a str>,
    ) -> SimStats {
        SimStats {
            models: models
                .map(|m| (m.to_owned(), ModelStats::default()))
                .collect(),
            groups: groups
                .map(|g| (g.to_owned(), GroupStats::default()))
                .collect(),
            ..SimStats::default()
        }
    }

    /// Counts one finished decision about a request.
    pub(crate) fn count(&mut self, model: Option<&str>, outcome: Outcome, detail: Detail<'_>) {
        self.requests += 1;
        bump(&mut self.by_outcome, outcome.as_str());
        let Some(model) = model else { return };
        // Unknown ids are counted under their name, but not without bound.
        let key = if self.models.contains_key(model) || self.models.len() < 10_000 {
            model
        } else {
            "(other)"
        };
        let m = self.models.entry(key.to_owned()).or_default();
        m.requests += 1;
        bump(&mut m.by_outcome, outcome.as_str());
        if let Some(scope) = detail.scope {
            bump(&mut m.rate_limited_by_scope, scope);
        }
        if let Some(fault) = detail.fault {
            bump(&mut m.faults, fault);
        }
        if let Some(answer) = detail.answer {
            bump(&mut m.answers, answer);
        }
    }
}

/// Extra facts about a counted request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Detail<'a> {
    pub scope: Option<&'a str>,
    pub fault: Option<&'a str>,
    pub answer: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_model_outcome_scope_and_fault() {
        let mut s = SimStats::new(["a", "b"].into_iter(), ["g"].into_iter());
        s.count(
            Some("a"),
            Outcome::Ok,
            Detail {
                answer: Some("reference"),
                ..Detail::default()
            },
        );
        s.count(
            Some("a"),
            Outcome::RateLimited,
            Detail {
                scope: Some("account_minute"),
                ..Detail::default()
            },
        );
        s.count(None, Outcome::BadRequest, Detail::default());
        s.count(Some("zzz"), Outcome::NotFound, Detail::default());
        assert_eq!(s.requests, 4);
        assert_eq!(s.by_outcome["bad_request"], 1);
        let a = &s.models["a"];
        assert_eq!(a.requests, 2);
        assert_eq!(a.by_outcome["ok"], 1);
        assert_eq!(a.rate_limited_by_scope["account_minute"], 1);
        assert_eq!(a.answers["reference"], 1);
        assert_eq!(s.models["b"], ModelStats::default());
        assert_eq!(s.models["zzz"].by_outcome["not_found"], 1);
        let json = serde_json::to_string(&s).unwrap();
        let back: SimStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
