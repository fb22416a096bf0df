//! Scale-out on Redis: two mock-hub nodes (`--redis`) on a redis-server started here on a free
//! port of 127.0.0.1, against the same load on one node in process.
//!
//! - broadcast: `BENCH_RECEIVERS` (10,000) receivers split across the nodes; a sender on the
//!   first node invokes `SendToOthers` `BENCH_RATE` (2) times a second for `BENCH_SECONDS` (10).
//!   Reports p50/p99 delivery latency, lost and duplicated messages, and CPU per delivery of
//!   the nodes (and of redis-server), first with one node in process, then with two on Redis.
//! - group: `BENCH_GROUP` (10) members of one group on the second node; a sender on the first
//!   invokes `SendToGroup` `BENCH_GROUP_RATE` (1,000) times a second for `BENCH_SECONDS`.
//!   Reports p50/p99 latency and lost messages.
//!
//! `cargo bench -p signalr-mock --bench scaleout` (needs `redis-server` on the PATH).

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, percentile, raise_nofile, Conn, Hub};
use futures_util::stream::{self, StreamExt};
use signalr_protocol::{HubMessage, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    fn cpu_time(&self) -> Duration {
        cpu_of(self.child.id())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_of(pid: u32) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

/// Connects `n` clients, spread round-robin over `bases`, 64 at a time.
async fn connect_many(http: &reqwest::Client, bases: &[String], n: usize) -> Vec<Conn> {
    let conns: Vec<Conn> = stream::iter(0..n)
        .map(|i| {
            let base = bases[i % bases.len()].clone();
            let http = http.clone();
            async move { connect(&http, &base, "conformance").await }
        })
        .buffer_unordered(64)
        .map(|c| c.expect("a receiver connects"))
        .collect()
        .await;
    conns
}

struct Outcome {
    delivered: u64,
    lost: u64,
    duplicated: u64,
    latencies: Vec<Duration>,
}

/// Each receiver collects `expected` messages with target `target` (or gives up after 5 s of
/// silence).
fn receive_all(
    conns: Vec<Conn>,
    target: &'static str,
    expected: u64,
    base: Arc<Instant>,
) -> Vec<tokio::task::JoinHandle<(Vec<i64>, Vec<Duration>)>> {
    conns
        .into_iter()
        .map(|mut c| {
            let base = base.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut lat = Vec::new();
                while (seen.len() as u64) < expected {
                    match tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
                        Ok(Some(HubMessage::Invocation(i))) if i.target == target => {
                            let arg = i.arguments.first();
                            let at = arg
                                .and_then(|v| v.get("at", false))
                                .and_then(Value::as_i64)
                                .unwrap_or(0);
                            let seq = arg
                                .and_then(|v| v.get("seq", false))
                                .and_then(Value::as_i64)
                                .unwrap_or(-1);
                            lat.push(
                                base.elapsed()
                                    .saturating_sub(Duration::from_micros(at as u64)),
                            );
                            seen.push(seq);
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
                (seen, lat)
            })
        })
        .collect()
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<(Vec<i64>, Vec<Duration>)>>,
    expected: u64,
) -> Outcome {
    let mut o = Outcome {
        delivered: 0,
        lost: 0,
        duplicated: 0,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (seen, lat) = t.await.expect("receiver");
        let unique: HashSet<i64> = seen.iter().copied().collect();
        o.delivered += seen.len() as u64;
        o.duplicated += seen.len() as u64 - unique.len() as u64;
        o.lost += expected.saturating_sub(unique.len() as u64);
        o.latencies.extend(lat);
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

fn report(title: &str, o: &Outcome, secs: f64, cpu: &[(&str, Duration)]) {
    println!("{title}");
    println!(
        "  deliveries:               {} ({:.0}/s)",
        o.delivered,
        o.delivered as f64 / secs
    );
    println!(
        "  delivery latency p50/p99: {:?} / {:?} (max {:?})",
        percentile(&o.latencies, 0.5),
        percentile(&o.latencies, 0.99),
        o.latencies.last().copied().unwrap_or_default()
    );
    println!("  lost / duplicated:        {} / {}", o.lost, o.duplicated);
    for (who, t) in cpu {
        println!(
            "  CPU/delivery ({who}): {:.2} µs",
            t.as_secs_f64() * 1e6 / o.delivered.max(1) as f64
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
    let nodes_cpu = || nodes.iter().map(|n| n.cpu_time()).sum::<Duration>();
    let redis_cpu = || redis.map(Redis::cpu_time).unwrap_or_default();
    let (cpu0, rcpu0) = (nodes_cpu(), redis_cpu());
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
    let o = collect(tasks, count).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut cpu = vec![("mock-hub nodes", nodes_cpu().saturating_sub(cpu0))];
    if redis.is_some() {
        cpu.push(("redis-server", redis_cpu().saturating_sub(rcpu0)));
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
        c.send(&HubMessage::invoke(
            format!("j{i}"),
            "JoinGroup",
            vec![Value::string("bench")],
        ))
        .await;
        match c.recv().await {
            Some(HubMessage::Completion(_)) => {}
            other => panic!("JoinGroup: {other:?}"),
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
    let o = collect(tasks, count).await;
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
    {
        let one = Hub::start(&[]);
        broadcast("in process, one node", &[&one], None, receivers, rate, secs).await;
    }
    let redis = Redis::start().await;
    let a = Hub::start(&["--redis", &redis.url]);
    let b = Hub::start(&["--redis", &redis.url]);
    broadcast(
        "Redis, two nodes",
        &[&a, &b],
        Some(&redis),
        receivers,
        rate,
        secs,
    )
    .await;
    group(&a, &b, members, group_rate, secs).await;
}
