//! WebSockets: one socket both ways; text or binary frames out, every data frame in.

use bytes::Bytes;
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{CloseInfo, Incoming, Reader, Transport, TransportFuture};
use crate::client::error::{ClientError, OpenError};
use crate::client::http::{decode_body, header_pairs, Http, HttpResult};
use crate::client::transcript::{redact_url, show_bytes};
use crate::client::wire::{Assembling, Budgeted, FrameKind, Held, MAX_RECEIVE};
use crate::result::Direction;

/// The socket's reads count against the run's shared receive budget (see [`Assembling`]).
type WsStream = WebSocketStream<Budgeted<TcpStream>>;
type WsSink = SplitSink<WsStream, Message>;

/// An open WebSocket.
pub(super) struct WebSocket {
    http: Http,
    sink: WsSink,
    reader: Reader,
}

pub(super) async fn open(
    http: &Http,
    url: reqwest::Url,
    tx: mpsc::Sender<Incoming>,
) -> Result<WebSocket, OpenError> {
    let mut ws_url = url.clone();
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    let _ = ws_url.set_scheme(scheme);
    http.note(
        Direction::Out,
        "ws",
        format!("GET {} (upgrade)", redact_url(ws_url.as_str())),
    );
    let mut req = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| OpenError::InvalidUrl(e.to_string()))?;
    for (k, v) in &http.target.headers {
        if let (Ok(name), Ok(value)) = (k.parse::<HeaderName>(), v.parse::<HeaderValue>()) {
            req.headers_mut().append(name, value);
        }
    }
    if let Some(t) = http.target.bearer(true) {
        if let Ok(value) = format!("Bearer {t}").parse::<HeaderValue>() {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::header::AUTHORIZATION,
                value,
            );
        }
    }
    let assembling = std::sync::Arc::new(Assembling::default());
    let connected =
        match tokio::time::timeout(http.timeout, connect(&ws_url, req, assembling.clone())).await {
            Ok(r) => r,
            Err(_) => {
                let e = OpenError::UpgradeTimeout(http.timeout);
                http.transcript
                    .mark(crate::client::transcript::Mark::WaitedOut);
                http.note(Direction::Note, "ws", e.to_string());
                return Err(e);
            }
        };
    match connected {
        Ok((ws, resp)) => {
            http.note(
                Direction::In,
                "ws",
                format!("{} (upgraded)", resp.status().as_u16()),
            );
            let (sink, stream) = ws.split();
            Ok(WebSocket {
                http: http.clone(),
                sink,
                reader: Reader::spawn(read(stream, tx, assembling)),
            })
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let headers = header_pairs(resp.headers());
            // The bytes after the headers, as read with them: decode them as HTTP (ASP.NET
            // Core answers a refused upgrade with a chunked body).
            let raw = resp.body().clone().unwrap_or_default();
            let (body, problem) = decode_body(&headers, &raw);
            http.note(
                Direction::In,
                "ws",
                format!("{status} (not upgraded) {}", show_bytes(&body)),
            );
            if let Some(p) = problem {
                http.note(Direction::Note, "ws", format!("{p}: {}", show_bytes(&raw)));
            }
            http.record(HttpResult {
                status,
                headers,
                body,
            });
            Err(OpenError::UpgradeRefused(status))
        }
        Err(e) => {
            http.note(Direction::Note, "ws", format!("connect failed: {e}"));
            Err(OpenError::WebSocketConnect(e.to_string()))
        }
    }
}

/// `connect_async_with_config`, with the socket wrapped in [`Budgeted`] before the handshake
/// (tokio-tungstenite is built without TLS: `wss` is refused as it refused it).
async fn connect(
    url: &reqwest::Url,
    req: tokio_tungstenite::tungstenite::handshake::client::Request,
    assembling: std::sync::Arc<Assembling>,
) -> Result<
    (
        WsStream,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::error::UrlError;
    use tokio_tungstenite::tungstenite::Error;
    if url.scheme() == "wss" {
        return Err(Error::Url(UrlError::TlsFeatureNotEnabled));
    }
    let host = url.host_str().ok_or(Error::Url(UrlError::NoHostName))?;
    let port = url
        .port_or_known_default()
        .ok_or(Error::Url(UrlError::UnsupportedUrlScheme))?;
    let tcp = TcpStream::connect(format!("{host}:{port}"))
        .await
        .map_err(Error::Io)?;
    tokio_tungstenite::client_async_with_config(
        req,
        Budgeted::new(tcp, assembling),
        Some(ws_config()),
    )
    .await
}

/// tungstenite assembles a message before handing it over: bound it (and a frame) by the
/// client's per-message limit instead of tungstenite's 64 MiB default. Its read buffer is
/// allocated up front per connection: 16 KiB instead of 128 KiB (`conform bench` holds
/// thousands of connections; larger messages are read in several pieces).
fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_RECEIVE))
        .max_frame_size(Some(MAX_RECEIVE))
        .read_buffer_size(16 * 1024)
}

/// Reads tungstenite's messages one by one rather than through a SignalR client crate: conform
/// must see what such a client would hide or repair — the frame kind (text or binary), the
/// close code and reason, a connection lost without a close frame — so a case can fail on it.
async fn read(
    mut stream: futures_util::stream::SplitStream<WsStream>,
    tx: mpsc::Sender<Incoming>,
    assembling: std::sync::Arc<Assembling>,
) {
    // Whatever ends this loop, the bytes read for a message not delivered are given back.
    struct GiveBack(std::sync::Arc<Assembling>);
    impl Drop for GiveBack {
        fn drop(&mut self) {
            self.0.delivered();
        }
    }
    let assembling = GiveBack(assembling);
    while let Some(m) = stream.next().await {
        // The message left tungstenite: from here it counts as `Held` (data) or not at all.
        assembling.0.delivered();
        let data = match &m {
            Ok(Message::Text(t)) => Some((t.as_bytes().to_vec(), FrameKind::Text)),
            Ok(Message::Binary(b)) => Some((b.to_vec(), FrameKind::Binary)),
            _ => None,
        };
        // Received data counts against the run's shared budget until the session parsed it.
        if let Some((d, kind)) = data {
            let mut held = Held::default();
            let ev = match held.resize(d.len()).await {
                Ok(()) => Incoming::Data(held.into_bytes(d), Some(kind)),
                Err(e) => Incoming::Closed(CloseInfo::lost(e.to_string())),
            };
            let end = matches!(ev, Incoming::Closed(_));
            if tx.send(ev).await.is_err() || end {
                return;
            }
            continue;
        }
        let ev = match m {
            Ok(Message::Close(f)) => Incoming::Closed(CloseInfo {
                code: Some(f.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005)),
                reason: f.map(|f| f.reason.to_string()).unwrap_or_default(),
                http_status: None,
            }),
            Ok(_) => continue,
            Err(e) => Incoming::Closed(CloseInfo::lost(format!(
                "connection lost without a close frame ({e})"
            ))),
        };
        let end = matches!(ev, Incoming::Closed(_));
        if tx.send(ev).await.is_err() || end {
            return;
        }
    }
    let _ = tx
        .send(Incoming::Closed(CloseInfo::lost(
            "connection lost without a close frame",
        )))
        .await;
}

impl Transport for WebSocket {
    fn send<'a>(
        &'a mut self,
        data: &'a [u8],
        kind: FrameKind,
    ) -> TransportFuture<'a, Result<(), ClientError>> {
        Box::pin(async move {
            self.http.note(Direction::Out, "ws", show_bytes(data));
            let msg = match (kind, std::str::from_utf8(data)) {
                (FrameKind::Text, Ok(t)) => Message::Text(t.into()),
                _ => Message::Binary(Bytes::copy_from_slice(data)),
            };
            self.sink
                .send(msg)
                .await
                .map_err(|e| ClientError::WebSocketSend(e.to_string()))
        })
    }

    fn send_empty_close(&mut self) -> TransportFuture<'_, Result<(), ClientError>> {
        Box::pin(async move {
            self.http
                .note(Direction::Out, "ws", "Close frame without status");
            self.sink
                .send(Message::Close(None))
                .await
                .map_err(|e| ClientError::WebSocketSend(e.to_string()))
        })
    }

    fn close(mut self: Box<Self>, graceful: bool) -> TransportFuture<'static, ()> {
        Box::pin(async move {
            if graceful {
                let _ = self
                    .sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    })))
                    .await;
                // The closing handshake completes before the next step: the server's Close
                // frame (or the end of the connection) ends the reader. Until then a server
                // may not have read ours yet, and a request that follows at once (a reattach
                // with the same token) could reach it first on its new TCP connection.
                // Bounded like a request; a server that never answers is noted.
                let limit = self.http.timeout;
                if !self.reader.finish_within(limit).await {
                    self.http.note(
                        Direction::Note,
                        "ws",
                        format!(
                            "no answer to the Close frame within {} ms: going on",
                            limit.as_millis()
                        ),
                    );
                }
            }
        })
    }
}
