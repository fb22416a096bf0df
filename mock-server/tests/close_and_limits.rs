//! The Close message in each way a connection ends, and the maximum message size
//! (HubProtocol.md § Close Message Encoding; HubOptions.MaximumReceiveMessageSize;
//! ASP.NET Core's HubConnectionHandlerTests).
mod common;

use common::*;
use signalr_mock::MockConfig;
use signalr_protocol::{HubMessage, HubProtocol};

const CLOSED_WITH_ERROR: &str = "Connection closed with an error.";

/// An Echo invocation whose JSON framing (RS included) is exactly `len` bytes.
fn json_echo_of_len(len: usize) -> String {
    let head = r#"{"type":1,"invocationId":"1","target":"Echo","arguments":[""#;
    let tail = "\"]}\x1e";
    let pad = len - head.len() - tail.len();
    let msg = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(msg.len(), len);
    msg
}

/// An Echo invocation whose MessagePack framing (VarInt prefix included) is exactly `len` bytes.
fn msgpack_echo_of_len(len: usize) -> (Vec<u8>, usize) {
    // Grow the string until the framed size matches (the str header and prefix lengths vary).
    for n in (len.saturating_sub(40))..len {
        let m = HubProtocol::MessagePack.encode(&HubMessage::invoke(
            "1",
            "Echo",
            vec![s(&"x".repeat(n))],
        ));
        if m.len() == len {
            return (m, n);
        }
    }
    panic!("no MessagePack message of {len} bytes");
}

#[tokio::test]
async fn abort_sends_close_without_reconnect_and_nothing_else() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&HubMessage::invoke("1", "Abort", vec![])).await;
    // HubConnectionContext.Abort() stops every later write: no Completion for "Abort".
    c.expect_close_bytes(b"{\"type\":7}\x1e").await;

    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    m.send(&HubMessage::invoke("1", "Abort", vec![])).await;
    m.expect_close_bytes(&[0x04, 0x93, 0x07, 0xc0, 0xc2]).await;
    assert_no_panics();
}

#[tokio::test]
async fn request_close_allows_reconnect() {
    let srv = default_server().await;
    for (p, close) in [
        (
            HubProtocol::Json,
            b"{\"type\":7,\"allowReconnect\":true}\x1e".to_vec(),
        ),
        (HubProtocol::MessagePack, vec![0x04, 0x93, 0x07, 0xc0, 0xc3]),
    ] {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&HubMessage::invoke("1", "RequestClose", vec![]))
            .await;
        // ASP.NET Core requests the close on the thread pool, so the Completion may or may not
        // get out first; the Close must follow.
        let mut raw = c.recv_raw().await.expect("a message");
        if decode(p, &raw) == ok("1", signalr_protocol::Value::Null) {
            raw = c.recv_raw().await.expect("the Close");
        }
        assert_eq!(raw, close);
        assert_eq!(c.expect_end().await, Some(1000));
    }
    assert_no_panics();
}

#[tokio::test]
async fn fail_on_connect() {
    let srv = default_server().await;
    let mut c = Client::connect_with(
        &srv,
        "conformance",
        HubProtocol::Json,
        "&failOnConnect=nope",
    )
    .await;
    c.expect_close_bytes(&json_close(Some(CLOSED_WITH_ERROR), false))
        .await;

    let srv = detailed_server().await;
    let mut c = Client::connect_with(
        &srv,
        "conformance",
        HubProtocol::MessagePack,
        "&failOnConnect=nope",
    )
    .await;
    c.expect_close_bytes(&msgpack_close_with_error(
        "Connection closed with an error. InvalidOperationException: nope",
        false,
    ))
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn client_close_message() {
    let srv = default_server().await;
    for close in [
        "{\"type\":7}\x1e",
        "{\"type\":7,\"error\":\"bye\",\"allowReconnect\":true}\x1e",
    ] {
        let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        c.send_text(close).await;
        c.expect_close_bytes(b"{\"type\":7}\x1e").await;
    }
    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    m.send(&HubMessage::close(None, false)).await;
    m.expect_close_bytes(&[0x04, 0x93, 0x07, 0xc0, 0xc2]).await;
    assert_no_panics();
}

#[tokio::test]
async fn client_close_lets_earlier_replies_out_first() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send_text(
        "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[1]}\x1e{\"type\":7}\x1e",
    )
    .await;
    assert_eq!(c.expect_msg().await, ok("1", int(1)));
    c.expect_close_bytes(b"{\"type\":7}\x1e").await;
    assert_no_panics();
}

#[tokio::test]
async fn protocol_errors_close_with_reconnect() {
    let srv = default_server().await;
    for bad in [
        "not json\x1e",
        "{\"target\":\"Echo\",\"arguments\":[]}\x1e",
        "{\"type\":1,\"invocationId\":\"1\",\"arguments\":[]}\x1e",
        "{\"type\":3,\"invocationId\":\"1\",\"result\":1,\"error\":\"x\"}\x1e",
        "[1,2]\x1e",
    ] {
        let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        c.send_text(bad).await;
        c.expect_close_bytes(&json_close(Some(CLOSED_WITH_ERROR), true))
            .await;
    }
    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    m.send_raw(vec![0x02, 0x91, 0xc1]).await;
    m.expect_close_bytes(&msgpack_close_with_error(CLOSED_WITH_ERROR, true))
        .await;
    assert_no_panics();
}

#[tokio::test]
async fn protocol_errors_with_detailed_errors() {
    let srv = detailed_server().await;
    for (bad, detail) in [
        ("not json\x1e", "InvalidDataException: Error reading JSON."),
        (
            "{\"target\":\"Echo\",\"arguments\":[]}\x1e",
            "InvalidDataException: Missing required property 'type'.",
        ),
        (
            "{\"type\":1,\"invocationId\":\"1\",\"arguments\":[]}\x1e",
            "InvalidDataException: Missing required property 'target'.",
        ),
        (
            "{\"type\":3,\"invocationId\":\"1\",\"result\":1,\"error\":\"x\"}\x1e",
            "InvalidDataException: The 'error' and 'result' properties are mutually exclusive.",
        ),
    ] {
        let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        c.send_text(bad).await;
        c.expect_close_bytes(&json_close(
            Some(&format!("{CLOSED_WITH_ERROR} {detail}")),
            true,
        ))
        .await;
    }
    assert_no_panics();
}

#[tokio::test]
async fn message_over_the_limit_closes_the_connection() {
    for p in HubProtocol::ALL {
        let srv = default_server().await;
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&HubMessage::invoke(
            "1",
            "Echo",
            vec![s(&"x".repeat(40 * 1024))],
        ))
        .await;
        let close = p.encode(&HubMessage::close(Some(CLOSED_WITH_ERROR.into()), true));
        // No Completion for the offending invocation.
        c.expect_close_bytes(&close).await;
    }
    let srv = detailed_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send_text(&json_echo_of_len(32769)).await;
    c.expect_close_bytes(&json_close(
        Some("Connection closed with an error. InvalidDataException: The maximum message size of 32768B was exceeded. The message size can be configured in AddHubOptions."),
        true,
    ))
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn message_of_exactly_the_limit_is_accepted() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let msg = json_echo_of_len(32768);
    c.send_text(&msg).await;
    match c.expect_msg().await {
        HubMessage::Completion(done) => assert_eq!(done.invocation_id, "1"),
        other => panic!("{other:?}"),
    }

    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    let (bytes, n) = msgpack_echo_of_len(32768);
    m.send_raw(bytes).await;
    assert_eq!(m.expect_msg().await, ok("1", s(&"x".repeat(n))));
    // One byte more is too much.
    let (bytes, _) = msgpack_echo_of_len(32769);
    m.send_raw(bytes).await;
    m.expect_close_bytes(&msgpack_close_with_error(CLOSED_WITH_ERROR, true))
        .await;
    assert_no_panics();
}

#[tokio::test]
async fn the_limit_is_per_message_not_per_frame() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        let mut batch = Vec::new();
        for i in 0..3 {
            batch.extend(p.encode(&HubMessage::invoke(
                i.to_string(),
                "Echo",
                vec![s(&"y".repeat(20_000))],
            )));
        }
        assert!(batch.len() > 32768);
        c.send_raw(batch).await;
        for i in 0..3 {
            assert_eq!(
                c.expect_msg().await,
                ok(&i.to_string(), s(&"y".repeat(20_000)))
            );
        }
        // Messages before an oversized one in the same frame are still answered.
        let mut batch = p.encode(&HubMessage::invoke("a", "Echo", vec![int(1)]));
        batch.extend(p.encode(&HubMessage::invoke(
            "b",
            "Echo",
            vec![s(&"z".repeat(40_000))],
        )));
        c.send_raw(batch).await;
        assert_eq!(c.expect_msg().await, ok("a", int(1)));
        let close = p.encode(&HubMessage::close(Some(CLOSED_WITH_ERROR.into()), true));
        c.expect_close_bytes(&close).await;
    }
    assert_no_panics();
}

#[tokio::test]
async fn unlimited_size_when_configured() {
    let srv = server(MockConfig {
        maximum_receive_message_size: 0,
        ..MockConfig::default()
    })
    .await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let big = "x".repeat(100_000);
    assert_eq!(c.invoke("1", "Echo", vec![s(&big)]).await, ok("1", s(&big)));
    assert_no_panics();
}

#[tokio::test]
async fn the_server_sends_large_messages() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    assert_eq!(
        c.invoke("1", "LargeResult", vec![int(100_000)]).await,
        ok("1", s(&"x".repeat(100_000)))
    );
    assert_no_panics();
}

#[tokio::test]
async fn server_shutdown_closes_with_reconnect() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let shutdown = tokio::spawn(srv.shutdown());
    c.expect_close_bytes(b"{\"type\":7,\"allowReconnect\":true}\x1e")
        .await;
    shutdown.await.unwrap();
    assert_no_panics();
}
