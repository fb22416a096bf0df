//! The hubs of Microsoft's TypeScript client functional tests (src/SignalR/clients/ts/FunctionalTests, TestHub):
//! `/testhub` (detailed errors, PascalCase payloads), `/uncreatable`, `/echo`.
mod common;

use common::*;
use signalr_protocol::{HubMessage, HubProtocol, Timestamp, Value};

async fn testhub(srv: &signalr_mock::MockServer, p: HubProtocol) -> Client {
    Client::connect(srv, "testhub", p).await
}

#[tokio::test]
async fn throw_exception_text() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = testhub(&srv, p).await;
        assert_eq!(
            c.invoke("1", "ThrowException", vec![s("An error occurred.")])
                .await,
            err(
                "1",
                "An unexpected error occurred invoking 'ThrowException' on the server. InvalidOperationException: An error occurred."
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn stream_a_b_c() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = testhub(&srv, p).await;
        c.send(&stream_invocation("1", "Stream", vec![], None))
            .await;
        for item in ["a", "b", "c"] {
            assert_eq!(c.expect_msg().await, HubMessage::stream_item("1", s(item)));
        }
        assert_eq!(c.expect_msg().await, void("1"));
    }
    assert_no_panics();
}

#[tokio::test]
async fn streaming_methods_invoked_and_the_reverse() {
    let srv = default_server().await;
    let mut c = testhub(&srv, HubProtocol::Json).await;
    assert_eq!(
        c.invoke("1", "EmptyStream", vec![]).await,
        err(
            "1",
            "The client attempted to invoke the streaming 'EmptyStream' method with a non-streaming invocation."
        )
    );
    assert_eq!(
        c.invoke("2", "Stream", vec![]).await,
        err(
            "2",
            "The client attempted to invoke the streaming 'Stream' method with a non-streaming invocation."
        )
    );
    c.send(&stream_invocation("3", "Echo", vec![s("42")], None))
        .await;
    assert_eq!(
        c.expect_msg().await,
        err(
            "3",
            "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation."
        )
    );
    c.send(&stream_invocation(
        "4",
        "StreamThrowException",
        vec![s("An error occurred.")],
        None,
    ))
    .await;
    assert_eq!(
        c.expect_msg().await,
        err(
            "4",
            "An unexpected error occurred invoking 'StreamThrowException' on the server. InvalidOperationException: An error occurred."
        )
    );
    assert_no_panics();
}

#[tokio::test]
async fn infinite_stream_cancel_and_streaming_concat() {
    let srv = default_server().await;
    let mut c = testhub(&srv, HubProtocol::MessagePack).await;
    c.send(&stream_invocation("1", "InfiniteStream", vec![], None))
        .await;
    c.send(&cancel("1")).await;
    let mut got = vec![c.expect_msg().await, c.expect_msg().await];
    got.sort_by_key(|m| m.message_type());
    assert_eq!(
        got,
        vec![HubMessage::send("StreamCanceled", vec![]), void("1")]
    );
    c.send(&upload_invocation("2", "StreamingConcat", vec!["u"]))
        .await;
    for piece in ["Hello", " ", "world", "!"] {
        c.send(&HubMessage::stream_item("u", s(piece))).await;
    }
    c.send(&void("u")).await;
    assert_eq!(c.expect_msg().await, ok("2", s("Hello world!")));
    c.send(&upload_invocation("3", "StreamingConcat", vec!["v"]))
        .await;
    c.send(&err("v", "Something bad")).await;
    assert_eq!(
        c.expect_msg().await,
        err(
            "3",
            "An unexpected error occurred invoking 'StreamingConcat' on the server. HubException: Something bad"
        )
    );
    assert_no_panics();
}

#[tokio::test]
async fn send_complex_object_json() {
    let srv = default_server().await;
    let mut c = testhub(&srv, HubProtocol::Json).await;
    c.send_text(
        "{\"type\":1,\"invocationId\":\"1\",\"target\":\"SendComplexObject\",\"arguments\":[]}\x1e",
    )
    .await;
    assert_eq!(
        c.recv_text().await,
        "{\"type\":3,\"invocationId\":\"1\",\"result\":{\"String\":\"hello world\",\"IntArray\":[1,2,3],\"ByteArray\":\"AQID\",\"Guid\":\"00010203-0405-0607-0706-050403020100\",\"DateTime\":\"2000-01-01T00:00:00Z\"}}\x1e"
    );
    assert_no_panics();
}

#[tokio::test]
async fn send_complex_object_messagepack() {
    let srv = default_server().await;
    let mut c = testhub(&srv, HubProtocol::MessagePack).await;
    let expected = map(vec![
        ("String", s("hello world")),
        ("IntArray", arr(vec![int(1), int(2), int(3)])),
        ("ByteArray", Value::Binary(vec![1, 2, 3])),
        ("Guid", s("00010203-0405-0607-0706-050403020100")),
        (
            "DateTime",
            Value::Timestamp(Timestamp::new(946_684_800, 0).unwrap()),
        ),
    ]);
    c.send(&HubMessage::invoke("1", "SendComplexObject", vec![]))
        .await;
    let raw = c.recv_raw().await.unwrap();
    assert_eq!(decode(HubProtocol::MessagePack, &raw), ok("1", expected));
    // The bin and the 32-bit timestamp (0x386D4380) on the wire.
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&[0xc4, 0x03, 1, 2, 3]), "{raw:02x?}");
    assert!(
        contains(&[0xd6, 0xff, 0x38, 0x6d, 0x43, 0x80]),
        "{raw:02x?}"
    );
    assert_no_panics();
}

#[tokio::test]
async fn echo_complex_object() {
    let srv = default_server().await;
    let mut j = testhub(&srv, HubProtocol::Json).await;
    let json_obj = map(vec![
        ("String", s("hello")),
        ("IntArray", arr(vec![int(1), int(2), int(3), int(255)])),
        ("ByteArray", s("aGVsbG8=")),
        ("Guid", s("00010203-0405-0607-0706-050403020100")),
        ("DateTime", s("2002-04-01T10:20:15Z")),
    ]);
    assert_eq!(
        j.invoke("1", "EchoComplexObject", vec![json_obj.clone()])
            .await,
        ok("1", json_obj)
    );
    let mut m = testhub(&srv, HubProtocol::MessagePack).await;
    let mp_obj = map(vec![
        ("String", s("hello")),
        ("IntArray", arr(vec![int(1), int(2), int(3), int(255)])),
        ("ByteArray", Value::Binary(b"hello".to_vec())),
        ("Guid", s("00010203-0405-0607-0706-050403020100")),
        (
            "DateTime",
            Value::Timestamp(Timestamp::new(1_017_656_415, 0).unwrap()),
        ),
    ]);
    assert_eq!(
        m.invoke("1", "EchoComplexObject", vec![mp_obj.clone()])
            .await,
        ok("1", mp_obj)
    );
    assert_no_panics();
}

#[tokio::test]
async fn get_cookie_of_an_absent_cookie_is_null() {
    let srv = default_server().await;
    let mut c = testhub(&srv, HubProtocol::Json).await;
    c.send_text("{\"type\":1,\"invocationId\":\"1\",\"target\":\"GetCookie\",\"arguments\":[\"expiredCookie\"]}\x1e")
        .await;
    assert_eq!(
        c.recv_text().await,
        "{\"type\":3,\"invocationId\":\"1\",\"result\":null}\x1e"
    );
    let mut m = testhub(&srv, HubProtocol::MessagePack).await;
    m.send(&HubMessage::invoke("1", "GetCookie", vec![s("testCookie")]))
        .await;
    // Kind 3 with nil: a null result, not a void Completion.
    assert_eq!(
        m.recv_raw().await.unwrap(),
        framed(&[0x95, 0x03, 0x80, 0xa1, b'1', 0x03, 0xc0])
    );
    assert_no_panics();
}

#[tokio::test]
async fn get_cookie_reads_the_request_cookies() {
    let srv = default_server().await;
    let n = negotiate_v1(&srv, "testhub").await;
    let url = ws_url(
        &srv,
        "testhub",
        &format!("id={}", n.connection_token.unwrap()),
    );
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )
    .unwrap();
    req.headers_mut().insert(
        "Cookie",
        "testCookie=testValue; testCookie2=testValue2"
            .parse()
            .unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut c = Client::from_ws(ws);
    c.handshake(HubProtocol::Json).await;
    assert_eq!(
        c.call("GetCookie", vec![s("testCookie2")]).await,
        s("testValue2")
    );
    assert_eq!(
        c.call("GetCookie", vec![s("expiredCookie")]).await,
        Value::Null
    );
    assert_no_panics();
}

#[tokio::test]
async fn transport_name_and_connection_id() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = testhub(&srv, p).await;
        assert_eq!(
            c.call("GetActiveTransportName", vec![]).await,
            s("WebSockets")
        );
        let id = c.call("GetCallerConnectionId", vec![]).await;
        assert_eq!(id.as_str(), c.connection_id.as_deref());
        assert_ne!(id.as_str(), c.token.as_deref());
    }
    assert_no_panics();
}

#[tokio::test]
async fn invoke_with_string_and_custom_object() {
    let srv = default_server().await;
    let mut c = testhub(&srv, HubProtocol::Json).await;
    c.send(&HubMessage::invoke(
        "1",
        "invokeWithString",
        vec![s("你好，世界！")],
    ))
    .await;
    assert_eq!(
        c.expect_msg().await,
        HubMessage::send("Message", vec![s("你好，世界！")])
    );
    assert_eq!(c.expect_msg().await, ok("1", Value::Null));
    c.send(&HubMessage::invoke(
        "2",
        "SendCustomObject",
        vec![map(vec![("Name", s("test")), ("Value", int(42))])],
    ))
    .await;
    assert_eq!(
        c.expect_msg().await,
        HubMessage::send(
            "CustomObject",
            vec![map(vec![("Name", s("test")), ("Value", int(42))])]
        )
    );
    assert_eq!(c.expect_msg().await, ok("2", Value::Null));
    assert_no_panics();
}

#[tokio::test]
async fn echo_endpoint_without_negotiate() {
    let srv = default_server().await;
    let mut c = Client::open_url(&ws_url(&srv, "echo", "")).await;
    c.send_text("message").await;
    assert_eq!(
        c.next_event().await,
        WsEvent::Data(FrameKind::Text, b"message".to_vec())
    );
    c.send_text("Hello World!").await;
    assert_eq!(
        c.next_event().await,
        WsEvent::Data(FrameKind::Text, b"Hello World!".to_vec())
    );
    c.close_socket().await;
    assert_eq!(c.next_event().await, WsEvent::Closed(Some(1000)));
    assert_no_panics();
}

#[tokio::test]
async fn echo_endpoint_after_negotiate() {
    let srv = default_server().await;
    let n = negotiate_v1(&srv, "echo").await;
    let mut c = Client::open_url(&ws_url(
        &srv,
        "echo",
        &format!("id={}", n.connection_token.unwrap()),
    ))
    .await;
    c.send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
        .await;
    // No hub protocol: the bytes come straight back.
    assert_eq!(
        c.next_event().await,
        WsEvent::Data(
            FrameKind::Text,
            b"{\"protocol\":\"json\",\"version\":1}\x1e".to_vec()
        )
    );
    assert_no_panics();
}

#[tokio::test]
async fn uncreatable_hub_closes_with_an_error() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "uncreatable", HubProtocol::Json).await;
    c.expect_close_bytes(&json_close(
        Some("Connection closed with an error. InvalidOperationException: Unable to resolve service for type 'System.Object' while attempting to activate 'FunctionalTests.UncreatableHub'."),
        false,
    ))
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn get_num_redirects_and_headers() {
    let srv = default_server().await;
    let mut c = Client::connect_with(&srv, "testhub", HubProtocol::Json, "&numRedirects=3").await;
    assert_eq!(c.call("GetNumRedirects", vec![]).await, int(3));
    assert_eq!(
        c.call("GetHeader", vec![s("Sec-WebSocket-Version")]).await,
        s("13")
    );
    assert_eq!(c.call("GetHeader", vec![s("X-Nope")]).await, Value::Null);
    assert_eq!(c.call("GetContentTypeHeader", vec![]).await, Value::Null);
    assert_no_panics();
}

#[tokio::test]
async fn authorized_hub_identity() {
    let srv = default_server().await;
    let token = http()
        .get(format!("{}/generateJwtToken", srv.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut c = Client::connect_with(
        &srv,
        "authorizedhub",
        HubProtocol::MessagePack,
        &format!("&access_token={token}"),
    )
    .await;
    assert_eq!(c.call("GetUserNameIdentifier", vec![]).await, s("testuser"));
    assert_eq!(
        c.call(
            "GetUserClaim",
            vec![s(
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
            )]
        )
        .await,
        s("testuser")
    );
    assert_no_panics();
}
