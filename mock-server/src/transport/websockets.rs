//! WebSockets: one socket, text frames for JSON and binary frames for MessagePack; the server
//! ignores the opcode and frame boundaries of what it receives.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use signalr_protocol::TransferFormat;

use super::{Received, Transport, TransportKind};

/// How long to wait for the client's Close frame after sending ours (`WebSocketOptions.CloseTimeout`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest WebSocket message and frame accepted when the hub has no message size limit.
const MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Room for several hub messages in one WebSocket message above the hub's own limit (clients
/// such as .NET's send whatever their transport pipe holds, up to about 1 MiB, in one message).
const BATCH_ALLOWANCE: usize = 1 << 20;

/// What one WebSocket may cost and how long a send may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WsLimits {
    /// Allocated per connection up front: what an idle WebSocket costs.
    pub(crate) read_buffer_size: usize,
    /// The hub's `MaximumReceiveMessageSize` (`None` = unlimited). A WebSocket message is
    /// refused (1009) while it arrives once it is larger than this plus [`BATCH_ALLOWANCE`], so
    /// a message that never ends is not assembled in memory.
    pub(crate) hub_message_size: Option<usize>,
    /// `TransportSendTimeout`: a send stuck longer aborts the connection.
    pub(crate) send_timeout: Duration,
}

impl WsLimits {
    fn max_message(&self) -> usize {
        self.hub_message_size
            .map_or(MAX_MESSAGE_SIZE, |m| m.saturating_add(BATCH_ALLOWANCE))
            .min(MAX_MESSAGE_SIZE)
    }
}

/// The RFC 6455 close code for a receive error (`None`: the peer is gone, nothing to send).
fn close_code_for(e: axum::Error) -> Option<u16> {
    use tungstenite::error::{Error, ProtocolError};
    let inner = e.into_inner();
    match inner.downcast_ref::<Error>()? {
        Error::Utf8(_) => Some(1007),
        Error::Capacity(_) => Some(1009),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Protocol(_) => Some(1002),
        _ => None,
    }
}

/// Accepts a WebSocket upgrade: `run` gets the transport once the upgrade completes,
/// `on_failed` runs if it does not. `Err` is the response refusing a request that is not a
/// valid upgrade.
pub(crate) async fn accept<F, Fut>(
    parts: &mut Parts,
    limits: WsLimits,
    close_code: u16,
    on_failed: impl FnOnce() + Send + 'static,
    run: F,
) -> Result<Response, Response>
where
    F: FnOnce(WebSocketTransport) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let upgrade = WebSocketUpgrade::from_request_parts(parts, &())
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(upgrade
        .read_buffer_size(limits.read_buffer_size.max(256))
        .write_buffer_size(0)
        .max_message_size(limits.max_message())
        .max_frame_size(limits.max_message())
        .on_failed_upgrade(move |_| on_failed())
        .on_upgrade(move |ws| run(WebSocketTransport::new(ws, close_code, limits.send_timeout))))
}

/// A WebSocket carrying one hub (or raw) connection.
pub(crate) struct WebSocketTransport {
    ws: WebSocket,
    closed: bool,
    close_code: u16,
    /// A bad frame arrived: the close code it earns (sent after the hub's Close).
    failed: Option<u16>,
    /// A send timed out: the socket is abandoned without a closing handshake.
    stuck: bool,
    send_timeout: Duration,
}

impl WebSocketTransport {
    /// Wraps an accepted socket; the server's Close frame carries `close_code` (1000, Normal
    /// Closure, as ASP.NET Core sends; another code only for a fault mode).
    fn new(ws: WebSocket, close_code: u16, send_timeout: Duration) -> Self {
        Self {
            ws,
            closed: false,
            close_code,
            failed: None,
            stuck: false,
            send_timeout,
        }
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
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Received::Data(Bytes::from(t)),
                Some(Ok(Message::Binary(b))) => return Received::Data(b),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) => {
                    self.closed = true;
                    return Received::Closed;
                }
                Some(Err(e)) => {
                    self.closed = true;
                    self.failed = close_code_for(e);
                    return Received::Closed;
                }
                None => {
                    self.closed = true;
                    return Received::Closed;
                }
            }
        }
    }

    async fn send(&mut self, data: Bytes, format: TransferFormat) -> Result<(), ()> {
        let msg = match format {
            TransferFormat::Binary => Message::Binary(data),
            TransferFormat::Text => match Utf8Bytes::try_from(data.clone()) {
                Ok(t) => Message::Text(t),
                // Raw echo of non-UTF-8 bytes: a text frame cannot carry them.
                Err(_) => Message::Binary(data),
            },
        };
        if self.stuck {
            return Err(());
        }
        match tokio::time::timeout(self.send_timeout, self.ws.send(msg)).await {
            Ok(r) => r.map_err(|_| ()),
            Err(_) => {
                // The client stopped reading (WebSocketsServerTransport aborts the socket).
                self.stuck = true;
                Err(())
            }
        }
    }

    fn failed(&self) -> bool {
        self.failed.is_some()
    }

    async fn close(&mut self) {
        if self.stuck {
            return;
        }
        if let Some(code) = self.failed {
            // A bad frame: the hub's Close went out; now the WebSocket close the frame earns
            // (1007 invalid UTF-8, 1009 too big, 1002 protocol violation), without waiting for
            // the client's reply.
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(""),
            };
            let _ =
                tokio::time::timeout(self.send_timeout, self.ws.send(Message::Close(Some(frame))))
                    .await;
            return;
        }
        if self.closed {
            // The peer closed (or vanished) first. tungstenite queued the reply to its Close
            // frame and only writes it on the next flush; without this the client never sees
            // the closing handshake complete (ASP.NET Core answers with `CloseOutputAsync`).
            let _ = SinkExt::flush(&mut self.ws).await;
            return;
        }
        let _ = self
            .ws
            .send(Message::Close(Some(CloseFrame {
                code: self.close_code,
                reason: Utf8Bytes::from_static(""),
            })))
            .await;
        if !self.closed {
            // Wait (bounded) for the client's Close frame so the close is clean on both sides.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                while let Some(Ok(m)) = self.ws.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
            self.closed = true;
        }
    }
}
