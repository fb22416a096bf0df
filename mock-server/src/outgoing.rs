//! What goes out to a client: the encoding of a message for a connection's protocol, and every
//! fault mode that reshapes an outgoing message (wrong ids, wrong error texts, dropped falsy
//! results, lossy MessagePack, a short Close, a missing record separator). Fault effects on
//! outgoing messages are applied here and nowhere else.

use bytes::Bytes;
use signalr_protocol::{CompletionResult, HubMessage, HubProtocol, Value};

use crate::faults::{Fault, FaultSet};

/// Encodes `msg` for a connection speaking `protocol` (fault modes applied).
pub(crate) fn encode(msg: &HubMessage, protocol: HubProtocol, faults: FaultSet) -> Bytes {
    let mut out = Vec::with_capacity(msg.encoded_len_hint());
    match protocol {
        HubProtocol::Json => {
            signalr_protocol::json::write_message(msg, &mut out);
            if faults.has(Fault::DropRecordSeparator) {
                out.pop();
            }
        }
        HubProtocol::MessagePack => {
            if let (true, HubMessage::Close(c)) = (faults.has(Fault::ShortMessagePackClose), msg) {
                let mut body = vec![0x92, 0x07];
                match &c.error {
                    Some(e) => signalr_protocol::msgpack::write_str(e, &mut body),
                    None => body.push(0xc0),
                }
                signalr_protocol::framing::frame_binary(&body, &mut out);
            } else if faults.has(Fault::LossyMessagePackTypes) {
                signalr_protocol::msgpack::write_message(&lossy(msg), &mut out);
            } else {
                signalr_protocol::msgpack::write_message(msg, &mut out);
            }
        }
    }
    exact(out)
}

/// The encoded bytes without the `Vec`'s spare capacity when that is worth a reallocation: a
/// message grows the `Vec` by doubling, so a 10,000-byte message would otherwise hold 16 KiB for
/// as long as it is queued, shared by a broadcast or kept in a stateful connection's resend
/// buffer. Small messages keep their few spare bytes (no reallocation on the hot path).
fn exact(mut out: Vec<u8>) -> Bytes {
    if out.capacity() - out.len() > SPARE_KEPT + out.len() / 16 {
        out.shrink_to_fit();
    }
    Bytes::from(out)
}

/// Spare capacity below this (plus 1/16 of the message) is not worth a reallocation.
const SPARE_KEPT: usize = 256;

/// How an invocation ended, as its Completion reports it.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// It returned (`None`: a void method).
    Returned(Option<Value>),
    /// It failed; the text is the error message as ASP.NET Core builds it.
    Failed(String),
}

/// The Completion answering invocation `id` (an absent or empty id is a non-blocking
/// invocation: no Completion); `None` when nothing is sent.
pub(crate) fn completion(
    id: Option<&str>,
    outcome: Outcome,
    faults: FaultSet,
) -> Option<HubMessage> {
    let id = match id.filter(|s| !s.is_empty()) {
        Some(id) => completion_id(id, faults),
        None if faults.has(Fault::AnswerNonBlocking) => "nonblocking".to_owned(),
        None => return None,
    };
    let result = match outcome {
        // DefaultHubDispatcher answers every successful invocation with
        // `CompletionMessage.WithResult(id, result)`: a void method gives `"result":null`.
        Outcome::Returned(None) => CompletionResult::Value(Value::Null),
        Outcome::Returned(Some(v)) if faults.has(Fault::DropFalsyResults) && is_falsy(&v) => {
            CompletionResult::Void
        }
        Outcome::Returned(Some(v)) => CompletionResult::Value(v),
        Outcome::Failed(text) => CompletionResult::Error(error_text(text, faults)),
    };
    Some(HubMessage::completion(id, result))
}

/// The Completion ending server-to-client stream `id`: `error` if it failed.
pub(crate) fn stream_completion(id: &str, error: Option<String>, faults: FaultSet) -> HubMessage {
    let result = match error {
        Some(e) => CompletionResult::Error(error_text(e, faults)),
        None if faults.has(Fault::StreamCompletionWithResult) => {
            CompletionResult::Value(Value::Null)
        }
        None => CompletionResult::Void,
    };
    HubMessage::completion(completion_id(id, faults), result)
}

/// How many copies of each stream item go out.
pub(crate) fn stream_item_copies(faults: FaultSet) -> usize {
    if faults.has(Fault::DuplicateStreamItems) {
        2
    } else {
        1
    }
}

fn completion_id(id: &str, faults: FaultSet) -> String {
    if faults.has(Fault::WrongCompletionId) {
        format!("{id}-wrong")
    } else {
        id.to_owned()
    }
}

fn error_text(text: String, faults: FaultSet) -> String {
    if faults.has(Fault::WrongErrorTexts) {
        "error".to_owned()
    } else {
        text
    }
}

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) | Value::Int(0) => true,
        Value::String(s) => s.is_empty(),
        Value::F64(f) => *f == 0.0,
        _ => false,
    }
}

/// MessagePack values a careless server would write: bin as base64 strings, timestamps as
/// seconds (the `lossy-messagepack-types` fault).
fn lossy(msg: &HubMessage) -> HubMessage {
    fn v(x: &Value) -> Value {
        match x {
            Value::Binary(b) => {
                use base64::Engine as _;
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Value::Timestamp(t) => Value::Int(t.seconds),
            Value::Array(a) => Value::Array(a.iter().map(v).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, x)| (v(k), v(x))).collect()),
            other => other.clone(),
        }
    }
    let mut m = msg.clone();
    match &mut m {
        HubMessage::Invocation(i) => i.arguments = i.arguments.iter().map(v).collect(),
        HubMessage::StreamItem(s) => s.item = v(&s.item),
        HubMessage::Completion(c) => {
            if let CompletionResult::Value(x) = &c.result {
                c.result = CompletionResult::Value(v(x));
            }
        }
        _ => {}
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(f: &[Fault]) -> FaultSet {
        FaultSet::new(f)
    }

    #[test]
    fn completions_under_faults() {
        let none = faults(&[]);
        type Case<'a> = (&'a [Fault], Option<&'a str>, Outcome, Option<HubMessage>);
        let cases: &[Case] = &[
            (&[], None, Outcome::Returned(None), None),
            (&[], Some(""), Outcome::Returned(None), None),
            (
                &[],
                Some("1"),
                Outcome::Returned(None),
                Some(HubMessage::completion(
                    "1",
                    CompletionResult::Value(Value::Null),
                )),
            ),
            (
                &[Fault::WrongCompletionId],
                Some("1"),
                Outcome::Failed("boom".into()),
                Some(HubMessage::completion(
                    "1-wrong",
                    CompletionResult::Error("boom".into()),
                )),
            ),
            (
                &[Fault::WrongErrorTexts],
                Some("1"),
                Outcome::Failed("boom".into()),
                Some(HubMessage::completion(
                    "1",
                    CompletionResult::Error("error".into()),
                )),
            ),
            (
                &[Fault::AnswerNonBlocking],
                None,
                Outcome::Returned(Some(Value::Int(1))),
                Some(HubMessage::completion(
                    "nonblocking",
                    CompletionResult::Value(Value::Int(1)),
                )),
            ),
            (
                &[Fault::DropFalsyResults],
                Some("1"),
                Outcome::Returned(Some(Value::Int(0))),
                Some(HubMessage::completion("1", CompletionResult::Void)),
            ),
        ];
        for (f, id, outcome, expected) in cases {
            let outcome = match outcome {
                Outcome::Returned(v) => Outcome::Returned(v.clone()),
                Outcome::Failed(t) => Outcome::Failed(t.clone()),
            };
            assert_eq!(
                &completion(*id, outcome, faults(f)),
                expected,
                "{f:?} {id:?}"
            );
        }
        assert_eq!(
            stream_completion("s", None, none),
            HubMessage::completion("s", CompletionResult::Void)
        );
        assert_eq!(
            stream_completion(
                "s",
                Some("x".into()),
                faults(&[Fault::WrongCompletionId, Fault::WrongErrorTexts])
            ),
            HubMessage::completion("s-wrong", CompletionResult::Error("error".into()))
        );
    }
}
