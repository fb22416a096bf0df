//! Scale-out on Redis: two mock-hub nodes (`--redis`) on a redis-server started here on a free
//! port of 127.0.0.1, against the same load on one node in process.
//!
//! - broadcast: `BENCH_RECEIVERS` (10,000) receivers split across the nodes; a sender on the
//!   first node invokes `SendToOthers` `BENCH_RATE` (2) times a second for `BENCH_SECONDS` (10).
//!   Reports p50/p90/p99/max delivery latency, when each message's last copy arrived, lost and
//!   duplicated messages, and user and system CPU per delivery of the nodes, of this load
//!   generator and of redis-server, first with one node in process, then with two on Redis.
//! - group: `BENCH_GROUP` (10) members of one group on the second node; a sender on the first
//!   invokes `SendToGroup` `BENCH_GROUP_RATE` (1,000) times a second for `BENCH_SECONDS`.
//!   Reports p50/p99 latency and lost messages.
//!
//! `BENCH_PARTS=inprocess,redis,group` (the default) picks which of them run.
//!
//! `cargo bench -p signalr-mock --bench scaleout` (needs `redis-server` on the PATH).

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{connect, percentile, raise_nofile, Conn, Hub};
use futures_util::stream::{self, StreamExt};
use signalr_protocol::{HubMessage, HubProtocol, NegotiateResponse, Parsed, Value};
use tokio::io::Interest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .args(["--maxclients", "1000"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts (is it installed?)");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read_exact(&mut buf).await.is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not answer");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }

    fn cpu_time(&self) -> Cpu {
        cpu_of(&self.child.id().to_string())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system CPU time of a process.
#[derive(Clone, Copy, Default)]
struct Cpu {
    user: Duration,
    sys: Duration,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(o.user),
            sys: self.sys.saturating_sub(o.sys),
        }
    }
}

impl std::iter::Sum for Cpu {
    fn sum<I: Iterator<Item = Cpu>>(it: I) -> Cpu {
        it.fold(Cpu::default(), |a, b| Cpu {
            user: a.user + b.user,
            sys: a.sys + b.sys,
        })
    }
}

/// `pid`: a process id or `self`.
fn cpu_of(pid: &str) -> Cpu {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Duration {
        let t: u64 = f.get(i).and_then(|x| x.parse().ok()).unwrap_or(0);
        Duration::from_secs_f64(t as f64 / 100.0)
    };
    Cpu {
        user: ticks(11),
        sys: ticks(12),
    }
}

/// Connects `n` receivers, spread round-robin over `bases`, 64 at a time.
async fn connect_many(http: &reqwest::Client, bases: &[String], n: usize) -> Vec<Raw> {
    let conns: Vec<Raw> = stream::iter(0..n)
        .map(|i| {
            let base = bases[i % bases.len()].clone();
            let http = http.clone();
            async move { Raw::connect(&http, &base, "conformance").await }
        })
        .buffer_unordered(64)
        .map(|c| c.expect("a receiver connects"))
        .collect()
        .await;
    conns
}

/// Largest WebSocket frame or unfinished hub message a receiver buffers.
const MAX_BUFFERED: usize = 1 << 20;

/// A receiving hub connection (JSON protocol) read without a WebSocket library: the load
/// generator's cheap receive path. 10,000 receivers share the two cores with the nodes under
/// test, so every microsecond spent here per message stretches the latency measured.
/// One read buffer per connection, allocated once; frames parsed in place (server frames are
/// not masked); hub messages split at the record separator.
struct Raw {
    tcp: TcpStream,
    /// Bytes read; `buf[start..end]` are not parsed yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Payloads of data frames not yet split into hub messages; `text[done..]` are unread.
    text: Vec<u8>,
    done: usize,
    closed: bool,
}

impl Raw {
    /// Negotiates, upgrades to a WebSocket and completes the JSON handshake.
    async fn connect(http: &reqwest::Client, base: &str, hub: &str) -> Result<Raw, String> {
        let r = http
            .post(format!("{base}/{hub}/negotiate?negotiateVersion=1"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        let n = NegotiateResponse::parse(&body).map_err(|e| e.to_string())?;
        let token = n.connection_token.ok_or("no token")?;
        let addr = base.strip_prefix("http://").ok_or("not an http:// base")?;
        let addr = addr.split('/').next().unwrap_or(addr);
        let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        let request = format!(
            "GET /{hub}?id={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Raw {
            tcp,
            buf: vec![0; 4096],
            start: 0,
            end: 0,
            text: Vec::with_capacity(256),
            done: 0,
            closed: false,
        };
        let head_len = loop {
            if let Some(i) = raw.buf[..raw.end].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if raw.end == raw.buf.len() {
                return Err("upgrade response head over 4 KiB".into());
            }
            let n = raw
                .tcp
                .read(&mut raw.buf[raw.end..])
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the upgrade".into());
            }
            raw.end += n;
        };
        if !raw.buf.starts_with(b"HTTP/1.1 101") {
            let line = raw.buf[..head_len]
                .split(|b| *b == b'\r')
                .next()
                .unwrap_or(&[]);
            return Err(format!(
                "upgrade refused: {}",
                String::from_utf8_lossy(line)
            ));
        }
        raw.start = head_len;
        raw.send_text(b"{\"protocol\":\"json\",\"version\":1}\x1e")
            .await?;
        let r = raw
            .next_record()
            .await
            .ok_or("closed during the handshake")?;
        match &raw.text[r] {
            b"{}" => Ok(raw),
            other => Err(format!(
                "handshake refused: {}",
                String::from_utf8_lossy(other)
            )),
        }
    }

    /// Sends one masked text frame.
    async fn send_text(&mut self, payload: &[u8]) -> Result<(), String> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x81);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask: [u8; 4] = rand::random();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.tcp.write_all(&frame).await.map_err(|e| e.to_string())
    }

    /// The next hub message (its range in `self.text`, without the separator), reading as
    /// needed; `None` once the connection ended or sent something that is not a WebSocket
    /// stream of text.
    async fn next_record(&mut self) -> Option<std::ops::Range<usize>> {
        if self.done == self.text.len() {
            self.text.clear();
            self.done = 0;
        }
        loop {
            if let Some(i) = self.text[self.done..].iter().position(|b| *b == 0x1e) {
                let r = self.done..self.done + i;
                self.done += i + 1;
                return Some(r);
            }
            if self.closed || self.text.len() - self.done > MAX_BUFFERED {
                return None;
            }
            if !self.parse_frames() {
                self.fill().await?;
            }
        }
    }

    /// Moves the payloads of complete frames into `text`; `false` when none was complete.
    fn parse_frames(&mut self) -> bool {
        let mut any = false;
        loop {
            let avail = &self.buf[self.start..self.end];
            if avail.len() < 2 {
                break;
            }
            if avail[1] & 0x80 != 0 {
                // A server never masks: not a stream this bench can read.
                self.closed = true;
                return true;
            }
            let (head, len) = match avail[1] & 0x7f {
                126 if avail.len() >= 4 => (4, u16::from_be_bytes([avail[2], avail[3]]) as usize),
                127 if avail.len() >= 10 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&avail[2..10]);
                    (
                        10,
                        usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                    )
                }
                126 | 127 => break,
                n => (2, n as usize),
            };
            if len > MAX_BUFFERED {
                self.closed = true;
                return true;
            }
            if avail.len() < head + len {
                // Make room for the whole frame.
                if self.buf.len() - self.start < head + len {
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end -= self.start;
                    self.start = 0;
                    if self.buf.len() < head + len {
                        self.buf.resize(head + len, 0);
                    }
                }
                break;
            }
            match avail[0] & 0x0f {
                0..=2 => self.text.extend_from_slice(&avail[head..head + len]),
                8 => self.closed = true,
                _ => {} // ping, pong: nothing to read
            }
            self.start += head + len;
            any = true;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        any
    }

    /// Reads more bytes; `None` when the connection ended.
    async fn fill(&mut self) -> Option<()> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let space = self.buf.len() - self.end;
        loop {
            self.tcp.readable().await.ok()?;
            let buf = &mut self.buf[self.end..];
            let mut got = 0;
            // A short read means the socket is drained: readiness is cleared right away (the
            // closure reports WouldBlock) instead of by the next read's EAGAIN, one system call
            // per message fewer. Readiness that arrived after this attempt began is kept.
            let r = self.tcp.try_io(Interest::READABLE, || {
                got = self.tcp.try_read(buf)?;
                if got > 0 && got < space {
                    Err(std::io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (r, got) {
                (_, n) if n > 0 => {
                    self.end += n;
                    return Some(());
                }
                (Ok(()), _) => return None, // end of stream
                (Err(e), _) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                (Err(_), _) => return None,
            }
        }
    }
}

/// `seq` and `at` of an Invocation of `target` whose argument is `{"seq":…,"at":…}`, as
/// mock-hub's JSON writer writes it; `None` for anything else (a Ping, another target).
fn tick(record: &[u8], target: &str) -> Option<(i64, i64)> {
    fn after<'a>(hay: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .map(|i| &hay[i + needle.len()..])
    }
    fn number(s: &[u8]) -> Option<i64> {
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        std::str::from_utf8(&s[..digits]).ok()?.parse().ok()
    }
    after(record, b"\"type\":1,")?;
    let quoted = format!("\"target\":\"{target}\"");
    let rest = after(record, quoted.as_bytes())?;
    Some((
        number(after(rest, b"\"seq\":")?)?,
        number(after(rest, b"\"at\":")?)?,
    ))
}

struct Outcome {
    delivered: u64,
    lost: u64,
    duplicated: u64,
    latencies: Vec<Duration>,
    /// Per message (`seq`): when its last copy arrived, after it was sent.
    last_copy: Vec<Duration>,
}

/// What one receiver got: the `seq` of each copy and its latency.
#[derive(Default)]
struct Received {
    seen: Vec<i64>,
    latencies: Vec<Duration>,
}

/// The receivers at work: each collects `expected` messages with target `target`.
struct Receivers {
    /// Each gives its connection back: it stays open until the whole run is tallied (10,000
    /// connections closing as they get their last message would load the last broadcast).
    tasks: Vec<tokio::task::JoinHandle<Raw>>,
    received: Vec<Arc<Mutex<Received>>>,
    /// Copies received by all receivers so far.
    progress: Arc<AtomicU64>,
    /// Receivers still waiting for a copy.
    waiting: Arc<AtomicUsize>,
    all_done: Arc<Notify>,
}

fn receive_all(
    conns: Vec<Raw>,
    target: &'static str,
    expected: u64,
    base: Arc<Instant>,
) -> Receivers {
    let progress = Arc::new(AtomicU64::new(0));
    let waiting = Arc::new(AtomicUsize::new(conns.len()));
    let all_done = Arc::new(Notify::new());
    let mut tasks = Vec::with_capacity(conns.len());
    let mut received = Vec::with_capacity(conns.len());
    for mut c in conns {
        let base = base.clone();
        let mine = Arc::new(Mutex::new(Received {
            seen: Vec::with_capacity(expected as usize),
            latencies: Vec::with_capacity(expected as usize),
        }));
        received.push(mine.clone());
        let (progress, waiting, all_done) = (progress.clone(), waiting.clone(), all_done.clone());
        tasks.push(tokio::spawn(async move {
            // Counts distinct messages: a duplicate does not stand in for a lost one.
            let mut have = vec![false; expected as usize];
            let mut n = 0;
            while n < expected {
                let Some(r) = c.next_record().await else {
                    break;
                };
                if let Some((seq, at)) = tick(&c.text[r], target) {
                    let latency = base
                        .elapsed()
                        .saturating_sub(Duration::from_micros(at as u64));
                    let mut m = mine.lock().expect("receiver state");
                    m.seen.push(seq);
                    m.latencies.push(latency);
                    if let Some(h) = usize::try_from(seq).ok().and_then(|i| have.get_mut(i)) {
                        if !*h {
                            *h = true;
                            n += 1;
                        }
                    }
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            }
            if waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
                all_done.notify_one();
            }
            c
        }));
    }
    Receivers {
        tasks,
        received,
        progress,
        waiting,
        all_done,
    }
}

/// Waits until every receiver has its copies, or nothing arrived for 5 s, then tallies. The
/// connections close when `r` is dropped.
async fn collect(r: &Receivers, expected: u64) -> Outcome {
    let mut last = u64::MAX;
    while r.waiting.load(Ordering::Acquire) > 0 {
        let now = r.progress.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
        let _ = tokio::time::timeout(Duration::from_secs(5), r.all_done.notified()).await;
    }
    for t in &r.tasks {
        t.abort();
    }
    let mut o = Outcome {
        delivered: 0,
        lost: 0,
        duplicated: 0,
        latencies: Vec::new(),
        last_copy: vec![Duration::ZERO; expected as usize],
    };
    for mine in &r.received {
        let m = std::mem::take(&mut *mine.lock().expect("receiver state"));
        for (seq, l) in m.seen.iter().zip(&m.latencies) {
            if let Some(last) = usize::try_from(*seq)
                .ok()
                .and_then(|i| o.last_copy.get_mut(i))
            {
                *last = (*last).max(*l);
            }
        }
        let unique: HashSet<i64> = m.seen.iter().copied().collect();
        o.delivered += m.seen.len() as u64;
        o.duplicated += m.seen.len() as u64 - unique.len() as u64;
        o.lost += expected.saturating_sub(unique.len() as u64);
        o.latencies.extend(m.latencies);
    }
    o.latencies.sort();
    o
}

/// The sender: `count` non-blocking invocations of `method(args…, {seq, at})`, `rate` a second.
async fn send_paced(
    sender: &mut Conn,
    method: &str,
    prefix: &[Value],
    rate: u64,
    count: u64,
    base: &Instant,
) {
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let started = tokio::time::Instant::now();
    for seq in 0..count {
        tokio::time::sleep_until(started + period * seq as u32).await;
        let at = base.elapsed().as_micros() as i64;
        let mut args = prefix.to_vec();
        args.push(Value::Map(vec![
            (Value::string("seq"), Value::Int(seq as i64)),
            (Value::string("at"), Value::Int(at)),
        ]));
        sender.send(&HubMessage::send(method, args)).await;
    }
}

fn report(title: &str, o: &Outcome, secs: f64, cpu: &[(&str, Cpu)]) {
    println!("{title}");
    println!(
        "  deliveries:               {} ({:.0}/s)",
        o.delivered,
        o.delivered as f64 / secs
    );
    println!(
        "  delivery latency p50/p90/p99: {:?} / {:?} / {:?} (max {:?})",
        percentile(&o.latencies, 0.5),
        percentile(&o.latencies, 0.9),
        percentile(&o.latencies, 0.99),
        o.latencies.last().copied().unwrap_or_default()
    );
    println!("  lost / duplicated:        {} / {}", o.lost, o.duplicated);
    if o.last_copy.len() > 1 {
        // How long each message took to reach everyone: one slow burst among 20 decides the p99.
        let mut bursts = o.last_copy.clone();
        bursts.sort();
        let (worst, at) = o
            .last_copy
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, i))
            .max()
            .unwrap_or_default();
        println!(
            "  last copy of a message:   median {:?}, slowest {:?} (message {at} of {})",
            percentile(&bursts, 0.5),
            worst,
            bursts.len()
        );
    }
    let per = |t: Duration| t.as_secs_f64() * 1e6 / o.delivered.max(1) as f64;
    for (who, t) in cpu {
        println!(
            "  CPU/delivery ({who}): {:.2} µs (user {:.2}, sys {:.2})",
            per(t.user + t.sys),
            per(t.user),
            per(t.sys)
        );
    }
}

async fn broadcast(
    title: &str,
    nodes: &[&Hub],
    redis: Option<&Redis>,
    receivers: usize,
    rate: u64,
    secs: u64,
) {
    let http = reqwest::Client::new();
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let setup = Instant::now();
    let conns = connect_many(&http, &bases, receivers).await;
    eprintln!(
        "{title}: {receivers} receivers connected in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let count = rate * secs;
    let base = Arc::new(Instant::now());
    let tasks = receive_all(conns, "tick", count, base.clone());
    let mut sender = connect(&http, &bases[0], "conformance")
        .await
        .expect("sender");
    let nodes_cpu = || {
        nodes
            .iter()
            .map(|n| cpu_of(&n.pid().to_string()))
            .sum::<Cpu>()
    };
    let redis_cpu = || redis.map(Redis::cpu_time).unwrap_or_default();
    let (cpu0, rcpu0, bcpu0) = (nodes_cpu(), redis_cpu(), cpu_of("self"));
    let started = Instant::now();
    send_paced(
        &mut sender,
        "SendToOthers",
        &[Value::string("tick")],
        rate,
        count,
        &base,
    )
    .await;
    let o = collect(&tasks, count).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut cpu = vec![
        ("mock-hub nodes", nodes_cpu() - cpu0),
        ("this load generator", cpu_of("self") - bcpu0),
    ];
    if redis.is_some() {
        cpu.push(("redis-server", redis_cpu() - rcpu0));
    }
    report(
        &format!("{title}: {receivers} receivers, {count} broadcasts at {rate}/s"),
        &o,
        elapsed,
        &cpu,
    );
}

async fn group(a: &Hub, b: &Hub, members: usize, rate: u64, secs: u64) {
    let http = reqwest::Client::new();
    let mut conns = connect_many(&http, std::slice::from_ref(&b.base), members).await;
    for (i, c) in conns.iter_mut().enumerate() {
        let join = HubMessage::invoke(format!("j{i}"), "JoinGroup", vec![Value::string("bench")]);
        c.send_text(&HubProtocol::Json.encode(&join))
            .await
            .expect("JoinGroup sent");
        loop {
            let r = c.next_record().await.expect("JoinGroup answered");
            match HubProtocol::Json.parse(&c.text[r]) {
                Ok(Parsed::Message(HubMessage::Completion(_))) => break,
                Ok(Parsed::Message(HubMessage::Ping)) => {}
                other => panic!("JoinGroup: {other:?}"),
            }
        }
    }
    let count = rate * secs;
    let base = Arc::new(Instant::now());
    let tasks = receive_all(conns, "g", count, base.clone());
    let mut sender = connect(&http, &a.base, "conformance")
        .await
        .expect("sender");
    let started = Instant::now();
    send_paced(
        &mut sender,
        "SendToGroup",
        &[Value::string("bench"), Value::string("g")],
        rate,
        count,
        &base,
    )
    .await;
    let mut o = collect(&tasks, count).await;
    o.last_copy.clear();
    report(
        &format!("cross-node group send: {members} members on node B, sender on node A, {count} messages at {rate}/s"),
        &o,
        started.elapsed().as_secs_f64(),
        &[],
    );
}

#[tokio::main]
async fn main() {
    let receivers = env("BENCH_RECEIVERS", 10_000) as usize;
    let rate = env("BENCH_RATE", 2);
    let secs = env("BENCH_SECONDS", 10);
    let members = env("BENCH_GROUP", 10) as usize;
    let group_rate = env("BENCH_GROUP_RATE", 1000);
    let nofile = raise_nofile();
    if nofile < receivers as u64 + 100 {
        eprintln!(
            "open-files limit {nofile} is below {receivers} receivers: lower BENCH_RECEIVERS"
        );
    }
    // `BENCH_PARTS` (default `inprocess,redis,group`): which of the three to run.
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "inprocess,redis,group".into());
    let part = |p: &str| parts.split(',').any(|x| x.trim() == p);
    if part("inprocess") {
        let one = Hub::start(&[]);
        broadcast("in process, one node", &[&one], None, receivers, rate, secs).await;
    }
    if !part("redis") && !part("group") {
        return;
    }
    let redis = Redis::start().await;
    let a = Hub::start(&["--redis", &redis.url]);
    let b = Hub::start(&["--redis", &redis.url]);
    if part("redis") {
        broadcast(
            "Redis, two nodes",
            &[&a, &b],
            Some(&redis),
            receivers,
            rate,
            secs,
        )
        .await;
    }
    if part("group") {
        group(&a, &b, members, group_rate, secs).await;
    }
}
