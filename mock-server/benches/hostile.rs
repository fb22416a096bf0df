//! Hostile clients: what each one makes a mock-hub process hold. Runs one scenario against
//! `mock-hub --fast-timers` (disconnect timeout 2 s) in its own process and prints its RSS at the
//! start, its peak (VmHWM) and its RSS afterwards, once the server had the time to let go.
//!
//! `cargo bench -p signalr-mock --bench hostile -- <scenario>` (all scenarios without one);
//! `MOCK_HUB=<binary>` runs another build of mock-hub (e.g. an older one, for before/after);
//! `HOSTILE_SETTLE_SECONDS` (default 5; 12 for the slow readers) is how long to wait before the last reading;
//! `HOSTILE_ROUNDS` (default 3) how many times a scenario runs against the same server (memory
//! an allocator keeps for reuse stays flat from round to round; memory never released grows).
//!
//! Scenarios:
//! - `lp-abandon`: 20 Long Polling clients each ask `LargeResult(8000000)` and never poll again;
//! - `lp-10k`: 10,000 Long Polling clients connect (handshake answered) and vanish;
//! - `post-flood`: 24 concurrent 16 MB POSTs to one Long Polling connection, sockets kept open;
//! - `ws-fragments`: 10 WebSockets each send 15 MB of fragments without FIN, sockets kept open;
//! - `sse-slow`: an SSE client that reads nothing while up to 24 results of 8 MiB are sent to
//!   it, one by one;
//! - `ws-slow`: a WebSocket client that reads nothing while 8 results of 8 MiB are sent to it;
//! - `negotiate`: negotiates per second with no pending connection, then with 50,000 pending.

mod common;

use std::time::{Duration, Instant};

use common::{connect, raise_nofile, Hub};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

const SCENARIOS: &[&str] = &[
    "lp-abandon",
    "lp-10k",
    "post-flood",
    "ws-fragments",
    "sse-slow",
    "ws-slow",
    "negotiate",
];

/// Resident set size and its peak, in KiB.
fn mem(hub: &Hub) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{}/status", hub.pid())).unwrap_or_default();
    let field = |name: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Negotiates and returns the connection token.
async fn negotiate(http: &reqwest::Client, base: &str) -> String {
    let body = http
        .post(format!("{base}/conformance/negotiate?negotiateVersion=1"))
        .send()
        .await
        .expect("negotiate")
        .bytes()
        .await
        .expect("negotiate body");
    signalr_protocol::NegotiateResponse::parse(&body)
        .expect("negotiate response")
        .connection_token
        .expect("token")
}

/// A Long Polling connection past its handshake (first poll answered): its URL.
async fn long_polling(http: &reqwest::Client, base: &str) -> String {
    let url = format!("{base}/conformance?id={}", negotiate(http, base).await);
    http.post(&url)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .expect("handshake POST");
    http.get(&url).send().await.expect("first poll");
    url
}

fn large_results(n: usize, len: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"type\":1,\"invocationId\":\"{i}\",\"target\":\"LargeResult\",\"arguments\":[{len}]}}\u{1e}"
            )
        })
        .collect()
}

/// A raw HTTP request whose socket is kept open (the response is never read).
async fn raw_request(base: &str, head: &str, body: &[u8]) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("head");
    if !body.is_empty() {
        let _ = tcp.write_all(body).await;
    }
    tcp
}

async fn run(name: &str, base: &str, hub: &Hub) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let addr = base.trim_start_matches("http://").to_owned();
    // Held until the end of the scenario (sockets the hostile clients keep open).
    let mut keep: Vec<TcpStream> = Vec::new();
    let mut keep_ws = Vec::new();
    // Past the transport send timeout (10 s) for the slow readers.
    let default_settle = if name.ends_with("-slow") { 12 } else { 5 };
    let settle = Duration::from_secs(
        std::env::var("HOSTILE_SETTLE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_settle),
    );
    match name {
        "lp-abandon" => {
            for _ in 0..20 {
                let url = long_polling(&http, base).await;
                http.post(&url)
                    .body(large_results(1, 8_000_000))
                    .send()
                    .await
                    .expect("POST");
            }
        }
        "lp-10k" => {
            let mut pending = futures_util::stream::FuturesUnordered::new();
            let mut started = 0;
            while started < 10_000 || !pending.is_empty() {
                while pending.len() < 64 && started < 10_000 {
                    let (http, base) = (http.clone(), base.to_owned());
                    pending.push(async move { long_polling(&http, &base).await });
                    started += 1;
                }
                pending.next().await;
            }
        }
        "post-flood" => {
            let url = long_polling(&http, base).await;
            let path = url.trim_start_matches(base).to_owned();
            let pings = "{\"type\":6}\u{1e}".repeat(16_000_000 / 11);
            let mut posts = Vec::new();
            for _ in 0..24 {
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
                    pings.len()
                );
                let (base, body) = (base.to_owned(), pings.clone());
                posts.push(tokio::spawn(async move {
                    raw_request(&base, &head, body.as_bytes()).await
                }));
            }
            for p in posts {
                if let Ok(tcp) = tokio::time::timeout(Duration::from_secs(20), p).await {
                    keep.push(tcp.expect("POST task"));
                }
            }
        }
        "ws-fragments" => {
            for _ in 0..10 {
                let mut c = connect(&http, base, "conformance").await.expect("connect");
                let piece = vec![b'a'; 64 * 1024];
                let mut first = true;
                for _ in 0..(15 << 20) / piece.len() {
                    let opcode = if first {
                        OpCode::Data(Data::Text)
                    } else {
                        OpCode::Data(Data::Continue)
                    };
                    first = false;
                    let frame = Message::Frame(Frame::message(piece.clone(), opcode, false));
                    if c.ws.send(frame).await.is_err() {
                        break;
                    }
                }
                keep_ws.push(c);
            }
        }
        "sse-slow" => {
            let token = negotiate(&http, base).await;
            let head = format!(
                "GET /conformance?id={token} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            );
            keep.push(raw_request(base, &head, b"").await);
            let url = format!("{base}/conformance?id={token}");
            let handshake = "{\"protocol\":\"json\",\"version\":1}\u{1e}";
            http.post(&url).body(handshake).send().await.expect("POST");
            // One result at a time, so that each leaves the outgoing queue for the transport.
            for _ in 0..24 {
                let r = http.post(&url).body(large_results(1, 8 << 20)).send().await;
                if !r.is_ok_and(|r| r.status() == 200) {
                    break;
                }
            }
        }
        "ws-slow" => {
            let mut c = connect(&http, base, "conformance").await.expect("connect");
            for i in 0..8 {
                c.send(&signalr_protocol::HubMessage::invoke(
                    i.to_string(),
                    "LargeResult",
                    vec![signalr_protocol::Value::Int(8 << 20)],
                ))
                .await;
            }
            keep_ws.push(c);
        }
        "negotiate" => {
            let rate = |n: usize, t: Duration| n as f64 / t.as_secs_f64();
            let burst = |http: reqwest::Client, base: String, n: usize| async move {
                let t = Instant::now();
                let mut pending = futures_util::stream::FuturesUnordered::new();
                let mut started = 0;
                while started < n || !pending.is_empty() {
                    while pending.len() < 32 && started < n {
                        let (http, base) = (http.clone(), base.clone());
                        pending.push(async move { negotiate(&http, &base).await });
                        started += 1;
                    }
                    pending.next().await;
                }
                t.elapsed()
            };
            let t = burst(http.clone(), base.to_owned(), 2_000).await;
            println!("negotiate/s with ~2,000 pending: {:.0}", rate(2_000, t));
            let _ = burst(http.clone(), base.to_owned(), 48_000).await;
            let t = burst(http.clone(), base.to_owned(), 2_000).await;
            println!("negotiate/s with ~50,000 pending: {:.0}", rate(2_000, t));
            return;
        }
        other => panic!("unknown scenario {other}; one of {SCENARIOS:?}"),
    }
    let (rss, peak) = mem(hub);
    println!("{name}: RSS {} right after, peak {}", mib(rss), mib(peak));
    tokio::time::sleep(settle).await;
    let (rss, _) = mem(hub);
    println!(
        "{name}: RSS {} after {} s more (clients still holding their sockets)",
        mib(rss),
        settle.as_secs()
    );
    drop(keep);
    drop(keep_ws);
}

fn rounds() -> usize {
    std::env::var("HOSTILE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

#[tokio::main]
async fn main() {
    raise_nofile();
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let names: Vec<&str> = if chosen.is_empty() {
        SCENARIOS.to_vec()
    } else {
        chosen.iter().map(String::as_str).collect()
    };
    for name in names {
        let hub = Hub::start(&["--fast-timers"]);
        let base = hub.base.clone();
        // Warm up (allocator arenas, runtime threads) before the baseline reading.
        let http = reqwest::Client::new();
        let _ = long_polling(&http, &base).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (start, _) = mem(&hub);
        println!("{name}: RSS {} at the start", mib(start));
        // Memory the allocator keeps for reuse is not a leak: what is never released grows
        // round after round.
        let rounds = if name == "negotiate" { 1 } else { rounds() };
        for round in 1..=rounds {
            if rounds > 1 {
                println!("{name}: round {round}");
            }
            run(name, &base, &hub).await;
        }
    }
}
