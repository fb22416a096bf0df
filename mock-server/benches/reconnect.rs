//! Stateful reconnect: one client under steady traffic (a numbered `SendToCaller` every
//! millisecond, each echoed back by the hub) whose WebSocket is dropped without a Close frame
//! every 15–35 ms and reattached at once, 1,000 times; reports the messages lost and duplicated
//! as the application sees them (target 0 / 0) and the reattach latency (new WebSocket request
//! to the server's Sequence message) p50/p99. Then mock-hub's RSS per connection for N stateful
//! connections idle, and with a full resend buffer (the client reads but never acknowledges).
//!
//! `cargo bench -p signalr-mock --bench reconnect` (`BENCH_DROPS=1000`, `BENCH_CONNECTIONS=200`).
//! The client is a minimal stateful-reconnect client written here (numbering, Ack, Sequence,
//! resend), so the figures are mock-hub's, not a client library's.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::{percentile, raise_nofile, Hub, Ws};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use signalr_protocol::{
    HubMessage, HubProtocol, MessageReader, NegotiateResponse, Parsed, SequenceId, Value,
};
use tokio_tungstenite::tungstenite::Message;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Negotiates with `useStatefulReconnect=true`; the connection token.
async fn negotiate(http: &reqwest::Client, base: &str) -> String {
    let body = http
        .post(format!(
            "{base}/conformance/negotiate?negotiateVersion=1&useStatefulReconnect=true"
        ))
        .send()
        .await
        .expect("negotiate")
        .bytes()
        .await
        .expect("negotiate body");
    let n = NegotiateResponse::parse(&body).expect("negotiate response");
    assert!(
        n.use_stateful_reconnect,
        "mock-hub must run with --stateful-reconnect"
    );
    n.connection_token.expect("token")
}

async fn open(base: &str, token: &str) -> Ws {
    let url = format!(
        "{}/conformance?id={token}",
        base.replace("http://", "ws://")
    );
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket")
        .0
}

async fn send(ws: &mut Ws, bytes: &[u8]) -> bool {
    let text = String::from_utf8(bytes.to_vec()).expect("json is utf-8");
    ws.send(Message::Text(text.into())).await.is_ok()
}

/// Opens, shakes hands with version 2 (JSON), returns the socket and what followed `{}`.
async fn connect(http: &reqwest::Client, base: &str) -> (String, Ws, MessageReader) {
    let token = negotiate(http, base).await;
    let mut ws = open(base, &token).await;
    assert!(send(&mut ws, b"{\"protocol\":\"json\",\"version\":2}\x1e").await);
    let mut buf = Vec::new();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => buf.extend_from_slice(t.as_bytes()),
            Some(Ok(_)) => continue,
            _ => panic!("closed during the handshake"),
        }
        if let Some(end) = buf.iter().position(|b| *b == 0x1e) {
            assert_eq!(&buf[..end], b"{}", "handshake");
            let mut reader = MessageReader::new(HubProtocol::Json);
            reader.push(&buf[end + 1..]);
            return (token, ws, reader);
        }
    }
}

/// The client half of stateful reconnect, as the official clients keep it.
struct Stateful {
    /// Sent and not acknowledged: (id, framed bytes).
    unacked: VecDeque<(i64, Vec<u8>)>,
    total_sent: i64,
    next_receiving: i64,
    latest_received: i64,
    acked_sent: i64,
}

impl Stateful {
    fn new() -> Self {
        Self {
            unacked: VecDeque::new(),
            total_sent: 0,
            next_receiving: 1,
            latest_received: 0,
            acked_sent: 0,
        }
    }

    /// A server message: `Some(message)` when the application gets it (not a duplicate).
    fn receive(&mut self, p: Parsed) -> Option<HubMessage> {
        let Parsed::Message(m) = p else { return None };
        match &m {
            HubMessage::Ping => None,
            HubMessage::Ack(a) => {
                while self
                    .unacked
                    .front()
                    .is_some_and(|(id, _)| *id <= a.sequence_id)
                {
                    self.unacked.pop_front();
                }
                None
            }
            HubMessage::Sequence(s) => {
                self.next_receiving = s.sequence_id;
                None
            }
            HubMessage::Close(c) => panic!("the server closed the connection: {c:?}"),
            _ => {
                let id = self.next_receiving;
                self.next_receiving += 1;
                if id <= self.latest_received {
                    return None;
                }
                self.latest_received = id;
                Some(m)
            }
        }
    }

    fn record_sent(&mut self, bytes: Vec<u8>) {
        self.total_sent += 1;
        self.unacked.push_back((self.total_sent, bytes));
    }

    /// Our Sequence and everything unacknowledged, for a reattached socket.
    fn resend(&self) -> Vec<Vec<u8>> {
        let first = self
            .unacked
            .front()
            .map_or(self.total_sent + 1, |(id, _)| *id);
        let mut out = vec![
            HubProtocol::Json.encode(&HubMessage::Sequence(SequenceId { sequence_id: first }))
        ];
        out.extend(self.unacked.iter().map(|(_, b)| b.clone()));
        out
    }
}

fn got(m: &HubMessage) -> Option<usize> {
    match m {
        HubMessage::Invocation(i) if i.target == "Got" => i
            .arguments
            .first()
            .and_then(Value::as_i64)
            .map(|n| n as usize),
        _ => None,
    }
}

async fn drops(base: &str, drops: usize) {
    let http = reqwest::Client::new();
    let (token, ws, reader) = connect(&http, base).await;
    let mut ws = Some(ws);
    let mut reader = reader;
    let mut st = Stateful::new();
    let mut counts: Vec<u32> = Vec::new();
    let mut out_of_order = 0usize;
    let mut highest: Option<usize> = None;
    let mut latencies = Vec::with_capacity(drops);
    let mut next_number = 0usize;
    let mut send_tick = tokio::time::interval(Duration::from_millis(1));
    send_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut ack_tick = tokio::time::interval(Duration::from_millis(100));
    let next_drop =
        |now: tokio::time::Instant| now + Duration::from_millis(rand::rng().random_range(15..35));
    let mut drop_at = next_drop(tokio::time::Instant::now());
    let started = Instant::now();
    let mut drain_deadline: Option<Instant> = None;
    let mut deliver = |m: HubMessage, counts: &mut Vec<u32>| {
        if let Some(n) = got(&m) {
            if counts.len() <= n {
                counts.resize(n + 1, 0);
            }
            counts[n] += 1;
            if highest.is_some_and(|h| n != h + 1) || (highest.is_none() && n != 0) {
                out_of_order += 1;
            }
            highest = Some(highest.map_or(n, |h| h.max(n)));
        }
    };
    loop {
        while let Ok(Some(p)) = reader.next() {
            if let Some(m) = st.receive(p) {
                deliver(m, &mut counts);
            }
        }
        if latencies.len() >= drops {
            let deadline = *drain_deadline.get_or_insert(Instant::now() + Duration::from_secs(30));
            let all = counts.len() >= next_number && counts[..next_number].iter().all(|c| *c > 0);
            if all || Instant::now() > deadline {
                break;
            }
        }
        let sending = latencies.len() < drops;
        let Some(socket) = ws.as_mut() else { break };
        tokio::select! {
            _ = send_tick.tick(), if sending => {
                let msg = HubMessage::Invocation(signalr_protocol::Invocation {
                    headers: Default::default(),
                    invocation_id: None,
                    target: "SendToCaller".into(),
                    arguments: vec![Value::string("Got"), Value::Int(next_number as i64)],
                    stream_ids: None,
                });
                next_number += 1;
                let bytes = HubProtocol::Json.encode(&msg);
                st.record_sent(bytes.clone());
                // A failed send is resent after the next reattach.
                let _ = send(socket, &bytes).await;
            }
            _ = ack_tick.tick() => {
                if st.latest_received > st.acked_sent {
                    st.acked_sent = st.latest_received;
                    let ack = HubProtocol::Json.encode(&HubMessage::Ack(SequenceId { sequence_id: st.latest_received }));
                    let _ = send(socket, &ack).await;
                }
            }
            _ = tokio::time::sleep_until(drop_at), if sending => {
                // Drop the TCP connection (no Close frame) and reattach at once.
                drop(ws.take());
                let t0 = Instant::now();
                let mut fresh = open(base, &token).await;
                let mut r = MessageReader::new(HubProtocol::Json);
                let mut sequenced = false;
                while !sequenced {
                    match fresh.next().await {
                        Some(Ok(Message::Text(t))) => r.push(t.as_bytes()),
                        Some(Ok(_)) => continue,
                        other => panic!("reattached socket ended: {other:?}"),
                    }
                    while let Ok(Some(p)) = r.next() {
                        if matches!(p, Parsed::Message(HubMessage::Sequence(_))) {
                            latencies.push(t0.elapsed());
                            sequenced = true;
                        }
                        if let Some(m) = st.receive(p) {
                            deliver(m, &mut counts);
                        }
                    }
                }
                for b in st.resend() {
                    let _ = send(&mut fresh, &b).await;
                }
                reader = r;
                ws = Some(fresh);
                drop_at = next_drop(tokio::time::Instant::now());
            }
            m = socket.next() => match m {
                Some(Ok(Message::Text(t))) => reader.push(t.as_bytes()),
                Some(Ok(_)) => {}
                other => panic!("socket ended without a drop: {other:?}"),
            },
        }
    }
    let lost = counts[..next_number.min(counts.len())]
        .iter()
        .filter(|c| **c == 0)
        .count()
        + next_number.saturating_sub(counts.len());
    let duplicated: u32 = counts.iter().map(|c| c.saturating_sub(1)).sum();
    latencies.sort();
    println!(
        "{} drops in {:.1} s under {} messages each way: lost {lost}, duplicated {duplicated}, out of order {out_of_order}; reattach latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        started.elapsed().as_secs_f64(),
        next_number,
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
}

/// RSS per stateful connection, idle and with a full resend buffer (10 × 10,000-byte messages
/// unacknowledged put it over 100,000 bytes; an eleventh waits in the server for an Ack).
async fn memory(hub: &Hub, n: usize) {
    let http = reqwest::Client::new();
    let (_, warm, _) = connect(&http, &hub.base).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = hub.rss_kib();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(connect(&http, &hub.base).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = hub.rss_kib();
    let payload = "x".repeat(10_000);
    for (_, ws, reader) in conns.iter_mut() {
        for _ in 0..11 {
            let msg = HubMessage::Invocation(signalr_protocol::Invocation {
                headers: Default::default(),
                invocation_id: None,
                target: "SendToCaller".into(),
                arguments: vec![Value::string("Fill"), Value::string(payload.as_str())],
                stream_ids: None,
            });
            assert!(send(ws, &HubProtocol::Json.encode(&msg)).await);
        }
        // Read the ten that fill the buffer past its limit (never acknowledged); the eleventh
        // waits in the server for an Ack.
        let mut seen = 0;
        while seen < 10 {
            while let Ok(Some(p)) = reader.next() {
                if let Parsed::Message(HubMessage::Invocation(_)) = p {
                    seen += 1;
                }
            }
            if seen < 10 {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => reader.push(t.as_bytes()),
                    Some(Ok(_)) => {}
                    other => panic!("connection ended: {other:?}"),
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let full = hub.rss_kib();
    println!(
        "{n} stateful connections: RSS {:.1} KiB per connection idle, {:.1} KiB with a full resend buffer (100,000-byte limit)",
        (idle.saturating_sub(before)) as f64 / n as f64,
        (full.saturating_sub(before)) as f64 / n as f64,
    );
    drop(conns);
}

#[tokio::main]
async fn main() {
    let n_drops = env_usize("BENCH_DROPS", 1000);
    let n_conns = env_usize("BENCH_CONNECTIONS", 200);
    raise_nofile();
    let hub = Hub::start(&["--stateful-reconnect"]);
    drops(&hub.base, n_drops).await;
    memory(&hub, n_conns).await;
}
