//! The connection under a request, for the one fault that must break it
//! before any response header is written: `reset_before_headers`.
//!
//! A handler cannot reach hyper's socket, so when a scenario can inject that
//! fault the server is started with [`ConnFd`] as its connect info: a
//! duplicate of each accepted socket's descriptor. Resetting sets `SO_LINGER`
//! to zero (so the last close sends a TCP RST) and shuts the read side, which
//! makes hyper see end-of-file on its busy connection and close it: the
//! client gets a reset and no status line.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};

use super::server::Shared;

/// A duplicate of an accepted socket's descriptor (`None` when `dup` failed).
#[derive(Debug, Clone)]
pub(crate) struct ConnFd(Option<Arc<OwnedFd>>);

impl Connected<IncomingStream<'_, Counting>> for ConnFd {
    fn connect_info(stream: IncomingStream<'_, Counting>) -> Self {
        ConnFd(stream.io().as_fd().try_clone_to_owned().ok().map(Arc::new))
    }
}

/// The simulator's listener: counts accepted connections (`connections` in
/// `/sim/stats`) and sets `TCP_NODELAY` on each, so that small SSE chunks
/// leave at once instead of waiting for the client's delayed ACK.
pub(crate) struct Counting {
    pub inner: TcpListener,
    pub shared: Arc<Shared>,
}

impl Listener for Counting {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let (io, addr) = Listener::accept(&mut self.inner).await;
        let _ = io.set_nodelay(true);
        self.shared.connections.fetch_add(1, Ordering::Relaxed);
        (io, addr)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Listener::local_addr(&self.inner)
    }
}

impl ConnFd {
    /// Resets the connection (see the module docs). `false` when it could
    /// not be done (no descriptor, or a socket call failed).
    pub fn reset(&self) -> bool {
        let Some(fd) = &self.0 else {
            return false;
        };
        let Ok(dup) = fd.try_clone() else {
            return false;
        };
        let stream = std::net::TcpStream::from(dup);
        let shut = stream.shutdown(Shutdown::Read).is_ok();
        // Dropping this socket closes only the duplicate: hyper still holds
        // the connection, and its close is the one that sends the RST.
        let socket = tokio::net::TcpSocket::from_std_stream(stream);
        socket.set_zero_linger().is_ok() && shut
    }
}
