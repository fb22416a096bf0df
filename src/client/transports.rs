//! Client side of the three transports. Each open transport has a reader task that turns what
//! arrives into [`Incoming`] events; sends go out directly.

use bytes::Bytes;
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::transcript::{redact_url, show_bytes, Direction, Transcript};
use super::{CloseInfo, FrameKind, HttpResult, Session, TransportKind, MAX_RECEIVE};

/// What the reader task saw.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Bytes (a frame, an SSE event's data, a poll body).
    Data(Bytes),
    /// The transport ended.
    Closed(CloseInfo),
}

type WsSink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// An open transport.
pub(crate) enum Conn {
    Ws {
        sink: WsSink,
        reader: JoinHandle<()>,
    },
    Http {
        kind: TransportKind,
        send_url: reqwest::Url,
        reader: JoinHandle<()>,
    },
}

/// Events buffered per connection before the reader waits (bounded: a flood cannot grow memory).
const CHANNEL_DEPTH: usize = 1024;

pub(crate) async fn open(
    s: &mut Session,
    query: &str,
) -> Result<(Conn, mpsc::Receiver<Incoming>), String> {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let target = s.target().clone();
    let mut query = query.to_owned();
    if let (Some(t), TransportKind::WebSockets | TransportKind::ServerSentEvents) =
        (&target.access_token, s.transport)
    {
        // Browsers cannot set headers on these: clients put the token in the query.
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!(
            "access_token={}",
            signalr_protocol::negotiate::percent_encode(t)
        ));
    }
    let url = target.url("", &query);
    match s.transport {
        TransportKind::WebSockets => {
            let mut ws_url = url.clone();
            let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
            let _ = ws_url.set_scheme(scheme);
            s.transcript.push(
                &s.name,
                Direction::Out,
                "ws",
                format!("GET {} (upgrade)", redact_url(ws_url.as_str())),
            );
            let mut req = ws_url
                .as_str()
                .into_client_request()
                .map_err(|e| format!("invalid WebSocket URL: {e}"))?;
            for (k, v) in &target.headers {
                if let (Ok(name), Ok(value)) = (
                    k.parse::<tokio_tungstenite::tungstenite::http::HeaderName>(),
                    v.parse::<tokio_tungstenite::tungstenite::http::HeaderValue>(),
                ) {
                    req.headers_mut().append(name, value);
                }
            }
            let connected = match tokio::time::timeout(
                s.request_timeout,
                tokio_tungstenite::connect_async(req),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => {
                    let msg = format!(
                        "WebSocket connect failed: no upgrade response within {:?}",
                        s.request_timeout
                    );
                    s.transcript
                        .push(&s.name, Direction::Note, "ws", msg.clone());
                    return Err(msg);
                }
            };
            match connected {
                Ok((ws, resp)) => {
                    s.transcript.push(
                        &s.name,
                        Direction::In,
                        "ws",
                        format!("{} (upgraded)", resp.status().as_u16()),
                    );
                    let (sink, mut stream) = ws.split();
                    let reader = tokio::spawn(async move {
                        while let Some(m) = stream.next().await {
                            let ev = match m {
                                Ok(Message::Text(t)) => {
                                    Incoming::Data(Bytes::copy_from_slice(t.as_bytes()))
                                }
                                Ok(Message::Binary(b)) => Incoming::Data(b),
                                Ok(Message::Close(f)) => Incoming::Closed(CloseInfo {
                                    code: Some(
                                        f.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005),
                                    ),
                                    reason: f.map(|f| f.reason.to_string()).unwrap_or_default(),
                                    http_status: None,
                                }),
                                Ok(_) => continue,
                                Err(e) => Incoming::Closed(CloseInfo {
                                    code: None,
                                    reason: format!("connection lost without a close frame ({e})"),
                                    http_status: None,
                                }),
                            };
                            let end = matches!(ev, Incoming::Closed(_));
                            if tx.send(ev).await.is_err() || end {
                                return;
                            }
                        }
                        let _ = tx
                            .send(Incoming::Closed(CloseInfo {
                                reason: "connection lost without a close frame".into(),
                                ..CloseInfo::default()
                            }))
                            .await;
                    });
                    Ok((Conn::Ws { sink, reader }, rx))
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                    let status = resp.status().as_u16();
                    let headers = header_pairs(resp.headers());
                    let body = Bytes::from(resp.body().clone().unwrap_or_default());
                    s.transcript.push(
                        &s.name,
                        Direction::In,
                        "ws",
                        format!("{status} (not upgraded) {}", show_bytes(&body)),
                    );
                    s.last_http = Some(HttpResult {
                        status,
                        headers,
                        body,
                    });
                    Err(format!(
                        "the WebSocket upgrade was refused with HTTP {status}"
                    ))
                }
                Err(e) => {
                    s.transcript.push(
                        &s.name,
                        Direction::Note,
                        "ws",
                        format!("connect failed: {e}"),
                    );
                    Err(format!("WebSocket connect failed: {e}"))
                }
            }
        }
        TransportKind::ServerSentEvents => {
            s.transcript.push(
                &s.name,
                Direction::Out,
                "sse",
                format!(
                    "GET {} (Accept: text/event-stream)",
                    redact_url(url.as_str())
                ),
            );
            let mut req = s
                .http_client()
                .get(url.clone())
                .header("Accept", "text/event-stream");
            for (k, v) in &target.headers {
                req = req.header(k, v);
            }
            let resp = match tokio::time::timeout(s.request_timeout, req.send()).await {
                Ok(r) => r.map_err(|e| format!("SSE request failed: {e}"))?,
                Err(_) => {
                    return Err(format!(
                        "SSE request failed: no response headers within {:?}",
                        s.request_timeout
                    ))
                }
            };
            let status = resp.status().as_u16();
            let headers = header_pairs(resp.headers());
            if status != 200 {
                let body = tokio::time::timeout(s.request_timeout, read_body(resp))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                s.transcript.push(
                    &s.name,
                    Direction::In,
                    "sse",
                    format!("{status} {}", show_bytes(&body)),
                );
                s.last_http = Some(HttpResult {
                    status,
                    headers,
                    body,
                });
                return Err(format!("the SSE request was refused with HTTP {status}"));
            }
            s.transcript.push(
                &s.name,
                Direction::In,
                "sse",
                format!("{status} (event stream)"),
            );
            s.last_http = Some(HttpResult {
                status,
                headers,
                body: Bytes::new(),
            });
            let send_url = target.url("", query_without_token(&query));
            let transcript = s.transcript.clone();
            let name = s.name.clone();
            let reader = tokio::spawn(async move {
                let mut body = resp.bytes_stream();
                let mut parser = SseParser::default();
                while let Some(chunk) = body.next().await {
                    match chunk {
                        Ok(c) => {
                            for ev in parser.push(&c) {
                                if tx.send(Incoming::Data(Bytes::from(ev))).await.is_err() {
                                    return;
                                }
                            }
                            if parser.overflow {
                                let reason = format!(
                                    "the client gave up: an SSE line or event exceeds {} MiB",
                                    MAX_RECEIVE >> 20
                                );
                                transcript.push(&name, Direction::Note, "sse", reason.clone());
                                let _ = tx
                                    .send(Incoming::Closed(CloseInfo {
                                        reason,
                                        ..CloseInfo::default()
                                    }))
                                    .await;
                                return;
                            }
                        }
                        Err(e) => {
                            transcript.push(
                                &name,
                                Direction::Note,
                                "sse",
                                format!("stream error: {e}"),
                            );
                            break;
                        }
                    }
                }
                let _ = tx
                    .send(Incoming::Closed(CloseInfo {
                        reason: "the event stream ended".into(),
                        http_status: Some(200),
                        ..CloseInfo::default()
                    }))
                    .await;
            });
            Ok((
                Conn::Http {
                    kind: TransportKind::ServerSentEvents,
                    send_url,
                    reader,
                },
                rx,
            ))
        }
        TransportKind::LongPolling => {
            // The first poll returns at once and tells whether the connection exists.
            let first = s
                .http(reqwest::Method::GET, url.clone(), &[], Vec::new())
                .await?;
            if first.status != 200 {
                return Err(format!(
                    "the first poll was refused with HTTP {}",
                    first.status
                ));
            }
            let client = s.http_client().clone();
            let transcript = s.transcript.clone();
            let name = s.name.clone();
            let poll_url = url.clone();
            let reader = tokio::spawn(async move {
                loop {
                    let mut req = client.get(poll_url.clone());
                    for (k, v) in &target.headers {
                        req = req.header(k, v);
                    }
                    if let Some(t) = &target.access_token {
                        req = req.bearer_auth(t);
                    }
                    let resp = match req.send().await {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = tx
                                .send(Incoming::Closed(CloseInfo {
                                    reason: format!("poll failed: {e}"),
                                    ..CloseInfo::default()
                                }))
                                .await;
                            return;
                        }
                    };
                    let status = resp.status().as_u16();
                    let body = match read_body(resp).await {
                        Ok(b) => b,
                        Err(e) => {
                            let reason = format!("poll {status}: {e}");
                            transcript.push(&name, Direction::Note, "lp", reason.clone());
                            let _ = tx
                                .send(Incoming::Closed(CloseInfo {
                                    reason,
                                    ..CloseInfo::default()
                                }))
                                .await;
                            return;
                        }
                    };
                    transcript.push(
                        &name,
                        Direction::In,
                        "lp",
                        format!("poll {status} {}", show_bytes(&body)),
                    );
                    match status {
                        200 if body.is_empty() => continue,
                        200 => {
                            if tx.send(Incoming::Data(body)).await.is_err() {
                                return;
                            }
                        }
                        _ => {
                            let _ = tx
                                .send(Incoming::Closed(CloseInfo {
                                    reason: format!("poll answered {status}"),
                                    http_status: Some(status),
                                    ..CloseInfo::default()
                                }))
                                .await;
                            return;
                        }
                    }
                }
            });
            Ok((
                Conn::Http {
                    kind: TransportKind::LongPolling,
                    send_url: url,
                    reader,
                },
                rx,
            ))
        }
    }
}

fn query_without_token(q: &str) -> &str {
    // The token query parameter is appended last; POSTs authenticate with the header.
    match q
        .find("&access_token=")
        .or_else(|| q.find("access_token=").filter(|&i| i == 0))
    {
        Some(i) => &q[..i],
        None => q,
    }
}

impl Conn {
    pub(crate) async fn send(
        &mut self,
        data: &[u8],
        kind: FrameKind,
        transcript: &Transcript,
        client: &str,
    ) -> Result<(), String> {
        match self {
            Conn::Ws { sink, .. } => {
                let msg = match (kind, std::str::from_utf8(data)) {
                    (FrameKind::Text, Ok(t)) => Message::Text(t.into()),
                    _ => Message::Binary(Bytes::copy_from_slice(data)),
                };
                sink.send(msg)
                    .await
                    .map_err(|e| format!("WebSocket send failed: {e}"))
            }
            Conn::Http { send_url, .. } => {
                // POST bodies are sent by the session's HTTP helper so they are logged alike.
                let _ = (transcript, client, send_url);
                Err("internal: HTTP sends go through Session::post".into())
            }
        }
    }

    pub(crate) fn post_url(&self) -> Option<&reqwest::Url> {
        match self {
            Conn::Http { send_url, .. } => Some(send_url),
            Conn::Ws { .. } => None,
        }
    }

    pub(crate) async fn close(self, graceful: bool, s: &mut Session) {
        match self {
            Conn::Ws { mut sink, reader } => {
                if graceful {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "".into(),
                        })))
                        .await;
                    // Give the server a moment to answer the close handshake.
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
                } else {
                    reader.abort();
                }
            }
            Conn::Http {
                kind,
                send_url,
                reader,
            } => {
                if graceful && kind == TransportKind::LongPolling {
                    let _ = s
                        .http(reqwest::Method::DELETE, send_url, &[], Vec::new())
                        .await;
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
                } else {
                    reader.abort();
                }
            }
        }
    }

    pub(crate) fn abort(self) {
        match self {
            Conn::Ws { reader, .. } | Conn::Http { reader, .. } => reader.abort(),
        }
    }
}

/// Incremental `text/event-stream` parser: yields each event's data (lines joined with `\n`).
#[derive(Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    /// A line or an event grew past `MAX_RECEIVE`: the stream is unusable.
    pub(crate) overflow: bool,
}

impl SseParser {
    /// The events completed by `chunk`. A hostile server cannot grow the buffers forever: past
    /// `MAX_RECEIVE` bytes in one line or event, `overflow` is set and nothing more is parsed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut events = Vec::new();
        if self.overflow {
            return events;
        }
        for &b in chunk {
            if b != b'\n' {
                if self.line.len() >= MAX_RECEIVE {
                    self.overflow = true;
                    return events;
                }
                self.line.push(b);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = std::mem::take(&mut self.line);
            if line.is_empty() {
                if self.has_data {
                    events.push(std::mem::take(&mut self.data));
                    self.has_data = false;
                }
            } else if line.starts_with(b":") {
                // comment
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if self.data.len() + rest.len() + 1 > MAX_RECEIVE {
                    self.overflow = true;
                    return events;
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(rest);
                self.has_data = true;
            }
        }
        events
    }
}

/// Response headers as (lower-case name, value) pairs; a non-UTF-8 value is shown lossily.
pub(crate) fn header_pairs(h: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Reads a response body, failing (instead of allocating on) past `MAX_RECEIVE` bytes.
pub(crate) async fn read_body(mut resp: reqwest::Response) -> Result<Bytes, String> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_RECEIVE {
                    return Err(format!(
                        "the response body exceeds {} MiB",
                        MAX_RECEIVE >> 20
                    ));
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => return Ok(Bytes::from(body)),
            Err(e) if e.is_timeout() => {
                return Err("the response body did not end before the request timed out".into())
            }
            Err(e) => return Err(format!("reading the response failed: {e}")),
        }
    }
}

impl Session {
    /// Sends bytes over the HTTP POST half (SSE and Long Polling).
    pub(crate) async fn post(&mut self, data: &[u8]) -> Result<(), String> {
        let Some(url) = self.conn.as_ref().and_then(|c| c.post_url()).cloned() else {
            return Err("the transport is not open".into());
        };
        let r = self
            .http(
                reqwest::Method::POST,
                url,
                &[("Content-Type".into(), "text/plain;charset=UTF-8".into())],
                data.to_vec(),
            )
            .await?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("the send was refused with HTTP {}", r.status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parsing() {
        let mut p = SseParser::default();
        assert!(p.push(b":\r\n").is_empty());
        let evs = p.push(b"data: {\"type\":6}\x1e\r\n\r\ndata: a\r\ndata: b\r\n");
        assert_eq!(evs, vec![b"{\"type\":6}\x1e".to_vec()]);
        assert_eq!(p.push(b"\r\n"), vec![b"a\nb".to_vec()]);
        assert!(!p.overflow);
    }

    #[test]
    fn sse_line_without_newline_is_bounded() {
        let mut p = SseParser::default();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..(MAX_RECEIVE >> 20) {
            assert!(p.push(&chunk).is_empty());
        }
        assert!(!p.overflow);
        assert!(p.push(b"x").is_empty());
        assert!(p.overflow);
        assert!(p.line.capacity() <= 2 * MAX_RECEIVE);
    }
}
