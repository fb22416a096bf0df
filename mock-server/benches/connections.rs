//! Connections: opens N concurrent WebSocket hub connections to a mock-hub process (negotiate,
//! WebSocket, handshake; then idle) and reports connections/s and mock-hub's RSS per connection.
//!
//! `cargo bench -p signalr-mock --bench connections` (N = 10 000; `BENCH_CONNECTIONS=N` to change).

mod common;

use std::time::{Duration, Instant};

use common::{connect, raise_nofile, Hub};

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let limit = raise_nofile();
    if (limit as usize) < n + 100 {
        eprintln!("open-file limit {limit} is too low for {n} connections");
        std::process::exit(1);
    }
    let extra: Vec<String> = std::env::var("BENCH_HUB_ARGS")
        .map(|a| a.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let hub = Hub::start(&extra);
    let hub_base = std::env::var("BENCH_HUB_URL").unwrap_or_else(|_| hub.base.clone());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    // Warm up (allocator arenas, runtime threads) before the baseline reading.
    let warm = connect(&http, &hub_base, "conformance")
        .await
        .expect("warm-up connection");
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = hub.rss_kib();
    let started = Instant::now();
    let concurrency = 256;
    let mut conns = Vec::with_capacity(n);
    let mut failures = 0usize;
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut opened = 0;
    use futures_util::StreamExt;
    while conns.len() + failures < n {
        while pending.len() < concurrency && opened < n {
            let http = http.clone();
            let base = hub_base.clone();
            pending.push(async move { connect(&http, &base, "conformance").await });
            opened += 1;
        }
        match pending.next().await {
            Some(Ok(c)) => conns.push(c),
            Some(Err(e)) => {
                failures += 1;
                if failures <= 5 {
                    eprintln!("connection failed: {e}");
                }
            }
            None => break,
        }
    }
    let elapsed = started.elapsed();
    // Let the server settle (tasks parked, buffers released).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = hub.rss_kib();
    let per_conn =
        (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / conns.len().max(1) as f64;
    println!(
        "connections bench: {} connected ({} failed) in {:.2} s",
        conns.len(),
        failures,
        elapsed.as_secs_f64()
    );
    println!(
        "  connections/s:            {:.0}",
        conns.len() as f64 / elapsed.as_secs_f64()
    );
    println!("  mock-hub RSS before:      {rss_before} KiB");
    println!("  mock-hub RSS after:       {rss_after} KiB");
    println!(
        "  mock-hub RSS/connection:  {:.0} bytes ({:.1} KB)   target ≤ 5 KB",
        per_conn,
        per_conn / 1000.0
    );
    drop(conns);
}
