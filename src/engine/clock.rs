//! The engine's one clock: monotonic `tokio::time::Instant` (so tests run
//! under paused time) plus a Unix-epoch view derived from it
//! (`epoch_at_start + (now − start)`), which is how server hints given as
//! epoch milliseconds (`X-RateLimit-Reset`) become instants, paused or not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Milliseconds in a UTC day.
const DAY_MS: u64 = 86_400_000;

/// Monotonic time plus its epoch mapping. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    start: Instant,
    epoch_at_start_ms: u64,
}

impl Clock {
    /// Starts now, mapped to the system's wall clock.
    pub fn system() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock::with_epoch(Instant::now(), epoch)
    }

    /// A clock whose `start` corresponds to `epoch_at_start_ms` (tests pin it).
    pub fn with_epoch(start: Instant, epoch_at_start_ms: u64) -> Self {
        Clock {
            start,
            epoch_at_start_ms,
        }
    }

    /// The current instant (`tokio::time::Instant::now()`).
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The instant this clock started at.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Unix epoch milliseconds at `at`.
    pub fn epoch_ms(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.start);
        self.epoch_at_start_ms
            .saturating_add(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// The instant of a Unix epoch time (the clock's start for earlier ones).
    pub fn instant_at_epoch(&self, epoch_ms: u64) -> Instant {
        let after = epoch_ms.saturating_sub(self.epoch_at_start_ms);
        self.start
            .checked_add(Duration::from_millis(after))
            .unwrap_or_else(|| far_future(self.start))
    }

    /// The next 00:00 UTC strictly after `at` — OpenRouter's daily reset.
    pub fn next_utc_midnight(&self, at: Instant) -> Instant {
        let now = self.epoch_ms(at);
        self.instant_at_epoch((now / DAY_MS + 1) * DAY_MS)
    }

    /// Milliseconds from the clock's start to `at` (event timestamps).
    pub fn since_start_ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }
}

/// A time that will not come during a run (years ahead).
pub(crate) fn far_future(from: Instant) -> Instant {
    [30 * 365, 365, 1]
        .into_iter()
        .find_map(|days| from.checked_add(Duration::from_secs(days * 86_400)))
        .unwrap_or(from)
}

/// `at + d`, saturating at [`far_future`] instead of panicking on absurd
/// durations (hostile hints, odd configs).
pub(crate) fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d).unwrap_or_else(|| far_future(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn epoch_follows_paused_time_and_maps_back() {
        let start = Instant::now();
        let c = Clock::with_epoch(start, 1_700_000_000_000);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(c.epoch_ms(c.now()), 1_700_000_001_500);
        assert_eq!(
            c.instant_at_epoch(1_700_000_010_000),
            start + Duration::from_secs(10)
        );
        assert_eq!(
            c.instant_at_epoch(5),
            start,
            "earlier epochs clamp to start"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn next_midnight_is_strictly_after() {
        let start = Instant::now();
        // 2023-11-14T22:13:20Z
        let c = Clock::with_epoch(start, 1_700_000_000_000);
        let m = c.next_utc_midnight(start);
        assert_eq!(c.epoch_ms(m), 1_700_006_400_000);
        assert_eq!(c.epoch_ms(m) % DAY_MS, 0);
        assert!(c.next_utc_midnight(m) > m);
    }
}
