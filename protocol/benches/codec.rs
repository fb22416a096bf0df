//! Encode and decode throughput of both hub protocols, against plain parsers of the same bytes.
//!
//! `cargo bench -p signalr-protocol` (a custom harness: no criterion). Without `--bench` (as
//! `cargo test --benches` runs it) it does one quick pass as a smoke test.
//!
//! The message mix (10 000 messages, fixed pseudo-random seed):
//!
//! - 50 %: Invocation of a short target with 1–3 short arguments (per argument: 3/8 a string of
//!   1–16 characters, 3/8 an integer, 1/8 a boolean, 1/8 a float); a quarter of them
//!   non-blocking (no invocation id);
//! - 20 %: Completion with a small result (an integer, a short string, or a 2-entry object);
//! - 20 %: StreamItem (an integer or a 2-entry object);
//! - 10 %: Invocation carrying one 2 KB string argument.
//!
//! Each protocol's messages are encoded into one framed buffer. Measured, as the median of
//! several timed runs after a warm-up:
//!
//! - encode: `HubProtocol::write` of every message into a reused buffer;
//! - decode: one `MessageReader` over the whole buffer (framing + parsing into `HubMessage`);
//!   this is the figure in the ratios;
//! - decode (parse payloads only): `HubProtocol::parse` of each payload, no framing;
//! - baseline: `serde_json::from_slice::<serde_json::Value>` of each JSON payload (the same bytes
//!   without the record separators), and `rmpv::decode::read_value` of each MessagePack payload
//!   (without the length prefixes).
//!
//! MB/s counts the framed buffer's bytes for encode and decode, the payload bytes for the
//! baselines (1 MB = 10^6 bytes).

use std::hint::black_box;
use std::time::{Duration, Instant};

use signalr_protocol::{
    framing, CompletionResult, HubMessage, HubProtocol, Invocation, MessageReader, Value,
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
}

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

/// The message mix described in the module docs.
fn messages(count: usize) -> Vec<HubMessage> {
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
    protocol: HubProtocol,
    what: &'static str,
    msgs_per_s: f64,
    mb_per_s: f64,
}

fn row(protocol: HubProtocol, what: &'static str, msgs: usize, bytes: usize, t: Duration) -> Row {
    let s = t.as_secs_f64();
    Row {
        protocol,
        what,
        msgs_per_s: msgs as f64 / s,
        mb_per_s: bytes as f64 / s / 1e6,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (count, warmup, runs) = if full { (10_000, 3, 21) } else { (500, 0, 1) };
    let msgs = messages(count);
    let mut rows = Vec::new();
    let mut ratios = Vec::new();

    for protocol in HubProtocol::ALL {
        let mut framed = Vec::new();
        for m in &msgs {
            protocol.write(m, &mut framed);
        }
        let ranges = payload_ranges(protocol, &framed);
        assert_eq!(ranges.len(), msgs.len());
        let payload_bytes: usize = ranges.iter().map(|r| r.len()).sum();

        // Sanity: the decoder reads back what was written.
        let decoded = protocol.decode_all(&framed).expect("decodes");
        assert_eq!(decoded.len(), msgs.len());

        let mut out = Vec::with_capacity(framed.len());
        let t = median(warmup, runs, || {
            out.clear();
            for m in &msgs {
                protocol.write(black_box(m), &mut out);
            }
            black_box(&out);
        });
        rows.push(row(protocol, "encode", msgs.len(), framed.len(), t));

        let t = median(warmup, runs, || {
            let mut reader = MessageReader::new(protocol);
            reader.push(black_box(&framed));
            let mut n = 0;
            while let Some(p) = reader.next().expect("valid") {
                black_box(&p);
                n += 1;
            }
            assert_eq!(n, msgs.len());
        });
        let decode = row(
            protocol,
            "decode (MessageReader)",
            msgs.len(),
            framed.len(),
            t,
        );

        let t = median(warmup, runs, || {
            for r in &ranges {
                black_box(
                    protocol
                        .parse(black_box(&framed[r.clone()]))
                        .expect("valid"),
                );
            }
        });
        let parse_only = row(
            protocol,
            "decode (parse payloads only)",
            msgs.len(),
            payload_bytes,
            t,
        );

        let (label, t) = match protocol {
            HubProtocol::Json => (
                "baseline serde_json::Value",
                median(warmup, runs, || {
                    for r in &ranges {
                        let v: serde_json::Value =
                            serde_json::from_slice(black_box(&framed[r.clone()])).expect("json");
                        black_box(v);
                    }
                }),
            ),
            HubProtocol::MessagePack => (
                "baseline rmpv::decode::read_value",
                median(warmup, runs, || {
                    for r in &ranges {
                        let mut slice = black_box(&framed[r.clone()]);
                        black_box(rmpv::decode::read_value(&mut slice).expect("msgpack"));
                    }
                }),
            ),
        };
        let baseline = row(protocol, label, msgs.len(), payload_bytes, t);
        ratios.push((
            match protocol {
                HubProtocol::Json => "json decode / serde_json::Value parse",
                HubProtocol::MessagePack => "msgpack decode / rmpv decode",
            },
            decode.msgs_per_s / baseline.msgs_per_s,
            parse_only.msgs_per_s / baseline.msgs_per_s,
        ));
        rows.push(decode);
        rows.push(parse_only);
        rows.push(baseline);
        println!(
            "{protocol}: {} messages, {} bytes framed, {} bytes of payload",
            msgs.len(),
            framed.len(),
            payload_bytes
        );
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
        "{:<12} {:<36} {:>14} {:>10}",
        "protocol", "operation", "messages/s", "MB/s"
    );
    for r in &rows {
        println!(
            "{:<12} {:<36} {:>14.0} {:>10.1}",
            r.protocol.name(),
            r.what,
            r.msgs_per_s,
            r.mb_per_s
        );
    }
    println!();
    for (name, ratio, parse_ratio) in ratios {
        println!(
            "ratio {name}: {ratio:.2}x (parse only: {parse_ratio:.2}x; target >= 0.5x){}",
            if ratio >= 0.5 { "" } else { "  MISSED" }
        );
    }
}
