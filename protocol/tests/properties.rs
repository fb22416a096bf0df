//! Property tests of the codecs, built on the exported strategies (`--features strategies`).
//!
//! Case count: proptest's default (256), overridden by `PROPTEST_CASES`; the costlier properties
//! run a fraction of it.
#![cfg(feature = "strategies")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

#[path = "support/stj_escaping.rs"]
mod stj_escaping;
use stj_escaping::stj_default_escaping;

use signalr_protocol::error::texts;
use signalr_protocol::strategies::{self, canonical, chunking, chunks, hub_message_for};
use signalr_protocol::value::Timestamp;
use signalr_protocol::{
    framing, handshake, json, msgpack, notation, FrameReader, HubMessage, HubProtocol,
    MessageReader, NegotiateQuery, NegotiateResponse, Parsed, Value,
};

// ---------------------------------------------------------------------------------------------
// Allocation accounting: the bytes a thread has live, and their peak, while tracking is on.

struct Tracking;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            let live = LIVE.with(|l| {
                l.set(l.get() + delta);
                l.get()
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

// SAFETY: every call is forwarded to `System` unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns the peak of the bytes it had allocated at once on this thread.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    TRACKING.with(|t| t.set(true));
    let out = f();
    TRACKING.with(|t| t.set(false));
    (out, PEAK.with(|p| p.get()).max(0) as usize)
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// proptest's configuration (`PROPTEST_CASES` honoured) with the case count divided by `div`.
fn config(div: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        cases: (base.cases / div).max(1),
        ..base
    }
}

fn fail(what: &str, e: signalr_protocol::ProtocolError) -> TestCaseError {
    TestCaseError::fail(format!("{what}: {} ({:?})", e.detailed(), e.detail()))
}

/// Encodes, decodes and re-encodes `msg`: the decoded message is `canonical(protocol, msg)` and
/// writing it again gives the same bytes.
fn check_round_trip(protocol: HubProtocol, msg: &HubMessage) -> Result<(), TestCaseError> {
    let bytes = protocol.encode(msg);
    let decoded = protocol
        .decode_all(&bytes)
        .map_err(|e| fail(&format!("{protocol} decode"), e))?;
    let expected = canonical(protocol, msg);
    prop_assert_eq!(
        &decoded,
        &vec![Parsed::Message(expected.clone())],
        "{}",
        protocol
    );
    // Byte-for-byte: encode(decode(encode(m))) == encode(m). Except for float32 in JSON: it is
    // printed with float32's shortest-text rules (`3.5879814e-6`) and reads back as a float64,
    // printed with float64's (`0.0000035879814`): the same number, other bytes.
    if !(protocol == HubProtocol::Json && has_f32(msg)) {
        prop_assert_eq!(
            protocol.encode(&expected),
            bytes.clone(),
            "{} re-encode",
            protocol
        );
    }
    let again = protocol.encode(&expected);
    let decoded_again = protocol
        .decode_all(&again)
        .map_err(|e| fail("decode again", e))?;
    prop_assert_eq!(&decoded_again, &decoded);
    // The canonical form is a fixed point.
    prop_assert_eq!(canonical(protocol, &expected), expected);
    Ok(())
}

fn value_has_f32(v: &Value) -> bool {
    match v {
        Value::F32(_) => true,
        Value::Array(items) => items.iter().any(value_has_f32),
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| value_has_f32(k) || value_has_f32(v)),
        _ => false,
    }
}

/// Whether a float32 appears anywhere in the message's values.
fn has_f32(msg: &HubMessage) -> bool {
    match msg {
        HubMessage::Invocation(m) => m.arguments.iter().any(value_has_f32),
        HubMessage::StreamInvocation(m) => m.arguments.iter().any(value_has_f32),
        HubMessage::StreamItem(m) => value_has_f32(&m.item),
        HubMessage::Completion(m) => match &m.result {
            signalr_protocol::CompletionResult::Value(v) => value_has_f32(v),
            _ => false,
        },
        _ => false,
    }
}

/// Decodes `bytes` pushed in `cuts` chunks, taking messages out after every push.
fn read_chunked(
    protocol: HubProtocol,
    max: Option<usize>,
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<Parsed>, Option<signalr_protocol::ProtocolError>) {
    let mut reader = MessageReader::with_max_message_size(protocol, max);
    let mut out = Vec::new();
    for chunk in chunks(bytes, cuts) {
        reader.push(chunk);
        loop {
            match reader.next() {
                Ok(Some(p)) => out.push(p),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, reader.finish().err())
}

fn frames_chunked(
    protocol: HubProtocol,
    bytes: &[u8],
    cuts: &[usize],
) -> Result<Vec<Vec<u8>>, signalr_protocol::ProtocolError> {
    let mut reader = FrameReader::new();
    let mut out = Vec::new();
    for chunk in chunks(bytes, cuts) {
        reader.push(chunk);
        while let Some(p) = reader.next_frame(protocol.transfer_format())? {
            out.push(p.to_vec());
        }
    }
    reader.finish()?;
    Ok(out)
}

/// Several canonical messages, their framed bytes, and a chunking of them.
fn framed_stream(
    protocol: HubProtocol,
) -> impl Strategy<Value = (Vec<HubMessage>, Vec<u8>, Vec<usize>)> {
    vec(hub_message_for(protocol), 1..6).prop_flat_map(move |msgs| {
        let bytes: Vec<u8> = msgs.iter().flat_map(|m| protocol.encode(m)).collect();
        let len = bytes.len();
        (Just(msgs), Just(bytes), chunking(len))
    })
}

// ---------------------------------------------------------------------------------------------
// Round trips

macro_rules! round_trip_per_type {
    ($($name:ident => $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(config(2))]
            $(
                /// Both protocols: decode(encode(m)) == canonical(m), and re-encoding is stable.
                #[test]
                fn $name(msg in $strategy) {
                    for protocol in HubProtocol::ALL {
                        check_round_trip(protocol, &msg)?;
                    }
                }
            )*
        }
    };
}

round_trip_per_type! {
    round_trip_invocation => strategies::invocation();
    round_trip_stream_invocation => strategies::stream_invocation();
    round_trip_stream_item => strategies::stream_item();
    round_trip_completion => strategies::completion();
    round_trip_cancel_invocation => strategies::cancel_invocation();
    round_trip_ping => Just(HubMessage::Ping);
    round_trip_close => strategies::close();
    round_trip_ack => strategies::ack();
    round_trip_sequence => strategies::sequence();
}

proptest! {
    #![proptest_config(config(1))]

    /// Canonical messages come back exactly, in both protocols.
    #[test]
    fn canonical_messages_round_trip_exactly(
        json_msg in hub_message_for(HubProtocol::Json),
        mp_msg in hub_message_for(HubProtocol::MessagePack),
    ) {
        for (protocol, msg) in [(HubProtocol::Json, json_msg), (HubProtocol::MessagePack, mp_msg)] {
            let bytes = protocol.encode(&msg);
            let decoded = protocol.decode_all(&bytes).map_err(|e| fail("decode", e))?;
            prop_assert_eq!(decoded, vec![Parsed::Message(msg.clone())]);
            prop_assert_eq!(canonical(protocol, &msg), msg);
        }
    }

    /// Values alone: `write_value` / `parse_value` agree with the message-level rules.
    #[test]
    fn values_round_trip(v in strategies::value()) {
        let mut mp = Vec::new();
        msgpack::write_value(&v, &mut mp);
        let back = msgpack::parse_value(&mp).map_err(|e| fail("msgpack value", e))?;
        prop_assert_eq!(&back, &v);
        let text = json::value_to_vec(&v);
        let back = json::parse_value(&text).map_err(|e| fail("json value", e))?;
        prop_assert_eq!(back, strategies::canonical_value(HubProtocol::Json, &v));
    }

    /// NaN (excluded from the strategies) survives MessagePack bit for bit, and is null in JSON.
    #[test]
    fn nan_payloads(bits32 in any::<u32>(), bits64 in any::<u64>()) {
        let f32v = f32::from_bits(bits32 | 0x7f80_0001);
        let f64v = f64::from_bits(bits64 | 0x7ff0_0000_0000_0001);
        let v = Value::Array(vec![Value::F32(f32v), Value::F64(f64v)]);
        let mp = msgpack::value_to_vec(&v);
        let Value::Array(back) = msgpack::parse_value(&mp).map_err(|e| fail("msgpack", e))? else {
            return Err(TestCaseError::fail("not an array"));
        };
        match back.as_slice() {
            [Value::F32(a), Value::F64(b)] => {
                prop_assert_eq!(a.to_bits(), f32v.to_bits());
                prop_assert_eq!(b.to_bits(), f64v.to_bits());
            }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
        prop_assert_eq!(json::value_to_string(&v), "[null,null]");
    }

    /// MessagePack timestamps round-trip over the whole 96-bit range, not only `DateTime`'s.
    #[test]
    fn msgpack_timestamps_any_range(seconds in any::<i64>(), nanos in 0u32..1_000_000_000) {
        let v = Value::Timestamp(Timestamp::new(seconds, nanos).unwrap());
        let bytes = msgpack::value_to_vec(&v);
        let back = msgpack::parse_value(&bytes).map_err(|e| fail("msgpack", e))?;
        prop_assert_eq!(back, v);
    }

    /// Notation is lossless for values: `value_from_notation(value_to_notation(v)) == v`.
    #[test]
    fn notation_value_round_trip(v in strategies::value()) {
        let note = notation::value_to_notation(&v);
        prop_assert_eq!(notation::value_from_notation(&note), Ok(v));
    }

    /// NaN through notation stays NaN (its payload is not kept: notation writes "NaN").
    #[test]
    fn notation_nan(bits32 in any::<u32>(), bits64 in any::<u64>()) {
        let v = Value::Array(vec![
            Value::F32(f32::from_bits(bits32 | 0x7f80_0001)),
            Value::F64(f64::from_bits(bits64 | 0x7ff0_0000_0000_0001)),
        ]);
        let back = notation::value_from_notation(&notation::value_to_notation(&v))
            .map_err(TestCaseError::fail)?;
        match back.as_array() {
            Some([Value::F32(a), Value::F64(b)]) => prop_assert!(a.is_nan() && b.is_nan()),
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
    }

    /// Notation text is lossless for messages: `message_from_text(message_to_text(m)) == m`.
    #[test]
    fn notation_message_text_round_trip(msg in strategies::hub_message()) {
        let text = notation::message_to_text(&msg);
        prop_assert_eq!(notation::message_from_text(&text), Ok(msg), "{}", text);
    }
}

// ---------------------------------------------------------------------------------------------
// Chunking

proptest! {
    #![proptest_config(config(2))]

    /// Any chunking decodes (MessageReader and FrameReader) to what the whole buffer decodes to,
    /// without a size limit and with a limit exactly as large as the largest message.
    #[test]
    fn json_any_chunking((msgs, bytes, cuts) in framed_stream(HubProtocol::Json)) {
        check_chunking(HubProtocol::Json, &msgs, &bytes, &cuts)?;
    }

    /// As `json_any_chunking`, for MessagePack.
    #[test]
    fn msgpack_any_chunking((msgs, bytes, cuts) in framed_stream(HubProtocol::MessagePack)) {
        check_chunking(HubProtocol::MessagePack, &msgs, &bytes, &cuts)?;
    }
}

fn check_chunking(
    protocol: HubProtocol,
    msgs: &[HubMessage],
    bytes: &[u8],
    cuts: &[usize],
) -> Result<(), TestCaseError> {
    let whole = protocol
        .decode_all(bytes)
        .map_err(|e| fail("whole decode", e))?;
    let expected: Vec<Parsed> = msgs.iter().cloned().map(Parsed::Message).collect();
    prop_assert_eq!(&whole, &expected);

    let (got, err) = read_chunked(protocol, None, bytes, cuts);
    prop_assert!(err.is_none(), "unexpected error {:?}", err);
    prop_assert_eq!(&got, &whole);

    let sizes: Vec<usize> = msgs.iter().map(|m| protocol.encode(m).len()).collect();
    let largest = *sizes.iter().max().unwrap();
    let (got, err) = read_chunked(protocol, Some(largest), bytes, cuts);
    prop_assert!(
        err.is_none(),
        "limit {}: unexpected error {:?}",
        largest,
        err
    );
    prop_assert_eq!(&got, &whole);

    // One byte less: the messages before the first one over the limit, then the limit's error.
    if largest > 1 {
        let max = largest - 1;
        let fit = sizes.iter().take_while(|&&s| s <= max).count();
        let (got, err) = read_chunked(protocol, Some(max), bytes, cuts);
        prop_assert_eq!(&got[..], &whole[..fit]);
        let err = err.ok_or_else(|| TestCaseError::fail("no size error"))?;
        prop_assert_eq!(err.message(), texts::max_message_size(max));
    }

    let frames = frames_chunked(protocol, bytes, cuts).map_err(|e| fail("frames", e))?;
    let whole_frames = frames_chunked(protocol, bytes, &[]).map_err(|e| fail("frames", e))?;
    prop_assert_eq!(frames.len(), msgs.len());
    prop_assert_eq!(frames, whole_frames);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input never panics

/// JSON-ish token soup: property names and values of messages, handshakes and negotiate bodies.
fn json_soup() -> impl Strategy<Value = Vec<u8>> {
    let tokens = vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\"type\"",
        "\"invocationId\"",
        "\"target\"",
        "\"arguments\"",
        "\"streamIds\"",
        "\"item\"",
        "\"result\"",
        "\"error\"",
        "\"allowReconnect\"",
        "\"headers\"",
        "\"sequenceId\"",
        "\"protocol\"",
        "\"version\"",
        "\"url\"",
        "\"accessToken\"",
        "\"connectionId\"",
        "\"connectionToken\"",
        "\"negotiateVersion\"",
        "\"availableTransports\"",
        "\"transport\"",
        "\"transferFormats\"",
        "\"useStatefulReconnect\"",
        "\"ProtocolVersion\"",
        "\"$f32\"",
        "\"$bin\"",
        "\"$map\"",
        "\"$ext\"",
        "\"$timestamp\"",
        "\"data\"",
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "-1",
        "1.5",
        "1e400",
        "-0",
        "99999999999999999999",
        "2147483648",
        "null",
        "true",
        "false",
        "\"x\"",
        "\"\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"NaN\"",
        "\"AQI=\"",
        "\"2018-01-01T11:24:00Z\"",
        "\x1e",
        "\\",
        "\"",
    ];
    vec(prop::sample::select(tokens), 0..40).prop_map(|t| t.concat().into_bytes())
}

/// A valid encoding with a few bytes overwritten, inserted or removed, or cut short.
fn mutated(protocol: HubProtocol) -> impl Strategy<Value = Vec<u8>> {
    let edits = vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..4);
    (hub_message_for(protocol), edits).prop_map(move |(m, edits)| {
        let mut bytes = protocol.encode(&m);
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i),
            }
        }
        bytes
    })
}

/// MessagePack-ish: random format bytes with forged lengths among them.
fn msgpack_soup() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            vec![0x96u8, 0x01, 0x80],
            vec![0x95, 0x03, 0x80, 0xa1, 0x31, 0x03],
            vec![0x94, 0x02, 0x80, 0xa1, 0x31],
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
            vec![0xdf, 0x7f, 0xff, 0xff, 0xff],
            vec![0xdb, 0xff, 0xff, 0xff, 0xff],
            vec![0xc6, 0xff, 0xff, 0xff, 0xff],
            vec![0xc9, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xd6, 0xff, 0, 0, 0, 1],
            vec![0xc7, 12, 0xff],
            vec![0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xff, 0xff, 0xff, 0xff, 0x07],
        ]),
    ];
    vec(pieces, 0..24).prop_map(|p| p.concat())
}

fn query_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "?",
        "&",
        "=",
        "+",
        "%",
        "%2",
        "%zz",
        "%C3%A9",
        "%FF",
        "%+1",
        "%-1",
        "negotiateVersion",
        "NEGOTIATEVERSION",
        "useStatefulReconnect",
        "id",
        "1",
        "-1",
        "+1",
        " ",
        "true",
        "True",
        "2147483648",
        "é",
        ",",
    ];
    vec(prop::sample::select(tokens), 0..16).prop_map(|t| t.concat())
}

fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..200),
        json_soup(),
        msgpack_soup(),
        mutated(HubProtocol::Json),
        mutated(HubProtocol::MessagePack),
    ]
}

/// Feeds `bytes` to every parser; only panics matter.
fn parse_everything(bytes: &[u8], cuts: &[usize]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = json::parse_message(bytes);
    let _ = json::parse_value(bytes);
    let _ = msgpack::parse_message(bytes);
    let _ = msgpack::parse_value(bytes);
    let _ = handshake::parse_request(bytes);
    let _ = handshake::parse_response(bytes);
    let _ = handshake::parse_request_frame(bytes);
    let _ = handshake::parse_response_frame(bytes);
    let _ = framing::read_varint(bytes);
    let _ = framing::split_binary(bytes);
    let _ = NegotiateResponse::parse(bytes);
    let _ = NegotiateQuery::parse(&text);
    let _ = notation::message_from_text(&text);
    for protocol in HubProtocol::ALL {
        for max in [None, Some(16)] {
            let _ = read_chunked(protocol, max, bytes, cuts);
        }
        let _ = frames_chunked(protocol, bytes, cuts);
        let _ = protocol.decode_all(bytes);
    }
}

proptest! {
    #![proptest_config(config(1))]

    /// No parser panics on any input, in any chunking.
    #[test]
    fn arbitrary_input_never_panics(
        (bytes, cuts) in junk().prop_flat_map(|b| {
            let len = b.len();
            (Just(b), chunking(len))
        })
    ) {
        parse_everything(&bytes, &cuts);
    }

    /// Query strings of negotiate's own vocabulary never panic, and keep unrelated keys.
    #[test]
    fn negotiate_query_never_panics(q in query_soup()) {
        let parsed = NegotiateQuery::parse(&q);
        let _ = parsed.to_query_string();
        let _ = parsed.resolve_version(0);
    }
}

// ---------------------------------------------------------------------------------------------
// The direct JSON reader agrees with the reference reader

/// JSON text with string contents of every kind the direct reader decodes itself: escapes of
/// each form, surrogate pairs (also broken ones), control characters, non-ASCII, bad UTF-8.
fn json_string_soup() -> impl Strategy<Value = Vec<u8>> {
    let pieces = vec![
        "a",
        "é",
        "日本語",
        "😀",
        "\\\"",
        "\\\\",
        "\\/",
        "\\b",
        "\\f",
        "\\n",
        "\\r",
        "\\t",
        "\\u0041",
        "\\u00e9",
        "\\u00E9",
        "\\u20AC",
        "\\uD83D\\uDE00",
        "\\ud83d\\ude00",
        "\\uD83D",
        "\\uDE00",
        "\\uD83D\\u0041",
        "\\uD83Dx",
        "\\u12",
        "\\u12G4",
        "\\x",
        "\\",
        "\u{7f}",
        "\n",
        "\u{1}",
        "\"",
        " ",
        "0123456789abcdef",
    ];
    let text = vec(prop::sample::select(pieces), 0..12).prop_map(|t| t.concat());
    let bad_utf8 = prop::sample::select(vec![vec![], vec![0xffu8], vec![0xc3], vec![0xe6, 0x97]]);
    let numbers = prop::sample::select(vec![
        "0",
        "-0",
        "-0.0",
        "1",
        "-1",
        "01",
        "1.",
        "1.5",
        ".5",
        "1e5",
        "1E+5",
        "1e-5",
        "1e400",
        "-1e400",
        "1e-400",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "2147483647",
        "2147483648",
        "-2147483649",
        "1.0",
        "null",
        "true",
        "false",
        "nul",
        "[]",
        "{}",
        "[1,]",
        "{\"a\":1,}",
    ]);
    (text, bad_utf8, numbers, 0u8..8).prop_map(|(text, bad, number, shape)| {
        let mut s = Vec::new();
        let mut string = b"\"".to_vec();
        string.extend_from_slice(text.as_bytes());
        string.extend_from_slice(&bad);
        string.push(b'"');
        let put = |s: &mut Vec<u8>, parts: &[&[u8]]| parts.iter().for_each(|p| s.extend_from_slice(p));
        match shape {
            0 => put(&mut s, &[b"{\"type\":1,\"target\":", &string, b",\"arguments\":[", &string, b",", number.as_bytes(), b"]}"]),
            1 => put(&mut s, &[b"{\"type\":3,\"invocationId\":", &string, b",\"result\":{", &string, b":", number.as_bytes(), b"}}"]),
            2 => put(&mut s, &[b"{\"type\":1,\"headers\":{", &string, b":", &string, b"},\"target\":\"T\",\"arguments\":[]}"]),
            3 => put(&mut s, &[b"{\"type\":", number.as_bytes(), b",\"sequenceId\":", number.as_bytes(), b"}"]),
            4 => put(&mut s, &[b"{\"type\":4,\"invocationId\":\"1\",\"target\":\"T\",\"arguments\":[],\"streamIds\":[", &string, b"]}"]),
            5 => put(&mut s, &[b" {", &string, b":", number.as_bytes(), b",\"type\":7,\"error\":", &string, b",\"allowReconnect\":", number.as_bytes(), b"} x", &bad]),
            6 => put(&mut s, &[&string]),
            _ => put(&mut s, &[b"[", number.as_bytes(), b",", &string, b"] "]),
        }
        s
    })
}

fn json_inputs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_soup(),
        json_string_soup(),
        mutated(HubProtocol::Json),
        hub_message_for(HubProtocol::Json)
            .prop_map(|m| stj_default_escaping(&HubProtocol::Json.encode(&m))),
        strategies::json_value().prop_map(|v| json::value_to_vec(&v)),
        vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(config(1))]

    /// What the direct reader accepts, the reference reader reads the same; what it refuses
    /// fails with the reference reader's error (`Debug` text, so NaN equals itself).
    #[test]
    fn fast_and_reference_agree(bytes in json_inputs()) {
        let payload = bytes.strip_suffix(b"\x1e").unwrap_or(&bytes);
        prop_assert_eq!(
            format!("{:?}", json::parse_message(payload)),
            format!("{:?}", json::parse_message_reference(payload))
        );
        prop_assert_eq!(
            format!("{:?}", json::parse_value(payload)),
            format!("{:?}", json::parse_value_reference(payload))
        );
    }

    /// System.Text.Json's default `\uXXXX` escaping reads back as the message itself.
    #[test]
    fn stj_escaped_json_reads_back(msg in hub_message_for(HubProtocol::Json)) {
        let escaped = stj_default_escaping(&HubProtocol::Json.encode(&msg));
        let parsed = HubProtocol::Json.decode_all(&escaped).map_err(|e| fail("decode", e))?;
        prop_assert_eq!(
            format!("{:?}", parsed),
            format!("{:?}", HubProtocol::Json.decode_all(&HubProtocol::Json.encode(&msg)).map_err(|e| fail("decode", e))?)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Forged lengths do not drive allocations

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// Largest allocation (live bytes at once) allowed for a handful of input bytes.
const SMALL_INPUT_BUDGET: usize = 64 * 1024;

#[test]
fn forged_varint_prefix_buffers_only_what_arrived() {
    for prefix in ["ff ff ff ff 07", "80 80 80 80 01", "ff ff ff 7f"] {
        let mut bytes = hex(prefix);
        bytes.extend_from_slice(b"\x96\x01\x80");
        let ((), peak) = peak_allocation(|| {
            let mut reader = MessageReader::new(HubProtocol::MessagePack);
            for chunk in bytes.chunks(2) {
                reader.push(chunk);
                assert!(reader.next().unwrap().is_none(), "{prefix}");
            }
            assert!(reader.finish().is_err());
            let mut frames = FrameReader::with_max_message_size(Some(1 << 30));
            frames.push(&bytes);
            assert!(frames.next_binary().unwrap().is_none());
        });
        assert!(peak < SMALL_INPUT_BUDGET, "{prefix}: {peak} bytes");
    }
    // Over 2 GB is refused outright.
    let mut reader = MessageReader::new(HubProtocol::MessagePack);
    reader.push(&hex("ff ff ff ff 08 00"));
    assert_eq!(
        reader.next().unwrap_err().message(),
        texts::MESSAGES_OVER_2GB
    );
}

#[test]
fn forged_msgpack_counts_do_not_allocate() {
    let cases = [
        // Outer message array 32.
        "dd ff ff ff ff 01",
        // Headers map 32.
        "96 01 df ff ff ff ff",
        // Target str 32.
        "96 01 80 c0 db ff ff ff ff 41",
        // Arguments array 32.
        "96 01 80 c0 a1 54 dd ff ff ff ff",
        // A bin 32 argument.
        "96 01 80 c0 a1 54 91 c6 ff ff ff ff 00",
        // Stream ids array 32.
        "96 01 80 c0 a1 54 90 dd ff ff ff ff",
        // StreamItem: array 32, map 32, str 32, ext 32 items.
        "94 02 80 a1 31 dd ff ff ff ff c0",
        "94 02 80 a1 31 df ff ff ff ff c0 c0",
        "94 02 80 a1 31 db ff ff ff ff 41",
        "94 02 80 a1 31 c9 ff ff ff ff 05 00",
        // Completion: error str 32, result array 32.
        "95 03 80 a1 31 01 db ff ff ff ff",
        "95 03 80 a1 31 03 dd ff ff ff ff",
        // Close error str 32.
        "93 07 db ff ff ff ff c2",
    ];
    for case in cases {
        let payload = hex(case);
        let (result, peak) = peak_allocation(|| msgpack::parse_message(&payload));
        assert!(
            peak < SMALL_INPUT_BUDGET,
            "{case}: {peak} bytes ({result:?})"
        );
        assert!(
            !matches!(result, Ok(Parsed::Message(_))),
            "{case}: {result:?}"
        );
        let mut framed = Vec::new();
        framing::frame_binary(&payload, &mut framed);
        let (_, peak) = peak_allocation(|| HubProtocol::MessagePack.decode_all(&framed));
        assert!(peak < SMALL_INPUT_BUDGET, "{case} framed: {peak} bytes");
    }
}

/// Nested containers whose counts each claim every byte that is left must not multiply the
/// allocation by the nesting depth (each level reserving room for the whole rest of the input).
///
/// Fails today: `Reader::value` reserves `n` elements per array/map level (bounded only by the
/// bytes left), so 66 741 input bytes make 839 MB live at once. Capping the reservation (e.g.
/// `Vec::with_capacity(n.min(64))`) fixes it at no measurable cost.
#[test]
fn nested_forged_counts_stay_proportional() {
    // StreamItem whose item is 400 nested array 16 headers, each claiming 0xffff elements,
    // followed by enough filler that every claim is within the bytes left.
    let depth = 400;
    let mut payload = hex("94 02 80 a1 31");
    for _ in 0..depth {
        payload.extend_from_slice(&[0xdc, 0xff, 0xff]);
    }
    payload.extend(std::iter::repeat_n(0xc0u8, 0x1_0000));
    let (result, peak) = peak_allocation(|| msgpack::parse_message(&payload));
    assert!(
        !matches!(result, Ok(Parsed::Message(_))),
        "{:?}",
        result.map(|_| ())
    );
    // The decoded form of a value takes 32 bytes per element: allow that per input byte, twice.
    let budget = 64 * payload.len();
    assert!(
        peak <= budget,
        "{} input bytes made {peak} bytes live at once (budget {budget})",
        payload.len()
    );
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    // JSON: 100 000 nested arrays in an argument.
    let mut text = b"{\"type\":1,\"target\":\"T\",\"arguments\":[".to_vec();
    text.extend(std::iter::repeat_n(b'[', 100_000));
    assert!(json::parse_message(&text).is_err());
    assert!(handshake::parse_request(&text).is_err());
    assert!(NegotiateResponse::parse(&text).is_err());
    assert!(notation::message_from_text(&String::from_utf8_lossy(&text)).is_err());
    // MessagePack: 100 000 nested fixarrays in an argument.
    let mut payload = hex("96 01 80 c0 a1 54 91");
    payload.extend(std::iter::repeat_n(0x91u8, 100_000));
    assert!(!matches!(
        msgpack::parse_message(&payload),
        Ok(Parsed::Message(_))
    ));
}

/// The README's examples are the files under `examples/`, verbatim (so they are compiled).
#[test]
fn readme_examples_are_the_example_files() {
    let readme = include_str!("../README.md");
    for (name, source) in [
        ("examples/usage.rs", include_str!("../examples/usage.rs")),
        (
            "examples/own_codec/against_ours.rs",
            include_str!("../examples/own_codec/against_ours.rs"),
        ),
    ] {
        assert!(
            readme.contains(source.trim_end()),
            "README.md does not contain {name} verbatim"
        );
    }
}
