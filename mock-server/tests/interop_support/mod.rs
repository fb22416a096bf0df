//! Shared by the interop tests: run a client program as a child process with a bounded wait and
//! collect everything it printed (also what it printed before a timeout).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// How a program run ended.
pub struct Run {
    /// Exit code; `None` when it was killed (timeout) or died from a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    /// stdout, then stderr under a `--- stderr ---` line when there was any.
    pub output: String,
    pub elapsed: Duration,
}

fn pump(
    mut r: impl AsyncRead + Unpin + Send + 'static,
    buf: Arc<Mutex<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            if let Ok(mut b) = buf.lock() {
                b.extend_from_slice(&chunk[..n]);
            }
        }
    })
}

/// Spawns `cmd` (stdin closed, stdout and stderr captured, killed on drop) and waits for it at
/// most `timeout`; `what` names it in panics.
pub async fn run_child(mut cmd: Command, what: &str, timeout: Duration) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        pump(child.stdout.take().expect("piped stdout"), out.clone()),
        pump(child.stderr.take().expect("piped stderr"), err.clone()),
    ];
    let (code, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(e)) => panic!("waiting for {what} failed: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            (None, true)
        }
    };
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
    }
    let text = |b: &Arc<Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&b.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    };
    let mut output = text(&out);
    let stderr = text(&err);
    if !stderr.trim().is_empty() {
        output.push_str("\n--- stderr ---\n");
        output.push_str(&stderr);
    }
    Run {
        code,
        timed_out,
        output,
        elapsed: started.elapsed(),
    }
}
