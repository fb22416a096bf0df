//! Writing: messages and values as ASP.NET Core's JSON hub protocol writes them.

use std::fmt;

use base64::Engine as _;

use crate::message::{CompletionResult, Headers, HubMessage};
use crate::scan;
use crate::value::Value;

/// Appends `msg` as ASP.NET Core writes it, followed by the record separator.
pub fn write_message(msg: &HubMessage, out: &mut Vec<u8>) {
    write_message_body(msg, out);
    out.push(crate::framing::RECORD_SEPARATOR);
}

/// Appends `msg` without the record separator.
pub fn write_message_body(msg: &HubMessage, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":");
    write_i64(i64::from(msg.message_type()), out);
    match msg {
        HubMessage::Invocation(m) => {
            write_headers(&m.headers, out);
            write_invocation_id(m.invocation_id.as_deref(), out);
            write_target_arguments(&m.target, &m.arguments, m.stream_ids.as_deref(), out);
        }
        HubMessage::StreamInvocation(m) => {
            write_headers(&m.headers, out);
            write_invocation_id(Some(&m.invocation_id), out);
            write_target_arguments(&m.target, &m.arguments, m.stream_ids.as_deref(), out);
        }
        HubMessage::StreamItem(m) => {
            write_headers(&m.headers, out);
            write_invocation_id(Some(&m.invocation_id), out);
            out.extend_from_slice(b",\"item\":");
            write_value(&m.item, out);
        }
        HubMessage::Completion(m) => {
            write_headers(&m.headers, out);
            write_invocation_id(Some(&m.invocation_id), out);
            match &m.result {
                // An empty error is written as nothing at all, as ASP.NET Core does.
                CompletionResult::Error(e) if !e.is_empty() => {
                    out.extend_from_slice(b",\"error\":");
                    write_str(e, out);
                }
                CompletionResult::Value(v) => {
                    out.extend_from_slice(b",\"result\":");
                    write_value(v, out);
                }
                _ => {}
            }
        }
        HubMessage::CancelInvocation(m) => {
            write_headers(&m.headers, out);
            write_invocation_id(Some(&m.invocation_id), out);
        }
        HubMessage::Ping => {}
        HubMessage::Close(c) => {
            if let Some(e) = &c.error {
                out.extend_from_slice(b",\"error\":");
                write_str(e, out);
            }
            if c.allow_reconnect {
                out.extend_from_slice(b",\"allowReconnect\":true");
            }
        }
        HubMessage::Ack(s) | HubMessage::Sequence(s) => {
            out.extend_from_slice(b",\"sequenceId\":");
            write_i64(s.sequence_id, out);
        }
    }
    out.push(b'}');
}

fn write_headers(headers: &Headers, out: &mut Vec<u8>) {
    if headers.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"headers\":{");
    for (i, (k, v)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write_str(v, out);
    }
    out.push(b'}');
}

fn write_invocation_id(id: Option<&str>, out: &mut Vec<u8>) {
    if let Some(id) = id.filter(|id| !id.is_empty()) {
        out.extend_from_slice(b",\"invocationId\":");
        write_str(id, out);
    }
}

fn write_target_arguments(
    target: &str,
    arguments: &[Value],
    stream_ids: Option<&[String]>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b",\"target\":");
    write_str(target, out);
    out.extend_from_slice(b",\"arguments\":");
    write_array(arguments, out, write_value);
    if let Some(ids) = stream_ids {
        out.extend_from_slice(b",\"streamIds\":");
        write_array(ids, out, |id, out| write_str(id, out));
    }
}

/// A JSON array of `items`, each written by `write`.
fn write_array<T>(items: &[T], out: &mut Vec<u8>, write: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

/// A value's JSON text as the JSON hub protocol writes it.
pub fn value_to_string(v: &Value) -> String {
    String::from_utf8_lossy(&value_to_vec(v)).into_owned()
}

/// A value's JSON text as the JSON hub protocol writes it.
pub fn value_to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(v, &mut out);
    out
}

/// Appends a value's JSON text (bin → base64, timestamp → ISO 8601, other ext → base64 of data).
pub fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => write_i64(*i, out),
        Value::UInt(u) => write_u64(*u, out),
        Value::F32(f) => write_float(f64::from(*f), Some(*f), out),
        Value::F64(f) => write_float(*f, None, out),
        Value::String(s) => write_str(s, out),
        Value::Binary(b) => write_base64(b, out),
        Value::Timestamp(t) => write_str(&t.to_iso8601(), out),
        Value::Ext(_, data) => write_base64(data, out),
        Value::Array(items) => write_array(items, out, write_value),
        Value::Map(entries) => {
            out.push(b'{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match k {
                    Value::String(s) => write_str(s, out),
                    other => {
                        let text = value_to_vec(other);
                        write_str(&String::from_utf8_lossy(&text), out)
                    }
                }
                out.push(b':');
                write_value(val, out);
            }
            out.push(b'}');
        }
    }
}

fn write_i64(i: i64, out: &mut Vec<u8>) {
    if i < 0 {
        out.push(b'-');
    }
    write_u64(i.unsigned_abs(), out);
}

fn write_u64(mut u: u64, out: &mut Vec<u8>) {
    // Digits from the right; u64::MAX has 20.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (u % 10) as u8;
        }
        u /= 10;
        if u == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

fn write_float(f: f64, as_f32: Option<f32>, out: &mut Vec<u8>) {
    if !f.is_finite() {
        // System.Text.Json refuses non-finite numbers; null is the closest JSON can say.
        out.extend_from_slice(b"null");
        return;
    }
    let start = out.len();
    let written = match as_f32 {
        Some(f32v) => serde_json::to_writer(&mut *out, &f32v),
        None => serde_json::to_writer(&mut *out, &f),
    };
    if written.is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// A base64 string (standard alphabet, padded), encoded in place: it never needs escaping.
fn write_base64(data: &[u8], out: &mut Vec<u8>) {
    let engine = &base64::engine::general_purpose::STANDARD;
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    match engine.encode_slice(data, out.get_mut(start..).unwrap_or_default()) {
        Ok(written) => out.truncate(start + written),
        Err(_) => {
            out.truncate(start);
            out.extend_from_slice(engine.encode(data).as_bytes());
        }
    }
    out.push(b'"');
}

/// Whether System.Text.Json's relaxed encoder escapes this byte.
const fn needs_escape(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20) | (b == 0x7f)
}

/// [`needs_escape`], or a byte past ASCII: `b + 1`, compared signed, is below 0x21 for control
/// characters, 0x7f and everything past ASCII, so the block test has three compares, not four.
const fn needs_escape_or_non_ascii(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | ((b.wrapping_add(1) as i8) < 0x21)
}

/// The index of the first byte at or after `from` that [`needs_escape`], or `bytes.len()`.
#[inline]
fn next_escape(bytes: &[u8], from: usize) -> usize {
    scan::position(bytes, from, needs_escape)
}

/// How many bytes at the start of a long string need no escaping, found with the cheaper ASCII
/// test 64 bytes a step (0.72 instead of 1.0 instructions a byte): a long plain string, the
/// usual echo, is copied after this one scan. It stops at the first byte past ASCII as well;
/// the exact scan takes over from there. Kept out of line and out of [`write_str`]'s loop: in
/// the loop it made rich text (escapes between non-ASCII characters) 7 % slower to write.
#[inline(never)]
fn plain_ascii_prefix(bytes: &[u8]) -> usize {
    scan::position_by_mask_wide(bytes, 0, needs_escape_or_non_ascii)
}

/// Appends a JSON string with System.Text.Json's relaxed escaping: `"` and `\` escaped, control
/// characters as `\b \f \n \r \t` or `\u00XX` (upper-case hex), everything else verbatim.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    if bytes.len() >= 64 {
        start = plain_ascii_prefix(bytes);
        out.extend_from_slice(bytes.get(..start).unwrap_or_default());
    }
    loop {
        let i = next_escape(bytes, start);
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        let Some(&b) = bytes.get(i) else {
            break;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.push(b'"');
}

impl Value {
    /// Converts to `serde_json::Value` the way the JSON hub protocol writes this value
    /// (bin → base64, timestamp → ISO 8601 string, other extensions → base64 of their data).
    pub fn to_json(&self) -> serde_json::Value {
        match serde_json::from_slice(&value_to_vec(self)) {
            Ok(v) => v,
            Err(_) => serde_json::Value::Null,
        }
    }
}

impl fmt::Display for Value {
    /// Compact JSON text (the JSON hub protocol's rendering).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = value_to_vec(self);
        f.write_str(&String::from_utf8_lossy(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time escaper this module had before the word-at-a-time one.
    fn write_str_reference(s: &str, out: &mut Vec<u8>) {
        out.push(b'"');
        for &b in s.as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                0x00..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04X}").as_bytes()),
                _ => out.push(b),
            }
        }
        out.push(b'"');
    }

    #[test]
    fn escaping_matches_the_reference_at_every_offset() {
        let specials = [
            "\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{c}", "\u{0}", "\u{1e}", "\u{7f}", "é", "😀",
        ];
        for pad in 0..70 {
            for s in specials {
                for tail in ["", "abc", "abcdefghijk"] {
                    let text = format!("{}{s}{tail}{s}", "x".repeat(pad));
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    write_str(&text, &mut a);
                    write_str_reference(&text, &mut b);
                    assert_eq!(a, b, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn escapes_after_non_ascii_text_match_the_reference() {
        // Once past a non-ASCII character the writer scans exactly: escapes before and after.
        for pad in 0..70 {
            let x = "x".repeat(pad);
            for text in [
                format!("{x}\"é{x}\\{x}\u{7f}日本{x}\n😀\u{1}{x}"),
                format!("é{x}\u{7f}{x}\"{x}"),
                format!("{x}\t{x}€{x}"),
            ] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                write_str(&text, &mut a);
                write_str_reference(&text, &mut b);
                assert_eq!(a, b, "{text:?}");
            }
        }
    }

    #[test]
    fn numbers_and_base64() {
        let text = |v: Value| String::from_utf8(value_to_vec(&v)).unwrap();
        for i in [0, 7, -7, 10, -10, i64::MAX, i64::MIN, 1_000_000] {
            assert_eq!(text(Value::Int(i)), i.to_string());
        }
        assert_eq!(text(Value::UInt(u64::MAX)), u64::MAX.to_string());
        assert_eq!(text(Value::F64(1.5)), "1.5");
        assert_eq!(text(Value::F64(1e300)), "1e+300");
        assert_eq!(text(Value::F32(0.1)), "0.1");
        assert_eq!(text(Value::F64(f64::NAN)), "null");
        assert_eq!(text(Value::Binary(vec![])), "\"\"");
        assert_eq!(text(Value::Binary(vec![1, 2, 3, 4])), "\"AQIDBA==\"");
        assert_eq!(text(Value::Ext(5, vec![0xff])), "\"/w==\"");
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        write_str("a\"b\\c\n\u{1e}é<", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\n\\u001Eé<\""
        );
    }
}
