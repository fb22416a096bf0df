//! Long Polling: the client polls with GETs (each answered when data is there, with an empty
//! 200 after the poll timeout, or 204 once the connection is over), sends with POSTs and ends
//! the connection with DELETE. Between polls the connection is inactive; without a new poll
//! within the disconnect timeout it is disposed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use signalr_protocol::TransferFormat;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Received, Transport, TransportKind};

/// State shared by the hub connection and the poll requests.
pub(crate) struct LongPollState {
    buf: Mutex<Vec<u8>>,
    data: Notify,
    /// The hub connection ended.
    pub(crate) closed: CancellationToken,
    /// The client sent DELETE.
    pub(crate) deleted: CancellationToken,
    generation: watch::Sender<u64>,
    polling: AtomicUsize,
    last_poll_end: Mutex<Instant>,
    max_buffered: usize,
    /// The client stopped polling for longer than the disconnect timeout.
    abandoned: AtomicBool,
}

impl LongPollState {
    /// New state; `max_buffered` bytes may wait for a poll before sends fail.
    pub(crate) fn new(max_buffered: usize) -> Self {
        Self {
            buf: Mutex::new(Vec::new()),
            data: Notify::new(),
            closed: CancellationToken::new(),
            deleted: CancellationToken::new(),
            generation: watch::channel(0).0,
            polling: AtomicUsize::new(0),
            last_poll_end: Mutex::new(Instant::now()),
            max_buffered,
            abandoned: AtomicBool::new(false),
        }
    }

    /// Whether the connection ended because the client stopped polling (ASP.NET Core then
    /// disposes it at once: a late poll gets 404, and what was queued is dropped).
    pub(crate) fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }
}

/// Headers every poll response carries (ASP.NET Core 7+).
pub(crate) fn no_cache(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
    );
}

fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    no_cache(&mut r);
    r
}

/// The immediate answer to the first poll: 200, `application/octet-stream`, no body.
fn first_poll() -> Response {
    with_type(StatusCode::OK, Bytes::new(), "application/octet-stream")
}

/// The answer to a poll on a connection that is over: 204.
pub(crate) fn ended_poll() -> Response {
    with_type(StatusCode::NO_CONTENT, Bytes::new(), "text/plain")
}

struct PollGuard<'a>(&'a LongPollState);

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut t) = self.0.last_poll_end.lock() {
            *t = Instant::now();
        }
        self.0.polling.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one poll: data, an empty 200 on timeout, or 204 when superseded or over.
/// `timeout_204` (a fault mode) ends a timed-out poll with 204 instead.
pub(crate) async fn poll(state: &LongPollState, timeout: Duration, timeout_204: bool) -> Response {
    let mut generation = state.generation.subscribe();
    let mine = {
        let mut g = 0;
        state.generation.send_modify(|x| {
            *x += 1;
            g = *x;
        });
        g
    };
    state.polling.fetch_add(1, Ordering::SeqCst);
    let _guard = PollGuard(state);
    let deadline = Instant::now() + timeout;
    loop {
        let notified = state.data.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let data = state
            .buf
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default();
        if !data.is_empty() {
            return with_type(
                StatusCode::OK,
                Bytes::from(data),
                "application/octet-stream",
            );
        }
        if state.closed.is_cancelled() || state.deleted.is_cancelled() {
            return ended_poll();
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {
                if timeout_204 {
                    return ended_poll();
                }
                return with_type(StatusCode::OK, Bytes::new(), "text/plain");
            }
            changed = generation.changed() => {
                if changed.is_err() || *generation.borrow() != mine {
                    // A newer poll took over.
                    return ended_poll();
                }
            }
            _ = state.closed.cancelled() => {}
            _ = state.deleted.cancelled() => {}
        }
    }
}

/// Starts a Long Polling connection over `state`, fed by `inbound` POSTs: the transport and the
/// immediate answer to the first poll.
pub(crate) fn start(
    state: std::sync::Arc<LongPollState>,
    inbound: mpsc::Receiver<Received>,
    disconnect_timeout: Duration,
) -> (LongPollingTransport, Response) {
    let t = LongPollingTransport::new(inbound, state, disconnect_timeout);
    (t, first_poll())
}

/// The hub connection's side of a Long Polling connection.
pub(crate) struct LongPollingTransport {
    inbound: mpsc::Receiver<Received>,
    state: std::sync::Arc<LongPollState>,
    disconnect_timeout: Duration,
}

impl LongPollingTransport {
    /// A transport over `state`, receiving POST bodies from `inbound`.
    fn new(
        inbound: mpsc::Receiver<Received>,
        state: std::sync::Arc<LongPollState>,
        disconnect_timeout: Duration,
    ) -> Self {
        Self {
            inbound,
            state,
            disconnect_timeout,
        }
    }
}

impl Transport for LongPollingTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::LongPolling
    }

    async fn recv(&mut self) -> Received {
        loop {
            // Inactive for longer than the disconnect timeout: the client is gone.
            let idle_until = if self.state.polling.load(Ordering::SeqCst) == 0 {
                self.state
                    .last_poll_end
                    .lock()
                    .map(|t| *t + self.disconnect_timeout)
                    .unwrap_or_else(|_| Instant::now())
            } else {
                Instant::now() + self.disconnect_timeout
            };
            tokio::select! {
                r = self.inbound.recv() => return r.unwrap_or(Received::Closed),
                _ = self.state.deleted.cancelled() => return Received::Closed,
                _ = tokio::time::sleep_until(idle_until) => {
                    let idle = self.state.polling.load(Ordering::SeqCst) == 0
                        && self
                            .state
                            .last_poll_end
                            .lock()
                            .map(|t| t.elapsed() >= self.disconnect_timeout)
                            .unwrap_or(true);
                    if idle {
                        self.state.abandoned.store(true, Ordering::SeqCst);
                        return Received::Closed;
                    }
                }
            }
        }
    }

    async fn send(&mut self, data: Bytes, _format: TransferFormat) -> Result<(), ()> {
        {
            let Ok(mut b) = self.state.buf.lock() else {
                return Err(());
            };
            // As for the connection's queue: one message always fits into an empty buffer.
            if !b.is_empty() && b.len() + data.len() > self.state.max_buffered {
                return Err(());
            }
            b.extend_from_slice(&data);
        }
        self.state.data.notify_waiters();
        Ok(())
    }

    async fn close(&mut self) {
        self.state.closed.cancel();
        self.state.data.notify_waiters();
    }
}
