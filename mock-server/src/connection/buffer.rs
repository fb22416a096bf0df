//! Stateful reconnect's bookkeeping, as ASP.NET Core's `MessageBuffer` keeps it: the server's
//! sent messages until the client acknowledges them (replayed after a reattach), the numbering
//! of the client's messages (acknowledged on a 1 s timer, duplicates dropped after the client's
//! Sequence), and the writer waiting while the buffer is over `StatefulReconnectBufferSize`.
//!
//! Only invocation messages (Invocation, StreamItem, Completion, StreamInvocation,
//! CancelInvocation — ASP.NET Core's `HubInvocationMessage`s) are numbered, in both directions;
//! Ping, Close, Ack and Sequence are not. Ids start at 1.

use std::collections::VecDeque;

use bytes::Bytes;
use signalr_protocol::{HubMessage, Parsed};

use crate::faults::{Fault, FaultSet};

/// The client's Sequence names an id beyond what it sent (`MessageBuffer.ResetSequence`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SequenceTooLarge;

/// One stateful connection's resend buffer and receive numbering.
pub(crate) struct MessageBuffer {
    limit: usize,
    /// Sent and not yet acknowledged: (sequence id, encoded message).
    sent: VecDeque<(i64, Bytes)>,
    /// Bytes in `sent`.
    bytes: usize,
    /// Invocation messages sent so far (the last id given out).
    total_sent: i64,
    /// Writing waits until an Ack brings `bytes` below the limit.
    waiting_for_ack: bool,
    /// The id the client's next invocation message gets.
    receiving_id: i64,
    /// The highest client id processed (`None`: nothing yet).
    latest_received: Option<i64>,
    /// The highest client id acknowledged.
    last_acked: Option<i64>,
    /// After a reattach, client messages are ignored until its Sequence arrives.
    wait_for_sequence: bool,
    faults: FaultSet,
}

/// What to do with a message from the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// Dispatch it.
    Process,
    /// Drop it (a duplicate, or anything before the client's Sequence after a reattach).
    Drop,
}

/// Whether ASP.NET Core numbers this message (`HubInvocationMessage`, binding failures included).
fn is_invocation_message(parsed: &Parsed, faults: FaultSet) -> bool {
    match parsed {
        Parsed::Message(HubMessage::Ping) => faults.has(Fault::StatefulCountsPings),
        Parsed::Message(m) => matches!(
            m,
            HubMessage::Invocation(_)
                | HubMessage::StreamItem(_)
                | HubMessage::Completion(_)
                | HubMessage::StreamInvocation(_)
                | HubMessage::CancelInvocation(_)
        ),
        Parsed::InvocationBindingFailure { .. } | Parsed::StreamBindingFailure { .. } => true,
        Parsed::UnknownType(_) => false,
    }
}

impl MessageBuffer {
    /// An empty buffer holding at most about `limit` bytes before the writer waits.
    pub(crate) fn new(limit: usize, faults: FaultSet) -> Self {
        Self {
            limit,
            sent: VecDeque::new(),
            bytes: 0,
            total_sent: 0,
            waiting_for_ack: false,
            receiving_id: 1,
            latest_received: None,
            last_acked: None,
            wait_for_sequence: false,
            faults,
        }
    }

    /// Whether another message may be written now. As `MessageBuffer.WriteAsync`: a write waits
    /// once the buffer holds more than the limit, until an Ack brings it below the limit.
    pub(crate) fn can_write(&self) -> bool {
        !self.waiting_for_ack
    }

    /// Records an outgoing invocation message (the next id).
    pub(crate) fn push_sent(&mut self, message: Bytes) {
        self.total_sent += 1;
        self.bytes += message.len();
        self.sent.push_back((self.total_sent, message));
        if self.bytes > self.limit && !self.faults.has(Fault::StatefulNoBackpressure) {
            self.waiting_for_ack = true;
        }
    }

    /// The client has every message up to `id`: forget them.
    pub(crate) fn ack(&mut self, id: i64) {
        while let Some((first, _)) = self.sent.front() {
            if *first > id {
                break;
            }
            if let Some((_, b)) = self.sent.pop_front() {
                self.bytes -= b.len();
            }
        }
        if self.waiting_for_ack && self.bytes < self.limit {
            self.waiting_for_ack = false;
        }
    }

    /// Bytes held for resending.
    #[cfg(test)]
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// A new transport is attached: the Sequence message (the first unacknowledged id, or the
    /// next id when nothing is unacknowledged) followed by every unacknowledged message, in
    /// order, for one write; from now on the client's messages wait for its own Sequence.
    pub(crate) fn resend(&mut self, encode: impl Fn(&HubMessage) -> Bytes) -> Vec<u8> {
        self.wait_for_sequence = !self.faults.has(Fault::StatefulNoDedup);
        let first = self.sent.front().map_or(self.total_sent + 1, |(id, _)| *id);
        let mut out = encode(&HubMessage::Sequence(signalr_protocol::SequenceId {
            sequence_id: first,
        }))
        .to_vec();
        if !self.faults.has(Fault::StatefulNoReplay) {
            for (_, b) in &self.sent {
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// Decides about a message from the client (`MessageBuffer.ShouldProcessMessage`); a
    /// Sequence resets the numbering, `Err` when it names an id the client never sent.
    pub(crate) fn inbound(&mut self, parsed: &Parsed) -> Result<Inbound, SequenceTooLarge> {
        if let Parsed::Message(HubMessage::Sequence(s)) = parsed {
            self.wait_for_sequence = false;
            if self.faults.has(Fault::StatefulNoDedup) {
                return Ok(Inbound::Drop);
            }
            if s.sequence_id > self.receiving_id
                && !self.faults.has(Fault::StatefulSequenceUnchecked)
            {
                return Err(SequenceTooLarge);
            }
            self.receiving_id = s.sequence_id;
            return Ok(Inbound::Drop);
        }
        if self.wait_for_sequence {
            return Ok(Inbound::Drop);
        }
        if let Parsed::Message(HubMessage::Ack(a)) = parsed {
            if !self.faults.has(Fault::StatefulAckIgnored) {
                self.ack(a.sequence_id);
            }
            return Ok(Inbound::Drop);
        }
        if !is_invocation_message(parsed, self.faults) {
            return Ok(Inbound::Process);
        }
        let id = self.receiving_id;
        self.receiving_id += 1;
        if self.latest_received.is_some_and(|l| id <= l) {
            // A message sent again proves the client missed an Ack: one the timer wrote while
            // the transport was gone (it counts as sent, as ASP.NET Core's write into the dead
            // pipe does). Acknowledge again at the next tick, or a client whose own buffer is
            // full would wait for that Ack until the client timeout ends the connection.
            self.last_acked = None;
            return Ok(Inbound::Drop);
        }
        self.latest_received = Some(id);
        Ok(Inbound::Process)
    }

    /// The Ack the 1 s timer sends now, if the client sent something since the last one.
    pub(crate) fn ack_due(&mut self) -> Option<i64> {
        if self.faults.has(Fault::StatefulNoAck) {
            return None;
        }
        let latest = self.latest_received?;
        if self.last_acked.is_some_and(|a| a >= latest) {
            return None;
        }
        self.last_acked = Some(latest);
        Some(latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalr_protocol::{CancelInvocation, SequenceId};

    /// Any invocation message (they are all numbered alike).
    fn invocation() -> Parsed {
        Parsed::Message(HubMessage::CancelInvocation(CancelInvocation {
            headers: Default::default(),
            invocation_id: "1".into(),
        }))
    }

    fn encode(m: &HubMessage) -> Bytes {
        let mut out = Vec::new();
        signalr_protocol::json::write_message(m, &mut out);
        Bytes::from(out)
    }

    #[test]
    fn ack_trims_and_resend_starts_at_the_first_unacknowledged_id() {
        let mut b = MessageBuffer::new(1000, FaultSet::default());
        for m in ["a", "bb", "ccc"] {
            b.push_sent(Bytes::from(m));
        }
        b.ack(1);
        assert_eq!(b.buffered_bytes(), 5);
        let out = b.resend(encode);
        assert_eq!(out, b"{\"type\":9,\"sequenceId\":2}\x1ebbccc");
        b.ack(3);
        assert_eq!(b.resend(encode), b"{\"type\":9,\"sequenceId\":4}\x1e");
    }

    #[test]
    fn the_writer_waits_above_the_limit_until_an_ack_goes_below_it() {
        let mut b = MessageBuffer::new(4, FaultSet::default());
        b.push_sent(Bytes::from("1234"));
        assert!(b.can_write(), "exactly the limit is not over it");
        b.push_sent(Bytes::from("5"));
        assert!(!b.can_write());
        b.ack(1);
        assert!(b.can_write());
    }

    #[test]
    fn client_messages_are_numbered_acked_and_deduplicated_after_a_sequence() {
        let mut b = MessageBuffer::new(1000, FaultSet::default());
        assert_eq!(b.ack_due(), None);
        for _ in 0..3 {
            assert_eq!(b.inbound(&invocation()), Ok(Inbound::Process));
        }
        assert_eq!(
            b.inbound(&Parsed::Message(HubMessage::Ping)),
            Ok(Inbound::Process)
        );
        assert_eq!(b.ack_due(), Some(3));
        assert_eq!(b.ack_due(), None);
        let _ = b.resend(encode);
        assert_eq!(
            b.inbound(&invocation()),
            Ok(Inbound::Drop),
            "before its Sequence"
        );
        let seq = |id| Parsed::Message(HubMessage::Sequence(SequenceId { sequence_id: id }));
        assert_eq!(b.inbound(&seq(5)), Err(SequenceTooLarge));
        assert_eq!(b.inbound(&seq(2)), Ok(Inbound::Drop));
        assert_eq!(b.inbound(&invocation()), Ok(Inbound::Drop), "id 2 again");
        assert_eq!(b.inbound(&invocation()), Ok(Inbound::Drop), "id 3 again");
        assert_eq!(
            b.inbound(&invocation()),
            Ok(Inbound::Process),
            "id 4 is new"
        );
        assert_eq!(b.ack_due(), Some(4));
    }

    #[test]
    fn a_message_sent_again_is_acknowledged_again() {
        // The Ack for ids 1-2 went out while the transport was gone: the client resends them.
        let mut b = MessageBuffer::new(1000, FaultSet::default());
        for _ in 0..2 {
            assert_eq!(b.inbound(&invocation()), Ok(Inbound::Process));
        }
        assert_eq!(b.ack_due(), Some(2));
        let _ = b.resend(encode);
        let seq = |id| Parsed::Message(HubMessage::Sequence(SequenceId { sequence_id: id }));
        assert_eq!(b.inbound(&seq(1)), Ok(Inbound::Drop));
        assert_eq!(b.inbound(&invocation()), Ok(Inbound::Drop), "id 1 again");
        assert_eq!(
            b.ack_due(),
            Some(2),
            "the client missed the Ack: it is due again"
        );
        assert_eq!(b.ack_due(), None);
    }
}
