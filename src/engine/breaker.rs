//! Per-model circuit breaker.
//!
//! closed → open after `failure_threshold` consecutive failures (default 5)
//! → half-open once the open period (default 30 s) has passed, admitting
//! exactly one probe → closed when the probe succeeds, open again when it
//! fails. Each re-open multiplies the open period (×2) up to `max_open`
//! (default 10 × the cooldown); closing resets it. A server's Retry-After
//! that ends later than the remaining open period extends it.
//!
//! Failures are the errors a model can be blamed for (5xx, overload,
//! timeouts, network, invalid or rejected answers); rate limits, bad
//! requests and auth errors neither count nor reset the streak. An open
//! breaker gets no traffic; the transition to half-open happens when the
//! probe is sent.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Breaker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// The first open period.
    pub cooldown: Duration,
    /// Growth of the open period at each re-open.
    pub multiplier: f64,
    /// Longest open period.
    pub max_open: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
            multiplier: 2.0,
            max_open: Duration::from_secs(300),
        }
    }
}

/// The three states, as reported in events and snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// A state change, for the `breaker` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    /// The open period when `to` is `Open`.
    pub open_for: Option<Duration>,
}

/// Why a breaker refuses traffic right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// Open until this instant.
    Open(Instant),
    /// Half-open with its one probe in flight since this instant.
    Probing(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_since: Option<Instant> },
}

/// One model's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    inner: Inner,
    consecutive: u32,
    next_open_for: Duration,
    opens: u32,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        let next_open_for = cfg.cooldown;
        Breaker {
            cfg,
            inner: Inner::Closed,
            consecutive: 0,
            next_open_for,
            opens: 0,
        }
    }

    /// The state as last changed (an open breaker whose period has passed
    /// still says `Open` until its probe is sent).
    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How many times it opened (re-opens included).
    pub fn opens(&self) -> u32 {
        self.opens
    }

    /// Consecutive failures counted while closed.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }

    /// `None` when a request may be sent at `now`.
    pub fn blocked(&self, now: Instant) -> Option<Blocked> {
        match self.inner {
            Inner::Closed => None,
            Inner::Open { until } if now < until => Some(Blocked::Open(until)),
            Inner::Open { .. } => None,
            Inner::HalfOpen { probe_since: None } => None,
            Inner::HalfOpen {
                probe_since: Some(t),
            } => Some(Blocked::Probing(t)),
        }
    }

    /// A request is being sent at `now`: an open breaker whose period has
    /// passed becomes half-open and this request is its probe. (A probe
    /// presumed lost by the caller is replaced by this one.)
    pub fn on_send(&mut self, now: Instant) -> Option<Transition> {
        match self.inner {
            Inner::Open { until } if now >= until => {
                self.inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                Some(Transition {
                    from: BreakerState::Open,
                    to: BreakerState::HalfOpen,
                    open_for: None,
                })
            }
            Inner::HalfOpen { .. } => {
                self.inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                None
            }
            _ => None,
        }
    }

    /// A request succeeded.
    pub fn on_success(&mut self) -> Option<Transition> {
        self.consecutive = 0;
        match self.inner {
            Inner::HalfOpen { .. } => {
                self.inner = Inner::Closed;
                self.next_open_for = self.cfg.cooldown;
                Some(Transition {
                    from: BreakerState::HalfOpen,
                    to: BreakerState::Closed,
                    open_for: None,
                })
            }
            // A success sent before the breaker opened does not close it.
            _ => None,
        }
    }

    /// A request failed at `now` with an error the model is blamed for.
    pub fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        match self.inner {
            Inner::Closed => {
                self.consecutive = self.consecutive.saturating_add(1);
                if self.consecutive < self.cfg.failure_threshold.max(1) {
                    return None;
                }
                Some(self.open(now, BreakerState::Closed))
            }
            Inner::HalfOpen { .. } => {
                let grown = self.next_open_for.as_secs_f64() * self.cfg.multiplier.max(1.0);
                let grown = Duration::try_from_secs_f64(grown).unwrap_or(self.cfg.max_open);
                self.next_open_for = grown.min(self.cfg.max_open.max(self.cfg.cooldown));
                Some(self.open(now, BreakerState::HalfOpen))
            }
            Inner::Open { .. } => None,
        }
    }

    /// The probe ended without a verdict (rate limited, bad request): the
    /// next request may probe.
    pub fn on_neutral(&mut self) {
        if let Inner::HalfOpen { .. } = self.inner {
            self.inner = Inner::HalfOpen { probe_since: None };
        }
    }

    /// The probe committed for `since` was not sent after all (the model
    /// became unusable while it waited for a limiter slot): the next request
    /// may probe.
    pub fn release_probe(&mut self, since: Instant) {
        if self.inner
            == (Inner::HalfOpen {
                probe_since: Some(since),
            })
        {
            self.inner = Inner::HalfOpen { probe_since: None };
        }
    }

    /// A server asked for a wait until `until`: an open period ending
    /// earlier is extended to it. Returns whether it was.
    pub fn extend(&mut self, until: Instant) -> bool {
        match &mut self.inner {
            Inner::Open { until: u } if until > *u => {
                *u = until;
                true
            }
            _ => false,
        }
    }

    fn open(&mut self, now: Instant, from: BreakerState) -> Transition {
        self.inner = Inner::Open {
            until: super::clock::after(now, self.next_open_for),
        };
        self.consecutive = 0;
        self.opens += 1;
        Transition {
            from,
            to: BreakerState::Open,
            open_for: Some(self.next_open_for),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn full_cycle_with_lengthening_reopens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig::default());
        for _ in 0..4 {
            assert_eq!(b.on_failure(t0), None);
        }
        assert_eq!(b.blocked(t0), None, "4 failures keep it closed");
        let t = b.on_failure(t0).unwrap();
        assert_eq!(
            (t.from, t.to, t.open_for),
            (BreakerState::Closed, BreakerState::Open, Some(s(30)))
        );
        assert_eq!(b.blocked(t0 + s(29)), Some(Blocked::Open(t0 + s(30))));
        assert_eq!(b.blocked(t0 + s(30)), None, "period over: a probe may go");

        // Probe fails: open again for 60 s.
        let t = b.on_send(t0 + s(30)).unwrap();
        assert_eq!((t.from, t.to), (BreakerState::Open, BreakerState::HalfOpen));
        assert_eq!(
            b.blocked(t0 + s(31)),
            Some(Blocked::Probing(t0 + s(30))),
            "one probe only"
        );
        let t = b.on_failure(t0 + s(32)).unwrap();
        assert_eq!(
            (t.from, t.to, t.open_for),
            (BreakerState::HalfOpen, BreakerState::Open, Some(s(60)))
        );
        assert_eq!(b.blocked(t0 + s(91)), Some(Blocked::Open(t0 + s(92))));

        // Lengthening is capped at max_open (300 s).
        let mut now = t0 + s(92);
        let mut periods = vec![];
        for _ in 0..4 {
            b.on_send(now);
            let t = b.on_failure(now).unwrap();
            periods.push(t.open_for.unwrap().as_secs());
            now += t.open_for.unwrap();
        }
        assert_eq!(periods, [120, 240, 300, 300]);

        // Probe succeeds: closed, period reset.
        b.on_send(now);
        let t = b.on_success().unwrap();
        assert_eq!(
            (t.from, t.to),
            (BreakerState::HalfOpen, BreakerState::Closed)
        );
        assert_eq!(b.state(), BreakerState::Closed);
        for _ in 0..4 {
            b.on_failure(now);
        }
        assert_eq!(b.on_failure(now).unwrap().open_for, Some(s(30)));
        assert_eq!(b.opens(), 7);
    }

    #[test]
    fn success_resets_the_streak_and_neutral_frees_the_probe() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig::default());
        for _ in 0..4 {
            b.on_failure(t0);
        }
        b.on_success();
        for _ in 0..4 {
            assert_eq!(b.on_failure(t0), None);
        }
        b.on_failure(t0);
        b.on_send(t0 + s(30));
        assert!(b.blocked(t0 + s(30)).is_some());
        b.on_neutral();
        assert_eq!(b.blocked(t0 + s(30)), None);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn a_longer_retry_after_extends_the_open_period() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig {
            failure_threshold: 1,
            ..BreakerConfig::default()
        });
        b.on_failure(t0);
        assert!(!b.extend(t0 + s(10)), "shorter hint changes nothing");
        assert!(b.extend(t0 + s(45)));
        assert_eq!(b.blocked(t0 + s(44)), Some(Blocked::Open(t0 + s(45))));
    }
}
