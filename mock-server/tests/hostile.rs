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

/// Fragments without FIN are refused while they arrive, long before the 16 MiB a WebSocket
/// message could reach before: the hub's 32 KB limit plus room for a batch. The connection
/// ends as ASP.NET Core ends any message over the hub's limit (its WebSocket transport copies
/// frames into a pipe whatever their size): the Close with the message size error, then a
/// normal WebSocket close (1000).
#[tokio::test]
async fn an_endless_fragmented_message_is_refused_while_it_arrives() {
    let srv = detailed_server().await;
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
    let raw = c.recv_raw().await.expect("the hub's Close");
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&json_close(
            Some(
                "Connection closed with an error. InvalidDataException: The maximum message size \
                 of 32768B was exceeded. The message size can be configured in AddHubOptions."
            ),
            true
        ))
    );
    assert_eq!(c.expect_end().await, Some(1000), "WebSocket close code");
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

/// A Server-Sent Events client that ends its request (closes the socket) is noticed at once,
/// as ASP.NET Core sees `RequestAborted`: the server reads the end of the socket while it
/// streams the response, with nothing to write (no keep-alive Pings, a client timeout longer
/// than the wait), and the hub connection ends.
#[tokio::test]
async fn an_sse_client_that_goes_away_is_noticed_without_a_write() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = server(MockConfig {
        keep_alive_interval_ms: 0,
        client_timeout_interval_ms: 600_000,
        ..MockConfig::default()
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
    let r = reqwest::Client::new()
        .post(&url)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    // Read up to the handshake's answer.
    let mut seen = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        while !seen.windows(3).any(|w| w == b"{}\x1e") {
            let mut buf = [0u8; 1024];
            let n = sse.read(&mut buf).await.expect("read");
            assert!(n > 0, "the event stream ended: {seen:?}");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the handshake answer");
    let hub = lifetime(&srv, "conformance");
    assert_eq!(hub.connection_count(), 1);
    drop(sse);
    wait_until("the hub connection ends", || hub.connection_count() == 0).await;
    wait_until("the connection is disposed", || srv.http_connections() == 0).await;
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

/// Kestrel's two connection timers, shortened: `RequestHeadersTimeout` and `KeepAliveTimeout`.
fn http_timers(request_headers_ms: u64, keep_alive_ms: u64) -> MockConfig {
    MockConfig {
        request_headers_timeout_ms: request_headers_ms,
        keep_alive_timeout_ms: keep_alive_ms,
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

/// One request and its `Content-Length` response on an open keep-alive socket: the status.
async fn exchange(tcp: &mut tokio::net::TcpStream, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = tcp.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "the server closed the connection instead of answering"
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Content-Length response");
        while buf.len() < head_end + len {
            let n = tcp.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the server closed the connection inside the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        head.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status")
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("answered in time")
}

/// A socket that sends its headers a byte at a time and never finishes (slowloris) is closed
/// by the request headers timeout (Kestrel's `RequestHeadersTimeout`, counted from the first
/// byte); the keep-alive timeout is far beyond the test's bound, so only that timer can do it.
#[tokio::test]
async fn slow_headers_are_cut_by_the_request_headers_timeout() {
    use tokio::io::AsyncWriteExt;
    let srv = server(http_timers(300, 600_000)).await;
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

/// A connection with no request in progress is timed by the keep-alive timeout, not the
/// request headers timeout: idle for several headers timeouts before its first request and
/// between two requests it still serves both, and it is closed once it stays idle.
#[tokio::test]
async fn an_idle_connection_lasts_until_the_keep_alive_timeout() {
    const HEADERS_MS: u64 = 200;
    let srv = server(http_timers(HEADERS_MS, 4_000)).await;
    let negotiate = "POST /conformance/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: x\r\n\
                     Content-Length: 0\r\n\r\n";
    let mut tcp = tokio::net::TcpStream::connect(srv.addr())
        .await
        .expect("connect");
    // The client's pace, not synchronisation: idle for 4 request headers timeouts.
    let idle = Duration::from_millis(4 * HEADERS_MS);
    tokio::time::sleep(idle).await;
    assert_eq!(exchange(&mut tcp, negotiate).await, 200);
    tokio::time::sleep(idle).await;
    assert_eq!(exchange(&mut tcp, negotiate).await, 200);
    expect_closed_by_server(&mut tcp).await;
    assert_no_panics();
}

/// Neither timer cuts a request in progress or an upgraded connection: a Long Polling poll, an
/// SSE stream and a quiet WebSocket each outlast both timeouts and keep working.
#[tokio::test]
async fn requests_in_progress_and_websockets_are_not_cut() {
    let srv = server(MockConfig {
        long_poll_timeout_ms: 2_500,
        ..http_timers(200, 1_000)
    })
    .await;
    // A new connection per request: a pooled one idle past the keep-alive timeout is closed,
    // as it should be, which is not what this test is about.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let long_poll = async {
        let url = long_polling(&srv, &http).await;
        // A poll with nothing to send is answered when the 2.5 s poll timeout ends.
        let r = http.get(&url).send().await.expect("poll");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.expect("body").len(), 0);
    };
    let sse = async {
        let n = negotiate_v1(&srv, "conformance").await;
        let url = format!(
            "{}?id={}",
            srv.hub_url("conformance"),
            n.connection_token.expect("token")
        );
        let mut stream = http
            .get(&url)
            .header("Accept", "text/event-stream")
            .send()
            .await
            .expect("SSE");
        let r = http
            .post(&url)
            .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 200);
        // The handshake response, then two Pings (1 s apart): the stream outlives both timers.
        let mut seen = String::new();
        while seen.matches("{\"type\":6}").count() < 2 {
            let chunk = tokio::time::timeout(TIMEOUT, stream.chunk())
                .await
                .expect("SSE data in time")
                .expect("SSE bytes")
                .expect("the SSE stream went on");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(seen.contains("data: {}\u{1e}"), "{seen:?}");
    };
    let websocket = async {
        let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        c.expect_silence_for(Duration::from_millis(2_000)).await;
        assert_eq!(c.call("Echo", vec![int(1)]).await, int(1));
    };
    tokio::join!(long_poll, sse, websocket);
    assert_no_panics();
}

/// Out of file descriptors, the accept loop backs off and logs once instead of spinning, and
/// serves again once descriptors are free. mock-hub runs as a child with `ulimit -n 64`; the
/// test opens sockets until its accepts fail with EMFILE.
#[test]
fn accepting_out_of_file_descriptors_backs_off_and_recovers() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};

    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Child(
        Command::new("sh")
            .args([
                "-c",
                "ulimit -n 64 && exec \"$0\" --port 0",
                env!("CARGO_BIN_EXE_mock-hub"),
            ])
            // Each failed accept after the first is logged at debug level: they are counted.
            .env("RUST_LOG", "info,signalr_mock::accept=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mock-hub starts"),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the listening line");
    let base = first
        .trim()
        .strip_prefix("mock-hub listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    // stderr, line by line, to a channel the test waits on.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.0.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut log = Vec::new();
    let wait_for = |log: &mut Vec<String>, what: &str, pred: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = pred(&l);
                    log.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!("no {what} in mock-hub's log: {log:#?}"),
            }
        }
    };
    // More sockets than the process has descriptors: the kernel completes every connect (the
    // listen backlog), mock-hub's accepts fail once its 64 descriptors are used.
    let sockets: Vec<std::net::TcpStream> = (0..120)
        .map(|_| std::net::TcpStream::connect(&base).expect("connect"))
        .collect();
    wait_for(&mut log, "accept error", &|l| l.contains("accept error"));
    let start = std::time::Instant::now();
    // Let it be out of descriptors for a while: at least 5 retries.
    wait_for(&mut log, "fifth retry", &|l| l.contains("(failure 6)"));
    drop(sockets);
    // It serves again: a negotiate on a new socket is answered.
    let mut tcp = {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let mut tcp = std::net::TcpStream::connect(&base).expect("connect");
            tcp.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            tcp.write_all(
                b"POST /conformance/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: x\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .expect("write");
            let mut response = String::new();
            let _ = tcp.read_to_string(&mut response);
            if response.starts_with("HTTP/1.1 200") {
                break tcp;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mock-hub does not serve again: {response:?}"
            );
        }
    };
    let _ = tcp.flush();
    let elapsed = start.elapsed();
    let _ = child.0.kill();
    let _ = child.0.wait();
    log.extend(lines.try_iter());
    let errors = log.iter().filter(|l| l.contains("accept error")).count();
    let retries = log
        .iter()
        .filter(|l| l.contains("accept still failing"))
        .count();
    assert_eq!(errors, 1, "one error line: {log:#?}");
    // A spinning loop would retry thousands of times; backing off 100 ms allows at most one
    // retry per 100 ms that passed (+2 for the edges): a bound on the rate, not on speed.
    let bound = elapsed.as_millis() / 100 + 2;
    assert!(
        (retries as u128) <= bound,
        "{retries} retries in {elapsed:?}: spinning"
    );
}
