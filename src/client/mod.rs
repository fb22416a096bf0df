//! A raw, scriptable SignalR client: negotiate, the three transports, typed messages or raw
//! bytes in any chunking, and a transcript of everything on the wire.
//!
//! Unlike a real client it never does anything on its own (no pings, no reconnects, no
//! handshake unless told), so a case controls every byte.
//!
//! - [`Session`] (here): one client connection of a case — negotiate, open, send, receive.
//! - `http`: the session's HTTP requests, logged, with the last exchange remembered.
//! - `transport`: WebSockets, Server-Sent Events and Long Polling behind one trait.
//! - `error`: typed client errors and whose fault each is ([`Blame`]).
//! - [`transcript`]: what went over the wire, with secrets redacted.
//! - `target`, `wire`: where the server is; how bytes are cut and bounded.

mod error;
mod http;
mod target;
pub mod transcript;
mod transport;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use signalr_protocol::error::ProtocolError;
use signalr_protocol::handshake::{self, HandshakeRequest, HandshakeResponse};
use signalr_protocol::{HubMessage, HubProtocol, MessageReader, NegotiateResponse, Parsed};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use error::{Blame, ClientError, OpenError, RecvError};
pub use http::HttpResult;
pub use signalr_protocol::TransportKind;
pub use target::{Target, Tls, TokenIn};
pub use transcript::Transcript;
pub use transport::CloseInfo;
pub use wire::{budget_in_use, Chunking, FrameKind, MAX_RECEIVE, RECEIVE_BUDGET};

use crate::result::Direction;
use http::Http;
use transport::{Incoming, Transport};

/// One client connection of a case.
pub struct Session {
    /// Its name in the case (`a`, `b` …).
    pub name: String,
    http: Http,
    /// Transport in use.
    pub transport: TransportKind,
    /// Hub protocol in use.
    pub protocol: HubProtocol,
    /// The last successful negotiate response.
    pub negotiated: Option<NegotiateResponse>,
    conn: Option<Box<dyn Transport>>,
    rx: Option<mpsc::Receiver<Incoming>>,
    buf: Vec<u8>,
    handshake_done: bool,
    reader: MessageReader,
    /// Wire transcript.
    pub transcript: Transcript,
    /// How the transport ended, once it has.
    pub closed: Option<CloseInfo>,
    /// What `buf` and `reader` hold, counted against the run's shared receive budget.
    held: wire::Held,
    /// The first messages received (in order, at most [`MAX_KEPT_MESSAGES`]), for diagnostics.
    pub received: Vec<HubMessage>,
    /// Stateful reconnect is in use (negotiated, WebSockets, handshake version 2): the server
    /// acks on a timer, so expectations skip its Acks like Pings (`expect_ack` checks them).
    pub stateful: bool,
    /// The first WebSocket frame after the handshake whose type is not the protocol's transfer
    /// format (text for JSON, binary for MessagePack): its type and its bytes as shown.
    pub wrong_frame: Option<(FrameKind, String)>,
    /// Whether frames and messages go into the transcript and `received` (off for `conform
    /// bench`'s hot path: rendering every frame costs more than decoding it).
    record: bool,
}

/// Most messages a session keeps in [`Session::received`] (a flood must not grow it).
pub const MAX_KEPT_MESSAGES: usize = 256;

/// How long a request may take unless [`Session::with_request_timeout`] says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Session {
    /// A session that has done nothing yet.
    pub fn new(
        name: &str,
        target: Arc<Target>,
        http: reqwest::Client,
        transport: TransportKind,
        protocol: HubProtocol,
        transcript: Transcript,
    ) -> Self {
        if let Some(t) = &target.access_token {
            transcript.secret(t);
        }
        Self {
            name: name.to_owned(),
            http: Http::new(
                http,
                target,
                transcript.clone(),
                name,
                DEFAULT_REQUEST_TIMEOUT,
            ),
            transport,
            protocol,
            negotiated: None,
            conn: None,
            rx: None,
            buf: Vec::new(),
            handshake_done: false,
            reader: MessageReader::with_max_message_size(protocol, Some(MAX_RECEIVE)),
            transcript,
            closed: None,
            received: Vec::new(),
            wrong_frame: None,
            stateful: false,
            held: wire::Held::default(),
            record: true,
        }
    }

    /// A session that records no frames or messages (HTTP exchanges and errors still are):
    /// the load generator's lean receive and send path.
    pub fn without_recording(mut self) -> Self {
        self.record = false;
        self
    }

    /// How long an HTTP request (negotiate, a send, the first poll), a WebSocket upgrade or the
    /// response headers of the event stream may take. Long Polling's held polls are exempt.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.http.timeout = timeout;
        self
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.http.target
    }

    /// From now on, present `token` (none: no token) placed as `token_in` says: on every
    /// request this session makes, a Long Polling transport already open excepted (its polls
    /// keep what they started with).
    pub fn set_token(&mut self, token: Option<String>, token_in: TokenIn) {
        if let Some(t) = &token {
            self.transcript.secret(t);
        }
        let mut target = (*self.http.target).clone();
        target.access_token = token;
        target.token_in = token_in;
        self.http.target = Arc::new(target);
    }

    /// The last HTTP exchange (negotiate, an explicit request, a send, a refused transport).
    pub fn last_http(&self) -> Option<HttpResult> {
        self.http.last()
    }

    fn note(&self, dir: Direction, layer: &'static str, text: impl Into<String>) {
        self.transcript.push(&self.name, dir, layer, text);
    }

    /// An HTTP request with the target's headers and token.
    pub async fn http(
        &mut self,
        method: reqwest::Method,
        url: reqwest::Url,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<HttpResult, ClientError> {
        self.http.request(method, url, headers, body, false).await
    }

    /// Like [`Session::http`], waiting up to `timeout` for the response (a held Long Polling
    /// GET) instead of the session's request timeout.
    pub async fn http_within(
        &mut self,
        method: reqwest::Method,
        url: reqwest::Url,
        headers: &[(String, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResult, ClientError> {
        let usual = std::mem::replace(&mut self.http.timeout, timeout);
        let r = self.http.request(method, url, headers, body, false).await;
        self.http.timeout = usual;
        r
    }

    /// A GET whose response body is a secret (a token): it is redacted in the transcript.
    pub async fn http_token(&mut self, url: reqwest::Url) -> Result<HttpResult, ClientError> {
        self.http
            .request(reqwest::Method::GET, url, &[], Vec::new(), true)
            .await
    }

    /// `POST {hub}/negotiate?{query}`; remembers a successful response.
    pub async fn negotiate(&mut self, query: &str) -> Result<HttpResult, ClientError> {
        let url = self.http.target.url("/negotiate", query);
        let r = self
            .http(reqwest::Method::POST, url, &[], Vec::new())
            .await?;
        if r.status == 200 {
            if let Ok(n) = NegotiateResponse::parse(&r.body) {
                if n.error.is_none() && n.url.is_none() {
                    self.negotiated = Some(n);
                }
            }
        }
        Ok(r)
    }

    /// Opens the transport. `id` is the `id` query value (`None` = skip negotiation,
    /// WebSockets only).
    pub async fn open(&mut self, id: Option<&str>, extra_query: &str) -> Result<(), ClientError> {
        let mut query = Vec::new();
        if let Some(id) = id {
            query.push(format!(
                "id={}",
                signalr_protocol::negotiate::percent_encode(id)
            ));
        }
        if !extra_query.is_empty() {
            query.push(extra_query.trim_start_matches('&').to_owned());
        }
        let (conn, rx) = transport::open(self.transport, &self.http, &query.join("&")).await?;
        self.conn = Some(conn);
        self.rx = Some(rx);
        Ok(())
    }

    /// Stateful reconnect: drops the transport without a Close frame (if it is still open),
    /// forgets what it delivered of an unfinished message, and opens a new WebSocket for the
    /// connection `id` — no handshake: the server resends from its Sequence message on.
    pub async fn reattach(&mut self, id: &str) -> Result<(), ClientError> {
        if let Some(conn) = self.conn.take() {
            self.note(Direction::Out, self.transport_layer(), "abort");
            conn.close(false).await;
        }
        self.rx = None;
        self.buf.clear();
        self.reader = MessageReader::with_max_message_size(self.protocol, Some(MAX_RECEIVE));
        let _ = self.held.resize(0).await;
        self.closed = None;
        self.note(Direction::Out, self.transport_layer(), "reattach");
        self.open(Some(id), "").await
    }

    /// Whether a transport is open.
    pub fn is_open(&self) -> bool {
        self.conn.is_some()
    }

    /// Sends bytes, cut into frames/bodies as `chunking` says, as text or binary frames.
    pub async fn send_bytes(
        &mut self,
        bytes: &[u8],
        chunking: &Chunking,
        kind: FrameKind,
    ) -> Result<(), ClientError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(ClientError::NotOpen);
        };
        for piece in chunking.split(bytes) {
            conn.send(piece, kind).await?;
        }
        Ok(())
    }

    /// Sends a message in the session's protocol (text frames for JSON, binary for MessagePack).
    pub async fn send_message(
        &mut self,
        msg: &HubMessage,
        chunking: &Chunking,
    ) -> Result<(), ClientError> {
        if self.record {
            self.note(
                Direction::Out,
                "msg",
                signalr_protocol::notation::message_to_text(msg),
            );
        }
        let bytes = self.protocol.encode(msg);
        let kind = self.frame_kind();
        self.send_bytes(&bytes, chunking, kind).await
    }

    /// The frame kind matching the protocol.
    pub fn frame_kind(&self) -> FrameKind {
        match self.protocol {
            HubProtocol::Json => FrameKind::Text,
            HubProtocol::MessagePack => FrameKind::Binary,
        }
    }

    /// Sends a handshake request.
    pub async fn send_handshake(
        &mut self,
        protocol: &str,
        version: i32,
        chunking: &Chunking,
    ) -> Result<(), ClientError> {
        let mut bytes = Vec::new();
        handshake::write_request(
            &HandshakeRequest {
                protocol: protocol.to_owned(),
                version,
            },
            &mut bytes,
        );
        self.send_bytes(&bytes, chunking, FrameKind::Text).await
    }

    fn transport_layer(&self) -> &'static str {
        match self.transport {
            TransportKind::WebSockets => "ws",
            TransportKind::ServerSentEvents => "sse",
            TransportKind::LongPolling => "lp",
        }
    }

    /// Waits for more bytes from the transport until `deadline`.
    async fn fill(&mut self, deadline: Instant) -> Result<(), RecvError> {
        if let Some(c) = &self.closed {
            return Err(RecvError::Closed(c.clone()));
        }
        let layer = self.transport_layer();
        let Some(rx) = self.rx.as_mut() else {
            return Err(RecvError::Transport("the transport is not open".into()));
        };
        let started = Instant::now();
        let got = tokio::time::timeout_at(deadline, rx.recv()).await;
        self.transcript.mark(if got.is_err() {
            transcript::Mark::WaitedOut
        } else {
            transcript::Mark::Answered
        });
        match got {
            Err(_) => Err(RecvError::Timeout(
                deadline.saturating_duration_since(started),
            )),
            Ok(None) => {
                let c = CloseInfo {
                    reason: "transport ended".into(),
                    ..CloseInfo::default()
                };
                self.closed = Some(c.clone());
                Err(RecvError::Closed(c))
            }
            Ok(Some(Incoming::Data(b, _))) if !self.record => self.take(b).await,
            Ok(Some(Incoming::Data(b, kind))) => {
                let shown = transcript::show_bytes(&b);
                if let Some(kind) = kind {
                    if self.handshake_done
                        && kind != self.frame_kind()
                        && self.wrong_frame.is_none()
                    {
                        self.wrong_frame = Some((kind, shown.clone()));
                    }
                }
                let line = match kind {
                    Some(FrameKind::Text) => format!("text frame {shown}"),
                    Some(FrameKind::Binary) => format!("binary frame {shown}"),
                    None => shown,
                };
                self.transcript.push(&self.name, Direction::In, layer, line);
                self.take(b).await
            }
            Ok(Some(Incoming::Closed(c))) => {
                self.transcript.push(
                    &self.name,
                    Direction::In,
                    layer,
                    format!("closed: {}", c.describe()),
                );
                self.closed = Some(c.clone());
                Err(RecvError::Closed(c))
            }
        }
    }
    /// Buffers received bytes, counted against the run's shared receive budget.
    async fn take(&mut self, b: bytes::Bytes) -> Result<(), RecvError> {
        let held = self.buf.len() + self.reader.buffered().len() + b.len();
        if let Err(e) = self.held.resize(held).await {
            return Err(RecvError::Transport(e.to_string()));
        }
        if self.buf.len() + b.len() > MAX_RECEIVE {
            return Err(RecvError::Protocol(ProtocolError::invalid_data(
                signalr_protocol::Layer::Framing,
                format!(
                    "more than {} MiB arrived without a complete message",
                    MAX_RECEIVE >> 20
                ),
            )));
        }
        self.buf.extend_from_slice(&b);
        Ok(())
    }

    /// Waits for the handshake response.
    pub async fn recv_handshake(
        &mut self,
        deadline: Instant,
    ) -> Result<HandshakeResponse, RecvError> {
        loop {
            match handshake::parse_response_frame(&self.buf) {
                Ok(Some((resp, used))) => {
                    self.note(
                        Direction::In,
                        "handshake",
                        match &resp.error {
                            Some(e) => format!("error: {e}"),
                            None => "ok".into(),
                        },
                    );
                    let rest = self.buf.split_off(used);
                    self.buf.clear();
                    self.reader =
                        MessageReader::with_max_message_size(self.protocol, Some(MAX_RECEIVE));
                    self.reader.push(&rest);
                    self.handshake_done = true;
                    return Ok(resp);
                }
                Ok(None) => {}
                Err(e) => return Err(RecvError::Protocol(e)),
            }
            self.fill(deadline).await?;
        }
    }

    /// Waits for the next decoded message (including Pings).
    pub async fn recv(&mut self, deadline: Instant) -> Result<Parsed, RecvError> {
        loop {
            if !self.buf.is_empty() {
                if self.handshake_done {
                    let b = std::mem::take(&mut self.buf);
                    self.reader.push(&b);
                } else {
                    return Err(RecvError::Protocol(ProtocolError::invalid_data(
                        signalr_protocol::Layer::Handshake,
                        format!(
                            "bytes arrived before a handshake response: {}",
                            transcript::show_bytes(&self.buf)
                        ),
                    )));
                }
            }
            match self.reader.next() {
                Ok(Some(p)) if !self.record => return Ok(p),
                Ok(Some(p)) => {
                    self.note(
                        Direction::In,
                        "msg",
                        signalr_protocol::notation::parsed_to_text(&p),
                    );
                    if let Parsed::Message(m) = &p {
                        if self.received.len() < MAX_KEPT_MESSAGES {
                            self.received.push(m.clone());
                        }
                    }
                    return Ok(p);
                }
                Ok(None) => {}
                Err(e) => return Err(RecvError::Protocol(e)),
            }
            match self.fill(deadline).await {
                Ok(()) => {}
                Err(RecvError::Closed(c)) => {
                    // Bytes left without a separator or prefix mean a message was cut off
                    // (or, for JSON, the separator is missing).
                    if !self.reader.buffered().is_empty() {
                        return Err(RecvError::Protocol(ProtocolError::invalid_data(
                            signalr_protocol::Layer::Framing,
                            format!(
                                "the connection closed with an incomplete message buffered: {}",
                                transcript::show_bytes(self.reader.buffered())
                            ),
                        )));
                    }
                    return Err(RecvError::Closed(c));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Raw bytes received and not consumed (before the handshake).
    pub fn pending_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Waits until the transport ends, discarding messages; `Err(Timeout)` if it does not.
    pub async fn wait_closed(&mut self, deadline: Instant) -> Result<CloseInfo, RecvError> {
        loop {
            if let Some(c) = &self.closed {
                return Ok(c.clone());
            }
            match self.fill(deadline).await {
                Ok(()) => {
                    if self.handshake_done {
                        let b = std::mem::take(&mut self.buf);
                        self.reader.push(&b);
                        while let Ok(Some(p)) = self.reader.next() {
                            self.note(
                                Direction::In,
                                "msg",
                                signalr_protocol::notation::parsed_to_text(&p),
                            );
                        }
                    }
                }
                Err(RecvError::Closed(c)) => return Ok(c),
                Err(e) => return Err(e),
            }
        }
    }

    /// WebSockets: sends an empty Close frame and keeps the transport to read the server's
    /// answer (the next receive ends with its Close frame status).
    pub async fn send_empty_close(&mut self) -> Result<(), ClientError> {
        match self.conn.as_mut() {
            Some(c) => c.send_empty_close().await,
            None => Err(ClientError::NotOpen),
        }
    }

    /// Closes the transport: gracefully (WebSocket Close frame / DELETE for Long Polling /
    /// ending the SSE request) or abruptly (dropping the TCP connection).
    pub async fn close(&mut self, graceful: bool) {
        if let Some(conn) = self.conn.take() {
            self.note(
                Direction::Out,
                self.transport_layer(),
                if graceful { "close" } else { "abort" },
            );
            conn.close(graceful).await;
        }
        self.rx = None;
        if self.closed.is_none() {
            self.closed = Some(CloseInfo {
                reason: "closed by the client".into(),
                ..CloseInfo::default()
            });
        }
    }

    /// The negotiate response's id for transport URLs (token from version 1).
    pub fn transport_id(&self) -> Option<String> {
        self.negotiated
            .as_ref()
            .and_then(|n| n.transport_id())
            .map(str::to_owned)
    }

    /// The public connection id from negotiate.
    pub fn connection_id(&self) -> Option<String> {
        self.negotiated
            .as_ref()
            .and_then(|n| n.connection_id.clone())
    }
}
