//! Client side of the three transports, one module each behind [`Transport`] (the mirror of
//! mock-hub's server-side `Transport`). Opening one starts a reader task that turns what
//! arrives into [`Incoming`] events on a channel; sends go out directly. Dropping a transport
//! stops its reader.

mod long_polling;
mod sse;
mod websockets;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::{ClientError, OpenError};
use super::http::Http;
use super::wire::FrameKind;
use signalr_protocol::TransportKind;

/// How the transport ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseInfo {
    /// WebSocket close code, if a Close frame arrived.
    pub code: Option<u16>,
    /// Close reason / description.
    pub reason: String,
    /// HTTP status that ended an SSE stream or a poll (204 for a closed Long Polling connection).
    pub http_status: Option<u16>,
}

impl CloseInfo {
    /// The close as a phrase (`WebSocket close 1000`, `HTTP 204`, the reason).
    pub fn describe(&self) -> String {
        match (self.code, self.http_status) {
            (Some(code), _) => format!(
                "WebSocket close {code}{}",
                if self.reason.is_empty() {
                    String::new()
                } else {
                    format!(" {}", self.reason)
                }
            ),
            (None, Some(s)) => format!("HTTP {s}"),
            _ if !self.reason.is_empty() => self.reason.clone(),
            _ => "no close frame".into(),
        }
    }

    fn lost(reason: impl Into<String>) -> Self {
        CloseInfo {
            reason: reason.into(),
            ..CloseInfo::default()
        }
    }
}

/// What a reader task saw.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Bytes (a frame, an SSE event's data, a poll body), with the WebSocket frame type.
    Data(Bytes, Option<FrameKind>),
    /// The transport ended.
    Closed(CloseInfo),
}

/// A boxed future of a transport call.
pub(crate) type TransportFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An open transport: the sending half; what arrives comes on the channel `open` returned.
pub(crate) trait Transport: Send {
    /// Sends one piece: a WebSocket frame, or a POST body on the HTTP transports.
    fn send<'a>(
        &'a mut self,
        data: &'a [u8],
        kind: FrameKind,
    ) -> TransportFuture<'a, Result<(), ClientError>>;

    /// WebSockets only: starts the closing handshake with an empty Close frame (no status) and
    /// keeps reading, so that the server's answering Close frame is seen.
    fn send_empty_close(&mut self) -> TransportFuture<'_, Result<(), ClientError>> {
        Box::pin(async { Err(ClientError::NotOpen) })
    }

    /// Ends the transport: gracefully (WebSocket Close frame / DELETE for Long Polling /
    /// ending the SSE request) or abruptly (dropping the connection).
    fn close(self: Box<Self>, graceful: bool) -> TransportFuture<'static, ()>;
}

/// A transport's reader task: stopped when the transport is dropped.
pub(crate) struct Reader(JoinHandle<()>);

impl Reader {
    fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Reader(tokio::spawn(task))
    }

    /// Gives the server a moment to end the connection after a graceful close.
    async fn finish(&mut self) {
        self.finish_within(std::time::Duration::from_secs(2)).await;
    }

    /// Waits up to `limit` for the reader to end; whether it did.
    async fn finish_within(&mut self, limit: std::time::Duration) -> bool {
        tokio::time::timeout(limit, &mut self.0).await.is_ok()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Events buffered per connection before the reader waits (bounded: a flood cannot grow memory).
const CHANNEL_DEPTH: usize = 1024;

/// An open transport and what its reader receives.
pub(crate) type Opened = (Box<dyn Transport>, mpsc::Receiver<Incoming>);

/// Opens `kind` at the hub URL with `query` (the `id` and any extra query).
pub(crate) async fn open(
    kind: TransportKind,
    http: &Http,
    query: &str,
) -> Result<Opened, OpenError> {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let mut query = query.to_owned();
    let stream_open = matches!(
        kind,
        TransportKind::WebSockets | TransportKind::ServerSentEvents
    );
    if let Some(t) = http.target.query_token(stream_open) {
        // Browsers cannot set headers on the upgrade and the event stream: clients put the
        // token in the query.
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!(
            "access_token={}",
            signalr_protocol::negotiate::percent_encode(t)
        ));
    }
    let url = http.target.url("", &query);
    let transport: Box<dyn Transport> = match kind {
        TransportKind::WebSockets => Box::new(websockets::open(http, url, tx).await?),
        TransportKind::ServerSentEvents => Box::new(sse::open(http, url, &query, tx).await?),
        TransportKind::LongPolling => Box::new(long_polling::open(http, url, tx).await?),
    };
    Ok((transport, rx))
}

/// Sends bytes over the HTTP POST half (SSE and Long Polling).
async fn post(http: &Http, url: &reqwest::Url, data: &[u8]) -> Result<(), ClientError> {
    let r = http
        .request(
            reqwest::Method::POST,
            url.clone(),
            &[("Content-Type".into(), "text/plain;charset=UTF-8".into())],
            data.to_vec(),
            false,
        )
        .await?;
    if r.status == 200 {
        Ok(())
    } else {
        Err(ClientError::SendRefused(r.status))
    }
}
