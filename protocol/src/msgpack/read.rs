//! Reading: payloads into messages, field by field, in ASP.NET Core's order and with its texts.

use super::cursor::{ReadError, Reader, PREALLOC_LIMIT};
use crate::error::{texts, Layer, ProtocolError};
use crate::message::{
    message_type, CancelInvocation, Close, Completion, CompletionResult, Headers, HubMessage,
    Invocation, InvocationKind, Parsed, SequenceId, StreamInvocation, StreamItem,
};
use crate::value::Value;

fn field_error(what: &str, e: &ReadError) -> ProtocolError {
    ProtocolError::invalid_data(Layer::MessagePack, what.to_owned()).with_detail(e.text())
}

fn read_string(r: &mut Reader<'_>, field: &str) -> Result<Option<String>, ProtocolError> {
    r.string()
        .map_err(|e| field_error(&format!("Reading '{field}' as String failed."), &e))
}

fn null_or_empty(what: &str) -> ProtocolError {
    ProtocolError::invalid_data(Layer::MessagePack, format!("Null or empty {what}."))
}

fn read_required(r: &mut Reader<'_>, field: &str, what: &str) -> Result<String, ProtocolError> {
    match read_string(r, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(null_or_empty(what)),
    }
}

fn read_headers(r: &mut Reader<'_>) -> Result<Headers, ProtocolError> {
    let count = r
        .map_header()
        .map_err(|e| field_error("Reading map length for 'headers' failed.", &e))?;
    let mut headers = Headers::new();
    for i in 0..count {
        let key = read_string(r, &format!("headers[{i}].Key"))?
            .filter(|k| !k.is_empty())
            .ok_or_else(|| null_or_empty("key in header"))?;
        let value = read_string(r, &format!("headers[{i}].Value"))?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| null_or_empty("value in header"))?;
        if headers.contains_key(&key) {
            // `Dictionary.Add` refuses a repeated key.
            return Err(ProtocolError::new(
                Layer::MessagePack,
                "ArgumentException",
                format!("An item with the same key has already been added. Key: {key}"),
            ));
        }
        headers.insert(key, value);
    }
    Ok(headers)
}

const BINDING_ERROR: &str = "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.";

/// Reads the arguments array; `Err(text)` is a binding failure, not a connection error.
fn read_arguments(r: &mut Reader<'_>) -> Result<Vec<Value>, String> {
    let count = r
        .array_header()
        .map_err(|_| "Reading array length for 'arguments' failed.".to_owned())?;
    let mut args = Vec::with_capacity(count.min(PREALLOC_LIMIT));
    for _ in 0..count {
        match r.value(1) {
            Ok(v) => args.push(v),
            // ASP.NET Core 10 words every binding failure alike (its main branch has since
            // started to number the argument: "Error binding argument 1. …").
            Err(_) => return Err(BINDING_ERROR.to_owned()),
        }
    }
    Ok(args)
}

fn read_stream_ids(r: &mut Reader<'_>) -> Result<Option<Vec<String>>, ProtocolError> {
    let count = r
        .array_header()
        .map_err(|e| field_error("Reading array length for 'streamIds' failed.", &e))?;
    if count == 0 {
        return Ok(None);
    }
    let mut ids = Vec::with_capacity(count.min(PREALLOC_LIMIT));
    for _ in 0..count {
        // ASP.NET Core does not wrap this read: MessagePack's own exception surfaces.
        let id = r
            .string()
            .map_err(|e| ProtocolError::new(Layer::MessagePack, e.exception(), e.text()))?;
        match id {
            Some(id) if !id.is_empty() => ids.push(id),
            _ => return Err(null_or_empty("value in streamIds received")),
        }
    }
    Ok(Some(ids))
}

/// Parses one message payload (the bytes after the VarInt prefix).
pub fn parse_message(payload: &[u8]) -> Result<Parsed, ProtocolError> {
    let mut r = Reader::new(payload);
    let item_count = r
        .array_header()
        .map_err(|e| ProtocolError::new(Layer::MessagePack, e.exception(), e.text()))?;
    let ty = r
        .int32()
        .map_err(|e| field_error("Reading 'messageType' as Int32 failed.", &e))?;
    let msg = match ty {
        message_type::INVOCATION | message_type::STREAM_INVOCATION => {
            let headers = read_headers(&mut r)?;
            let streaming = ty == message_type::STREAM_INVOCATION;
            let invocation_id = read_string(&mut r, "invocationId")?.filter(|id| !id.is_empty());
            if streaming && invocation_id.is_none() {
                return Err(null_or_empty("invocation ID for StreamInvocation message"));
            }
            let target = read_required(
                &mut r,
                "target",
                if streaming {
                    "target for StreamInvocation message"
                } else {
                    "target for Invocation message"
                },
            )?;
            let arguments = match read_arguments(&mut r) {
                Ok(a) => a,
                Err(error) => {
                    return Ok(Parsed::InvocationBindingFailure {
                        kind: if streaming {
                            InvocationKind::StreamInvocation
                        } else {
                            InvocationKind::Invocation
                        },
                        invocation_id,
                        target,
                        headers,
                        error,
                    })
                }
            };
            // Clients before ASP.NET Core 3.0 send 5 elements (no stream ids).
            let stream_ids = if item_count > 5 {
                read_stream_ids(&mut r)?
            } else {
                None
            };
            match invocation_id {
                Some(invocation_id) if streaming => {
                    HubMessage::StreamInvocation(StreamInvocation {
                        headers,
                        invocation_id,
                        target,
                        arguments,
                        stream_ids,
                    })
                }
                invocation_id => HubMessage::Invocation(Invocation {
                    headers,
                    invocation_id,
                    target,
                    arguments,
                    stream_ids,
                }),
            }
        }
        message_type::STREAM_ITEM => {
            let headers = read_headers(&mut r)?;
            let invocation_id = read_required(
                &mut r,
                "invocationId",
                "invocation ID for StreamItem message",
            )?;
            match r.value(1) {
                Ok(item) => HubMessage::StreamItem(StreamItem {
                    headers,
                    invocation_id,
                    item,
                }),
                Err(_) => {
                    return Ok(Parsed::StreamBindingFailure {
                        invocation_id,
                        error: "Deserializing object of the `Object` type for 'item' failed."
                            .to_owned(),
                    })
                }
            }
        }
        message_type::COMPLETION => {
            let headers = read_headers(&mut r)?;
            let invocation_id = read_required(
                &mut r,
                "invocationId",
                "invocation ID for Completion message",
            )?;
            let kind = r
                .int32()
                .map_err(|e| field_error("Reading 'resultKind' as Int32 failed.", &e))?;
            let result = match kind {
                // An error kind with a nil text is a void completion to ASP.NET Core.
                1 => match read_string(&mut r, "error")? {
                    Some(e) => CompletionResult::Error(e),
                    None => CompletionResult::Void,
                },
                2 => CompletionResult::Void,
                3 => CompletionResult::Value(r.value(1).map_err(|e| {
                    ProtocolError::new(Layer::MessagePack, e.exception(), e.text())
                })?),
                _ => {
                    return Err(ProtocolError::invalid_data(
                        Layer::MessagePack,
                        texts::INVALID_RESULT_KIND,
                    ))
                }
            };
            HubMessage::Completion(Completion {
                headers,
                invocation_id,
                result,
            })
        }
        message_type::CANCEL_INVOCATION => {
            let headers = read_headers(&mut r)?;
            let invocation_id = read_required(
                &mut r,
                "invocationId",
                "invocation ID for CancelInvocation message",
            )?;
            HubMessage::CancelInvocation(CancelInvocation {
                headers,
                invocation_id,
            })
        }
        message_type::PING => HubMessage::Ping,
        message_type::CLOSE => {
            let error = read_string(&mut r, "error")?;
            let allow_reconnect = if item_count > 2 {
                r.boolean()
                    .map_err(|e| field_error("Reading 'allowReconnect' as Boolean failed.", &e))?
            } else {
                false
            };
            HubMessage::Close(Close {
                error,
                allow_reconnect,
            })
        }
        message_type::ACK | message_type::SEQUENCE => {
            let sequence_id = r
                .int64()
                .map_err(|e| field_error("Reading 'sequenceId' as Int64 failed.", &e))?;
            let s = SequenceId { sequence_id };
            if ty == message_type::ACK {
                HubMessage::Ack(s)
            } else {
                HubMessage::Sequence(s)
            }
        }
        other => return Ok(Parsed::UnknownType(i64::from(other))),
    };
    Ok(Parsed::Message(msg))
}

/// Parses one value (e.g. a hex snippet typed by a user); trailing bytes are an error.
pub fn parse_value(bytes: &[u8]) -> Result<Value, ProtocolError> {
    let mut r = Reader::new(bytes);
    let v = r
        .value(0)
        .map_err(|e| ProtocolError::new(Layer::MessagePack, e.exception(), e.text()))?;
    if r.remaining() != 0 {
        return Err(ProtocolError::invalid_data(
            Layer::MessagePack,
            format!("{} byte(s) left after the value.", r.remaining()),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgpack::hex;

    #[test]
    fn errors() {
        let e = |h: &str| parse_message(&hex(h)).unwrap_err().to_string();
        assert_eq!(
            e("91 a3 66 6f 6f"),
            "Reading 'messageType' as Int32 failed."
        );
        assert_eq!(e("92 01 80"), "Reading 'invocationId' as String failed.");
        assert_eq!(
            e("94 03 80 a3 78 79 7a 2a"),
            "Invalid invocation result kind."
        );
        assert_eq!(e("91 08 c0"), "Reading 'sequenceId' as Int64 failed.");
    }

    #[test]
    fn forged_counts_do_not_allocate() {
        // array 32 with 4 billion elements, nothing behind it.
        let bytes = hex("96 01 80 c0 a1 54 dd ff ff ff ff");
        match parse_message(&bytes).unwrap() {
            Parsed::InvocationBindingFailure { error, .. } => {
                assert_eq!(error, "Reading array length for 'arguments' failed.")
            }
            other => panic!("{other:?}"),
        }
    }
}
