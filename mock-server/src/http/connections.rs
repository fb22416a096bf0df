//! The table of negotiated connections (keyed by token), each connection's state from negotiate
//! to its end, the channels SSE and Long Polling are fed through, and the sweeper that disposes
//! of connections that never connected, and of ended Long Polling connections whose client never
//! came back for its last poll (`DisconnectTimeout`, as `HttpConnectionManager.Scan` does).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rand::RngCore;
use signalr_protocol::TransportKind;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::faults::Fault;
use crate::transport::long_polling::LongPollState;
use crate::transport::websockets::WebSocketTransport;
use crate::transport::Received;

/// POST body pieces (at most 4 KiB each) queued for a connection before its POST waits.
pub(crate) const POSTS_IN_FLIGHT: usize = 16;

/// State of a negotiated connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// Negotiated, no transport yet.
    Pending,
    /// A transport is attached.
    Active(TransportKind),
    /// The connection is over; kept briefly so a Long Polling client's next poll gets 204.
    Ended(Instant),
}

/// The channels an HTTP-based transport (SSE, Long Polling) is fed through.
#[derive(Clone)]
struct HttpIo {
    inbound: mpsc::Sender<Received>,
    long_poll: Option<Arc<LongPollState>>,
}

/// One HTTP connection (negotiate → transport).
pub(crate) struct HttpConnection {
    /// Public id.
    pub(crate) connection_id: String,
    /// Secret token (the table key; equals the id for negotiate version 0).
    pub(crate) token: String,
    created: Instant,
    pub(crate) state: Mutex<ConnState>,
    io: Mutex<Option<HttpIo>>,
    /// Data POSTed before any transport started (ASP.NET Core buffers it in the pipe).
    early: Mutex<Option<mpsc::Receiver<Received>>>,
    /// Counted in [`ConnectionManager::pending`] (cleared once, when it starts or goes).
    counted_pending: AtomicBool,
    /// One POST at a time writes into the connection (`HttpConnectionContext.WriteLock`).
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    /// Negotiated with stateful reconnect (`useStatefulReconnect` answered true).
    stateful: AtomicBool,
    /// Where a reattaching WebSocket goes: set when a stateful connection's first WebSocket
    /// starts; closed once the connection is no longer stateful (a version 1 handshake) or over.
    reattach: Mutex<Option<mpsc::Sender<WebSocketTransport>>>,
}

impl HttpConnection {
    /// The current state (a poisoned lock reads as pending).
    pub(crate) fn state(&self) -> ConnState {
        self.state.lock().map(|s| *s).unwrap_or(ConnState::Pending)
    }

    /// Marks the connection as over (Long Polling keeps it for the client's last poll).
    pub(crate) fn set_ended(&self) {
        if let Ok(mut s) = self.state.lock() {
            *s = ConnState::Ended(Instant::now());
        }
    }

    /// Records whether negotiate granted stateful reconnect.
    pub(crate) fn set_stateful(&self, on: bool) {
        self.stateful.store(on, Ordering::Relaxed);
    }

    /// Whether negotiate granted stateful reconnect.
    pub(crate) fn is_stateful(&self) -> bool {
        self.stateful.load(Ordering::Relaxed)
    }

    /// For a stateful connection's first WebSocket: the channel its reattaching WebSockets
    /// arrive on (`None` for an ordinary connection).
    pub(crate) fn start_reattach(&self) -> Option<mpsc::Receiver<WebSocketTransport>> {
        if !self.stateful.load(Ordering::Relaxed) {
            return None;
        }
        let (tx, rx) = mpsc::channel(1);
        *self.reattach.lock().ok()? = Some(tx);
        Some(rx)
    }

    /// Where a reattaching WebSocket goes, while the connection accepts one.
    pub(crate) fn reattach_sender(&self) -> Option<mpsc::Sender<WebSocketTransport>> {
        let slot = self.reattach.lock().ok()?;
        slot.as_ref().filter(|tx| !tx.is_closed()).cloned()
    }

    /// The Long Polling state, once a Long Polling transport has started.
    pub(crate) fn long_poll(&self) -> Option<Arc<LongPollState>> {
        self.io
            .lock()
            .ok()
            .and_then(|io| io.as_ref().and_then(|io| io.long_poll.clone()))
    }

    /// The inbound channel for POSTs: the transport's, or a buffer until one starts.
    pub(crate) fn inbound(&self) -> Option<mpsc::Sender<Received>> {
        let mut io = self.io.lock().ok()?;
        if let Some(io) = io.as_ref() {
            return Some(io.inbound.clone());
        }
        let (tx, rx) = mpsc::channel(POSTS_IN_FLIGHT);
        *io = Some(HttpIo {
            inbound: tx.clone(),
            long_poll: None,
        });
        if let Ok(mut e) = self.early.lock() {
            *e = Some(rx);
        }
        Some(tx)
    }

    /// The inbound channel pair for a starting SSE/LP transport (taking over early POSTs).
    pub(crate) fn start_inbound(
        &self,
        long_poll: Option<Arc<LongPollState>>,
    ) -> mpsc::Receiver<Received> {
        let early = self.early.lock().ok().and_then(|mut e| e.take());
        let Ok(mut io) = self.io.lock() else {
            return mpsc::channel(1).1;
        };
        match (early, io.as_ref().map(|i| i.inbound.clone())) {
            (Some(rx), Some(tx)) => {
                *io = Some(HttpIo {
                    inbound: tx,
                    long_poll,
                });
                rx
            }
            _ => {
                let (tx, rx) = mpsc::channel(POSTS_IN_FLIGHT);
                *io = Some(HttpIo {
                    inbound: tx,
                    long_poll,
                });
                rx
            }
        }
    }
}

/// The table of negotiated connections, keyed by token.
#[derive(Default)]
pub(crate) struct ConnectionManager {
    map: Mutex<HashMap<String, Arc<HttpConnection>>>,
    /// Connections negotiated and not started, kept as a count so a negotiate costs the same
    /// however many are pending.
    pending: AtomicUsize,
}

/// 16 random bytes, base64url without padding (22 characters).
fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl ConnectionManager {
    /// A new pending connection; its token is its id for negotiate version 0 or `token_is_id`.
    pub(crate) fn create(&self, negotiate_version: i32, token_is_id: bool) -> Arc<HttpConnection> {
        let id = new_id();
        let token = if negotiate_version == 0 || token_is_id {
            id.clone()
        } else {
            new_id()
        };
        let c = Arc::new(HttpConnection {
            connection_id: id,
            token: token.clone(),
            created: Instant::now(),
            state: Mutex::new(ConnState::Pending),
            io: Mutex::new(None),
            early: Mutex::new(None),
            counted_pending: AtomicBool::new(true),
            write_lock: tokio::sync::Mutex::new(()),
            stateful: AtomicBool::new(false),
            reattach: Mutex::new(None),
        });
        self.pending.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.map.lock() {
            m.insert(token, c.clone());
        }
        c
    }

    /// Records that `c` is no longer pending (started, or gone); counts once.
    pub(crate) fn not_pending(&self, c: &HttpConnection) {
        if c.counted_pending.swap(false, Ordering::Relaxed) {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn get(&self, token: &str) -> Option<Arc<HttpConnection>> {
        self.map.lock().ok()?.get(token).cloned()
    }

    fn find_by_id(&self, id: &str) -> Option<Arc<HttpConnection>> {
        self.map
            .lock()
            .ok()?
            .values()
            .find(|c| c.connection_id == id)
            .cloned()
    }

    /// The connection a transport request's `id` names.
    pub(crate) fn lookup(
        &self,
        id: &str,
        faults: crate::faults::FaultSet,
    ) -> Option<Arc<HttpConnection>> {
        self.get(id).or_else(|| {
            // With `token-equals-id` or a v0 client, the id is the key; a wrong server also
            // accepts the public id (the fault).
            if faults.has(Fault::TokenEqualsId) {
                self.find_by_id(id)
            } else {
                None
            }
        })
    }

    /// Forgets a connection.
    pub(crate) fn remove(&self, token: &str) {
        let removed = self.map.lock().ok().and_then(|mut m| m.remove(token));
        if let Some(c) = removed {
            self.not_pending(&c);
        }
    }

    /// How many connections the table holds (any state).
    pub(crate) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Connections negotiated but not (yet) connected.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Forgets connections negotiated longer than `timeout` ago that never connected, and
    /// connections that ended longer than `timeout` ago (a Long Polling client that never
    /// polled again): their queued output goes with them, and a late poll gets 404.
    pub(crate) fn sweep(&self, timeout: Duration, keep_pending: bool) {
        let mut gone = Vec::new();
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, c| {
                let expired = match c.state.lock().map(|s| *s) {
                    Ok(ConnState::Pending) => !keep_pending && c.created.elapsed() > timeout,
                    Ok(ConnState::Ended(at)) => at.elapsed() > timeout,
                    Ok(ConnState::Active(_)) => false,
                    Err(_) => true,
                };
                if expired {
                    gone.push(c.clone());
                }
                !expired
            });
        }
        for c in gone {
            self.not_pending(&c);
        }
    }
}
