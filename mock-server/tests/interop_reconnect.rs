//! Stateful reconnect with the official JavaScript client (`withStatefulReconnect()`) through a
//! TCP proxy that cuts the WebSocket's connection without a Close frame at random points: at
//! least 100 cuts per protocol, and every message the client sends comes back through the hub
//! exactly once and in order (`tests/interop/node/stateful.js`), with JSON and MessagePack.
//!
//! Needs what `interop_node.rs` needs (Node 20+, `npm ci --prefix tests/interop/node`); fails,
//! never skips, without them.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use signalr_mock::{Fault, MockConfig, MockServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Cuts per protocol before the client is told to stop sending.
const CUTS: usize = 100;
/// Bound of one protocol's run (about 10 s on a quiet machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// A proxied WebSocket connection the cutter may cut once the server's 101 and at least one
/// frame after it went through (a cut inside the upgrade would only test the client's patience).
struct Live {
    cut: CancellationToken,
    server_bytes_after_head: Arc<AtomicUsize>,
}

/// Forwards 127.0.0.1:<port> to `upstream`; WebSocket connections (`GET …`) are registered in
/// `live` for the cutter, negotiate requests (`POST`) are passed through untouched.
async fn proxy(listener: TcpListener, upstream: std::net::SocketAddr, live: Arc<Mutex<Vec<Live>>>) {
    while let Ok((client, _)) = listener.accept().await {
        let live = live.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let cut = CancellationToken::new();
            let after_head = Arc::new(AtomicUsize::new(0));
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let mut first = vec![0u8; 8192];
            let Ok(n) = cr.read(&mut first).await else {
                return;
            };
            if n == 0 || sw.write_all(&first[..n]).await.is_err() {
                return;
            }
            if first.starts_with(b"GET ") {
                if let Ok(mut l) = live.lock() {
                    l.retain(|c| !c.cut.is_cancelled());
                    l.push(Live {
                        cut: cut.clone(),
                        server_bytes_after_head: after_head.clone(),
                    });
                }
            }
            let up = async {
                let mut buf = vec![0u8; 16384];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            let down = async {
                let mut buf = vec![0u8; 16384];
                let mut head = Vec::new();
                let mut in_head = true;
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    if in_head {
                        head.extend_from_slice(&buf[..n]);
                        if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            in_head = false;
                            after_head.fetch_add(head.len() - p - 4, Ordering::Relaxed);
                            head = Vec::new();
                        }
                    } else {
                        after_head.fetch_add(n, Ordering::Relaxed);
                    }
                }
            };
            // Either direction ending ends both; a cut drops both sockets (no Close frame).
            tokio::select! {
                _ = up => {}
                _ = down => {}
                _ = cut.cancelled() => {}
            }
        });
    }
}

/// Cuts one live WebSocket every 20–60 ms; counts the cuts.
async fn cutter(live: Arc<Mutex<Vec<Live>>>, cuts: Arc<AtomicUsize>, stop: CancellationToken) {
    loop {
        let pause = rand::rng().random_range(20..60);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
            _ = stop.cancelled() => return,
        }
        let victim = live.lock().ok().and_then(|mut l| {
            l.retain(|c| !c.cut.is_cancelled());
            l.iter()
                .position(|c| c.server_bytes_after_head.load(Ordering::Relaxed) > 0)
                .map(|i| l.remove(i))
        });
        if let Some(v) = victim {
            v.cut.cancel();
            cuts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn node() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/node");
    let manifest = format!("{dir}/node_modules/@microsoft/signalr/package.json");
    assert!(
        std::path::Path::new(&manifest).is_file(),
        "{manifest} is missing: run `npm ci --prefix tests/interop/node` from the workspace root"
    );
    std::env::var("NODE").unwrap_or_else(|_| "node".to_owned())
}

/// One protocol: the client sends until `want_cuts` cuts happened, then checks what came back.
/// Returns node's exit code, its output and the number of cuts.
async fn run(
    protocol: &str,
    faults: Vec<Fault>,
    want_cuts: usize,
    drain_ms: u64,
) -> (Option<i32>, String, usize) {
    let server = MockServer::start(MockConfig {
        port: 0,
        allow_stateful_reconnects: true,
        // A Close the client gets says why.
        enable_detailed_errors: true,
        faults,
        ..MockConfig::default().fast_timers()
    })
    .await
    .expect("mock-hub starts");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
    let proxy_addr = listener.local_addr().expect("proxy address");
    let live = Arc::new(Mutex::new(Vec::new()));
    let proxy_task = tokio::spawn(proxy(listener, server.addr(), live.clone()));

    let node = node();
    let mut child = Command::new(&node)
        .arg("stateful.js")
        .arg(format!("http://{proxy_addr}/conformance"))
        .arg(protocol)
        .arg(drain_ms.to_string())
        .current_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/interop/node"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{node} stateful.js`: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = child.stderr.take().expect("stderr");

    let cuts = Arc::new(AtomicUsize::new(0));
    let stop_cutting = CancellationToken::new();
    let outcome = tokio::time::timeout(RUN_TIMEOUT, async {
        let mut output = String::new();
        let mut cutter_task = None;
        let mut told = false;
        loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(l)) => {
                        if l == "STARTED" && cutter_task.is_none() {
                            cutter_task = Some(tokio::spawn(cutter(live.clone(), cuts.clone(), stop_cutting.clone())));
                        }
                        output.push_str(&l);
                        output.push('\n');
                    }
                    _ => break,
                },
                // Check the count every few milliseconds; stop the client after enough cuts.
                _ = tokio::time::sleep(Duration::from_millis(20)), if !told => {
                    if cuts.load(Ordering::Relaxed) >= want_cuts {
                        told = true;
                        stop_cutting.cancel();
                        let _ = stdin.write_all(b"stop\n").await;
                        let _ = stdin.flush().await;
                    }
                }
            }
        }
        stop_cutting.cancel();
        let status = child.wait().await.expect("node exits");
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err).await;
        if !err.trim().is_empty() {
            output.push_str("--- stderr ---\n");
            output.push_str(&err);
        }
        (status.code(), output)
    })
    .await;
    proxy_task.abort();
    server.shutdown().await;
    let (code, output) = outcome
        .unwrap_or_else(|_| panic!("stateful.js {protocol} did not finish within {RUN_TIMEOUT:?}"));
    (code, output, cuts.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_js_client_keeps_every_message_through_100_cuts() {
    for protocol in ["json", "messagepack"] {
        let (code, output, cuts) = run(protocol, Vec::new(), CUTS, 30_000).await;
        assert_eq!(
            code,
            Some(0),
            "stateful.js {protocol} failed after {cuts} cuts:\n{output}"
        );
        let result = output
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .unwrap_or_else(|| panic!("no RESULT line:\n{output}"));
        println!("{protocol}: {cuts} cuts, {result}");
        assert!(cuts >= CUTS, "{cuts} cuts");
        for zero in [
            "\"lost\":0",
            "\"duplicated\":0",
            "\"outOfOrder\":0",
            "\"closed\":null",
        ] {
            assert!(result.contains(zero), "{protocol}: {result}");
        }
    }
}

/// The check can fail: against a server that does not resend, messages are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_resend_loses_messages() {
    let (code, output, cuts) = run("json", vec![Fault::StatefulNoReplay], 20, 2_000).await;
    assert_eq!(code, Some(1), "after {cuts} cuts:\n{output}");
    let result = output
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{output}"));
    assert!(!result.contains("\"lost\":0,"), "{result}");
}
