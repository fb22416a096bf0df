//! Echo: 50 connections each invoke `Echo(string)` in a closed loop over WebSockets/JSON, with
//! 64 B and 2 KB payloads. Reports invocations/s, p50/p99 latency and mock-hub's CPU time per
//! invocation (user + system, from /proc).
//!
//! `cargo bench -p signalr-mock --bench echo` (`BENCH_SECONDS` per payload, default 5).

mod common;

use std::time::{Duration, Instant};

use common::{connect, percentile, Hub};
use signalr_protocol::{HubMessage, Value};

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let clients = 50;
    let hub = Hub::start(&[]);
    let http = reqwest::Client::new();
    for size in [64usize, 2048] {
        let payload = "x".repeat(size);
        let mut conns = Vec::new();
        for _ in 0..clients {
            conns.push(
                connect(&http, &hub.base, "conformance")
                    .await
                    .expect("connect"),
            );
        }
        // Warm-up.
        for c in &mut conns {
            c.send(&HubMessage::invoke("w", "Echo", vec![Value::string("w")]))
                .await;
            c.recv().await.expect("warm-up reply");
        }
        let cpu_before = hub.cpu_time();
        hub.count_start();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for mut c in conns {
            let payload = payload.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    i += 1;
                    let id = i.to_string();
                    let t = Instant::now();
                    c.send(&HubMessage::invoke(
                        id.clone(),
                        "Echo",
                        vec![Value::string(payload.as_str())],
                    ))
                    .await;
                    match c.recv().await {
                        Some(HubMessage::Completion(m)) if m.invocation_id == id => {
                            lat.push(t.elapsed())
                        }
                        other => panic!("unexpected reply {other:?}"),
                    }
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        let elapsed = started.elapsed();
        let cpu = hub.cpu_time().saturating_sub(cpu_before);
        let instructions = hub.count_instructions(&format!("echo-{size}"));
        all.sort();
        let n = all.len().max(1);
        println!(
            "echo bench, {size} B payload, {clients} connections, {:.1} s:",
            elapsed.as_secs_f64()
        );
        println!(
            "  invocations/s:            {:.0}",
            all.len() as f64 / elapsed.as_secs_f64()
        );
        println!(
            "  latency p50 / p99:        {:?} / {:?}",
            percentile(&all, 0.5),
            percentile(&all, 0.99)
        );
        println!(
            "  mock-hub CPU/invocation:  {:.1} µs   target ≤ 20 µs",
            cpu.as_secs_f64() * 1e6 / n as f64
        );
        if let Some(i) = instructions {
            println!(
                "  mock-hub instructions/invocation (callgrind): {}",
                i / n as u64
            );
        }
    }
}
