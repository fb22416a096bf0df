//! Encode and decode throughput of both hub protocols, against the strongest plain parsers of the
//! same bytes.
//!
//! `cargo bench -p signalr-protocol` (a custom harness: no criterion). Without `--bench` (as
//! `cargo test --benches` runs it) it does one quick pass as a smoke test. Any other argument is
//! a filter: only scenarios whose name contains it run (`cargo bench -p signalr-protocol -- 2k`).
//! A filter ending in `$` must match the whole name (`2k-text$`, without `2k-text-stj`).
//! `json` or `messagepack` runs one protocol only. `--once` measures full-size data once, without warm-up (for `valgrind --tool=callgrind`).
//!
//! Scenarios (each a framed buffer per protocol):
//!
//! - `flat` — the original figure, kept so that before/after compare: 10 000 messages from one
//!   seed; 50 % Invocations of 1–3 short alphanumeric arguments, 20 % Completions, 20 %
//!   StreamItems with small results, 10 % Invocations of one 2 KB alphanumeric string (~73 % of
//!   the bytes). No escapes, no non-ASCII, no headers, no stream ids.
//! - `<size>-<text>`, realistic mixes from three seeds each: every message type that carries data
//!   (Invocations with and without ids, some with headers and stream ids, StreamInvocations,
//!   StreamItems, Completions with results and errors, CancelInvocations, Pings), with values of
//!   every JSON kind (integers, floats, booleans, null, nested objects and arrays, strings).
//!   Sizes: `64b` (messages of ~64 bytes), `2k` (~2 KB each: a record of several text fields), and
//!   `64k` (~64 KB each: an array of records). Texts: `ascii` (words and punctuation) or `text`
//!   (chat-like text with quotes, backslashes, newlines, tabs, HTML, `é € 日本語 😀`).
//! - `<size>-text-stj`: JSON only, the same `text` messages as System.Text.Json writes them by
//!   default (`JavaScriptEncoder.Default`: every non-ASCII character, `<>&'+` and `"` as
//!   `\uXXXX`, astral characters as surrogate pairs). Decoded only (we write relaxed escaping).
//!
//! Measured per scenario and protocol, as the median of several timed runs after a warm-up:
//!
//! - encode: `HubProtocol::write` of every message into a reused buffer;
//! - decode: one `MessageReader` over the whole buffer (framing + parsing into `HubMessage`);
//! - baselines over the payloads (framing removed): `serde_json::Value`, and a typed serde struct
//!   of the hub message's fields (arguments, item and result as `serde_json::Value`) for JSON;
//!   `rmpv::decode::read_value` (owned) and `rmpv::decode::read_value_ref` (borrowed, no copies)
//!   for MessagePack.
//!
//! MB/s counts the framed buffer's bytes for encode and decode, the payload bytes for the
//! baselines (1 MB = 10^6 bytes). Ratios are decode msg/s over baseline msg/s.

#[path = "../tests/support/stj_escaping.rs"]
mod stj_escaping;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use stj_escaping::stj_default_escaping;

use signalr_protocol::{
    framing, CompletionResult, Headers, HubMessage, HubProtocol, Invocation, MessageReader,
    StreamInvocation, Value,
};

/// xorshift64*: a fixed, dependency-free sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn word(&mut self, max: u64) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
        let len = 1 + self.below(max);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// The original (flattering) mix

fn small_value(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0..=2 => Value::String(rng.word(16)),
        3..=5 => Value::Int(rng.below(100_000) as i64),
        6 => Value::Bool(rng.below(2) == 0),
        _ => Value::F64(rng.below(10_000) as f64 / 8.0),
    }
}

fn small_object(rng: &mut Rng) -> Value {
    Value::Map(vec![
        (Value::string("id"), Value::Int(rng.below(1_000_000) as i64)),
        (Value::string("name"), Value::String(rng.word(12))),
    ])
}

/// The `flat` mix described in the module docs.
fn flat_messages(count: usize) -> Vec<HubMessage> {
    const TARGETS: [&str; 4] = ["Send", "JoinGroup", "UpdatePosition", "broadcastMessage"];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let big = "0123456789abcdef".repeat(128); // 2 KB
    (0..count)
        .map(|i| {
            let id = (i + 1).to_string();
            match rng.below(10) {
                0..=4 => {
                    let args = (0..1 + rng.below(3))
                        .map(|_| small_value(&mut rng))
                        .collect();
                    let target = TARGETS[rng.below(4) as usize];
                    if rng.below(4) == 0 {
                        HubMessage::send(target, args)
                    } else {
                        HubMessage::invoke(id, target, args)
                    }
                }
                5 | 6 => {
                    let result = match rng.below(3) {
                        0 => Value::Int(rng.below(1000) as i64),
                        1 => Value::String(rng.word(16)),
                        _ => small_object(&mut rng),
                    };
                    HubMessage::completion(id, CompletionResult::Value(result))
                }
                7 | 8 => {
                    let item = if rng.below(2) == 0 {
                        Value::Int(rng.below(1_000_000) as i64)
                    } else {
                        small_object(&mut rng)
                    };
                    HubMessage::stream_item(id, item)
                }
                _ => HubMessage::Invocation(Invocation {
                    invocation_id: Some(id),
                    ..match HubMessage::send("Upload", vec![Value::String(big.clone())]) {
                        HubMessage::Invocation(inv) => inv,
                        _ => unreachable!(),
                    }
                }),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Realistic mixes

#[derive(Clone, Copy, PartialEq)]
enum Text {
    /// Words and ASCII punctuation, nothing JSON escapes.
    Ascii,
    /// Chat-like text: quotes, backslashes, newlines, tabs, HTML, accents, CJK, emoji.
    Rich,
}

#[derive(Clone, Copy)]
enum Size {
    Small,
    TwoK,
    SixtyFourK,
}

const ASCII_PIECES: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "hello",
    "world",
    "SignalR",
    "message",
    "user42",
    "2024-05-01",
    "ok",
    "3.14",
    "-",
    ",",
    ".",
    "!",
    "?",
    "(see below)",
];
const RICH_PIECES: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "hello",
    "world",
    "message",
    ",",
    ".",
    "!",
    "?",
    "\"quoted\"",
    "C:\\path\\to\\file",
    "line\nbreak",
    "tab\there",
    "<b>bold</b>",
    "a & b",
    "it's",
    "1+1",
    "café",
    "naïve",
    "€20",
    "日本語",
    "こんにちは",
    "😀",
    "👍🏽",
    "Grüße",
    "\r\n",
    "/",
    "{json}",
];

/// About `len` bytes of text made of pieces separated by spaces.
fn text(rng: &mut Rng, kind: Text, len: usize) -> String {
    let pieces = match kind {
        Text::Ascii => ASCII_PIECES,
        Text::Rich => RICH_PIECES,
    };
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(rng.pick(pieces));
    }
    s
}

fn number(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => Value::Int(rng.below(100) as i64),
        1 => Value::Int(rng.below(1 << 40) as i64 - (1 << 39)),
        2 => Value::F64((rng.below(2_000_000) as f64 - 1e6) / 1024.0),
        _ => Value::F64(rng.below(1 << 30) as f64 * 1.5e-7),
    }
}

/// A record of about `text_len` bytes of text in a few fields, plus numbers, flags, a nested
/// object and an array.
fn record(rng: &mut Rng, kind: Text, text_len: usize) -> Value {
    let s = |k: &str| Value::string(k);
    let fields = 1 + text_len / 400;
    let mut entries = vec![
        (s("id"), Value::Int(rng.below(1_000_000) as i64)),
        (s("user"), Value::String(text(rng, kind, 8))),
        (s("score"), number(rng)),
        (s("active"), Value::Bool(rng.below(2) == 0)),
        (s("parent"), Value::Null),
        (
            s("position"),
            Value::Map(vec![
                (s("x"), number(rng)),
                (s("y"), number(rng)),
                (s("tags"), Value::Array(vec![s("a"), s("b"), number(rng)])),
            ]),
        ),
    ];
    for i in 0..fields {
        entries.push((
            Value::String(format!("text{i}")),
            Value::String(text(rng, kind, text_len / fields)),
        ));
    }
    Value::Map(entries)
}

fn headers(rng: &mut Rng) -> Headers {
    let mut h = Headers::new();
    h.insert(
        "traceparent",
        format!("00-{:032x}-{:016x}-01", rng.next(), rng.next()),
    );
    if rng.below(2) == 0 {
        h.insert("user-agent", "Microsoft SignalR/8.0 (.NET; Linux)");
    }
    h
}

/// One realistic message of about the size class's size.
fn realistic(rng: &mut Rng, size: Size, kind: Text, i: usize) -> HubMessage {
    const TARGETS: &[&str] = &[
        "SendMessage",
        "JoinGroup",
        "UpdatePosition",
        "ReceiveMessage",
    ];
    let id = (i + 1).to_string();
    let payload = |rng: &mut Rng| -> Value {
        match size {
            Size::Small => match rng.below(4) {
                0 => Value::String(text(rng, kind, 12)),
                1 => number(rng),
                2 => Value::Bool(true),
                _ => Value::Array(vec![number(rng), Value::String(text(rng, kind, 4))]),
            },
            Size::TwoK => record(rng, kind, 1800),
            Size::SixtyFourK => Value::Array((0..32).map(|_| record(rng, kind, 1900)).collect()),
        }
    };
    let with_headers = rng.below(4) == 0;
    let h = if with_headers {
        headers(rng)
    } else {
        Headers::new()
    };
    match rng.below(20) {
        0..=7 => {
            let target = rng.pick(TARGETS);
            let mut args = vec![payload(rng)];
            if rng.below(2) == 0 {
                args.insert(0, Value::String(text(rng, kind, 6)));
            }
            let stream_ids = (rng.below(8) == 0).then(|| vec![format!("{}", i * 2 + 1)]);
            let invocation_id = (rng.below(4) != 0).then_some(id);
            HubMessage::Invocation(Invocation {
                headers: h,
                invocation_id,
                target: target.to_owned(),
                arguments: args,
                stream_ids,
            })
        }
        8 => HubMessage::StreamInvocation(StreamInvocation {
            headers: h,
            invocation_id: id,
            target: "Counter".to_owned(),
            arguments: vec![payload(rng), Value::Int(10)],
            stream_ids: None,
        }),
        9..=13 => {
            let mut m = HubMessage::stream_item(id, payload(rng));
            if let HubMessage::StreamItem(s) = &mut m {
                s.headers = h;
            }
            m
        }
        14..=17 => {
            let result = if rng.below(8) == 0 {
                CompletionResult::Error(format!("Failed: {}", text(rng, kind, 20)))
            } else {
                CompletionResult::Value(payload(rng))
            };
            HubMessage::completion(id, result)
        }
        18 => HubMessage::CancelInvocation(signalr_protocol::CancelInvocation {
            headers: h,
            invocation_id: id,
        }),
        _ => HubMessage::Ping,
    }
}

fn realistic_messages(size: Size, kind: Text) -> Vec<HubMessage> {
    // About 3 MB of payload per scenario, from three seeds.
    let per_seed = match size {
        Size::Small => 16_000,
        Size::TwoK => 500,
        Size::SixtyFourK => 16,
    };
    let mut out = Vec::new();
    for seed in [
        0x5eed_0000_0000_0001u64,
        0x0123_4567_89ab_cdef,
        0xfeed_face_dead_beef,
    ] {
        let mut rng = Rng(seed);
        for i in 0..per_seed {
            out.push(realistic(&mut rng, size, kind, i));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Baselines

/// The strongest JSON baseline: serde's derived parser for the hub message's fields.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct TypedMessage {
    #[serde(rename = "type")]
    ty: i32,
    headers: Option<HashMap<String, String>>,
    invocation_id: Option<String>,
    target: Option<String>,
    arguments: Option<Vec<serde_json::Value>>,
    stream_ids: Option<Vec<String>>,
    item: Option<serde_json::Value>,
    result: Option<serde_json::Value>,
    error: Option<String>,
    allow_reconnect: Option<bool>,
    sequence_id: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// The payloads of a framed buffer (separators or prefixes removed), as ranges.
fn payload_ranges(protocol: HubProtocol, buf: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let (range, consumed) = match protocol {
            HubProtocol::Json => {
                let (len, consumed) = framing::split_text(&buf[pos..]).expect("separator");
                (0..len, consumed)
            }
            HubProtocol::MessagePack => framing::split_binary(&buf[pos..])
                .expect("valid prefix")
                .expect("whole message"),
        };
        out.push(pos + range.start..pos + range.end);
        pos += consumed;
    }
    out
}

// The measured loops, never inlined, so that callgrind can count each one's instructions
// (`callgrind_annotate --inclusive=yes` and look for `codec::encode_all` etc.).

#[inline(never)]
fn encode_all(protocol: HubProtocol, msgs: &[HubMessage], out: &mut Vec<u8>) {
    out.clear();
    for m in msgs {
        protocol.write(black_box(m), out);
    }
    black_box(&out);
}

/// Decodes a framed buffer with one `MessageReader`; the number of messages.
#[inline(never)]
fn decode_all(protocol: HubProtocol, framed: &[u8]) -> usize {
    let mut reader = MessageReader::new(protocol);
    reader.push(black_box(framed));
    let mut n = 0;
    while let Some(p) = reader.next().expect("valid") {
        black_box(&p);
        n += 1;
    }
    n
}

#[inline(never)]
fn parse_all(protocol: HubProtocol, framed: &[u8], ranges: &[std::ops::Range<usize>]) {
    for r in ranges {
        black_box(
            protocol
                .parse(black_box(&framed[r.clone()]))
                .expect("valid"),
        );
    }
}

/// Median duration of `runs` timed calls of `f`, after `warmup` untimed ones.
fn median(warmup: usize, runs: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

struct Row {
    scenario: String,
    protocol: HubProtocol,
    what: &'static str,
    msgs_per_s: f64,
    mb_per_s: f64,
}

struct Bench {
    only_protocol: Option<HubProtocol>,
    warmup: usize,
    runs: usize,
    rows: Vec<Row>,
    ratios: Vec<(String, f64)>,
}

impl Bench {
    fn row(
        &mut self,
        scenario: &str,
        protocol: HubProtocol,
        what: &'static str,
        msgs: usize,
        bytes: usize,
        t: Duration,
    ) -> f64 {
        let s = t.as_secs_f64();
        let msgs_per_s = msgs as f64 / s;
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            protocol,
            what,
            msgs_per_s,
            mb_per_s: bytes as f64 / s / 1e6,
        });
        msgs_per_s
    }

    /// Encodes (unless `framed` is given: then only decodes those bytes) and decodes one
    /// scenario's messages, and runs the baselines over the same payloads.
    fn scenario(
        &mut self,
        name: &str,
        protocol: HubProtocol,
        msgs: &[HubMessage],
        framed: Option<Vec<u8>>,
    ) {
        if self.only_protocol.is_some_and(|p| p != protocol) {
            return;
        }
        let (warmup, runs) = (self.warmup, self.runs);
        let encode = framed.is_none();
        let framed = framed.unwrap_or_else(|| {
            let mut framed = Vec::new();
            for m in msgs {
                protocol.write(m, &mut framed);
            }
            framed
        });
        let ranges = payload_ranges(protocol, &framed);
        assert_eq!(ranges.len(), msgs.len());
        let payload_bytes: usize = ranges.iter().map(|r| r.len()).sum();

        // Sanity: the decoder reads back what was written.
        let decoded = protocol.decode_all(&framed).expect("decodes");
        assert_eq!(decoded.len(), msgs.len());
        for (d, m) in decoded.iter().zip(msgs) {
            assert_eq!(
                d.clone().into_message().as_ref(),
                Some(m),
                "{name}: round trip"
            );
        }

        if encode {
            let mut out = Vec::with_capacity(framed.len());
            let t = median(warmup, runs, || encode_all(protocol, msgs, &mut out));
            self.row(name, protocol, "encode", msgs.len(), framed.len(), t);
        }

        let t = median(warmup, runs, || {
            assert_eq!(decode_all(protocol, &framed), msgs.len());
        });
        let decode = self.row(
            name,
            protocol,
            "decode (MessageReader)",
            msgs.len(),
            framed.len(),
            t,
        );

        let t = median(warmup, runs, || parse_all(protocol, &framed, &ranges));
        self.row(
            name,
            protocol,
            "decode (parse payloads only)",
            msgs.len(),
            payload_bytes,
            t,
        );

        let baselines: [(&'static str, Duration); 2] = match protocol {
            HubProtocol::Json => [
                (
                    "baseline serde_json::Value",
                    median(warmup, runs, || {
                        for r in &ranges {
                            let v: serde_json::Value =
                                serde_json::from_slice(black_box(&framed[r.clone()]))
                                    .expect("json");
                            black_box(v);
                        }
                    }),
                ),
                (
                    "baseline typed serde struct",
                    median(warmup, runs, || {
                        for r in &ranges {
                            let v: TypedMessage =
                                serde_json::from_slice(black_box(&framed[r.clone()]))
                                    .expect("json");
                            black_box(v);
                        }
                    }),
                ),
            ],
            HubProtocol::MessagePack => [
                (
                    "baseline rmpv read_value",
                    median(warmup, runs, || {
                        for r in &ranges {
                            let mut slice = black_box(&framed[r.clone()]);
                            black_box(rmpv::decode::read_value(&mut slice).expect("msgpack"));
                        }
                    }),
                ),
                (
                    "baseline rmpv read_value_ref",
                    median(warmup, runs, || {
                        for r in &ranges {
                            let mut slice = black_box(&framed[r.clone()]);
                            black_box(rmpv::decode::read_value_ref(&mut slice).expect("msgpack"));
                        }
                    }),
                ),
            ],
        };
        for (label, t) in baselines {
            let base = self.row(name, protocol, label, msgs.len(), payload_bytes, t);
            self.ratios.push((
                format!("{name:<14} {protocol:<12} decode / {}", &label[9..]),
                decode / base,
            ));
        }
        println!(
            "{name} {protocol}: {} messages, {} bytes framed, {} bytes of payload",
            msgs.len(),
            framed.len(),
            payload_bytes
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let only_protocol = HubProtocol::ALL
        .into_iter()
        .find(|p| args.iter().any(|a| a == p.name()));
    let filter: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && HubProtocol::from_name(a).is_none())
        .collect();
    let wanted = |name: &str| {
        filter.is_empty()
            || filter.iter().any(|f| match f.strip_suffix('$') {
                Some(exact) => name == exact,
                None => name.contains(f.as_str()),
            })
    };
    let (warmup, runs) = if full { (2, 11) } else { (0, 1) };
    // `--once`: full-size data, one untimed-warm-up-free run (for callgrind).
    let once = args.iter().any(|a| a == "--once");
    let (full, warmup, runs) = if once {
        (true, 0, 1)
    } else {
        (full, warmup, runs)
    };
    let mut bench = Bench {
        only_protocol,
        warmup,
        runs,
        rows: Vec::new(),
        ratios: Vec::new(),
    };

    if wanted("flat") {
        let msgs = flat_messages(if full { 10_000 } else { 500 });
        for protocol in HubProtocol::ALL {
            bench.scenario("flat", protocol, &msgs, None);
        }
    }
    let sizes = [
        (Size::Small, "64b"),
        (Size::TwoK, "2k"),
        (Size::SixtyFourK, "64k"),
    ];
    for (size, size_name) in sizes {
        for (kind, kind_name) in [(Text::Ascii, "ascii"), (Text::Rich, "text")] {
            let name = format!("{size_name}-{kind_name}");
            let stj = format!("{name}-stj");
            if !wanted(&name) && !wanted(&stj) {
                continue;
            }
            let mut msgs = realistic_messages(size, kind);
            if !full {
                msgs.truncate(20);
            }
            if wanted(&name) {
                for protocol in HubProtocol::ALL {
                    bench.scenario(&name, protocol, &msgs, None);
                }
            }
            if kind == Text::Rich && wanted(&stj) {
                let mut framed = Vec::new();
                for m in &msgs {
                    framed.extend_from_slice(&stj_default_escaping(&HubProtocol::Json.encode(m)));
                }
                bench.scenario(&stj, HubProtocol::Json, &msgs, Some(framed));
            }
        }
    }

    println!(
        "\nmedian of {runs} runs after {warmup} warm-up{}\n",
        if full {
            ""
        } else {
            " (quick pass: run with --bench, as `cargo bench` does, to measure)"
        }
    );
    println!(
        "{:<14} {:<12} {:<30} {:>12} {:>9}",
        "scenario", "protocol", "operation", "messages/s", "MB/s"
    );
    for r in &bench.rows {
        println!(
            "{:<14} {:<12} {:<30} {:>12.0} {:>9.1}",
            r.scenario,
            r.protocol.name(),
            r.what,
            r.msgs_per_s,
            r.mb_per_s
        );
    }
    println!();
    for (name, ratio) in &bench.ratios {
        println!("ratio {name}: {ratio:.2}x");
    }
}
