//! The bodies of the fuzz targets (`fuzz_targets/*.rs` call these), kept in a library so that
//! `cargo test` here runs them on stable Rust, without cargo-fuzz.
//!
//! Every body must not panic on any input. Besides that, each checks a cheap oracle: what a
//! parser accepted, written back out, reads again and writes the same bytes.

use signalr_protocol::{
    framing, handshake, json, msgpack, notation, FrameReader, HubMessage, HubProtocol,
    MessageReader, NegotiateQuery, NegotiateResponse, Parsed,
};

/// Re-encodes an accepted message: it must decode again, and encode to the same bytes.
fn reencode_is_stable(protocol: HubProtocol, msg: &HubMessage) {
    let bytes = protocol.encode(msg);
    let again = protocol
        .decode_all(&bytes)
        .unwrap_or_else(|e| panic!("{protocol}: re-encoded {msg:?} fails to decode: {e}"));
    match again.as_slice() {
        [Parsed::Message(m)] => assert_eq!(
            protocol.encode(m),
            bytes,
            "{protocol}: re-encoding {msg:?} is not stable"
        ),
        other => panic!("{protocol}: re-encoded {msg:?} decodes to {other:?}"),
    }
}

/// `json::parse_message` on one payload.
pub fn json_message(data: &[u8]) {
    if let Ok(Parsed::Message(m)) = json::parse_message(data) {
        reencode_is_stable(HubProtocol::Json, &m);
    }
    let _ = json::parse_value(data);
}

/// `msgpack::parse_message` on one payload.
pub fn msgpack_message(data: &[u8]) {
    if let Ok(Parsed::Message(m)) = msgpack::parse_message(data) {
        reencode_is_stable(HubProtocol::MessagePack, &m);
    }
    let _ = msgpack::parse_value(data);
}

/// Everything a reader produced before it stopped, and why it stopped (`Debug` text, so NaN
/// compares equal to itself).
fn read(protocol: HubProtocol, max: Option<usize>, data: &[u8], chunk: usize) -> String {
    let mut reader = MessageReader::with_max_message_size(protocol, max);
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        reader.push(piece);
        loop {
            match reader.next() {
                Ok(Some(p)) => out.push(format!("{p:?}")),
                Ok(None) => break,
                Err(e) => return format!("{out:?} then {e:?}"),
            }
        }
    }
    format!("{out:?} then {:?}", reader.finish())
}

/// `MessageReader` and `FrameReader`: the first byte picks the protocol (bit 0), the chunk size
/// (bits 1–6: 1 to 64 bytes) and whether a 64-byte size limit applies (bit 7); the rest is the
/// stream. Chunked and whole reading must agree.
pub fn message_reader(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let protocol = HubProtocol::ALL[usize::from(first & 1)];
    let chunk = usize::from((first >> 1) & 0x3f) + 1;
    let max = (first & 0x80 != 0).then_some(64);
    let chunked = read(protocol, max, stream, chunk);
    let whole = read(protocol, max, stream, stream.len());
    assert_eq!(chunked, whole, "{protocol}, chunks of {chunk}, max {max:?}");

    let mut frames = FrameReader::with_max_message_size(max);
    for piece in stream.chunks(chunk) {
        frames.push(piece);
        while let Ok(Some(payload)) = frames.next_frame(protocol.transfer_format()) {
            assert!(payload.len() <= stream.len());
        }
    }
}

/// The handshake request and response parsers; what they accept writes back to the same value.
pub fn handshake(data: &[u8]) {
    if let Ok(req) = handshake::parse_request(data) {
        let mut out = Vec::new();
        handshake::write_request(&req, &mut out);
        let (again, used) = handshake::parse_request_frame(&out)
            .expect("written request parses")
            .expect("written request is whole");
        assert_eq!((again, used), (req, out.len()));
    }
    if let Ok(resp) = handshake::parse_response(data) {
        let mut out = Vec::new();
        handshake::write_response(&resp, &mut out);
        let (again, _) = handshake::parse_response_frame(&out)
            .expect("written response parses")
            .expect("written response is whole");
        assert_eq!(again.error, resp.error.filter(|e| !e.is_empty()));
    }
    let _ = handshake::parse_request_frame(data);
    let _ = handshake::parse_response_frame(data);
}

/// `NegotiateResponse::parse` (and `NegotiateQuery::parse` on the same bytes as text); what the
/// response parser accepts can be written out.
pub fn negotiate_response(data: &[u8]) {
    if let Ok(resp) = NegotiateResponse::parse(data) {
        let _ = resp.to_json();
        let _ = resp.transport_id();
    }
    let query = NegotiateQuery::parse(&String::from_utf8_lossy(data));
    let _ = query.to_query_string();
    let _ = query.resolve_version(0);
}

/// `framing::read_varint` and `split_binary`: a length read is at most 2 GB and 5 bytes long,
/// and writing it back reads back the same length.
pub fn varint(data: &[u8]) {
    if let Ok(Some((len, used))) = framing::read_varint(data) {
        assert!((1..=framing::MAX_VARINT_LEN).contains(&used) && used <= data.len());
        assert!(len <= 0x7fff_ffff);
        let mut out = Vec::new();
        framing::write_varint(len, &mut out);
        assert_eq!(framing::read_varint(&out).unwrap(), Some((len, out.len())));
        assert!(out.len() <= used);
    }
    if let Ok(Some((range, consumed))) = framing::split_binary(data) {
        assert!(range.end == consumed && consumed <= data.len());
    }
}

/// `notation::message_from_text`; what it accepts writes back to text that reads the same.
pub fn notation(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(m) = notation::message_from_text(&text) {
        let written = notation::message_to_text(&m);
        let again =
            notation::message_from_text(&written).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(notation::message_to_text(&again), written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All the bodies, on seeds and on pseudo-random mutations of them (stable Rust, no fuzzer).
    #[test]
    fn bodies_survive_mutated_seeds() {
        let mut seeds: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[\"hi\",1.5,{\"a\":[null,true]}],\"streamIds\":[\"s\"]}".to_vec(),
            b"{\"type\":3,\"invocationId\":\"1\",\"error\":\"\"}".to_vec(),
            b"{\"type\":7,\"error\":\"x\",\"allowReconnect\":true}".to_vec(),
            b"{\"protocol\":\"json\",\"version\":1}".to_vec(),
            b"{\"error\":\"nope\"}".to_vec(),
            br#"{"negotiateVersion":1,"connectionId":"a","connectionToken":"b","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}"#.to_vec(),
            b"negotiateVersion=1&useStatefulReconnect=true&id=%C3%A9".to_vec(),
            br#"{"type":1,"target":"T","arguments":[{"$f32":1.5},{"$bin":"AQI="},{"$map":[[1,2]]}]}"#.to_vec(),
            vec![0xff, 0xff, 0xff, 0xff, 0x07],
        ];
        for m in [
            HubMessage::invoke("1", "Echo", vec!["hi".into(), 1.5f64.into()]),
            HubMessage::close(Some(String::new()), true),
            HubMessage::Ping,
        ] {
            for p in HubProtocol::ALL {
                let framed = p.encode(&m);
                seeds.push(framed.clone());
                if p == HubProtocol::MessagePack {
                    let (_, used) = framing::read_varint(&framed).unwrap().unwrap();
                    seeds.push(framed[used..].to_vec());
                }
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let bodies: [fn(&[u8]); 7] = [
            json_message,
            msgpack_message,
            message_reader,
            handshake,
            negotiate_response,
            varint,
            notation,
        ];
        for seed in &seeds {
            for _ in 0..300 {
                let mut input = seed.clone();
                for _ in 0..1 + rand() % 4 {
                    let at = if input.is_empty() {
                        0
                    } else {
                        (rand() as usize) % input.len()
                    };
                    match rand() % 4 {
                        0 if !input.is_empty() => input[at] = rand() as u8,
                        1 => input.insert(at, rand() as u8),
                        2 if !input.is_empty() => {
                            input.remove(at);
                        }
                        _ => input.truncate(at),
                    }
                }
                for body in bodies {
                    body(&input);
                    body(seed);
                }
            }
        }
    }

    /// The case loader's body on the real case files and on pseudo-random cuts and byte flips
    /// of them (stable Rust, no fuzzer).
    #[test]
    fn case_file_survives_mutated_case_files() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec-cases");
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read(entry.path()).unwrap();
            case_file(&text);
            for _ in 0..200 {
                let mut input = text.clone();
                match rand() % 3 {
                    0 => input.truncate(rand() % (input.len() + 1)),
                    1 => {
                        let at = rand() % input.len();
                        input[at] = (rand() % 256) as u8;
                    }
                    _ => {
                        let at = rand() % input.len();
                        let len = (rand() % 64).min(input.len() - at);
                        let piece: Vec<u8> = input[at..at + len].to_vec();
                        let to = rand() % input.len();
                        input.splice(to..to, piece);
                    }
                }
                case_file(&input);
            }
        }
    }
}

/// `cases::parse_file` on one case file (bytes that are not UTF-8 are read lossily, as a file
/// would be after a failed read is reported): the cases or an error naming the file, never a
/// panic. What it accepted must load again from the same text (the loader is deterministic).
pub fn case_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let first = signalr_conform::cases::parse_file("fuzz.toml", &text);
    let again = signalr_conform::cases::parse_file("fuzz.toml", &text);
    assert_eq!(
        first.as_ref().map(Vec::len).map_err(ToString::to_string),
        again.as_ref().map(Vec::len).map_err(ToString::to_string),
        "the case loader gave two answers for one text"
    );
}
