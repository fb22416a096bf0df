//! A real `redis-server` for the scale-out tests: started on a free port of 127.0.0.1, without
//! persistence, killed when dropped. Shared by `mock-server/tests/backplane.rs` and the root
//! crate's `tests/scaleout.rs` (which includes this file by path: the two are different crates
//! and a test-only helper is not worth a crate of its own).
//!
//! Without `redis-server` the tests say so and pass, except in CI (`CI=true`), where a missing
//! Redis fails them (`.ci/run` installs Debian's `redis-server`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long redis-server may take to answer its first PING, or a PING.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A `redis-server` process of the test's own.
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// Whether `redis-server` can be run; says why not (and fails under `CI=true`).
pub fn redis_available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server is not installed, and CI=true: the scale-out tests need it (.ci/run installs Debian's redis-server)"
        );
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

impl RedisServer {
    /// On a free port (another one if something took it before redis-server could).
    pub async fn start() -> RedisServer {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            if let Some(r) = Self::try_start_on(port).await {
                return r;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// On `port` (a restart on the port a killed one used).
    #[allow(dead_code)]
    pub async fn start_on(port: u16) -> RedisServer {
        Self::try_start_on(port)
            .await
            .unwrap_or_else(|| panic!("redis-server did not start on port {port}"))
    }

    /// `None` if redis-server exited (the port was taken).
    async fn try_start_on(port: u16) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts");
        let mut r = RedisServer { child, port };
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(_)) = r.child.try_wait() {
                return None;
            }
            if r.ping().await {
                return Some(r);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {port} did not answer"
            );
            // Polling for a process to come up: there is no event to wait on.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// PING answered with +PONG.
    async fn ping(&self) -> bool {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if s.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        matches!(
            tokio::time::timeout(START_TIMEOUT, s.read_exact(&mut buf)).await,
            Ok(Ok(_)) if &buf == b"+PONG\r\n"
        )
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it now (a Redis outage).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
