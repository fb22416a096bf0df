//! The nine hub message types and what a decoder can hand back besides them.

use crate::value::Value;

/// Message type numbers as they appear on the wire.
pub mod message_type {
    /// Invocation (1).
    pub const INVOCATION: i32 = 1;
    /// StreamItem (2).
    pub const STREAM_ITEM: i32 = 2;
    /// Completion (3).
    pub const COMPLETION: i32 = 3;
    /// StreamInvocation (4).
    pub const STREAM_INVOCATION: i32 = 4;
    /// CancelInvocation (5).
    pub const CANCEL_INVOCATION: i32 = 5;
    /// Ping (6).
    pub const PING: i32 = 6;
    /// Close (7).
    pub const CLOSE: i32 = 7;
    /// Ack (8), stateful reconnect.
    pub const ACK: i32 = 8;
    /// Sequence (9), stateful reconnect.
    pub const SEQUENCE: i32 = 9;
}

/// Message headers: string keys to string values, in wire order, keys unique (a repeated key
/// replaces the earlier value in place, as a .NET `Dictionary` indexer does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Sets `key` to `value`, replacing an existing entry in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of `key` (ordinal comparison).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut h = Headers::new();
        for (k, v) in iter {
            h.insert(k, v);
        }
        h
    }
}

/// Invocation (type 1): call a method; with an id the caller expects exactly one Completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Headers (types 1–5 carry them).
    pub headers: Headers,
    /// `None` (or empty on the wire) = non-blocking: nothing is ever sent back.
    pub invocation_id: Option<String>,
    /// Method name.
    pub target: String,
    /// Positional arguments (upload streams are not among them).
    pub arguments: Vec<Value>,
    /// Ids of client→server upload streams; `None` when the property/element was absent.
    pub stream_ids: Option<Vec<String>>,
}

/// StreamInvocation (type 4): call a streaming method; answered by StreamItems then a Completion.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInvocation {
    /// Headers.
    pub headers: Headers,
    /// Invocation id (never empty).
    pub invocation_id: String,
    /// Method name.
    pub target: String,
    /// Positional arguments.
    pub arguments: Vec<Value>,
    /// Ids of client→server upload streams.
    pub stream_ids: Option<Vec<String>>,
}

/// StreamItem (type 2): one item of a stream in either direction.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamItem {
    /// Headers.
    pub headers: Headers,
    /// The stream's invocation id (or upload stream id).
    pub invocation_id: String,
    /// The item (may be `Null`).
    pub item: Value,
}

/// What a Completion carries.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionResult {
    /// No result (void method, or end of a stream). JSON: neither property; MessagePack kind 2.
    Void,
    /// A result, possibly `Null`. JSON: `result`; MessagePack kind 3.
    Value(Value),
    /// An error text. JSON: `error`; MessagePack kind 1.
    Error(String),
}

/// Completion (type 3): the end of an invocation or stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Headers.
    pub headers: Headers,
    /// The invocation id being completed.
    pub invocation_id: String,
    /// Void, value or error.
    pub result: CompletionResult,
}

/// CancelInvocation (type 5): stop a server→client stream.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelInvocation {
    /// Headers.
    pub headers: Headers,
    /// The stream's invocation id.
    pub invocation_id: String,
}

/// Close (type 7): the sender is ending the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Close {
    /// Why, if it was an error (an empty string is still an error).
    pub error: Option<String>,
    /// Whether the client may reconnect automatically.
    pub allow_reconnect: bool,
}

/// Ack (type 8) or Sequence (type 9) payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceId {
    /// The sequence id.
    pub sequence_id: i64,
}

/// A hub message.
#[derive(Debug, Clone, PartialEq)]
pub enum HubMessage {
    /// Type 1.
    Invocation(Invocation),
    /// Type 2.
    StreamItem(StreamItem),
    /// Type 3.
    Completion(Completion),
    /// Type 4.
    StreamInvocation(StreamInvocation),
    /// Type 5.
    CancelInvocation(CancelInvocation),
    /// Type 6.
    Ping,
    /// Type 7.
    Close(Close),
    /// Type 8: highest numbered message received so far.
    Ack(SequenceId),
    /// Type 9: id of the next numbered message on the wire.
    Sequence(SequenceId),
}

impl HubMessage {
    /// The wire type number.
    pub fn message_type(&self) -> i32 {
        match self {
            HubMessage::Invocation(_) => message_type::INVOCATION,
            HubMessage::StreamItem(_) => message_type::STREAM_ITEM,
            HubMessage::Completion(_) => message_type::COMPLETION,
            HubMessage::StreamInvocation(_) => message_type::STREAM_INVOCATION,
            HubMessage::CancelInvocation(_) => message_type::CANCEL_INVOCATION,
            HubMessage::Ping => message_type::PING,
            HubMessage::Close(_) => message_type::CLOSE,
            HubMessage::Ack(_) => message_type::ACK,
            HubMessage::Sequence(_) => message_type::SEQUENCE,
        }
    }

    /// The type's name as ASP.NET Core spells it ("Invocation", "StreamItem" …).
    pub fn type_name(&self) -> &'static str {
        type_name(self.message_type()).unwrap_or("Unknown")
    }

    /// The headers of types 1–5.
    pub fn headers(&self) -> Option<&Headers> {
        match self {
            HubMessage::Invocation(m) => Some(&m.headers),
            HubMessage::StreamItem(m) => Some(&m.headers),
            HubMessage::Completion(m) => Some(&m.headers),
            HubMessage::StreamInvocation(m) => Some(&m.headers),
            HubMessage::CancelInvocation(m) => Some(&m.headers),
            _ => None,
        }
    }

    /// The invocation id of types 1–5 (none for a non-blocking Invocation).
    pub fn invocation_id(&self) -> Option<&str> {
        match self {
            HubMessage::Invocation(m) => m.invocation_id.as_deref(),
            HubMessage::StreamItem(m) => Some(&m.invocation_id),
            HubMessage::Completion(m) => Some(&m.invocation_id),
            HubMessage::StreamInvocation(m) => Some(&m.invocation_id),
            HubMessage::CancelInvocation(m) => Some(&m.invocation_id),
            _ => None,
        }
    }

    /// About how many bytes either hub protocol writes for this message, framing included: its
    /// strings and binaries at their length, a little for everything else (JSON escapes and
    /// base64 come out longer). Writers size their buffer with it, so that a message carrying a
    /// long string is written into one allocation of about its size instead of a growing one.
    pub fn encoded_len_hint(&self) -> usize {
        const FIXED: usize = 48;
        let headers = |h: &Headers| h.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>();
        let values = |v: &[Value]| v.iter().map(|v| v.encoded_len_hint() + 1).sum::<usize>();
        let ids =
            |ids: &Option<Vec<String>>| ids.iter().flatten().map(|id| id.len() + 3).sum::<usize>();
        FIXED
            + match self {
                HubMessage::Invocation(m) => {
                    headers(&m.headers)
                        + m.invocation_id.as_ref().map_or(0, String::len)
                        + m.target.len()
                        + values(&m.arguments)
                        + ids(&m.stream_ids)
                }
                HubMessage::StreamInvocation(m) => {
                    headers(&m.headers)
                        + m.invocation_id.len()
                        + m.target.len()
                        + values(&m.arguments)
                        + ids(&m.stream_ids)
                }
                HubMessage::StreamItem(m) => {
                    headers(&m.headers) + m.invocation_id.len() + m.item.encoded_len_hint()
                }
                HubMessage::Completion(m) => {
                    headers(&m.headers)
                        + m.invocation_id.len()
                        + match &m.result {
                            CompletionResult::Error(e) => e.len(),
                            CompletionResult::Value(v) => v.encoded_len_hint(),
                            CompletionResult::Void => 0,
                        }
                }
                HubMessage::CancelInvocation(m) => headers(&m.headers) + m.invocation_id.len(),
                HubMessage::Close(c) => c.error.as_ref().map_or(0, String::len),
                HubMessage::Ping | HubMessage::Ack(_) | HubMessage::Sequence(_) => 0,
            }
    }

    /// Whether stateful reconnect numbers and buffers this message (types 1–5).
    pub fn is_sequenced(&self) -> bool {
        (1..=5).contains(&self.message_type())
    }

    /// A non-blocking Invocation (the shape of every server→client send).
    pub fn send(target: impl Into<String>, arguments: Vec<Value>) -> Self {
        HubMessage::Invocation(Invocation {
            headers: Headers::new(),
            invocation_id: None,
            target: target.into(),
            arguments,
            stream_ids: None,
        })
    }

    /// A blocking Invocation with `invocation_id`.
    pub fn invoke(
        invocation_id: impl Into<String>,
        target: impl Into<String>,
        arguments: Vec<Value>,
    ) -> Self {
        HubMessage::Invocation(Invocation {
            headers: Headers::new(),
            invocation_id: Some(invocation_id.into()),
            target: target.into(),
            arguments,
            stream_ids: None,
        })
    }

    /// A Completion.
    pub fn completion(invocation_id: impl Into<String>, result: CompletionResult) -> Self {
        HubMessage::Completion(Completion {
            headers: Headers::new(),
            invocation_id: invocation_id.into(),
            result,
        })
    }

    /// A StreamItem.
    pub fn stream_item(invocation_id: impl Into<String>, item: Value) -> Self {
        HubMessage::StreamItem(StreamItem {
            headers: Headers::new(),
            invocation_id: invocation_id.into(),
            item,
        })
    }

    /// A Close.
    pub fn close(error: Option<String>, allow_reconnect: bool) -> Self {
        HubMessage::Close(Close {
            error,
            allow_reconnect,
        })
    }
}

/// ASP.NET Core's name of a message type number.
pub fn type_name(message_type: i32) -> Option<&'static str> {
    Some(match message_type {
        message_type::INVOCATION => "Invocation",
        message_type::STREAM_ITEM => "StreamItem",
        message_type::COMPLETION => "Completion",
        message_type::STREAM_INVOCATION => "StreamInvocation",
        message_type::CANCEL_INVOCATION => "CancelInvocation",
        message_type::PING => "Ping",
        message_type::CLOSE => "Close",
        message_type::ACK => "Ack",
        message_type::SEQUENCE => "Sequence",
        _ => return None,
    })
}

/// Whether a binding failure came from an Invocation or a StreamInvocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationKind {
    /// Type 1.
    Invocation,
    /// Type 4.
    StreamInvocation,
}

/// The outcome of decoding one framed message that did not fail the connection.
///
/// Mirrors ASP.NET Core: besides a message, a decoder can report that an invocation's arguments
/// (or a stream item) could not be read — the server then answers with an error Completion and
/// keeps the connection — or that the type number is unknown, which is ignored.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A hub message.
    Message(HubMessage),
    /// An invocation whose arguments could not be read (`InvocationBindingFailureMessage`).
    InvocationBindingFailure {
        /// Invocation or StreamInvocation.
        kind: InvocationKind,
        /// Its invocation id, if any.
        invocation_id: Option<String>,
        /// Its target.
        target: String,
        /// Headers read before the failure.
        headers: Headers,
        /// The binding error text (e.g. `Reading array length for 'arguments' failed.`).
        error: String,
    },
    /// A stream item whose value could not be read (`StreamBindingFailureMessage`).
    StreamBindingFailure {
        /// The stream id.
        invocation_id: String,
        /// The error text.
        error: String,
    },
    /// A message type this protocol version does not know: ignored for forward compatibility.
    UnknownType(i64),
}

impl Parsed {
    /// The message, if this is one.
    pub fn into_message(self) -> Option<HubMessage> {
        match self {
            Parsed::Message(m) => Some(m),
            _ => None,
        }
    }
}
