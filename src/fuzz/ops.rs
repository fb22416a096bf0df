//! What a generated sequence is made of ([`Op`]) and the proptest strategies that generate it,
//! built on `signalr_protocol::strategies` (values, texts) so shrinking works on every part:
//! proptest drops operations from the sequence and simplifies the values inside them.

use proptest::collection::vec;
use proptest::prelude::*;
use signalr_protocol::{strategies, HubProtocol, TransportKind, Value};

/// What the target offers, as far as the generator cares (from its `Describe()`).
#[derive(Debug, Clone, Default)]
pub struct Caps {
    /// Transports and protocols to draw combinations from.
    pub combos: Vec<(TransportKind, HubProtocol)>,
    /// Contract features (`echo`, `server-streams` …).
    pub features: Vec<String>,
    /// `maximumParallelInvocationsPerClient` is 1: completions come in invocation order.
    pub sequential: bool,
    /// `maximumReceiveMessageSize` is ASP.NET Core's 32768.
    pub default_size_limit: bool,
    /// Keep-alive, client-timeout and handshake timers are short enough to wait out
    /// (each at most a few seconds), so the timing operations are generated.
    pub short_timers: bool,
}

impl Caps {
    /// Whether the target declares `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// A generated sequence: one transport and protocol for all its clients, and the operations.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// Transport of every client.
    pub transport: TransportKind,
    /// Hub protocol of every client.
    pub protocol: HubProtocol,
    /// The operations, in order; clients `a`, `b`, `c` are indexes 0, 1, 2.
    pub ops: Vec<Op>,
}

/// One item of a batch sent in one frame.
#[derive(Debug, Clone)]
pub enum BatchItem {
    /// `Echo(value)`.
    Echo(Value),
    /// `Delay(ms, value)`.
    Delay(u8, Value),
}

/// Invalid input whose reaction ASP.NET Core is known for: a Close with an error, then the end.
#[derive(Debug, Clone, Copy)]
pub enum Invalid {
    /// JSON: a message that is not valid JSON; MessagePack: an empty message.
    Malformed,
    /// JSON: an empty message (a lone separator); MessagePack: a length prefix of 2^31.
    Empty,
    /// A one-byte message `{` (JSON: not JSON; MessagePack: not an array).
    OneByte,
}

/// One operation of a sequence. `c` is the acting client (0 = `a`, 1 = `b`, 2 = `c`).
#[derive(Debug, Clone)]
pub enum Op {
    /// `Echo(value)`, blocking or not, with the method name in some casing.
    Echo {
        c: u8,
        value: Value,
        blocking: bool,
        casing: u8,
    },
    /// `Falsy(kind)` for one of the four kinds.
    Falsy { c: u8, kind: u8 },
    /// `Counter(count, 0)` as a stream.
    Counter { c: u8, count: u8 },
    /// `InfiniteStream()` then CancelInvocation.
    CancelInfinite { c: u8 },
    /// `UploadCollect` with these items, the invocation, items and completion in one send cut
    /// at these offsets (per mille of the length).
    Upload {
        c: u8,
        items: Vec<Value>,
        cuts: Vec<u16>,
    },
    /// An invocation of a method the hub does not have.
    UnknownMethod { c: u8, name: String },
    /// `ThrowHubException(message)`.
    HubException { c: u8, message: String },
    /// `Add(arg, 1)` with an argument that is not an int.
    BindingFailure { c: u8, arg: Value },
    /// A Ping from the client.
    Ping { c: u8 },
    /// Several blocking invocations in one send, cut at these offsets (per mille).
    Batch {
        c: u8,
        items: Vec<BatchItem>,
        cuts: Vec<u16>,
    },
    /// A blocking Echo and a message of unknown type in one frame.
    UnknownType { c: u8, value: Value },
    /// `JoinGroup(g)`.
    Join { c: u8, g: u8 },
    /// `LeaveGroup(g)`.
    Leave { c: u8, g: u8 },
    /// `SendToGroup(g, "fuzzMessage", payload)`.
    GroupSend { c: u8, g: u8, payload: Value },
    /// `SendToOthers("fuzzMessage", payload)`.
    Others { c: u8, payload: Value },
    /// `InvokeCaller("fuzzResult", [value], 0)`, answered with `value`.
    ClientResult { c: u8, value: Value },
    /// Invalid input.
    Invalid { c: u8, kind: Invalid },
    /// A message over 32768 bytes.
    Oversize { c: u8 },
    /// `RequestClose()` (non-blocking).
    RequestClose { c: u8 },
    /// Negotiate (version 1, or 0), and a transport opened with the connection id.
    Negotiate { version0: bool },
    /// A handshake naming an unknown protocol.
    BadHandshake { name: String },
    /// Wait for a keep-alive Ping.
    KeepAlive { c: u8 },
    /// A Ping, then silence until the client timeout closes the connection.
    ClientTimeout { c: u8 },
    /// A transport opened without a handshake until the handshake timeout.
    HandshakeTimeout,
}

/// Strings in generated values never hold `${` (the case notation's variables) and map keys
/// never start with `$` (the notation's tags and matchers).
fn sanitize(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("${", "$ {")),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitize).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Value::String(s) if s.starts_with('$') => Value::String(format!("_{s}")),
                        other => sanitize(other),
                    };
                    (k, sanitize(v))
                })
                .collect(),
        ),
        other => other,
    }
}

/// Whether `v` binds to a .NET `object` on ASP.NET Core and comes back equal: MessagePack
/// maps with unique string keys only (a .NET dictionary refuses null and repeated keys), no
/// timestamps (they pass through `DateTime`) and no extensions (they fail to bind).
fn object_safe(v: &Value) -> bool {
    match v {
        Value::Timestamp(_) | Value::Ext(..) => false,
        Value::Array(items) => items.iter().all(object_safe),
        Value::Map(entries) => {
            let mut seen = std::collections::HashSet::new();
            entries.iter().all(|(k, v)| match k {
                Value::String(s) => seen.insert(s.clone()) && object_safe(v),
                _ => false,
            })
        }
        _ => true,
    }
}

fn sanitized_text() -> BoxedStrategy<String> {
    strategies::text()
        .prop_map(|s| s.replace("${", "$ {"))
        .boxed()
}

/// A value for an `object` parameter in `protocol`: the protocol crate's values (unicode,
/// boundary integers, binary in MessagePack), plus deeply nested arrays and large strings.
pub fn object_value(protocol: HubProtocol) -> BoxedStrategy<Value> {
    let base = match protocol {
        HubProtocol::Json => strategies::json_value(),
        HubProtocol::MessagePack => strategies::value()
            .prop_filter("binds to object on ASP.NET Core", object_safe)
            .boxed(),
    };
    let base = base
        .prop_map(move |v| strategies::canonical_value(protocol, &sanitize(v)))
        .boxed();
    let nested = (5usize..40, base.clone())
        .prop_map(|(depth, mut v)| {
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            v
        })
        .boxed();
    let large = (
        1usize..16_000,
        prop::sample::select(vec!["x", "é", "日", "😀"]),
    )
        .prop_map(|(n, s)| Value::String(s.repeat(n.div_ceil(s.len()))))
        .boxed();
    prop_oneof![12 => base, 1 => nested, 1 => large].boxed()
}

fn client() -> BoxedStrategy<u8> {
    prop_oneof![4 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)].boxed()
}

fn cuts() -> BoxedStrategy<Vec<u16>> {
    prop_oneof![2 => Just(Vec::new()), 3 => vec(1u16..1000, 1..6)].boxed()
}

/// One operation, over what `caps` offers.
pub fn op(caps: &Caps, protocol: HubProtocol) -> BoxedStrategy<Op> {
    let v = object_value(protocol);
    let mut arms: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (
            12,
            (client(), v.clone(), prop::bool::weighted(0.8), 0u8..4)
                .prop_map(|(c, value, blocking, casing)| Op::Echo {
                    c,
                    value,
                    blocking,
                    casing,
                })
                .boxed(),
        ),
        (
            3,
            (client(), 0u8..4)
                .prop_map(|(c, kind)| Op::Falsy { c, kind })
                .boxed(),
        ),
        (2, client().prop_map(|c| Op::Ping { c }).boxed()),
        (
            2,
            (client(), "No[A-Za-z0-9_]{0,10}")
                .prop_map(|(c, name)| Op::UnknownMethod { c, name })
                .boxed(),
        ),
        (
            2,
            (client(), v.clone())
                .prop_map(|(c, value)| Op::UnknownType { c, value })
                .boxed(),
        ),
        (
            2,
            (
                Just(()),
                prop_oneof![
                    Just(Invalid::Malformed),
                    Just(Invalid::Empty),
                    Just(Invalid::OneByte)
                ],
                client(),
            )
                .prop_map(|(_, kind, c)| Op::Invalid { c, kind })
                .boxed(),
        ),
        (
            2,
            any::<bool>()
                .prop_map(|version0| Op::Negotiate { version0 })
                .boxed(),
        ),
        (
            1,
            "[a-z][a-z0-9]{0,8}"
                .prop_map(|n| Op::BadHandshake {
                    name: format!("x-{n}"),
                })
                .boxed(),
        ),
    ];
    let batch_item = if caps.has("delays") {
        prop_oneof![
            3 => v.clone().prop_map(BatchItem::Echo),
            2 => (0u8..30, v.clone()).prop_map(|(ms, v)| BatchItem::Delay(ms, v)),
        ]
        .boxed()
    } else {
        v.clone().prop_map(BatchItem::Echo).boxed()
    };
    arms.push((
        4,
        (client(), vec(batch_item, 2..5), cuts())
            .prop_map(|(c, items, cuts)| Op::Batch { c, items, cuts })
            .boxed(),
    ));
    if caps.has("typed-binding") {
        let arg = prop_oneof![
            sanitized_text().prop_map(Value::String),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::F64(1.5)),
        ];
        arms.push((
            2,
            (client(), arg)
                .prop_map(|(c, arg)| Op::BindingFailure { c, arg })
                .boxed(),
        ));
    }
    if caps.has("errors") {
        arms.push((
            2,
            (client(), sanitized_text())
                .prop_map(|(c, message)| Op::HubException { c, message })
                .boxed(),
        ));
    }
    if caps.has("server-streams") {
        arms.push((
            4,
            (client(), 0u8..6)
                .prop_map(|(c, count)| Op::Counter { c, count })
                .boxed(),
        ));
        arms.push((2, client().prop_map(|c| Op::CancelInfinite { c }).boxed()));
    }
    if caps.has("upload-streams") {
        arms.push((
            3,
            (client(), vec(v.clone(), 0..5), cuts())
                .prop_map(|(c, items, cuts)| Op::Upload { c, items, cuts })
                .boxed(),
        ));
    }
    if caps.has("groups") {
        arms.push((
            3,
            (client(), 0u8..2)
                .prop_map(|(c, g)| Op::Join { c, g })
                .boxed(),
        ));
        arms.push((
            1,
            (client(), 0u8..2)
                .prop_map(|(c, g)| Op::Leave { c, g })
                .boxed(),
        ));
        arms.push((
            3,
            (client(), 0u8..2, v.clone())
                .prop_map(|(c, g, payload)| Op::GroupSend { c, g, payload })
                .boxed(),
        ));
    }
    if caps.has("broadcast") {
        arms.push((
            2,
            (client(), v.clone())
                .prop_map(|(c, payload)| Op::Others { c, payload })
                .boxed(),
        ));
    }
    if caps.has("client-results") {
        arms.push((
            2,
            (client(), v.clone())
                .prop_map(|(c, value)| Op::ClientResult { c, value })
                .boxed(),
        ));
    }
    if caps.has("close") {
        arms.push((1, client().prop_map(|c| Op::RequestClose { c }).boxed()));
    }
    if caps.default_size_limit {
        arms.push((1, client().prop_map(|c| Op::Oversize { c }).boxed()));
    }
    // Everything above is ten times as likely as one timing operation, which waits out a
    // server timer (about a second on the embedded mock-hub): they stay near 1 in 500 each.
    let mut arms: Vec<(u32, BoxedStrategy<Op>)> =
        arms.into_iter().map(|(w, s)| (w * 10, s)).collect();
    if caps.short_timers {
        arms.push((1, client().prop_map(|c| Op::KeepAlive { c }).boxed()));
        arms.push((1, client().prop_map(|c| Op::ClientTimeout { c }).boxed()));
        arms.push((1, Just(Op::HandshakeTimeout).boxed()));
    }
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// A whole sequence: a combination the target offers and 1–`max_len` operations.
pub fn sequence(caps: &Caps, max_len: usize) -> BoxedStrategy<Sequence> {
    let caps = caps.clone();
    let max_len = max_len.max(1);
    prop::sample::select(caps.combos.clone())
        .prop_flat_map(move |(transport, protocol)| {
            vec(op(&caps, protocol), 1..=max_len).prop_map(move |ops| Sequence {
                transport,
                protocol,
                ops,
            })
        })
        .boxed()
}
