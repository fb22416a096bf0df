//! The properties of one JSON message as read, and ASP.NET Core's checks on them once all are
//! read (shared by both readers).

use crate::error::{texts, Layer, ProtocolError};
use crate::message::{
    message_type, CancelInvocation, Close, Completion, CompletionResult, Headers, HubMessage,
    Invocation, Parsed, SequenceId, StreamInvocation, StreamItem,
};
use crate::value::Value;

/// What the message's properties said; a repeated property overwrites the earlier one.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) message_type: Option<i32>,
    pub(super) invocation_id: Option<String>,
    pub(super) target: Option<String>,
    pub(super) error: Option<String>,
    pub(super) allow_reconnect: bool,
    pub(super) result: Option<Value>,
    pub(super) item: Option<Value>,
    pub(super) arguments: Option<Vec<Value>>,
    pub(super) stream_ids: Option<Vec<String>>,
    pub(super) headers: Option<Headers>,
    pub(super) sequence_id: Option<i64>,
}

/// Takes a non-empty string or fails with `Missing required property '{name}'.`.
fn required(v: Option<String>, name: &str) -> Result<String, ProtocolError> {
    match v {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ProtocolError::invalid_data(
            Layer::Json,
            texts::missing_property(name),
        )),
    }
}

impl Fields {
    /// The checks ASP.NET Core makes after reading all properties, in its order.
    pub(super) fn into_parsed(self) -> Result<Parsed, ProtocolError> {
        let missing =
            |name: &str| ProtocolError::invalid_data(Layer::Json, texts::missing_property(name));
        let headers = self.headers.unwrap_or_default();
        let msg = match self.message_type {
            None => return Err(missing("type")),
            Some(message_type::INVOCATION) => {
                let target = required(self.target, "target")?;
                let Some(arguments) = self.arguments else {
                    return Err(missing("arguments"));
                };
                HubMessage::Invocation(Invocation {
                    headers,
                    invocation_id: self.invocation_id.filter(|id| !id.is_empty()),
                    target,
                    arguments,
                    stream_ids: self.stream_ids,
                })
            }
            Some(message_type::STREAM_INVOCATION) => {
                if self.target.is_none() {
                    return Err(missing("target"));
                }
                let invocation_id = required(self.invocation_id, "invocationId")?;
                let Some(arguments) = self.arguments else {
                    return Err(missing("arguments"));
                };
                HubMessage::StreamInvocation(StreamInvocation {
                    headers,
                    invocation_id,
                    target: required(self.target, "target")?,
                    arguments,
                    stream_ids: self.stream_ids,
                })
            }
            Some(message_type::STREAM_ITEM) => {
                let invocation_id = required(self.invocation_id, "invocationId")?;
                let Some(item) = self.item else {
                    return Err(missing("item"));
                };
                HubMessage::StreamItem(StreamItem {
                    headers,
                    invocation_id,
                    item,
                })
            }
            Some(message_type::COMPLETION) => {
                let invocation_id = required(self.invocation_id, "invocationId")?;
                let result = match (self.error, self.result) {
                    (Some(_), Some(_)) => {
                        return Err(ProtocolError::invalid_data(
                            Layer::Json,
                            texts::ERROR_AND_RESULT_EXCLUSIVE,
                        ))
                    }
                    (Some(e), None) => CompletionResult::Error(e),
                    (None, Some(v)) => CompletionResult::Value(v),
                    (None, None) => CompletionResult::Void,
                };
                HubMessage::Completion(Completion {
                    headers,
                    invocation_id,
                    result,
                })
            }
            Some(message_type::CANCEL_INVOCATION) => {
                HubMessage::CancelInvocation(CancelInvocation {
                    headers,
                    invocation_id: required(self.invocation_id, "invocationId")?,
                })
            }
            Some(message_type::PING) => HubMessage::Ping,
            Some(message_type::CLOSE) => HubMessage::Close(Close {
                error: self.error,
                allow_reconnect: self.allow_reconnect,
            }),
            Some(t @ (message_type::ACK | message_type::SEQUENCE)) => {
                let Some(sequence_id) = self.sequence_id else {
                    return Err(missing("sequenceId"));
                };
                let s = SequenceId { sequence_id };
                if t == message_type::ACK {
                    HubMessage::Ack(s)
                } else {
                    HubMessage::Sequence(s)
                }
            }
            Some(other) => return Ok(Parsed::UnknownType(i64::from(other))),
        };
        Ok(Parsed::Message(msg))
    }
}
