//! The receive/write loop of one connection: reads frames from the transport and hands them to
//! the dispatcher, writes whatever was queued for the connection in one go, sends keep-alive
//! Pings, enforces the client timeout, and on the way out writes the Close message.

use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use signalr_protocol::{FrameReader, HubMessage, HubProtocol, Parsed};
use tokio::time::Instant;

use super::dispatcher::{Blocked, Dispatcher};
use crate::config::MockConfig;
use crate::error::CloseReason;
use crate::faults::{Fault, FaultSet};
use crate::handle::ConnHandle;
use crate::lifetime::HubLifetime;
use crate::timer::sleep_until_opt;
use crate::transport::{Received, Transport};

/// A connection past its handshake.
pub(crate) struct Session {
    pub(crate) conn: Arc<ConnHandle>,
    pub(crate) lifetime: Arc<HubLifetime>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) protocol: HubProtocol,
    pub(crate) frames: FrameReader,
    pub(crate) faults: FaultSet,
    pub(crate) detailed: bool,
    pub(crate) client_timeout_armed: bool,
}

impl Session {
    /// Reads and writes until the connection ends; returns why.
    pub(crate) async fn run_loop<T: Transport>(
        &mut self,
        t: &mut T,
        rx: &mut UnboundedReceiver<Bytes>,
        cfg: &MockConfig,
    ) -> CloseReason {
        let format = self.protocol.transfer_format();
        let keep_alive = if t.inherent_keep_alive() || self.faults.has(Fault::NoKeepAlive) {
            None
        } else {
            cfg.keep_alive()
        };
        let client_timeout = if self.faults.has(Fault::NoClientTimeout) {
            None
        } else {
            cfg.client_timeout()
        };
        let mut next_ping = keep_alive.map(|k| Instant::now() + k);
        let mut last_received = Instant::now();
        let mut blocked: Option<Blocked> = None;
        let mut out: Vec<u8> = Vec::new();
        let ended = self.conn.ended().clone();

        // Messages pipelined behind the handshake.
        if let Err(r) = self.process_frames(&mut blocked) {
            return r;
        }
        loop {
            // Everything ready to go out leaves in one write.
            while let Ok(b) = rx.try_recv() {
                self.conn.dequeued(b.len());
                out.extend_from_slice(&b);
            }
            if !out.is_empty() {
                let data = Bytes::from(std::mem::take(&mut out));
                if t.send(data, format).await.is_err() {
                    return CloseReason::TransportClosed;
                }
            }
            // The client timeout does not run while the server is not reading (a dispatch
            // waiting for an invocation slot or upload room): `HubConnectionHandler` stops it
            // around each dispatch and restarts it afterwards.
            let timeout_at = match (self.client_timeout_armed, client_timeout) {
                (true, Some(d)) if blocked.is_none() => Some(last_received + d),
                _ => None,
            };
            tokio::select! {
                biased;
                _ = ended.cancelled() => {
                    return self.conn.take_reason().unwrap_or(CloseReason::TransportClosed)
                }
                resume = async {
                    match blocked.as_mut() {
                        Some(b) => b.await,
                        None => std::future::pending().await,
                    }
                }, if blocked.is_some() => {
                    blocked = None;
                    last_received = Instant::now();
                    if let Err(r) = self.dispatcher.resume(resume, &mut blocked) {
                        return r;
                    }
                    if let Err(r) = self.process_frames(&mut blocked) {
                        return r;
                    }
                }
                item = rx.next() => {
                    if let Some(b) = item {
                        self.conn.dequeued(b.len());
                        out.extend_from_slice(&b);
                    }
                }
                ev = t.recv(), if blocked.is_none() => match ev {
                    Received::Data(b) => {
                        last_received = Instant::now();
                        self.frames.push(&b);
                        if let Err(r) = self.process_frames(&mut blocked) {
                            return r;
                        }
                    }
                    Received::Closed => {
                        if let Some(max) = t.message_too_large() {
                            return CloseReason::Protocol(signalr_protocol::ProtocolError::invalid_data(
                                signalr_protocol::Layer::Framing,
                                signalr_protocol::error::texts::max_message_size(max),
                            ));
                        }
                        if t.failed() {
                            return CloseReason::BadFrame;
                        }
                        if let Err(e) = self.frames.finish() {
                            return CloseReason::Protocol(e);
                        }
                        return CloseReason::TransportClosed;
                    }
                },
                _ = sleep_until_opt(next_ping) => {
                    if let (Some(k), Some(at)) = (keep_alive, next_ping.as_mut()) {
                        *at += k;
                        self.conn.send(&HubMessage::Ping);
                    }
                    if self.faults.has(Fault::UnsolicitedAck) {
                        self.conn.send(&HubMessage::Ack(signalr_protocol::SequenceId { sequence_id: 1 }));
                    }
                }
                _ = sleep_until_opt(timeout_at) => {
                    if let Some(d) = client_timeout {
                        if last_received.elapsed() >= d {
                            return CloseReason::ClientTimeout;
                        }
                    }
                }
            }
        }
    }

    fn process_frames(&mut self, blocked: &mut Option<Blocked>) -> Result<(), CloseReason> {
        let format = self.protocol.transfer_format();
        while blocked.is_none() {
            let protocol = self.protocol;
            let parsed = match self.frames.next_frame(format) {
                Ok(Some(payload)) => protocol.parse(payload),
                Ok(None) => return Ok(()),
                Err(e) => return Err(CloseReason::Protocol(e)),
            };
            let parsed = parsed.map_err(CloseReason::Protocol)?;
            if matches!(parsed, Parsed::Message(HubMessage::Ping)) {
                self.client_timeout_armed = true;
            }
            self.dispatcher.dispatch(parsed, blocked)?;
        }
        Ok(())
    }

    /// Writes what is still queued and the Close message, forgets the connection and closes
    /// the transport.
    pub(crate) async fn finish<T: Transport>(
        &mut self,
        t: &mut T,
        rx: &mut UnboundedReceiver<Bytes>,
        reason: CloseReason,
    ) {
        self.conn.ended().cancel();
        let mut out = Vec::new();
        // What was queued before the end was already written as far as ASP.NET Core is
        // concerned (it writes to the transport pipe at once, and the transport sends the pipe's
        // contents before closing): it goes out before the Close, e.g. the Completion of an
        // invocation that preceded a protocol error in the same frame. Only a client too slow to
        // read its queue loses it (ASP.NET Core aborts a send stuck past TransportSendTimeout).
        if !matches!(reason, CloseReason::Overflow) {
            while let Ok(b) = rx.try_recv() {
                out.extend_from_slice(&b);
            }
        }
        if !self.faults.has(Fault::NoCloseMessage) {
            let close = reason.close_message(self.detailed);
            out.extend_from_slice(&self.conn.encode(&close));
        }
        if !out.is_empty() {
            let _ = t
                .send(Bytes::from(out), self.protocol.transfer_format())
                .await;
        }
        // Forget the connection before the (up to CloseTimeout long) closing handshake, as
        // HubConnectionHandler does: groups, users and client results it owes are released
        // even while a client takes its time to answer the Close frame.
        self.lifetime.remove(&self.conn);
        self.dispatcher.close_uploads();
        t.close().await;
    }
}
