//! Hostile and vanished clients: every resource a client can make mock-hub hold is bounded and
//! released, and every timer ASP.NET Core has runs when it should. Timers are shortened; nothing
//! here measures how long anything took (memory figures come from the `hostile` benchmark).
mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use signalr_mock::MockConfig;
use signalr_protocol::{HubMessage, HubProtocol};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// A Long Polling connection past its handshake: the poll URL.
async fn long_polling(srv: &signalr_mock::MockServer, http: &reqwest::Client) -> String {
    let n = negotiate_v1(srv, "conformance").await;
    let url = format!(
        "{}?id={}",
        srv.hub_url("conformance"),
        n.connection_token.expect("token")
    );
    let r = http
        .post(&url)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let first = http.get(&url).send().await.expect("first poll");
    assert_eq!(first.status(), 200);
    let second = http.get(&url).send().await.expect("poll");
    assert_eq!(&second.bytes().await.expect("body")[..], b"{}\x1e");
    url
}

fn short_disconnect() -> MockConfig {
    MockConfig {
        disconnect_timeout_ms: 300,
        ..MockConfig::default().fast_timers()
    }
}

/// A Long Polling client that stops polling is disposed after the disconnect timeout with what
/// was queued for it; a late poll gets 404 (`HttpConnectionManager.Scan`), not the old output.
#[tokio::test]
async fn an_abandoned_long_polling_connection_is_disposed() {
    let srv = server(short_disconnect()).await;
    let http = reqwest::Client::new();
    let url = long_polling(&srv, &http).await;
    let invocation = "{\"type\":1,\"invocationId\":\"1\",\"target\":\"LargeResult\",\"arguments\":[100000]}\u{1e}";
    let r = http.post(&url).body(invocation).send().await.expect("POST");
    assert_eq!(r.status(), 200);
    let hub = lifetime(&srv, "conformance");
    wait_until("the hub connection ends", || hub.connection_count() == 0).await;
    wait_until("the connection is disposed", || srv.http_connections() == 0).await;
    let late = http.get(&url).send().await.expect("late poll");
    assert_eq!(late.status(), 404);
    assert_eq!(
        late.text().await.expect("body"),
        "No Connection with that ID"
    );
    assert_no_panics();
}

/// A Long Polling connection the server ended is kept for the client's last poll, but not
/// beyond the disconnect timeout.
#[tokio::test]
async fn an_ended_long_polling_connection_is_forgotten_after_the_disconnect_timeout() {
    let srv = server(short_disconnect()).await;
    let http = reqwest::Client::new();
    let url = long_polling(&srv, &http).await;
    let abort = "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Abort\",\"arguments\":[]}\u{1e}";
    let r = http.post(&url).body(abort).send().await.expect("POST");
    assert_eq!(r.status(), 200);
    wait_until("the connection is disposed", || srv.http_connections() == 0).await;
    let late = http.get(&url).send().await.expect("late poll");
    assert_eq!(late.status(), 404);
    assert_no_panics();
}

/// The client timeout does not run while the server is not reading: a queued invocation behind
/// a long one (one invocation slot) does not time out a client that keeps pinging.
#[tokio::test]
async fn the_client_timeout_waits_while_the_server_is_busy() {
    let srv = server(MockConfig {
        keep_alive_interval_ms: 100,
        client_timeout_interval_ms: 500,
        ..MockConfig::default().fast_timers()
    })
    .await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&HubMessage::Ping).await;
    c.send(&HubMessage::invoke("1", "Delay", vec![int(1500), int(1)]))
        .await;
    c.send(&HubMessage::invoke("2", "Echo", vec![int(2)])).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        // The client pings every 100 ms, as a live client does.
        match c.recv_raw_any_within(Duration::from_millis(100)).await {
            Err(()) => c.send(&HubMessage::Ping).await,
            Ok(None) => panic!("the connection ended; got {got:?}"),
            Ok(Some(raw)) if is_ping(c.protocol, &raw) => {}
            Ok(Some(raw)) => {
                let m = decode(c.protocol, &raw);
                assert!(!matches!(m, HubMessage::Close(_)), "closed: {m:?}");
                got.push(m);
            }
        }
    }
    assert_eq!(got, vec![ok("1", int(1)), ok("2", int(2))]);
    assert_no_panics();
}

/// `LargeResult(16777216)`, the contract's largest, is answered: one message always fits into
/// an empty outgoing queue (ASP.NET Core has no output size limit).
#[tokio::test]
async fn the_contracts_largest_result_is_sent() {
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    let srv = default_server().await;
    // A client that takes frames of any size (as browsers and .NET do).
    let config = WebSocketConfig::default()
        .max_frame_size(None)
        .max_message_size(None);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(
        ws_url(&srv, "conformance", ""),
        Some(config),
        false,
    )
    .await
    .expect("WebSocket");
    let mut c = Client::from_ws(ws);
    c.handshake(HubProtocol::Json).await;
    let m = c.invoke("1", "LargeResult", vec![int(16_777_216)]).await;
    assert!(
        m == ok("1", s(&"x".repeat(16_777_216))),
        "not the 16 MiB result"
    );
    assert_eq!(c.call("Echo", vec![int(2)]).await, int(2));
    assert_no_panics();
}

fn frame(data: Vec<u8>, opcode: OpCode, fin: bool) -> Message {
    Message::Frame(Frame::message(data, opcode, fin))
}

/// Sends `m`, ignoring a failure (the server may already have closed).
async fn send_frame(c: &mut Client, m: Message) {
    let _ = c.ws.send(m).await;
}

/// Expects the hub's Close with an error, then the WebSocket close `code`.
async fn expect_bad_frame_close(c: &mut Client, code: u16) {
    let raw = c.recv_raw().await.expect("the hub's Close");
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&json_close(Some("Connection closed with an error."), true))
    );
    assert_eq!(c.expect_end().await, Some(code), "WebSocket close code");
}

/// Invalid UTF-8 in a text frame: the hub's Close (with an error), then WebSocket close 1007.
#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_1007() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    send_frame(
        &mut c,
        frame(vec![b'{', 0xff, 0xfe, 0x1e], OpCode::Data(Data::Text), true),
    )
    .await;
    expect_bad_frame_close(&mut c, 1007).await;
    assert_no_panics();
}

/// A ping of more than 125 bytes violates RFC 6455: hub Close, then WebSocket close 1002.
#[tokio::test]
async fn an_over_long_ping_is_1002() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    send_frame(&mut c, Message::Frame(Frame::ping(vec![0u8; 200]))).await;
    expect_bad_frame_close(&mut c, 1002).await;
    assert_no_panics();
}

/// Fragments without FIN are refused while they arrive (1009), long before the 16 MiB a
/// WebSocket message could reach before: the hub's 32 KB limit plus room for a batch.
#[tokio::test]
async fn an_endless_fragmented_message_is_refused_while_it_arrives_1009() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    send_frame(
        &mut c,
        frame(vec![b'a'; 64 * 1024], OpCode::Data(Data::Text), false),
    )
    .await;
    // 1088 KiB in all, never finished: just over the 32 KB limit plus the 1 MiB allowance
    // (no more, so that nothing is left unread when the server closes: that would make its
    // kernel answer with a reset, which can overtake the close frame).
    for _ in 0..16 {
        send_frame(
            &mut c,
            frame(vec![b'a'; 64 * 1024], OpCode::Data(Data::Continue), false),
        )
        .await;
    }
    expect_bad_frame_close(&mut c, 1009).await;
    assert_no_panics();
}

/// A WebSocket client that stops reading is dropped once a send has waited for the transport
/// send timeout, instead of holding its connection (and what was queued for it) forever.
#[tokio::test]
async fn a_websocket_send_stuck_past_the_send_timeout_aborts() {
    let srv = server(MockConfig {
        transport_send_timeout_ms: 300,
        max_queued_bytes_per_connection: 256 << 20,
        ..MockConfig::default().fast_timers()
    })
    .await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    // 64 MiB of results, far more than the socket buffers hold; the client reads none of it.
    for i in 0..8 {
        c.send(&HubMessage::invoke(
            i.to_string(),
            "LargeResult",
            vec![int(8 << 20)],
        ))
        .await;
    }
    let hub = lifetime(&srv, "conformance");
    wait_until("the stuck connection is dropped", || {
        hub.connection_count() == 0
    })
    .await;
    wait_until("its socket is forgotten", || srv.http_connections() == 0).await;
    assert_no_panics();
}

/// The same for Server-Sent Events: the response stops being read, the connection goes.
#[tokio::test]
async fn an_sse_send_stuck_past_the_send_timeout_aborts() {
    use tokio::io::AsyncWriteExt;
    let srv = server(MockConfig {
        transport_send_timeout_ms: 300,
        max_queued_bytes_per_connection: 256 << 20,
        ..MockConfig::default().fast_timers()
    })
    .await;
    let n = negotiate_v1(&srv, "conformance").await;
    let token = n.connection_token.expect("token");
    let mut sse = tokio::net::TcpStream::connect(srv.addr())
        .await
        .expect("connect");
    let get = format!(
        "GET /conformance?id={token} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        srv.addr()
    );
    sse.write_all(get.as_bytes()).await.expect("GET");
    let url = format!("{}?id={token}", srv.hub_url("conformance"));
    let http = reqwest::Client::new();
    let mut body = String::from("{\"protocol\":\"json\",\"version\":1}\u{1e}");
    for i in 0..8 {
        body.push_str(&format!(
            "{{\"type\":1,\"invocationId\":\"{i}\",\"target\":\"LargeResult\",\"arguments\":[8388608]}}\u{1e}"
        ));
    }
    let r = http.post(&url).body(body).send().await.expect("POST");
    assert_eq!(r.status(), 200);
    let hub = lifetime(&srv, "conformance");
    wait_until("the connection started", || srv.http_connections() == 1).await;
    wait_until("the stuck connection is dropped", || {
        srv.http_connections() == 0 && hub.connection_count() == 0
    })
    .await;
    drop(sse);
    assert_no_panics();
}

/// A POST is streamed into the connection and waits while the connection is behind: a large
/// POST before the transport starts is not buffered whole (ASP.NET Core's pipe pauses), it
/// completes once the transport reads it.
#[tokio::test]
async fn a_large_post_waits_for_the_connection_to_read_it() {
    let srv = default_server().await;
    let n = negotiate_v1(&srv, "conformance").await;
    let url = format!(
        "{}?id={}",
        srv.hub_url("conformance"),
        n.connection_token.expect("token")
    );
    let mut body = String::from("{\"protocol\":\"json\",\"version\":1}\u{1e}");
    // 1 MiB of Pings.
    while body.len() < 1 << 20 {
        body.push_str("{\"type\":6}\u{1e}");
    }
    let http = reqwest::Client::new();
    let post = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move { http.post(&url).body(body).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(SILENCE).await;
    assert!(!post.is_finished(), "the POST was buffered whole");
    // Long Polling starts and reads the body.
    let first = http.get(&url).send().await.expect("first poll");
    assert_eq!(first.status(), 200);
    let status = tokio::time::timeout(TIMEOUT, post)
        .await
        .expect("POST answered in time")
        .expect("task")
        .expect("POST");
    assert_eq!(status, 200);
    let r = http.get(&url).send().await.expect("poll");
    assert_eq!(&r.bytes().await.expect("body")[..], b"{}\x1e");
    assert_no_panics();
}

fn short_headers_timeout() -> MockConfig {
    MockConfig {
        request_headers_timeout_ms: 300,
        long_poll_timeout_ms: 1_000,
        ..MockConfig::default().fast_timers()
    }
}

/// Reads until the server closes the socket (bounded); whatever it sent before is ignored.
async fn expect_closed_by_server(tcp: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(TIMEOUT, tcp.read(&mut buf)).await {
            Err(_) => panic!("the server kept the socket open"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A socket that sends nothing, and one that sends its headers a byte at a time and never
/// finishes (slowloris), are closed after the request headers timeout (Kestrel's
/// `RequestHeadersTimeout`), instead of being held forever.
#[tokio::test]
async fn idle_and_slow_header_sockets_are_closed() {
    use tokio::io::AsyncWriteExt;
    let srv = server(short_headers_timeout()).await;
    let mut idle = tokio::net::TcpStream::connect(srv.addr())
        .await
        .expect("connect");
    expect_closed_by_server(&mut idle).await;

    let mut slow = tokio::net::TcpStream::connect(srv.addr())
        .await
        .expect("connect");
    let request = b"POST /conformance/negotiate HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let slowloris = async {
        for b in request.iter().chain(std::iter::repeat(&b'a')) {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            // The client's pace, not synchronisation: one byte every 50 ms.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, slowloris)
        .await
        .expect("the server closed the slow socket");
    assert_no_panics();
}

/// The timeout is only for headers: a poll that waits longer than it, a keep-alive connection
/// reused before it, and a WebSocket that stays quiet longer than it all keep working.
#[tokio::test]
async fn requests_in_progress_and_websockets_are_not_cut() {
    let srv = server(short_headers_timeout()).await;
    let http = reqwest::Client::new();
    let url = long_polling(&srv, &http).await;
    // A poll with nothing to send is answered when the 1 s poll timeout ends.
    let r = http.get(&url).send().await.expect("poll");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").len(), 0);
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.expect_silence_for(Duration::from_millis(900)).await;
    assert_eq!(c.call("Echo", vec![int(1)]).await, int(1));
    assert_no_panics();
}
