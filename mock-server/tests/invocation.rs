//! Invocations: values, results, errors and ordering (HubProtocol.md § Invocations,
//! § Non-Blocking Invocations, § Errors; DefaultHubDispatcher; ASP.NET Core's HubConnectionHandlerTests).
mod common;

use common::*;
use signalr_protocol::{Headers, HubMessage, HubProtocol, Invocation, Timestamp, Value};

async fn json_client(srv: &signalr_mock::MockServer) -> Client {
    Client::connect(srv, "conformance", HubProtocol::Json).await
}

/// Sends raw JSON text (RS appended) and returns the next message's text (RS stripped).
async fn json_exchange(c: &mut Client, msg: &str) -> String {
    c.send_text(&format!("{msg}\x1e")).await;
    let mut t = c.recv_text().await;
    assert_eq!(t.pop(), Some('\x1e'));
    t
}

#[tokio::test]
async fn json_echo_keeps_every_value_as_written() {
    let srv = default_server().await;
    let mut c = json_client(&srv).await;
    for v in [
        "42",
        "-7",
        "0",
        "9223372036854775807",
        "18446744073709551615",
        "1.5",
        "-0.25",
        "1.0",
        "\"text\"",
        "\"\"",
        "\"\u{4f60}\u{597d}\\n\\u0001\\\"\"",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "[1,\"a\",null,[true,{}]]",
        "{\"a\":{\"b\":[1,2,{\"c\":null}]},\"D\":-1}",
    ] {
        let reply = json_exchange(
            &mut c,
            &format!(r#"{{"type":1,"invocationId":"1","target":"Echo","arguments":[{v}]}}"#),
        )
        .await;
        assert_eq!(
            reply,
            format!(r#"{{"type":3,"invocationId":"1","result":{v}}}"#)
        );
    }
    assert_no_panics();
}

/// System.Text.Json binds an `object` parameter to a `JsonElement`, which writes a number back
/// as the very token it read (`JsonDocument.WriteElementTo` copies the raw number bytes).
///
/// Known difference: mock-hub keeps the number's value and type but writes it in the shortest
/// form (`1E2` → `100.0`), and integers beyond 64 bits lose precision; serde_json does not
/// expose a number's text without a global feature that would slow every parse.
#[tokio::test]
#[ignore = "known difference: JSON numbers are re-serialised in shortest form (see doc comment)"]
async fn json_echo_keeps_number_text_verbatim() {
    let srv = default_server().await;
    let mut c = json_client(&srv).await;
    let mut wrong = Vec::new();
    for v in [
        "1e300",
        "1E2",
        "1.50",
        "-0",
        "0.1e-5",
        "100000000000000000000000",
    ] {
        let reply = json_exchange(
            &mut c,
            &format!(r#"{{"type":1,"invocationId":"1","target":"Echo","arguments":[{v}]}}"#),
        )
        .await;
        let expected = format!(r#"{{"type":3,"invocationId":"1","result":{v}}}"#);
        if reply != expected {
            wrong.push(format!("sent {v}, got {reply}"));
        }
    }
    assert!(wrong.is_empty(), "number text rewritten: {wrong:#?}");
    assert_no_panics();
}

#[tokio::test]
async fn messagepack_echo_keeps_every_wire_type() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    let values = vec![
        int(0),
        int(42),
        int(200),
        int(-1),
        int(-300),
        int(70_000),
        int(i64::MIN),
        Value::UInt(u64::MAX),
        Value::F32(1.5),
        Value::F64(2.25),
        s("text"),
        s(""),
        Value::Bool(true),
        Value::Bool(false),
        Value::Null,
        Value::Binary(vec![0, 1, 255]),
        Value::Binary(vec![]),
        Value::Timestamp(Timestamp::new(946_684_800, 0).unwrap()),
        Value::Timestamp(Timestamp::new(1, 500_000_000).unwrap()),
        Value::Timestamp(Timestamp::new(-1, 0).unwrap()),
        arr(vec![int(1), s("a"), Value::Null]),
        map(vec![
            ("a", map(vec![("b", arr(vec![int(1), int(2)]))])),
            ("bin", Value::Binary(vec![9])),
        ]),
        Value::Map(vec![(int(1), s("int key"))]),
    ];
    for v in values {
        let sent = HubMessage::invoke("1", "Echo", vec![v.clone()]);
        c.send(&sent).await;
        let raw = c.recv_raw().await.unwrap();
        // Byte for byte what the same value would be as a result.
        assert_eq!(
            raw,
            HubProtocol::MessagePack.encode(&ok("1", v.clone())),
            "{v:?}"
        );
        assert_eq!(decode(HubProtocol::MessagePack, &raw), ok("1", v));
    }
    assert_no_panics();
}

#[tokio::test]
async fn messagepack_wire_shapes() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    c.send(&HubMessage::invoke("xyz", "Echo", vec![int(42)]))
        .await;
    // Completion result 42: 95 03 80 A3 "xyz" 03 2A.
    assert_eq!(
        c.recv_raw().await.unwrap(),
        framed(&[0x95, 0x03, 0x80, 0xa3, b'x', b'y', b'z', 0x03, 0x2a])
    );
    // A void method: result kind 3 with nil (see results_void_null_and_falsy).
    c.send(&HubMessage::invoke("xyz", "Void", vec![])).await;
    assert_eq!(
        c.recv_raw().await.unwrap(),
        framed(&[0x95, 0x03, 0x80, 0xa3, b'x', b'y', b'z', 0x03, 0xc0])
    );
    c.send(&HubMessage::invoke("xyz", "Null", vec![])).await;
    assert_eq!(
        c.recv_raw().await.unwrap(),
        framed(&[0x95, 0x03, 0x80, 0xa3, b'x', b'y', b'z', 0x03, 0xc0])
    );
    c.send(&HubMessage::invoke(
        "xyz",
        "Echo",
        vec![Value::Binary(vec![1, 2, 3])],
    ))
    .await;
    assert_eq!(
        c.recv_raw().await.unwrap(),
        framed(&[0x95, 0x03, 0x80, 0xa3, b'x', b'y', b'z', 0x03, 0xc4, 0x03, 1, 2, 3])
    );
    c.send(&HubMessage::invoke(
        "xyz",
        "Echo",
        vec![Value::Timestamp(Timestamp::new(946_684_800, 0).unwrap())],
    ))
    .await;
    assert_eq!(
        c.recv_raw().await.unwrap(),
        framed(&[
            0x95, 0x03, 0x80, 0xa3, b'x', b'y', b'z', 0x03, 0xd6, 0xff, 0x38, 0x6d, 0x43, 0x80
        ])
    );
    assert_no_panics();
}

#[tokio::test]
async fn results_void_null_and_falsy() {
    let srv = default_server().await;
    let mut c = json_client(&srv).await;
    let call = |t: &str, a: &str| {
        format!(r#"{{"type":1,"invocationId":"1","target":"{t}","arguments":[{a}]}}"#)
    };
    // DefaultHubDispatcher completes every successful invocation with
    // `CompletionMessage.WithResult(id, result)` (HasResult = true): a void method's Completion
    // carries `"result":null` on the wire too.
    assert_eq!(
        json_exchange(&mut c, &call("Void", "")).await,
        r#"{"type":3,"invocationId":"1","result":null}"#
    );
    assert_eq!(
        json_exchange(&mut c, &call("Null", "")).await,
        r#"{"type":3,"invocationId":"1","result":null}"#
    );
    for (kind, v) in [
        ("zero", "0"),
        ("false", "false"),
        ("empty", "\"\""),
        ("null", "null"),
    ] {
        assert_eq!(
            json_exchange(&mut c, &call("Falsy", &format!("\"{kind}\""))).await,
            format!(r#"{{"type":3,"invocationId":"1","result":{v}}}"#)
        );
    }
    assert_eq!(
        json_exchange(&mut c, &call("Add", "40,2")).await,
        r#"{"type":3,"invocationId":"1","result":42}"#
    );
    assert_no_panics();
}

#[tokio::test]
async fn non_blocking_invocations_get_nothing() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        // Successful, failing, unknown and streaming-mismatched sends: no reply at all.
        for (target, args) in [
            ("Echo", vec![s("x")]),
            ("Throw", vec![s("boom")]),
            ("NoSuchMethod", vec![]),
            ("Add", vec![s("a")]),
            ("Counter", vec![int(1), int(0)]),
        ] {
            c.send(&HubMessage::send(target, args)).await;
        }
        if p == HubProtocol::Json {
            // An empty invocation id is non-blocking too.
            c.send_text(
                "{\"type\":1,\"invocationId\":\"\",\"target\":\"Throw\",\"arguments\":[\"x\"]}\x1e",
            )
            .await;
        }
        // The first reply is the blocking invocation's.
        assert_eq!(c.invoke("2", "Echo", vec![int(2)]).await, ok("2", int(2)));
        c.expect_silence().await;
    }
    assert_no_panics();
}

#[tokio::test]
async fn unknown_method() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        assert_eq!(
            c.invoke("1", "NoSuchMethod", vec![int(1)]).await,
            err(
                "1",
                "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist."
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn binding_errors_without_detailed_errors() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        for args in [vec![int(1)], vec![s("a"), int(1)], vec![]] {
            assert_eq!(
                c.invoke("1", "Add", args).await,
                err("1", "Failed to invoke 'Add' due to an error on the server.")
            );
        }
    }
    assert_no_panics();
}

#[tokio::test]
async fn binding_errors_with_detailed_errors() {
    let srv = detailed_server().await;
    let prefix = "Failed to invoke 'Add' due to an error on the server. InvalidDataException: ";
    let count = "Invocation provides 1 argument(s) but target expects 2.";
    let types = "Make sure that the types of the provided values match the types of the hub method being invoked.";
    let mut j = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    assert_eq!(
        j.invoke("1", "Add", vec![int(1)]).await,
        err("1", &format!("{prefix}{count}"))
    );
    assert_eq!(
        j.invoke("1", "Add", vec![int(1), s("b")]).await,
        err("1", &format!("{prefix}Error binding arguments. {types}"))
    );
    // JSON checks each value while reading, before the count.
    assert_eq!(
        j.invoke("1", "Add", vec![s("a")]).await,
        err("1", &format!("{prefix}Error binding arguments. {types}"))
    );
    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    assert_eq!(
        m.invoke("1", "Add", vec![int(1)]).await,
        err("1", &format!("{prefix}{count}"))
    );
    assert_eq!(
        m.invoke("1", "Add", vec![int(1), s("b")]).await,
        err("1", &format!("{prefix}Error binding arguments. {types}"))
    );
    // MessagePack checks the count first.
    assert_eq!(
        m.invoke("1", "Add", vec![s("a")]).await,
        err("1", &format!("{prefix}{count}"))
    );
    assert_no_panics();
}

#[tokio::test]
async fn exceptions_from_hub_methods() {
    for detailed in [false, true] {
        let srv = if detailed {
            detailed_server().await
        } else {
            default_server().await
        };
        for p in HubProtocol::ALL {
            let mut c = Client::connect(&srv, "conformance", p).await;
            let plain = "An unexpected error occurred invoking 'Throw' on the server.";
            let expected = if detailed {
                format!("{plain} InvalidOperationException: boom")
            } else {
                plain.to_owned()
            };
            assert_eq!(
                c.invoke("1", "Throw", vec![s("boom")]).await,
                err("1", &expected)
            );
            // A HubException's message always reaches the client.
            assert_eq!(
                c.invoke("2", "ThrowHubException", vec![s("boom")]).await,
                err(
                    "2",
                    "An unexpected error occurred invoking 'ThrowHubException' on the server. HubException: boom"
                )
            );
        }
    }
    assert_no_panics();
}

#[tokio::test]
async fn streaming_mode_mismatch() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        assert_eq!(
            c.invoke("1", "Counter", vec![int(3), int(0)]).await,
            err(
                "1",
                "The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation."
            )
        );
        c.send(&stream_invocation("2", "Echo", vec![s("x")], None))
            .await;
        assert_eq!(
            c.expect_msg().await,
            err(
                "2",
                "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation."
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn stream_count_mismatch() {
    let srv = default_server().await;
    let mut c = json_client(&srv).await;
    assert_eq!(
        c.invoke("1", "UploadConcat", vec![]).await,
        err(
            "1",
            "An unexpected error occurred invoking 'UploadConcat' on the server. HubException: Client sent 0 stream(s), Hub method expects 1."
        )
    );
    c.send(&upload_invocation("2", "UploadConcat", vec!["a", "b"]))
        .await;
    assert_eq!(
        c.expect_msg().await,
        err(
            "2",
            "An unexpected error occurred invoking 'UploadConcat' on the server. HubException: Client sent 2 stream(s), Hub method expects 1."
        )
    );
    c.send(&invocation_with_streams(
        Some("3"),
        "Echo",
        vec![int(1)],
        vec!["s"],
    ))
    .await;
    assert_eq!(
        c.expect_msg().await,
        err(
            "3",
            "An unexpected error occurred invoking 'Echo' on the server. HubException: Client sent 1 stream(s), Hub method expects 0."
        )
    );
    assert_no_panics();
}

#[tokio::test]
async fn method_names_are_case_insensitive() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        assert_eq!(c.invoke("1", "echo", vec![int(1)]).await, ok("1", int(1)));
        assert_eq!(c.invoke("2", "ECHO", vec![int(2)]).await, ok("2", int(2)));
        assert_eq!(
            c.invoke("3", "aDD", vec![int(1), int(2)]).await,
            ok("3", int(3))
        );
        // Error texts name the method as declared (ASP.NET Core 8+ resolves the target
        // through IInvocationBinder.GetTarget), not as the client spelled it.
        assert_eq!(
            c.invoke("4", "throwHUBexception", vec![s("x")]).await,
            err(
                "4",
                "An unexpected error occurred invoking 'ThrowHubException' on the server. HubException: x"
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn invocations_of_a_connection_are_answered_in_order() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&HubMessage::invoke("1", "Delay", vec![int(200), s("slow")]))
            .await;
        c.send(&HubMessage::invoke("2", "Echo", vec![s("fast")]))
            .await;
        assert_eq!(c.expect_msg().await, ok("1", s("slow")));
        assert_eq!(c.expect_msg().await, ok("2", s("fast")));
    }
    assert_no_panics();
}

#[tokio::test]
async fn headers_on_invocations_are_tolerated() {
    let srv = default_server().await;
    let mut c = json_client(&srv).await;
    assert_eq!(
        json_exchange(
            &mut c,
            r#"{"type":1,"headers":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","x":"y"},"invocationId":"1","target":"Echo","arguments":[1]}"#
        )
        .await,
        r#"{"type":3,"invocationId":"1","result":1}"#
    );
    // Unknown properties and any property order.
    assert_eq!(
        json_exchange(
            &mut c,
            r#"{"arguments":[2],"unknown":{"a":[1]},"target":"Echo","invocationId":"1","type":1}"#
        )
        .await,
        r#"{"type":3,"invocationId":"1","result":2}"#
    );
    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    let mut headers = Headers::new();
    headers.insert("k", "v");
    m.send(&HubMessage::Invocation(Invocation {
        headers,
        invocation_id: Some("1".into()),
        target: "Echo".into(),
        arguments: vec![int(3)],
        stream_ids: None,
    }))
    .await;
    assert_eq!(m.expect_msg().await, ok("1", int(3)));
    assert_no_panics();
}

#[tokio::test]
async fn messagepack_five_element_invocation_is_accepted() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    // [1, {}, "1", "Echo", [7]] (a pre-3.0 client: no streamIds).
    let body = [
        0x95, 0x01, 0x80, 0xa1, b'1', 0xa4, b'E', b'c', b'h', b'o', 0x91, 0x07,
    ];
    let mut framed = vec![body.len() as u8];
    framed.extend_from_slice(&body);
    c.send_raw(framed).await;
    assert_eq!(c.expect_msg().await, ok("1", int(7)));
    assert_no_panics();
}

#[tokio::test]
async fn many_messages_in_one_frame_and_one_message_over_many_frames() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        let mut batch = Vec::new();
        for i in 0..5 {
            batch.extend(p.encode(&HubMessage::invoke(i.to_string(), "Echo", vec![int(i)])));
        }
        c.send_raw(batch).await;
        for i in 0..5 {
            assert_eq!(c.expect_msg().await, ok(&i.to_string(), int(i)));
        }
        let one = p.encode(&HubMessage::invoke("9", "Echo", vec![s("split")]));
        for chunk in one.chunks(3) {
            c.send_raw(chunk.to_vec()).await;
        }
        assert_eq!(c.expect_msg().await, ok("9", s("split")));
    }
    assert_no_panics();
}
