//! Server-Sent Events: an event stream in (each event's data is bytes), POSTs out.

use bytes::Bytes;
use futures_util::stream::StreamExt;
use tokio::sync::mpsc;

use super::{post, CloseInfo, Incoming, Reader, Transport, TransportFuture};
use crate::client::error::{ClientError, OpenError};
use crate::client::http::{header_pairs, read_body, Http, HttpResult};
use crate::client::transcript::{redact_url, show_bytes};
use crate::client::wire::{FrameKind, Held, MAX_RECEIVE};
use crate::result::Direction;

/// An open event stream.
pub(super) struct ServerSentEvents {
    http: Http,
    send_url: reqwest::Url,
    // Held for its Drop: closing the transport ends the event stream request.
    _reader: Reader,
}

pub(super) async fn open(
    http: &Http,
    url: reqwest::Url,
    query: &str,
    tx: mpsc::Sender<Incoming>,
) -> Result<ServerSentEvents, OpenError> {
    http.note(
        Direction::Out,
        "sse",
        format!(
            "GET {} (Accept: text/event-stream)",
            redact_url(url.as_str())
        ),
    );
    let mut req = http
        .client
        .get(url.clone())
        .header("Accept", "text/event-stream");
    for (k, v) in &http.target.headers {
        req = req.header(k, v);
    }
    if let Some(t) = http.target.bearer(true) {
        req = req.bearer_auth(t);
    }
    let resp = match tokio::time::timeout(http.timeout, req.send()).await {
        Ok(r) => {
            r.map_err(|e| OpenError::SseRequest(crate::client::error::describe_request_error(&e)))?
        }
        Err(_) => {
            http.transcript
                .mark(crate::client::transcript::Mark::WaitedOut);
            return Err(OpenError::SseTimeout(http.timeout));
        }
    };
    let status = resp.status().as_u16();
    let headers = header_pairs(resp.headers());
    if status != 200 {
        let body = tokio::time::timeout(http.timeout, read_body(resp))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        http.note(
            Direction::In,
            "sse",
            format!("{status} {}", show_bytes(&body)),
        );
        http.record(HttpResult {
            status,
            headers,
            body,
        });
        return Err(OpenError::SseRefused(status));
    }
    http.note(Direction::In, "sse", format!("{status} (event stream)"));
    http.record(HttpResult {
        status,
        headers,
        body: Bytes::new(),
    });
    let send_url = http.target.url("", query_without_token(query));
    let reader = Reader::spawn(read(resp, http.clone(), tx));
    Ok(ServerSentEvents {
        http: http.clone(),
        send_url,
        _reader: reader,
    })
}

async fn read(resp: reqwest::Response, http: Http, tx: mpsc::Sender<Incoming>) {
    let mut body = resp.bytes_stream();
    let mut parser = SseParser::default();
    // The parser's partial line and event count against the run's shared budget.
    let mut parsing = Held::default();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => {
                if let Err(e) = parsing.resize(parser.buffered() + c.len()).await {
                    let _ = tx
                        .send(Incoming::Closed(CloseInfo::lost(e.to_string())))
                        .await;
                    return;
                }
                for ev in parser.push(&c) {
                    let mut held = Held::default();
                    let ev = match held.resize(ev.len()).await {
                        Ok(()) => Incoming::Data(held.into_bytes(ev), None),
                        Err(e) => Incoming::Closed(CloseInfo::lost(e.to_string())),
                    };
                    let end = matches!(ev, Incoming::Closed(_));
                    if tx.send(ev).await.is_err() || end {
                        return;
                    }
                }
                if parser.overflow {
                    let reason = format!(
                        "the client gave up: an SSE line or event exceeds {} MiB",
                        MAX_RECEIVE >> 20
                    );
                    http.note(Direction::Note, "sse", reason.clone());
                    let _ = tx.send(Incoming::Closed(CloseInfo::lost(reason))).await;
                    return;
                }
            }
            Err(e) => {
                http.note(Direction::Note, "sse", format!("stream error: {e}"));
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
}

fn query_without_token(q: &str) -> &str {
    // The token query parameter is appended last; POSTs authenticate with the header.
    match q
        .find("&access_token=")
        .or_else(|| q.find("access_token=").filter(|&i| i == 0))
    {
        Some(i) => q.get(..i).unwrap_or(q),
        None => q,
    }
}

impl Transport for ServerSentEvents {
    fn send<'a>(
        &'a mut self,
        data: &'a [u8],
        _kind: FrameKind,
    ) -> TransportFuture<'a, Result<(), ClientError>> {
        Box::pin(post(&self.http, &self.send_url, data))
    }

    fn close(self: Box<Self>, _graceful: bool) -> TransportFuture<'static, ()> {
        // Either way the client ends the event stream request (dropping aborts the reader).
        Box::pin(async {})
    }
}

/// Incremental `text/event-stream` parser: yields each event's data (lines joined with `\n`).
///
/// Hand-written on purpose, not an SSE crate: conform must see malformed input that a crate
/// would hide or repair. Event data stays raw bytes (SSE crates decode it as UTF-8, replacing
/// or rejecting invalid bytes a server sent, so a broken payload would reach the hub-protocol
/// checks already altered), and a line or event past the size limit ends the stream with an
/// error saying so instead of an opaque library error or unbounded buffering.
#[derive(Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    /// A line or an event grew past `MAX_RECEIVE`: the stream is unusable.
    pub(crate) overflow: bool,
}

impl SseParser {
    /// Bytes held in the partial line and event.
    pub(crate) fn buffered(&self) -> usize {
        self.line.capacity() + self.data.capacity()
    }

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
