//! Chain metrics from the rotation engine's events: primary usage share,
//! fallback rate, waits and total wait, give-ups, breaker openings.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::read::EventView;

/// The chain's behaviour over every logical request read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChainMetrics {
    /// Logical requests (`request` records).
    pub requests: u64,
    /// Requests that ended with an accepted answer.
    pub requests_ok: u64,
    /// Share of answered requests answered by their chain's primary.
    pub primary_share: Option<f64>,
    /// Share of answered requests answered by another model than the primary.
    pub fallback_rate: Option<f64>,
    /// `fallback` events (one per switch of model).
    pub fallbacks: u64,
    pub fallbacks_by_reason: BTreeMap<String, u64>,
    /// `wait` events.
    pub waits: u64,
    /// Sum of the waits, ms (from `wait` events; from the requests' `waited_ms`
    /// when the files hold no `wait` event).
    pub wait_ms_total: f64,
    pub waits_by_reason: BTreeMap<String, u64>,
    pub give_ups: u64,
    pub give_ups_by_reason: BTreeMap<String, u64>,
    /// Breakers that went to `open`.
    pub breaker_opens: u64,
    /// `quota_exhausted` events.
    pub quota_exhausted: u64,
}

/// One model's part in the chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelChain {
    /// Requests whose primary this model was.
    pub primary_of: u64,
    /// Requests this model answered.
    pub answered: u64,
    /// Fallbacks away from this model, and to it.
    pub fallbacks_from: u64,
    pub fallbacks_to: u64,
    pub waits: u64,
    pub wait_ms: f64,
    pub breaker_opens: u64,
}

impl ModelChain {
    /// Whether any event mentioned the model.
    pub fn is_empty(&self) -> bool {
        *self == ModelChain::default()
    }
}

/// Accumulates events; sums are kept in whole microseconds so they do not
/// depend on the order of the records.
#[derive(Debug, Default)]
pub struct EventAcc {
    requests: u64,
    requests_ok: u64,
    answered: u64,
    by_primary: u64,
    fallbacks: u64,
    fallbacks_by_reason: BTreeMap<String, u64>,
    waits: u64,
    wait_us: u64,
    request_wait_us: u64,
    waits_by_reason: BTreeMap<String, u64>,
    give_ups: u64,
    give_ups_by_reason: BTreeMap<String, u64>,
    breaker_opens: u64,
    quota_exhausted: u64,
    models: HashMap<String, ModelAcc>,
}

#[derive(Debug, Default)]
struct ModelAcc {
    primary_of: u64,
    answered: u64,
    fallbacks_from: u64,
    fallbacks_to: u64,
    waits: u64,
    wait_us: u64,
    breaker_opens: u64,
}

fn us(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1000.0).round() as u64
    } else {
        0
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: Option<&str>) {
    let key = key.unwrap_or("unknown");
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

impl EventAcc {
    fn model(&mut self, id: &str) -> &mut ModelAcc {
        // Events are few next to attempts: one small allocation each is fine.
        self.models.entry(id.to_string()).or_default()
    }

    /// Counts one event; unknown events are ignored.
    pub fn add(&mut self, e: &EventView<'_>) {
        match e.event {
            "request" => {
                self.requests += 1;
                let used = e.model_used.or(e.model);
                let ok = e.ok.unwrap_or(used.is_some());
                if ok {
                    self.requests_ok += 1;
                }
                self.request_wait_us += e.waited_ms.map_or(0, us);
                if let Some(p) = e.primary {
                    self.model(p).primary_of += 1;
                }
                if let (Some(used), true) = (used, ok) {
                    self.model(used).answered += 1;
                    if let Some(p) = e.primary {
                        self.answered += 1;
                        if p == used {
                            self.by_primary += 1;
                        }
                    }
                }
            }
            "fallback" => {
                self.fallbacks += 1;
                bump(&mut self.fallbacks_by_reason, e.reason);
                if let Some(from) = e.from {
                    self.model(from).fallbacks_from += 1;
                }
                if let Some(to) = e.to {
                    self.model(to).fallbacks_to += 1;
                }
            }
            "wait" => {
                self.waits += 1;
                let w = e.wait_ms.map_or(0, us);
                self.wait_us += w;
                bump(&mut self.waits_by_reason, e.reason);
                if let Some(m) = e.model {
                    let acc = self.model(m);
                    acc.waits += 1;
                    acc.wait_us += w;
                }
            }
            "give_up" => {
                self.give_ups += 1;
                bump(&mut self.give_ups_by_reason, e.reason);
            }
            "breaker" if e.to == Some("open") => {
                self.breaker_opens += 1;
                if let Some(m) = e.model {
                    self.model(m).breaker_opens += 1;
                }
            }
            "quota_exhausted" | "quota" => self.quota_exhausted += 1,
            _ => {}
        }
    }

    /// The metrics, and each model's part.
    pub fn finish(self) -> (ChainMetrics, HashMap<String, ModelChain>) {
        let share = |n: u64| (self.answered > 0).then(|| n as f64 / self.answered as f64);
        let wait_us = if self.waits > 0 {
            self.wait_us
        } else {
            self.request_wait_us
        };
        let metrics = ChainMetrics {
            requests: self.requests,
            requests_ok: self.requests_ok,
            primary_share: share(self.by_primary),
            fallback_rate: share(self.answered - self.by_primary),
            fallbacks: self.fallbacks,
            fallbacks_by_reason: self.fallbacks_by_reason,
            waits: self.waits,
            wait_ms_total: wait_us as f64 / 1000.0,
            waits_by_reason: self.waits_by_reason,
            give_ups: self.give_ups,
            give_ups_by_reason: self.give_ups_by_reason,
            breaker_opens: self.breaker_opens,
            quota_exhausted: self.quota_exhausted,
        };
        let models = self
            .models
            .into_iter()
            .map(|(id, a)| {
                (
                    id,
                    ModelChain {
                        primary_of: a.primary_of,
                        answered: a.answered,
                        fallbacks_from: a.fallbacks_from,
                        fallbacks_to: a.fallbacks_to,
                        waits: a.waits,
                        wait_ms: a.wait_us as f64 / 1000.0,
                        breaker_opens: a.breaker_opens,
                    },
                )
            })
            .collect();
        (metrics, models)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &'static str) -> EventView<'static> {
        EventView {
            event,
            ..EventView::default()
        }
    }

    #[test]
    fn chain_metrics_from_events() {
        let mut acc = EventAcc::default();
        for used in ["a", "a", "b"] {
            acc.add(&EventView {
                model_used: Some(used),
                primary: Some("a"),
                ok: Some(true),
                ..ev("request")
            });
        }
        acc.add(&EventView {
            primary: Some("a"),
            ok: Some(false),
            ..ev("request")
        });
        acc.add(&EventView {
            from: Some("a"),
            to: Some("b"),
            reason: Some("rate_limited"),
            ..ev("fallback")
        });
        acc.add(&EventView {
            model: Some("a"),
            wait_ms: Some(1500.0),
            reason: Some("retry_after"),
            ..ev("wait")
        });
        acc.add(&EventView {
            wait_ms: Some(500.25),
            ..ev("wait")
        });
        acc.add(&EventView {
            model: Some("b"),
            to: Some("open"),
            ..ev("breaker")
        });
        acc.add(&ev("give_up"));
        acc.add(&ev("something_new"));
        let (m, models) = acc.finish();
        assert_eq!((m.requests, m.requests_ok), (4, 3));
        assert_eq!(m.primary_share, Some(2.0 / 3.0));
        assert_eq!(m.fallback_rate, Some(1.0 / 3.0));
        assert_eq!(
            (m.fallbacks, m.waits, m.give_ups, m.breaker_opens),
            (1, 2, 1, 1)
        );
        assert_eq!(m.wait_ms_total, 2000.25);
        assert_eq!(m.waits_by_reason.get("unknown"), Some(&1));
        assert_eq!(models["a"].primary_of, 4);
        assert_eq!(models["a"].answered, 2);
        assert_eq!(models["b"].fallbacks_to, 1);
        assert_eq!(models["b"].breaker_opens, 1);
    }
}
