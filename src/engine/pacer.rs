//! Pacing where no limit is known (the TTA seed's "gradually increase request
//! rate"): AIMD on the sending rate of a model, or of a provider group for
//! account-scope 429s.
//!
//! - Unpaced until the first 429.
//! - On a 429 of a request sent at least one window after the last decrease
//!   (a new rate shows only once the old sends left the server's window, so
//!   at most one decrease per window, as TCP does per round trip): the rate
//!   at which it happened — the pacer's rate, or the number of sends in the
//!   last window when unpaced (at most 65,536 are logged) — becomes the
//!   *ceiling* (the lowest rate known to be too fast), and the rate is
//!   halved (never below one send per window). Other 429s only get their
//!   cooldown.
//! - On each success the rate grows by `1 / rate`, i.e. by about one send per
//!   window per window, up to 95 % of the ceiling.
//!
//! Sends are spaced evenly, `window / rate` apart, from reserved slots (so
//! concurrent callers never share one). Each 429 lowers the ceiling to a rate
//! at most 95 % of the previous one, so the cap converges below the server's
//! real limit within a few rounds and the 429s stop.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::clock::after;

/// Lowest rate: one send per window.
const MIN_RATE: f64 = 1.0;
/// The fraction of the ceiling the rate may grow back to.
const CEILING_FRACTION: f64 = 0.95;
/// Sends kept in the log (1 MB): a rate above this many sends per window is
/// counted as this many when a 429 sets the ceiling (65,536 per minute is
/// 1,092 per second), and memory stays bounded against a fast local server.
const MAX_LOGGED: usize = 1 << 16;

/// AIMD pacing state of one key.
#[derive(Debug, Clone)]
pub struct Pacer {
    window: Duration,
    rate: Option<f64>,
    ceiling: Option<f64>,
    next_at: Option<Instant>,
    last_decrease: Option<Instant>,
    sends: VecDeque<Instant>,
    decreases: u32,
}

impl Pacer {
    /// An unpaced pacer measuring rates per `window`.
    pub fn new(window: Duration) -> Self {
        Pacer {
            window: window.max(Duration::from_millis(1)),
            rate: None,
            ceiling: None,
            next_at: None,
            last_decrease: None,
            sends: VecDeque::new(),
            decreases: 0,
        }
    }

    /// Sends per window, when paced.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// The lowest rate known to be too fast.
    pub fn ceiling(&self) -> Option<f64> {
        self.ceiling
    }

    /// How many times the rate was lowered.
    pub fn decreases(&self) -> u32 {
        self.decreases
    }

    fn interval(&self) -> Option<Duration> {
        self.rate.map(|r| self.window.div_f64(r.max(MIN_RATE)))
    }

    /// The earliest slot at or after `now`.
    pub fn peek(&self, now: Instant) -> Instant {
        self.next_at.map_or(now, |n| n.max(now))
    }

    /// Takes a slot at or after `now` and records the send there.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let slot = self.peek(now);
        if let Some(i) = self.interval() {
            self.next_at = Some(after(slot, i));
        }
        // Sends that left the window are never counted again: drop them
        // here, or the log would grow with every send of a run without 429s.
        self.forget_before(now);
        if self.sends.len() >= MAX_LOGGED {
            self.sends.pop_front();
        }
        self.sends.push_back(slot);
        slot
    }

    fn forget_before(&mut self, now: Instant) {
        while self.sends.front().is_some_and(|t| *t + self.window <= now) {
            self.sends.pop_front();
        }
    }

    /// Sends recorded in the window before `now` (reserved slots included).
    pub fn sends_in_window(&mut self, now: Instant) -> u32 {
        self.forget_before(now);
        u32::try_from(self.sends.iter().filter(|t| **t <= now).count()).unwrap_or(u32::MAX)
    }

    /// A 429 arrived at `now` for a request sent at `sent`. Returns whether
    /// the rate was lowered.
    pub fn on_rate_limited(&mut self, sent: Instant, now: Instant) -> bool {
        if self.last_decrease.is_some_and(|d| sent < d + self.window) {
            return false;
        }
        let current = match self.rate {
            Some(r) => r,
            None => f64::from(self.sends_in_window(now).max(1)),
        };
        self.ceiling = Some(self.ceiling.map_or(current, |c| c.min(current)));
        let rate = (current / 2.0).max(MIN_RATE);
        self.rate = Some(rate);
        self.last_decrease = Some(now);
        self.decreases += 1;
        let next = after(now, self.window.div_f64(rate));
        self.next_at = Some(self.next_at.map_or(next, |n| n.max(next)));
        true
    }

    /// A request succeeded: grow the rate additively.
    pub fn on_success(&mut self) {
        if let Some(r) = self.rate {
            let cap = self
                .ceiling
                .map_or(f64::MAX, |c| (c * CEILING_FRACTION).max(MIN_RATE));
            self.rate = Some((r + 1.0 / r.max(MIN_RATE)).min(cap).max(MIN_RATE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaced_until_a_429_then_halves_from_the_observed_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_secs(60));
        for _ in 0..10 {
            assert_eq!(p.reserve(t0), t0, "no pacing before a 429");
        }
        assert!(p.on_rate_limited(t0, t0 + Duration::from_secs(1)));
        assert_eq!(p.ceiling(), Some(10.0));
        assert_eq!(p.rate(), Some(5.0));
        // Next send one interval (12 s) after the 429.
        assert_eq!(
            p.peek(t0 + Duration::from_secs(1)),
            t0 + Duration::from_secs(13)
        );
        // A 429 of a request sent within a window of the decrease is not
        // counted again: the old sends are still in the server's window.
        assert!(!p.on_rate_limited(t0 + Duration::from_secs(13), t0 + Duration::from_secs(14)));
        assert_eq!(p.rate(), Some(5.0));
        assert!(p.on_rate_limited(t0 + Duration::from_secs(61), t0 + Duration::from_secs(62)));
        assert_eq!((p.rate(), p.ceiling()), (Some(2.5), Some(5.0)));
    }

    #[test]
    fn the_send_log_keeps_one_window_however_long_the_run() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_secs(1));
        // 100,000 unpaced sends over 100 s: 1,000 per window.
        for i in 0..100_000u64 {
            p.reserve(t0 + Duration::from_millis(i));
        }
        assert!(p.sends.len() <= 1_001, "{} sends kept", p.sends.len());
        let end = t0 + Duration::from_millis(99_999);
        assert_eq!(p.sends_in_window(end), 1_000);
        // A 429 still sees the rate of the last window.
        assert!(p.on_rate_limited(end, end));
        assert_eq!(p.ceiling(), Some(1_000.0));

        // However fast the sends: at most MAX_LOGGED are kept.
        let mut p = Pacer::new(Duration::from_secs(60));
        for _ in 0..MAX_LOGGED + 10 {
            p.reserve(t0);
        }
        assert_eq!(p.sends.len(), MAX_LOGGED);
        assert!(p.on_rate_limited(t0, t0));
        assert_eq!(p.ceiling(), Some(MAX_LOGGED as f64));
    }

    #[test]
    fn grows_additively_up_to_95_percent_of_the_ceiling() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_secs(60));
        for _ in 0..10 {
            p.reserve(t0);
        }
        p.on_rate_limited(t0, t0);
        for _ in 0..5 {
            p.on_success();
        }
        let r = p.rate().unwrap();
        assert!(
            r > 5.8 && r < 6.0,
            "about +1 per 5 successes at rate 5: {r}"
        );
        for _ in 0..1000 {
            p.on_success();
        }
        assert!((p.rate().unwrap() - 9.5).abs() < 1e-9);
    }

    #[test]
    fn paced_slots_are_evenly_spaced_and_distinct() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_secs(10));
        p.reserve(t0);
        p.reserve(t0);
        p.on_rate_limited(t0, t0); // 2 per window → 1 per window: 10 s apart
        let slots: Vec<u64> = (0..3).map(|_| (p.reserve(t0) - t0).as_secs()).collect();
        assert_eq!(slots, [10, 20, 30]);
    }
}
