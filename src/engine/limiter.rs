//! Client-side limits where they are known, and the store that keeps them.
//!
//! **Window limit**: an exact sliding-window log — at most `max` sends in any
//! half-open window `[t − W, t)`. It is reservation-based: `reserve(now)`
//! returns `max(now, times[len − max] + W)` and records that slot, so
//! concurrent callers each get a distinct slot and nobody spends a request
//! just to be told 429. The engine passes the window with a 2 % safety
//! margin (`W · 1.02`) so arrival jitter at the server cannot make a 429.
//!
//! **Daily quota**: a counter of sends per period (a "day", which may be
//! scaled) that resets at `first_reset + k · period` (the next 00:00 UTC for
//! OpenRouter), or earlier/later when a server's account-day 429 says when.
//!
//! Both live behind [`RateStore`], keyed by strings (`group:<provider>:free`,
//! `model:<id>`). [`InMemoryStore`] keeps them in the process; a shared store
//! (Redis with GCRA, for many CI runners on one account) implements the same
//! five calls and the rotation policy does not change. The calls are
//! synchronous and made while the engine decides; a networked store should
//! answer from a local lease or cache and settle with the server in the
//! background.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The margin added to every known window.
pub const WINDOW_MARGIN: f64 = 1.02;

/// At most `max` sends in any window of length `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    pub max: u32,
    pub window: Duration,
}

impl WindowLimit {
    /// The limit with [`WINDOW_MARGIN`] applied to its window.
    pub fn with_margin(self) -> Self {
        WindowLimit {
            max: self.max,
            window: Duration::try_from_secs_f64(self.window.as_secs_f64() * WINDOW_MARGIN)
                .unwrap_or(self.window),
        }
    }
}

/// A quota of `max` sends per `period`, periods starting at `first_reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyLimit {
    /// `None`: no counter, only server-reported exhaustion.
    pub max: Option<u32>,
    pub period: Duration,
    pub first_reset: Instant,
}

impl DailyLimit {
    /// The end of the period that contains `now`.
    pub fn period_end(&self, now: Instant) -> Instant {
        if now < self.first_reset {
            return self.first_reset;
        }
        let period = self.period.max(Duration::from_millis(1));
        let k = (now - self.first_reset).as_nanos() / period.as_nanos();
        let k = u32::try_from(k.saturating_add(1)).unwrap_or(u32::MAX);
        period
            .checked_mul(k)
            .and_then(|d| self.first_reset.checked_add(d))
            .unwrap_or_else(|| super::clock::far_future(now))
    }
}

/// A daily quota as read from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyState {
    /// Sends counted in the current period.
    pub used: u32,
    /// When the current period ends.
    pub period_end: Instant,
    /// Set when the quota is spent: no sends before this instant.
    pub exhausted_until: Option<Instant>,
}

/// Limiter and quota state: in the process today, shareable tomorrow.
pub trait RateStore: Send + Sync + std::fmt::Debug {
    /// The earliest slot at or after `now` under `limit`, without taking it.
    fn peek_slot(&self, key: &str, limit: WindowLimit, now: Instant) -> Instant;
    /// Takes and returns the earliest slot at or after `now` under `limit`.
    fn reserve_slot(&self, key: &str, limit: WindowLimit, now: Instant) -> Instant;
    /// The quota's state at `now` (rolling the period over when it ended).
    fn daily(&self, key: &str, limit: &DailyLimit, now: Instant) -> DailyState;
    /// Counts one send at `now`; a counter reaching `max` marks the quota
    /// spent until the period ends. Returns the state after.
    fn consume_daily(&self, key: &str, limit: &DailyLimit, now: Instant) -> DailyState;
    /// The server said the quota is spent until `until`.
    fn exhaust_daily(&self, key: &str, limit: &DailyLimit, until: Instant, now: Instant);
    /// The server said its window frees at `free_at` (a 429's reset): every
    /// logged send that would still count after then under `window` is
    /// moved back so that it expires at `free_at` — the server's clock wins
    /// over rotor's guess of where its window starts.
    fn align_window(&self, key: &str, window: Duration, free_at: Instant);
}

/// The exact sliding-window log behind one key.
#[derive(Debug, Clone, Default)]
pub struct SlidingWindow {
    times: VecDeque<Instant>,
}

impl SlidingWindow {
    /// See [`RateStore::align_window`].
    pub fn align(&mut self, window: Duration, free_at: Instant) {
        let Some(latest_start) = free_at.checked_sub(window) else {
            return;
        };
        for t in self.times.iter_mut() {
            if *t > latest_start {
                *t = latest_start;
            }
        }
    }

    /// The earliest slot at or after `now`.
    pub fn peek(&self, limit: WindowLimit, now: Instant) -> Instant {
        let max = limit.max.max(1) as usize;
        let len = self.times.len();
        if len < max {
            return now;
        }
        now.max(super::clock::after(self.times[len - max], limit.window))
    }

    /// Takes the earliest slot at or after `now` and logs it. (A limit of
    /// `u32::MAX` only logs: the send counts if a real limit is learned.)
    pub fn reserve(&mut self, limit: WindowLimit, now: Instant) -> Instant {
        let slot = self.peek(limit, now);
        // Slots never decrease (times are sorted and `now` only grows for
        // real sends), so pushing at the back keeps the log sorted.
        let at = self.times.back().map_or(slot, |last| slot.max(*last));
        self.times.push_back(at);
        // Only the last `max` entries are ever read.
        let keep = (limit.max as usize).clamp(MIN_KEPT, MAX_KEPT);
        while self.times.len() > keep {
            self.times.pop_front();
        }
        at
    }
}

/// Entries a log keeps at least (so a smaller limit learned later still
/// sees recent sends) and at most (memory bound for log-only keys).
const MIN_KEPT: usize = 64;
const MAX_KEPT: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct DailyEntry {
    used: u32,
    period_end: Instant,
    exhausted_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Maps {
    windows: HashMap<String, SlidingWindow>,
    daily: HashMap<String, DailyEntry>,
}

/// The in-process [`RateStore`].
#[derive(Debug, Default)]
pub struct InMemoryStore {
    maps: Mutex<Maps>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Maps) -> R) -> R {
        let mut guard = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

fn roll(entry: &mut DailyEntry, limit: &DailyLimit, now: Instant) {
    if entry.exhausted_until.is_some_and(|u| now >= u) {
        // The reset came: the server's counter is back to zero too.
        entry.exhausted_until = None;
        entry.used = 0;
    }
    if now >= entry.period_end {
        entry.used = 0;
        entry.period_end = limit.period_end(now);
    }
}

fn entry<'a>(
    maps: &'a mut Maps,
    key: &str,
    limit: &DailyLimit,
    now: Instant,
) -> &'a mut DailyEntry {
    // Looked up before inserting: the key is copied once, not on every call.
    if !maps.daily.contains_key(key) {
        let fresh = DailyEntry {
            used: 0,
            period_end: limit.period_end(now),
            exhausted_until: None,
        };
        maps.daily.insert(key.to_string(), fresh);
    }
    let e = maps.daily.get_mut(key).expect("inserted above");
    roll(e, limit, now);
    e
}

fn state(e: &DailyEntry) -> DailyState {
    DailyState {
        used: e.used,
        period_end: e.period_end,
        exhausted_until: e.exhausted_until,
    }
}

impl RateStore for InMemoryStore {
    fn peek_slot(&self, key: &str, limit: WindowLimit, now: Instant) -> Instant {
        self.with(|m| m.windows.get(key).map_or(now, |w| w.peek(limit, now)))
    }

    fn reserve_slot(&self, key: &str, limit: WindowLimit, now: Instant) -> Instant {
        self.with(|m| {
            if let Some(w) = m.windows.get_mut(key) {
                return w.reserve(limit, now);
            }
            m.windows
                .entry(key.to_string())
                .or_default()
                .reserve(limit, now)
        })
    }

    fn daily(&self, key: &str, limit: &DailyLimit, now: Instant) -> DailyState {
        self.with(|m| state(entry(m, key, limit, now)))
    }

    fn consume_daily(&self, key: &str, limit: &DailyLimit, now: Instant) -> DailyState {
        self.with(|m| {
            let e = entry(m, key, limit, now);
            e.used = e.used.saturating_add(1);
            if limit.max.is_some_and(|max| e.used >= max) {
                let end = e.period_end;
                e.exhausted_until = Some(e.exhausted_until.map_or(end, |u| u.max(end)));
            }
            state(e)
        })
    }

    fn align_window(&self, key: &str, window: Duration, free_at: Instant) {
        self.with(|m| {
            if let Some(w) = m.windows.get_mut(key) {
                w.align(window, free_at);
            }
        });
    }

    fn exhaust_daily(&self, key: &str, limit: &DailyLimit, until: Instant, now: Instant) {
        self.with(|m| {
            let e = entry(m, key, limit, now);
            if until > now {
                e.exhausted_until = Some(until);
                if let Some(max) = limit.max {
                    e.used = e.used.max(max);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_servers_reset_moves_the_window() {
        let t0 = Instant::now();
        let limit = WindowLimit {
            max: 5,
            window: Duration::from_secs(60),
        };
        let store = InMemoryStore::default();
        for i in 0..5 {
            store.reserve_slot("k", limit, t0 + ms(i));
        }
        assert_eq!(store.peek_slot("k", limit, t0 + ms(10)), t0 + ms(60_000));
        // The server says its window frees 6 s from now: it wins.
        store.align_window("k", limit.window, t0 + ms(6_000));
        assert_eq!(store.peek_slot("k", limit, t0 + ms(10)), t0 + ms(6_000));
        // Sends already old enough are left alone; an unknown key is a no-op.
        store.align_window("other", limit.window, t0);
        assert_eq!(store.peek_slot("other", limit, t0), t0);
    }

    #[test]
    fn sliding_window_gives_distinct_slots_and_never_exceeds_the_limit() {
        let t0 = Instant::now();
        let limit = WindowLimit {
            max: 3,
            window: ms(1000),
        };
        let mut w = SlidingWindow::default();
        let slots: Vec<u64> = (0..7)
            .map(|_| (w.reserve(limit, t0) - t0).as_millis() as u64)
            .collect();
        assert_eq!(slots, [0, 0, 0, 1000, 1000, 1000, 2000]);
        // Later arrivals fill the log from `now`.
        let t = t0 + ms(3500);
        assert_eq!(w.reserve(limit, t), t0 + ms(3500));
        assert_eq!(w.peek(limit, t), t0 + ms(3500));
    }

    #[test]
    fn window_is_half_open() {
        let t0 = Instant::now();
        let limit = WindowLimit {
            max: 1,
            window: ms(100),
        };
        let mut w = SlidingWindow::default();
        w.reserve(limit, t0);
        assert_eq!(w.peek(limit, t0 + ms(99)), t0 + ms(100));
        assert_eq!(w.peek(limit, t0 + ms(100)), t0 + ms(100));
    }

    #[test]
    fn margin_lengthens_the_window() {
        let l = WindowLimit {
            max: 20,
            window: Duration::from_secs(60),
        }
        .with_margin();
        assert_eq!(l.window, ms(61_200));
    }

    #[test]
    fn daily_counter_exhausts_and_resets_on_schedule() {
        let t0 = Instant::now();
        let store = InMemoryStore::new();
        let limit = DailyLimit {
            max: Some(2),
            period: ms(1000),
            first_reset: t0 + ms(300),
        };
        assert_eq!(store.consume_daily("k", &limit, t0).exhausted_until, None);
        let s = store.consume_daily("k", &limit, t0 + ms(10));
        assert_eq!(s.used, 2);
        assert_eq!(s.exhausted_until, Some(t0 + ms(300)));
        let s = store.daily("k", &limit, t0 + ms(300));
        assert_eq!(
            (s.used, s.exhausted_until, s.period_end),
            (0, None, t0 + ms(1300))
        );
        assert_eq!(limit.period_end(t0 + ms(2299)), t0 + ms(2300));
    }

    #[test]
    fn server_exhaustion_holds_until_its_time() {
        let t0 = Instant::now();
        let store = InMemoryStore::new();
        let limit = DailyLimit {
            max: None,
            period: ms(1000),
            first_reset: t0 + ms(1000),
        };
        store.exhaust_daily("k", &limit, t0 + ms(5000), t0);
        assert_eq!(
            store.daily("k", &limit, t0 + ms(4999)).exhausted_until,
            Some(t0 + ms(5000))
        );
        assert_eq!(
            store.daily("k", &limit, t0 + ms(5000)).exhausted_until,
            None
        );
    }
}
