//! Writing: messages and values as ASP.NET Core's JSON hub protocol writes them.

use std::fmt;

use base64::Engine as _;

use crate::message::{CompletionResult, Headers, HubMessage};
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
    out.extend_from_slice(b",\"arguments\":[");
    for (i, a) in arguments.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(a, out);
    }
    out.push(b']');
    if let Some(ids) = stream_ids {
        out.extend_from_slice(b",\"streamIds\":[");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(id, out);
        }
        out.push(b']');
    }
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
        Value::UInt(u) => {
            use std::io::Write as _;
            let _ = write!(out, "{u}");
        }
        Value::F32(f) => write_float(f64::from(*f), Some(*f), out),
        Value::F64(f) => write_float(*f, None, out),
        Value::String(s) => write_str(s, out),
        Value::Binary(b) => write_str(&base64::engine::general_purpose::STANDARD.encode(b), out),
        Value::Timestamp(t) => write_str(&t.to_iso8601(), out),
        Value::Ext(_, data) => {
            write_str(&base64::engine::general_purpose::STANDARD.encode(data), out)
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
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
    use std::io::Write as _;
    let _ = write!(out, "{i}");
}

fn write_float(f: f64, as_f32: Option<f32>, out: &mut Vec<u8>) {
    if !f.is_finite() {
        // System.Text.Json refuses non-finite numbers; null is the closest JSON can say.
        out.extend_from_slice(b"null");
        return;
    }
    let text = match as_f32 {
        Some(f32v) => serde_json::to_string(&f32v),
        None => serde_json::to_string(&f),
    };
    match text {
        Ok(t) => out.extend_from_slice(t.as_bytes()),
        Err(_) => out.extend_from_slice(b"null"),
    }
}

/// Appends a JSON string with System.Text.Json's relaxed escaping: `"` and `\` escaped, control
/// characters as `\b \f \n \r \t` or `\u00XX` (upper-case hex), everything else verbatim.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0x00..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
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
