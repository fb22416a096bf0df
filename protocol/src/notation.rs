//! A lossless JSON notation for hub messages and values, shared by the wire inspector
//! (`conform decode` / `conform encode`), the codec fixtures and the conformance cases.
//!
//! Messages use the JSON hub protocol's field names with `type` as the number:
//! `{"type":1,"invocationId":"1","target":"Echo","arguments":["hi"]}`. Values JSON can express
//! natively are written natively; the others are tagged objects whose single key starts with `$`:
//!
//! | value | notation |
//! |---|---|
//! | MessagePack float32 | `{"$f32": 1.5}` (also `"NaN"`, `"Infinity"`, `"-Infinity"`) |
//! | non-finite float64 | `{"$f64": "NaN"}` |
//! | bin | `{"$bin": "<base64>"}` |
//! | timestamp (ext −1) | `{"$timestamp": "2018-01-01T11:24:00.5Z"}` (up to 9 fraction digits) |
//! | other extension | `{"$ext": <type>, "data": "<base64>"}` |
//! | map with a non-string, repeated or `$`-prefixed key | `{"$map": [[key, value], …]}` |
//!
//! Integers are JSON integers; a float64 is always written with a fraction or exponent
//! (`2.0`), so integers and floats stay apart. Anything that is not a message reads back as a
//! tagged object too: `{"type":99,"$ignored":true}` for an unknown type,
//! `{"type":1,…,"$bindingError":"…"}` for arguments that could not be read.

use base64::Engine as _;

use crate::message::{
    message_type, CancelInvocation, Close, Completion, CompletionResult, Headers, HubMessage,
    Invocation, InvocationKind, Parsed, SequenceId, StreamInvocation, StreamItem,
};
use crate::value::{Timestamp, Value};

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn tagged(tag: &str, v: Value) -> Value {
    Value::Map(vec![(Value::string(tag), v)])
}

fn float_note(f: f64) -> Value {
    if f.is_nan() {
        Value::string("NaN")
    } else if f.is_infinite() {
        Value::string(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Value::F64(f)
    }
}

fn timestamp_text(t: &Timestamp) -> String {
    let base = Timestamp {
        seconds: t.seconds,
        nanoseconds: 0,
    }
    .to_iso8601();
    if t.nanoseconds == 0 {
        return base;
    }
    let frac = format!("{:09}", t.nanoseconds);
    format!(
        "{}.{}Z",
        base.trim_end_matches('Z'),
        frac.trim_end_matches('0')
    )
}

/// A value in notation: a JSON-shaped [`Value`] (only null, booleans, integers, float64,
/// strings, arrays and string-keyed maps), with the other types as tagged maps.
pub fn value_to_notation(v: &Value) -> Value {
    match v {
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::String(_) => {
            v.clone()
        }
        Value::F32(f) => tagged("$f32", float_note(f64::from(*f))),
        Value::F64(f) if f.is_finite() => Value::F64(*f),
        Value::F64(f) => tagged("$f64", float_note(*f)),
        Value::Binary(b) => tagged("$bin", Value::String(b64(b))),
        // ISO 8601 text has 4-digit years; other instants keep their raw extension bytes.
        Value::Timestamp(t) if !(-62_135_596_800..253_402_300_800).contains(&t.seconds) => {
            value_to_notation(&Value::Ext(-1, t.to_ext_payload()))
        }
        Value::Timestamp(t) => tagged("$timestamp", Value::String(timestamp_text(t))),
        Value::Ext(ty, data) => Value::Map(vec![
            (Value::string("$ext"), Value::Int(i64::from(*ty))),
            (Value::string("data"), Value::String(b64(data))),
        ]),
        Value::Array(items) => Value::Array(items.iter().map(value_to_notation).collect()),
        Value::Map(entries) => {
            let mut seen = std::collections::HashSet::new();
            let plain = entries.iter().all(|(k, _)| match k {
                Value::String(s) => !s.starts_with('$') && seen.insert(s.as_str()),
                _ => false,
            });
            if plain {
                Value::Map(
                    entries
                        .iter()
                        .map(|(k, val)| (k.clone(), value_to_notation(val)))
                        .collect(),
                )
            } else {
                tagged(
                    "$map",
                    Value::Array(
                        entries
                            .iter()
                            .map(|(k, val)| {
                                Value::Array(vec![value_to_notation(k), value_to_notation(val)])
                            })
                            .collect(),
                    ),
                )
            }
        }
    }
}

fn parse_float(v: &Value, what: &str) -> Result<f64, String> {
    match v {
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(format!(
                "{what}: expected a number, \"NaN\", \"Infinity\" or \"-Infinity\""
            )),
        },
        other => other
            .as_f64()
            .ok_or_else(|| format!("{what}: expected a number")),
    }
}

fn unb64(v: Option<&Value>, what: &str) -> Result<Vec<u8>, String> {
    let text = v
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: expected a base64 string"))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("{what}: invalid base64 ({e})"))
}

/// A value from notation (the inverse of [`value_to_notation`]).
pub fn value_from_notation(v: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::Array(a) => Value::Array(
            a.iter()
                .map(value_from_notation)
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => {
            let tag = entries.iter().find_map(|(k, _)| match k {
                Value::String(s) if s.starts_with('$') => Some(s.as_str()),
                _ => None,
            });
            let get = |key: &str| v.get(key, false);
            match tag {
                None => Value::Map(
                    entries
                        .iter()
                        .map(|(k, val)| Ok((k.clone(), value_from_notation(val)?)))
                        .collect::<Result<_, String>>()?,
                ),
                Some("$f32") => {
                    Value::F32(parse_float(get("$f32").unwrap_or(&Value::Null), "$f32")? as f32)
                }
                Some("$f64") => {
                    Value::F64(parse_float(get("$f64").unwrap_or(&Value::Null), "$f64")?)
                }
                Some("$bin") => Value::Binary(unb64(get("$bin"), "$bin")?),
                Some("$timestamp") => {
                    let text = get("$timestamp")
                        .and_then(Value::as_str)
                        .ok_or("$timestamp: expected an ISO 8601 string")?;
                    Value::Timestamp(Timestamp::parse_iso8601(text).ok_or_else(|| {
                        format!("$timestamp: '{text}' is not YYYY-MM-DDTHH:MM:SS[.fffffffff]Z")
                    })?)
                }
                Some("$ext") => {
                    let ty = get("$ext")
                        .and_then(Value::as_i64)
                        .and_then(|t| i8::try_from(t).ok())
                        .ok_or("$ext: expected an extension type from -128 to 127")?;
                    let data = unb64(get("data"), "$ext data")?;
                    // Read back the way the MessagePack reader reads extension -1.
                    match (ty, Timestamp::from_ext_payload(&data)) {
                        (-1, Some(t)) => Value::Timestamp(t),
                        _ => Value::Ext(ty, data),
                    }
                }
                Some("$map") => {
                    let pairs = get("$map")
                        .and_then(Value::as_array)
                        .ok_or("$map: expected an array of pairs")?;
                    Value::Map(
                        pairs
                            .iter()
                            .map(|p| match p.as_array() {
                                Some([k, val]) => {
                                    Ok((value_from_notation(k)?, value_from_notation(val)?))
                                }
                                _ => Err("$map: each entry must be [key, value]".to_owned()),
                            })
                            .collect::<Result<_, String>>()?,
                    )
                }
                Some(other) => {
                    return Err(format!(
                    "unknown tag '{other}' (expected $f32, $f64, $bin, $timestamp, $ext or $map)"
                ))
                }
            }
        }
        other => other.clone(),
    })
}

/// Builds a string-keyed map in the given order.
struct Obj(Vec<(Value, Value)>);

impl Obj {
    fn new(message_type: i64) -> Self {
        Obj(vec![(Value::string("type"), Value::Int(message_type))])
    }
    fn put(&mut self, k: &str, v: Value) {
        self.0.push((Value::string(k), v));
    }
    fn headers(&mut self, h: &Headers) {
        if !h.is_empty() {
            self.put(
                "headers",
                Value::Map(
                    h.iter()
                        .map(|(k, v)| (Value::string(k), Value::string(v)))
                        .collect(),
                ),
            );
        }
    }
    fn strings(&mut self, k: &str, items: &[String]) {
        self.put(
            k,
            Value::Array(items.iter().map(|s| Value::string(s.as_str())).collect()),
        );
    }
    fn values(&mut self, k: &str, items: &[Value]) {
        self.put(
            k,
            Value::Array(items.iter().map(value_to_notation).collect()),
        );
    }
}

/// A message in notation (keys in the JSON hub protocol's order).
pub fn message_to_notation(msg: &HubMessage) -> Value {
    let mut o = Obj::new(i64::from(msg.message_type()));
    if let Some(h) = msg.headers() {
        o.headers(h);
    }
    match msg {
        HubMessage::Invocation(i) => {
            if let Some(id) = &i.invocation_id {
                o.put("invocationId", Value::string(id.as_str()));
            }
            o.put("target", Value::string(i.target.as_str()));
            o.values("arguments", &i.arguments);
            if let Some(ids) = &i.stream_ids {
                o.strings("streamIds", ids);
            }
        }
        HubMessage::StreamInvocation(i) => {
            o.put("invocationId", Value::string(i.invocation_id.as_str()));
            o.put("target", Value::string(i.target.as_str()));
            o.values("arguments", &i.arguments);
            if let Some(ids) = &i.stream_ids {
                o.strings("streamIds", ids);
            }
        }
        HubMessage::StreamItem(s) => {
            o.put("invocationId", Value::string(s.invocation_id.as_str()));
            o.put("item", value_to_notation(&s.item));
        }
        HubMessage::Completion(c) => {
            o.put("invocationId", Value::string(c.invocation_id.as_str()));
            match &c.result {
                CompletionResult::Void => {}
                CompletionResult::Value(v) => o.put("result", value_to_notation(v)),
                CompletionResult::Error(e) => o.put("error", Value::string(e.as_str())),
            }
        }
        HubMessage::CancelInvocation(c) => {
            o.put("invocationId", Value::string(c.invocation_id.as_str()))
        }
        HubMessage::Ping => {}
        HubMessage::Close(c) => {
            if let Some(e) = &c.error {
                o.put("error", Value::string(e.as_str()));
            }
            if c.allow_reconnect {
                o.put("allowReconnect", Value::Bool(true));
            }
        }
        HubMessage::Ack(s) | HubMessage::Sequence(s) => {
            o.put("sequenceId", Value::Int(s.sequence_id))
        }
    }
    Value::Map(o.0)
}

/// A decoder outcome in notation (see the module docs for the non-message forms).
pub fn parsed_to_notation(p: &Parsed) -> Value {
    match p {
        Parsed::Message(m) => message_to_notation(m),
        Parsed::UnknownType(t) => {
            let mut o = Obj::new(*t);
            o.put("$ignored", Value::Bool(true));
            Value::Map(o.0)
        }
        Parsed::InvocationBindingFailure {
            kind,
            invocation_id,
            target,
            headers,
            error,
        } => {
            let mut o = Obj::new(i64::from(match kind {
                InvocationKind::Invocation => message_type::INVOCATION,
                InvocationKind::StreamInvocation => message_type::STREAM_INVOCATION,
            }));
            o.headers(headers);
            if let Some(id) = invocation_id {
                o.put("invocationId", Value::string(id.as_str()));
            }
            o.put("target", Value::string(target.as_str()));
            o.put("$bindingError", Value::string(error.as_str()));
            Value::Map(o.0)
        }
        Parsed::StreamBindingFailure {
            invocation_id,
            error,
        } => {
            let mut o = Obj::new(i64::from(message_type::STREAM_ITEM));
            o.put("invocationId", Value::string(invocation_id.as_str()));
            o.put("$bindingError", Value::string(error.as_str()));
            Value::Map(o.0)
        }
    }
}

/// One line of notation text for a decoder outcome.
pub fn parsed_to_text(p: &Parsed) -> String {
    crate::json::value_to_string(&parsed_to_notation(p))
}

/// One line of notation text for a message.
pub fn message_to_text(m: &HubMessage) -> String {
    crate::json::value_to_string(&message_to_notation(m))
}

/// Parses notation text (one JSON value) into a message.
pub fn message_from_text(text: &str) -> Result<HubMessage, String> {
    let v = crate::json::parse_value(text.as_bytes()).map_err(|e| match e.detail() {
        Some(d) => format!("not valid JSON: {d}"),
        None => format!("not valid JSON: {e}"),
    })?;
    message_from_notation(&v)
}

fn entry<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key, false)
}

fn get_str(v: &Value, key: &str) -> Result<Option<String>, String> {
    match entry(v, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

fn need_str(v: &Value, key: &str) -> Result<String, String> {
    get_str(v, key)?.ok_or_else(|| format!("missing '{key}'"))
}

fn get_headers(v: &Value) -> Result<Headers, String> {
    match entry(v, "headers") {
        None => Ok(Headers::new()),
        Some(Value::Map(h)) => h
            .iter()
            .map(|(k, val)| match (k, val) {
                (Value::String(k), Value::String(val)) => Ok((k.clone(), val.clone())),
                _ => Err("'headers' must map strings to strings".to_owned()),
            })
            .collect(),
        Some(_) => Err("'headers' must be an object of strings".into()),
    }
}

fn get_arguments(v: &Value) -> Result<Vec<Value>, String> {
    match entry(v, "arguments") {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(value_from_notation).collect(),
        Some(_) => Err("'arguments' must be an array".into()),
    }
}

fn get_stream_ids(v: &Value) -> Result<Option<Vec<String>>, String> {
    match entry(v, "streamIds") {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "'streamIds' must hold strings".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("'streamIds' must be an array".into()),
    }
}

const KNOWN_KEYS: &[&str] = &[
    "type",
    "headers",
    "invocationId",
    "target",
    "arguments",
    "streamIds",
    "item",
    "result",
    "error",
    "allowReconnect",
    "sequenceId",
];

/// A message from notation. `arguments` and `headers` may be left out; the error names the
/// first thing that is wrong.
pub fn message_from_notation(v: &Value) -> Result<HubMessage, String> {
    let Value::Map(entries) = v else {
        return Err("a message must be a JSON object".into());
    };
    for (k, _) in entries {
        match k {
            Value::String(k) if KNOWN_KEYS.contains(&k.as_str()) => {}
            Value::String(k) => return Err(format!("unknown property '{k}'")),
            _ => return Err("property names must be strings".into()),
        }
    }
    let ty = entry(v, "type")
        .and_then(Value::as_i64)
        .ok_or("missing or non-integer 'type'")?;
    let ty = i32::try_from(ty).map_err(|_| format!("type {ty} is out of range"))?;
    Ok(match ty {
        message_type::INVOCATION => HubMessage::Invocation(Invocation {
            headers: get_headers(v)?,
            invocation_id: get_str(v, "invocationId")?,
            target: need_str(v, "target")?,
            arguments: get_arguments(v)?,
            stream_ids: get_stream_ids(v)?,
        }),
        message_type::STREAM_INVOCATION => HubMessage::StreamInvocation(StreamInvocation {
            headers: get_headers(v)?,
            invocation_id: need_str(v, "invocationId")?,
            target: need_str(v, "target")?,
            arguments: get_arguments(v)?,
            stream_ids: get_stream_ids(v)?,
        }),
        message_type::STREAM_ITEM => HubMessage::StreamItem(StreamItem {
            headers: get_headers(v)?,
            invocation_id: need_str(v, "invocationId")?,
            item: value_from_notation(entry(v, "item").ok_or("missing 'item'")?)?,
        }),
        message_type::COMPLETION => HubMessage::Completion(Completion {
            headers: get_headers(v)?,
            invocation_id: need_str(v, "invocationId")?,
            result: match (entry(v, "error"), entry(v, "result")) {
                (Some(_), Some(_)) => return Err("'error' and 'result' are exclusive".into()),
                (Some(e), None) => CompletionResult::Error(
                    e.as_str().ok_or("'error' must be a string")?.to_owned(),
                ),
                (None, Some(r)) => CompletionResult::Value(value_from_notation(r)?),
                (None, None) => CompletionResult::Void,
            },
        }),
        message_type::CANCEL_INVOCATION => HubMessage::CancelInvocation(CancelInvocation {
            headers: get_headers(v)?,
            invocation_id: need_str(v, "invocationId")?,
        }),
        message_type::PING => HubMessage::Ping,
        message_type::CLOSE => HubMessage::Close(Close {
            error: get_str(v, "error")?,
            allow_reconnect: match entry(v, "allowReconnect") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err("'allowReconnect' must be a boolean".into()),
            },
        }),
        message_type::ACK | message_type::SEQUENCE => {
            let s = SequenceId {
                sequence_id: entry(v, "sequenceId")
                    .and_then(Value::as_i64)
                    .ok_or("missing or non-integer 'sequenceId'")?,
            };
            if ty == message_type::ACK {
                HubMessage::Ack(s)
            } else {
                HubMessage::Sequence(s)
            }
        }
        other => return Err(format!("unknown message type {other} (1 to 9)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_values_round_trip() {
        let v = Value::Array(vec![
            Value::F32(1.5),
            Value::F64(2.0),
            Value::Int(2),
            Value::Binary(vec![1, 2, 3]),
            Value::Timestamp(Timestamp::new(1, 5).unwrap()),
            Value::Ext(5, vec![9]),
            Value::Map(vec![(Value::Int(1), Value::Null)]),
            Value::Map(vec![(Value::string("$bin"), Value::Null)]),
            Value::Map(vec![
                (Value::string("b"), Value::Bool(true)),
                (Value::string("a"), Value::Null),
            ]),
            Value::F64(f64::INFINITY),
        ]);
        let text = crate::json::value_to_string(&value_to_notation(&v));
        assert!(text.contains("2.0"), "{text}");
        assert!(text.contains(r#"{"b":true,"a":null}"#), "{text}");
        let parsed = crate::json::parse_value(text.as_bytes()).unwrap();
        assert_eq!(value_from_notation(&parsed).unwrap(), v);
    }

    #[test]
    fn message_round_trip() {
        let m = HubMessage::invoke("1", "Echo", vec![Value::string("x")]);
        let text = message_to_text(&m);
        assert_eq!(
            text,
            r#"{"type":1,"invocationId":"1","target":"Echo","arguments":["x"]}"#
        );
        assert_eq!(message_from_text(&text).unwrap(), m);
        assert_eq!(
            message_from_text(r#"{"type": 1, "target": "x", "bogus": 1}"#).unwrap_err(),
            "unknown property 'bogus'"
        );
    }
}
