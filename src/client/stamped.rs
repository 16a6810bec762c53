//! The request body that says when the request went out.
//!
//! reqwest does not say when a request is written to its connection: a
//! request handed to it waits for the connection task to run (behind every
//! other request started in the same instant: 64 at once at concurrency 64
//! take a few milliseconds on one core), for a connection to be opened, or
//! for one to be free. The connection task asks for the body right after it
//! has queued the request head and just before it writes both, so the first
//! poll of this body is when the request goes out: that instant is the
//! origin of TTFT and latency (`Timings::sent`), and whatever came before it
//! counts in `queue_ms`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// A one-chunk body of known length (sent with `Content-Length`) that notes
/// the instant it is first asked for.
#[derive(Debug)]
pub(crate) struct StampedBody {
    data: Option<Bytes>,
    asked: Arc<OnceLock<Instant>>,
}

impl StampedBody {
    /// The body, and where the instant will be.
    pub fn new(data: Bytes) -> (Self, Arc<OnceLock<Instant>>) {
        let asked = Arc::new(OnceLock::new());
        let body = StampedBody {
            data: Some(data),
            asked: Arc::clone(&asked),
        };
        (body, asked)
    }
}

impl Body for StampedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.asked.get().is_none() {
            let _ = self.asked.set(Instant::now());
        }
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn the_first_poll_is_stamped_and_the_bytes_come_whole() {
        let (body, asked) = StampedBody::new(Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(body.size_hint().exact(), Some(7));
        assert!(!body.is_end_stream());
        tokio::time::advance(std::time::Duration::from_millis(5)).await;
        let before = Instant::now();
        assert!(asked.get().is_none(), "not asked for yet");
        let bytes = body.collect().await.expect("infallible").to_bytes();
        assert_eq!(&bytes[..], b"{\"a\":1}");
        assert_eq!(asked.get().copied(), Some(before));
    }
}
