//! `conform bench`: a load generator that speaks the protocol, with the scenarios of Azure
//! SignalR's performance guide (echo, broadcast, send to a group of 10 or to large groups,
//! send to a connection) and `connections` (hold N idle).
//!
//! Each connection is a [`Session`] of the runner's client with recording off (no transcript
//! of frames or messages: the hot path decodes and counts, nothing else) driven by one task:
//! it sends on its own schedule (`rate` per sender, phases spread so that senders do not fire
//! together) and reads everything the target sends. Every payload is a string
//! `B<id>:<sent µs>:` padded to the message size: the id says which message it is (the
//! [`stats::Tracker`] knows who still awaits it, so a missing copy is lost and a second one is
//! duplicated) and the time gives the latency, on the bench's own clock.
//!
//! - `stats`: the latency histogram and the delivery tracker.
//! - `system`: the open-files limit, CPU time and RSS from `/proc`.
//! - `cli`: the `bench` subcommand's arguments, progress, report, JSON and baseline check.

pub mod cli;
pub mod stats;
pub mod system;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signalr_protocol::{CompletionResult, HubMessage, HubProtocol, Parsed, TransportKind, Value};
use tokio::time::Instant;

use crate::client::{Chunking, RecvError, Session, Target, Transcript};
use stats::{Arrival, Histogram, Tracker};

/// A scenario (Azure SignalR's performance guide, plus `connections`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Every connection invokes `Echo(payload)` and reads the Completion.
    Echo,
    /// `--senders` connections `SendToAll`: every connection receives each message.
    Broadcast,
    /// Groups of `--group-size` (default 10); every connection `SendToGroup`s its own group.
    Group,
    /// `--groups` large groups (the connections split among them); `--senders` connections send
    /// to their group.
    LargeGroup,
    /// Every connection `SendToConnection`s a connection drawn at random.
    Connection,
    /// Hold the connections idle (keep-alive Pings only) for the duration.
    Connections,
}

impl Scenario {
    /// The name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::Broadcast => "broadcast",
            Scenario::Group => "group",
            Scenario::LargeGroup => "large-group",
            Scenario::Connection => "connection",
            Scenario::Connections => "connections",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The scenario.
    pub scenario: Scenario,
    /// Connections opened.
    pub connections: usize,
    /// Payload size in bytes.
    pub size: usize,
    /// Messages per second per sending connection.
    pub rate: f64,
    /// Sending connections in `broadcast` and `large-group`.
    pub senders: usize,
    /// Members per group in `group`.
    pub group_size: usize,
    /// Groups in `large-group`.
    pub groups: usize,
    /// How long the senders send (or the connections are held).
    pub duration: Duration,
    /// Transport of every connection.
    pub transport: TransportKind,
    /// Hub protocol of every connection.
    pub protocol: HubProtocol,
    /// Connections being opened at a time.
    pub connect_concurrency: usize,
    /// After the senders stop, how long copies still in flight are awaited before they count
    /// as lost.
    pub drain: Duration,
    /// The target's process, for its CPU time and RSS.
    pub target_pid: Option<u32>,
    /// How often a connection sends a Ping when it sends nothing else (ASP.NET Core clients:
    /// 15 s, half the server's default client timeout).
    pub keep_alive: Duration,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            scenario: Scenario::Echo,
            connections: 1000,
            size: 2048,
            rate: 1.0,
            senders: 2,
            group_size: 10,
            groups: 10,
            duration: Duration::from_secs(30),
            transport: TransportKind::WebSockets,
            protocol: HubProtocol::Json,
            connect_concurrency: 64,
            drain: Duration::from_secs(5),
            target_pid: None,
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// The method name every send delivers.
pub const MESSAGE_METHOD: &str = "BenchMessage";

/// What the live display shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Connections open.
    pub connected: u64,
    /// Connections asked for.
    pub connections: u64,
    /// True once every connection is set up and the measured window runs.
    pub running: bool,
    /// Seconds into the measured window.
    pub elapsed: f64,
    /// Messages sent so far.
    pub sent: u64,
    /// Copies received so far.
    pub received: u64,
    /// Errors so far.
    pub errors: u64,
    /// p99 latency so far, microseconds.
    pub p99_us: u64,
}

/// A process's figures over the measured window.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcFigures {
    /// The process id.
    pub pid: u32,
    /// CPU time over the window ÷ the window, in percent of one core.
    pub cpu_percent: f64,
    /// CPU time over the window ÷ messages handled (sent + received by the bench), µs (0 when
    /// none were).
    pub cpu_micros_per_message: f64,
    /// Highest resident memory seen (sampled every second), bytes.
    pub peak_rss_bytes: u64,
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// The outcome of a bench run (also its `--json` form).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    /// Scenario.
    pub scenario: Scenario,
    /// The hub URL (`embedded` for the embedded mock-hub).
    pub target: String,
    /// Transport.
    pub transport: String,
    /// Hub protocol.
    pub protocol: String,
    /// Connections asked for.
    pub connections: u64,
    /// Connections that completed their handshake (and group join).
    pub connected: u64,
    /// Payload bytes.
    pub message_size: u64,
    /// Messages per second per sender.
    pub rate: f64,
    /// Sending connections.
    pub senders: u64,
    /// Seconds from the first connect to the last set-up connection.
    pub connect_seconds: f64,
    /// The measured window (senders sending), seconds.
    pub duration_seconds: f64,
    /// Messages the bench sent in the window.
    pub messages_out: u64,
    /// Copies the bench received (of messages sent in the window).
    pub messages_in: u64,
    /// `messages_out` ÷ window.
    pub messages_out_per_second: f64,
    /// Copies received by the end of the window ÷ window.
    pub messages_in_per_second: f64,
    /// Latency from send to receipt of each copy, ms.
    pub latency_ms: Latency,
    /// Failed connects, closed connections, error Completions, other unexpected messages.
    pub errors: u64,
    /// The first few errors, as text.
    pub error_samples: Vec<String>,
    /// Copies still awaited when the drain time ran out.
    pub lost: u64,
    /// Copies beyond the one each addressed connection awaits (duplicates, or copies to a
    /// connection a message was not addressed to).
    pub duplicated: u64,
    /// The bench's own process (with the embedded mock-hub, both).
    pub bench: Option<ProcFigures>,
    /// The target's process (`--target-pid`).
    pub target_process: Option<ProcFigures>,
    /// The soft open-files limit before and after raising it, and the hard one.
    pub open_files: [u64; 3],
}

impl BenchReport {
    /// Nothing lost, duplicated or failed.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.errors == 0
    }
}

/// Why a run could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The options do not make a run.
    #[error("{0}")]
    Usage(String),
    /// Not even the first connection could be set up.
    #[error("{0}")]
    Unreachable(String),
}

/// Most error texts kept.
const MAX_ERROR_SAMPLES: usize = 5;

#[derive(Debug, Default)]
struct State {
    tracker: Tracker,
    hist: Histogram,
    received: u64,
    received_in_window: u64,
    duplicated: u64,
    errors: u64,
    error_samples: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    sent: AtomicU64,
    connected: AtomicU64,
    /// Sends stop at this instant (set when the window starts).
    window_end: Mutex<Option<Instant>>,
    stop_sending: AtomicBool,
    epoch: std::time::Instant,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a connection task panicked; the counts stay usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, text: String) {
        let mut s = self.state();
        s.errors += 1;
        if s.error_samples.len() < MAX_ERROR_SAMPLES {
            s.error_samples.push(text);
        }
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn in_window(&self) -> bool {
        let end = *self.window_end.lock().unwrap_or_else(|p| p.into_inner());
        end.is_none_or(|e| Instant::now() <= e)
    }
}

/// The payload of message `id` sent at `sent_us`, `size` bytes (at least its header).
fn payload(id: u64, sent_us: u64, size: usize) -> String {
    let mut s = format!("B{id}:{sent_us}:");
    if s.len() < size {
        s.extend(std::iter::repeat_n('x', size - s.len()));
    }
    s
}

/// The id and send time in a payload.
fn parse_payload(s: &str) -> Option<(u64, u64)> {
    let rest = s.strip_prefix('B')?;
    let mut it = rest.splitn(3, ':');
    let id = it.next()?.parse().ok()?;
    let t = it.next()?.parse().ok()?;
    it.next()?;
    Some((id, t))
}

/// Who receives what one connection sends.
#[derive(Debug, Clone)]
enum Plan {
    /// Sends nothing (a receiver, or `connections`).
    Idle,
    /// `Echo` to itself.
    Echo,
    /// `SendToAll`: every connection.
    All(Arc<[u32]>),
    /// `SendToGroup(name)`: its members.
    Group(Arc<str>, Arc<[u32]>),
    /// `SendToConnection`: one drawn from the set-up connections (index, connection id) each
    /// time (never itself when there are others); the random state.
    Connection(Arc<[(u32, String)]>, u64),
}

/// The group connection `i` joins, if the scenario has groups.
fn group_of(opts: &BenchOptions, i: usize) -> Option<usize> {
    match opts.scenario {
        Scenario::Group => Some(i / opts.group_size.max(1)),
        Scenario::LargeGroup => Some(i % opts.groups.max(1)),
        _ => None,
    }
}

fn members(opts: &BenchOptions, g: usize) -> Vec<u32> {
    (0..opts.connections)
        .filter(|&i| group_of(opts, i) == Some(g))
        .map(|i| i as u32)
        .collect()
}

/// Runs a bench against the hub at `target`. `progress` is called about once a second.
pub async fn run(
    target: Arc<Target>,
    target_label: String,
    opts: BenchOptions,
    embedded: bool,
    mut progress: impl FnMut(Progress),
) -> Result<BenchReport, BenchError> {
    check(&opts)?;
    let limit = system::raise_file_limit().map_err(BenchError::Usage)?;
    // Each connection is a socket here, and with the embedded mock-hub one more there.
    let per_conn = if embedded { 2 } else { 1 };
    let needed = (opts.connections * per_conn + 64) as u64;
    if needed > limit.now {
        return Err(BenchError::Usage(format!(
            "{} connections need about {needed} open files{}, but the limit is {} (raised from {} to \
             the hard limit {}); raise the hard limit (`ulimit -Hn`, or LimitNOFILE= for a service) \
             or use fewer connections{}",
            opts.connections,
            if embedded { " (the embedded mock-hub holds the other end of each)" } else { "" },
            limit.now,
            limit.before,
            limit.hard,
            if embedded {
                ", or run mock-hub as its own process and pass --target"
            } else {
                ""
            }
        )));
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            tracker: Tracker::new(opts.connections),
            ..State::default()
        }),
        sent: AtomicU64::new(0),
        connected: AtomicU64::new(0),
        window_end: Mutex::new(None),
        stop_sending: AtomicBool::new(false),
        epoch: std::time::Instant::now(),
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.connect_concurrency)
        .build()
        .map_err(|e| BenchError::Usage(format!("cannot build the HTTP client: {e}")))?;
    // One transcript for every session, bounded: the HTTP exchanges of set-up and the errors.
    let transcript = Transcript::new();
    let run_id = shared.now_us() ^ u64::from(std::process::id()) << 20;
    let group_name = |g: usize| -> Arc<str> { format!("bench-{run_id:x}-{g}").into() };

    // Set-up: the first connection alone (an unreachable target stops here), then the rest.
    let connect_started = Instant::now();
    let setup = |i: usize| {
        let target = target.clone();
        let http = http.clone();
        let transcript = transcript.clone();
        let opts = opts.clone();
        let group = group_of(&opts, i).map(group_name);
        let shared = shared.clone();
        async move {
            let r = connect(i, target, http, transcript, &opts, group.as_deref()).await;
            if r.is_ok() {
                shared.connected.fetch_add(1, Ordering::Relaxed);
            }
            r
        }
    };
    let first = setup(0)
        .await
        .map_err(|e| BenchError::Unreachable(format!("cannot set up a connection: {e}")))?;
    let mut sessions: Vec<Option<Session>> = Vec::with_capacity(opts.connections);
    sessions.push(Some(first));
    {
        let sem = Arc::new(tokio::sync::Semaphore::new(opts.connect_concurrency.max(1)));
        let mut tasks = Vec::with_capacity(opts.connections);
        for i in 1..opts.connections {
            let sem = sem.clone();
            let fut = setup(i);
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                fut.await
            }));
        }
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        let mut pending = tasks.into_iter();
        let mut next = pending.next();
        while let Some(t) = next.as_mut() {
            tokio::select! {
                r = t => {
                    match r {
                        Ok(Ok(s)) => sessions.push(Some(s)),
                        Ok(Err(e)) => {
                            shared.error(format!("connection {}: {e}", sessions.len()));
                            sessions.push(None);
                        }
                        Err(e) => {
                            shared.error(format!("connection {}: {e}", sessions.len()));
                            sessions.push(None);
                        }
                    }
                    next = pending.next();
                }
                _ = ticker.tick() => progress(Progress {
                    connected: shared.connected.load(Ordering::Relaxed),
                    connections: opts.connections as u64,
                    ..Progress::default()
                }),
            }
        }
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    let connected = sessions.iter().filter(|s| s.is_some()).count() as u64;

    // Who sends what to whom: only connections that are set up are addressed (one that failed
    // is an error already, not a loss for every message after it).
    let alive: Vec<u32> = (0..opts.connections as u32)
        .filter(|&i| sessions[i as usize].is_some())
        .collect();
    let all: Arc<[u32]> = alive.iter().copied().collect();
    let ids: Arc<[(u32, String)]> = alive
        .iter()
        .map(|&i| {
            let id = sessions[i as usize]
                .as_ref()
                .and_then(Session::connection_id)
                .unwrap_or_default();
            (i, id)
        })
        .collect();
    let mut group_members: std::collections::HashMap<usize, Arc<[u32]>> = Default::default();
    let mut members_of = |g: usize| -> Arc<[u32]> {
        group_members
            .entry(g)
            .or_insert_with(|| {
                members(&opts, g)
                    .into_iter()
                    .filter(|&i| sessions[i as usize].is_some())
                    .collect()
            })
            .clone()
    };
    let mut plans = Vec::with_capacity(opts.connections);
    for i in 0..opts.connections {
        let plan = match opts.scenario {
            Scenario::Echo => Plan::Echo,
            Scenario::Broadcast if i < opts.senders => Plan::All(all.clone()),
            Scenario::Group => {
                let g = i / opts.group_size.max(1);
                Plan::Group(group_name(g), members_of(g))
            }
            Scenario::LargeGroup if i < opts.senders => {
                let g = i % opts.groups.max(1);
                Plan::Group(group_name(g), members_of(g))
            }
            Scenario::Connection => {
                Plan::Connection(ids.clone(), 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1))
            }
            _ => Plan::Idle,
        };
        plans.push(plan);
    }
    let senders = plans.iter().filter(|p| !matches!(p, Plan::Idle)).count() as u64;

    // The measured window.
    let me = std::process::id();
    let bench_before = system::sample(me);
    let target_before = opts.target_pid.and_then(system::sample);
    let mut bench_peak = bench_before.map_or(0, |s| s.rss);
    let mut target_peak = target_before.map_or(0, |s| s.rss);
    let window_start = Instant::now();
    let window_end = window_start + opts.duration;
    *shared.window_end.lock().unwrap_or_else(|p| p.into_inner()) = Some(window_end);
    let interval = Duration::from_secs_f64(1.0 / opts.rate.max(1e-6));
    let mut tasks = Vec::with_capacity(opts.connections);
    for (i, (session, plan)) in sessions.into_iter().zip(plans).enumerate() {
        let Some(session) = session else { continue };
        // Spread the senders' phases over one interval (golden-ratio steps).
        let phase = interval.mul_f64((i as f64 * 0.618_033_988_75).fract());
        let task = Conn {
            index: i as u32,
            session,
            plan,
            shared: shared.clone(),
            size: opts.size,
            interval,
            keep_alive: opts.keep_alive,
        };
        tasks.push(tokio::spawn(task.run(window_start + phase, window_end)));
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let drain_end = window_end + opts.drain;
    loop {
        let now = Instant::now();
        if now >= window_end {
            shared.stop_sending.store(true, Ordering::Relaxed);
            if shared.state().tracker.outstanding() == 0 || now >= drain_end {
                break;
            }
        }
        let wake = if now >= window_end {
            // Draining: look often, most runs are done within milliseconds.
            now + Duration::from_millis(20)
        } else {
            window_end.min(now + Duration::from_secs(1))
        };
        tokio::select! {
            _ = ticker.tick() => {
                if let Some(s) = system::sample(me) { bench_peak = bench_peak.max(s.rss); }
                if let Some(s) = opts.target_pid.and_then(system::sample) {
                    target_peak = target_peak.max(s.rss);
                }
                let (received, errors, p99_us) = {
                    let s = shared.state();
                    (s.received, s.errors, s.hist.quantile(0.99))
                };
                progress(Progress {
                    connected: shared.connected.load(Ordering::Relaxed),
                    connections: opts.connections as u64,
                    running: true,
                    elapsed: window_start.elapsed().as_secs_f64().min(opts.duration.as_secs_f64()),
                    sent: shared.sent.load(Ordering::Relaxed),
                    received,
                    errors,
                    p99_us,
                });
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    let window = opts.duration.as_secs_f64();
    let bench_after = system::sample(me);
    let target_after = opts.target_pid.and_then(system::sample);
    for t in &tasks {
        t.abort();
    }
    let sent = shared.sent.load(Ordering::Relaxed);
    let report = {
        let s = shared.state();
        let handled = (sent + s.received) as f64;
        let figures =
            |pid: u32, a: Option<system::ProcSample>, b: Option<system::ProcSample>, peak: u64| {
                let (a, b) = (a?, b?);
                let cpu = b.cpu.saturating_sub(a.cpu).as_secs_f64();
                Some(ProcFigures {
                    pid,
                    cpu_percent: cpu / window * 100.0,
                    cpu_micros_per_message: if handled > 0.0 {
                        cpu * 1e6 / handled
                    } else {
                        0.0
                    },
                    peak_rss_bytes: peak.max(b.rss),
                })
            };
        let ms = |us: u64| us as f64 / 1000.0;
        BenchReport {
            scenario: opts.scenario,
            target: target_label,
            transport: opts.transport.to_string(),
            protocol: opts.protocol.name().to_owned(),
            connections: opts.connections as u64,
            connected,
            message_size: opts.size as u64,
            rate: opts.rate,
            senders,
            connect_seconds,
            duration_seconds: window,
            messages_out: sent,
            messages_in: s.received,
            messages_out_per_second: sent as f64 / window,
            messages_in_per_second: s.received_in_window as f64 / window,
            latency_ms: Latency {
                p50: ms(s.hist.quantile(0.5)),
                p90: ms(s.hist.quantile(0.9)),
                p99: ms(s.hist.quantile(0.99)),
                max: ms(s.hist.max()),
                mean: s.hist.mean() / 1000.0,
            },
            errors: s.errors,
            error_samples: s.error_samples.clone(),
            lost: s.tracker.outstanding(),
            duplicated: s.duplicated,
            bench: figures(me, bench_before, bench_after, bench_peak),
            target_process: opts
                .target_pid
                .and_then(|pid| figures(pid, target_before, target_after, target_peak)),
            open_files: [limit.before, limit.now, limit.hard],
        }
    };
    // The tasks were aborted: wait for them to drop their connections.
    for t in tasks {
        let _ = t.await;
    }
    Ok(report)
}

fn check(opts: &BenchOptions) -> Result<(), BenchError> {
    let usage = |m: &str| Err(BenchError::Usage(m.to_owned()));
    if opts.connections == 0 {
        return usage("--connections must be at least 1");
    }
    if opts.connections > u32::MAX as usize / 2 {
        return usage("--connections is too large");
    }
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        return usage("--rate must be a positive number of messages per second");
    }
    if opts.duration.is_zero() {
        return usage("--duration must be longer than 0");
    }
    if opts.size > 16 << 20 {
        return usage("--size must be at most 16 MiB");
    }
    if opts.group_size == 0 || opts.groups == 0 || opts.senders == 0 {
        return usage("--group-size, --groups and --senders must be at least 1");
    }
    if opts.protocol == HubProtocol::MessagePack
        && opts.transport == TransportKind::ServerSentEvents
    {
        return usage("MessagePack cannot be sent over Server-Sent Events (text only)");
    }
    Ok(())
}

/// Opens connection `i`: negotiate, transport, handshake, and the group join if any.
async fn connect(
    i: usize,
    target: Arc<Target>,
    http: reqwest::Client,
    transcript: Transcript,
    opts: &BenchOptions,
    group: Option<&str>,
) -> Result<Session, String> {
    let mut s = Session::new(
        &format!("c{i}"),
        target,
        http,
        opts.transport,
        opts.protocol,
        transcript,
    )
    .with_request_timeout(Duration::from_secs(30))
    .without_recording();
    let r = s
        .negotiate("negotiateVersion=1")
        .await
        .map_err(|e| format!("negotiate: {e}"))?;
    if r.status != 200 || s.negotiated.is_none() {
        return Err(format!(
            "negotiate answered {}: {}",
            r.status,
            crate::client::transcript::excerpt(&r.text())
        ));
    }
    let id = s.transport_id().unwrap_or_default();
    s.open(Some(&id), "")
        .await
        .map_err(|e| format!("{}: {e}", opts.transport))?;
    s.send_handshake(opts.protocol.name(), 1, &Chunking::Whole)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let hs = s
        .recv_handshake(deadline)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    if let Some(e) = hs.error {
        return Err(format!("handshake refused: {e}"));
    }
    if let Some(g) = group {
        s.send_message(
            &HubMessage::invoke("join", "JoinGroup", vec![Value::string(g)]),
            &Chunking::Whole,
        )
        .await
        .map_err(|e| format!("JoinGroup: {e}"))?;
        loop {
            match s.recv(deadline).await {
                Ok(Parsed::Message(HubMessage::Completion(c))) if c.invocation_id == "join" => {
                    if let CompletionResult::Error(e) = c.result {
                        return Err(format!("JoinGroup failed: {e}"));
                    }
                    break;
                }
                Ok(Parsed::Message(HubMessage::Close(c))) => {
                    return Err(format!(
                        "closed by the target during JoinGroup: {}",
                        c.error.unwrap_or_default()
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(format!("JoinGroup: {e}")),
            }
        }
    }
    Ok(s)
}

/// One connection's task during the window.
struct Conn {
    index: u32,
    session: Session,
    plan: Plan,
    shared: Arc<Shared>,
    size: usize,
    interval: Duration,
    keep_alive: Duration,
}

impl Conn {
    async fn run(mut self, first_send: Instant, window_end: Instant) {
        let mut next_send = first_send;
        let mut last_out = Instant::now();
        let sends = !matches!(self.plan, Plan::Idle);
        loop {
            let now = Instant::now();
            let sending =
                sends && now < window_end && !self.shared.stop_sending.load(Ordering::Relaxed);
            if sending && now >= next_send {
                if let Err(e) = self.send().await {
                    self.shared
                        .error(format!("connection {}: send: {e}", self.index));
                    return;
                }
                last_out = Instant::now();
                next_send += self.interval;
                // Far behind schedule (the machine or the target cannot keep up): start again
                // from now rather than sending a burst.
                if next_send + Duration::from_secs(1) < last_out {
                    next_send = last_out;
                }
                continue;
            }
            let ping_at = last_out + self.keep_alive;
            if now >= ping_at {
                if let Err(e) = self
                    .session
                    .send_message(&HubMessage::Ping, &Chunking::Whole)
                    .await
                {
                    self.shared
                        .error(format!("connection {}: ping: {e}", self.index));
                    return;
                }
                last_out = Instant::now();
                continue;
            }
            let deadline = if sending {
                next_send.min(ping_at)
            } else {
                ping_at
            };
            match self.session.recv(deadline).await {
                Ok(p) => self.received(p),
                Err(RecvError::Timeout(_)) => {}
                Err(e) => {
                    self.shared.error(format!("connection {}: {e}", self.index));
                    return;
                }
            }
        }
    }

    async fn send(&mut self) -> Result<(), crate::client::ClientError> {
        let recipients: Vec<u32>;
        let (rec, call): (&[u32], _) = match &mut self.plan {
            Plan::Idle => return Ok(()),
            Plan::Echo => {
                recipients = vec![self.index];
                (&recipients[..], None)
            }
            Plan::All(all) => (&all[..], Some(("SendToAll", Vec::new()))),
            Plan::Group(name, m) => (&m[..], Some(("SendToGroup", vec![Value::string(&**name)]))),
            Plan::Connection(ids, rng) => {
                // xorshift64*: a connection drawn at random, not this one when there are others.
                *rng ^= *rng >> 12;
                *rng ^= *rng << 25;
                *rng ^= *rng >> 27;
                let n = ids.len();
                let mut k = (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize;
                if ids[k].0 == self.index && n > 1 {
                    k = (k + 1) % n;
                }
                let (t, id) = ids[k].clone();
                recipients = vec![t];
                (
                    &recipients[..],
                    Some(("SendToConnection", vec![Value::String(id)])),
                )
            }
        };
        let id = self.shared.state().tracker.sent(rec);
        let body = Value::String(payload(id, self.shared.now_us(), self.size));
        let msg = match call {
            None => HubMessage::invoke(id.to_string(), "Echo", vec![body]),
            Some((method, mut args)) => {
                args.push(Value::string(MESSAGE_METHOD));
                args.push(body);
                HubMessage::send(method, args)
            }
        };
        self.session.send_message(&msg, &Chunking::Whole).await?;
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn received(&mut self, p: Parsed) {
        let body = match &p {
            Parsed::Message(HubMessage::Invocation(inv))
                if inv.target == MESSAGE_METHOD && inv.invocation_id.is_none() =>
            {
                inv.arguments.first().and_then(Value::as_str)
            }
            Parsed::Message(HubMessage::Completion(c)) => match &c.result {
                CompletionResult::Value(v) => v.as_str(),
                CompletionResult::Error(e) => {
                    self.shared.error(format!(
                        "connection {}: invocation {} failed: {e}",
                        self.index, c.invocation_id
                    ));
                    return;
                }
                CompletionResult::Void => None,
            },
            Parsed::Message(HubMessage::Ping) => return,
            _ => None,
        };
        let Some((id, sent_us)) = body.and_then(parse_payload) else {
            self.shared.error(format!(
                "connection {}: unexpected message {}",
                self.index,
                crate::client::transcript::excerpt(&signalr_protocol::notation::parsed_to_text(&p))
            ));
            return;
        };
        let now = self.shared.now_us();
        let in_window = self.shared.in_window();
        let mut s = self.shared.state();
        match s.tracker.arrived(id, self.index) {
            Arrival::Delivered => {
                s.received += 1;
                if in_window {
                    s.received_in_window += 1;
                }
                s.hist.record(now.saturating_sub(sent_us));
            }
            Arrival::Duplicate => s.duplicated += 1,
            Arrival::Unexpected => {
                s.errors += 1;
                if s.error_samples.len() < MAX_ERROR_SAMPLES {
                    s.error_samples.push(format!(
                        "connection {}: a message the bench never sent (id {id})",
                        self.index
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let p = payload(42, 123_456, 2048);
        assert_eq!(p.len(), 2048);
        assert_eq!(parse_payload(&p), Some((42, 123_456)));
        assert_eq!(parse_payload(&payload(7, 1, 0)), Some((7, 1)));
        assert_eq!(parse_payload("hello"), None);
        assert_eq!(parse_payload("B1:2"), None);
    }

    #[test]
    fn groups_partition_the_connections() {
        let opts = BenchOptions {
            scenario: Scenario::Group,
            connections: 25,
            ..BenchOptions::default()
        };
        assert_eq!(members(&opts, 0), (0..10).collect::<Vec<_>>());
        assert_eq!(members(&opts, 2), (20..25).collect::<Vec<_>>());
        let large = BenchOptions {
            scenario: Scenario::LargeGroup,
            connections: 25,
            groups: 10,
            ..BenchOptions::default()
        };
        assert_eq!(members(&large, 3), vec![3, 13, 23]);
    }
}
