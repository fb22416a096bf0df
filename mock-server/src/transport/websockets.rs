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

/// Largest message and frame accepted (a hub message is at most 32 KB by default; the limit
/// that matters is the hub's own, applied by the connection).
const MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Accepts a WebSocket upgrade: `run` gets the transport once the upgrade completes,
/// `on_failed` runs if it does not. `Err` is the response refusing a request that is not a
/// valid upgrade. `read_buffer_size` is allocated per connection up front: it is what an idle
/// WebSocket costs.
pub(crate) async fn accept<F, Fut>(
    parts: &mut Parts,
    read_buffer_size: usize,
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
        .read_buffer_size(read_buffer_size.max(256))
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE_SIZE)
        .max_frame_size(MAX_MESSAGE_SIZE)
        .on_failed_upgrade(move |_| on_failed())
        .on_upgrade(move |ws| run(WebSocketTransport::new(ws, close_code))))
}

/// A WebSocket carrying one hub (or raw) connection.
pub(crate) struct WebSocketTransport {
    /// Boxed: the socket state is ~370 bytes, and the transport is moved by value through the
    /// layers of the connection's task; each layer would keep its own copy for the connection's
    /// whole life (idle connections would cost ~1 KB more each).
    ws: Box<WebSocket>,
    closed: bool,
    close_code: u16,
}

impl WebSocketTransport {
    /// Wraps an accepted socket; the server's Close frame carries `close_code` (1000, Normal
    /// Closure, as ASP.NET Core sends; another code only for a fault mode).
    fn new(ws: WebSocket, close_code: u16) -> Self {
        Self {
            ws: Box::new(ws),
            closed: false,
            close_code,
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
                Some(Err(_)) | None => {
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
        self.ws.send(msg).await.map_err(|_| ())
    }

    async fn close(&mut self) {
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
