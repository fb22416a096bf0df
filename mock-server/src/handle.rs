//! The shared half of a hub connection: what hub methods, other connections and the lifetime
//! manager hold to reach it (its identity, its outgoing queue, how it ends). The connection's
//! own task holds the other half (`connection::session`) and drains the queue.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
use signalr_protocol::{HubMessage, HubProtocol, TransportKind};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::CloseReason;
use crate::faults::FaultSet;
use crate::outgoing;
use crate::request::RequestInfo;

/// Queued bytes above which streams wait before sending more (`ApplicationMaxBufferSize`).
const STREAM_HIGH_WATER: usize = 64 * 1024;

/// A connection as the rest of the server reaches it.
pub(crate) struct ConnHandle {
    /// Public connection id.
    pub(crate) connection_id: String,
    /// Its transport.
    pub(crate) transport: TransportKind,
    /// Its hub protocol.
    pub(crate) protocol: HubProtocol,
    /// `UserIdentifier`.
    pub(crate) user_id: Option<String>,
    /// The establishing request.
    pub(crate) request: Arc<RequestInfo>,
    /// Groups it belongs to (so leaving costs its own groups, not all of them).
    pub(crate) groups: Mutex<HashSet<String>>,
    /// Cancellation of its running server-to-client streams, by invocation id.
    pub(crate) streams: Mutex<HashMap<String, CancellationToken>>,
    tx: UnboundedSender<Bytes>,
    queued: AtomicUsize,
    writable: Notify,
    ended: CancellationToken,
    end_reason: Mutex<Option<CloseReason>>,
    faults: FaultSet,
    max_queued: usize,
}

/// Who a new connection is, for [`ConnHandle::new`].
pub(crate) struct Identity {
    pub(crate) connection_id: String,
    pub(crate) transport: TransportKind,
    pub(crate) protocol: HubProtocol,
    pub(crate) request: Arc<RequestInfo>,
}

impl ConnHandle {
    /// A handle and the receiving end of its outgoing queue; `ended` fires when it ends.
    pub(crate) fn new(
        who: Identity,
        ended: CancellationToken,
        faults: FaultSet,
        max_queued: usize,
    ) -> (Arc<Self>, UnboundedReceiver<Bytes>) {
        let (tx, rx) = futures_channel::mpsc::unbounded();
        let user_id = who.request.user.as_ref().and_then(|u| u.user_id.clone());
        let handle = Arc::new(Self {
            connection_id: who.connection_id,
            transport: who.transport,
            protocol: who.protocol,
            user_id,
            request: who.request,
            groups: Mutex::new(HashSet::new()),
            streams: Mutex::new(HashMap::new()),
            tx,
            queued: AtomicUsize::new(0),
            writable: Notify::new(),
            ended,
            end_reason: Mutex::new(None),
            faults,
            max_queued,
        });
        (handle, rx)
    }

    /// Encodes a message for this connection (fault modes applied).
    pub(crate) fn encode(&self, msg: &HubMessage) -> Bytes {
        outgoing::encode(msg, self.protocol, self.faults)
    }

    /// Queues a message; `false` if the connection is gone.
    pub(crate) fn send(&self, msg: &HubMessage) -> bool {
        self.send_bytes(self.encode(msg))
    }

    /// Queues already encoded bytes; `false` if the connection is gone.
    pub(crate) fn send_bytes(&self, bytes: Bytes) -> bool {
        // HubConnectionContext.WriteAsync writes nothing once the connection is aborted
        // (`Context.Abort()`, a protocol error, a timeout …): e.g. the method that called
        // `Abort()` gets no Completion. The Close message is written separately.
        if self.is_ended() {
            return false;
        }
        let n = bytes.len();
        let queued = self.queued.fetch_add(n, Ordering::Relaxed) + n;
        // One message always fits into an empty queue, however large (ASP.NET Core has no
        // output size limit: `LargeResult(16777216)` goes out); beyond that the queue is bounded.
        if queued > self.max_queued && queued > n {
            self.end(CloseReason::Overflow);
            return false;
        }
        self.tx.unbounded_send(bytes).is_ok()
    }

    /// Queues a message, first waiting while this client is behind (for streams).
    pub(crate) async fn send_with_backpressure(&self, msg: &HubMessage) -> bool {
        while self.queued.load(Ordering::Relaxed) > STREAM_HIGH_WATER {
            let notified = self.writable.notified();
            if self.queued.load(Ordering::Relaxed) <= STREAM_HIGH_WATER {
                break;
            }
            tokio::select! {
                _ = notified => {}
                _ = self.ended.cancelled() => return false,
            }
        }
        self.send(msg)
    }

    /// Whether messages wait in the queue (e.g. for a full resend buffer to drain).
    pub(crate) fn has_queued(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > 0
    }

    /// Records that `n` queued bytes were taken for writing (wakes streams waiting for room).
    pub(crate) fn dequeued(&self, n: usize) {
        let before = self.queued.fetch_sub(n, Ordering::Relaxed);
        if before >= STREAM_HIGH_WATER && before - n < STREAM_HIGH_WATER {
            self.writable.notify_waiters();
        }
    }

    /// Ends the connection for `reason` (the first reason wins).
    pub(crate) fn end(&self, reason: CloseReason) {
        if let Ok(mut r) = self.end_reason.lock() {
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.ended.cancel();
    }

    /// Whether the connection has ended.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }

    /// Fires when the connection ends.
    pub(crate) fn ended(&self) -> &CancellationToken {
        &self.ended
    }

    /// The reason someone recorded with [`ConnHandle::end`], taken once.
    pub(crate) fn take_reason(&self) -> Option<CloseReason> {
        self.end_reason.lock().ok().and_then(|mut r| r.take())
    }
}
