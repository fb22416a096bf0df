//! Writing: messages and values in MessagePack-CSharp's bytes (the smallest form of each).

use crate::framing;
use crate::message::{message_type, CompletionResult, Headers, HubMessage};
use crate::value::Value;

/// Appends `msg` with its VarInt length prefix.
pub fn write_message(msg: &HubMessage, out: &mut Vec<u8>) {
    // The body is written in place behind a one-byte prefix (enough below 128 bytes), which is
    // widened afterwards if the body is longer: no separate body buffer to fill and copy.
    let start = out.len();
    out.push(0);
    write_message_body(msg, out);
    let len = out.len() - start - 1;
    let (prefix, n) = framing::varint(len);
    if n > 1 {
        out.resize(out.len() + n - 1, 0);
        out.copy_within(start + 1..start + 1 + len, start + n);
    }
    if let (Some(dst), Some(src)) = (out.get_mut(start..start + n), prefix.get(..n)) {
        dst.copy_from_slice(src);
    }
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
    use crate::msgpack::hex;

    #[test]
    fn prefix_widens_in_place() {
        for len in [0, 100, 120, 200, 20_000, 3_000_000] {
            let msg = HubMessage::invoke("1", "T", vec![Value::String("x".repeat(len))]);
            let mut body = Vec::new();
            write_message_body(&msg, &mut body);
            let mut expected = b"before".to_vec();
            framing::write_varint(body.len(), &mut expected);
            expected.extend_from_slice(&body);
            let mut out = b"before".to_vec();
            write_message(&msg, &mut out);
            assert_eq!(out, expected, "{len}");
        }
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
}
