//! Opening connections before a run (warm-up).
//!
//! The first request on a connection also pays for the TCP handshake (and
//! the TLS one against a real provider: tens to hundreds of milliseconds),
//! which has nothing to do with the model. Without a warm-up, the first
//! `--concurrency` requests of a run carry it in their TTFT and latency, and
//! at concurrency 64 that is the whole p99. So before the first prompt,
//! rotor sends `n` `HEAD {base}/models` requests at once: each opens a
//! connection of its own (the pool has none idle yet), and the pool keeps
//! them for the run. `HEAD` asks for no body, costs no completion quota, and
//! any answer at all (405 from a server without `HEAD` on that path, 401 or
//! 404 included) leaves a connection in the pool; a server that closes it
//! after answering only leaves the run where it would have been anyway.
//!
//! Sending them at once is not enough against a fast server (loopback): the
//! first request can connect, be answered and hand its connection back
//! within its first poll, before the next request has looked for one, and
//! that one then takes it instead of opening its own. So while the requests
//! are first polled, finished connects are held back (`connects.rs`), and
//! the warm-up ends when no connect of the client is in progress (a request
//! may still be served by another's connection while its own connect
//! finishes in the pool's background).

use std::time::{Duration, Instant};

use std::future::{Future, poll_fn};
use std::task::Poll;

use futures_util::future::{join_all, maybe_done};

use super::{Endpoint, HttpClient, bodiless_headers};

/// What a warm-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUp {
    /// Requests sent (connections asked for).
    pub sent: usize,
    /// Of those, how many got an HTTP answer (any status).
    pub answered: usize,
    pub elapsed: Duration,
}

impl HttpClient {
    /// Opens up to `n` connections to `ep`'s server at once (see the module
    /// docs); each request gives up after `timeout`. Never fails: a server
    /// that does not answer is the run's to report.
    pub async fn warm_up(&self, ep: &Endpoint, n: usize, timeout: Duration) -> WarmUp {
        let started = Instant::now();
        let url = reqwest::Url::parse(&ep.url("models"));
        let headers = bodiless_headers(ep);
        let (Ok(url), Ok(headers)) = (url, headers) else {
            return WarmUp {
                sent: 0,
                answered: 0,
                elapsed: started.elapsed(),
            };
        };
        let client = self.client_for(&url);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut requests: Vec<_> = (0..n)
            .map(|_| {
                let req = client.head(url.clone()).headers(headers.clone()).send();
                Box::pin(maybe_done(async move {
                    match tokio::time::timeout_at(deadline, req).await {
                        // Reading the (empty) body hands the connection back.
                        Ok(Ok(resp)) => tokio::time::timeout_at(deadline, resp.bytes())
                            .await
                            .is_ok_and(|b| b.is_ok()),
                        _ => false,
                    }
                }))
            })
            .collect();
        {
            // Every request looks for a connection, finds none idle and
            // starts its own connect before any connect may finish.
            let _hold = self.connects.hold();
            poll_fn(|cx| {
                for r in &mut requests {
                    let _ = r.as_mut().poll(cx);
                }
                Poll::Ready(())
            })
            .await;
        }
        join_all(requests.iter_mut()).await;
        let answered = requests
            .iter_mut()
            .filter_map(|r| r.as_mut().take_output())
            .filter(|ok| *ok)
            .count();
        let _ = tokio::time::timeout_at(deadline, self.connects.settled()).await;
        WarmUp {
            sent: n,
            answered,
            elapsed: started.elapsed(),
        }
    }
}
