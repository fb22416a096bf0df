//! A bounds-checked cursor over one payload that reads MessagePack primitives and values, with
//! MessagePack-CSharp's failure kinds and texts.

use super::MAX_DEPTH;
use crate::value::{Timestamp, Value};

/// Most elements reserved up front for one array or map (more grow as they are read).
pub(super) const PREALLOC_LIMIT: usize = 64;

/// Why a primitive read failed (wrapped into a field-specific text by the caller).
#[derive(Debug)]
pub(super) enum ReadError {
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
    pub(super) fn exception(&self) -> &'static str {
        match self {
            ReadError::EndOfData => "EndOfStreamException",
            ReadError::Code(_) | ReadError::TooDeep => "MessagePackSerializationException",
            ReadError::Overflow => "OverflowException",
        }
    }

    /// MessagePack-CSharp's own text for this failure (used when ASP.NET Core does not wrap it).
    pub(super) fn text(&self) -> String {
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
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(super) fn remaining(&self) -> usize {
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
    pub(super) fn array_header(&mut self) -> Result<usize, ReadError> {
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

    pub(super) fn map_header(&mut self) -> Result<usize, ReadError> {
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

    pub(super) fn int32(&mut self) -> Result<i32, ReadError> {
        i32::try_from(self.integer()?).map_err(|_| ReadError::Overflow)
    }

    pub(super) fn int64(&mut self) -> Result<i64, ReadError> {
        i64::try_from(self.integer()?).map_err(|_| ReadError::Overflow)
    }

    pub(super) fn boolean(&mut self) -> Result<bool, ReadError> {
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
    pub(super) fn string(&mut self) -> Result<Option<String>, ReadError> {
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
    pub(super) fn value(&mut self, depth: usize) -> Result<Value, ReadError> {
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
