//! The accept loop: HTTP/1.1 connections with Kestrel's two connection timers instead of none,
//! and accepting that backs off while the process is out of file descriptors instead of
//! spinning.
//!
//! Kestrel (`Http1Connection`) runs one timer per connection: `KeepAliveTimeout` from the end
//! of a response (and from the start of the connection) until a request's first byte arrives,
//! then `RequestHeadersTimeout` until its headers are parsed; while a request is being answered
//! neither runs. hyper has only a header-read timeout, which starts as soon as it waits for a
//! request, so an idle keep-alive connection would be closed after the headers timeout: both
//! timers are kept here instead, from the bytes the socket reads ([`Watched`]) and the requests
//! the service answers ([`ResponseGuard`]). A request in progress (a poll, an SSE stream, a
//! large POST) and an upgraded connection (a WebSocket) are never cut by either.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long accepting pauses after an error other than a failed connection (e.g. EMFILE).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accept errors are logged at most this often (each one at debug level): out of descriptors,
/// accepts fail and succeed in turn as connections end, and each would start a new episode.
const ACCEPT_ERROR_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Kestrel's connection timers (`KestrelServerLimits`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpTimeouts {
    /// `RequestHeadersTimeout`: from a request's first byte until its headers are complete.
    pub request_headers: Duration,
    /// `KeepAliveTimeout`: a connection with no request in progress and no byte of the next.
    pub keep_alive: Duration,
}

/// Serves `router` on `listener` until `shutdown` fires, then lets every connection finish its
/// current request (a graceful shutdown) and returns when all have ended.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: HttpTimeouts,
    shutdown: CancellationToken,
) {
    // Every connection task holds a sender; `recv` returns `None` once all have ended.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    // Failed accepts so far, and when one was last logged as an error.
    let mut failures = 0u64;
    let mut reported: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (tcp, _peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors (or memory): wait for connections to end rather than
                // retrying at once; the error is logged once a minute, not per attempt.
                failures += 1;
                if reported.is_none_or(|at| at.elapsed() >= ACCEPT_ERROR_REPORT_EVERY) {
                    tracing::error!(
                        "accept error (retrying every {ACCEPT_BACKOFF:?}, logged at most once a \
                         minute): {e}"
                    );
                    reported = Some(Instant::now());
                } else {
                    tracing::debug!("accept still failing (failure {failures}): {e}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let (alive, shutdown) = (alive.clone(), shutdown.clone());
        tokio::spawn(serve_connection(
            tcp,
            router.clone(),
            timeouts,
            shutdown,
            alive,
        ));
    }
    drop(alive);
    drop(listener);
    let _ = all_done.recv().await;
}

async fn serve_connection(
    tcp: TcpStream,
    router: Router,
    timeouts: HttpTimeouts,
    shutdown: CancellationToken,
    alive: mpsc::Sender<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        io: tcp,
        activity: Some(activity.clone()),
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let guard = ResponseGuard::new(requests.clone());
        let mut router = router.clone();
        async move {
            // `Router` is always ready: `call` needs no `poll_ready` first.
            let response = tower_service::Service::call(&mut router, req).await?;
            // The request counts as in progress until hyper drops the response body, i.e.
            // until the body has been written whole (or the connection has ended).
            Ok::<_, std::convert::Infallible>(response.map(move |body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_progress = &guard;
                    frame
                }))
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's own header timer (30 s by default once a timer is set) would cut idle
    // keep-alive connections: the timers above replace it.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        expired = activity.expired(timeouts) => {
            // Dropping the connection closes the socket (Kestrel answers a headers timeout
            // with 408 first; no client of a hub reads it).
            tracing::debug!("closing an HTTP connection: {expired}");
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    // An upgraded socket lives on in its WebSocket: it no longer needs to be watched.
    activity.done.store(true, Ordering::Relaxed);
    drop(alive);
}

/// Which timer closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    RequestHeaders,
    KeepAlive,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expired::RequestHeaders => "request headers timeout",
            Expired::KeepAlive => "keep-alive timeout",
        })
    }
}

/// What one connection is doing, for its timers.
struct Activity {
    state: Mutex<ActivityState>,
    /// Signalled on every change of `state` (one waiter: `expired`; a permit is kept).
    changed: Notify,
    /// Set once hyper no longer owns the socket; reads then skip the bookkeeping.
    done: AtomicBool,
}

struct ActivityState {
    /// Requests whose responses have not been written whole.
    in_progress: usize,
    /// When the connection last became idle (accepted, or a response finished).
    idle_since: Instant,
    /// When the first byte of the next request arrived, if one has.
    headers_since: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                in_progress: 0,
                idle_since: Instant::now(),
                headers_since: None,
            }),
            changed: Notify::new(),
            done: AtomicBool::new(false),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ActivityState)) {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_one();
    }

    /// Bytes arrived: with no request in progress they start the next request's headers.
    fn bytes_read(&self) {
        if self.done.load(Ordering::Relaxed) {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.in_progress == 0 && s.headers_since.is_none() {
            s.headers_since = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// The running timer and when it fires; `None` while a request is in progress.
    fn deadline(&self, t: HttpTimeouts) -> Option<(Instant, Expired)> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.in_progress > 0 {
            return None;
        }
        Some(match s.headers_since {
            Some(at) => (at + t.request_headers, Expired::RequestHeaders),
            None => (s.idle_since + t.keep_alive, Expired::KeepAlive),
        })
    }

    /// Resolves when the running timer fires.
    async fn expired(&self, t: HttpTimeouts) -> Expired {
        loop {
            let changed = self.changed.notified();
            match self.deadline(t) {
                None => changed.await,
                Some((at, which)) => tokio::select! {
                    _ = tokio::time::sleep_until(at) => {
                        if self.deadline(t) == Some((at, which)) {
                            return which;
                        }
                    }
                    _ = changed => {}
                },
            }
        }
    }
}

/// Held from the moment the service gets a request until hyper drops its response body.
struct ResponseGuard(Arc<Activity>);

impl ResponseGuard {
    fn new(activity: Arc<Activity>) -> Self {
        activity.update(|s| {
            s.in_progress += 1;
            s.headers_since = None;
        });
        ResponseGuard(activity)
    }
}

impl Drop for ResponseGuard {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.in_progress = s.in_progress.saturating_sub(1);
            if s.in_progress == 0 {
                s.idle_since = Instant::now();
                s.headers_since = None;
            }
        });
    }
}

/// The socket, noting when bytes arrive. Once the HTTP connection is over (a WebSocket took the
/// socket), the first bytes read let go of the timers' state: an idle WebSocket keeps none.
struct Watched {
    io: TcpStream,
    activity: Option<Arc<Activity>>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            match &self.activity {
                Some(a) if a.done.load(Ordering::Relaxed) => self.activity = None,
                Some(a) => a.bytes_read(),
                None => {}
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
