//! Broadcast: 1 000 receivers, one sender invoking `SendToOthers` 10 times a second for 10 s.
//! Reports deliveries/s, p99 delivery latency, mock-hub's CPU time per delivery (user + system,
//! from /proc) and lost messages (must be zero).
//!
//! `cargo bench -p signalr-mock --bench broadcast` (`BENCH_RECEIVERS`, `BENCH_SECONDS`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, percentile, raise_nofile, Hub};
use signalr_protocol::{HubMessage, Value};

#[tokio::main]
async fn main() {
    let receivers: usize = std::env::var("BENCH_RECEIVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    raise_nofile();
    let hub = Hub::start(&[]);
    let http = reqwest::Client::new();
    let messages = secs * 10;
    let base = Arc::new(Instant::now());
    let mut tasks = Vec::new();
    for _ in 0..receivers {
        let mut c = connect(&http, &hub.base, "conformance")
            .await
            .expect("receiver connects");
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut lat = Vec::new();
            while (seen.len() as u64) < messages {
                match tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
                    Ok(Some(HubMessage::Invocation(i))) if i.target == "tick" => {
                        let sent = i
                            .arguments
                            .first()
                            .and_then(|v| v.get("at", false))
                            .and_then(Value::as_i64)
                            .unwrap_or(0);
                        let seq = i
                            .arguments
                            .first()
                            .and_then(|v| v.get("seq", false))
                            .and_then(Value::as_i64)
                            .unwrap_or(-1);
                        lat.push(
                            base.elapsed()
                                .saturating_sub(Duration::from_micros(sent as u64)),
                        );
                        seen.push(seq);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            (seen, lat)
        }));
    }
    let mut sender = connect(&http, &hub.base, "conformance")
        .await
        .expect("sender connects");
    let cpu_before = hub.cpu_time();
    hub.count_start();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for seq in 0..messages {
        tick.tick().await;
        let at = base.elapsed().as_micros() as i64;
        let payload = Value::Map(vec![
            (Value::string("seq"), Value::Int(seq as i64)),
            (Value::string("at"), Value::Int(at)),
        ]);
        let id = seq.to_string();
        sender
            .send(&HubMessage::invoke(
                id,
                "SendToOthers",
                vec![Value::string("tick"), payload],
            ))
            .await;
        let _ = sender.recv().await;
    }
    let mut lost = 0u64;
    let mut all = Vec::new();
    let mut delivered = 0u64;
    for t in tasks {
        let (seen, lat) = t.await.expect("receiver");
        delivered += seen.len() as u64;
        let mut s = seen.clone();
        s.sort_unstable();
        s.dedup();
        lost += messages - s.len() as u64;
        all.extend(lat);
    }
    let elapsed = started.elapsed();
    let cpu = hub.cpu_time().saturating_sub(cpu_before);
    let instructions = hub.count_instructions("broadcast");
    all.sort();
    println!(
        "broadcast bench: {receivers} receivers, {messages} messages at 10/s over {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  deliveries:               {delivered} ({:.0}/s)",
        delivered as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  delivery latency p50/p99: {:?} / {:?}",
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
    println!(
        "  mock-hub CPU/delivery:    {:.1} µs",
        cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64
    );
    if let Some(i) = instructions {
        println!(
            "  mock-hub instructions/delivery (callgrind): {}",
            i / delivered.max(1)
        );
    }
    println!("  lost:                     {lost}   target 0");
}
