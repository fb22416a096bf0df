//! Keep-alive Pings and the client timeout (HubProtocol.md § Ping; HubOptions.KeepAliveInterval,
//! ClientTimeoutInterval; ASP.NET Core's HubConnectionHandlerTests). Timers are shortened; nothing here measures how long anything took.
mod common;

use std::time::Duration;

use common::*;
use signalr_mock::MockConfig;
use signalr_protocol::{HubMessage, HubProtocol};

fn timers(keep_alive_ms: u64, client_timeout_ms: u64, detailed: bool) -> MockConfig {
    MockConfig {
        keep_alive_interval_ms: keep_alive_ms,
        client_timeout_interval_ms: client_timeout_ms,
        enable_detailed_errors: detailed,
        ..MockConfig::default().fast_timers()
    }
}

#[tokio::test]
async fn server_pings_with_exact_bytes() {
    let srv = server(MockConfig::default().fast_timers()).await;
    let mut j = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    assert_eq!(j.recv_raw_any().await.unwrap(), b"{\"type\":6}\x1e");
    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    assert_eq!(m.recv_raw_any().await.unwrap(), [0x02, 0x91, 0x06]);
    // Pings keep coming, and the connection keeps working between them.
    assert_eq!(j.recv_raw_any().await.unwrap(), b"{\"type\":6}\x1e");
    assert_eq!(j.call("Echo", vec![int(1)]).await, int(1));
    assert_no_panics();
}

#[tokio::test]
async fn no_pings_when_keep_alive_is_off() {
    let srv = server(timers(0, 30_000, false)).await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    assert!(c.recv_raw_any_within(SILENCE).await.is_err(), "a Ping came");
    assert_no_panics();
}

#[tokio::test]
async fn client_timeout_is_armed_only_by_a_ping() {
    let srv = server(timers(100, 300, false)).await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    // Three timeout intervals of silence from a client that never pinged: still connected
    // (only the server's own Pings arrive).
    c.expect_silence_for(Duration::from_millis(900)).await;
    assert_eq!(c.call("Echo", vec![s("alive")]).await, s("alive"));
    // Invocations do not arm it either.
    c.expect_silence_for(Duration::from_millis(900)).await;
    assert_eq!(c.call("Echo", vec![s("still")]).await, s("still"));
    assert_no_panics();
}

#[tokio::test]
async fn silence_after_a_ping_times_out() {
    let srv = server(timers(100, 300, false)).await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&HubMessage::Ping).await;
        let close = p.encode(&HubMessage::close(
            Some("Connection closed with an error.".into()),
            true,
        ));
        c.expect_close_bytes(&close).await;
    }
    assert_no_panics();
}

#[tokio::test]
async fn timeout_detail_with_detailed_errors() {
    let srv = server(timers(100, 300, true)).await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&HubMessage::Ping).await;
    c.expect_close_bytes(&json_close(
        Some("Connection closed with an error. OperationCanceledException: Client hasn't sent a message/ping within the configured ClientTimeoutInterval."),
        true,
    ))
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn traffic_keeps_an_armed_connection_alive() {
    // Generous margins: a message every 100 ms against a 1.5 s timeout.
    let srv = server(timers(100, 1_500, false)).await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&HubMessage::Ping).await;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for i in 0..25 {
        tick.tick().await;
        if i % 2 == 0 {
            c.send(&HubMessage::Ping).await;
        } else {
            assert_eq!(c.call("Echo", vec![int(i)]).await, int(i));
        }
    }
    assert_eq!(c.call("Echo", vec![s("alive")]).await, s("alive"));
    assert!(c.closed.is_none());
    assert_no_panics();
}

#[tokio::test]
async fn handshake_timeout_with_fast_timers() {
    let srv = server(MockConfig::default().fast_timers()).await;
    let mut c = Client::open(&srv, "conformance", "").await;
    assert_eq!(
        c.handshake_response().await,
        b"{\"error\":\"Handshake was canceled.\"}\x1e"
    );
    assert_eq!(c.next_event().await, WsEvent::Closed(Some(1000)));
    assert_no_panics();
}
