//! Response bodies played out over time: a script of timed byte chunks and an
//! ending (clean end, an aborted connection, or forever), written to the
//! ground-truth log as the chunks are handed to the connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::sim::server::Shared;

/// Where one request's entry lives in the log. While any clone is alive
/// (in the handler or in the body being played), the request counts as in
/// flight.
#[derive(Clone)]
pub(crate) struct LogHandle {
    pub shared: Arc<Shared>,
    pub epoch: u64,
    pub index: usize,
    _flight: Arc<InFlight>,
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LogHandle {
    /// A handle for log entry `index`, counting the request in flight.
    pub fn new(shared: &Arc<Shared>, epoch: u64, index: usize) -> LogHandle {
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        LogHandle {
            shared: Arc::clone(shared),
            epoch,
            index,
            _flight: Arc::new(InFlight(Arc::clone(shared))),
        }
    }
}

impl LogHandle {
    /// Notes that bytes were handed to the connection now; `content` marks
    /// the first content.
    pub fn wrote(&self, content: bool) {
        let mut inner = self.shared.lock();
        if inner.epoch != self.epoch {
            return;
        }
        let us = inner.now_us();
        if let Some(e) = inner.log.get_mut(self.index) {
            if content && e.first_content_us.is_none() {
                e.first_content_us = Some(us);
            }
            e.last_byte_us = Some(us);
        }
    }
}

impl LogHandle {
    /// Records how many completion tokens the answer carries.
    pub fn tokens(&self, n: u64) {
        let mut inner = self.shared.lock();
        if inner.epoch != self.epoch {
            return;
        }
        if let Some(e) = inner.log.get_mut(self.index) {
            e.completion_tokens = n;
        }
    }
}

/// One chunk of a body, due `at` after the request arrived.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub at: Duration,
    pub bytes: Bytes,
    /// Carries content (the first such step is the "first content byte").
    pub content: bool,
}

impl Step {
    /// A step without content.
    pub fn new(at: Duration, bytes: Bytes) -> Step {
        Step {
            at,
            bytes,
            content: false,
        }
    }
}

/// What happens after the last step.
#[derive(Debug, Clone)]
pub(crate) enum Tail {
    /// The body ends cleanly.
    End,
    /// The connection is aborted.
    Abort,
    /// Nothing more is sent but `bytes` every `every` (keep-alives), until
    /// the client goes away or the server shuts down.
    Forever { every: Duration, bytes: Bytes },
}

/// A body to play.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub steps: Vec<Step>,
    pub tail: Tail,
}

/// `start + d`, or far in the future when that overflows (absurd scenario
/// figures must not panic the server).
pub(crate) fn after(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .or_else(|| start.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(start)
}

/// Waits until `deadline`; `false` if the server shuts down first.
///
/// A deadline already reached returns at once: tokio's timer rounds every
/// deadline up to its next millisecond tick, so sleeping until "now" would
/// add up to a millisecond or two to every zero delay.
pub(crate) async fn wait_until(deadline: Instant, shutdown: &mut watch::Receiver<bool>) -> bool {
    if deadline <= Instant::now() {
        return !*shutdown.borrow();
    }
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => true,
        _ = shutdown.wait_for(|stop| *stop) => false,
    }
}

/// Pause before a simulated disconnect.
const ABORT_FLUSH: Duration = Duration::from_millis(5);

fn aborted() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "simulated disconnect",
    )
}

struct Player {
    steps: VecDeque<Step>,
    tail: Tail,
    start: Instant,
    shutdown: watch::Receiver<bool>,
    log: LogHandle,
    done: bool,
}

impl Player {
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Player)> {
        if self.done {
            return None;
        }
        if let Some(step) = self.steps.pop_front() {
            if !wait_until(after(self.start, step.at), &mut self.shutdown).await {
                self.done = true;
                return Some((Err(aborted()), self));
            }
            self.log.wrote(step.content);
            return Some((Ok(step.bytes), self));
        }
        match self.tail.clone() {
            Tail::End => None,
            Tail::Abort => {
                // Let the connection flush what was sent before the cut:
                // hyper drops its write buffer when the body fails.
                let _ = wait_until(Instant::now() + ABORT_FLUSH, &mut self.shutdown).await;
                self.done = true;
                Some((Err(aborted()), self))
            }
            Tail::Forever { every, bytes } => {
                let due = after(Instant::now(), every);
                if !wait_until(due, &mut self.shutdown).await {
                    self.done = true;
                    return Some((Err(aborted()), self));
                }
                self.log.wrote(false);
                Some((Ok(bytes), self))
            }
        }
    }
}

/// The body that plays `script` from `start`.
pub(crate) fn play(script: Script, start: Instant, log: LogHandle) -> Body {
    let player = Player {
        steps: script.steps.into(),
        tail: script.tail,
        start,
        shutdown: log.shared.shutdown.clone(),
        log,
        done: false,
    };
    Body::from_stream(futures_util::stream::unfold(player, Player::next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn a_deadline_already_reached_does_not_wait_for_the_timer() {
        let (stop, mut shutdown) = watch::channel(false);
        let now = Instant::now();
        assert_eq!(wait_until(now, &mut shutdown).now_or_never(), Some(true));
        let past = now - Duration::from_millis(5);
        assert_eq!(wait_until(past, &mut shutdown).now_or_never(), Some(true));
        let later = now + Duration::from_secs(60);
        assert_eq!(wait_until(later, &mut shutdown).now_or_never(), None);
        stop.send(true).unwrap();
        assert_eq!(wait_until(now, &mut shutdown).now_or_never(), Some(false));
        assert!(!wait_until(later, &mut shutdown).await);
    }
}
