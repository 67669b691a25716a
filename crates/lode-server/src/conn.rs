//! The accept loop: HTTP/1.1 connections served by hyper under Loki's
//! server timeouts (`server.http_server_read_timeout`,
//! `http_server_read_header_timeout`, `http_server_write_timeout`,
//! `http_server_idle_timeout`) and a connection limit
//! (`server.http_listen_conn_limit`).
//!
//! Why not `axum::serve`: it has no timeouts and no limit, so idle or
//! slowloris connections pile up until the file descriptors run out and the
//! server cannot accept `/ready`. Here every connection carries an activity
//! record that a per-connection watchdog reads; at the limit the connection
//! that has been idle longest (no request in flight) is closed to make room,
//! and only when all are busy does a new one wait.

use crate::config::ServerConfig;
use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::Service;

/// File descriptors kept back from the connection limit for chunk files,
/// WAL segments and the like.
const RESERVED_FDS: u64 = 256;

/// What the accept loop enforces, resolved from [`ServerConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnPolicy {
    pub read_header_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
    pub limit: usize,
}

impl ConnPolicy {
    /// The policy for `c`; a zero connection limit becomes the file
    /// descriptors this process may open, less a reserve.
    pub fn from_config(c: &ServerConfig) -> ConnPolicy {
        let read_header = if c.http_server_read_header_timeout.0.is_zero() {
            c.http_server_read_timeout.0
        } else {
            c.http_server_read_header_timeout.0
        };
        let fds = raise_fd_limit();
        let auto = fds.saturating_sub(RESERVED_FDS).clamp(16, 65_536) as usize;
        let limit = match c.http_listen_conn_limit {
            0 => auto,
            n => n as usize,
        };
        ConnPolicy {
            read_header_timeout: read_header,
            read_timeout: c.http_server_read_timeout.0,
            write_timeout: c.http_server_write_timeout.0,
            idle_timeout: c.http_server_idle_timeout.0,
            limit: limit.max(1),
        }
    }
}

/// Raises the soft open-files limit to the hard one (as Go's runtime does
/// for Loki) and returns the soft limit in force.
fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        let wanted = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, wanted).is_ok() {
            lim = getrlimit(Resource::Nofile);
        }
    }
    lim.current.unwrap_or(1 << 20)
}

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// What one connection is doing, read by its watchdog and by eviction.
#[derive(Default)]
struct Activity {
    /// Last time bytes moved either way (ms on [`now_ms`]'s clock).
    last_io: AtomicU64,
    /// Since when a write has been waiting on the peer; 0 when none is.
    write_stalled_since: AtomicU64,
    in_flight: AtomicU32,
    close: Notify,
}

impl Activity {
    fn touch(&self) {
        self.last_io.store(now_ms(), Ordering::Relaxed);
    }

    /// Why the connection must close now, if it must.
    fn expired(&self, p: &ConnPolicy, now: u64) -> Option<&'static str> {
        let stalled = self.write_stalled_since.load(Ordering::Relaxed);
        if stalled != 0 && now.saturating_sub(stalled) > p.write_timeout.as_millis() as u64 {
            return Some("server.http_server_write_timeout");
        }
        let idle = now.saturating_sub(self.last_io.load(Ordering::Relaxed));
        if self.in_flight.load(Ordering::Relaxed) == 0 && idle > p.idle_timeout.as_millis() as u64 {
            return Some("server.http_server_idle_timeout");
        }
        None
    }
}

/// A socket that records its activity.
struct Tracked {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl Tracked {
    fn wrote(&self, r: &Poll<io::Result<usize>>) {
        match r {
            Poll::Ready(_) => {
                self.activity
                    .write_stalled_since
                    .store(0, Ordering::Relaxed);
                self.activity.touch();
            }
            Poll::Pending => {
                let _ = self.activity.write_stalled_since.compare_exchange(
                    0,
                    now_ms(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Open connections, for the limit and for eviction.
#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Activity>>>,
    freed: Notify,
}

impl Registry {
    fn len(&self) -> usize {
        self.conns.lock().len()
    }

    /// Asks the connection idle longest to close; false when all are busy.
    fn evict_idlest(&self) -> bool {
        let conns = self.conns.lock();
        let idlest = conns
            .values()
            .filter(|a| a.in_flight.load(Ordering::Relaxed) == 0)
            .min_by_key(|a| a.last_io.load(Ordering::Relaxed));
        match idlest {
            Some(a) => {
                a.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Counts a request in flight for as long as its handler runs.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(a: &Arc<Activity>) -> InFlight {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// connections finish their requests and returns when all have closed (the
/// caller bounds that wait with `server.graceful_shutdown_timeout`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    policy: ConnPolicy,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors or a reset before accept:
                    // back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while registry.len() >= policy.limit {
            let freed = registry.freed.notified();
            if registry.evict_idlest() {
                tracing::debug!(
                    limit = policy.limit,
                    "connection limit reached: closing the idlest connection"
                );
            } else {
                tracing::warn!(limit = policy.limit, "connection limit reached and every connection busy: waiting (server.http_listen_conn_limit)");
            }
            tokio::select! {
                _ = freed => {}
                _ = &mut shutdown => return drain(&registry, stop_tx).await,
            }
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let activity = Arc::new(Activity::default());
        activity.touch();
        registry.conns.lock().insert(id, activity.clone());
        let registry = registry.clone();
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            serve_one(stream, app, policy, activity, stop).await;
            registry.conns.lock().remove(&id);
            registry.freed.notify_waiters();
        });
    }
    drain(&registry, stop_tx).await
}

async fn drain(registry: &Registry, stop: watch::Sender<bool>) -> io::Result<()> {
    let _ = stop.send(true);
    loop {
        let freed = registry.freed.notified();
        if registry.len() == 0 {
            return Ok(());
        }
        freed.await;
    }
}

async fn serve_one(
    stream: TcpStream,
    app: Router,
    policy: ConnPolicy,
    activity: Arc<Activity>,
    mut stop: watch::Receiver<bool>,
) {
    let io = Tracked {
        io: stream,
        activity: activity.clone(),
    };
    let req_activity = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let guard = InFlight::new(&req_activity);
        let deadline = tokio::time::Instant::now() + policy.read_timeout;
        let req = req.map(|b| Body::new(crate::deadline_body::DeadlineBody::new(b, deadline)));
        let mut app = app.clone();
        async move {
            let resp = app.call(req).await;
            drop(guard);
            resp
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(policy.read_header_timeout)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let tick = (policy.write_timeout.min(policy.idle_timeout) / 4)
        .clamp(Duration::from_millis(25), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = ticker.tick() => {
                if let Some(why) = activity.expired(&policy, now_ms()) {
                    tracing::debug!(timeout = why, "closing connection");
                    return;
                }
            }
            _ = activity.close.notified() => return,
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
