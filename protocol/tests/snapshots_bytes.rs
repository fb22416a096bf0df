//! Byte-exact writer output, one snapshot per message type per protocol, plus the handshake and
//! negotiate bodies. MessagePack is shown as hex (`prefix | body`), JSON as text with the record
//! separator written `\x1e`.
//!
//! The messages reuse the reference byte examples (HubProtocol.md § MessagePack (MsgPack) encoding: id "xyz", target "method",
//! argument 42) so each snapshot can be checked against the documents by eye.

use signalr_protocol::handshake::{self, HandshakeRequest, HandshakeResponse};
use signalr_protocol::negotiate::{AvailableTransport, NegotiateResponse};
use signalr_protocol::{
    CancelInvocation, Completion, CompletionResult, Headers, HubMessage, HubProtocol,
    StreamInvocation, Timestamp, Value,
};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `prefix | body` for a framed MessagePack message.
fn msgpack(msg: &HubMessage) -> String {
    let framed = HubProtocol::MessagePack.encode(msg);
    let (_, prefix_len) = signalr_protocol::framing::read_varint(&framed)
        .expect("valid prefix")
        .expect("whole prefix");
    format!(
        "{} | {}",
        hex(&framed[..prefix_len]),
        hex(&framed[prefix_len..])
    )
}

/// JSON text with the record separator shown as `\x1e`.
fn visible(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .expect("UTF-8")
        .replace('\u{1e}', "\\x1e")
}

fn json(msg: &HubMessage) -> String {
    visible(&HubProtocol::Json.encode(msg))
}

fn headers() -> Headers {
    [("Foo", "Bar"), ("KeyWith\nNew\r\nLines", "Still Works")]
        .into_iter()
        .collect()
}

/// One of each message type (and the shapes a type can take).
fn messages() -> Vec<(&'static str, HubMessage)> {
    let completion = |result| {
        HubMessage::Completion(Completion {
            headers: Headers::new(),
            invocation_id: "xyz".into(),
            result,
        })
    };
    let mut with_headers = HubMessage::invoke("xyz", "method", vec![Value::Int(42)]);
    if let HubMessage::Invocation(i) = &mut with_headers {
        i.headers = headers();
        i.stream_ids = Some(vec!["__test_id__".into()]);
    }
    vec![
        (
            "invocation",
            HubMessage::invoke("xyz", "method", vec![Value::Int(42)]),
        ),
        (
            "invocation_nonblocking",
            HubMessage::send("method", vec![Value::Int(42)]),
        ),
        ("invocation_headers_streams", with_headers),
        (
            "stream_item",
            HubMessage::stream_item("xyz", Value::Int(42)),
        ),
        ("completion_void", completion(CompletionResult::Void)),
        (
            "completion_result",
            completion(CompletionResult::Value(Value::Int(42))),
        ),
        (
            "completion_error",
            completion(CompletionResult::Error("Error".into())),
        ),
        (
            "stream_invocation",
            HubMessage::StreamInvocation(StreamInvocation {
                headers: Headers::new(),
                invocation_id: "xyz".into(),
                target: "method".into(),
                arguments: vec![Value::Int(42)],
                stream_ids: None,
            }),
        ),
        (
            "cancel_invocation",
            HubMessage::CancelInvocation(CancelInvocation {
                headers: Headers::new(),
                invocation_id: "xyz".into(),
            }),
        ),
        ("ping", HubMessage::Ping),
        ("close", HubMessage::close(None, false)),
        (
            "close_error_reconnect",
            HubMessage::close(Some("Error!".into()), true),
        ),
        (
            "ack",
            HubMessage::Ack(signalr_protocol::SequenceId { sequence_id: 36 }),
        ),
        (
            "sequence",
            HubMessage::Sequence(signalr_protocol::SequenceId { sequence_id: 19 }),
        ),
    ]
}

/// Every value type in one stream item: each protocol writes the types it lacks its own way.
fn values_message() -> HubMessage {
    HubMessage::stream_item(
        "v",
        Value::Array(vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-1),
            Value::Int(300),
            Value::UInt(u64::MAX),
            Value::F32(1.5),
            Value::F64(2.5),
            Value::from("s"),
            Value::Binary(vec![1, 2, 3]),
            Value::Timestamp(Timestamp::new(1_514_805_840, 0).expect("valid")),
            Value::Ext(5, vec![9]),
            Value::Map(vec![(Value::from("k"), Value::Int(1))]),
        ]),
    )
}

#[test]
fn messagepack_messages() {
    for (name, msg) in messages() {
        insta::assert_snapshot!(format!("messagepack_{name}"), msgpack(&msg));
    }
    insta::assert_snapshot!("messagepack_values", msgpack(&values_message()));
}

#[test]
fn json_messages() {
    for (name, msg) in messages() {
        insta::assert_snapshot!(format!("json_{name}"), json(&msg));
    }
    insta::assert_snapshot!("json_values", json(&values_message()));
}

#[test]
fn handshake_bodies() {
    let request = |protocol: &str, version| {
        let mut out = Vec::new();
        handshake::write_request(
            &HandshakeRequest {
                protocol: protocol.into(),
                version,
            },
            &mut out,
        );
        visible(&out)
    };
    let response = |error: Option<&str>| {
        let mut out = Vec::new();
        handshake::write_response(
            &HandshakeResponse {
                error: error.map(str::to_owned),
            },
            &mut out,
        );
        visible(&out)
    };
    insta::assert_snapshot!("handshake_request_json", request("json", 1));
    insta::assert_snapshot!(
        "handshake_request_messagepack_v2",
        request("messagepack", 2)
    );
    insta::assert_snapshot!("handshake_response_success", response(None));
    insta::assert_snapshot!(
        "handshake_response_error",
        response(Some("The protocol 'CustomProtocol' is not supported."))
    );
}

#[test]
fn negotiate_bodies() {
    let base = NegotiateResponse {
        negotiate_version: 0,
        has_negotiate_version: true,
        connection_id: Some("dQw4w9WgXcQAAAAAAAAAAA".into()),
        connection_token: Some("oHg5SJYRHA0AAAAAAAAAAA".into()),
        available_transports: Some(AvailableTransport::defaults()),
        ..NegotiateResponse::default()
    };
    insta::assert_snapshot!("negotiate_v0", base.to_json());
    let v1 = NegotiateResponse {
        negotiate_version: 1,
        ..base.clone()
    };
    insta::assert_snapshot!("negotiate_v1", v1.to_json());
    let stateful = NegotiateResponse {
        use_stateful_reconnect: true,
        ..v1
    };
    insta::assert_snapshot!("negotiate_v1_stateful", stateful.to_json());
    insta::assert_snapshot!(
        "negotiate_redirect",
        NegotiateResponse::redirect(
            "https://signalr.example/client/?hub=chat",
            Some("eyJhbGciOi.x.y".into())
        )
        .to_json()
    );
    insta::assert_snapshot!(
        "negotiate_error",
        NegotiateResponse::error("The client requested a non-integer protocol version.").to_json()
    );
}
