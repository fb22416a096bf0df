//! A minimal echo load generator, for measuring what `conform bench` itself costs per message:
//! the same scenario as `conform bench --scenario echo` (each connection invokes `Echo(payload)`
//! at a fixed rate), on raw tokio-tungstenite connections and the protocol crate's codec, with
//! none of the bench's bookkeeping (no tracker, no histogram: latencies in a Vec).
//!
//! `cargo run --release --example echo_load -- URL PID CONNECTIONS RATE SECONDS [SIZE]`
//! (URL: the hub's, e.g. `http://127.0.0.1:5000/conformance`; PID: the hub's process, for its
//! CPU time). Prints messages/s, latency and CPU µs per message of this process and the hub.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use signalr_protocol::{handshake, HubMessage, HubProtocol, MessageReader, Parsed, Value};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn cpu_of(pid: u32) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 5 {
        eprintln!("usage: echo_load URL PID CONNECTIONS RATE SECONDS [SIZE]");
        std::process::exit(2);
    }
    let url = a[0].clone();
    let pid: u32 = a[1].parse().expect("PID");
    let conns: usize = a[2].parse().expect("CONNECTIONS");
    let rate: f64 = a[3].parse().expect("RATE");
    let secs: f64 = a[4].parse().expect("SECONDS");
    let size: usize = a.get(5).map_or(2048, |s| s.parse().expect("SIZE"));
    let http = reqwest::Client::new();
    let mut wss = Vec::new();
    for _ in 0..conns {
        let r = http
            .post(format!("{url}/negotiate?negotiateVersion=1"))
            .send()
            .await
            .expect("negotiate");
        let body = r.bytes().await.expect("negotiate body");
        let n = signalr_protocol::NegotiateResponse::parse(&body).expect("negotiate response");
        let token = n.connection_token.expect("a token");
        let ws_url = format!("{}?id={token}", url.replace("http://", "ws://"));
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true)
            .await
            .expect("WebSocket");
        let mut req = Vec::new();
        handshake::write_request(
            &handshake::HandshakeRequest {
                protocol: "json".into(),
                version: 1,
            },
            &mut req,
        );
        ws.send(Message::Text(String::from_utf8(req).expect("utf-8").into()))
            .await
            .expect("handshake");
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "{}\u{1e}" => {}
            other => panic!("handshake response: {other:?}"),
        }
        wss.push(ws);
    }
    let payload = "x".repeat(size);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let me = std::process::id();
    let (hub0, me0) = (cpu_of(pid), cpu_of(me));
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for (i, ws) in wss.into_iter().enumerate() {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            let sent = std::sync::Arc::new(std::sync::Mutex::new(VecDeque::new()));
            let sent2 = sent.clone();
            let writer = tokio::spawn(async move {
                let mut next = started + interval.mul_f64((i as f64 * 0.618).fract());
                let mut id = 0u64;
                while next < end {
                    tokio::time::sleep_until(next.into()).await;
                    id += 1;
                    let msg = HubMessage::invoke(
                        id.to_string(),
                        "Echo",
                        vec![Value::string(payload.as_str())],
                    );
                    let bytes = HubProtocol::Json.encode(&msg);
                    sent2.lock().expect("lock").push_back(Instant::now());
                    let text = String::from_utf8(bytes).expect("utf-8");
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                    next += interval;
                }
                id
            });
            let mut reader = MessageReader::new(HubProtocol::Json);
            let mut lat = Vec::new();
            let drain = end + Duration::from_secs(5);
            while let Ok(Some(Ok(m))) = tokio::time::timeout_at(drain.into(), stream.next()).await {
                if let Message::Text(t) = m {
                    reader.push(t.as_bytes());
                    while let Ok(Some(p)) = reader.next() {
                        if let Parsed::Message(HubMessage::Completion(_)) = p {
                            if let Some(t) = sent.lock().expect("lock").pop_front() {
                                lat.push(t.elapsed());
                            }
                        }
                    }
                }
                if Instant::now() > end && sent.lock().expect("lock").is_empty() {
                    break;
                }
            }
            let n = writer.await.unwrap_or(0);
            (n, lat)
        }));
    }
    let mut out = 0;
    let mut lat = Vec::new();
    for t in tasks {
        let (n, l) = t.await.expect("task");
        out += n;
        lat.extend(l);
    }
    let (hub_cpu, my_cpu) = (cpu_of(pid) - hub0, cpu_of(me) - me0);
    lat.sort();
    let pct = |q: f64| lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)));
    let handled = (out as usize + lat.len()).max(1) as f64;
    println!(
        "echo_load: {conns} connections × {rate}/s, {size} B, {secs} s: {out} sent, {} answered ({:.1}/s)",
        lat.len(),
        lat.len() as f64 / secs
    );
    println!("  latency p50 {:?}  p99 {:?}", pct(0.5), pct(0.99));
    println!(
        "  this process: {:.1} µs CPU/message (sent + received); hub: {:.1} µs CPU/message",
        my_cpu.as_secs_f64() * 1e6 / handled,
        hub_cpu.as_secs_f64() * 1e6 / handled
    );
}
