//! The MessagePack hub protocol (`messagepack`): one MessagePack array per message, each behind a
//! VarInt length prefix.
//!
//! Reading follows ASP.NET Core's `MessagePackHubProtocolWorker`: fields are read in order from
//! the payload (the array header's count is only consulted for the optional StreamIds and
//! AllowReconnect elements), with its texts. Writing produces MessagePack-CSharp's bytes: the
//! smallest encoding of every integer, string, bin and timestamp.

use crate::error::{texts, Layer, ProtocolError};
use crate::message::{
    message_type, CancelInvocation, Close, Completion, CompletionResult, Headers, HubMessage,
    Invocation, InvocationKind, Parsed, SequenceId, StreamInvocation, StreamItem,
};
use crate::value::{Timestamp, Value};

/// Deepest nesting of values read (MessagePack-CSharp's `UntrustedData` default is 500).
pub const MAX_DEPTH: usize = 500;

/// Most elements reserved up front for one array or map (more grow as they are read).
const PREALLOC_LIMIT: usize = 64;

/// Why a primitive read failed (wrapped into a field-specific text by the caller).
#[derive(Debug)]
enum ReadError {
    /// Ran out of bytes.
    EndOfData,
    /// A byte of the wrong type.
    Code(u8),
    /// An integer outside the target range.
    Overflow,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl ReadError {
    /// The .NET exception type MessagePack-CSharp throws for this failure.
    fn exception(&self) -> &'static str {
        match self {
            ReadError::EndOfData => "EndOfStreamException",
            ReadError::Code(_) | ReadError::TooDeep => "MessagePackSerializationException",
            ReadError::Overflow => "OverflowException",
        }
    }

    /// MessagePack-CSharp's own text for this failure (used when ASP.NET Core does not wrap it).
    fn text(&self) -> String {
        match self {
            ReadError::EndOfData => "Attempted to read past the end of the stream.".to_owned(),
            ReadError::Code(c) => format!(
                "Unexpected msgpack code {c} ({}) encountered.",
                code_name(*c)
            ),
            ReadError::Overflow => "Arithmetic operation resulted in an overflow.".to_owned(),
            ReadError::TooDeep => {
                format!("The maximum object graph depth of {MAX_DEPTH} has been exceeded.")
            }
        }
    }
}

/// MessagePack-CSharp's name of a format byte (`MessagePackCode.ToFormatName`).
fn code_name(c: u8) -> &'static str {
    match c {
        0x00..=0x7f => "positive fixint",
        0x80..=0x8f => "fixmap",
        0x90..=0x9f => "fixarray",
        0xa0..=0xbf => "fixstr",
        0xc0 => "nil",
        0xc1 => "(never used)",
        0xc2 => "false",
        0xc3 => "true",
        0xc4 => "bin 8",
        0xc5 => "bin 16",
        0xc6 => "bin 32",
        0xc7 => "ext 8",
        0xc8 => "ext 16",
        0xc9 => "ext 32",
        0xca => "float 32",
        0xcb => "float 64",
        0xcc => "uint 8",
        0xcd => "uint 16",
        0xce => "uint 32",
        0xcf => "uint 64",
        0xd0 => "int 8",
        0xd1 => "int 16",
        0xd2 => "int 32",
        0xd3 => "int 64",
        0xd4 => "fixext 1",
        0xd5 => "fixext 2",
        0xd6 => "fixext 4",
        0xd7 => "fixext 8",
        0xd8 => "fixext 16",
        0xd9 => "str 8",
        0xda => "str 16",
        0xdb => "str 32",
        0xdc => "array 16",
        0xdd => "array 32",
        0xde => "map 16",
        0xdf => "map 32",
        0xe0..=0xff => "negative fixint",
    }
}

/// A cursor over one message payload; never reads past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn peek(&self) -> Result<u8, ReadError> {
        self.buf.get(self.pos).copied().ok_or(ReadError::EndOfData)
    }

    fn byte(&mut self) -> Result<u8, ReadError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if self.remaining() < n {
            return Err(ReadError::EndOfData);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn len_u8(&mut self) -> Result<usize, ReadError> {
        Ok(usize::from(self.byte()?))
    }
    fn len_u16(&mut self) -> Result<usize, ReadError> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }
    fn len_u32(&mut self) -> Result<usize, ReadError> {
        Ok(u32::from_be_bytes(self.be()?) as usize)
    }

    /// Reads an array header (fixarray, array 16, array 32) and consumes it.
    fn array_header(&mut self) -> Result<usize, ReadError> {
        let c = self.peek()?;
        let n = match c {
            0x90..=0x9f => {
                self.pos += 1;
                usize::from(c & 0x0f)
            }
            0xdc => {
                self.pos += 1;
                self.len_u16()?
            }
            0xdd => {
                self.pos += 1;
                self.len_u32()?
            }
            _ => return Err(ReadError::Code(c)),
        };
        // MessagePack-CSharp refuses a count the remaining bytes cannot hold (one byte each).
        if n > self.remaining() {
            return Err(ReadError::EndOfData);
        }
        Ok(n)
    }

    fn map_header(&mut self) -> Result<usize, ReadError> {
        let c = self.peek()?;
        let n = match c {
            0x80..=0x8f => {
                self.pos += 1;
                usize::from(c & 0x0f)
            }
            0xde => {
                self.pos += 1;
                self.len_u16()?
            }
            0xdf => {
                self.pos += 1;
                self.len_u32()?
            }
            _ => return Err(ReadError::Code(c)),
        };
        if n.saturating_mul(2) > self.remaining() {
            return Err(ReadError::EndOfData);
        }
        Ok(n)
    }

    /// Reads any integer format as i128 (covers uint64 and int64).
    fn integer(&mut self) -> Result<i128, ReadError> {
        let c = self.peek()?;
        let v = match c {
            0x00..=0x7f => {
                self.pos += 1;
                i128::from(c)
            }
            0xe0..=0xff => {
                self.pos += 1;
                i128::from(c as i8)
            }
            0xcc => {
                self.pos += 1;
                i128::from(self.byte()?)
            }
            0xcd => {
                self.pos += 1;
                i128::from(u16::from_be_bytes(self.be()?))
            }
            0xce => {
                self.pos += 1;
                i128::from(u32::from_be_bytes(self.be()?))
            }
            0xcf => {
                self.pos += 1;
                i128::from(u64::from_be_bytes(self.be()?))
            }
            0xd0 => {
                self.pos += 1;
                i128::from(self.byte()? as i8)
            }
            0xd1 => {
                self.pos += 1;
                i128::from(i16::from_be_bytes(self.be()?))
            }
            0xd2 => {
                self.pos += 1;
                i128::from(i32::from_be_bytes(self.be()?))
            }
            0xd3 => {
                self.pos += 1;
                i128::from(i64::from_be_bytes(self.be()?))
            }
            _ => return Err(ReadError::Code(c)),
        };
        Ok(v)
    }

    fn int32(&mut self) -> Result<i32, ReadError> {
        i32::try_from(self.integer()?).map_err(|_| ReadError::Overflow)
    }

    fn int64(&mut self) -> Result<i64, ReadError> {
        i64::try_from(self.integer()?).map_err(|_| ReadError::Overflow)
    }

    fn boolean(&mut self) -> Result<bool, ReadError> {
        match self.peek()? {
            0xc2 => {
                self.pos += 1;
                Ok(false)
            }
            0xc3 => {
                self.pos += 1;
                Ok(true)
            }
            c => Err(ReadError::Code(c)),
        }
    }

    /// `ReadString`: nil → `None`, str → text (invalid UTF-8 replaced, as .NET's decoder does).
    fn string(&mut self) -> Result<Option<String>, ReadError> {
        let c = self.peek()?;
        let len = match c {
            0xc0 => {
                self.pos += 1;
                return Ok(None);
            }
            0xa0..=0xbf => {
                self.pos += 1;
                usize::from(c & 0x1f)
            }
            0xd9 => {
                self.pos += 1;
                self.len_u8()?
            }
            0xda => {
                self.pos += 1;
                self.len_u16()?
            }
            0xdb => {
                self.pos += 1;
                self.len_u32()?
            }
            _ => return Err(ReadError::Code(c)),
        };
        let bytes = self.take(len)?;
        Ok(Some(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }))
    }

    /// Any value, recursively, at most [`MAX_DEPTH`] deep. Collection sizes are bounded by the
    /// bytes left, so a forged count never drives an allocation.
    fn value(&mut self, depth: usize) -> Result<Value, ReadError> {
        let c = self.peek()?;
        Ok(match c {
            0xc0 => {
                self.pos += 1;
                Value::Null
            }
            0xc2 | 0xc3 => Value::Bool(self.boolean()?),
            0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => {
                let i = self.integer()?;
                match i64::try_from(i) {
                    Ok(v) => Value::Int(v),
                    Err(_) => Value::UInt(u64::try_from(i).map_err(|_| ReadError::Overflow)?),
                }
            }
            0xca => {
                self.pos += 1;
                Value::F32(f32::from_be_bytes(self.be()?))
            }
            0xcb => {
                self.pos += 1;
                Value::F64(f64::from_be_bytes(self.be()?))
            }
            0xa0..=0xbf | 0xd9..=0xdb => Value::String(self.string()?.unwrap_or_default()),
            0xc4..=0xc6 => {
                self.pos += 1;
                let len = match c {
                    0xc4 => self.len_u8()?,
                    0xc5 => self.len_u16()?,
                    _ => self.len_u32()?,
                };
                Value::Binary(self.take(len)?.to_vec())
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                if depth >= MAX_DEPTH {
                    return Err(ReadError::TooDeep);
                }
                let n = self.array_header()?;
                if n > self.remaining() {
                    return Err(ReadError::EndOfData);
                }
                let mut items = Vec::with_capacity(n.min(PREALLOC_LIMIT));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            0x80..=0x8f | 0xde | 0xdf => {
                if depth >= MAX_DEPTH {
                    return Err(ReadError::TooDeep);
                }
                let n = self.map_header()?;
                if n.saturating_mul(2) > self.remaining() {
                    return Err(ReadError::EndOfData);
                }
                let mut entries = Vec::with_capacity(n.min(PREALLOC_LIMIT));
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                }
                Value::Map(entries)
            }
            0xd4..=0xd8 | 0xc7..=0xc9 => {
                self.pos += 1;
                let len = match c {
                    0xd4 => 1,
                    0xd5 => 2,
                    0xd6 => 4,
                    0xd7 => 8,
                    0xd8 => 16,
                    0xc7 => self.len_u8()?,
                    0xc8 => self.len_u16()?,
                    _ => self.len_u32()?,
                };
                let ext_type = self.byte()? as i8;
                let data = self.take(len)?;
                match (ext_type, Timestamp::from_ext_payload(data)) {
                    (-1, Some(t)) => Value::Timestamp(t),
                    _ => Value::Ext(ext_type, data.to_vec()),
                }
            }
            _ => return Err(ReadError::Code(c)),
        })
    }
}

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

/// Reads the arguments array; `Err(text)` is a binding failure, not a connection error.
fn read_arguments(r: &mut Reader<'_>) -> Result<Vec<Value>, String> {
    let count = r
        .array_header()
        .map_err(|_| "Reading array length for 'arguments' failed.".to_owned())?;
    let mut args = Vec::with_capacity(count.min(PREALLOC_LIMIT));
    for i in 0..count {
        match r.value(1) {
            Ok(v) => args.push(v),
            Err(_) => {
                return Err(format!(
                    "Error binding argument {}. Make sure that the types of the provided values match the types of the hub method being invoked.",
                    i + 1
                ))
            }
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

// ---------------------------------------------------------------------------------------------
// Writing

/// Appends `msg` with its VarInt length prefix.
pub fn write_message(msg: &HubMessage, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(64);
    write_message_body(msg, &mut body);
    crate::framing::write_varint(body.len(), out);
    out.extend_from_slice(&body);
}

/// Appends `msg` without the length prefix.
pub fn write_message_body(msg: &HubMessage, out: &mut Vec<u8>) {
    match msg {
        HubMessage::Invocation(m) => {
            write_array_len(6, out);
            write_int(i64::from(message_type::INVOCATION), out);
            write_headers(&m.headers, out);
            match m.invocation_id.as_deref().filter(|id| !id.is_empty()) {
                Some(id) => write_str(id, out),
                None => out.push(0xc0),
            }
            write_str(&m.target, out);
            write_values(&m.arguments, out);
            write_stream_ids(m.stream_ids.as_deref(), out);
        }
        HubMessage::StreamInvocation(m) => {
            write_array_len(6, out);
            write_int(i64::from(message_type::STREAM_INVOCATION), out);
            write_headers(&m.headers, out);
            write_str(&m.invocation_id, out);
            write_str(&m.target, out);
            write_values(&m.arguments, out);
            write_stream_ids(m.stream_ids.as_deref(), out);
        }
        HubMessage::StreamItem(m) => {
            write_array_len(4, out);
            write_int(i64::from(message_type::STREAM_ITEM), out);
            write_headers(&m.headers, out);
            write_str(&m.invocation_id, out);
            write_value(&m.item, out);
        }
        HubMessage::Completion(m) => {
            let void = matches!(m.result, CompletionResult::Void);
            write_array_len(if void { 4 } else { 5 }, out);
            write_int(i64::from(message_type::COMPLETION), out);
            write_headers(&m.headers, out);
            write_str(&m.invocation_id, out);
            match &m.result {
                CompletionResult::Error(e) => {
                    write_int(1, out);
                    write_str(e, out);
                }
                CompletionResult::Void => write_int(2, out),
                CompletionResult::Value(v) => {
                    write_int(3, out);
                    write_value(v, out);
                }
            }
        }
        HubMessage::CancelInvocation(m) => {
            write_array_len(3, out);
            write_int(i64::from(message_type::CANCEL_INVOCATION), out);
            write_headers(&m.headers, out);
            write_str(&m.invocation_id, out);
        }
        HubMessage::Ping => {
            write_array_len(1, out);
            write_int(i64::from(message_type::PING), out);
        }
        HubMessage::Close(c) => {
            // The server always writes the 3-element form; an empty error is written as nil.
            write_array_len(3, out);
            write_int(i64::from(message_type::CLOSE), out);
            match c.error.as_deref().filter(|e| !e.is_empty()) {
                Some(e) => write_str(e, out),
                None => out.push(0xc0),
            }
            out.push(if c.allow_reconnect { 0xc3 } else { 0xc2 });
        }
        HubMessage::Ack(s) | HubMessage::Sequence(s) => {
            write_array_len(2, out);
            write_int(i64::from(msg.message_type()), out);
            write_int(s.sequence_id, out);
        }
    }
}

fn write_headers(headers: &Headers, out: &mut Vec<u8>) {
    write_map_len(headers.len(), out);
    for (k, v) in headers.iter() {
        write_str(k, out);
        write_str(v, out);
    }
}

fn write_stream_ids(ids: Option<&[String]>, out: &mut Vec<u8>) {
    let ids = ids.unwrap_or(&[]);
    write_array_len(ids.len(), out);
    for id in ids {
        write_str(id, out);
    }
}

fn write_values(values: &[Value], out: &mut Vec<u8>) {
    write_array_len(values.len(), out);
    for v in values {
        write_value(v, out);
    }
}

/// A value's MessagePack bytes.
pub fn value_to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(v, &mut out);
    out
}

/// Appends a value in its smallest MessagePack encoding.
pub fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Int(i) => write_int(*i, out),
        Value::UInt(u) => write_uint(*u, out),
        Value::F32(f) => {
            out.push(0xca);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::F64(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::String(s) => write_str(s, out),
        Value::Binary(b) => {
            let n = b.len();
            if n <= 0xff {
                out.push(0xc4);
                out.push(n as u8);
            } else if n <= 0xffff {
                out.push(0xc5);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xc6);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(b);
        }
        Value::Array(items) => write_values(items, out),
        Value::Map(entries) => {
            write_map_len(entries.len(), out);
            for (k, val) in entries {
                write_value(k, out);
                write_value(val, out);
            }
        }
        Value::Timestamp(t) => write_ext(-1, &t.to_ext_payload(), out),
        Value::Ext(ty, data) => write_ext(*ty, data, out),
    }
}

fn write_ext(ty: i8, data: &[u8], out: &mut Vec<u8>) {
    let n = data.len();
    match n {
        1 => out.push(0xd4),
        2 => out.push(0xd5),
        4 => out.push(0xd6),
        8 => out.push(0xd7),
        16 => out.push(0xd8),
        _ if n <= 0xff => {
            out.push(0xc7);
            out.push(n as u8);
        }
        _ if n <= 0xffff => {
            out.push(0xc8);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xc9);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    out.push(ty as u8);
    out.extend_from_slice(data);
}

fn write_array_len(n: usize, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(0x90 | n as u8);
    } else if n <= 0xffff {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn write_map_len(n: usize, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Appends a string (fixstr, str 8, str 16 or str 32).
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    let n = s.len();
    if n <= 31 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.push(0xd9);
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// Appends an integer the way MessagePack-CSharp writes an `Int64`: non-negative values in the
/// smallest unsigned form, negative values in the smallest signed form.
pub fn write_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        write_uint(i as u64, out);
    } else if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= i64::from(i8::MIN) {
        out.push(0xd0);
        out.push(i as i8 as u8);
    } else if i >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn write_uint(u: u64, out: &mut Vec<u8>) {
    if u <= 0x7f {
        out.push(u as u8);
    } else if u <= 0xff {
        out.push(0xcc);
        out.push(u as u8);
    } else if u <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_bytes() {
        let mut out = Vec::new();
        write_message_body(
            &HubMessage::invoke("xyz", "method", vec![Value::Int(42)]),
            &mut out,
        );
        assert_eq!(
            out,
            hex("96 01 80 A3 78 79 7A A6 6D 65 74 68 6F 64 91 2A 90")
        );
        let mut out = Vec::new();
        write_message_body(&HubMessage::close(None, false), &mut out);
        assert_eq!(out, hex("93 07 C0 C2"));
    }

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
