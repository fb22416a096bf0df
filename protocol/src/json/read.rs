//! Reading: JSON payloads into messages and values, with ASP.NET Core's checks and texts.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::fast;
use super::fields::Fields;
use super::MAX_DEPTH;
use crate::error::{texts, Layer, ProtocolError};
use crate::message::{Headers, Parsed};
use crate::value::Value;

/// Marker prefixes used to carry non-`InvalidDataException` errors through serde's error type.
const SYNTAX_MARK: &str = "\u{1}syntax:";
const FORMAT_MARK: &str = "\u{1}format:";
const INVALID_OP_MARK: &str = "\u{1}invalidop:";

/// Parses one message payload (the bytes before the record separator).
pub fn parse_message(payload: &[u8]) -> Result<Parsed, ProtocolError> {
    // Well-formed payloads take the direct reader; the rest get serde_json's error handling.
    if let Some(fields) = fast::read_fields(payload) {
        return fields.into_parsed();
    }
    parse_message_reference(payload)
}

/// [`parse_message`] without the direct reader: serde_json under visitors (tests compare the two).
#[doc(hidden)]
pub fn parse_message_reference(payload: &[u8]) -> Result<Parsed, ProtocolError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let fields = match de.deserialize_any(MessageVisitor) {
        Ok(f) => f,
        Err(e) => return Err(map_serde_error(&e, Layer::Json)),
    };
    fields.into_parsed()
}

/// Turns a serde_json error into ASP.NET Core's exception and text.
pub(crate) fn map_serde_error(e: &serde_json::Error, layer: Layer) -> ProtocolError {
    use serde_json::error::Category;
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    match e.classify() {
        Category::Data => {
            if let Some(rest) = msg.strip_prefix(SYNTAX_MARK) {
                ProtocolError::invalid_data(layer, texts::ERROR_READING_JSON).with_detail(rest)
            } else if let Some(rest) = msg.strip_prefix(FORMAT_MARK) {
                ProtocolError::new(layer, "FormatException", rest)
            } else if let Some(rest) = msg.strip_prefix(INVALID_OP_MARK) {
                ProtocolError::new(layer, "InvalidOperationException", rest)
            } else {
                ProtocolError::invalid_data(layer, msg)
            }
        }
        _ => ProtocolError::invalid_data(layer, texts::ERROR_READING_JSON).with_detail(full),
    }
}

fn custom<E: de::Error>(msg: impl fmt::Display) -> E {
    E::custom(msg)
}

/// Implements the scalar `visit_*` methods of a visitor by handing the token to `self.other`.
macro_rules! reject_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            self.other(Token::Bool(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.other(Token::Int(i128::from(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.other(Token::Int(i128::from(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            {
                let _ = v;
                self.other(Token::Float)
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            self.other(Token::Str(v.to_owned()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.other(Token::Null)
        }
    };
}

/// One JSON token as `Utf8JsonReader` sees it after `Read()`; containers are not entered.
#[derive(Debug)]
enum Token {
    Null,
    Bool(bool),
    Int(i128),
    Float,
    Str(String),
    StartArray,
    StartObject,
}

impl Token {
    /// System.Text.Json's `JsonTokenType` name.
    fn name(&self) -> &'static str {
        match self {
            Token::Null => "Null",
            Token::Bool(true) => "True",
            Token::Bool(false) => "False",
            Token::Int(_) | Token::Float => "Number",
            Token::Str(_) => "String",
            Token::StartArray => "StartArray",
            Token::StartObject => "StartObject",
        }
    }
}

/// Reads one token and converts it with a closure whose `Err` text becomes the error.
struct Scalar<F>(F);

impl<'de, T, F: FnOnce(Token) -> Result<T, String>> DeserializeSeed<'de> for Scalar<F> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T, F: FnOnce(Token) -> Result<T, String>> Visitor<'de> for Scalar<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON token")
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        self.other(Token::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<T, A::Error> {
        self.other(Token::StartArray)
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<T, A::Error> {
        self.other(Token::StartObject)
    }
    reject_scalars!();
}

impl<T, F: FnOnce(Token) -> Result<T, String>> Scalar<F> {
    fn other<E: de::Error>(self, t: Token) -> Result<T, E> {
        (self.0)(t).map_err(E::custom)
    }
}

/// `ReadAsString(name)`: a string, anything else (null included) is an error.
fn string_property(name: &'static str) -> Scalar<impl FnOnce(Token) -> Result<String, String>> {
    Scalar(move |t| match t {
        Token::Str(s) => Ok(s),
        _ => Err(format!("Expected '{name}' to be of type String.")),
    })
}

/// `ReadAsInt32/64(name)`: null → `None`; a number that is not an integer in range is a
/// `FormatException` from `GetInt32/64`.
fn int_property(
    name: &'static str,
    bits: u32,
) -> Scalar<impl FnOnce(Token) -> Result<Option<i64>, String>> {
    Scalar(move |t| {
        match t {
        Token::Null => Ok(None),
        Token::Int(v) if bits == 32 && i32::try_from(v).is_ok() => Ok(Some(v as i64)),
        Token::Int(v) if bits == 64 && i64::try_from(v).is_ok() => Ok(Some(v as i64)),
        Token::Int(_) | Token::Float => Err(format!(
            "{FORMAT_MARK}Either the JSON value is not in a supported format, or is out of bounds for an Int{bits}."
        )),
        _ => Err(format!("Expected '{name}' to be of type Number.")),
    }
    })
}

struct MessageVisitor;

impl MessageVisitor {
    fn other<E: de::Error>(self, t: Token) -> Result<Fields, E> {
        let name = match t {
            Token::StartArray => "Array",
            Token::StartObject => "Object",
            ref other => other.name(),
        };
        Err(custom(format_args!(
            "Unexpected JSON Token Type '{name}'. Expected a JSON Object."
        )))
    }
}

enum Field {
    Type,
    InvocationId,
    StreamIds,
    Target,
    Error,
    AllowReconnect,
    Result,
    Item,
    Arguments,
    Headers,
    SequenceId,
    Other,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(match v {
            "type" => Field::Type,
            "invocationId" => Field::InvocationId,
            "streamIds" => Field::StreamIds,
            "target" => Field::Target,
            "error" => Field::Error,
            "allowReconnect" => Field::AllowReconnect,
            "result" => Field::Result,
            "item" => Field::Item,
            "arguments" => Field::Arguments,
            "headers" => Field::Headers,
            "sequenceId" => Field::SequenceId,
            _ => Field::Other,
        })
    }
}

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Fields;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Type => match map.next_value_seed(int_property("type", 32))? {
                    Some(t) => f.message_type = Some(t as i32),
                    None => return Err(custom("Expected 'type' to be of type Number.")),
                },
                Field::InvocationId => {
                    f.invocation_id = Some(map.next_value_seed(string_property("invocationId"))?)
                }
                Field::Target => f.target = Some(map.next_value_seed(string_property("target"))?),
                Field::Error => f.error = Some(map.next_value_seed(string_property("error"))?),
                Field::AllowReconnect => {
                    f.allow_reconnect = map.next_value_seed(Scalar(|t| match t {
                        Token::Bool(b) => Ok(b),
                        _ => Err("Expected 'allowReconnect' to be true or false.".to_owned()),
                    }))?
                }
                Field::StreamIds => f.stream_ids = Some(map.next_value_seed(StreamIdsSeed)?),
                Field::Result => f.result = Some(map.next_value_seed(ValueSeed { depth: 1 })?),
                Field::Item => f.item = Some(map.next_value_seed(ValueSeed { depth: 1 })?),
                Field::Arguments => f.arguments = Some(map.next_value_seed(ArgumentsSeed)?),
                Field::Headers => f.headers = Some(map.next_value_seed(HeadersSeed)?),
                Field::SequenceId => {
                    f.sequence_id = map.next_value_seed(int_property("sequenceId", 64))?
                }
                Field::Other => map.next_value_seed(SkipSeed { depth: 1 })?,
            }
        }
        Ok(f)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Fields, A::Error> {
        self.other(Token::StartArray)
    }

    reject_scalars!();
}

struct StreamIdsSeed;

impl StreamIdsSeed {
    fn other<E: de::Error>(self, _t: Token) -> Result<Vec<String>, E> {
        Err(custom("Expected 'streamIds' to be of type Array."))
    }
}

impl<'de> DeserializeSeed<'de> for StreamIdsSeed {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StreamIdsSeed {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut ids = Vec::new();
        // `Utf8JsonReader.GetString()` on another token type throws InvalidOperationException.
        while let Some(id) = seq.next_element_seed(Scalar(|t| match t {
            Token::Str(s) => Ok(s),
            Token::Null => Err("Null value for 'streamIds' is not valid.".to_owned()),
            other => Err(format!(
                "{INVALID_OP_MARK}Cannot get the value of a token type '{}' as a string.",
                other.name()
            )),
        }))? {
            ids.push(id);
        }
        Ok(ids)
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        self.other(Token::StartObject)
    }
    reject_scalars!();
}

struct ArgumentsSeed;

impl ArgumentsSeed {
    fn other<E: de::Error>(self, _t: Token) -> Result<Vec<Value>, E> {
        Err(custom("Expected 'arguments' to be of type Array."))
    }
}

impl<'de> DeserializeSeed<'de> for ArgumentsSeed {
    type Value = Vec<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArgumentsSeed {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut args = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed { depth: 2 })? {
            args.push(v);
        }
        Ok(args)
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        self.other(Token::StartObject)
    }
    reject_scalars!();
}

struct HeadersSeed;

impl HeadersSeed {
    fn other<E: de::Error>(self, _t: Token) -> Result<Headers, E> {
        Err(custom("Expected 'headers' to be of type StartObject."))
    }
}

impl<'de> DeserializeSeed<'de> for HeadersSeed {
    type Value = Headers;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Headers, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeadersSeed {
    type Value = Headers;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
        let mut headers = Headers::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Scalar(|t| match t {
                Token::Str(s) => Ok(s),
                _ => Err(format!("Expected header '{key}' to be of type String.")),
            }))?;
            headers.insert(key, value);
        }
        Ok(headers)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        self.other(Token::StartArray)
    }
    reject_scalars!();
}

fn too_deep<E: de::Error>() -> E {
    custom(format_args!(
        "{SYNTAX_MARK}The maximum configured depth of {MAX_DEPTH} has been exceeded."
    ))
}

/// Reads any JSON value into a [`Value`], enforcing System.Text.Json's depth limit.
pub(crate) struct ValueSeed {
    pub(crate) depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(v),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            depth: self.depth + 1,
        })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(ValueSeed {
                depth: self.depth + 1,
            })?;
            entries.push((Value::String(k), v));
        }
        Ok(Value::Map(entries))
    }
}

/// Skips any value, enforcing the depth limit (as `Utf8JsonReader.Skip` does).
struct SkipSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for SkipSeed {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SkipSeed {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        while seq
            .next_element_seed(SkipSeed {
                depth: self.depth + 1,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(SkipSeed {
                depth: self.depth + 1,
            })?;
        }
        Ok(())
    }
}

/// Parses one JSON value (any type; trailing white space allowed, nothing else after it).
pub fn parse_value(text: &[u8]) -> Result<Value, ProtocolError> {
    if let Some(v) = fast::read_value(text) {
        return Ok(v);
    }
    parse_value_reference(text)
}

/// [`parse_value`] without the direct reader.
#[doc(hidden)]
pub fn parse_value_reference(text: &[u8]) -> Result<Value, ProtocolError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let v = ValueSeed { depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| map_serde_error(&e, Layer::Json))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HubMessage;

    fn err(s: &str) -> String {
        let e = parse_message(s.as_bytes()).unwrap_err();
        assert_eq!(Err(e.clone()), parse_message_reference(s.as_bytes()));
        e.to_string()
    }

    #[test]
    fn exact_texts() {
        assert_eq!(err("{}"), "Missing required property 'type'.");
        assert_eq!(
            err("{\"type\":\"foo\"}"),
            "Expected 'type' to be of type Number."
        );
        assert_eq!(
            err("null"),
            "Unexpected JSON Token Type 'Null'. Expected a JSON Object."
        );
        assert_eq!(
            err("[42]"),
            "Unexpected JSON Token Type 'Array'. Expected a JSON Object."
        );
        assert_eq!(
            err("{\"type\":1,\"headers\":{\"Foo\":42}}"),
            "Expected header 'Foo' to be of type String."
        );
        assert_eq!(err(""), "Error reading JSON.");
        assert_eq!(
            err("{\"type\":3,\"invocationId\":\"42\",\"result\":true"),
            "Error reading JSON."
        );
    }

    #[test]
    fn property_order_free_and_unknown_skipped() {
        let p = parse_message(
            br#"{"arguments":[1,"a"],"x":{"y":[1,2]},"target":"T","type":1,"invocationId":"7"}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Parsed::Message(HubMessage::invoke(
                "7",
                "T",
                vec![Value::Int(1), Value::string("a")]
            ))
        );
    }

    #[test]
    fn depth_limit() {
        let deep = format!(
            "{{\"type\":1,\"target\":\"T\",\"arguments\":{}{}}}",
            "[".repeat(70),
            "]".repeat(70)
        );
        assert_eq!(err(&deep), "Error reading JSON.");
    }
}
