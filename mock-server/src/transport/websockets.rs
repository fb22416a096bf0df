//! WebSockets: one socket, text frames for JSON and binary frames for MessagePack; the server
//! ignores the opcode and frame boundaries of what it receives.
//!
//! axum checks the upgrade request (and words its refusals); the upgrade itself is completed
//! here, and the frames are read and written by [`super::ws_frames`] (no read buffer kept per
//! connection). ASP.NET Core answers a client's Close frame with status 1000 whatever the client
//! sent (its transport always ends with `CloseOutputAsync(NormalClosure)`); echoing the client's
//! frame, as tungstenite does (an empty one, which clients report as 1005), is a fault mode.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use signalr_protocol::TransferFormat;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::ws_frames::{opcode, CloseAnswer, WsConn, WsEvent};
use super::{Received, Transport, TransportKind};

type Socket = WsConn<TokioIo<hyper::upgrade::Upgraded>>;

/// How long to wait for the client's Close frame after sending ours (`WebSocketOptions.CloseTimeout`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest WebSocket message and frame accepted when the hub has no message size limit.
const MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Room for several hub messages in one WebSocket message above the hub's own limit (clients
/// such as .NET's send whatever their transport pipe holds, up to about 1 MiB, in one message).
const BATCH_ALLOWANCE: usize = 1 << 20;

/// How the server's WebSockets behave (the defaults are ASP.NET Core's; others are fault modes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WsOptions {
    /// Bytes read from the socket at a time, at most (into a buffer on the stack: an idle
    /// connection keeps none).
    pub(crate) read_buffer_size: usize,
    /// Status of the server's own Close frame (1000).
    pub(crate) close_code: u16,
    /// Send text (JSON) frames as binary frames.
    pub(crate) text_as_binary: bool,
    /// Answer a client's Close frame with status 1000 (true) or echo it (tungstenite's way).
    pub(crate) answer_close_with_1000: bool,
    /// The hub's `MaximumReceiveMessageSize` (`None` = unlimited). A WebSocket message is
    /// refused while it arrives once it is larger than this plus [`BATCH_ALLOWANCE`], so a
    /// message that never ends is not assembled in memory. It ends the connection as ASP.NET
    /// Core ends it: its WebSocket transport copies frames into a pipe whatever their size, and
    /// the hub finds more than its limit without a complete message — the Close with "The
    /// maximum message size of {N}B was exceeded", then a normal WebSocket close (1000), not
    /// 1009 (`WebSocketsServerTransport.StartReceiving`, `HubConnectionHandler`).
    pub(crate) hub_message_size: Option<usize>,
    /// `TransportSendTimeout`: a send stuck longer aborts the connection.
    pub(crate) send_timeout: Duration,
}

impl WsOptions {
    fn max_message(&self) -> usize {
        self.hub_message_size
            .map_or(MAX_MESSAGE_SIZE, |m| m.saturating_add(BATCH_ALLOWANCE))
            .min(MAX_MESSAGE_SIZE)
    }
}

/// Accepts a WebSocket upgrade: `run` gets the transport once the upgrade completes,
/// `on_failed` runs if it does not. `Err` is the response refusing a request that is not a
/// valid upgrade.
pub(crate) async fn accept<F, Fut>(
    parts: &mut Parts,
    o: WsOptions,
    on_failed: impl FnOnce() + Send + 'static,
    run: F,
) -> Result<Response, Response>
where
    F: FnOnce(WebSocketTransport) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // axum checks the request; without the connection's upgrade handle (taken first) a request
    // that passes every check is refused only for being "not upgradable".
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Err(WebSocketUpgradeRejection::ConnectionNotUpgradable(r)) => {
            if on_upgrade.is_none() {
                return Err(r.into_response());
            }
        }
        Err(refusal) => return Err(refusal.into_response()),
        Ok(_) => {}
    }
    let (Some(on_upgrade), Some(key)) = (on_upgrade, parts.headers.get(header::SEC_WEBSOCKET_KEY))
    else {
        return Err(StatusCode::UPGRADE_REQUIRED.into_response());
    };
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| StatusCode::BAD_REQUEST.into_response())?;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            on_failed();
            return;
        };
        let answer = if o.answer_close_with_1000 {
            CloseAnswer::Normal
        } else {
            CloseAnswer::Echo
        };
        let ws = WsConn::new(
            TokioIo::new(upgraded),
            o.max_message(),
            o.read_buffer_size,
            answer,
        );
        // A task of its own: this one, with what it captured for the upgrade, ends here
        // instead of wrapping the connection's task for its whole life.
        tokio::spawn(run(WebSocketTransport::new(ws, &o)));
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(r)
}

/// A WebSocket carrying one hub (or raw) connection.
pub(crate) struct WebSocketTransport {
    /// Boxed: the socket state is ~250 bytes, and the transport is moved by value through the
    /// layers of the connection's task; each layer would keep its own copy for the connection's
    /// whole life (idle connections would cost ~1 KB more each).
    ws: Box<Socket>,
    closed: bool,
    close_code: u16,
    /// Fault mode: text (JSON) frames are sent as binary frames.
    text_as_binary: bool,
    /// A bad frame arrived: the close code it earns (sent after the hub's Close).
    failed: Option<u16>,
    /// A send timed out: the socket is abandoned without a closing handshake.
    stuck: bool,
    /// The client sent a Close frame (it did not just vanish).
    peer_closed: bool,
    send_timeout: Duration,
    /// The send timeout's timer, made the first time a send has to wait (most never do):
    /// kept out of every send's future, which each connection's task holds while it waits.
    send_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The hub's message size limit as the close reports it.
    message_limit: usize,
    /// A message over [`WsOptions::max_message`] arrived.
    too_large: bool,
}

impl WebSocketTransport {
    /// Wraps an accepted socket; the server's Close frame carries `close_code` (1000, Normal
    /// Closure, as ASP.NET Core sends; another code only for a fault mode).
    fn new(ws: Socket, o: &WsOptions) -> Self {
        Self {
            ws: Box::new(ws),
            closed: false,
            close_code: o.close_code,
            text_as_binary: o.text_as_binary,
            failed: None,
            stuck: false,
            peer_closed: false,
            send_timeout: o.send_timeout,
            send_timer: None,
            message_limit: o.hub_message_size.unwrap_or(MAX_MESSAGE_SIZE),
            too_large: false,
        }
    }

    /// Runs `f` the moment the client's Close frame arrives (it starts the closing handshake),
    /// before the answering Close frame can reach the client.
    pub(crate) fn on_peer_close(&mut self, f: impl FnOnce() + Send + Sync + 'static) {
        self.ws.on_peer_close(Box::new(f));
    }
}

impl Transport for WebSocketTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::WebSockets
    }

    async fn recv(&mut self) -> Received {
        if self.closed {
            return std::future::pending().await;
        }
        match std::future::poll_fn(|cx| self.ws.poll_recv(cx)).await {
            WsEvent::Data(b) => Received::Data(b),
            WsEvent::Close => {
                self.closed = true;
                self.peer_closed = true;
                Received::Closed
            }
            // A message past the limit ends like a hub message over the hub's limit (see
            // `WsOptions::hub_message_size`): the hub's Close, then 1000, not 1009.
            WsEvent::Failed(Some(1009)) => {
                self.closed = true;
                self.failed = Some(1000);
                self.too_large = true;
                Received::Closed
            }
            WsEvent::Failed(code) => {
                self.closed = true;
                self.failed = code;
                Received::Closed
            }
        }
    }

    async fn send(&mut self, data: Bytes, format: TransferFormat) -> Result<(), ()> {
        let op = match format {
            TransferFormat::Binary => opcode::BINARY,
            TransferFormat::Text if self.text_as_binary => opcode::BINARY,
            // Text is UTF-8 by construction (the JSON writer, handshake texts; the raw echo
            // sends other bytes as Binary): it is not checked again on every send.
            TransferFormat::Text => {
                debug_assert!(std::str::from_utf8(&data).is_ok(), "text that is not UTF-8");
                opcode::TEXT
            }
        };
        if self.stuck {
            return Err(());
        }
        let send = self.ws.send(op, &data);
        tokio::pin!(send);
        // Most sends are taken by the socket at once: no timer for them.
        if let std::task::Poll::Ready(r) = futures_util::poll!(send.as_mut()) {
            return r.map_err(|_| ());
        }
        let deadline = tokio::time::Instant::now() + self.send_timeout;
        let timer = match self.send_timer.as_mut() {
            Some(t) => {
                t.as_mut().reset(deadline);
                t
            }
            None => self
                .send_timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        tokio::select! {
            r = send => r.map_err(|_| ()),
            _ = timer.as_mut() => {
                // The client stopped reading (WebSocketsServerTransport aborts the socket).
                self.stuck = true;
                Err(())
            }
        }
    }

    fn failed(&self) -> bool {
        self.failed.is_some()
    }

    fn message_too_large(&self) -> Option<usize> {
        self.too_large.then_some(self.message_limit)
    }

    fn closed_gracefully(&self) -> bool {
        self.peer_closed
    }

    async fn close(&mut self) {
        if self.stuck {
            return;
        }
        if let Some(code) = self.failed {
            // A bad frame: the hub's Close went out; now the WebSocket close the frame earns
            // (1007 invalid UTF-8, 1002 protocol violation; 1000 after a message too big), without waiting for
            // the client's reply.
            let _ = tokio::time::timeout(self.send_timeout, self.ws.send_close(code)).await;
            return;
        }
        if self.closed {
            // The peer closed (or vanished) first: the answer to its Close frame was queued
            // (and goes out now if it has not yet; ASP.NET Core answers with
            // `CloseOutputAsync`). Bounded like every send: a client that stopped reading cannot
            // hold the connection.
            let _ = tokio::time::timeout(self.send_timeout, self.ws.flush()).await;
            return;
        }
        if tokio::time::timeout(self.send_timeout, self.ws.send_close(self.close_code))
            .await
            .is_err()
        {
            // The client stopped reading: abandon the socket (WebSocketsServerTransport aborts).
            self.closed = true;
            return;
        }
        // Wait (bounded) for the client's Close frame so the close is clean on both sides.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let WsEvent::Data(_) = std::future::poll_fn(|cx| self.ws.poll_recv(cx)).await {}
        })
        .await;
        self.closed = true;
    }
}
