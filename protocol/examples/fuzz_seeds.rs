//! Writes the fuzz targets' seed corpora (`fuzz/seeds/<target>/`) from the codec vectors in
//! `fixtures/codec/`, so that fuzzing starts from every shape the vectors know instead of from
//! nothing. Run from the repository root after changing the vectors or the fuzz targets:
//!
//! ```sh
//! cargo run -p signalr-protocol --example fuzz_seeds
//! ```
//!
//! Each seed file is named after the vector it came from; the directories are rewritten whole.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::fs;
use std::path::Path;

use base64::Engine as _;
use signalr_protocol::{framing, json, Value};

/// Inputs longer than this are left out: libFuzzer's default `-max_len` is 4096.
const MAX_SEED: usize = 4096;

/// The bytes of a vector's `input` (`text`, `hex`, `base64` or `counting`).
fn input_bytes(input: &Value) -> Option<Vec<u8>> {
    if let Some(text) = input.get("text", false).and_then(Value::as_str) {
        return Some(text.as_bytes().to_vec());
    }
    if let Some(hex) = input.get("hex", false).and_then(Value::as_str) {
        return hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).ok())
            .collect();
    }
    if let Some(b64) = input.get("base64", false).and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD.decode(b64).ok();
    }
    let n = input.get("counting", false)?.as_i64()?;
    Some((0..n).map(|i| (i & 0xff) as u8).collect())
}

/// The file name for a vector id: its characters, with anything unusual as `_`.
fn file_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The `fuzz_message_reader` control byte: protocol in bit 0, a chunk size from the length in
/// bits 1–6 (so the seeds cover several chunkings), no size limit.
fn reader_seed(msgpack: bool, stream: &[u8]) -> Vec<u8> {
    let control = u8::from(msgpack) | (((stream.len() % 64) as u8) << 1);
    let mut out = vec![control];
    out.extend_from_slice(stream);
    out
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seeds: BTreeMap<&str, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut add = |target: &'static str, name: String, bytes: Vec<u8>| {
        if bytes.len() <= MAX_SEED {
            seeds.entry(target).or_default().insert(name, bytes);
        }
    };

    let mut files: Vec<_> = fs::read_dir(root.join("fixtures/codec"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let entries = json::parse_value(&fs::read(&file)?)?;
        for entry in entries.as_array().unwrap_or_default() {
            let (Some(id), Some(layer)) = (
                entry.get("id", false).and_then(Value::as_str),
                entry.get("layer", false).and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some(bytes) = entry.get("input", false).and_then(input_bytes) else {
                continue;
            };
            let framed = entry.get("framed", false).and_then(Value::as_bool) == Some(true);
            let name = file_name(id);
            match layer {
                "json" => {
                    let payload = match framing::split_text(&bytes) {
                        Some((n, _)) if framed => bytes.get(..n).unwrap_or_default().to_vec(),
                        _ => bytes.clone(),
                    };
                    add("fuzz_json_message", name.clone(), payload);
                    let mut stream = bytes.clone();
                    if !framed {
                        stream.push(framing::RECORD_SEPARATOR);
                    }
                    add(
                        "fuzz_message_reader",
                        name.clone(),
                        reader_seed(false, &stream),
                    );
                }
                "messagepack" => {
                    let payload = match framed {
                        true => match framing::split_binary(&bytes) {
                            Ok(Some((range, _))) => bytes.get(range).unwrap_or_default().to_vec(),
                            _ => bytes.clone(),
                        },
                        false => bytes.clone(),
                    };
                    add("fuzz_msgpack_message", name.clone(), payload);
                    let stream = if framed {
                        bytes
                    } else {
                        let mut s = Vec::new();
                        framing::frame_binary(&bytes, &mut s);
                        s
                    };
                    add(
                        "fuzz_message_reader",
                        name.clone(),
                        reader_seed(true, &stream),
                    );
                }
                "text-framing" => add(
                    "fuzz_message_reader",
                    name.clone(),
                    reader_seed(false, &bytes),
                ),
                "binary-framing" => {
                    add(
                        "fuzz_message_reader",
                        name.clone(),
                        reader_seed(true, &bytes),
                    );
                    add("fuzz_varint", name.clone(), bytes);
                }
                "varint" => add("fuzz_varint", name.clone(), bytes),
                "handshake-request" | "handshake-response" => {
                    add("fuzz_handshake", name.clone(), bytes)
                }
                "negotiate-response" | "negotiate-write" | "negotiate-query" => {
                    add("fuzz_negotiate_response", name.clone(), bytes)
                }
                _ => {}
            }
            // The expected messages are notation text: seeds for the notation reader.
            if let Some(expect) = entry.get("expect", false) {
                if let Some(m) = expect.get("message", false) {
                    add("fuzz_notation", name.clone(), json::value_to_vec(m));
                }
                for (i, m) in expect
                    .get("messages", false)
                    .and_then(Value::as_array)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    add(
                        "fuzz_notation",
                        format!("{name}_{i}"),
                        json::value_to_vec(m),
                    );
                }
            }
        }
    }

    for (target, files) in seeds {
        let dir = root.join("fuzz/seeds").join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        // The same bytes under two names would only slow the fuzzer's start.
        let mut seen = BTreeSet::new();
        let mut written = 0;
        for (name, bytes) in files {
            if seen.insert(bytes.clone()) {
                fs::write(dir.join(name), bytes)?;
                written += 1;
            }
        }
        println!("{target}: {written} seeds");
    }
    Ok(())
}
