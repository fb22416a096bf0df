//! The receive/write loop of one connection: reads frames from the transport and hands them to
//! the dispatcher, writes whatever was queued for the connection in one go, sends keep-alive
//! Pings, enforces the client timeout, and on the way out writes the Close message.
//!
//! With stateful reconnect (a [`MessageBuffer`]) it also numbers and acknowledges, and a
//! WebSocket that vanishes without a Close frame only detaches the connection: it waits up to
//! the disconnect timeout for the client to reattach with a new WebSocket, meanwhile buffering
//! what is sent to it, and replays everything unacknowledged on the new one.

use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use signalr_protocol::{FrameReader, HubMessage, HubProtocol, Parsed};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::buffer::{Inbound, MessageBuffer};
use super::dispatcher::{Blocked, Dispatcher};
use crate::config::MockConfig;
use crate::error::CloseReason;
use crate::faults::{Fault, FaultSet};
use crate::handle::ConnHandle;
use crate::lifetime::HubLifetime;
use crate::timer::sleep_in;
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
    /// Stateful reconnect's buffer and numbering (`None`: an ordinary connection).
    pub(crate) buffer: Option<Box<MessageBuffer>>,
    /// A transport is attached (false only while a stateful connection waits for a reattach).
    pub(crate) attached: bool,
    /// Bytes that go out first in the final write (the handshake's success response when
    /// OnConnected failed before it was sent).
    pub(crate) pending: Option<Bytes>,
}

/// How often the client's messages are acknowledged (`MessageBuffer`'s timer).
const ACK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The next transport a client reattaches with, if the connection may be reattached.
async fn next_transport<T>(reattach: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match reattach.as_mut() {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// Reads and writes until the connection ends; returns why. `reattach` delivers the
    /// transports a stateful connection's client reattaches with.
    pub(crate) async fn run_loop<T: Transport>(
        &mut self,
        t: &mut T,
        rx: &mut UnboundedReceiver<Bytes>,
        cfg: &MockConfig,
        reattach: &mut Option<mpsc::Receiver<T>>,
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
        let mut out = WriteBatch::default();
        let ended = self.conn.ended().clone();
        let mut next_ack = self.buffer.as_ref().map(|_| Instant::now() + ACK_INTERVAL);
        // While detached: when the connection is given up.
        let mut detached_until: Option<Instant> = None;
        // A Ping waiting, like any write, for an Ack to bring a full resend buffer below its limit.
        let mut ping_waiting = false;

        // Messages pipelined behind the handshake.
        if let Err(r) = self.process_frames(&mut blocked) {
            return r;
        }
        // The fault mode lets a client's Close message only detach a stateful connection.
        let close_detaches = self.faults.has(Fault::StatefulGracefulDetaches);
        // Kept across iterations: each queued message wakes this loop once, and futures made
        // anew every iteration would register (and drop) a cancellation waiter and two timers
        // in the timer wheel per message, a fifth of the instructions of a broadcast delivery.
        // The keep-alive and the client timeout share one timer, re-armed only when the
        // earlier of the two deadlines moves.
        let ended_fut = ended.cancelled();
        tokio::pin!(ended_fut);
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        let (mut ack_timer, mut detach_timer) = (None, None);
        loop {
            // Everything ready to go out leaves in one write (a full resend buffer makes the
            // rest wait in the queue for the client's Ack).
            if ping_waiting && self.attached && self.can_write() {
                ping_waiting = false;
                out.push(self.conn.encode(&HubMessage::Ping));
            }
            while self.can_write() {
                match rx.try_recv() {
                    Ok(b) => self.take(b, &mut out),
                    Err(_) => break,
                }
            }
            if !out.is_empty() && self.attached {
                let data = out.take();
                if t.send(data, format).await.is_err() {
                    if !self.may_detach(reattach) {
                        return CloseReason::TransportClosed;
                    }
                    detached_until = self.detach(cfg, &mut out);
                }
            }
            // The client timeout does not run while the server is not reading (a dispatch
            // waiting for an invocation slot or upload room): `HubConnectionHandler` stops it
            // around each dispatch and restarts it afterwards.
            let timeout_at = match (self.client_timeout_armed, client_timeout) {
                (true, Some(d)) if blocked.is_none() && self.attached => Some(last_received + d),
                _ => None,
            };
            let writable = self.can_write();
            let due = match (next_ping, timeout_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if due != armed {
                if let Some(d) = due {
                    timer.as_mut().reset(d);
                }
                armed = due;
            }
            tokio::select! {
                biased;
                _ = &mut ended_fut => {
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
                item = rx.next(), if writable => {
                    if let Some(b) = item {
                        self.take(b, &mut out);
                    }
                }
                new = next_transport(reattach) => match new {
                    Some(new) => {
                        let old = std::mem::replace(t, new);
                        if self.attached {
                            // A second WebSocket replaces a live one: the old one is closed
                            // (1000) on the side, the connection continues on the new one.
                            tokio::spawn(async move {
                                let mut old = old;
                                old.close().await;
                            });
                        }
                        // What the dead transport delivered of an unfinished message is dropped:
                        // the client sends it again after its Sequence.
                        if !self.faults.has(Fault::StatefulKeepsRemains) {
                            let _ = self.frames.take_buffered();
                        }
                        self.attached = true;
                        detached_until = None;
                        last_received = Instant::now();
                        // The next Ack waits a whole interval: the client is resending its
                        // buffer now, and the official JS client loses the messages it queues
                        // meanwhile if an Ack arrives before its resend is done (its MessageBuffer
                        // replaces the array the resend walks). ASP.NET Core's periodic timer can
                        // hit that window; when an Ack goes out is up to the server.
                        if let Some(at) = next_ack.as_mut() {
                            *at = Instant::now() + ACK_INTERVAL;
                        }
                        let conn = &self.conn;
                        if let Some(b) = self.buffer.as_mut() {
                            out.extend(&b.resend(|m| conn.encode(m)));
                        }
                    }
                    None => *reattach = None,
                },
                _ = sleep_in(&mut detach_timer, detached_until), if detached_until.is_some() => {
                    // Not reattached within the disconnect timeout: the connection is over.
                    *reattach = None;
                    return CloseReason::TransportClosed;
                }
                ev = t.recv(), if blocked.is_none() && self.attached => match ev {
                    Received::Data(b) => {
                        last_received = Instant::now();
                        if self.frames.is_empty() {
                            // Taken over without a copy when it is unshared (a WebSocket read
                            // hands over the message buffer it filled).
                            self.frames.push_owned(Vec::from(b));
                        } else {
                            // Behind a partial message: one copy either way.
                            self.frames.push(&b);
                        }
                        match self.process_frames(&mut blocked) {
                            Err(CloseReason::ClientClose)
                                if close_detaches && self.may_detach(reattach) =>
                            {
                                // The fault: the client's own end only detaches, for good.
                                let _ = self.detach(cfg, &mut out);
                                detached_until = None;
                            }
                            Err(r) => return r,
                            Ok(()) => {}
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
                        if !t.closed_gracefully() && self.may_detach(reattach) {
                            detached_until = self.detach(cfg, &mut out);
                            continue;
                        }
                        if close_detaches && self.may_detach(reattach) {
                            // The fault: the closing handshake completes, yet the connection
                            // only detaches, for good.
                            t.close().await;
                            let _ = self.detach(cfg, &mut out);
                            detached_until = None;
                            continue;
                        }
                        if let Err(e) = self.frames.finish() {
                            return CloseReason::Protocol(e);
                        }
                        return CloseReason::TransportClosed;
                    }
                },
                _ = &mut timer, if armed.is_some() => {
                    armed = None;
                    let now = Instant::now();
                    if next_ping.is_some_and(|at| at <= now) {
                        if let (Some(k), Some(at)) = (keep_alive, next_ping.as_mut()) {
                            *at += k;
                            if self.buffer.is_none() {
                                self.conn.send(&HubMessage::Ping);
                            } else if self.attached && self.can_write() {
                                // Not through the queue: only invocation messages are buffered.
                                out.push(self.conn.encode(&HubMessage::Ping));
                            } else if self.attached && !self.conn.has_queued() {
                                // The buffer is over its limit: as `MessageBuffer.WriteAsync`
                                // makes the Ping wait for an Ack (it goes out first then).
                                // Skipped when a message already waits:
                                // `HubConnectionContext.TryWritePingAsync` gives up when
                                // another write holds the write lock.
                                ping_waiting = true;
                            }
                        }
                        if self.faults.has(Fault::UnsolicitedAck) {
                            self.conn.send(&HubMessage::Ack(signalr_protocol::SequenceId { sequence_id: 1 }));
                        }
                    } else if let Some(d) = client_timeout {
                        // The keep-alive goes first when both are due (as when each had a
                        // timer of its own): its Ping is written before the timeout ends it.
                        if timeout_at.is_some_and(|at| at <= now) && last_received.elapsed() >= d {
                            return CloseReason::ClientTimeout;
                        }
                    }
                }
                _ = sleep_in(&mut ack_timer, next_ack), if next_ack.is_some() => {
                    if let Some(at) = next_ack.as_mut() {
                        *at += ACK_INTERVAL;
                    }
                    // While detached the Ack goes nowhere but counts as sent, as ASP.NET Core's
                    // timer writes it into the dead transport's pipe.
                    let due = self.buffer.as_mut().and_then(|b| b.ack_due());
                    if let (Some(id), true) = (due, self.attached) {
                        let ack = HubMessage::Ack(signalr_protocol::SequenceId { sequence_id: id });
                        out.push(self.conn.encode(&ack));
                    }
                }
            }
        }
    }

    /// Whether more outgoing messages may be taken now (not while the resend buffer is full).
    fn can_write(&self) -> bool {
        self.buffer.as_ref().is_none_or(|b| b.can_write())
    }

    /// Takes one queued message for writing (and for the resend buffer).
    fn take(&mut self, b: Bytes, out: &mut WriteBatch) {
        self.conn.dequeued(b.len());
        if let Some(buffer) = self.buffer.as_mut() {
            buffer.push_sent(b.clone());
        }
        if self.attached {
            out.push(b);
        }
    }

    /// Whether a lost transport only detaches the connection (stateful reconnect).
    fn may_detach<T>(&self, reattach: &Option<mpsc::Receiver<T>>) -> bool {
        self.buffer.is_some() && reattach.as_ref().is_some_and(|r| !r.is_closed())
    }

    /// The transport is gone: wait for a reattach until the returned deadline.
    fn detach(&mut self, cfg: &MockConfig, out: &mut WriteBatch) -> Option<Instant> {
        self.attached = false;
        // Unsent bytes are in the resend buffer (or were Pings and Acks, never resent).
        out.clear();
        if self.faults.has(Fault::StatefulNeverExpires) {
            return None;
        }
        Some(Instant::now() + cfg.disconnect_timeout())
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
            if let Some(b) = self.buffer.as_mut() {
                match b.inbound(&parsed) {
                    Ok(Inbound::Process) => {}
                    Ok(Inbound::Drop) => continue,
                    Err(_) => return Err(CloseReason::SequenceTooLarge),
                }
            }
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
        if !self.attached {
            // Detached and never reattached: no transport to write to.
            self.lifetime.remove(&self.conn);
            self.dispatcher.close_uploads();
            return;
        }
        let mut out = self.pending.take().map(Vec::from).unwrap_or_default();
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

/// What the next write sends, in order: one message goes out as it was encoded (a 2 KB echo
/// reply is neither copied nor given a second buffer); several are gathered into one buffer.
#[derive(Default)]
struct WriteBatch {
    /// The only message so far, while `many` is empty.
    one: Option<Bytes>,
    many: Vec<u8>,
}

impl WriteBatch {
    /// Appends an encoded message.
    fn push(&mut self, b: Bytes) {
        if self.is_empty() {
            self.one = Some(b);
        } else {
            self.extend(&b);
        }
    }

    /// Appends bytes.
    fn extend(&mut self, bytes: &[u8]) {
        if let Some(first) = self.one.take() {
            self.many.reserve(first.len() + bytes.len());
            self.many.extend_from_slice(&first);
        }
        self.many.extend_from_slice(bytes);
    }

    fn is_empty(&self) -> bool {
        self.one.is_none() && self.many.is_empty()
    }

    fn clear(&mut self) {
        self.one = None;
        self.many.clear();
    }

    /// Everything gathered, leaving the batch empty.
    fn take(&mut self) -> Bytes {
        match self.one.take() {
            Some(b) => b,
            None => Bytes::from(std::mem::take(&mut self.many)),
        }
    }
}

#[cfg(test)]
mod write_batch_tests {
    use super::*;

    #[test]
    fn one_message_is_sent_as_it_is_and_several_in_order() {
        let mut w = WriteBatch::default();
        assert!(w.is_empty());
        let reply = Bytes::from_static(b"{\"type\":3}\x1e");
        w.push(reply.clone());
        let sent = w.take();
        assert_eq!(sent.as_ptr(), reply.as_ptr(), "no copy of a lone message");
        assert!(w.is_empty());

        w.push(Bytes::from_static(b"a"));
        w.extend(b"b");
        w.push(Bytes::from_static(b"c"));
        assert_eq!(&w.take()[..], b"abc");
        w.extend(b"x");
        w.push(Bytes::from_static(b"y"));
        w.clear();
        assert!(w.is_empty());
        assert_eq!(&w.take()[..], b"");
    }
}
