//! The hub handshake (HubProtocol.md § Overview; HandshakeProtocol; ASP.NET Core's HubConnectionHandlerTests).
mod common;

use common::*;
use signalr_mock::MockConfig;
use signalr_protocol::{HubMessage, HubProtocol};

/// Opens a negotiated WebSocket, sends `request` as one text frame and returns the raw response
/// frame (its opcode and bytes).
async fn first_frame_after(srv: &signalr_mock::MockServer, request: &str) -> (Client, WsEvent) {
    let mut c = Client::open(srv, "conformance", "").await;
    c.send_text(request).await;
    let ev = c.next_event().await;
    (c, ev)
}

/// Expects `{"error":"<text>"}` RS in a Text frame, then the socket's end (code 1000) with no
/// Close hub message.
async fn expect_handshake_error(srv: &signalr_mock::MockServer, request: &str, text: &str) {
    let (mut c, ev) = first_frame_after(srv, request).await;
    let mut expected = b"{\"error\":".to_vec();
    expected.extend_from_slice(&serde_json::to_vec(text).unwrap());
    expected.extend_from_slice(b"}\x1e");
    assert_eq!(
        ev,
        WsEvent::Data(FrameKind::Text, expected),
        "response to {request:?}"
    );
    assert_eq!(c.next_event().await, WsEvent::Closed(Some(1000)));
}

#[tokio::test]
async fn json_success_is_exactly_7b_7d_1e_in_a_text_frame() {
    let srv = default_server().await;
    let (_c, ev) = first_frame_after(&srv, "{\"protocol\":\"json\",\"version\":1}\x1e").await;
    assert_eq!(ev, WsEvent::Data(FrameKind::Text, vec![0x7b, 0x7d, 0x1e]));
    assert_no_panics();
}

#[tokio::test]
async fn messagepack_success_arrives_in_a_binary_frame() {
    let srv = default_server().await;
    let (mut c, ev) =
        first_frame_after(&srv, "{\"protocol\":\"messagepack\",\"version\":1}\x1e").await;
    assert_eq!(ev, WsEvent::Data(FrameKind::Binary, vec![0x7b, 0x7d, 0x1e]));
    c.protocol = HubProtocol::MessagePack;
    assert_eq!(c.call("Echo", vec![int(1)]).await, int(1));
    assert!(c.frame_kinds.iter().all(|k| *k == FrameKind::Binary));
    assert_no_panics();
}

#[tokio::test]
async fn versions_up_to_2_and_any_case_of_the_name_are_accepted() {
    let srv = default_server().await;
    for req in [
        "{\"protocol\":\"json\",\"version\":0}\x1e",
        "{\"protocol\":\"json\",\"version\":2}\x1e",
        "{\"protocol\":\"JSON\",\"version\":1}\x1e",
        // Unknown properties are skipped; the last of repeated properties wins.
        "{\"x\":[1,{}],\"protocol\":\"foo\",\"protocol\":\"json\",\"version\":1}\x1e",
    ] {
        let (_c, ev) = first_frame_after(&srv, req).await;
        assert_eq!(
            ev,
            WsEvent::Data(FrameKind::Text, b"{}\x1e".to_vec()),
            "{req}"
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn unknown_protocol() {
    let srv = default_server().await;
    expect_handshake_error(
        &srv,
        "{\"protocol\":\"foo\",\"version\":1}\x1e",
        "The protocol 'foo' is not supported.",
    )
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn version_too_high() {
    let srv = default_server().await;
    expect_handshake_error(
        &srv,
        "{\"protocol\":\"json\",\"version\":3}\x1e",
        "The server does not support version 3 of the 'json' protocol.",
    )
    .await;
    expect_handshake_error(
        &srv,
        "{\"protocol\":\"messagepack\",\"version\":9001}\x1e",
        "The server does not support version 9001 of the 'messagepack' protocol.",
    )
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn garbage_and_missing_properties() {
    let srv = default_server().await;
    for req in [
        "garbage\x1e",
        "{\"protocol\":\"json\"}\x1e",
        "{\"version\":1}\x1e",
        "[]\x1e",
        "{\"type\":1,\"target\":\"Echo\",\"arguments\":[]}\x1e",
    ] {
        expect_handshake_error(
            &srv,
            req,
            "An unexpected error occurred during connection handshake.",
        )
        .await;
    }
    assert_no_panics();
}

#[tokio::test]
async fn detailed_handshake_errors_name_the_exception() {
    let srv = detailed_server().await;
    expect_handshake_error(
        &srv,
        "{\"protocol\":\"json\"}\x1e",
        "An unexpected error occurred during connection handshake. InvalidDataException: Missing required property 'version'. Message content: {\"protocol\":\"json\"}",
    )
    .await;
    expect_handshake_error(
        &srv,
        "{}\x1e",
        "An unexpected error occurred during connection handshake. InvalidDataException: Missing required property 'protocol'. Message content: {}",
    )
    .await;
    expect_handshake_error(
        &srv,
        "{\"protocol\":\"json\",\"version\":\"1\"}\x1e",
        "An unexpected error occurred during connection handshake. InvalidDataException: Expected 'version' to be of type Number.",
    )
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn handshake_timeout() {
    let srv = server(MockConfig {
        handshake_timeout_ms: 300,
        ..MockConfig::default().fast_timers()
    })
    .await;
    let mut c = Client::open(&srv, "conformance", "").await;
    // Half a handshake, then nothing.
    c.send_text("{\"protocol\":").await;
    assert_eq!(
        c.next_event().await,
        WsEvent::Data(
            FrameKind::Text,
            b"{\"error\":\"Handshake was canceled.\"}\x1e".to_vec()
        )
    );
    assert_eq!(c.next_event().await, WsEvent::Closed(Some(1000)));
    assert_no_panics();
}

#[tokio::test]
async fn handshake_over_the_max_size() {
    let srv = default_server().await;
    let mut c = Client::open(&srv, "conformance", "").await;
    let big = format!(
        "{{\"protocol\":\"json\",\"version\":1,\"pad\":\"{}\"}}\x1e",
        "x".repeat(40 * 1024)
    );
    c.send_text(&big).await;
    assert_eq!(
        c.next_event().await,
        WsEvent::Data(
            FrameKind::Text,
            b"{\"error\":\"Handshake was canceled.\"}\x1e".to_vec()
        )
    );
    assert_eq!(c.next_event().await, WsEvent::Closed(Some(1000)));
    // A handshake of exactly the maximum size (RS included) is fine.
    let mut c = Client::open(&srv, "conformance", "").await;
    let head = "{\"protocol\":\"json\",\"version\":1,\"pad\":\"";
    let pad = 32768 - head.len() - "\"}\x1e".len();
    let exact = format!("{head}{}\"}}\x1e", "x".repeat(pad));
    assert_eq!(exact.len(), 32768);
    c.send_text(&exact).await;
    assert_eq!(c.handshake_response().await, b"{}\x1e");
    assert_no_panics();
}

#[tokio::test]
async fn handshake_one_byte_per_frame() {
    let srv = default_server().await;
    let mut c = Client::open(&srv, "conformance", "").await;
    for b in b"{\"protocol\":\"messagepack\",\"version\":1}\x1e" {
        // The opcode does not matter to the server.
        c.send_raw(vec![*b]).await;
    }
    assert_eq!(c.handshake_response().await, b"{}\x1e");
    c.protocol = HubProtocol::MessagePack;
    assert_eq!(c.call("Echo", vec![s("ok")]).await, s("ok"));
    assert_no_panics();
}

#[tokio::test]
async fn handshake_and_invocation_in_one_frame() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::open(&srv, "conformance", "").await;
        let mut bytes = format!("{{\"protocol\":\"{}\",\"version\":1}}\x1e", p.name()).into_bytes();
        bytes.extend(p.encode(&HubMessage::invoke("1", "Echo", vec![s("piped")])));
        bytes.extend(p.encode(&HubMessage::invoke("2", "Echo", vec![int(2)])));
        c.send_raw(bytes).await;
        assert_eq!(c.handshake_response().await, b"{}\x1e");
        c.protocol = p;
        assert_eq!(c.expect_msg().await, ok("1", s("piped")));
        assert_eq!(c.expect_msg().await, ok("2", int(2)));
    }
    assert_no_panics();
}

#[tokio::test]
async fn closing_before_the_handshake_is_quiet() {
    let srv = default_server().await;
    let mut c = Client::open(&srv, "conformance", "").await;
    c.send_text("{\"protocol\":\"json\"").await;
    c.close_socket().await;
    // Nothing but the close handshake comes back.
    assert_eq!(c.next_event().await, WsEvent::Closed(Some(1000)));
    // The server is fine.
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    assert_eq!(c.call("Echo", vec![int(1)]).await, int(1));
    assert_no_panics();
}
