//! Transports turn an HTTP exchange into a duplex byte stream for the hub connection.
//!
//! The hub connection (the `connection` room) only sees [`Transport`]: bytes in, framed bytes
//! out, and when the peer leaves. WebSockets implement it over one socket;
//! Server-Sent Events and Long Polling implement it over channels fed by HTTP requests.

use std::future::Future;

use bytes::Bytes;
use signalr_protocol::TransferFormat;

pub(crate) mod long_polling;
pub(crate) mod sse;
pub(crate) mod websockets;
mod ws_frames;

use signalr_protocol::TransportKind;

/// Transports this build implements.
pub const SUPPORTED_TRANSPORTS: &[TransportKind] = &[
    TransportKind::WebSockets,
    TransportKind::ServerSentEvents,
    TransportKind::LongPolling,
];

/// What the peer did.
#[derive(Debug)]
pub(crate) enum Received {
    /// Bytes (message boundaries mean nothing).
    Data(Bytes),
    /// The peer closed (a WebSocket Close frame, a DELETE) or vanished.
    Closed,
}

/// A duplex byte stream to one client.
pub(crate) trait Transport: Send + 'static {
    /// Which transport this is.
    fn kind(&self) -> TransportKind;

    /// The next thing the peer did. Must be cancel-safe (it is raced against timers).
    fn recv(&mut self) -> impl Future<Output = Received> + Send;

    /// Sends framed bytes (one or more whole messages) in the given format.
    fn send(
        &mut self,
        data: Bytes,
        format: TransferFormat,
    ) -> impl Future<Output = Result<(), ()>> + Send;

    /// Ends the transport from the server side.
    fn close(&mut self) -> impl Future<Output = ()> + Send;

    /// Whether the transport ended because the peer sent something invalid at the transport
    /// level (e.g. a WebSocket frame with invalid UTF-8), rather than by leaving.
    fn failed(&self) -> bool {
        false
    }

    /// The transport refused a message too large to assemble: the hub's message size limit
    /// (this many bytes) was exceeded, and the connection ends as ASP.NET Core ends it then.
    fn message_too_large(&self) -> Option<usize> {
        None
    }

    /// Whether the peer ended the transport on purpose (a WebSocket Close frame) rather than
    /// vanishing; only a vanished WebSocket may be reattached (stateful reconnect).
    fn closed_gracefully(&self) -> bool {
        true
    }

    /// Long Polling keeps itself alive: no hub Pings.
    fn inherent_keep_alive(&self) -> bool {
        self.kind() == TransportKind::LongPolling
    }
}
