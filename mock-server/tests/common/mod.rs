//! A raw SignalR test client over real sockets for mock-hub's tests.
//!
//! Everything waits on events with a bounded timeout ([`TIMEOUT`]); nothing sleeps to let things
//! happen. Each test starts its own server on an ephemeral port.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use signalr_mock::{HubLifetime, MockConfig, MockServer};
use signalr_protocol::{
    handshake, CompletionResult, FrameReader, HubMessage, HubProtocol, NegotiateResponse, Parsed,
    TransferFormat, Value,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound for anything a test waits for.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a test listens when it expects nothing to arrive.
pub const SILENCE: Duration = Duration::from_millis(300);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

// ---------------------------------------------------------------------------------------------
// Server

/// Starts a server on an ephemeral port and starts recording panics of this test's thread.
pub async fn server(config: MockConfig) -> MockServer {
    watch_panics();
    MockServer::start(MockConfig { port: 0, ..config })
        .await
        .expect("server starts")
}

/// A server with default options.
pub async fn default_server() -> MockServer {
    server(MockConfig::default()).await
}

/// A server whose hubs send detailed errors.
pub async fn detailed_server() -> MockServer {
    server(MockConfig {
        enable_detailed_errors: true,
        ..MockConfig::default()
    })
    .await
}

/// The lifetime (connections, groups, users) of the hub mapped at `path`.
pub fn lifetime(server: &MockServer, path: &str) -> Arc<HubLifetime> {
    server.lifetime(path).expect("hub endpoint")
}

/// Waits (bounded) until `cond` holds, re-checking every few milliseconds.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// Panics inside server tasks are caught by tokio and would go unnoticed: a hook records every
// panic with the name of its thread. `#[tokio::test]` runs the server's tasks on the test's own
// thread, so a test can check that none of them panicked.
type PanicLog = Mutex<Vec<(Option<String>, String)>>;

fn panic_log() -> &'static PanicLog {
    static LOG: OnceLock<PanicLog> = OnceLock::new();
    LOG.get_or_init(|| Mutex::new(Vec::new()))
}

fn this_thread() -> Option<String> {
    std::thread::current().name().map(str::to_owned)
}

/// Installs the panic recorder (once) and forgets earlier panics of this thread.
pub fn watch_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut log) = panic_log().lock() {
                log.push((this_thread(), info.to_string()));
            }
            previous(info);
        }));
    });
    let me = this_thread();
    if let Ok(mut log) = panic_log().lock() {
        log.retain(|(t, _)| *t != me);
    }
}

/// Fails if anything panicked on this test's thread since [`watch_panics`].
pub fn assert_no_panics() {
    let me = this_thread();
    let log = panic_log().lock().map(|l| l.clone()).unwrap_or_default();
    let mine: Vec<_> = log.into_iter().filter(|(t, _)| *t == me).collect();
    assert!(mine.is_empty(), "the server panicked: {mine:?}");
}

// ---------------------------------------------------------------------------------------------
// HTTP

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("http client")
}

/// `POST {hub}/negotiate?{query}`: status and body.
pub async fn negotiate(server: &MockServer, hub: &str, query: &str) -> (u16, String) {
    let r = negotiate_request(server, hub, query)
        .send()
        .await
        .expect("negotiate");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// A negotiate POST to `hub` with `query`, for a test to add headers to and send.
pub fn negotiate_request(server: &MockServer, hub: &str, query: &str) -> reqwest::RequestBuilder {
    http().post(format!("{}/negotiate?{query}", server.hub_url(hub)))
}

/// Negotiates version 1 and returns the parsed body.
pub async fn negotiate_v1(server: &MockServer, hub: &str) -> NegotiateResponse {
    let (status, body) = negotiate(server, hub, "negotiateVersion=1").await;
    assert_eq!(status, 200, "{body}");
    NegotiateResponse::parse(body.as_bytes()).expect("negotiate body")
}

/// A token for `user` from `GET /contract/token`.
pub async fn contract_token(server: &MockServer, user: &str) -> String {
    let r = http()
        .get(format!("{}/contract/token?user={user}", server.base_url()))
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.expect("token")
}

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a hand-written HTTP/1.1 request and reads one response with a `Content-Length` or a
/// chunked body, decoded (for WebSocket upgrade requests the server rejects, whose bodies a
/// WebSocket client drops).
pub async fn raw_http(server: &MockServer, request: &str) -> RawResponse {
    let fut = async {
        let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let n = tcp.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed before a response");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        let chunked = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        if chunked {
            loop {
                if let Some(decoded) = decode_chunked(&body) {
                    return RawResponse {
                        status,
                        headers,
                        body: decoded,
                    };
                }
                let n = tcp.read(&mut chunk).await.expect("read");
                assert!(n > 0, "connection closed inside the chunked body");
                body.extend_from_slice(&chunk[..n]);
            }
        }
        while body.len() < len {
            let n = tcp.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed inside the body");
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(len);
        RawResponse {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("response in time")
}

/// A complete chunked body decoded; `None` while its last chunk has not arrived.
fn decode_chunked(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(raw, b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).expect("chunk size");
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
        let data = line_end + 2;
        if raw.len() < data + size + 2 {
            return None;
        }
        if size == 0 {
            return Some(out);
        }
        assert_eq!(
            &raw[data + size..data + size + 2],
            b"\r\n",
            "chunk ends with CRLF"
        );
        out.extend_from_slice(&raw[data..data + size]);
        raw = &raw[data + size + 2..];
    }
}

/// A WebSocket upgrade request for `path_and_query`, as raw HTTP text.
pub fn upgrade_request(server: &MockServer, path_and_query: &str) -> String {
    format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.addr()
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `ws://host/path?query` for a hub path.
pub fn ws_url(server: &MockServer, path: &str, query: &str) -> String {
    let base = server.hub_url(path).replace("http://", "ws://");
    if query.is_empty() {
        base
    } else {
        format!("{base}?{query}")
    }
}

/// Opens a WebSocket; `Err(status)` when the server answers the upgrade with an HTTP status.
pub async fn try_ws(url: &str) -> Result<Ws, u16> {
    use tokio_tungstenite::tungstenite::Error;
    match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
        .await
        .expect("upgrade answered in time")
    {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Client

/// The opcode a data frame had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Text,
    Binary,
}

/// What the socket delivered next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A data frame.
    Data(FrameKind, Vec<u8>),
    /// A Close frame (its code), or `None` when the socket ended without one.
    Closed(Option<u16>),
}

pub struct Client {
    pub ws: Ws,
    pub protocol: HubProtocol,
    frames: FrameReader,
    /// The `connectionId` from negotiate (`None` when negotiation was skipped).
    pub connection_id: Option<String>,
    /// The `connectionToken` from negotiate.
    pub token: Option<String>,
    /// The opcodes of every data frame received so far, in order.
    pub frame_kinds: Vec<FrameKind>,
    /// Set once the socket ended (with the Close frame's code, if there was one).
    pub closed: Option<Option<u16>>,
}

impl Client {
    fn new(ws: Ws, negotiated: Option<NegotiateResponse>) -> Client {
        Client {
            ws,
            protocol: HubProtocol::Json,
            frames: FrameReader::new(),
            connection_id: negotiated.as_ref().and_then(|n| n.connection_id.clone()),
            token: negotiated.and_then(|n| n.connection_token),
            frame_kinds: Vec::new(),
            closed: None,
        }
    }

    /// Negotiates (version 1), opens the WebSocket and completes the handshake.
    pub async fn connect(server: &MockServer, hub: &str, protocol: HubProtocol) -> Client {
        Self::connect_with(server, hub, protocol, "").await
    }

    /// As [`Client::connect`], with `extra_query` (`&k=v…`) on negotiate and the WebSocket URL.
    pub async fn connect_with(
        server: &MockServer,
        hub: &str,
        protocol: HubProtocol,
        extra_query: &str,
    ) -> Client {
        let mut c = Self::open(server, hub, extra_query).await;
        c.handshake(protocol).await;
        c
    }

    /// Negotiates and opens the WebSocket without a handshake.
    pub async fn open(server: &MockServer, hub: &str, extra_query: &str) -> Client {
        let (status, body) =
            negotiate(server, hub, &format!("negotiateVersion=1{extra_query}")).await;
        assert_eq!(status, 200, "{body}");
        let n = NegotiateResponse::parse(body.as_bytes()).expect("negotiate body");
        let token = n.connection_token.clone().expect("token");
        let url = ws_url(server, hub, &format!("id={token}{extra_query}"));
        let ws = try_ws(&url).await.expect("websocket");
        Client::new(ws, Some(n))
    }

    /// Wraps an already open WebSocket (no handshake yet).
    pub fn from_ws(ws: Ws) -> Client {
        Client::new(ws, None)
    }

    /// Opens a WebSocket to a URL as is (no negotiate, no handshake).
    pub async fn open_url(url: &str) -> Client {
        let ws = try_ws(url).await.expect("websocket");
        Client::new(ws, None)
    }

    /// Sends the handshake request and expects success (`{}` RS).
    pub async fn handshake(&mut self, protocol: HubProtocol) {
        let mut req = Vec::new();
        handshake::write_request(
            &handshake::HandshakeRequest {
                protocol: protocol.name().into(),
                version: 1,
            },
            &mut req,
        );
        self.send_text(std::str::from_utf8(&req).expect("utf-8"))
            .await;
        let resp = self.handshake_response().await;
        assert_eq!(resp, b"{}\x1e", "handshake response");
        self.protocol = protocol;
    }

    /// The raw handshake response: everything up to and including the first RS.
    pub async fn handshake_response(&mut self) -> Vec<u8> {
        loop {
            if let Some(payload) = self.frames.next_text().expect("text framing") {
                let mut out = payload.to_vec();
                out.push(0x1e);
                return out;
            }
            match self.next_event().await {
                WsEvent::Data(_, b) => self.frames.push(&b),
                WsEvent::Closed(code) => panic!("closed ({code:?}) before a handshake response"),
            }
        }
    }

    /// The next thing on the socket (bounded by [`TIMEOUT`]).
    pub async fn next_event(&mut self) -> WsEvent {
        self.next_event_within(TIMEOUT)
            .await
            .expect("something arrives in time")
    }

    /// The next thing on the socket, or `None` if nothing arrived within `d`.
    pub async fn next_event_within(&mut self, d: Duration) -> Option<WsEvent> {
        if let Some(code) = self.closed {
            return Some(WsEvent::Closed(code));
        }
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let m = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(m) => m,
            };
            let ev = match m {
                Some(Ok(Message::Text(t))) => WsEvent::Data(FrameKind::Text, t.as_bytes().to_vec()),
                Some(Ok(Message::Binary(b))) => WsEvent::Data(FrameKind::Binary, b.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    WsEvent::Closed(Some(frame.map_or(1005, |f| u16::from(f.code))))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => WsEvent::Closed(None),
            };
            match &ev {
                WsEvent::Data(kind, _) => self.frame_kinds.push(*kind),
                WsEvent::Closed(code) => self.closed = Some(*code),
            }
            return Some(ev);
        }
    }

    /// The next framed message exactly as it was on the wire (payload + RS for JSON, VarInt
    /// prefix + payload for MessagePack), Pings included; `None` when the socket ended.
    pub async fn recv_raw_any(&mut self) -> Option<Vec<u8>> {
        self.recv_raw_any_within(TIMEOUT)
            .await
            .expect("a message in time")
    }

    /// As [`Client::recv_raw_any`] but gives up after `d`: `Err(())` on silence.
    pub async fn recv_raw_any_within(&mut self, d: Duration) -> Result<Option<Vec<u8>>, ()> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let format = self.protocol.transfer_format();
            if let Some(p) = self.frames.next_frame(format).expect("server framing") {
                let mut out = Vec::with_capacity(p.len() + 5);
                match format {
                    TransferFormat::Text => signalr_protocol::framing::frame_text(p, &mut out),
                    TransferFormat::Binary => signalr_protocol::framing::frame_binary(p, &mut out),
                }
                return Ok(Some(out));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event_within(left).await {
                None => return Err(()),
                Some(WsEvent::Data(_, b)) => self.frames.push(&b),
                Some(WsEvent::Closed(_)) => {
                    assert!(
                        self.frames.is_empty(),
                        "socket ended inside a message: {:?}",
                        self.frames.buffered()
                    );
                    return Ok(None);
                }
            }
        }
    }

    /// The next framed message, Pings skipped.
    pub async fn recv_raw(&mut self) -> Option<Vec<u8>> {
        loop {
            let raw = self.recv_raw_any().await?;
            if !is_ping(self.protocol, &raw) {
                return Some(raw);
            }
        }
    }

    /// The next message as text (JSON connections), Pings skipped.
    pub async fn recv_text(&mut self) -> String {
        let raw = self.recv_raw().await.expect("a message, not the end");
        String::from_utf8(raw).expect("utf-8")
    }

    /// The next hub message including Pings; `None` when the socket ended.
    pub async fn recv_any(&mut self) -> Option<HubMessage> {
        let raw = self.recv_raw_any().await?;
        Some(decode(self.protocol, &raw))
    }

    /// The next hub message, Pings skipped; `None` when the socket ended.
    pub async fn recv(&mut self) -> Option<HubMessage> {
        let raw = self.recv_raw().await?;
        Some(decode(self.protocol, &raw))
    }

    /// The next hub message, which must exist.
    pub async fn expect_msg(&mut self) -> HubMessage {
        self.recv().await.expect("a message, not the end")
    }

    /// Asserts that no message other than a Ping arrives within [`SILENCE`].
    pub async fn expect_silence(&mut self) {
        self.expect_silence_for(SILENCE).await
    }

    /// Asserts that no message other than a Ping arrives within `d`.
    pub async fn expect_silence_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_raw_any_within(left).await {
                Err(()) => return,
                Ok(Some(raw)) if is_ping(self.protocol, &raw) => continue,
                Ok(Some(raw)) => {
                    panic!("expected silence, got {:?}", String::from_utf8_lossy(&raw))
                }
                Ok(None) => panic!("expected silence, the socket ended"),
            }
        }
    }

    /// Waits for the socket to end; every message still arriving must be a Ping. Returns the
    /// Close frame's code (`None`: ended without a Close frame).
    pub async fn expect_end(&mut self) -> Option<u16> {
        loop {
            match self.recv_raw_any().await {
                None => return self.closed.flatten(),
                Some(raw) if is_ping(self.protocol, &raw) => continue,
                Some(raw) => panic!("expected the end, got {:?}", String::from_utf8_lossy(&raw)),
            }
        }
    }

    /// Expects exactly `close` (framed bytes) and then the end of the socket with code 1000.
    pub async fn expect_close_bytes(&mut self, close: &[u8]) {
        let raw = self.recv_raw().await.expect("a Close message");
        assert_eq!(
            String::from_utf8_lossy(&raw),
            String::from_utf8_lossy(close),
            "close message"
        );
        assert_eq!(raw, close);
        assert_eq!(self.expect_end().await, Some(1000), "WebSocket close code");
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Sends encoded bytes in the opcode of the connection's protocol.
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) {
        match self.protocol {
            HubProtocol::Json => match String::from_utf8(bytes) {
                Ok(t) => self.send_text(&t).await,
                Err(e) => self.send_raw(e.into_bytes()).await,
            },
            HubProtocol::MessagePack => self.send_raw(bytes).await,
        }
    }

    pub async fn send(&mut self, msg: &HubMessage) {
        let bytes = self.protocol.encode(msg);
        self.send_bytes(bytes).await;
    }

    /// Sends a WebSocket Close frame (code 1000).
    pub async fn close_socket(&mut self) {
        let _ = self
            .ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
    }

    /// A blocking invocation and its (first non-Ping) reply.
    pub async fn invoke(&mut self, id: &str, target: &str, args: Vec<Value>) -> HubMessage {
        self.send(&HubMessage::invoke(id, target, args)).await;
        self.expect_msg().await
    }

    /// A blocking invocation that must succeed; its result.
    pub async fn call(&mut self, target: &str, args: Vec<Value>) -> Value {
        match self.invoke("c", target, args).await {
            HubMessage::Completion(c) if c.invocation_id == "c" => match c.result {
                CompletionResult::Value(v) => v,
                CompletionResult::Void => Value::Null,
                CompletionResult::Error(e) => panic!("{target} failed: {e}"),
            },
            other => panic!("unexpected reply to {target}: {other:?}"),
        }
    }

    /// `GetConnectionId` on the conformance hub.
    pub async fn server_connection_id(&mut self) -> String {
        self.call("GetConnectionId", vec![])
            .await
            .as_str()
            .expect("a string")
            .to_owned()
    }
}

/// Decodes one framed server message.
pub fn decode(protocol: HubProtocol, raw: &[u8]) -> HubMessage {
    let mut parsed = protocol
        .decode_all(raw)
        .expect("server sends valid messages");
    assert_eq!(parsed.len(), 1);
    match parsed.remove(0) {
        Parsed::Message(m) => m,
        other => panic!("unexpected {other:?}"),
    }
}

/// Whether framed bytes are a Ping.
pub fn is_ping(protocol: HubProtocol, raw: &[u8]) -> bool {
    match protocol {
        HubProtocol::Json => raw == b"{\"type\":6}\x1e",
        HubProtocol::MessagePack => raw == [0x02, 0x91, 0x06],
    }
}

// ---------------------------------------------------------------------------------------------
// Messages

pub fn s(v: &str) -> Value {
    Value::string(v)
}

pub fn int(i: i64) -> Value {
    Value::Int(i)
}

pub fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
}

/// `Completion{id, result}`.
pub fn ok(id: &str, v: Value) -> HubMessage {
    HubMessage::completion(id, CompletionResult::Value(v))
}

/// `Completion{id}` without result.
pub fn void(id: &str) -> HubMessage {
    HubMessage::completion(id, CompletionResult::Void)
}

/// `Completion{id, error}`.
pub fn err(id: &str, e: &str) -> HubMessage {
    HubMessage::completion(id, CompletionResult::Error(e.to_owned()))
}

/// A StreamInvocation.
pub fn stream_invocation(
    id: &str,
    target: &str,
    args: Vec<Value>,
    stream_ids: Option<Vec<&str>>,
) -> HubMessage {
    HubMessage::StreamInvocation(signalr_protocol::StreamInvocation {
        headers: Default::default(),
        invocation_id: id.to_owned(),
        target: target.to_owned(),
        arguments: args,
        stream_ids: stream_ids.map(|v| v.into_iter().map(str::to_owned).collect()),
    })
}

/// A blocking Invocation of `target` without arguments whose upload streams are `stream_ids`.
pub fn upload_invocation(id: &str, target: &str, stream_ids: Vec<&str>) -> HubMessage {
    invocation_with_streams(Some(id), target, vec![], stream_ids)
}

/// An Invocation with upload stream ids (`id` None = non-blocking).
pub fn invocation_with_streams(
    id: Option<&str>,
    target: &str,
    args: Vec<Value>,
    stream_ids: Vec<&str>,
) -> HubMessage {
    HubMessage::Invocation(signalr_protocol::Invocation {
        headers: Default::default(),
        invocation_id: id.map(str::to_owned),
        target: target.to_owned(),
        arguments: args,
        stream_ids: Some(stream_ids.into_iter().map(str::to_owned).collect()),
    })
}

/// A CancelInvocation.
pub fn cancel(id: &str) -> HubMessage {
    HubMessage::CancelInvocation(signalr_protocol::CancelInvocation {
        headers: Default::default(),
        invocation_id: id.to_owned(),
    })
}

/// The Close message as JSON text (RS included).
pub fn json_close(error: Option<&str>, allow_reconnect: bool) -> Vec<u8> {
    HubProtocol::Json.encode(&HubMessage::close(
        error.map(str::to_owned),
        allow_reconnect,
    ))
}

/// The framed MessagePack Close `[7, error, allowReconnect]` as ASP.NET Core writes it (3
/// elements), built by hand rather than by the codec under test.
pub fn msgpack_close_with_error(error: &str, allow_reconnect: bool) -> Vec<u8> {
    let mut body = vec![0x93, 0x07];
    signalr_protocol::msgpack::write_str(error, &mut body);
    body.push(if allow_reconnect { 0xc3 } else { 0xc2 });
    framed(&body)
}

/// A MessagePack body with its VarInt length prefix.
pub fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    signalr_protocol::framing::frame_binary(body, &mut out);
    out
}
