use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use signalr_protocol::{strategies, HubMessage, HubProtocol, Parsed};

/// Your codec. This one writes the JSON hub protocol by hand.
mod my_codec {
    use signalr_protocol::{CompletionResult, HubMessage, Value};

    pub fn encode_json(msg: &HubMessage) -> Vec<u8> {
        let mut s = format!("{{\"type\":{}", msg.message_type());
        if let Some(headers) = msg.headers().filter(|h| !h.is_empty()) {
            let entries: Vec<String> = headers
                .iter()
                .map(|(k, v)| format!("{}:{}", string(k), string(v)))
                .collect();
            s += &format!(",\"headers\":{{{}}}", entries.join(","));
        }
        if let Some(id) = msg.invocation_id() {
            s += &format!(",\"invocationId\":{}", string(id));
        }
        let (target, arguments, stream_ids) = match msg {
            HubMessage::Invocation(m) => (&m.target, &m.arguments, &m.stream_ids),
            HubMessage::StreamInvocation(m) => (&m.target, &m.arguments, &m.stream_ids),
            _ => (&String::new(), &Vec::new(), &None),
        };
        if !target.is_empty() {
            let args: Vec<String> = arguments.iter().map(value).collect();
            s += &format!(
                ",\"target\":{},\"arguments\":[{}]",
                string(target),
                args.join(",")
            );
            if let Some(ids) = stream_ids {
                let ids: Vec<String> = ids.iter().map(|id| string(id)).collect();
                s += &format!(",\"streamIds\":[{}]", ids.join(","));
            }
        }
        match msg {
            HubMessage::StreamItem(m) => s += &format!(",\"item\":{}", value(&m.item)),
            HubMessage::Completion(m) => match &m.result {
                CompletionResult::Void => {}
                CompletionResult::Value(v) => s += &format!(",\"result\":{}", value(v)),
                CompletionResult::Error(e) => s += &format!(",\"error\":{}", string(e)),
            },
            HubMessage::Close(c) => {
                if let Some(e) = &c.error {
                    s += &format!(",\"error\":{}", string(e));
                }
                if c.allow_reconnect {
                    s += ",\"allowReconnect\":true";
                }
            }
            HubMessage::Ack(a) | HubMessage::Sequence(a) => {
                s += &format!(",\"sequenceId\":{}", a.sequence_id)
            }
            _ => {}
        }
        s.push('}');
        s.push('\u{1e}');
        s.into_bytes()
    }

    fn string(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    fn value(v: &Value) -> String {
        match v {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            // `{:?}` keeps a fraction or exponent (`2.0`, `1e16`): JSON readers tell it apart
            // from an integer. (`{}` writes `2` and `10000000000000000`: the property finds it.)
            Value::F64(f) => format!("{f:?}"),
            Value::String(s) => string(s),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(value).collect();
                format!("[{}]", items.join(","))
            }
            Value::Map(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| match k {
                        Value::String(k) => format!("{}:{}", string(k), value(v)),
                        other => format!("{}:{}", string(&other.to_string()), value(v)),
                    })
                    .collect();
                format!("{{{}}}", entries.join(","))
            }
            // float32, bin, timestamps and extensions: what the JSON protocol makes of them.
            other => other.to_string(),
        }
    }
}

/// Encode with yours, decode with ours: the same message comes back.
fn encode_theirs_decode_ours(msg: HubMessage) -> Result<(), TestCaseError> {
    let bytes = my_codec::encode_json(&msg);
    let decoded = HubProtocol::Json
        .decode_all(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{e} in {}", String::from_utf8_lossy(&bytes))))?;
    prop_assert_eq!(decoded, vec![Parsed::Message(msg)]);
    Ok(())
}

// In your crate's tests/ directory this is all it takes:
proptest! {
    #[test]
    fn my_json_encoder_agrees(msg in strategies::hub_message_for(HubProtocol::Json)) {
        encode_theirs_decode_ours(msg)?;
    }
}

// The same property, run from `main` (proptest's closure form runs it on the spot).
pub fn run() {
    proptest!(|(msg in strategies::hub_message_for(HubProtocol::Json))| {
        encode_theirs_decode_ours(msg)?;
    });
}
