//! The connection under a request: which one it is and how many requests it
//! has carried (`conn` and `conn_request` in `/sim/log`: the first request
//! of a connection is the one that paid for its TCP handshake), and, for the
//! one fault that must break it before any response header is written
//! (`reset_before_headers`), its socket.
//!
//! A handler cannot reach hyper's socket, so when a scenario can inject that
//! fault the listener keeps a duplicate of each accepted socket's
//! descriptor in the connection's [`Conn`]. Resetting sets `SO_LINGER` to
//! zero (so the last close sends a TCP RST) and shuts the read side, which
//! makes hyper see end-of-file on its busy connection and close it: the
//! client gets a reset and no status line.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::Extensions;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::server::Shared;

/// One accepted connection, as every request on it sees it (the connect
/// info of the server: cloned into each request's extensions).
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    /// 1-based order of acceptance.
    pub id: u64,
    /// When it was accepted.
    pub accepted: Instant,
    /// Requests of the API routes seen on this connection so far.
    served: Arc<AtomicU64>,
    /// A duplicate of the socket's descriptor, kept only when the scenario
    /// can reset connections (`None` too when `dup` failed).
    fd: Option<Arc<OwnedFd>>,
}

impl Conn {
    /// Counts one more request on this connection and returns its 1-based
    /// position (1: the request that opened the connection).
    pub fn next_request(&self) -> u64 {
        self.served.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Where a request sits on its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnAt {
    /// The connection's 1-based order of acceptance.
    pub conn: u64,
    /// The request's 1-based position on it.
    pub request: u64,
    pub accepted: Instant,
}

/// Counts the request on its connection (when the server was started with
/// connection info: always, except for a router served by hand in tests).
pub(crate) fn conn_at(extensions: &Extensions) -> (Option<&Conn>, Option<ConnAt>) {
    let conn = extensions.get::<ConnectInfo<Conn>>().map(|c| &c.0);
    let at = conn.map(|c| ConnAt {
        conn: c.id,
        request: c.next_request(),
        accepted: c.accepted,
    });
    (conn, at)
}

impl Connected<IncomingStream<'_, Counting>> for Conn {
    fn connect_info(stream: IncomingStream<'_, Counting>) -> Self {
        stream.remote_addr().1.clone()
    }
}

/// The simulator's listener: counts accepted connections (`connections` in
/// `/sim/stats`), numbers them, and sets `TCP_NODELAY` on each, so that
/// small SSE chunks leave at once instead of waiting for the client's
/// delayed ACK.
pub(crate) struct Counting {
    pub inner: TcpListener,
    pub shared: Arc<Shared>,
    /// Keep each socket's descriptor (the scenario can reset connections).
    pub keep_fd: bool,
}

impl Listener for Counting {
    type Io = TcpStream;
    type Addr = (SocketAddr, Conn);

    async fn accept(&mut self) -> (TcpStream, (SocketAddr, Conn)) {
        let (io, addr) = Listener::accept(&mut self.inner).await;
        let _ = io.set_nodelay(true);
        let id = self.shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let fd = if self.keep_fd {
            io.as_fd().try_clone_to_owned().ok().map(Arc::new)
        } else {
            None
        };
        let conn = Conn {
            id,
            accepted: Instant::now(),
            served: Arc::new(AtomicU64::new(0)),
            fd,
        };
        (io, (addr, conn))
    }

    fn local_addr(&self) -> std::io::Result<(SocketAddr, Conn)> {
        let addr = Listener::local_addr(&self.inner)?;
        Ok((
            addr,
            Conn {
                id: 0,
                accepted: Instant::now(),
                served: Arc::new(AtomicU64::new(0)),
                fd: None,
            },
        ))
    }
}

impl Conn {
    /// Resets the connection (see the module docs). `false` when it could
    /// not be done (no descriptor, or a socket call failed).
    pub fn reset(&self) -> bool {
        let Some(fd) = &self.fd else {
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
