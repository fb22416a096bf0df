//! The two hub protocols behind one enum, and the incremental reader that frames and parses.

use crate::error::ProtocolError;
use crate::framing::{FrameReader, TransferFormat};
use crate::message::{HubMessage, Parsed};
use crate::value::Value;
use crate::{json, msgpack};

/// A hub protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HubProtocol {
    /// `json`: text, record-separator framing.
    Json,
    /// `messagepack`: binary, VarInt framing.
    MessagePack,
}

impl HubProtocol {
    /// Both protocols.
    pub const ALL: [HubProtocol; 2] = [HubProtocol::Json, HubProtocol::MessagePack];

    /// The handshake name: `json` or `messagepack`.
    pub fn name(&self) -> &'static str {
        match self {
            HubProtocol::Json => "json",
            HubProtocol::MessagePack => "messagepack",
        }
    }

    /// The protocol with this exact handshake name (ASP.NET Core's resolver ignores case; a
    /// server should compare with `eq_ignore_ascii_case`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(HubProtocol::Json),
            "messagepack" => Some(HubProtocol::MessagePack),
            _ => None,
        }
    }

    /// The highest handshake version (2: Ack and Sequence, ASP.NET Core 8+).
    pub fn version(&self) -> i32 {
        2
    }

    /// Text for JSON, Binary for MessagePack.
    pub fn transfer_format(&self) -> TransferFormat {
        match self {
            HubProtocol::Json => TransferFormat::Text,
            HubProtocol::MessagePack => TransferFormat::Binary,
        }
    }

    /// Parses one message payload (framing already removed).
    pub fn parse(&self, payload: &[u8]) -> Result<Parsed, ProtocolError> {
        match self {
            HubProtocol::Json => json::parse_message(payload),
            HubProtocol::MessagePack => msgpack::parse_message(payload),
        }
    }

    /// Appends a framed message.
    pub fn write(&self, msg: &HubMessage, out: &mut Vec<u8>) {
        match self {
            HubProtocol::Json => json::write_message(msg, out),
            HubProtocol::MessagePack => msgpack::write_message(msg, out),
        }
    }

    /// A framed message.
    pub fn encode(&self, msg: &HubMessage) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.encoded_len_hint());
        self.write(msg, &mut out);
        out
    }

    /// Appends one value in this protocol's encoding.
    pub fn write_value(&self, v: &Value, out: &mut Vec<u8>) {
        match self {
            HubProtocol::Json => json::write_value(v, out),
            HubProtocol::MessagePack => msgpack::write_value(v, out),
        }
    }

    /// Decodes every message in a complete framed buffer (an error if bytes are left over).
    pub fn decode_all(&self, bytes: &[u8]) -> Result<Vec<Parsed>, ProtocolError> {
        let mut reader = MessageReader::new(*self);
        reader.push(bytes);
        let mut out = Vec::new();
        while let Some(p) = reader.next()? {
            out.push(p);
        }
        reader.finish()?;
        Ok(out)
    }
}

impl std::fmt::Display for HubProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An incremental hub message decoder: push bytes in any chunking, take parsed messages out.
#[derive(Debug, Clone)]
pub struct MessageReader {
    protocol: HubProtocol,
    frames: FrameReader,
}

impl MessageReader {
    /// A reader without a size limit.
    pub fn new(protocol: HubProtocol) -> Self {
        Self::with_max_message_size(protocol, None)
    }

    /// A reader that fails on a message over `max` bytes (framing included).
    pub fn with_max_message_size(protocol: HubProtocol, max: Option<usize>) -> Self {
        Self {
            protocol,
            frames: FrameReader::with_max_message_size(max),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> HubProtocol {
        self.protocol
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.frames.push(data);
    }

    /// The next message, if a whole one has arrived.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Parsed>, ProtocolError> {
        let protocol = self.protocol;
        match self.frames.next_frame(protocol.transfer_format())? {
            Some(payload) => protocol.parse(payload).map(Some),
            None => Ok(None),
        }
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> &[u8] {
        self.frames.buffered()
    }

    /// Call at end of input: an error if a message was cut off.
    pub fn finish(&self) -> Result<(), ProtocolError> {
        self.frames.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::CompletionResult;

    #[test]
    fn a_message_with_a_long_string_is_encoded_without_growing_its_buffer() {
        let text = "x".repeat(2048);
        let messages = [
            HubMessage::completion("17", CompletionResult::Value(Value::string(text.as_str()))),
            HubMessage::invoke(
                "17",
                "Echo",
                vec![Value::string(text.as_str()), Value::Int(-1)],
            ),
            HubMessage::stream_item("17", Value::Binary(vec![7; 1500])),
        ];
        for msg in &messages {
            let hint = msg.encoded_len_hint();
            for protocol in HubProtocol::ALL {
                let out = protocol.encode(msg);
                assert_eq!(out.capacity(), hint, "{protocol} {}", msg.type_name());
                // Close for text (binary is counted as JSON's base64, a third more than
                // MessagePack's bytes): a hint far above the size would hold memory for nothing.
                if !matches!(msg, HubMessage::StreamItem(_)) || protocol == HubProtocol::Json {
                    let (len, name) = (out.len(), msg.type_name());
                    assert!(hint - len < 64, "{protocol} {name} {hint} {len}");
                }
            }
        }
    }
}
