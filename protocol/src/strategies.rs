//! [proptest](mod@proptest) strategies for every hub message and value, for property-testing a
//! codec against this one (feature `strategies`).
//!
//! Two kinds of strategy:
//!
//! - **Model strategies** ([`value`], [`invocation`] … [`hub_message`]) cover the whole message
//!   model: every [`Value`] variant, headers, optional ids. Every message they produce can be
//!   encoded and decoded by both protocols, but a protocol may hand back a normalised form (JSON
//!   has no `bin`, MessagePack writes an empty `streamIds` array that reads back as absent …):
//!   [`canonical`] computes exactly that form.
//! - **Per-protocol strategies** ([`json_value`], [`hub_message_for`]) produce only canonical
//!   messages, which a protocol round-trips to themselves: `decode(encode(m)) == m`.
//!
//! What every strategy guarantees: required strings (targets, invocation ids of types 2–5, header
//! keys and values, stream ids) are non-empty, as both readers demand; values nest at most four
//! levels with at most four elements per level (strings up to 300 bytes, with a rare 2 KB one);
//! NaN is never generated, since `Value`'s `PartialEq` cannot compare it (MessagePack carries NaN
//! bit for bit; compare encodings to test it); timestamps stay in a .NET `DateTime`'s range
//! (years 1–9999), the values a SignalR peer sends.
//!
//! [`chunking`] and [`chunks`] cut a byte stream at arbitrary points, for testing incremental
//! readers.
//!
//! ```
//! use proptest::prelude::*;
//! use signalr_protocol::{strategies, HubProtocol, MessageReader, Parsed};
//!
//! // The closure form runs the property right here; in a test file write
//! // `proptest! { #[test] fn name(m in strategy) { … } }` instead.
//! proptest!(ProptestConfig::with_cases(64), |(
//!     (msg, cuts) in strategies::hub_message_for(HubProtocol::MessagePack).prop_flat_map(|m| {
//!         let len = HubProtocol::MessagePack.encode(&m).len();
//!         (Just(m), strategies::chunking(len))
//!     })
//! )| {
//!     let bytes = HubProtocol::MessagePack.encode(&msg);
//!     let mut reader = MessageReader::new(HubProtocol::MessagePack);
//!     let mut got = Vec::new();
//!     for chunk in strategies::chunks(&bytes, &cuts) {
//!         reader.push(chunk);
//!         while let Some(p) = reader.next().unwrap() {
//!             got.push(p);
//!         }
//!     }
//!     prop_assert_eq!(got, vec![Parsed::Message(msg)]);
//! });
//! ```

use base64::Engine as _;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use crate::hub::HubProtocol;
use crate::message::{
    CancelInvocation, Close, Completion, CompletionResult, Headers, HubMessage, Invocation,
    SequenceId, StreamInvocation, StreamItem,
};
use crate::value::{Timestamp, Value};

/// Seconds of 0001-01-01T00:00:00Z, `DateTime.MinValue`.
const DATETIME_MIN_SECONDS: i64 = -62_135_596_800;
/// Seconds of 9999-12-31T23:59:59Z, `DateTime.MaxValue` (whole seconds).
const DATETIME_MAX_SECONDS: i64 = 253_402_300_799;

// ---------------------------------------------------------------------------------------------
// Text

/// One character, biased towards the ones codecs get wrong: quotes, backslashes, control
/// characters (the record separator 0x1E included), DEL, and multi-byte UTF-8.
fn tricky_char() -> BoxedStrategy<char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => prop::char::range('0', '9'),
        3 => prop::sample::select(vec![
            '"', '\\', '/', '\n', '\r', '\t', '\u{8}', '\u{c}', '\0', '\u{1e}', '\u{1f}', '\u{7f}',
            ' ', '$', '<', '>', '&', '\'', '+', 'é', 'ß', '\u{80}', '\u{2028}', '\u{fffd}',
            '\u{ffff}', '日', '😀', '\u{10ffff}',
        ]),
        1 => any::<char>(),
    ]
    .boxed()
}

/// A string of 0–12 tricky characters, sometimes one exactly at a MessagePack length boundary
/// (31/32, 255/256 bytes), rarely a 2 KB one.
pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        40 => vec(tricky_char(), 0..12).prop_map(String::from_iter),
        2 => prop::sample::select(vec![31usize, 32, 255, 256])
            .prop_map(|n| "x".repeat(n)),
        1 => Just("\u{1e}".repeat(300)),
        1 => Just("é".repeat(1024)),
    ]
    .boxed()
}

/// A non-empty string of 1–12 tricky characters (or a plain identifier).
pub fn non_empty_text() -> BoxedStrategy<String> {
    prop_oneof![
        2 => "[A-Za-z][A-Za-z0-9_]{0,11}",
        3 => vec(tricky_char(), 1..12).prop_map(String::from_iter),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// Values

/// Integers biased to the edges of every MessagePack integer format.
fn int() -> BoxedStrategy<i64> {
    prop_oneof![
        3 => -300i64..300,
        2 => prop::sample::select(vec![
            0i64, -1, -32, -33, 127, 128, -128, -129, 255, 256, 32_767, 32_768, -32_768, -32_769,
            65_535, 65_536, 2_147_483_647, 2_147_483_648, -2_147_483_648, -2_147_483_649,
            4_294_967_295, 4_294_967_296, 9_007_199_254_740_993, i64::MAX, i64::MIN,
        ]),
        2 => any::<i64>(),
    ]
    .boxed()
}

/// Integers above `i64::MAX` (smaller ones are `Value::Int`).
fn big_uint() -> BoxedStrategy<u64> {
    prop_oneof![
        Just(i64::MAX as u64 + 1),
        Just(u64::MAX),
        (i64::MAX as u64 + 1)..=u64::MAX,
    ]
    .boxed()
}

/// Finite float64s: small fractions, integral values, and arbitrary bit patterns.
fn finite_f64() -> BoxedStrategy<f64> {
    use prop::num::f64 as F;
    prop_oneof![
        2 => (-4000i32..4000).prop_map(|i| f64::from(i) / 8.0),
        1 => prop::sample::select(vec![
            0.0, -0.0, 0.1, 0.3, 1.0, 1e16, 1e21, 1e-7, 123_456.789, 0.1 + 0.2, 5e-324,
            f64::MAX, f64::MIN, f64::MIN_POSITIVE, f64::EPSILON,
        ]),
        3 => F::POSITIVE | F::NEGATIVE | F::NORMAL | F::SUBNORMAL | F::ZERO,
    ]
    .boxed()
}

/// Float64s: finite or infinite, never NaN.
fn any_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        8 => finite_f64(),
        1 => prop::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY]),
    ]
    .boxed()
}

/// Float32s: finite or infinite, never NaN.
fn any_f32() -> BoxedStrategy<f32> {
    use prop::num::f32 as F;
    prop_oneof![
        2 => (-4000i32..4000).prop_map(|i| i as f32 / 8.0),
        1 => prop::sample::select(vec![0.1f32, -0.0, f32::MAX, f32::MIN_POSITIVE, 1e-45]),
        3 => F::POSITIVE | F::NEGATIVE | F::NORMAL | F::SUBNORMAL | F::ZERO | F::INFINITE,
    ]
    .boxed()
}

/// Bytes: 0–16 arbitrary ones, or a length at a MessagePack boundary (255/256 bytes).
fn bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..16),
        1 => prop::sample::select(vec![255usize, 256]).prop_map(|n| vec![0xc1; n]),
    ]
    .boxed()
}

/// A timestamp in a .NET `DateTime`'s range, biased to the 32-, 64- and 96-bit encodings' edges.
pub fn timestamp() -> BoxedStrategy<Timestamp> {
    let seconds = prop_oneof![
        2 => DATETIME_MIN_SECONDS..=DATETIME_MAX_SECONDS,
        1 => prop::sample::select(vec![
            0i64,
            -1,
            1_514_805_840,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
            (1i64 << 34) - 1,
            1i64 << 34,
            DATETIME_MIN_SECONDS,
            DATETIME_MAX_SECONDS,
        ]),
    ];
    let nanos = prop_oneof![Just(0u32), 0u32..1_000_000_000, Just(999_999_999)];
    (seconds, nanos)
        .prop_map(|(s, n)| Timestamp::new(s, n).expect("nanoseconds below one second"))
        .boxed()
}

/// A MessagePack extension other than a valid timestamp (a `-1` extension whose payload is a
/// valid timestamp would read back as [`Value::Timestamp`]).
fn ext() -> BoxedStrategy<Value> {
    let data = prop_oneof![
        3 => prop::sample::select(vec![0usize, 1, 2, 3, 4, 8, 12, 16, 17])
            .prop_flat_map(|n| vec(any::<u8>(), n)),
        1 => Just(vec![7u8; 256]),
    ];
    (any::<i8>(), data)
        .prop_map(|(ty, data)| {
            if ty == -1 && Timestamp::from_ext_payload(&data).is_some() {
                Value::Ext(-2, data)
            } else {
                Value::Ext(ty, data)
            }
        })
        .boxed()
}

/// Leaves of the full model.
fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::Bool),
        6 => int().prop_map(Value::Int),
        1 => big_uint().prop_map(Value::UInt),
        2 => any_f32().prop_map(Value::F32),
        3 => any_f64().prop_map(Value::F64),
        6 => text().prop_map(Value::String),
        2 => bytes().prop_map(Value::Binary),
        1 => timestamp().prop_map(Value::Timestamp),
        1 => ext(),
    ]
    .boxed()
}

/// Leaves JSON reads back as themselves.
fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::Bool),
        6 => int().prop_map(Value::Int),
        1 => big_uint().prop_map(Value::UInt),
        3 => finite_f64().prop_map(Value::F64),
        6 => text().prop_map(Value::String),
    ]
    .boxed()
}

/// Keeps the first entry of every repeated string key.
fn unique_keys(entries: Vec<(String, Value)>) -> Value {
    let mut seen = std::collections::HashSet::new();
    Value::Map(
        entries
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| (Value::String(k), v))
            .collect(),
    )
}

/// Any value in the form MessagePack reads back (every variant; integers up to `i64::MAX` are
/// `Int`, maps may have non-string and repeated keys; no NaN).
pub fn value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(3, 24, 4, |inner| {
            let key = prop_oneof![4 => text().prop_map(Value::String), 1 => inner.clone()];
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Array),
                vec((key, inner), 0..4).prop_map(Value::Map),
            ]
        })
        .boxed()
}

/// A value the JSON protocol reads back as itself: null, booleans, integers, finite float64s,
/// strings, arrays and maps with unique string keys (no float32, bin, timestamp or extension:
/// JSON writes them as a number, base64 and ISO 8601 strings).
pub fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Array),
                vec((text(), inner), 0..4).prop_map(unique_keys),
            ]
        })
        .boxed()
}

/// The value strategy for `protocol`: [`json_value`] or [`value`].
pub fn value_for(protocol: HubProtocol) -> BoxedStrategy<Value> {
    match protocol {
        HubProtocol::Json => json_value(),
        HubProtocol::MessagePack => value(),
    }
}

// ---------------------------------------------------------------------------------------------
// Message parts

/// Headers: usually none, else 1–3 entries with non-empty keys and values.
pub fn headers() -> BoxedStrategy<Headers> {
    prop_oneof![
        3 => Just(Headers::new()),
        1 => vec((non_empty_text(), non_empty_text()), 1..4).prop_map(Headers::from_iter),
    ]
    .boxed()
}

/// A non-empty invocation id: mostly decimal as the .NET client writes them, sometimes any text.
pub fn invocation_id() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (0u32..100_000).prop_map(|i| i.to_string()),
        1 => non_empty_text(),
    ]
    .boxed()
}

/// A method name (non-empty).
fn target() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec!["Send", "Echo", "StreamNumbers", "broadcastMessage"])
            .prop_map(str::to_owned),
        1 => non_empty_text(),
    ]
    .boxed()
}

fn stream_ids() -> BoxedStrategy<Option<Vec<String>>> {
    prop_oneof![
        3 => Just(None),
        1 => vec(invocation_id(), 0..3).prop_map(Some),
    ]
    .boxed()
}

fn arguments(values: BoxedStrategy<Value>) -> BoxedStrategy<Vec<Value>> {
    vec(values, 0..4).boxed()
}

// ---------------------------------------------------------------------------------------------
// Messages, parameterised by their value strategy

fn invocation_with(values: BoxedStrategy<Value>) -> BoxedStrategy<HubMessage> {
    let id = prop_oneof![
        3 => invocation_id().prop_map(Some),
        1 => Just(None),
        1 => Just(Some(String::new())),
    ];
    (headers(), id, target(), arguments(values), stream_ids())
        .prop_map(|(headers, invocation_id, target, arguments, stream_ids)| {
            HubMessage::Invocation(Invocation {
                headers,
                invocation_id,
                target,
                arguments,
                stream_ids,
            })
        })
        .boxed()
}

fn stream_invocation_with(values: BoxedStrategy<Value>) -> BoxedStrategy<HubMessage> {
    (
        headers(),
        invocation_id(),
        target(),
        arguments(values),
        stream_ids(),
    )
        .prop_map(|(headers, invocation_id, target, arguments, stream_ids)| {
            HubMessage::StreamInvocation(StreamInvocation {
                headers,
                invocation_id,
                target,
                arguments,
                stream_ids,
            })
        })
        .boxed()
}

fn stream_item_with(values: BoxedStrategy<Value>) -> BoxedStrategy<HubMessage> {
    (headers(), invocation_id(), values)
        .prop_map(|(headers, invocation_id, item)| {
            HubMessage::StreamItem(StreamItem {
                headers,
                invocation_id,
                item,
            })
        })
        .boxed()
}

fn completion_with(values: BoxedStrategy<Value>) -> BoxedStrategy<HubMessage> {
    let result = prop_oneof![
        1 => Just(CompletionResult::Void),
        2 => values.prop_map(CompletionResult::Value),
        1 => text().prop_map(CompletionResult::Error),
    ];
    (headers(), invocation_id(), result)
        .prop_map(|(headers, invocation_id, result)| {
            HubMessage::Completion(Completion {
                headers,
                invocation_id,
                result,
            })
        })
        .boxed()
}

fn hub_message_with(values: BoxedStrategy<Value>) -> BoxedStrategy<HubMessage> {
    prop_oneof![
        3 => invocation_with(values.clone()),
        2 => stream_item_with(values.clone()),
        3 => completion_with(values.clone()),
        1 => stream_invocation_with(values),
        1 => cancel_invocation(),
        1 => Just(HubMessage::Ping),
        1 => close(),
        1 => ack(),
        1 => sequence(),
    ]
    .boxed()
}

/// An Invocation (type 1): with an id, without one, or with an empty one (written as absent).
pub fn invocation() -> BoxedStrategy<HubMessage> {
    invocation_with(value())
}

/// A StreamInvocation (type 4).
pub fn stream_invocation() -> BoxedStrategy<HubMessage> {
    stream_invocation_with(value())
}

/// A StreamItem (type 2).
pub fn stream_item() -> BoxedStrategy<HubMessage> {
    stream_item_with(value())
}

/// A Completion (type 3): void, a value, or an error text (possibly empty).
pub fn completion() -> BoxedStrategy<HubMessage> {
    completion_with(value())
}

/// A CancelInvocation (type 5).
pub fn cancel_invocation() -> BoxedStrategy<HubMessage> {
    (headers(), invocation_id())
        .prop_map(|(headers, invocation_id)| {
            HubMessage::CancelInvocation(CancelInvocation {
                headers,
                invocation_id,
            })
        })
        .boxed()
}

/// A Close (type 7): no error, an error text (possibly empty), with or without reconnect.
pub fn close() -> BoxedStrategy<HubMessage> {
    let error = prop_oneof![
        2 => Just(None),
        2 => text().prop_map(Some),
        1 => Just(Some(String::new())),
    ];
    (error, any::<bool>())
        .prop_map(|(error, allow_reconnect)| {
            HubMessage::Close(Close {
                error,
                allow_reconnect,
            })
        })
        .boxed()
}

fn sequence_id() -> BoxedStrategy<SequenceId> {
    int()
        .prop_map(|sequence_id| SequenceId { sequence_id })
        .boxed()
}

/// An Ack (type 8), any `i64` sequence id.
pub fn ack() -> BoxedStrategy<HubMessage> {
    sequence_id().prop_map(HubMessage::Ack).boxed()
}

/// A Sequence (type 9), any `i64` sequence id.
pub fn sequence() -> BoxedStrategy<HubMessage> {
    sequence_id().prop_map(HubMessage::Sequence).boxed()
}

/// Any of the nine message types, over the full model (see [`canonical`] for what each protocol
/// reads back).
pub fn hub_message() -> BoxedStrategy<HubMessage> {
    hub_message_with(value())
}

/// Any of the nine message types in `protocol`'s canonical form: `decode(encode(m)) == m`.
pub fn hub_message_for(protocol: HubProtocol) -> BoxedStrategy<HubMessage> {
    hub_message_with(value_for(protocol))
        .prop_map(move |m| canonical(protocol, &m))
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/// What `protocol` reads back after writing `msg`, for any message whose required strings are
/// non-empty (as every strategy here makes them).
///
/// Both protocols: an empty invocation id on an Invocation is written as absent (`None`).
///
/// JSON: an empty Completion error is written as nothing at all (a void Completion); values are
/// normalised by [`canonical_value`].
///
/// MessagePack: `streamIds` is always written, an empty array reading back as `None`; an empty
/// Close error is written as nil (`None`); values by [`canonical_value`].
pub fn canonical(protocol: HubProtocol, msg: &HubMessage) -> HubMessage {
    let v = |x: &Value| canonical_value(protocol, x);
    let args = |a: &[Value]| a.iter().map(v).collect::<Vec<_>>();
    let ids = |ids: &Option<Vec<String>>| match protocol {
        HubProtocol::Json => ids.clone(),
        HubProtocol::MessagePack => ids.clone().filter(|ids| !ids.is_empty()),
    };
    match msg {
        HubMessage::Invocation(m) => HubMessage::Invocation(Invocation {
            headers: m.headers.clone(),
            invocation_id: m.invocation_id.clone().filter(|id| !id.is_empty()),
            target: m.target.clone(),
            arguments: args(&m.arguments),
            stream_ids: ids(&m.stream_ids),
        }),
        HubMessage::StreamInvocation(m) => HubMessage::StreamInvocation(StreamInvocation {
            headers: m.headers.clone(),
            invocation_id: m.invocation_id.clone(),
            target: m.target.clone(),
            arguments: args(&m.arguments),
            stream_ids: ids(&m.stream_ids),
        }),
        HubMessage::StreamItem(m) => HubMessage::StreamItem(StreamItem {
            headers: m.headers.clone(),
            invocation_id: m.invocation_id.clone(),
            item: v(&m.item),
        }),
        HubMessage::Completion(m) => HubMessage::Completion(Completion {
            headers: m.headers.clone(),
            invocation_id: m.invocation_id.clone(),
            result: match (&m.result, protocol) {
                (CompletionResult::Error(e), HubProtocol::Json) if e.is_empty() => {
                    CompletionResult::Void
                }
                (CompletionResult::Value(x), _) => CompletionResult::Value(v(x)),
                (other, _) => other.clone(),
            },
        }),
        HubMessage::Close(c) => HubMessage::Close(Close {
            error: match protocol {
                HubProtocol::Json => c.error.clone(),
                HubProtocol::MessagePack => c.error.clone().filter(|e| !e.is_empty()),
            },
            allow_reconnect: c.allow_reconnect,
        }),
        other => other.clone(),
    }
}

/// What `protocol` reads back after writing `v`.
///
/// JSON: bin becomes its base64 string, a timestamp its ISO 8601 string (100 ns precision),
/// another extension the base64 string of its data; a float32 becomes the float64 of its
/// shortest text (`0.1f32` → `0.1`); a non-finite float becomes null; a map key that is not a
/// string becomes the string of its JSON text.
///
/// MessagePack: an unsigned integer up to `i64::MAX` reads back as `Int`, a `-1` extension with
/// a valid timestamp payload as `Timestamp`; everything else as itself (NaN too, bit for bit).
pub fn canonical_value(protocol: HubProtocol, v: &Value) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let recurse = |x: &Value| canonical_value(protocol, x);
    match v {
        Value::UInt(u) if *u <= i64::MAX as u64 => Value::Int(*u as i64),
        Value::Array(items) => Value::Array(items.iter().map(recurse).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, x)| {
                    let k = match (protocol, k) {
                        (HubProtocol::Json, Value::String(_)) | (HubProtocol::MessagePack, _) => {
                            recurse(k)
                        }
                        (HubProtocol::Json, other) => {
                            Value::String(crate::json::value_to_string(other))
                        }
                    };
                    (k, recurse(x))
                })
                .collect(),
        ),
        Value::Ext(-1, data) if protocol == HubProtocol::MessagePack => {
            match Timestamp::from_ext_payload(data) {
                Some(t) => Value::Timestamp(t),
                None => v.clone(),
            }
        }
        _ if protocol == HubProtocol::MessagePack => v.clone(),
        // JSON from here on.
        Value::F64(f) if !f.is_finite() => Value::Null,
        Value::F32(f) if !f.is_finite() => Value::Null,
        Value::F32(f) => {
            // The writer prints the float32's shortest text; the reader parses it as a float64.
            let text = serde_json::to_string(f).unwrap_or_default();
            Value::F64(text.parse().unwrap_or(f64::NAN))
        }
        Value::Binary(b) => Value::String(b64(b)),
        Value::Ext(_, data) => Value::String(b64(data)),
        Value::Timestamp(t) => Value::String(t.to_iso8601()),
        _ => v.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Chunking

/// Cut points (strictly increasing, each in `1..len`) that split `len` bytes into chunks: whole,
/// one byte at a time, fixed-size chunks, or random chunk sizes. Apply them with [`chunks`].
pub fn chunking(len: usize) -> BoxedStrategy<Vec<usize>> {
    if len < 2 {
        return Just(Vec::new()).boxed();
    }
    prop_oneof![
        1 => Just(Vec::new()),
        1 => Just((1..len).collect::<Vec<_>>()),
        1 => (1..=len.min(64)).prop_map(move |n| (n..len).step_by(n).collect::<Vec<_>>()),
        4 => vec(1..len, 1..=(len - 1).min(24)).prop_map(|mut cuts| {
            cuts.sort_unstable();
            cuts.dedup();
            cuts
        }),
    ]
    .boxed()
}

/// Splits `bytes` at the cut points from [`chunking`] (points outside `1..len` are ignored).
pub fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        if cut > start && cut < bytes.len() {
            out.push(&bytes[start..cut]);
            start = cut;
        }
    }
    out.push(&bytes[start..]);
    out
}
