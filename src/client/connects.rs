//! Counting the connections a client opens: a layer around reqwest's
//! connector (`ClientBuilder::connector_layer`). It runs once per new
//! connection, never per request. The warm-up waits on it until every
//! connection it caused is open (the pool finishes some connects in the
//! background, after the request that started them was served by another
//! connection), and a run reports how many handshakes fell inside it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::watch;

/// Connects started and finished (opened or failed) by one client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectCounts {
    pub started: u64,
    pub opened: u64,
    pub failed: u64,
}

impl ConnectCounts {
    /// Connects still in progress.
    pub fn pending(&self) -> u64 {
        self.started.saturating_sub(self.opened + self.failed)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    counts: ConnectCounts,
    /// While any hold is taken, a finished connect waits before handing
    /// over its connection (see [`CountConnects::hold`]). A count, so that
    /// warm-ups of several endpoints cannot release each other's.
    holds: u32,
}

/// The layer: every service it makes shares one state.
#[derive(Debug, Clone)]
pub(crate) struct CountConnects {
    state: Arc<watch::Sender<State>>,
}

impl CountConnects {
    pub fn new() -> Self {
        CountConnects {
            state: Arc::new(watch::Sender::new(State::default())),
        }
    }

    pub fn counts(&self) -> ConnectCounts {
        self.state.borrow().counts
    }

    /// Waits until no connect is in progress.
    pub async fn settled(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|s| s.counts.pending() == 0).await;
    }

    /// Until the guard is dropped, connects that finish wait before their
    /// connection is handed over. The warm-up holds them while it starts
    /// its requests: otherwise, against a fast server, the first request
    /// can connect, be answered and hand its connection back before the
    /// next one has looked for one, and that one takes it instead of
    /// opening its own.
    pub fn hold(&self) -> Hold {
        self.state.send_modify(|s| s.holds += 1);
        Hold {
            state: Arc::clone(&self.state),
        }
    }
}

/// Releases the connects held by [`CountConnects::hold`] when dropped.
pub(crate) struct Hold {
    state: Arc<watch::Sender<State>>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.state
            .send_modify(|s| s.holds = s.holds.saturating_sub(1));
    }
}

impl<S> tower_layer::Layer<S> for CountConnects {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Counted<S> {
    inner: S,
    state: Arc<watch::Sender<State>>,
}

impl<S, R> tower_service::Service<R> for Counted<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send,
    S::Error: Send,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.state.send_modify(|s| s.counts.started += 1);
        let connect = self.inner.call(req);
        // Counted as failed when dropped unfinished (a timeout, or the pool
        // giving up on it), so `pending` always comes back to zero.
        let mut guard = Finish {
            state: Arc::clone(&self.state),
            done: false,
        };
        Box::pin(async move {
            let result = connect.await;
            let mut rx = guard.state.subscribe();
            if rx.borrow_and_update().holds > 0 {
                let _ = rx.wait_for(|s| s.holds == 0).await;
            }
            guard.done = true;
            let ok = result.is_ok();
            guard.state.send_modify(|s| {
                if ok {
                    s.counts.opened += 1;
                } else {
                    s.counts.failed += 1;
                }
            });
            result
        })
    }
}

struct Finish {
    state: Arc<watch::Sender<State>>,
    done: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.done {
            self.state.send_modify(|s| s.counts.failed += 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_layer::Layer;
    use tower_service::Service;

    /// A connector that succeeds for even requests and fails for odd ones.
    #[derive(Clone)]
    struct Fake;
    impl Service<u32> for Fake {
        type Response = u32;
        type Error = String;
        type Future = std::future::Ready<Result<u32, String>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), String>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, n: u32) -> Self::Future {
            std::future::ready(if n.is_multiple_of(2) {
                Ok(n)
            } else {
                Err("refused".into())
            })
        }
    }

    #[tokio::test]
    async fn connects_are_counted_when_they_finish_or_are_dropped() {
        let layer = CountConnects::new();
        let mut svc = layer.layer(Fake);
        assert_eq!(svc.call(2).await, Ok(2));
        assert!(svc.call(3).await.is_err());
        let unfinished = svc.call(4);
        assert_eq!(layer.counts().pending(), 1, "started, not finished");
        drop(unfinished);
        assert_eq!(
            layer.counts(),
            ConnectCounts {
                started: 3,
                opened: 1,
                failed: 2
            }
        );
        assert_eq!(layer.counts().pending(), 0);
        layer.settled().await;
    }

    #[tokio::test]
    async fn a_held_connect_finishes_only_when_the_hold_is_released() {
        use futures_util::FutureExt;
        let layer = CountConnects::new();
        let mut svc = layer.layer(Fake);
        let hold = layer.hold();
        let mut connect = svc.call(2);
        assert!(
            (&mut connect).now_or_never().is_none(),
            "the connect is done but held"
        );
        assert_eq!(layer.counts().pending(), 1);
        drop(hold);
        assert_eq!(connect.await, Ok(2));
        assert_eq!(layer.counts().opened, 1);
    }
}
