//! Rate limits, exact and pure: time is a `Duration` since the simulator
//! started, so the logic is tested without a clock.
//!
//! - a group's `per_minute` is a sliding-window log: at most N admitted
//!   requests in any half-open window [s, s + W); a request at `t` is admitted
//!   when fewer than N admitted requests lie in (t − W, t];
//! - a group's `per_day` counts admitted requests per day, day k being
//!   [k·D, (k+1)·D) from the start;
//! - a model's `rpm` + `burst` is a token bucket (capacity `burst`, refilled
//!   at rpm per minute).
//!
//! Limits count at arrival, and only admitted requests count: a request
//! rejected with 429 consumes nothing (OpenRouter does not count rejected
//! requests against the free-tier limits).

use std::collections::VecDeque;
use std::time::Duration;

/// Sliding-window log of admitted arrival times.
#[derive(Debug, Clone)]
pub(crate) struct SlidingWindow {
    pub limit: u32,
    pub window: Duration,
    log: VecDeque<Duration>,
}

impl SlidingWindow {
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit,
            window,
            log: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Duration) {
        while let Some(&front) = self.log.front() {
            if front + self.window <= now {
                self.log.pop_front();
            } else {
                break;
            }
        }
    }

    /// `Ok` when a request at `now` may pass, else the wait until it may.
    pub fn check(&mut self, now: Duration) -> Result<(), Duration> {
        self.prune(now);
        if (self.log.len() as u64) < u64::from(self.limit) {
            return Ok(());
        }
        // The window is full: the oldest entry that must leave is the
        // (len − limit + 1)-th, normally the front.
        let idx = self.log.len() - self.limit as usize;
        let leaves = self.log.get(idx).copied().unwrap_or(now) + self.window;
        Err(leaves.saturating_sub(now))
    }

    pub fn record(&mut self, now: Duration) {
        self.log.push_back(now);
    }

    /// Admitted requests in the current window.
    pub fn used(&mut self, now: Duration) -> u32 {
        self.prune(now);
        u32::try_from(self.log.len()).unwrap_or(u32::MAX)
    }
}

/// Requests per day.
#[derive(Debug, Clone)]
pub(crate) struct DailyQuota {
    pub limit: u32,
    pub day: Duration,
    index: u128,
    used: u32,
}

impl DailyQuota {
    pub fn new(limit: u32, day: Duration) -> Self {
        DailyQuota {
            limit,
            day,
            index: 0,
            used: 0,
        }
    }

    fn day_of(&self, now: Duration) -> u128 {
        now.as_nanos() / self.day.as_nanos().max(1)
    }

    fn roll(&mut self, now: Duration) {
        let index = self.day_of(now);
        if index != self.index {
            self.index = index;
            self.used = 0;
        }
    }

    /// `Ok` when a request at `now` may pass, else the wait until the next day.
    pub fn check(&mut self, now: Duration) -> Result<(), Duration> {
        self.roll(now);
        if self.used < self.limit {
            return Ok(());
        }
        let next = self.day.as_nanos().max(1) * (self.index + 1);
        let wait = next.saturating_sub(now.as_nanos());
        Err(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(u64::MAX),
        ))
    }

    pub fn record(&mut self, now: Duration) {
        self.roll(now);
        self.used = self.used.saturating_add(1);
    }

    pub fn used(&mut self, now: Duration) -> u32 {
        self.roll(now);
        self.used
    }
}

/// A token bucket refilled continuously.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    pub capacity: f64,
    /// Tokens per second.
    pub rate: f64,
    tokens: f64,
    last: Duration,
}

/// Tolerance for floating-point refill: a client that waits the exact
/// advertised time must get its token.
const EPS: f64 = 1e-9;

impl TokenBucket {
    pub fn new(rate: f64, capacity: u32) -> Self {
        let capacity = f64::from(capacity.max(1));
        TokenBucket {
            capacity,
            rate,
            tokens: capacity,
            last: Duration::ZERO,
        }
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let dt = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
            self.last = now;
        }
    }

    pub fn check(&mut self, now: Duration) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 - EPS {
            return Ok(());
        }
        let secs = (1.0 - self.tokens) / self.rate;
        Err(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
    }

    pub fn take(&mut self, now: Duration) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

/// Which limit rejected a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    AccountMinute,
    AccountDay,
    Model,
}

/// The limits a request passes through.
pub(crate) struct Gates<'a> {
    pub minute: Option<&'a mut SlidingWindow>,
    pub day: Option<&'a mut DailyQuota>,
    pub bucket: Option<&'a mut TokenBucket>,
}

impl Gates<'_> {
    /// Checks the day, then the minute, then the model; commits to all of them
    /// only when every one admits the request.
    pub fn admit(self, now: Duration) -> Result<(), (Limited, Duration)> {
        let Gates {
            mut minute,
            mut day,
            mut bucket,
        } = self;
        if let Some(d) = day.as_deref_mut() {
            d.check(now).map_err(|w| (Limited::AccountDay, w))?;
        }
        if let Some(m) = minute.as_deref_mut() {
            m.check(now).map_err(|w| (Limited::AccountMinute, w))?;
        }
        if let Some(b) = bucket.as_deref_mut() {
            b.check(now).map_err(|w| (Limited::Model, w))?;
        }
        if let Some(d) = day {
            d.record(now);
        }
        if let Some(m) = minute {
            m.record(now);
        }
        if let Some(b) = bucket {
            b.take(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn window_admits_n_then_waits_for_the_oldest() {
        let mut w = SlidingWindow::new(3, ms(1000));
        for t in [0, 100, 200] {
            assert!(w.check(ms(t)).is_ok());
            w.record(ms(t));
        }
        assert_eq!(w.check(ms(300)), Err(ms(700)));
        // Half-open: the entry at 0 leaves exactly at 1000.
        assert_eq!(w.check(ms(999)), Err(ms(1)));
        assert!(w.check(ms(1000)).is_ok());
        w.record(ms(1000));
        assert_eq!(w.check(ms(1000)), Err(ms(100)));
        assert_eq!(w.used(ms(1000)), 3);
    }

    #[test]
    fn rejected_requests_do_not_consume_the_window() {
        let mut w = SlidingWindow::new(1, ms(1000));
        let mut gates = |t: u64| {
            Gates {
                minute: Some(&mut w),
                day: None,
                bucket: None,
            }
            .admit(ms(t))
        };
        assert!(gates(0).is_ok());
        assert!(gates(500).is_err());
        assert!(gates(999).is_err());
        assert!(gates(1000).is_ok());
    }

    #[test]
    fn daily_quota_resets_at_the_day_boundary() {
        let mut d = DailyQuota::new(2, ms(10_000));
        d.record(ms(1));
        d.record(ms(2));
        assert_eq!(d.check(ms(3)), Err(ms(9_997)));
        assert!(d.check(ms(10_000)).is_ok());
        assert_eq!(d.used(ms(10_001)), 0);
    }

    #[test]
    fn bucket_allows_burst_then_refills() {
        // 60 rpm = 1 per second, burst 2.
        let mut b = TokenBucket::new(1.0, 2);
        for _ in 0..2 {
            assert!(b.check(ms(0)).is_ok());
            b.take(ms(0));
        }
        assert_eq!(b.check(ms(0)), Err(ms(1000)));
        assert_eq!(b.check(ms(400)), Err(ms(600)));
        assert!(b.check(ms(1000)).is_ok());
    }

    #[test]
    fn a_failing_gate_consumes_none_of_the_others() {
        let mut w = SlidingWindow::new(5, ms(1000));
        let mut b = TokenBucket::new(1.0, 1);
        b.take(ms(0));
        let r = Gates {
            minute: Some(&mut w),
            day: None,
            bucket: Some(&mut b),
        }
        .admit(ms(10));
        assert_eq!(r.map_err(|e| e.0), Err(Limited::Model));
        assert_eq!(w.used(ms(10)), 0);
        let mut d = DailyQuota::new(1, ms(100_000));
        d.record(ms(0));
        let r = Gates {
            minute: Some(&mut w),
            day: Some(&mut d),
            bucket: None,
        }
        .admit(ms(10));
        assert_eq!(r.map_err(|e| e.0), Err(Limited::AccountDay));
    }

    proptest::proptest! {
        /// Whatever the arrivals: no half-open window of length W holds more
        /// than N admitted requests, a request is refused only when (t - W, t]
        /// already holds N, and the advertised wait is exactly when it would pass.
        #[test]
        fn window_is_exact(gaps in proptest::collection::vec(0u64..400, 1..60), limit in 1u32..6) {
            let window = ms(1000);
            let mut w = SlidingWindow::new(limit, window);
            let mut admitted: Vec<Duration> = vec![];
            let mut t = Duration::ZERO;
            for gap in gaps {
                t += ms(gap);
                let in_window = admitted.iter().filter(|a| **a + window > t).count();
                match w.check(t) {
                    Ok(()) => {
                        proptest::prop_assert!(in_window < limit as usize);
                        w.record(t);
                        admitted.push(t);
                    }
                    Err(wait) => {
                        proptest::prop_assert_eq!(in_window, limit as usize);
                        let at = t + wait;
                        let later = admitted.iter().filter(|a| **a + window > at).count();
                        proptest::prop_assert!(later < limit as usize);
                        let before = at - Duration::from_nanos(1);
                        let earlier = admitted.iter().filter(|a| **a + window > before).count();
                        proptest::prop_assert_eq!(earlier, limit as usize);
                    }
                }
            }
            for (i, a) in admitted.iter().enumerate() {
                let n = admitted[i..].iter().filter(|b| **b < *a + window).count();
                proptest::prop_assert!(n <= limit as usize);
            }
        }
    }
}
