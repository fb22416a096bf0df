//! The wire inspector: `conform decode` turns captured bytes into one JSON line per message
//! (the notation of `signalr_protocol::notation`), `conform encode` does the reverse.

use signalr_protocol::framing::{split_binary, split_text};
use signalr_protocol::handshake;
use signalr_protocol::notation::{message_from_text, parsed_to_text};
use signalr_protocol::HubProtocol;

/// Options of `decode`.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// The hub protocol.
    pub protocol: HubProtocol,
    /// The input is framed (0x1E / VarInt) and may hold several messages.
    pub framed: bool,
    /// The input starts with a handshake request or response (JSON + 0x1E).
    pub handshake: bool,
}

/// Decodes `bytes` into notation lines; the error names the message number, byte offset and
/// the problem.
pub fn decode(bytes: &[u8], o: DecodeOptions) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let mut pos = 0;
    if o.handshake {
        let Some((len, used)) = split_text(bytes) else {
            return Err("the input has no handshake: no 0x1E record separator".into());
        };
        let payload = &bytes[..len];
        // A request has "protocol"; a response has "error" or nothing.
        let line = match handshake::parse_request(payload) {
            Ok(r) => format!(
                "{{\"handshake\":\"request\",\"protocol\":{},\"version\":{}}}",
                signalr_protocol::json::value_to_string(&signalr_protocol::Value::String(
                    r.protocol
                )),
                r.version
            ),
            Err(req_err) => match handshake::parse_response(payload) {
                Ok(r) => match r.error {
                    Some(e) => format!(
                        "{{\"handshake\":\"response\",\"error\":{}}}",
                        signalr_protocol::json::value_to_string(&signalr_protocol::Value::String(
                            e
                        ))
                    ),
                    None => "{\"handshake\":\"response\"}".into(),
                },
                Err(_) => return Err(format!("handshake at byte 0: {req_err}")),
            },
        };
        lines.push(line);
        pos = used;
    }
    let rest = &bytes[pos..];
    if !o.framed {
        return decode_unframed(rest, pos, o.protocol, lines);
    }
    let mut n = 0;
    while pos < bytes.len() {
        n += 1;
        let rest = &bytes[pos..];
        let (payload, used) = match o.protocol {
            HubProtocol::Json => match split_text(rest) {
                Some((len, used)) => (&rest[..len], used),
                None => {
                    return Err(format!(
                        "message {n} at byte {pos}: no 0x1E record separator after {} byte(s)",
                        rest.len()
                    ))
                }
            },
            HubProtocol::MessagePack => match split_binary(rest).map_err(|e| format!("message {n} at byte {pos}: {e}"))? {
                Some((range, used)) => (&rest[range], used),
                None => {
                    return Err(format!(
                        "message {n} at byte {pos}: the length prefix announces more bytes than the {} left",
                        rest.len()
                    ))
                }
            },
        };
        let p = o
            .protocol
            .parse(payload)
            .map_err(|e| format!("message {n} at byte {pos}: {e}"))?;
        lines.push(parsed_to_text(&p));
        pos += used;
    }
    Ok(lines)
}

/// Decodes input without length prefixes: JSON records are split at each 0x1E (the last may
/// lack it), so every message is printed; a MessagePack payload is one message, and bytes after
/// it are an error that names them (use `--framed` for several).
fn decode_unframed(
    rest: &[u8],
    start: usize,
    protocol: HubProtocol,
    mut lines: Vec<String>,
) -> Result<Vec<String>, String> {
    match protocol {
        HubProtocol::Json => {
            let mut pos = start;
            let mut records: Vec<&[u8]> = rest.split(|&b| b == 0x1e).collect();
            if records.len() > 1 && records.last().is_some_and(|r| r.is_empty()) {
                records.pop();
            }
            for (i, record) in records.iter().enumerate() {
                let p = protocol
                    .parse(record)
                    .map_err(|e| format!("message {} at byte {pos}: {e}", i + 1))?;
                lines.push(parsed_to_text(&p));
                pos += record.len() + 1;
            }
        }
        HubProtocol::MessagePack => {
            let p = protocol
                .parse(rest)
                .map_err(|e| format!("message 1 at byte {start}: {e}"))?;
            // parse_value reads exactly one value and reports what is left after it.
            if let Err(e) = signalr_protocol::msgpack::parse_value(rest) {
                let e = e.to_string();
                if e.contains("left after the value") {
                    return Err(format!(
                        "message 1 at byte {start}: trailing bytes after the message: {e} (several messages need --framed)"
                    ));
                }
            }
            lines.push(parsed_to_text(&p));
        }
    }
    Ok(lines)
}

/// Encodes notation lines (one message per line; blank lines and `#` comments skipped).
pub fn encode(text: &str, protocol: HubProtocol, framed: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let msg = message_from_text(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        count += 1;
        if framed {
            protocol.write(&msg, &mut out);
        } else {
            if count > 1 {
                return Err(format!(
                    "line {}: --unframed takes exactly one message",
                    i + 1
                ));
            }
            match protocol {
                HubProtocol::Json => signalr_protocol::json::write_message_body(&msg, &mut out),
                HubProtocol::MessagePack => {
                    signalr_protocol::msgpack::write_message_body(&msg, &mut out)
                }
            }
        }
    }
    if count == 0 {
        return Err("no message in the input".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::{parse_hex, to_hex};

    fn framed(protocol: HubProtocol) -> DecodeOptions {
        DecodeOptions {
            protocol,
            framed: true,
            handshake: false,
        }
    }

    #[test]
    fn decode_framed_messagepack() {
        let bytes = parse_hex("02 91 06 04 93 07 c0 c3").unwrap();
        let lines = decode(&bytes, framed(HubProtocol::MessagePack)).unwrap();
        assert_eq!(
            lines,
            vec![r#"{"type":6}"#, r#"{"type":7,"allowReconnect":true}"#]
        );
    }

    #[test]
    fn decode_error_names_message_and_offset() {
        let e = decode(
            b"{\"type\":6}\x1e{\"type\":1}\x1e",
            framed(HubProtocol::Json),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "message 2 at byte 11: Missing required property 'target'."
        );
    }

    fn unframed(protocol: HubProtocol) -> DecodeOptions {
        DecodeOptions {
            protocol,
            framed: false,
            handshake: false,
        }
    }

    #[test]
    fn decode_unframed_prints_every_message_or_names_trailing_bytes() {
        let lines = decode(
            b"{\"type\":6}\x1e{\"type\":6}\x1e",
            unframed(HubProtocol::Json),
        )
        .unwrap();
        assert_eq!(lines, vec![r#"{"type":6}"#, r#"{"type":6}"#]);
        let lines = decode(b"{\"type\":6}", unframed(HubProtocol::Json)).unwrap();
        assert_eq!(lines, vec![r#"{"type":6}"#]);
        let e = decode(b"{\"type\":6}\x1e{\"type\":1}", unframed(HubProtocol::Json)).unwrap_err();
        assert!(e.starts_with("message 2 at byte 11:"), "{e}");
        let e = decode(
            &[0x91, 0x06, 0x91, 0x06],
            unframed(HubProtocol::MessagePack),
        )
        .unwrap_err();
        assert!(
            e.contains("trailing bytes") && e.contains("2 byte(s) left"),
            "{e}"
        );
        let lines = decode(&[0x91, 0x06], unframed(HubProtocol::MessagePack)).unwrap();
        assert_eq!(lines, vec![r#"{"type":6}"#]);
    }

    #[test]
    fn encode_round_trip() {
        let text = "{\"type\":1,\"target\":\"x\",\"arguments\":[{\"$bin\":\"AQID\"}]}\n# comment\n{\"type\":6}\n";
        let bytes = encode(text, HubProtocol::MessagePack, true).unwrap();
        let lines = decode(&bytes, framed(HubProtocol::MessagePack)).unwrap();
        assert_eq!(
            lines[0],
            r#"{"type":1,"target":"x","arguments":[{"$bin":"AQID"}]}"#
        );
        assert_eq!(to_hex(&[0x91, 0x06]), "91 06");
    }
}
