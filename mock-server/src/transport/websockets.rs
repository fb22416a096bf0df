//! WebSockets: one socket, text frames for JSON and binary frames for MessagePack; the server
//! ignores the opcode and frame boundaries of what it receives.
//!
//! axum checks the upgrade request (and words its refusals); the upgrade itself is completed
//! here so that the socket's incoming bytes pass through [`CloseReply`]: ASP.NET Core answers a
//! client's Close frame with status 1000 whatever the client sent (its transport always ends
//! with `CloseOutputAsync(NormalClosure)`), while tungstenite echoes the client's frame — an
//! empty one, which clients report as 1005.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use signalr_protocol::TransferFormat;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::{Received, Transport, TransportKind};

type Socket = WebSocketStream<CloseReply<TokioIo<hyper::upgrade::Upgraded>>>;

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
    /// Bytes of the read buffer allocated per connection up front.
    pub(crate) read_buffer_size: usize,
    /// Status of the server's own Close frame (1000).
    pub(crate) close_code: u16,
    /// Send text (JSON) frames as binary frames.
    pub(crate) text_as_binary: bool,
    /// Answer a client's Close frame with status 1000 (true) or echo it (tungstenite's way).
    pub(crate) answer_close_with_1000: bool,
    /// The hub's `MaximumReceiveMessageSize` (`None` = unlimited). A WebSocket message is
    /// refused (1009) while it arrives once it is larger than this plus [`BATCH_ALLOWANCE`], so
    /// a message that never ends is not assembled in memory.
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

/// The RFC 6455 close code for a receive error (`None`: the peer is gone, nothing to send).
fn close_code_for(e: &tokio_tungstenite::tungstenite::Error) -> Option<u16> {
    use tokio_tungstenite::tungstenite::error::{Error, ProtocolError};
    match e {
        Error::Utf8(_) => Some(1007),
        Error::Capacity(_) => Some(1009),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Protocol(_) => Some(1002),
        _ => None,
    }
}

/// Accepts a WebSocket upgrade: `run` gets the transport once the upgrade completes,
/// `on_failed` runs if it does not. `Err` is the response refusing a request that is not a
/// valid upgrade. `read_buffer_size` is allocated per connection up front: it is what an idle
/// WebSocket costs.
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
    let config = WebSocketConfig::default()
        .read_buffer_size(o.read_buffer_size.max(256))
        .write_buffer_size(0)
        .max_message_size(Some(o.max_message()))
        .max_frame_size(Some(o.max_message()));
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            on_failed();
            return;
        };
        let io = CloseReply::new(TokioIo::new(upgraded), o.answer_close_with_1000);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        run(WebSocketTransport::new(ws, &o)).await;
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
    /// Boxed: the socket state is ~370 bytes, and the transport is moved by value through the
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
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Err(e)) => {
                    self.closed = true;
                    self.failed = close_code_for(&e);
                    return Received::Closed;
                }
                Some(Ok(Message::Close(_))) => {
                    self.closed = true;
                    self.peer_closed = true;
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
            TransferFormat::Text if self.text_as_binary => Message::Binary(data),
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

    fn closed_gracefully(&self) -> bool {
        self.peer_closed
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
                code: CloseCode::from(code),
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
            // Bounded like every send: a client that stopped reading cannot hold the connection.
            let _ = tokio::time::timeout(self.send_timeout, SinkExt::flush(&mut self.ws)).await;
            return;
        }
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::from(self.close_code),
            reason: Utf8Bytes::from_static(""),
        }));
        if tokio::time::timeout(self.send_timeout, self.ws.send(close))
            .await
            .is_err()
        {
            // The client stopped reading: abandon the socket (WebSocketsServerTransport aborts).
            self.closed = true;
            return;
        }
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

/// The socket's bytes on their way to tungstenite: every Close frame from the client (a
/// control frame, at most 125 bytes of payload) is presented as a Close frame with status 1000,
/// so that tungstenite's automatic answer carries 1000, as ASP.NET Core's does. Other bytes pass
/// unchanged.
///
/// The hot path costs nothing per byte: bytes are read straight into the caller's buffer and
/// only frame headers are looked at (a payload is skipped over by its length). Only when a
/// frame starts with the Close opcode are the bytes from there on diverted into [`Diverted`],
/// which rewrites the Close frame; it is dropped again once drained, so an idle connection
/// holds no buffer. Memory is bounded: one read, plus at most one frame header or Close frame.
pub(crate) struct CloseReply<T> {
    inner: T,
    enabled: bool,
    /// Payload bytes of the current frame (not a Close) still to pass through.
    payload_left: u64,
    /// The current frame's header as far as it has passed (never a Close frame's).
    head: [u8; 14],
    head_len: u8,
    /// Bytes from a Close frame's first byte on, while it is rewritten.
    diverted: Option<Box<Diverted>>,
}

/// Bytes held back after a Close frame's first byte.
#[derive(Default)]
struct Diverted {
    /// Bytes read and not yet decided on (an incomplete frame header or Close frame).
    pending: Vec<u8>,
    /// Bytes ready for tungstenite, from `ready_at`.
    ready: Vec<u8>,
    ready_at: usize,
}

/// Status 1000 (Normal Closure), big-endian.
const NORMAL_CLOSURE: [u8; 2] = [0x03, 0xe8];

/// Opcode of a Close frame.
const CLOSE: u8 = 0x8;

/// The length of a frame header whose second byte (mask bit and 7-bit length) is `b1`.
fn head_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// The payload length in a complete frame header.
fn payload_len(h: &[u8]) -> u64 {
    match h[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
        127 => h[2..10].iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)),
        n => u64::from(n),
    }
}

impl<T> CloseReply<T> {
    /// Wraps `inner`; with `enabled` false every byte passes unchanged (a fault mode).
    pub(crate) fn new(inner: T, enabled: bool) -> Self {
        Self {
            inner,
            enabled,
            payload_left: 0,
            head: [0; 14],
            head_len: 0,
            diverted: None,
        }
    }

    /// Follows the frames in `bytes` (which pass unchanged) and returns where a Close frame
    /// starts, if one does.
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.payload_left > 0 {
                let n = self.payload_left.min((bytes.len() - i) as u64);
                self.payload_left -= n;
                i += n as usize;
                continue;
            }
            if self.head_len == 0 && bytes[i] & 0x0f == CLOSE {
                return Some(i);
            }
            self.head[usize::from(self.head_len)] = bytes[i];
            self.head_len += 1;
            i += 1;
            let have = usize::from(self.head_len);
            if have >= 2 && have == head_len(self.head[1]) {
                self.payload_left = payload_len(&self.head[..have]);
                self.head_len = 0;
            }
        }
        None
    }
}

impl Diverted {
    /// Moves everything that can be decided from `pending` to `ready`; `payload_left` is the
    /// connection's (shared with the undiverted path).
    fn process(&mut self, payload_left: &mut u64) {
        loop {
            if *payload_left > 0 {
                let n = (*payload_left).min(self.pending.len() as u64) as usize;
                if n == 0 {
                    return;
                }
                self.ready.extend_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                *payload_left -= n as u64;
                continue;
            }
            let p = &self.pending;
            if p.len() < 2 {
                return;
            }
            let masked = p[1] & 0x80 != 0;
            let head = head_len(p[1]);
            if p.len() < head {
                return;
            }
            let len = payload_len(p);
            let is_close = p[0] & 0x0f == CLOSE;
            if is_close && len <= 125 {
                let total = head + len as usize;
                if p.len() < total {
                    return;
                }
                let mut frame = vec![p[0], (p[1] & 0x80) | 2];
                if masked {
                    let key = [p[head - 4], p[head - 3], p[head - 2], p[head - 1]];
                    frame.extend_from_slice(&key);
                    frame.push(NORMAL_CLOSURE[0] ^ key[0]);
                    frame.push(NORMAL_CLOSURE[1] ^ key[1]);
                } else {
                    frame.extend_from_slice(&NORMAL_CLOSURE);
                }
                self.ready.extend_from_slice(&frame);
                self.pending.drain(..total);
            } else {
                self.ready.extend_from_slice(&self.pending[..head]);
                self.pending.drain(..head);
                *payload_left = len;
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CloseReply<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if !this.enabled {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let d = match this.diverted.as_mut() {
            Some(d) => d,
            None => {
                // The hot path: straight into the caller's buffer.
                let start = buf.filled().len();
                match Pin::new(&mut this.inner).poll_read(cx, buf) {
                    Poll::Ready(Ok(())) => {}
                    other => return other,
                }
                let Some(at) = this.scan(&buf.filled()[start..]).map(|i| start + i) else {
                    return Poll::Ready(Ok(()));
                };
                let mut d = Box::<Diverted>::default();
                d.pending.extend_from_slice(&buf.filled()[at..]);
                d.process(&mut this.payload_left);
                buf.set_filled(at);
                let d = this.diverted.insert(d);
                if at > start {
                    return Poll::Ready(Ok(()));
                }
                d
            }
        };
        loop {
            if d.ready_at < d.ready.len() {
                let n = (d.ready.len() - d.ready_at).min(buf.remaining());
                buf.put_slice(&d.ready[d.ready_at..d.ready_at + n]);
                d.ready_at += n;
                if d.ready_at == d.ready.len() {
                    d.ready.clear();
                    d.ready_at = 0;
                    if d.pending.is_empty() {
                        // Back to the hot path, holding nothing.
                        this.diverted = None;
                    }
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 512];
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            if rb.filled().is_empty() {
                // End of the stream: an incomplete frame goes as it is (tungstenite reports it).
                if d.pending.is_empty() {
                    this.diverted = None;
                    return Poll::Ready(Ok(()));
                }
                let mut rest = std::mem::take(&mut d.pending);
                d.ready.append(&mut rest);
                continue;
            }
            d.pending.extend_from_slice(rb.filled());
            d.process(&mut this.payload_left);
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CloseReply<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn through(input: &[u8], chunk: usize) -> Vec<u8> {
        let (mut w, r) = tokio::io::duplex(64);
        let data = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for c in data.chunks(chunk) {
                w.write_all(c).await.expect("write");
            }
        });
        let mut out = Vec::new();
        CloseReply::new(r, true)
            .read_to_end(&mut out)
            .await
            .expect("read");
        writer.await.expect("writer");
        out
    }

    #[tokio::test]
    async fn a_client_close_frame_becomes_status_1000_and_data_passes_unchanged() {
        let key = [1, 2, 3, 4];
        // A masked text frame "hi" holding 0x88 0x80 in its payload, an empty Close, then a
        // Close with status 1001 and a reason.
        let mut input = vec![0x81, 0x84, 1, 2, 3, 4];
        input.extend([b'h' ^ 1, b'i' ^ 2, 0x88 ^ 3, 0x80 ^ 4]);
        let text_frame = input.clone();
        input.extend([0x88, 0x80, 1, 2, 3, 4]);
        input.extend([
            0x88,
            0x85,
            1,
            2,
            3,
            4,
            0x03 ^ 1,
            0xe9 ^ 2,
            b'b' ^ 3,
            b'y' ^ 4,
            b'e' ^ 1,
        ]);
        let close_1000 = [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ key[0], 0xe8 ^ key[1]];
        let mut expected = text_frame;
        expected.extend(close_1000);
        expected.extend(close_1000);
        for chunk in [1, 3, 7, 100] {
            assert_eq!(through(&input, chunk).await, expected, "chunks of {chunk}");
        }
    }

    #[tokio::test]
    async fn after_a_close_frame_nothing_is_held_and_later_frames_pass() {
        // A 64-bit-length binary frame, a Close with a reason, then a small text frame.
        let mut input = vec![0x82, 0xff, 0, 0, 0, 0, 0, 0, 1, 0, 5, 6, 7, 8];
        input.extend(std::iter::repeat_n(0x88, 256));
        let big = input.clone();
        input.extend([0x88, 0x83, 0, 0, 0, 0, 0x03, 0xe9, b'x']);
        input.extend([0x81, 0x81, 0, 0, 0, 0, b'y']);
        let mut expected = big;
        expected.extend([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        expected.extend([0x81, 0x81, 0, 0, 0, 0, b'y']);
        for chunk in [1, 2, 9, 300] {
            let (mut w, r) = tokio::io::duplex(64);
            let data = input.clone();
            let writer = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for c in data.chunks(chunk) {
                    w.write_all(c).await.expect("write");
                }
            });
            let mut reader = CloseReply::new(r, true);
            let mut out = Vec::new();
            reader.read_to_end(&mut out).await.expect("read");
            writer.await.expect("writer");
            assert_eq!(out, expected, "chunks of {chunk}");
            assert!(
                reader.diverted.is_none(),
                "chunks of {chunk}: a buffer kept"
            );
        }
    }

    #[tokio::test]
    async fn long_frames_pass_unchanged() {
        let mut input = vec![0x82, 0xfe, 0x01, 0x00, 9, 9, 9, 9];
        input.extend(std::iter::repeat_n(0x88, 256));
        input.extend([0x82, 0x80, 0, 0, 0, 0]);
        assert_eq!(through(&input, 5).await, input);
    }
}
