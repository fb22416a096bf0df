//! Server-Sent Events: the server writes `text/event-stream` events on one long GET; the client
//! sends with POSTs. Text only.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use signalr_protocol::TransferFormat;
use tokio::sync::{mpsc, watch};

use super::{Received, Transport, TransportKind};

/// Events queued for the response body (each send waits until the body took its event, so
/// at most one is queued at a time: the bytes held are bounded by one message).
const EVENTS_IN_FLIGHT: usize = 1;

/// The hub connection's side of an SSE connection.
pub(crate) struct SseTransport {
    inbound: mpsc::Receiver<Received>,
    out: Option<mpsc::Sender<Bytes>>,
    /// How many events the response body has taken.
    taken: watch::Receiver<u64>,
    /// How many events were sent.
    sent: u64,
    send_timeout: Duration,
}

/// Formats one chunk as an SSE event: each `\n`-separated line as `data: <line>\r\n`
/// (a trailing `\r` dropped), then `\r\n` (`ServerSentEventsMessageFormatter`).
fn format_event(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    if payload.is_empty() {
        out.extend_from_slice(b"\r\n");
        return out;
    }
    let mut lines: Vec<&[u8]> = payload.split(|&b| b == b'\n').collect();
    // A payload ending in a newline does not make an extra empty line.
    if lines.len() > 1 && lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Starts an SSE connection: the transport and the streaming response (headers as
/// `ServerSentEventsServerTransport` sets them; `plain`, a fault mode, leaves them out).
/// A send that waits longer than `send_timeout` for the client to read aborts the connection
/// (`TransportSendTimeout`).
pub(crate) fn start(
    inbound: mpsc::Receiver<Received>,
    plain: bool,
    send_timeout: Duration,
) -> (SseTransport, Response) {
    let (t, body) = sse(inbound, send_timeout);
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    if plain {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return (t, r);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache,no-store"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    (t, r)
}

/// Creates the transport and the response body stream (`:\r\n` first, then events).
fn sse(
    inbound: mpsc::Receiver<Received>,
    send_timeout: Duration,
) -> (
    SseTransport,
    impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send,
) {
    let (tx, rx) = mpsc::channel::<Bytes>(EVENTS_IN_FLIGHT);
    let (taken_tx, taken) = watch::channel(0u64);
    // The comment line works around a Firefox quirk; ASP.NET Core writes it first.
    let body = stream::once(async { Bytes::from_static(b":\r\n") })
        .chain(stream::unfold(
            (rx, taken_tx),
            |(mut rx, taken)| async move {
                let b = rx.recv().await?;
                taken.send_modify(|n| *n += 1);
                Some((b, (rx, taken)))
            },
        ))
        .map(Ok);
    (
        SseTransport {
            inbound,
            out: Some(tx),
            taken,
            sent: 0,
            send_timeout,
        },
        body,
    )
}

impl Transport for SseTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::ServerSentEvents
    }

    async fn recv(&mut self) -> Received {
        let Some(out) = self.out.clone() else {
            return std::future::pending().await;
        };
        tokio::select! {
            r = self.inbound.recv() => r.unwrap_or(Received::Closed),
            // The client went away (the response body was dropped).
            _ = out.closed() => Received::Closed,
        }
    }

    async fn send(&mut self, data: Bytes, _format: TransferFormat) -> Result<(), ()> {
        let Some(out) = &self.out else {
            return Err(());
        };
        let event = Bytes::from(format_event(&data));
        self.sent += 1;
        let sent = self.sent;
        let taken = &mut self.taken;
        // The send is done when the response body took the event; a client that stops reading
        // stops the body (`TransportSendTimeout`).
        let done = tokio::time::timeout(self.send_timeout, async {
            out.send(event).await.map_err(|_| ())?;
            taken
                .wait_for(|n| *n >= sent)
                .await
                .map(|_| ())
                .map_err(|_| ())
        })
        .await;
        match done {
            Ok(r) => r,
            Err(_) => {
                // The client stopped reading: abort.
                self.out = None;
                Err(())
            }
        }
    }

    async fn close(&mut self) {
        // Ending the body ends the response.
        self.out = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events() {
        assert_eq!(
            format_event(b"{\"type\":6}\x1e"),
            b"data: {\"type\":6}\x1e\r\n\r\n"
        );
        assert_eq!(format_event(b"a\r\nb\n"), b"data: a\r\ndata: b\r\n\r\n");
        assert_eq!(format_event(b""), b"\r\n");
    }
}
