//! Shared pieces of the mock-hub benchmarks: run mock-hub as its own process (so its RSS and
//! CPU time are its own), read /proc, and raw WebSocket hub clients with small buffers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use signalr_protocol::{
    handshake, HubMessage, HubProtocol, MessageReader, NegotiateResponse, Parsed,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A mock-hub process.
pub struct Hub {
    pub child: Child,
    pub base: String,
    /// `BENCH_CALLGRIND=<dir>`: mock-hub runs under `valgrind --tool=callgrind`, writing to dir.
    callgrind: Option<String>,
}

impl Hub {
    /// Starts `mock-hub --port 0 <args>` and waits for its address. `MOCK_HUB` names another
    /// mock-hub binary (e.g. an older build, to compare both under the same load generator).
    pub fn start(args: &[&str]) -> Hub {
        let bin =
            std::env::var("MOCK_HUB").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mock-hub").to_owned());
        let callgrind = std::env::var("BENCH_CALLGRIND")
            .ok()
            .filter(|d| !d.is_empty());
        let mut cmd = match &callgrind {
            Some(dir) => {
                let mut c = Command::new("valgrind");
                c.args([
                    "--tool=callgrind",
                    &format!("--callgrind-out-file={dir}/mock-hub.%p"),
                    &bin,
                ]);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .args(["--port", "0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mock-hub starts");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("mock-hub prints its address");
        let base = line.trim().rsplit(' ').next().expect("address").to_owned();
        Hub {
            child,
            base,
            callgrind,
        }
    }

    /// Under `BENCH_CALLGRIND`: starts counting mock-hub's instructions from zero.
    pub fn count_start(&self) {
        if self.callgrind.is_some() {
            self.callgrind_control(&["-z"]);
        }
    }

    /// Under `BENCH_CALLGRIND`: the instructions mock-hub executed since [`Hub::count_start`]
    /// (all threads), dumped to a file named after `label`.
    pub fn count_instructions(&self, label: &str) -> Option<u64> {
        let dir = self.callgrind.as_ref()?;
        self.callgrind_control(&["-d", label]);
        let prefix = format!("mock-hub.{}.", self.pid());
        let mut newest = None;
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u32>().ok())
            {
                if newest.as_ref().is_none_or(|(m, _)| n > *m) {
                    newest = Some((n, e.path()));
                }
            }
        }
        let text = std::fs::read_to_string(newest?.1).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("totals:"))
            .and_then(|v| v.trim().parse().ok())
    }

    fn callgrind_control(&self, args: &[&str]) {
        let _ = Command::new("callgrind_control")
            .args(args)
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .output();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next().map(str::to_owned))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU time of the whole process.
    pub fn cpu_time(&self) -> Duration {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which is in parentheses and may contain spaces).
        let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
        Duration::from_secs_f64(ticks as f64 / clk_tck() as f64)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One hub connection (negotiated, handshake done).
pub struct Conn {
    pub ws: Ws,
    pub reader: MessageReader,
    pub connection_id: String,
}

/// Negotiates, opens a WebSocket with small buffers and completes the JSON handshake.
pub async fn connect(http: &reqwest::Client, base: &str, hub: &str) -> Result<Conn, String> {
    let r = http
        .post(format!("{base}/{hub}/negotiate?negotiateVersion=1"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    let n = NegotiateResponse::parse(&body).map_err(|e| e.to_string())?;
    let token = n.connection_token.ok_or("no token")?;
    let url = format!("{}/{hub}?id={token}", base.replace("http://", "ws://"));
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| e.to_string())?;
    let mut req = Vec::new();
    handshake::write_request(
        &handshake::HandshakeRequest {
            protocol: "json".into(),
            version: 1,
        },
        &mut req,
    );
    ws.send(Message::Text(String::from_utf8(req).expect("utf8").into()))
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => buf.extend_from_slice(t.as_bytes()),
            Some(Ok(Message::Binary(b))) => buf.extend_from_slice(&b),
            Some(Ok(_)) => continue,
            _ => return Err("closed during handshake".into()),
        }
        if let Some((resp, used)) =
            handshake::parse_response_frame(&buf).map_err(|e| e.to_string())?
        {
            if let Some(e) = resp.error {
                return Err(e);
            }
            let mut reader = MessageReader::new(HubProtocol::Json);
            reader.push(&buf[used..]);
            return Ok(Conn {
                ws,
                reader,
                connection_id: n.connection_id.unwrap_or_default(),
            });
        }
    }
}

impl Conn {
    pub async fn send(&mut self, msg: &HubMessage) {
        let bytes = HubProtocol::Json.encode(msg);
        let _ = self
            .ws
            .send(Message::Text(
                String::from_utf8(bytes).expect("utf8").into(),
            ))
            .await;
    }

    /// The next message other than Ping.
    pub async fn recv(&mut self) -> Option<HubMessage> {
        loop {
            while let Ok(Some(p)) = self.reader.next() {
                match p {
                    Parsed::Message(HubMessage::Ping) => continue,
                    Parsed::Message(m) => return Some(m),
                    _ => continue,
                }
            }
            match self.ws.next().await? {
                Ok(Message::Text(t)) => self.reader.push(t.as_bytes()),
                Ok(Message::Binary(b)) => self.reader.push(&b),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

/// p-th percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Raises the soft open-file limit of this process as far as the hard limit allows (through
/// `prlimit`, so no unsafe code is needed).
pub fn raise_nofile() -> u64 {
    let pid = std::process::id().to_string();
    let read = |which: &str| -> u64 {
        Command::new("prlimit")
            .args(["--pid", &pid, "--nofile", "--output", which, "--noheadings"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    let hard = read("HARD");
    if hard > 0 {
        let _ = Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
            .output();
    }
    read("SOFT")
}
