//! The hub handshake: a JSON object terminated by 0x1E, for every hub protocol.
//!
//! Request `{"protocol":"json","version":1}`, response `{}` or `{"error":"…"}`. Parsing follows
//! ASP.NET Core's `HandshakeProtocol`: unknown properties skipped, the last of repeated properties
//! wins, anything after the object and before the separator ignored.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Layer, ProtocolError};
use crate::framing::{split_text, RECORD_SEPARATOR};

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// Hub protocol name (`json`, `messagepack`).
    pub protocol: String,
    /// Hub protocol version (1, or 2 for stateful reconnect).
    pub version: i32,
}

/// What the server answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// `None` on success.
    pub error: Option<String>,
}

/// The exact bytes of a successful response: `{}` + 0x1E.
pub const SUCCESS_RESPONSE: &[u8] = b"{}\x1e";

/// Appends a request: `{"protocol":"<p>","version":<v>}` + 0x1E.
pub fn write_request(req: &HandshakeRequest, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"protocol\":");
    crate::json::write_str(&req.protocol, out);
    out.extend_from_slice(format!(",\"version\":{}}}", req.version).as_bytes());
    out.push(RECORD_SEPARATOR);
}

/// Appends a response: `{}` or `{"error":"…"}` + 0x1E (an empty error is written as `{}`).
pub fn write_response(resp: &HandshakeResponse, out: &mut Vec<u8>) {
    match resp.error.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => {
            out.extend_from_slice(b"{\"error\":");
            crate::json::write_str(e, out);
            out.push(b'}');
        }
        None => out.extend_from_slice(b"{}"),
    }
    out.push(RECORD_SEPARATOR);
}

/// Parses a request from the front of `buf`. `Ok(None)` until a separator arrives; otherwise the
/// request and the number of bytes it used (what follows belongs to the hub protocol).
pub fn parse_request_frame(buf: &[u8]) -> Result<Option<(HandshakeRequest, usize)>, ProtocolError> {
    match split_text(buf) {
        Some((len, consumed)) => Ok(Some((parse_request(&buf[..len])?, consumed))),
        None => Ok(None),
    }
}

/// Parses a response from the front of `buf` (see [`parse_request_frame`]).
pub fn parse_response_frame(
    buf: &[u8],
) -> Result<Option<(HandshakeResponse, usize)>, ProtocolError> {
    match split_text(buf) {
        Some((len, consumed)) => Ok(Some((parse_response(&buf[..len])?, consumed))),
        None => Ok(None),
    }
}

/// Parses a request payload (without the separator).
pub fn parse_request(payload: &[u8]) -> Result<HandshakeRequest, ProtocolError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let content = || String::from_utf8_lossy(payload).into_owned();
    let fields = de
        .deserialize_any(HandshakeVisitor { request: true })
        .map_err(|e| map_error(&e, &content()))?;
    let Some(protocol) = fields.protocol else {
        return Err(ProtocolError::invalid_data(
            Layer::Handshake,
            format!(
                "Missing required property 'protocol'. Message content: {}",
                content()
            ),
        ));
    };
    let Some(version) = fields.version else {
        return Err(ProtocolError::invalid_data(
            Layer::Handshake,
            format!(
                "Missing required property 'version'. Message content: {}",
                content()
            ),
        ));
    };
    Ok(HandshakeRequest { protocol, version })
}

/// Parses a response payload (without the separator), as a client does.
pub fn parse_response(payload: &[u8]) -> Result<HandshakeResponse, ProtocolError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let fields = de
        .deserialize_any(HandshakeVisitor { request: false })
        .map_err(|e| map_error(&e, &String::from_utf8_lossy(payload)))?;
    Ok(HandshakeResponse {
        error: fields.error,
    })
}

fn map_error(e: &serde_json::Error, content: &str) -> ProtocolError {
    let mut err = crate::json::map_serde_error(e, Layer::Handshake);
    if err.exception() == "InvalidDataException"
        && err.message() == crate::error::texts::ERROR_READING_JSON
    {
        // System.Text.Json's reader exception surfaces unwrapped in the handshake.
        let detail = format!(
            "{} Message content: {content}",
            err.detail().unwrap_or_default()
        );
        err = ProtocolError::new(Layer::Handshake, "JsonReaderException", detail);
    }
    err
}

#[derive(Default)]
struct Fields {
    protocol: Option<String>,
    version: Option<i32>,
    error: Option<String>,
}

struct HandshakeVisitor {
    request: bool,
}

impl HandshakeVisitor {
    fn not_object<E: de::Error>(self, name: &str) -> Result<Fields, E> {
        Err(E::custom(format_args!(
            "Unexpected JSON Token Type '{name}'. Expected a JSON Object."
        )))
    }
}

impl<'de> Visitor<'de> for HandshakeVisitor {
    type Value = Fields;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            match (self.request, key.as_str()) {
                (true, "protocol") => {
                    f.protocol = Some(map.next_value_seed(Prop::Str("protocol"))?.into_string())
                }
                (true, "version") => {
                    f.version = map.next_value_seed(Prop::Int("version"))?.into_int()
                }
                (false, "type") => {
                    return Err(de::Error::custom(
                        "Expected a handshake response from the server.",
                    ))
                }
                (false, "error") => {
                    f.error = Some(map.next_value_seed(Prop::Str("error"))?.into_string())
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(f)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Fields, A::Error> {
        self.not_object("Array")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Fields, E> {
        self.not_object(if v { "True" } else { "False" })
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Fields, E> {
        self.not_object("Number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Fields, E> {
        self.not_object("Number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Fields, E> {
        self.not_object("Number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Fields, E> {
        self.not_object("String")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Fields, E> {
        self.not_object("Null")
    }
}

/// A typed handshake property (`ReadAsString` / `ReadAsInt32`).
enum Prop {
    Str(&'static str),
    Int(&'static str),
}

enum PropValue {
    Str(String),
    Int(Option<i32>),
}

impl PropValue {
    fn into_string(self) -> String {
        match self {
            PropValue::Str(s) => s,
            PropValue::Int(_) => String::new(),
        }
    }
    fn into_int(self) -> Option<i32> {
        match self {
            PropValue::Int(i) => i,
            PropValue::Str(_) => None,
        }
    }
}

impl Prop {
    fn wrong<E: de::Error>(self) -> Result<PropValue, E> {
        Err(match self {
            Prop::Str(n) => E::custom(format_args!("Expected '{n}' to be of type String.")),
            Prop::Int(n) => E::custom(format_args!("Expected '{n}' to be of type Number.")),
        })
    }
    fn number<E: de::Error>(self, v: Option<i64>) -> Result<PropValue, E> {
        match self {
            Prop::Int(_) => match v.and_then(|v| i32::try_from(v).ok()) {
                Some(v) => Ok(PropValue::Int(Some(v))),
                None => Err(E::custom(
                    "\u{1}format:Either the JSON value is not in a supported format, or is out of bounds for an Int32.",
                )),
            },
            Prop::Str(_) => self.wrong(),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Prop {
    type Value = PropValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PropValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Prop {
    type Value = PropValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a handshake property")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<PropValue, E> {
        match self {
            Prop::Str(_) => Ok(PropValue::Str(v.to_owned())),
            Prop::Int(_) => self.wrong(),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropValue, E> {
        self.number(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropValue, E> {
        self.number(i64::try_from(v).ok())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<PropValue, E> {
        self.number(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<PropValue, E> {
        match self {
            // `ReadAsInt32` gives null for a JSON null: the property counts as missing.
            Prop::Int(_) => Ok(PropValue::Int(None)),
            Prop::Str(_) => self.wrong(),
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<PropValue, E> {
        self.wrong()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<PropValue, A::Error> {
        self.wrong()
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<PropValue, A::Error> {
        self.wrong()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_err(s: &str) -> String {
        parse_request(s.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn request_vectors() {
        assert_eq!(
            parse_request(br#"{"protocol":"dummy","version":1,"protocol":"json"}"#).unwrap(),
            HandshakeRequest {
                protocol: "json".into(),
                version: 1
            }
        );
        assert_eq!(
            parse_request(br#"{"\u0070rotocol":"json","version":2,"x":[{}]}junk"#).unwrap(),
            HandshakeRequest {
                protocol: "json".into(),
                version: 2
            }
        );
        assert_eq!(
            req_err("{}"),
            "Missing required property 'protocol'. Message content: {}"
        );
        assert_eq!(
            req_err(r#"{"protocol":"json"}"#),
            r#"Missing required property 'version'. Message content: {"protocol":"json"}"#
        );
        assert_eq!(
            req_err(r#"{"version":"123"}"#),
            "Expected 'version' to be of type Number."
        );
        assert_eq!(
            req_err(r#"{"protocol":null,"version":123}"#),
            "Expected 'protocol' to be of type String."
        );
        for (input, token) in [
            ("42", "Number"),
            ("\"42\"", "String"),
            ("null", "Null"),
            ("[]", "Array"),
        ] {
            assert_eq!(
                req_err(input),
                format!("Unexpected JSON Token Type '{token}'. Expected a JSON Object.")
            );
        }
    }

    #[test]
    fn request_frame_leaves_remainder() {
        let buf = b"{\"protocol\":\"json\",\"version\":1}\x1e{\"type\":6}\x1e";
        let (req, used) = parse_request_frame(buf).unwrap().unwrap();
        assert_eq!(req.protocol, "json");
        assert_eq!(&buf[used..], b"{\"type\":6}\x1e");
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(b"{}").unwrap(),
            HandshakeResponse { error: None }
        );
        assert_eq!(parse_response(br#"{"unknown":null}"#).unwrap().error, None);
        assert_eq!(
            parse_response(br#"{"error":"dummy"}"#)
                .unwrap()
                .error
                .as_deref(),
            Some("dummy")
        );
        assert_eq!(
            parse_response(br#"{"error":null}"#)
                .unwrap_err()
                .to_string(),
            "Expected 'error' to be of type String."
        );
        assert_eq!(
            parse_response(br#"{"type":1}"#).unwrap_err().to_string(),
            "Expected a handshake response from the server."
        );
        let mut out = Vec::new();
        write_response(&HandshakeResponse::default(), &mut out);
        assert_eq!(out, SUCCESS_RESPONSE);
    }
}
