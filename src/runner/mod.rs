//! Runs executions against a target: probes what it offers, gates what it cannot run,
//! schedules in parallel (exclusive cases alone), applies timeouts and decides verdicts.

mod exec;
pub mod timing;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use signalr_protocol::{HubMessage, HubProtocol, Value};
use tokio::sync::{RwLock, Semaphore};

use crate::cases::{Execution, Timing};
use crate::client::{Session, Target, Transcript, TransportKind};
use crate::result::{Outcome, RunResult, TargetSummary, Totals, Verdict, SCHEMA_VERSION};
use timing::Timers;

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// The target.
    pub target: Target,
    /// Parallel executions.
    pub jobs: usize,
    /// Multiplies every timeout and wait.
    pub time_scale: f64,
    /// Default timeout of an expect step.
    pub step_timeout: Duration,
    /// Longest an execution may take.
    pub case_timeout: Duration,
    /// NON-STRICT fails the run.
    pub strict: bool,
    /// Run the slow tier too.
    pub slow: bool,
    /// Keep transcripts of passing executions too.
    pub trace_all: bool,
    /// Longest real wait a default-tier case may need (scaled); beyond it the case is slow.
    pub slow_threshold: Duration,
    /// Whether the target is the embedded mock-hub.
    pub embedded: bool,
    /// Stop starting executions once one outcome satisfies this (`--fail-fast`); the rest are
    /// SKIPPED.
    pub stop_when: Option<StopWhen>,
}

/// A predicate on outcomes that stops a run.
pub type StopWhen = Arc<dyn Fn(&Outcome) -> bool + Send + Sync>;

impl RunOptions {
    /// Defaults for `target`.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            jobs: 16,
            time_scale: 1.0,
            step_timeout: Duration::from_secs(5),
            case_timeout: Duration::from_secs(60),
            strict: false,
            slow: false,
            trace_all: false,
            slow_threshold: Duration::from_secs(10),
            embedded: false,
            stop_when: None,
        }
    }

    pub(crate) fn scale(&self, d: Duration) -> Duration {
        d.mul_f64(self.time_scale.max(0.01))
    }

    /// How long one HTTP request or WebSocket upgrade may take: the step timeout, at least
    /// 5 s, scaled — so a target that accepts connections and never answers costs seconds per
    /// execution, not reqwest's two minutes.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.scale(self.step_timeout.max(Duration::from_secs(5)))
    }
}

/// What the target offers.
#[derive(Debug, Clone, Default)]
pub struct TargetInfo {
    /// `Describe()` result, if implemented.
    pub describe: Option<Value>,
    /// Features from `Describe` (`None` = unknown: everything is assumed).
    pub features: Option<BTreeSet<String>>,
    /// Transports and their transfer formats from negotiate.
    pub transports: Vec<(TransportKind, Vec<String>)>,
    /// Timers.
    pub timers: Timers,
    /// `EnableDetailedErrors`.
    pub detailed_errors: bool,
    /// Stateful reconnect enabled.
    pub stateful_reconnect: bool,
    /// `MaximumParallelInvocationsPerClient` (1 unless declared).
    pub max_parallel_invocations: u64,
    /// `MaximumReceiveMessageSize` (`None` = unlimited; 32768 unless declared).
    pub max_message_size: Option<u64>,
    /// Notes for the report.
    pub notes: Vec<String>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nothing answers at the target URL.
    #[error("the target {url} is unreachable: {reason}")]
    Unreachable {
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl TargetInfo {
    /// Whether the target offers `t` with `protocol`'s transfer format.
    pub fn supports(&self, t: TransportKind, protocol: Option<HubProtocol>) -> Result<(), String> {
        let Some((_, formats)) = self.transports.iter().find(|(k, _)| *k == t) else {
            return Err(format!("the target does not offer {}", t.name()));
        };
        if let Some(p) = protocol {
            let f = p.transfer_format().name();
            if !formats.iter().any(|x| x == f) {
                return Err(format!(
                    "the target's {} transport does not offer the {f} transfer format",
                    t.name()
                ));
            }
        }
        Ok(())
    }

    fn has(&self, capability: &str) -> Result<(), String> {
        match capability {
            "detailed-errors" => self
                .detailed_errors
                .then_some(())
                .ok_or_else(|| "the target does not enable detailed errors".to_owned()),
            "no-detailed-errors" => (!self.detailed_errors)
                .then_some(())
                .ok_or_else(|| "the target enables detailed errors".to_owned()),
            "stateful-reconnect" => self
                .stateful_reconnect
                .then_some(())
                .ok_or_else(|| "the target does not allow stateful reconnect".to_owned()),
            "sequential-invocations" => (self.max_parallel_invocations <= 1)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "the target runs up to {} invocations of a connection in parallel",
                        self.max_parallel_invocations
                    )
                }),
            "default-message-size-limit" => (self.max_message_size == Some(32_768))
                .then_some(())
                .ok_or_else(|| match self.max_message_size {
                    None => "the target has no receive message size limit".to_owned(),
                    Some(n) => {
                        format!("the target's receive message size limit is {n} bytes, not 32768")
                    }
                }),
            "describe" => self
                .describe
                .as_ref()
                .map(|_| ())
                .ok_or_else(|| "the target has no Describe method".to_owned()),
            feature => match &self.features {
                Some(f) if !f.contains(feature) => Err(format!(
                    "the target does not declare the '{feature}' feature"
                )),
                _ => Ok(()),
            },
        }
    }
}

fn describe_number(d: &Value, key: &str) -> Option<f64> {
    d.get(key, false).and_then(Value::as_f64)
}

/// Finds out what the target offers: negotiate (transports) and `Describe()` (features, timers).
pub async fn probe(opts: &RunOptions) -> Result<TargetInfo, ProbeError> {
    let mut info = TargetInfo {
        max_message_size: Some(32_768),
        max_parallel_invocations: 1,
        ..TargetInfo::default()
    };
    let http = http_client();
    let transcript = Transcript::new();
    let target = Arc::new(opts.target.clone());
    let mut s = Session::new(
        "probe",
        target.clone(),
        http.clone(),
        TransportKind::WebSockets,
        HubProtocol::Json,
        transcript,
    );
    s.request_timeout = opts.request_timeout();
    let r = s
        .negotiate("negotiateVersion=1")
        .await
        .map_err(|reason| ProbeError::Unreachable {
            url: opts.target.hub_url.to_string(),
            reason,
        })?;
    match &s.negotiated {
        Some(n) => {
            for t in n.available_transports.iter().flatten() {
                if let Some(k) = TransportKind::parse(&t.transport) {
                    info.transports.push((k, t.transfer_formats.clone()));
                }
            }
        }
        None => {
            // Without a usable negotiate response every transport is tried, so the cases
            // report what is wrong instead of being gated away.
            info.notes.push(format!(
                "negotiate answered {} {}: assuming every transport",
                r.status,
                r.text().chars().take(200).collect::<String>()
            ));
            for t in TransportKind::ALL {
                let formats = t.transfer_formats().iter().map(|f| (*f).to_owned());
                info.transports.push((t, formats.collect()));
            }
        }
    }
    // Describe over whichever transport is offered, preferring WebSockets.
    let transport = [
        TransportKind::WebSockets,
        TransportKind::LongPolling,
        TransportKind::ServerSentEvents,
    ]
    .into_iter()
    .find(|t| info.transports.iter().any(|(k, _)| k == t));
    if let Some(t) = transport {
        let mut s = Session::new(
            "probe",
            target,
            http,
            t,
            HubProtocol::Json,
            Transcript::new(),
        );
        s.request_timeout = opts.request_timeout();
        let deadline = tokio::time::Instant::now() + opts.scale(Duration::from_secs(5));
        let described = async {
            s.negotiate("negotiateVersion=1").await.ok()?;
            let id = s.transport_id()?;
            s.open(Some(&id), "").await.ok()?;
            s.send_handshake("json", 1, &Default::default())
                .await
                .ok()?;
            let hs = s.recv_handshake(deadline).await.ok()?;
            if hs.error.is_some() {
                return None;
            }
            s.send_message(
                &HubMessage::invoke("describe", "Describe", vec![]),
                &Default::default(),
            )
            .await
            .ok()?;
            loop {
                match s.recv(deadline).await.ok()? {
                    signalr_protocol::Parsed::Message(HubMessage::Completion(c)) => {
                        // The only invocation in flight: a Completion for another id is the
                        // target's bug, and waiting longer would not help.
                        return (c.invocation_id == "describe").then_some(c.result);
                    }
                    _ => continue,
                }
            }
        }
        .await;
        s.close(true).await;
        match described {
            Some(signalr_protocol::CompletionResult::Value(d)) => {
                info.features = d.get("features", false).and_then(Value::as_array).map(|a| {
                    a.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect()
                });
                let t = Timers::default();
                info.timers = Timers {
                    keep_alive_interval: describe_number(&d, "keepAliveIntervalMs").unwrap_or(t.keep_alive_interval),
                    client_timeout_interval: describe_number(&d, "clientTimeoutIntervalMs").unwrap_or(t.client_timeout_interval),
                    handshake_timeout: describe_number(&d, "handshakeTimeoutMs").unwrap_or(t.handshake_timeout),
                    disconnect_timeout: describe_number(&d, "disconnectTimeoutMs").unwrap_or(t.disconnect_timeout),
                };
                // Absent = ASP.NET Core's default; null = unlimited.
                info.max_message_size = match d.get("maximumReceiveMessageSize", false) {
                    None => Some(32_768),
                    Some(Value::Null) => None,
                    Some(v) => v.as_i64().map(|n| n.max(0) as u64),
                };
                info.detailed_errors = d.get("detailedErrors", false).and_then(Value::as_bool).unwrap_or(false);
                info.stateful_reconnect = d.get("statefulReconnect", false).and_then(Value::as_bool).unwrap_or(false);
                info.max_parallel_invocations = d
                    .get("maximumParallelInvocationsPerClient", false)
                    .and_then(Value::as_i64)
                    .map_or(1, |n| n.max(1) as u64);
                info.describe = Some(d);
            }
            Some(other) => info.notes.push(format!(
                "Describe() did not return a description ({other:?}): assuming ASP.NET Core defaults and every feature"
            )),
            None => info.notes.push(
                "could not call Describe(): assuming ASP.NET Core defaults and every feature".into(),
            ),
        }
    } else {
        info.notes
            .push("negotiate offered no usable transport".into());
    }
    Ok(info)
}

/// The HTTP client executions share (no redirects followed).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_default()
}

/// Why an execution is not run, if it is not.
pub fn gate(e: &Execution, info: &TargetInfo, opts: &RunOptions) -> Option<(Verdict, String)> {
    let c = &e.case;
    if c.tier == crate::cases::Tier::Slow && !opts.slow {
        return Some((Verdict::Skipped, "slow tier (run with --tier slow)".into()));
    }
    if let Some(w) = &c.waits {
        let ms = match w {
            Timing::Ms(ms) => *ms as f64,
            Timing::Expr(x) => timing::parse(x)
                .map(|e| e.eval(&info.timers))
                .unwrap_or(0.0),
        };
        let need = opts.scale(Duration::from_millis(ms as u64));
        if need > opts.scale(opts.slow_threshold) && !opts.slow {
            return Some((
                Verdict::Skipped,
                format!(
                    "waits {:.1} s with the target's timers; run with --tier slow (or start the target with shorter intervals)",
                    need.as_secs_f64()
                ),
            ));
        }
    }
    if let Some(t) = e.combo.transport {
        if let Err(reason) = info.supports(t, e.combo.protocol) {
            return Some((Verdict::Unimplemented, reason));
        }
    }
    for r in &c.requires {
        if let Err(reason) = info.has(r) {
            return Some((Verdict::Unimplemented, reason));
        }
    }
    None
}

/// Called after each execution finishes (progress bars).
pub type OnDone = Arc<dyn Fn(&Outcome) + Send + Sync>;

/// Runs every execution and collects the outcomes (sorted by name).
pub async fn run(
    executions: Vec<Execution>,
    info: Arc<TargetInfo>,
    opts: Arc<RunOptions>,
    on_done: Option<OnDone>,
) -> RunResult {
    let started = Instant::now();
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let jobs = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let exclusive = Arc::new(RwLock::new(()));
    let http = http_client();
    let mut handles = Vec::new();
    // Executions that wait out server timers first (longest first), so the short ones fill
    // the gaps; exclusive executions last, so the shared lock is not contended early.
    let waits = |e: &Execution| -> u64 {
        match &e.case.waits {
            Some(Timing::Ms(ms)) => *ms,
            Some(Timing::Expr(x)) => timing::parse(x)
                .map(|t| t.eval(&info.timers) as u64)
                .unwrap_or(0),
            None => 0,
        }
    };
    let (mut shared, mut alone): (Vec<_>, Vec<_>) =
        executions.into_iter().partition(|e| !e.case.exclusive);
    shared.sort_by_key(|e| std::cmp::Reverse(waits(e)));
    shared.append(&mut alone);
    for (uid, e) in shared.into_iter().enumerate() {
        let info = info.clone();
        let opts = opts.clone();
        let jobs = jobs.clone();
        let exclusive = exclusive.clone();
        let http = http.clone();
        let on_done = on_done.clone();
        let stopped = stopped.clone();
        let (stop_tx, stop_rx) = (stop_tx.clone(), stop_rx.clone());
        handles.push(tokio::spawn(async move {
            let halted =
                |s: &std::sync::atomic::AtomicBool| s.load(std::sync::atomic::Ordering::SeqCst);
            let not_run = || {
                exec::skipped(
                    &e,
                    Verdict::Skipped,
                    "not run: --fail-fast stopped the run after a failure".into(),
                )
            };
            let outcome = if let Some((verdict, reason)) = gate(&e, &info, &opts) {
                exec::skipped(&e, verdict, reason)
            } else {
                // Exclusive cases hold the write side: they run with nothing else in flight.
                let (_w, _r) = if e.case.exclusive {
                    (Some(exclusive.write().await), None)
                } else {
                    (None, Some(exclusive.read().await))
                };
                let _p = jobs.acquire().await;
                if halted(&stopped) {
                    not_run()
                } else {
                    run_stoppable(&e, &info, &opts, http, uid, Some(stop_rx)).await
                }
            };
            if opts.stop_when.as_ref().is_some_and(|f| f(&outcome)) {
                stopped.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = stop_tx.send(true);
            }
            if let Some(f) = &on_done {
                f(&outcome);
            }
            outcome
        }));
    }
    let mut outcomes = Vec::new();
    for h in handles {
        match h.await {
            Ok(o) => outcomes.push(o),
            Err(e) => tracing::error!("an execution task failed: {e}"),
        }
    }
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: TargetSummary {
            url: crate::client::transcript::redact_url(opts.target.hub_url.as_str()),
            embedded: opts.embedded,
            describe: info.describe.as_ref().map(|d| {
                serde_json::from_str(&signalr_protocol::json::value_to_string(
                    &signalr_protocol::notation::value_to_notation(d),
                ))
                .unwrap_or(serde_json::Value::Null)
            }),
            transports: info
                .transports
                .iter()
                .map(|(t, _)| t.name().to_owned())
                .collect(),
            notes: info.notes.clone(),
        },
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        strict: opts.strict,
        totals: Totals::of(&outcomes),
        outcomes,
    }
}

/// Runs one execution (no gating) with its own timeout; never panics.
pub async fn run_execution(
    e: &Execution,
    info: &Arc<TargetInfo>,
    opts: &Arc<RunOptions>,
    http: reqwest::Client,
    uid: usize,
) -> Outcome {
    run_one(e, info, opts, http, uid).await
}

async fn run_one(
    e: &Execution,
    info: &Arc<TargetInfo>,
    opts: &Arc<RunOptions>,
    http: reqwest::Client,
    uid: usize,
) -> Outcome {
    run_stoppable(e, info, opts, http, uid, None).await
}

async fn run_stoppable(
    e: &Execution,
    info: &Arc<TargetInfo>,
    opts: &Arc<RunOptions>,
    http: reqwest::Client,
    uid: usize,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> Outcome {
    let started = Instant::now();
    let transcript = Transcript::new();
    let (e2, info2, opts2, t2) = (e.clone(), info.clone(), opts.clone(), transcript.clone());
    let fut = async move { exec::execute(&e2, &info2, &opts2, http, t2, uid).await };
    // A panic or a hang in one execution must not take the run down.
    let mut handle = tokio::spawn(fut);
    let limit = opts.scale(opts.case_timeout);
    let stopped = async move {
        match stop {
            Some(mut rx) => {
                let _ = rx.wait_for(|s| *s).await;
            }
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = &mut handle => match r {
            Ok(r) => r,
            Err(join) => Err(exec::StepError::Error(format!("the harness failed: {join}"))),
        },
        _ = tokio::time::sleep(limit) => {
            handle.abort();
            Err(exec::StepError::Error(format!(
                "the execution did not finish within {:.0} s",
                limit.as_secs_f64()
            )))
        }
        _ = stopped => {
            handle.abort();
            return exec::skipped(e, Verdict::Skipped, "stopped: --fail-fast ended the run after a failure".into());
        }
    };
    exec::outcome(e, result, transcript, started.elapsed(), opts.trace_all)
}
