//! Negotiate: the `POST {hub}/negotiate` query and its JSON response.
//!
//! The server side (query parsing, version resolution, response writing) follows
//! `HttpConnectionDispatcher` / `NegotiateProtocol.WriteResponse`; the client side
//! (response parsing) follows `NegotiateProtocol.ParseResponse`.

use crate::error::{Layer, ProtocolError};
use crate::transport::TransportKind;

/// Highest negotiate version ASP.NET Core speaks.
pub const MAX_NEGOTIATE_VERSION: i32 = 1;

/// The `negotiateVersion` query parameter as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionParam {
    /// Not present (version 0).
    Absent,
    /// An integer (`int.TryParse` rules: surrounding white space and a sign allowed).
    Version(i32),
    /// Present but not an integer (the raw text; repeated keys are joined with `,`).
    NotAnInteger(String),
}

/// The negotiate request's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateQuery {
    /// `negotiateVersion`.
    pub negotiate_version: VersionParam,
    /// `useStatefulReconnect` (`bool.TryParse`: `true`/`True`/` TRUE `).
    pub use_stateful_reconnect: bool,
    /// Every other parameter, decoded, in order.
    pub other: Vec<(String, String)>,
}

impl Default for NegotiateQuery {
    fn default() -> Self {
        Self {
            negotiate_version: VersionParam::Absent,
            use_stateful_reconnect: false,
            other: Vec::new(),
        }
    }
}

/// Splits and percent-decodes an `application/x-www-form-urlencoded` query string.
pub fn parse_query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Percent-decodes (and turns `+` into a space); invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => {
                let hex = (b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
                    .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
                    .flatten()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component (unreserved characters stay).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// .NET `int.TryParse` with `NumberStyles.Integer`.
fn dotnet_int_parse(s: &str) -> Option<i32> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    let body = digits.strip_prefix('-').unwrap_or(digits);
    if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl NegotiateQuery {
    /// Parses a query string (keys matched case-insensitively, as ASP.NET Core does).
    pub fn parse(query: &str) -> Self {
        let mut q = NegotiateQuery::default();
        let mut versions: Vec<String> = Vec::new();
        let mut stateful: Vec<String> = Vec::new();
        for (k, v) in parse_query_pairs(query) {
            if k.eq_ignore_ascii_case("negotiateVersion") {
                versions.push(v);
            } else if k.eq_ignore_ascii_case("useStatefulReconnect") {
                stateful.push(v);
            } else {
                q.other.push((k, v));
            }
        }
        if !versions.is_empty() {
            let joined = versions.join(",");
            q.negotiate_version = match dotnet_int_parse(&joined) {
                Some(v) => VersionParam::Version(v),
                None => VersionParam::NotAnInteger(joined),
            };
        }
        if !stateful.is_empty() {
            q.use_stateful_reconnect = stateful.join(",").trim().eq_ignore_ascii_case("true");
        }
        q
    }

    /// The query string a client sends (`negotiateVersion=1&useStatefulReconnect=true&…`).
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        match &self.negotiate_version {
            VersionParam::Absent => {}
            VersionParam::Version(v) => parts.push(format!("negotiateVersion={v}")),
            VersionParam::NotAnInteger(s) => {
                parts.push(format!("negotiateVersion={}", percent_encode(s)))
            }
        }
        if self.use_stateful_reconnect {
            parts.push("useStatefulReconnect=true".to_owned());
        }
        for (k, v) in &self.other {
            parts.push(format!("{}={}", percent_encode(k), percent_encode(v)));
        }
        parts.join("&")
    }

    /// The version the server answers with, or the text of the `{"error":…}` body.
    pub fn resolve_version(&self, minimum: i32) -> Result<i32, String> {
        match &self.negotiate_version {
            VersionParam::Version(v) if *v < minimum => Err(format!(
                "The client requested version '{v}', but the server does not support this version."
            )),
            VersionParam::Version(v) => Ok((*v).min(MAX_NEGOTIATE_VERSION)),
            VersionParam::NotAnInteger(_) => {
                Err("The client requested a non-integer protocol version.".to_owned())
            }
            VersionParam::Absent if minimum > 0 => Err(
                "The client requested version '0', but the server does not support this version."
                    .to_owned(),
            ),
            VersionParam::Absent => Ok(0),
        }
    }
}

/// One entry of `availableTransports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableTransport {
    /// `WebSockets`, `ServerSentEvents` or `LongPolling`.
    pub transport: String,
    /// `Text` and/or `Binary`.
    pub transfer_formats: Vec<String>,
}

impl AvailableTransport {
    /// An entry.
    pub fn new(transport: &str, formats: &[&str]) -> Self {
        Self {
            transport: transport.to_owned(),
            transfer_formats: formats.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    /// ASP.NET Core's three entries, in its order.
    pub fn defaults() -> Vec<Self> {
        TransportKind::ALL
            .iter()
            .map(|t| Self::new(t.name(), t.transfer_formats()))
            .collect()
    }
}

/// A negotiate response body: a connection, a redirect, or an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiateResponse {
    /// `negotiateVersion` (0 when absent, as clients read it).
    pub negotiate_version: i32,
    /// Whether `negotiateVersion` was present (older servers omit it).
    pub has_negotiate_version: bool,
    /// `connectionId` (public).
    pub connection_id: Option<String>,
    /// `connectionToken` (secret; the `id` on transport URLs from version 1).
    pub connection_token: Option<String>,
    /// `availableTransports`.
    pub available_transports: Option<Vec<AvailableTransport>>,
    /// Redirect `url`.
    pub url: Option<String>,
    /// Redirect `accessToken`.
    pub access_token: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `useStatefulReconnect`.
    pub use_stateful_reconnect: bool,
}

impl NegotiateResponse {
    /// An error body `{"error":"…"}`.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            error: Some(text.into()),
            ..Self::default()
        }
    }

    /// A redirect body `{"url":"…","accessToken":"…"}` (written with `negotiateVersion` 0,
    /// as `NegotiateProtocol.WriteResponse` does).
    pub fn redirect(url: impl Into<String>, access_token: Option<String>) -> Self {
        Self {
            url: Some(url.into()),
            access_token,
            has_negotiate_version: true,
            available_transports: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// The id a client puts on transport URLs: the token from version 1, else the id.
    pub fn transport_id(&self) -> Option<&str> {
        if self.negotiate_version >= 1 {
            self.connection_token.as_deref()
        } else {
            self.connection_id.as_deref()
        }
    }

    /// The transports offered, with the formats of each.
    pub fn transport(&self, name: &str) -> Option<&AvailableTransport> {
        self.available_transports
            .as_ref()?
            .iter()
            .find(|t| t.transport == name)
    }

    /// The body as ASP.NET Core writes it: `error` alone; otherwise `useStatefulReconnect`
    /// (when true), `negotiateVersion`, `url`, `accessToken`, `connectionId`, `connectionToken`
    /// (version ≥ 1 only), `availableTransports`.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256);
        let s = |out: &mut Vec<u8>, v: &str| crate::json::write_str(v, out);
        out.push(b'{');
        if let Some(e) = self.error.as_deref().filter(|e| !e.is_empty()) {
            out.extend_from_slice(b"\"error\":");
            s(&mut out, e);
            out.push(b'}');
            return String::from_utf8_lossy(&out).into_owned();
        }
        if self.use_stateful_reconnect {
            out.extend_from_slice(b"\"useStatefulReconnect\":true,");
        }
        out.extend_from_slice(
            format!("\"negotiateVersion\":{}", self.negotiate_version).as_bytes(),
        );
        for (name, value) in [
            ("url", &self.url),
            ("accessToken", &self.access_token),
            ("connectionId", &self.connection_id),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                out.extend_from_slice(format!(",\"{name}\":").as_bytes());
                s(&mut out, v);
            }
        }
        if self.negotiate_version > 0 {
            if let Some(t) = self.connection_token.as_deref().filter(|v| !v.is_empty()) {
                out.extend_from_slice(b",\"connectionToken\":");
                s(&mut out, t);
            }
        }
        out.extend_from_slice(b",\"availableTransports\":[");
        for (i, t) in self.available_transports.iter().flatten().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"transport\":");
            s(&mut out, &t.transport);
            out.extend_from_slice(b",\"transferFormats\":[");
            for (j, f) in t.transfer_formats.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                s(&mut out, f);
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Parses a body as clients do; the error names the problem (ASP.NET Core wraps it in
    /// `Invalid negotiation response received.`, kept as the error's detail).
    pub fn parse(body: &[u8]) -> Result<Self, ProtocolError> {
        parse_response(body).map_err(|(exception, text)| {
            ProtocolError::new(Layer::Negotiate, exception, text)
                .with_detail("Invalid negotiation response received.")
        })
    }
}

type ParseFailure = (&'static str, String);

fn invalid(text: impl Into<String>) -> ParseFailure {
    ("InvalidDataException", text.into())
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "Null",
        serde_json::Value::Bool(true) => "True",
        serde_json::Value::Bool(false) => "False",
        serde_json::Value::Number(_) => "Number",
        serde_json::Value::String(_) => "String",
        serde_json::Value::Array(_) => "Array",
        serde_json::Value::Object(_) => "Object",
    }
}

fn parse_response(body: &[u8]) -> Result<NegotiateResponse, ParseFailure> {
    let root: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ("JsonReaderException", format!("{e}")))?;
    let serde_json::Value::Object(obj) = root else {
        return Err(invalid(format!(
            "Unexpected JSON Token Type '{}'. Expected a JSON Object.",
            json_type(&root)
        )));
    };
    if obj.contains_key("ProtocolVersion") {
        return Err(("InvalidOperationException", "Detected a connection attempt to an ASP.NET SignalR Server. This client only supports connecting to an ASP.NET Core SignalR Server. See https://aka.ms/signalr-core-differences for details.".to_owned()));
    }
    let string = |name: &str| -> Result<Option<String>, ParseFailure> {
        match obj.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("Expected '{name}' to be of type String."))),
        }
    };
    let mut r = NegotiateResponse {
        url: string("url")?,
        access_token: string("accessToken")?,
        connection_id: string("connectionId")?,
        connection_token: string("connectionToken")?,
        error: string("error")?,
        ..NegotiateResponse::default()
    };
    match obj.get("negotiateVersion") {
        None => {}
        Some(serde_json::Value::Null) => r.has_negotiate_version = true,
        Some(serde_json::Value::Number(n)) => {
            r.has_negotiate_version = true;
            r.negotiate_version = n
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| ("FormatException", "Either the JSON value is not in a supported format, or is out of bounds for an Int32.".to_owned()))?;
        }
        Some(_) => return Err(invalid("Expected 'negotiateVersion' to be of type Number.")),
    }
    match obj.get("useStatefulReconnect") {
        None => {}
        Some(serde_json::Value::Bool(b)) => r.use_stateful_reconnect = *b,
        Some(_) => {
            return Err(invalid(
                "Expected 'useStatefulReconnect' to be true or false.",
            ))
        }
    }
    if let Some(t) = obj.get("availableTransports") {
        let serde_json::Value::Array(items) = t else {
            return Err(invalid(format!(
                "Unexpected JSON Token Type '{}'. Expected a JSON Array.",
                json_type(t)
            )));
        };
        let mut list = Vec::new();
        for item in items {
            // Entries that are not objects are skipped, as the .NET reader does.
            let serde_json::Value::Object(entry) = item else {
                continue;
            };
            let transport = match entry.get("transport") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(_) => return Err(invalid("Expected 'transport' to be of type String.")),
                None => return Err(invalid("Missing required property 'transport'.")),
            };
            let formats = match entry.get("transferFormats") {
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .map(|f| match f {
                        serde_json::Value::String(s) => Ok(s.clone()),
                        other => Err(invalid(format!(
                            "Unexpected token '{}' when reading transfer formats JSON.",
                            json_type(other)
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(other) => {
                    return Err(invalid(format!(
                        "Unexpected JSON Token Type '{}'. Expected a JSON Array.",
                        json_type(other)
                    )))
                }
                None => return Err(invalid("Missing required property 'transferFormats'.")),
            };
            list.push(AvailableTransport {
                transport,
                transfer_formats: formats,
            });
        }
        r.available_transports = Some(list);
    }
    if r.url.is_none() && r.error.is_none() {
        if r.connection_id.is_none() {
            return Err(invalid("Missing required property 'connectionId'."));
        }
        if r.negotiate_version > 0 && r.connection_token.is_none() {
            return Err(invalid("Missing required property 'connectionToken'."));
        }
        if r.available_transports.is_none() {
            return Err(invalid("Missing required property 'availableTransports'."));
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = |q: &str| NegotiateQuery::parse(q).resolve_version(0);
        assert_eq!(v(""), Ok(0));
        assert_eq!(v("negotiateVersion=1"), Ok(1));
        assert_eq!(v("NEGOTIATEVERSION=5"), Ok(1));
        assert_eq!(v("negotiateVersion=%201%20"), Ok(1));
        assert_eq!(
            v("negotiateVersion=abc"),
            Err("The client requested a non-integer protocol version.".to_owned())
        );
        assert_eq!(
            v("negotiateVersion=1&negotiateVersion=1"),
            Err("The client requested a non-integer protocol version.".to_owned())
        );
        assert_eq!(
            NegotiateQuery::parse("negotiateVersion=-1").resolve_version(0),
            Err(
                "The client requested version '-1', but the server does not support this version."
                    .to_owned()
            )
        );
        assert!(NegotiateQuery::parse("useStatefulReconnect=True").use_stateful_reconnect);
    }

    #[test]
    fn write_and_parse() {
        let r = NegotiateResponse {
            negotiate_version: 1,
            has_negotiate_version: true,
            connection_id: Some("id".into()),
            connection_token: Some("tok".into()),
            available_transports: Some(AvailableTransport::defaults()),
            ..Default::default()
        };
        let json = r.to_json();
        assert_eq!(
            json,
            r#"{"negotiateVersion":1,"connectionId":"id","connectionToken":"tok","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},{"transport":"ServerSentEvents","transferFormats":["Text"]},{"transport":"LongPolling","transferFormats":["Text","Binary"]}]}"#
        );
        assert_eq!(NegotiateResponse::parse(json.as_bytes()).unwrap(), r);
        assert_eq!(
            NegotiateResponse::error("boom").to_json(),
            r#"{"error":"boom"}"#
        );
        let e = NegotiateResponse::parse(
            br#"{"negotiateVersion":1,"connectionId":"x","availableTransports":[]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Missing required property 'connectionToken'."
        );
        let e = NegotiateResponse::parse(br#"{"ProtocolVersion":"1.5"}"#).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("Detected a connection attempt to an ASP.NET SignalR Server."));
    }
}
