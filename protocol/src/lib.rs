//! ASP.NET Core SignalR wire formats.
//!
//! - [`message`]: the nine hub message types and [`Value`], which keeps every argument in the
//!   type it had on the wire.
//! - [`json`], [`msgpack`]: the two hub protocols, reading and writing ASP.NET Core's exact bytes
//!   and rejecting bad input with its exact error texts.
//! - [`framing`]: record-separator and VarInt framing with an incremental [`FrameReader`].
//! - [`handshake`], [`negotiate`]: the handshake and the negotiate request/response.
//! - `strategies` (feature `strategies`): proptest strategies for every message.
//!
//! ```
//! use signalr_protocol::{HubMessage, HubProtocol, MessageReader, Value};
//!
//! let bytes = HubProtocol::Json.encode(&HubMessage::invoke("1", "Echo", vec![Value::from("hi")]));
//! assert_eq!(bytes, b"{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[\"hi\"]}\x1e");
//!
//! let mut reader = MessageReader::new(HubProtocol::Json);
//! reader.push(&bytes[..10]);
//! assert!(reader.next().unwrap().is_none());
//! reader.push(&bytes[10..]);
//! let parsed = reader.next().unwrap().unwrap().into_message().unwrap();
//! assert_eq!(parsed.invocation_id(), Some("1"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod framing;
pub mod handshake;
mod hub;
pub mod json;
pub mod message;
pub mod msgpack;
pub mod negotiate;
pub mod notation;
mod scan;
#[cfg(feature = "strategies")]
pub mod strategies;
pub mod transport;
pub mod value;

pub use error::{Layer, ProtocolError};
pub use framing::{FrameReader, TransferFormat};
pub use handshake::{HandshakeRequest, HandshakeResponse};
pub use hub::{HubProtocol, MessageReader};
pub use message::{
    CancelInvocation, Close, Completion, CompletionResult, Headers, HubMessage, Invocation,
    InvocationKind, Parsed, SequenceId, StreamInvocation, StreamItem,
};
pub use negotiate::{AvailableTransport, NegotiateQuery, NegotiateResponse};
pub use transport::TransportKind;
pub use value::{Timestamp, Value};
