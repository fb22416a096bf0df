//! Stateful reconnect over real sockets: negotiate's answer, Ack, the resend on a reattached
//! WebSocket (no handshake), the client's Sequence, and when a connection can no longer be
//! reattached (404).

mod common;

use common::*;
use signalr_mock::{MockConfig, MockServer};
use signalr_protocol::{HubProtocol, NegotiateResponse};

fn stateful(buffer: usize) -> MockConfig {
    MockConfig {
        allow_stateful_reconnects: true,
        stateful_reconnect_buffer_size: buffer,
        ..MockConfig::default().fast_timers()
    }
}

/// Negotiates with `useStatefulReconnect=true`, opens the WebSocket, handshake `version`.
async fn connect(server: &MockServer, version: i32) -> Client {
    let mut c = Client::open(server, "conformance", "&useStatefulReconnect=true").await;
    c.send_text(&format!(
        "{{\"protocol\":\"json\",\"version\":{version}}}\u{1e}"
    ))
    .await;
    assert_eq!(c.handshake_response().await, b"{}\x1e");
    c
}

/// A new WebSocket for the same connection token (no handshake); `Err(status)` if refused.
async fn reattach(server: &MockServer, token: &str) -> Result<Client, u16> {
    let ws = try_ws(&ws_url(server, "conformance", &format!("id={token}"))).await?;
    Ok(Client::from_ws(ws))
}

fn echo(id: u32, text: &str) -> String {
    format!("{{\"type\":1,\"invocationId\":\"{id}\",\"target\":\"Echo\",\"arguments\":[\"{text}\"]}}\u{1e}")
}

/// Waits for the server's Ack of the client's message `id` (earlier Acks may come first; any
/// other message is a failure).
async fn expect_ack(c: &mut Client, id: i64) {
    loop {
        let m = c.recv_text().await;
        let Some(n) = m
            .strip_prefix("{\"type\":8,\"sequenceId\":")
            .and_then(|r| r.strip_suffix("}\u{1e}"))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            panic!("expected Ack {id}, got {m:?}");
        };
        assert!(n <= id, "Ack {n} beyond {id}");
        if n == id {
            return;
        }
    }
}

/// The next message that is not an Ack.
async fn recv_no_ack(c: &mut Client) -> String {
    loop {
        let m = c.recv_text().await;
        if !m.starts_with("{\"type\":8,") {
            return m;
        }
    }
}

fn completion(id: u32, text: &str) -> String {
    format!("{{\"type\":3,\"invocationId\":\"{id}\",\"result\":\"{text}\"}}\u{1e}")
}

#[tokio::test]
async fn negotiate_offers_it_only_when_asked_and_allowed() {
    let server = server(stateful(100_000)).await;
    let (_, asked) = negotiate(
        &server,
        "conformance",
        "negotiateVersion=1&useStatefulReconnect=true",
    )
    .await;
    // The first property, as ASP.NET Core writes it.
    assert!(
        asked.starts_with("{\"useStatefulReconnect\":true,"),
        "{asked}"
    );
    let (_, plain) = negotiate(&server, "conformance", "negotiateVersion=1").await;
    assert!(!plain.contains("useStatefulReconnect"), "{plain}");
    let off = common::server(MockConfig::default()).await;
    let (_, refused) = negotiate(
        &off,
        "conformance",
        "negotiateVersion=1&useStatefulReconnect=true",
    )
    .await;
    assert!(!refused.contains("useStatefulReconnect"), "{refused}");
    let n = NegotiateResponse::parse(asked.as_bytes()).expect("parses");
    assert!(n.use_stateful_reconnect);
}

#[tokio::test]
async fn a_cut_websocket_is_reattached_and_the_unacknowledged_messages_replayed_once() {
    let server = server(stateful(100_000)).await;
    let mut c = connect(&server, 2).await;
    let token = c.token.clone().expect("token");
    for (id, text) in [(1, "a"), (2, "b"), (3, "c")] {
        c.send_text(&echo(id, text)).await;
        assert_eq!(c.recv_text().await, completion(id, text));
    }
    // The server acknowledges the client's three invocations on its 1 s timer.
    expect_ack(&mut c, 3).await;
    // The client acknowledges the first Completion only, then vanishes (no Close frame).
    c.send_text("{\"type\":8,\"sequenceId\":1}\u{1e}").await;
    c.send_text(&echo(4, "d")).await;
    assert_eq!(recv_no_ack(&mut c).await, completion(4, "d"));
    drop(c);

    let mut r = reattach(&server, &token).await.expect("reattached");
    // No handshake: Sequence with the first unacknowledged id, then everything from there.
    let first = r.next_event().await;
    let WsEvent::Data(_, bytes) = first else {
        panic!("expected the resend, got {first:?}");
    };
    let expected = format!(
        "{{\"type\":9,\"sequenceId\":2}}\u{1e}{}{}{}",
        completion(2, "b"),
        completion(3, "c"),
        completion(4, "d")
    );
    assert_eq!(
        String::from_utf8(bytes).expect("utf-8"),
        expected,
        "one frame"
    );
    // The client says its next message is its 4th: the 4th sent again is a duplicate.
    r.send_text("{\"type\":9,\"sequenceId\":4}\u{1e}").await;
    r.send_text(&echo(4, "d")).await;
    r.send_text(&echo(5, "e")).await;
    assert_eq!(recv_no_ack(&mut r).await, completion(5, "e"));
    expect_ack(&mut r, 5).await;
    assert_no_panics();
}

#[tokio::test]
async fn a_sequence_beyond_what_the_client_sent_closes_the_connection() {
    let server = server(stateful(100_000)).await;
    let mut c = connect(&server, 2).await;
    let token = c.token.clone().expect("token");
    c.send_text(&echo(1, "a")).await;
    assert_eq!(c.recv_text().await, completion(1, "a"));
    drop(c);
    let mut r = reattach(&server, &token).await.expect("reattached");
    let _resend = r.next_event().await;
    r.send_text("{\"type\":9,\"sequenceId\":3}\u{1e}").await;
    assert_eq!(
        r.recv_text().await,
        "{\"type\":7,\"error\":\"Connection closed with an error.\",\"allowReconnect\":true}\u{1e}"
    );
    assert_eq!(r.expect_end().await, Some(1000));
}

#[tokio::test]
async fn no_reattach_after_the_disconnect_timeout_a_close_or_a_version_1_handshake() {
    let server = server(stateful(100_000)).await;
    // Cut and never reattached: gone after the disconnect timeout.
    let c = connect(&server, 2).await;
    let token = c.token.clone().expect("token");
    drop(c);
    wait_until("the connection is disposed", || {
        server.http_connections() == 0
    })
    .await;
    assert_eq!(reattach(&server, &token).await.err(), Some(404));
    // HttpConnectionDispatcher writes the body with Response.WriteAsync: chunked, no
    // Content-Length, no Content-Type.
    let r = raw_http(
        &server,
        &upgrade_request(&server, &format!("/conformance?id={token}")),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{r:?}");
    assert_eq!(r.header("content-length"), None, "{r:?}");
    assert_eq!(r.header("content-type"), None, "{r:?}");
    assert_eq!(r.text(), "No Connection with that ID");

    // A graceful close (WebSocket Close frame).
    let mut c = connect(&server, 2).await;
    let token = c.token.clone().expect("token");
    c.close_socket().await;
    assert_eq!(c.expect_end().await, Some(1000));
    // Over from the moment the server read the Close frame, before its answer went out: a
    // reattach right after the answer is refused, not raced against the connection's end.
    assert_eq!(reattach(&server, &token).await.err(), Some(404));
    wait_until("the connection is disposed", || {
        server.http_connections() == 0
    })
    .await;
    assert_eq!(reattach(&server, &token).await.err(), Some(404));

    // Version 1 handshake: an ordinary connection, not reattachable (409 while it lives).
    let mut c = connect(&server, 1).await;
    let token = c.token.clone().expect("token");
    assert_eq!(reattach(&server, &token).await.err(), Some(409));
    c.send_text(&echo(1, "a")).await;
    assert_eq!(c.recv_text().await, completion(1, "a"));
    c.expect_silence().await;
    assert_no_panics();
}

/// A reattached WebSocket closed with a Close frame ends the connection as the first one
/// would: a reattach right after the server's answer is refused.
#[tokio::test]
async fn a_reattached_websocket_closed_gracefully_ends_the_connection() {
    let server = server(stateful(100_000)).await;
    let c = connect(&server, 2).await;
    let token = c.token.clone().expect("token");
    drop(c);
    let mut r = reattach(&server, &token).await.expect("reattached");
    assert_eq!(r.recv_text().await, "{\"type\":9,\"sequenceId\":1}\u{1e}");
    r.close_socket().await;
    assert_eq!(r.expect_end().await, Some(1000));
    assert_eq!(reattach(&server, &token).await.err(), Some(404));
    assert_no_panics();
}

#[tokio::test]
async fn a_second_websocket_replaces_the_first_which_is_closed_with_1000() {
    let server = server(stateful(100_000)).await;
    let mut c = connect(&server, 2).await;
    let token = c.token.clone().expect("token");
    let mut r = reattach(&server, &token).await.expect("second socket");
    assert_eq!(c.expect_end().await, Some(1000));
    assert_eq!(r.recv_text().await, "{\"type\":9,\"sequenceId\":1}\u{1e}");
    r.send_text("{\"type\":9,\"sequenceId\":1}\u{1e}").await;
    r.send_text(&echo(1, "a")).await;
    assert_eq!(recv_no_ack(&mut r).await, completion(1, "a"));
}

#[tokio::test]
async fn a_full_buffer_holds_further_messages_until_the_client_acks() {
    // 20 bytes: one Completion fills it past the limit.
    let server = server(stateful(20)).await;
    let mut c = connect(&server, 2).await;
    c.send_text(&echo(1, "aaaaaaaaaaaaaaaaaaaa")).await;
    assert_eq!(c.recv_text().await, completion(1, "aaaaaaaaaaaaaaaaaaaa"));
    c.send_text(&echo(2, "b")).await;
    // The Ack of the client's messages still comes; the second Completion waits.
    expect_ack(&mut c, 2).await;
    c.expect_silence().await;
    c.send_text("{\"type\":8,\"sequenceId\":1}\u{1e}").await;
    assert_eq!(recv_no_ack(&mut c).await, completion(2, "b"));
}

/// Asserts that nothing but Acks arrives for three keep-alive intervals (a Ping would be due).
async fn expect_no_ping_for_three_intervals(c: &mut Client) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_raw_any_within(left).await {
            Err(()) => return,
            Ok(Some(raw)) if raw.starts_with(b"{\"type\":8,") => continue,
            Ok(Some(raw)) => panic!(
                "the buffer is full, yet {:?} was sent",
                String::from_utf8_lossy(&raw)
            ),
            Ok(None) => panic!("the socket ended"),
        }
    }
}

#[tokio::test]
async fn pings_wait_with_the_writer_while_the_buffer_is_full() {
    // MessageBuffer.WriteAsync makes every write wait above the limit, Pings included; a Ping
    // that finds another write already waiting is skipped (HubConnectionContext.TryWritePingAsync).
    let server = server(MockConfig {
        client_timeout_interval_ms: 60_000,
        ..stateful(20)
    })
    .await;
    let mut c = connect(&server, 2).await;
    c.send_text(&echo(1, "aaaaaaaaaaaaaaaaaaaa")).await;
    assert_eq!(c.recv_text().await, completion(1, "aaaaaaaaaaaaaaaaaaaa"));
    // Keep-alive is 1 s: no Ping while the buffer is over its limit.
    expect_no_ping_for_three_intervals(&mut c).await;
    c.send_text("{\"type\":8,\"sequenceId\":1}\u{1e}").await;
    // The waiting Ping goes out once the Ack frees the buffer.
    let raw = c.recv_raw_any().await.expect("a message");
    assert_eq!(
        raw,
        b"{\"type\":6}\x1e",
        "{:?}",
        String::from_utf8_lossy(&raw)
    );

    // Full again, with a Completion waiting: the Pings due meanwhile are skipped.
    c.send_text(&echo(2, "bbbbbbbbbbbbbbbbbbbb")).await;
    assert_eq!(c.recv_text().await, completion(2, "bbbbbbbbbbbbbbbbbbbb"));
    c.send_text(&echo(3, "c")).await;
    expect_no_ping_for_three_intervals(&mut c).await;
    c.send_text("{\"type\":8,\"sequenceId\":2}\u{1e}").await;
    // Only a Ping due before the Completion was queued may come first.
    let mut pings = 0;
    let raw = loop {
        let raw = c.recv_raw_any().await.expect("a message");
        if raw == b"{\"type\":6}\x1e" && pings == 0 {
            pings += 1;
        } else if !raw.starts_with(b"{\"type\":8,") {
            break raw;
        }
    };
    assert_eq!(String::from_utf8_lossy(&raw), completion(3, "c"));
}

#[tokio::test]
async fn messagepack_ack_and_sequence() {
    let server = server(stateful(100_000)).await;
    let mut c = Client::open(&server, "conformance", "&useStatefulReconnect=true").await;
    c.send_text("{\"protocol\":\"messagepack\",\"version\":2}\u{1e}")
        .await;
    assert_eq!(c.handshake_response().await, b"{}\x1e");
    c.protocol = HubProtocol::MessagePack;
    let token = c.token.clone().expect("token");
    // [1, {}, "1", "Echo", ["x"]]
    c.send_raw(vec![
        0x0c, 0x95, 0x01, 0x80, 0xa1, b'1', 0xa4, b'E', b'c', b'h', b'o', 0x91, 0xa1, b'x',
    ])
    .await;
    let _completion = c.recv_raw().await.expect("completion");
    assert_eq!(
        c.recv_raw().await.expect("ack"),
        vec![0x03, 0x92, 0x08, 0x01]
    );
    drop(c);
    let mut r = reattach(&server, &token).await.expect("reattached");
    r.protocol = HubProtocol::MessagePack;
    assert_eq!(
        r.recv_raw().await.expect("sequence"),
        vec![0x03, 0x92, 0x09, 0x01]
    );
}

#[tokio::test]
async fn the_incomplete_remains_of_a_dead_websocket_are_dropped() {
    let server = server(stateful(100_000)).await;
    let mut c = connect(&server, 2).await;
    let token = c.token.clone().expect("token");
    // A complete Echo and the first bytes of a second one, then the socket vanishes.
    let second = echo(2, "b");
    c.send_text(&format!("{}{}", echo(1, "a"), &second[..20]))
        .await;
    assert_eq!(recv_no_ack(&mut c).await, completion(1, "a"));
    drop(c);
    let mut r = reattach(&server, &token).await.expect("reattached");
    assert_eq!(
        r.recv_text().await,
        "{\"type\":9,\"sequenceId\":1}\u{1e}",
        "the Completion is unacknowledged: the resend starts at 1"
    );
    assert_eq!(r.recv_text().await, completion(1, "a"));
    // The client starts again from its first message: the first is a duplicate, the second
    // is read whole (the 20 bytes of the dead socket are gone, not prepended).
    r.send_text("{\"type\":9,\"sequenceId\":1}\u{1e}").await;
    r.send_text(&format!("{}{}", echo(1, "a"), second)).await;
    assert_eq!(recv_no_ack(&mut r).await, completion(2, "b"));
    expect_ack(&mut r, 2).await;
    assert_no_panics();
}
