//! Every codec vector in `fixtures/codec/*.json`, run by one data-driven test.
//!
//! The fixtures hold the test vectors of ASP.NET Core's own protocol tests, the TypeScript client's
//! unit tests (with the outcome the *server* code gives) and the byte examples of the reference
//! documents; `fixtures/codec/README.md` describes the format. All failures are collected and
//! reported together, each with its entry id.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use signalr_protocol::framing::{self, FrameReader, TransferFormat};
use signalr_protocol::handshake::{self, HandshakeRequest, HandshakeResponse};
use signalr_protocol::message::{InvocationKind, Parsed};
use signalr_protocol::negotiate::{AvailableTransport, NegotiateQuery, NegotiateResponse};
use signalr_protocol::{
    json, msgpack, notation, HubMessage, HubProtocol, MessageReader, ProtocolError, Value,
};

/// Fewest entries each fixture file must hold, so a truncated file is noticed.
const MINIMUM_ENTRIES: &[(&str, usize)] = &[
    ("framing.json", 45),
    ("handshake.json", 35),
    ("json.json", 180),
    ("msgpack.json", 165),
    ("negotiate.json", 45),
    ("ts-client.json", 80),
];

const ENTRY_KEYS: &[&str] = &[
    "id",
    "source",
    "layer",
    "input",
    "framed",
    "expect",
    "roundtrip",
    "note",
    "size",
    "max_message_size",
    "chunked",
];

const EXPECT_KEYS: &[&str] = &[
    "message",
    "messages",
    "error",
    "exception",
    "ignored",
    "type",
    "binding_error",
    "invocationId",
    "target",
    "kind",
    "incomplete",
    "frames",
    "prefix",
    "length",
    "prefix_len",
    "request",
    "response",
    "rest",
    "rest_len",
    "version",
    "minimum",
    "useStatefulReconnect",
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/codec")
}

/// Every fixture file: (file name, entries).
fn load_fixtures() -> Vec<(String, Vec<Value>)> {
    let dir = fixture_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            // The crate's own JSON reader keeps object keys in order (notation relies on it).
            let value = json::parse_value(&bytes)
                .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e} {:?}", e.detail()));
            match value {
                Value::Array(entries) => (name, entries),
                _ => panic!("{name}: the top level must be an array of entries"),
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Small helpers over the fixture values

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key, false)
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key).and_then(Value::as_str)
}

fn get_bool(v: &Value, key: &str) -> bool {
    get(v, key).and_then(Value::as_bool).unwrap_or(false)
}

fn get_usize(v: &Value, key: &str) -> Option<usize> {
    get(v, key)
        .and_then(Value::as_i64)
        .and_then(|i| usize::try_from(i).ok())
}

fn keys(v: &Value) -> Vec<&str> {
    match v {
        Value::Map(entries) => entries.iter().filter_map(|(k, _)| k.as_str()).collect(),
        _ => Vec::new(),
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).map_err(|e| format!("bad hex byte '{b}': {e}")))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bytes for a human: text (with 0x1E shown as `␞`) when printable UTF-8, hex otherwise.
fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s)
            if s.chars()
                .all(|c| !c.is_control() || c == '\u{1e}' || c == '\n' || c == '\r') =>
        {
            format!("{:?}", s.replace('\u{1e}', "␞"))
        }
        _ => format!("[{}]", hex(bytes)),
    }
}

/// Decodes `{"text": …}`, `{"hex": …}`, `{"base64": …}` or `{"counting": n}` (bytes `i & 0xff`).
fn bytes_of(v: &Value) -> Result<Vec<u8>, String> {
    if let Some(t) = get_str(v, "text") {
        Ok(t.as_bytes().to_vec())
    } else if let Some(h) = get_str(v, "hex") {
        unhex(h)
    } else if let Some(b) = get_str(v, "base64") {
        base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("bad base64: {e}"))
    } else if let Some(n) = get_usize(v, "counting") {
        Ok((0..n).map(|i| (i & 0xff) as u8).collect())
    } else {
        Err(format!(
            "an input must be text, hex, base64 or counting, not {v}"
        ))
    }
}

fn error_matches(actual: &ProtocolError, expect: &Value) -> Result<(), String> {
    let text = get_str(expect, "error").ok_or("'error' must be a string")?;
    let mut problems = Vec::new();
    if actual.message() != text {
        problems.push(format!(
            "error text\n      expected: {text:?}\n      actual:   {:?}",
            actual.message()
        ));
    }
    if let Some(exception) = get_str(expect, "exception") {
        if actual.exception() != exception {
            problems.push(format!(
                "exception type: expected {exception}, actual {}",
                actual.exception()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn describe_error(e: &ProtocolError) -> String {
    match e.detail() {
        Some(d) => format!("{}: {:?} ({d})", e.exception(), e.message()),
        None => format!("{}: {:?}", e.exception(), e.message()),
    }
}

// ------------------------------------------------------------------------------------------------
// Hub protocols (json, messagepack)

/// How decoding a buffer ended.
enum End {
    /// Everything consumed.
    Clean,
    /// Bytes left waiting for more input; the text `finish()` gives.
    Incomplete(String),
    /// A connection-level error.
    Error(ProtocolError),
}

impl End {
    fn describe(&self) -> String {
        match self {
            End::Clean => "end of input".into(),
            End::Incomplete(_) => "incomplete (bytes left over)".into(),
            End::Error(e) => format!("error {}", describe_error(e)),
        }
    }
}

fn decode_framed(protocol: HubProtocol, bytes: &[u8], max: Option<usize>) -> (Vec<Parsed>, End) {
    let mut reader = MessageReader::with_max_message_size(protocol, max);
    reader.push(bytes);
    let mut out = Vec::new();
    loop {
        match reader.next() {
            Ok(Some(p)) => out.push(p),
            Ok(None) => break,
            Err(e) => return (out, End::Error(e)),
        }
    }
    let end = match reader.finish() {
        Ok(()) => End::Clean,
        Err(e) => End::Incomplete(e.message().to_owned()),
    };
    (out, end)
}

fn frame(protocol: HubProtocol, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match protocol {
        HubProtocol::Json => framing::frame_text(payload, &mut out),
        HubProtocol::MessagePack => framing::frame_binary(payload, &mut out),
    }
    out
}

fn write_body(protocol: HubProtocol, msg: &HubMessage) -> Vec<u8> {
    let mut out = Vec::new();
    match protocol {
        HubProtocol::Json => json::write_message_body(msg, &mut out),
        HubProtocol::MessagePack => msgpack::write_message_body(msg, &mut out),
    }
    out
}

/// Notation text of an expected message (validated by the notation parser). The fixture holds
/// the notation either as a JSON value or, for values nested too deep to embed, as notation text.
fn expected_message_text(v: &Value) -> Result<String, String> {
    let parsed = match v {
        Value::String(text) => notation::message_from_text(text),
        other => notation::message_from_notation(other),
    };
    parsed
        .map(|m| notation::message_to_text(&m))
        .map_err(|e| format!("the expected notation {v} is invalid: {e}"))
}

fn check_parsed(expected: &Value, actual: &Parsed) -> Result<(), String> {
    let actual_text = notation::parsed_to_text(actual);
    let want = expected_message_text(expected)?;
    if want == actual_text {
        Ok(())
    } else {
        Err(format!(
            "message\n      expected: {want}\n      actual:   {actual_text}"
        ))
    }
}

fn check_binding(expect: &Value, actual: &Parsed) -> Result<(), String> {
    let text = get_str(expect, "binding_error").ok_or("'binding_error' must be a string")?;
    let kind = get(expect, "kind").and_then(Value::as_i64);
    let (actual_kind, id, target, error) = match actual {
        Parsed::InvocationBindingFailure {
            kind,
            invocation_id,
            target,
            error,
            ..
        } => (
            match kind {
                InvocationKind::Invocation => 1,
                InvocationKind::StreamInvocation => 4,
            },
            invocation_id.clone(),
            Some(target.clone()),
            error,
        ),
        Parsed::StreamBindingFailure {
            invocation_id,
            error,
        } => (2, Some(invocation_id.clone()), None, error),
        other => {
            return Err(format!(
                "expected a binding failure, got {}",
                notation::parsed_to_text(other)
            ))
        }
    };
    let mut problems = Vec::new();
    if error != text {
        problems.push(format!(
            "binding error\n      expected: {text:?}\n      actual:   {error:?}"
        ));
    }
    if let Some(k) = kind {
        if k != actual_kind {
            problems.push(format!(
                "kind: expected type {k}, actual type {actual_kind}"
            ));
        }
    }
    let want_id = get_str(expect, "invocationId").map(str::to_owned);
    if want_id != id {
        problems.push(format!("invocationId: expected {want_id:?}, actual {id:?}"));
    }
    if let Some(t) = get_str(expect, "target") {
        if target.as_deref() != Some(t) {
            problems.push(format!("target: expected {t:?}, actual {target:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn summarize(parsed: &[Parsed], end: &End) -> String {
    let mut s: Vec<String> = parsed.iter().map(notation::parsed_to_text).collect();
    s.push(end.describe());
    s.join(" | ")
}

fn run_hub(protocol: HubProtocol, entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let framed = get_bool(entry, "framed");
    let max = get_usize(entry, "max_message_size");
    let mut problems: Vec<String> = Vec::new();

    let (parsed, end) = if framed {
        decode_framed(protocol, input, max)
    } else {
        let single = match protocol.parse(input) {
            Ok(p) => (vec![p], End::Clean),
            Err(e) => (Vec::new(), End::Error(e)),
        };
        // The same payload, framed, must decode the same way through the incremental reader.
        let (fp, fe) = decode_framed(protocol, &frame(protocol, input), max);
        let (a, b) = (summarize(&single.0, &single.1), summarize(&fp, &fe));
        if a != b {
            problems.push(format!(
                "framed and unframed decoding disagree\n      unframed: {a}\n      framed:   {b}"
            ));
        }
        single
    };

    // Expected outcomes, in order, before the end of input.
    let mut expected_items: Vec<&Value> = Vec::new();
    if let Some(m) = get(expect, "message") {
        expected_items.push(m);
    }
    if let Some(list) = get(expect, "messages") {
        expected_items.extend(list.as_array().ok_or("'messages' must be an array")?);
    }
    let special = get_bool(expect, "ignored") || get(expect, "binding_error").is_some();

    if special {
        match parsed.as_slice() {
            [one] => {
                if get_bool(expect, "ignored") {
                    let want = get(expect, "type").and_then(Value::as_i64);
                    match one {
                        Parsed::UnknownType(t) if want.is_none_or(|w| w == *t) => {}
                        other => problems.push(format!(
                            "expected an ignored message of type {want:?}, got {}",
                            notation::parsed_to_text(other)
                        )),
                    }
                } else if let Err(e) = check_binding(expect, one) {
                    problems.push(e);
                }
            }
            other => problems.push(format!(
                "expected exactly one outcome, got {}",
                summarize(other, &end)
            )),
        }
    } else if parsed.len() != expected_items.len() {
        problems.push(format!(
            "expected {} message(s), got: {}",
            expected_items.len(),
            summarize(&parsed, &end)
        ));
    } else {
        for (i, (want, got)) in expected_items.iter().zip(&parsed).enumerate() {
            if let Err(e) = check_parsed(want, got) {
                problems.push(if parsed.len() > 1 {
                    format!("#{}: {e}", i + 1)
                } else {
                    e
                });
            }
        }
    }

    // How the input ended.
    if get(expect, "error").is_some() {
        match &end {
            End::Error(e) => {
                if let Err(p) = error_matches(e, expect) {
                    problems.push(p);
                }
            }
            other => problems.push(format!(
                "expected error {:?}, got {}",
                get_str(expect, "error").unwrap_or_default(),
                summarize(&parsed, other)
            )),
        }
    } else if get_bool(expect, "incomplete") {
        match &end {
            End::Incomplete(text) if text == "Connection terminated while reading a message." => {}
            other => problems.push(format!(
                "expected incomplete input, got {}",
                other.describe()
            )),
        }
    } else if !matches!(end, End::Clean) {
        problems.push(format!("unexpected {}", end.describe()));
    }

    if let Some(size) = get_usize(entry, "size") {
        for p in &parsed {
            if let Parsed::Message(m) = p {
                let n = protocol.encode(m).len();
                if n != size {
                    problems.push(format!("written size: expected {size} bytes, actual {n}"));
                }
            }
        }
    }

    if get_bool(entry, "roundtrip") && problems.is_empty() {
        let mut written = Vec::new();
        for p in &parsed {
            match p {
                Parsed::Message(m) if framed => protocol.write(m, &mut written),
                Parsed::Message(m) => written.extend(write_body(protocol, m)),
                other => {
                    problems.push(format!(
                        "roundtrip needs messages, got {}",
                        notation::parsed_to_text(other)
                    ));
                    break;
                }
            }
        }
        if problems.is_empty() && written != input {
            problems.push(format!(
                "roundtrip: writing the decoded message(s) gives other bytes\n      input:   {}\n      written: {}",
                show(input),
                show(&written)
            ));
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n    "))
    }
}

// ------------------------------------------------------------------------------------------------
// Framing

fn run_varint(entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let got = framing::read_varint(input);
    if get(expect, "error").is_some() {
        return match got {
            Err(e) => error_matches(&e, expect),
            Ok(other) => Err(format!("expected an error, got {other:?}")),
        };
    }
    if get_bool(expect, "incomplete") {
        return match got {
            Ok(None) => Ok(()),
            other => Err(format!("expected 'need more bytes', got {other:?}")),
        };
    }
    let length = get_usize(expect, "length").ok_or("'length' missing")?;
    let prefix_len = get_usize(expect, "prefix_len").ok_or("'prefix_len' missing")?;
    match got {
        Ok(Some((l, p))) if l == length && p == prefix_len => {}
        other => {
            return Err(format!(
                "expected Some(({length}, {prefix_len})), got {other:?}"
            ))
        }
    }
    if get_bool(entry, "roundtrip") {
        let mut out = Vec::new();
        framing::write_varint(length, &mut out);
        if out != input {
            return Err(format!(
                "write_varint({length}) gives [{}], expected [{}]",
                hex(&out),
                hex(input)
            ));
        }
    }
    Ok(())
}

fn expected_frame(v: &Value, format: TransferFormat) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => match format {
            TransferFormat::Text => Ok(s.as_bytes().to_vec()),
            TransferFormat::Binary => unhex(s),
        },
        other => bytes_of(other),
    }
}

fn run_frames(format: TransferFormat, entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let mut problems = Vec::new();
    let stream = if get_bool(entry, "framed") {
        input.to_vec()
    } else {
        let mut out = Vec::new();
        match format {
            TransferFormat::Text => framing::frame_text(input, &mut out),
            TransferFormat::Binary => framing::frame_binary(input, &mut out),
        }
        if let Some(prefix) = get_str(expect, "prefix") {
            let want = unhex(prefix)?;
            if !out.starts_with(&want) || out.len() != want.len() + input.len() {
                problems.push(format!(
                    "prefix: expected [{}], framed bytes start [{}]",
                    hex(&want),
                    hex(&out[..out.len().min(want.len() + 2)])
                ));
            }
        }
        out
    };

    let mut reader = FrameReader::with_max_message_size(get_usize(entry, "max_message_size"));
    reader.push(&stream);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let end = loop {
        match reader.next_frame(format) {
            Ok(Some(p)) => frames.push(p.to_vec()),
            Ok(None) => {
                break match reader.finish() {
                    Ok(()) => End::Clean,
                    Err(e) => End::Incomplete(e.message().to_owned()),
                }
            }
            Err(e) => break End::Error(e),
        }
    };

    let want: Vec<Vec<u8>> = match get(expect, "frames") {
        Some(list) => list
            .as_array()
            .ok_or("'frames' must be an array")?
            .iter()
            .map(|f| expected_frame(f, format))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    if want != frames {
        let fmt = |v: &[Vec<u8>]| v.iter().map(|f| show(f)).collect::<Vec<_>>().join(", ");
        problems.push(format!(
            "frames\n      expected: [{}]\n      actual:   [{}]",
            fmt(&want),
            fmt(&frames)
        ));
    }
    if get(expect, "error").is_some() {
        match &end {
            End::Error(e) => {
                if let Err(p) = error_matches(e, expect) {
                    problems.push(p);
                }
            }
            other => problems.push(format!("expected an error, got {}", other.describe())),
        }
    } else if get_bool(expect, "incomplete") {
        match &end {
            End::Incomplete(t) if t == "Connection terminated while reading a message." => {}
            other => problems.push(format!(
                "expected incomplete input, got {}",
                other.describe()
            )),
        }
    } else if !matches!(end, End::Clean) {
        problems.push(format!("unexpected {}", end.describe()));
    }

    if get_bool(entry, "roundtrip") && problems.is_empty() {
        let mut out = Vec::new();
        for f in &frames {
            match format {
                TransferFormat::Text => framing::frame_text(f, &mut out),
                TransferFormat::Binary => framing::frame_binary(f, &mut out),
            }
        }
        if out != stream {
            problems.push(format!(
                "roundtrip: re-framing gives {} instead of {}",
                show(&out),
                show(&stream)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n    "))
    }
}

// ------------------------------------------------------------------------------------------------
// Handshake

fn check_rest(expect: &Value, rest: &[u8]) -> Result<(), String> {
    if let Some(n) = get_usize(expect, "rest_len") {
        if rest.len() != n {
            return Err(format!(
                "expected {n} bytes after the handshake, got {}",
                rest.len()
            ));
        }
    } else {
        let want = match get(expect, "rest") {
            Some(r) => bytes_of(r)?,
            None => Vec::new(),
        };
        if want != rest {
            return Err(format!(
                "bytes after the handshake: expected {}, got {}",
                show(&want),
                show(rest)
            ));
        }
    }
    Ok(())
}

fn run_handshake_request(entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let result: Result<Option<(HandshakeRequest, usize)>, ProtocolError> =
        if get_bool(entry, "framed") {
            handshake::parse_request_frame(input)
        } else {
            handshake::parse_request(input).map(|r| Some((r, input.len())))
        };
    if get_bool(entry, "chunked") {
        for k in 1..input.len() {
            match handshake::parse_request_frame(&input[..k]) {
                Ok(None) => {}
                other => {
                    return Err(format!(
                        "fed {k} of {} bytes: expected 'need more', got {other:?}",
                        input.len()
                    ))
                }
            }
        }
    }
    if get(expect, "error").is_some() {
        return match result {
            Err(e) => error_matches(&e, expect),
            Ok(other) => Err(format!("expected an error, got {other:?}")),
        };
    }
    if get_bool(expect, "incomplete") {
        return match result {
            Ok(None) => Ok(()),
            other => Err(format!("expected 'need more bytes', got {other:?}")),
        };
    }
    let want = get(expect, "request").ok_or("'request' missing")?;
    let want = HandshakeRequest {
        protocol: get_str(want, "protocol")
            .ok_or("'request.protocol' missing")?
            .to_owned(),
        version: get(want, "version")
            .and_then(Value::as_i64)
            .and_then(|v| i32::try_from(v).ok())
            .ok_or("'request.version' missing")?,
    };
    let (req, used) = match result {
        Ok(Some(r)) => r,
        other => return Err(format!("expected {want:?}, got {other:?}")),
    };
    if req != want {
        return Err(format!("expected {want:?}, got {req:?}"));
    }
    if get_bool(entry, "framed") {
        check_rest(expect, &input[used..])?;
    }
    if get_bool(entry, "roundtrip") {
        let mut out = Vec::new();
        handshake::write_request(&req, &mut out);
        if !get_bool(entry, "framed") {
            out.pop();
        }
        if out != input {
            return Err(format!(
                "roundtrip: write_request gives {}, expected {}",
                show(&out),
                show(input)
            ));
        }
    }
    Ok(())
}

fn run_handshake_response(entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let result: Result<Option<(HandshakeResponse, usize)>, ProtocolError> =
        if get_bool(entry, "framed") {
            handshake::parse_response_frame(input)
        } else {
            handshake::parse_response(input).map(|r| Some((r, input.len())))
        };
    if get(expect, "error").is_some() {
        return match result {
            Err(e) => error_matches(&e, expect),
            Ok(other) => Err(format!("expected an error, got {other:?}")),
        };
    }
    if get_bool(expect, "incomplete") {
        return match result {
            Ok(None) => Ok(()),
            other => Err(format!("expected 'need more bytes', got {other:?}")),
        };
    }
    let want = get(expect, "response").ok_or("'response' missing")?;
    let want = HandshakeResponse {
        error: get_str(want, "error").map(str::to_owned),
    };
    let (resp, used) = match result {
        Ok(Some(r)) => r,
        other => return Err(format!("expected {want:?}, got {other:?}")),
    };
    if resp != want {
        return Err(format!("expected {want:?}, got {resp:?}"));
    }
    if get_bool(entry, "framed") {
        check_rest(expect, &input[used..])?;
    }
    if get_bool(entry, "roundtrip") {
        let mut out = Vec::new();
        handshake::write_response(&resp, &mut out);
        if out != input {
            return Err(format!(
                "roundtrip: write_response gives {}, expected {}",
                show(&out),
                show(input)
            ));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Negotiate

const NEGOTIATE_FIELDS: &[&str] = &[
    "negotiateVersion",
    "connectionId",
    "connectionToken",
    "url",
    "accessToken",
    "error",
    "useStatefulReconnect",
    "availableTransports",
];

fn opt_str(s: &Option<String>) -> Value {
    s.as_deref().map_or(Value::Null, Value::from)
}

/// Every field of a parsed response, in the fixtures' spelling.
fn negotiate_fields(r: &NegotiateResponse) -> BTreeMap<&'static str, Value> {
    let transports = match &r.available_transports {
        None => Value::Null,
        Some(list) => Value::Array(
            list.iter()
                .map(|t| {
                    Value::Map(vec![
                        (Value::from("transport"), Value::from(t.transport.as_str())),
                        (
                            Value::from("transferFormats"),
                            Value::Array(
                                t.transfer_formats
                                    .iter()
                                    .map(|f| Value::from(f.as_str()))
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect(),
        ),
    };
    BTreeMap::from([
        ("negotiateVersion", Value::from(r.negotiate_version)),
        ("connectionId", opt_str(&r.connection_id)),
        ("connectionToken", opt_str(&r.connection_token)),
        ("url", opt_str(&r.url)),
        ("accessToken", opt_str(&r.access_token)),
        ("error", opt_str(&r.error)),
        (
            "useStatefulReconnect",
            Value::from(r.use_stateful_reconnect),
        ),
        ("availableTransports", transports),
    ])
}

/// The expected fields: the defaults of an empty response, overridden by the fixture.
fn expected_negotiate_fields(want: &Value) -> Result<BTreeMap<&'static str, Value>, String> {
    let mut fields = negotiate_fields(&NegotiateResponse::default());
    for k in keys(want) {
        let key = NEGOTIATE_FIELDS
            .iter()
            .find(|f| **f == k)
            .ok_or_else(|| format!("unknown negotiate field '{k}'"))?;
        fields.insert(key, get(want, k).cloned().unwrap_or(Value::Null));
    }
    Ok(fields)
}

fn response_from_fields(want: &Value) -> Result<NegotiateResponse, String> {
    let f = expected_negotiate_fields(want)?;
    let s = |k: &str| f[k].as_str().map(str::to_owned);
    let transports = match &f["availableTransports"] {
        Value::Null => None,
        Value::Array(list) => Some(
            list.iter()
                .map(|t| AvailableTransport {
                    transport: get_str(t, "transport").unwrap_or_default().to_owned(),
                    transfer_formats: get(t, "transferFormats")
                        .and_then(Value::as_array)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect(),
                })
                .collect(),
        ),
        other => {
            return Err(format!(
                "'availableTransports' must be an array, not {other}"
            ))
        }
    };
    Ok(NegotiateResponse {
        negotiate_version: f["negotiateVersion"]
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(0),
        has_negotiate_version: true,
        connection_id: s("connectionId"),
        connection_token: s("connectionToken"),
        available_transports: transports,
        url: s("url"),
        access_token: s("accessToken"),
        error: s("error"),
        use_stateful_reconnect: f["useStatefulReconnect"].as_bool().unwrap_or(false),
    })
}

fn run_negotiate_response(entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let result = NegotiateResponse::parse(input);
    if get(expect, "error").is_some() {
        return match result {
            Err(e) => error_matches(&e, expect),
            Ok(r) => Err(format!("expected an error, got {r:?}")),
        };
    }
    let r = result.map_err(|e| format!("unexpected error {}", describe_error(&e)))?;
    let want = expected_negotiate_fields(get(expect, "response").ok_or("'response' missing")?)?;
    let got = negotiate_fields(&r);
    let mut problems = Vec::new();
    for (k, v) in &want {
        if got[k] != *v {
            problems.push(format!("{k}: expected {v}, actual {}", got[k]));
        }
    }
    if get_bool(entry, "roundtrip") {
        let json = r.to_json();
        if json.as_bytes() != input {
            problems.push(format!(
                "roundtrip: to_json gives\n      {json}\n    expected\n      {}",
                String::from_utf8_lossy(input)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn run_negotiate_write(entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let r = response_from_fields(get(expect, "response").ok_or("'response' missing")?)?;
    let json = r.to_json();
    if json.as_bytes() == input {
        Ok(())
    } else {
        Err(format!(
            "to_json gives {json}, expected {}",
            String::from_utf8_lossy(input)
        ))
    }
}

fn run_negotiate_query(entry: &Value, input: &[u8]) -> Result<(), String> {
    let expect = get(entry, "expect").ok_or("no 'expect'")?;
    let text = std::str::from_utf8(input).map_err(|e| e.to_string())?;
    let q = NegotiateQuery::parse(text);
    let minimum = get(expect, "minimum")
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
        .unwrap_or(0);
    let got = q.resolve_version(minimum);
    let mut problems = Vec::new();
    match (
        get_str(expect, "error"),
        get(expect, "version").and_then(Value::as_i64),
    ) {
        (Some(e), _) => {
            if got.as_ref().err().map(String::as_str) != Some(e) {
                problems.push(format!("expected error {e:?}, got {got:?}"));
            }
        }
        (None, Some(v)) => {
            if got != Ok(v as i32) {
                problems.push(format!("expected version {v}, got {got:?}"));
            }
        }
        (None, None) => problems.push("expect 'version' or 'error'".into()),
    }
    if let Some(b) = get(expect, "useStatefulReconnect").and_then(Value::as_bool) {
        if q.use_stateful_reconnect != b {
            problems.push(format!(
                "useStatefulReconnect: expected {b}, got {}",
                q.use_stateful_reconnect
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ------------------------------------------------------------------------------------------------

fn validate_schema(entry: &Value) -> Result<(), String> {
    for k in keys(entry) {
        if !ENTRY_KEYS.contains(&k) {
            return Err(format!("unknown entry key '{k}'"));
        }
    }
    for k in ["id", "source", "layer"] {
        if get_str(entry, k).is_none_or(str::is_empty) {
            return Err(format!("'{k}' must be a non-empty string"));
        }
    }
    let expect = get(entry, "expect").ok_or("'expect' missing")?;
    if !matches!(expect, Value::Map(_)) {
        return Err("'expect' must be an object".into());
    }
    for k in keys(expect) {
        if !EXPECT_KEYS.contains(&k) {
            return Err(format!("unknown expect key '{k}'"));
        }
    }
    Ok(())
}

fn run_entry(entry: &Value) -> Result<(), String> {
    validate_schema(entry)?;
    let input = bytes_of(get(entry, "input").ok_or("'input' missing")?)?;
    match get_str(entry, "layer").unwrap_or_default() {
        "json" => run_hub(HubProtocol::Json, entry, &input),
        "messagepack" => run_hub(HubProtocol::MessagePack, entry, &input),
        "varint" => run_varint(entry, &input),
        "binary-framing" => run_frames(TransferFormat::Binary, entry, &input),
        "text-framing" => run_frames(TransferFormat::Text, entry, &input),
        "handshake-request" => run_handshake_request(entry, &input),
        "handshake-response" => run_handshake_response(entry, &input),
        "negotiate-response" => run_negotiate_response(entry, &input),
        "negotiate-write" => run_negotiate_write(entry, &input),
        "negotiate-query" => run_negotiate_query(entry, &input),
        other => Err(format!("unknown layer '{other}'")),
    }
}

/// Whether an entry expects a failure of the input (error, binding failure, ignored, incomplete).
fn is_invalid(entry: &Value) -> bool {
    let Some(expect) = get(entry, "expect") else {
        return false;
    };
    get(expect, "error").is_some()
        || get(expect, "binding_error").is_some()
        || get_bool(expect, "incomplete")
        || get_bool(expect, "ignored")
}

#[test]
fn every_codec_vector() {
    let files = load_fixtures();
    let mut failures: Vec<String> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut summary = String::new();
    let mut total = 0;
    for (name, entries) in &files {
        let (mut invalid, mut roundtrip) = (0, 0);
        for (i, entry) in entries.iter().enumerate() {
            let id = get_str(entry, "id")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{name}[{i}]"));
            if !ids.insert(id.clone()) {
                failures.push(format!("{id} ({name}): duplicate id"));
            }
            invalid += usize::from(is_invalid(entry));
            roundtrip += usize::from(get_bool(entry, "roundtrip"));
            if let Err(e) = run_entry(entry) {
                let source = get_str(entry, "source").unwrap_or("?");
                failures.push(format!("{id} ({name}; {source}):\n    {e}"));
            }
        }
        total += entries.len();
        let _ = writeln!(
            summary,
            "  {name}: {} vectors ({} valid, {invalid} invalid, {roundtrip} round-trip)",
            entries.len(),
            entries.len() - invalid
        );
    }
    println!("codec vectors:\n{summary}  total: {total}");
    if !failures.is_empty() {
        panic!(
            "{} of {total} codec vectors failed:\n\n{}\n",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

#[test]
fn fixture_files_are_complete() {
    let files = load_fixtures();
    let mut problems = Vec::new();
    for (name, minimum) in MINIMUM_ENTRIES {
        match files.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("{name} is missing")),
            Some((_, entries)) if entries.len() < *minimum => problems.push(format!(
                "{name} holds {} entries, at least {minimum} expected (truncated?)",
                entries.len()
            )),
            Some(_) => {}
        }
    }
    for (name, entries) in &files {
        if entries.is_empty() {
            problems.push(format!("{name} is empty"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
