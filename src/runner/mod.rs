//! Runs executions against a target: probes what it offers, gates what it cannot run,
//! schedules in parallel (exclusive cases alone), applies timeouts and decides verdicts.
//!
//! - [`probe`]: what the target offers ([`TargetInfo`]), from negotiate and `Describe()`.
//! - [`gate`]: why an execution is not run (tier, transport, capability).
//! - `actions`: runs an execution's steps, one module per step action.
//! - `context`: one execution's state and the helpers every action shares.
//! - `outcome`: from a step error to a verdict.

mod actions;
mod context;
pub mod gate;
mod outcome;
pub mod probe;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{RwLock, Semaphore};

use crate::cases::Execution;
use crate::client::{Target, Transcript};
use crate::result::{Outcome, RunResult, TargetSummary, Totals, Verdict, SCHEMA_VERSION};
pub use gate::gate;
use outcome::StepError;
pub use probe::{probe, ProbeError, TargetInfo};

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// The target.
    pub target: Target,
    /// Other nodes of the same scaled-out hub (`--peer`): a connect step's `node = N` is
    /// `peers[N-1]`.
    pub peers: Vec<Target>,
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
    /// Stops the run from outside (Ctrl-C): executions in flight end, the rest are SKIPPED,
    /// and the result is marked partial with the reason given.
    pub stop: Stop,
    /// The circuit breaker: after this many executions in a row that failed waiting for a
    /// target that answered nothing at all, the run stops (`None`: never).
    pub breaker: Option<usize>,
}

/// Executions in a row that found the target silent before the run stops.
pub const BREAKER_THRESHOLD: usize = 8;

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// `--fail-fast` (or a test's stop predicate).
    FailFast,
    /// The circuit breaker: the target answered nothing.
    Breaker,
    /// Interrupted from outside (Ctrl-C).
    Interrupted,
}

/// Ends a run early, once, with a reason (shared by `--fail-fast`, the circuit breaker and
/// Ctrl-C).
#[derive(Clone)]
pub struct Stop(Arc<StopInner>);

type StopInner = (
    std::sync::OnceLock<(StopKind, String)>,
    tokio::sync::watch::Sender<bool>,
);

impl Default for Stop {
    fn default() -> Self {
        Self(Arc::new((
            std::sync::OnceLock::new(),
            tokio::sync::watch::channel(false).0,
        )))
    }
}

impl Stop {
    /// Stops the run; the first reason given wins.
    pub fn stop(&self, kind: StopKind, reason: impl Into<String>) {
        let _ = self.0 .0.set((kind, reason.into()));
        self.0 .1.send_replace(true);
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<&str> {
        self.0 .0.get().map(|(_, r)| r.as_str())
    }

    /// What stopped the run, if anything did.
    pub fn kind(&self) -> Option<StopKind> {
        self.0 .0.get().map(|(k, _)| *k)
    }

    async fn stopped(&self) {
        let mut rx = self.0 .1.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// A predicate on outcomes that stops a run.
pub type StopWhen = Arc<dyn Fn(&Outcome) -> bool + Send + Sync>;

impl RunOptions {
    /// Defaults for `target`.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            peers: Vec::new(),
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
            stop: Stop::default(),
            breaker: Some(BREAKER_THRESHOLD),
        }
    }

    /// `--fail-fast`: stop once an execution fails the run ([`Verdict::fails_run`]).
    pub fn stop_on_failure(&mut self) {
        let strict = self.strict;
        self.stop_when = Some(Arc::new(move |o: &Outcome| o.verdict.fails_run(strict)));
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

/// The HTTP client executions share (no redirects followed).
pub fn http_client() -> reqwest::Client {
    http_client_for(&crate::client::Tls::default())
}

/// The HTTP client executions share, checking certificates as `tls` says.
pub fn http_client_for(tls: &crate::client::Tls) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(120))
        .danger_accept_invalid_certs(tls.insecure);
    for c in &tls.ca_certs {
        b = b.add_root_certificate(c.clone());
    }
    b.build().unwrap_or_default()
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
    let stop = opts.stop.clone();
    // Executions in a row that found the target silent (the circuit breaker's count).
    let silent_streak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let exclusive = Arc::new(RwLock::new(()));
    let http = http_client_for(&opts.target.tls);
    let mut handles = Vec::new();
    // Executions that wait out server timers first (longest first), so the short ones fill
    // the gaps; exclusive executions last, so the shared lock is not contended early.
    let waits = |e: &Execution| -> u64 {
        e.case
            .waits
            .as_ref()
            .map_or(0, |w| w.millis(&info.timers) as u64)
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
        let stop = stop.clone();
        let silent_streak = silent_streak.clone();
        handles.push(tokio::spawn(async move {
            let not_run =
                |why: &str| outcome::skipped(&e, Verdict::Skipped, format!("not run: {why}"));
            let outcome = if let Some((verdict, reason)) = gate(&e, &info, &opts) {
                outcome::skipped(&e, verdict, reason)
            } else {
                // Exclusive cases hold the write side: they run with nothing else in flight.
                let (_w, _r) = if e.case.exclusive {
                    (Some(exclusive.write().await), None)
                } else {
                    (None, Some(exclusive.read().await))
                };
                let _p = jobs.acquire().await;
                if let Some(why) = stop.reason() {
                    not_run(why)
                } else {
                    let o = run_stoppable(&e, &info, &opts, http, uid, Some(stop.clone())).await;
                    if let Some(limit) = opts.breaker {
                        if o.target_silent {
                            let n =
                                silent_streak.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                            if n >= limit {
                                stop.stop(
                                    StopKind::Breaker,
                                    format!(
                                        "the target answered nothing in {n} executions in a row \
                                     (no response, no upgrade, no message before the timeouts): \
                                     the run was stopped instead of waiting out every case"
                                    ),
                                );
                            }
                        } else if o.target_answered {
                            silent_streak.store(0, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                    o
                }
            };
            if opts.stop_when.as_ref().is_some_and(|f| f(&outcome)) {
                stop.stop(
                    StopKind::FailFast,
                    "--fail-fast stopped the run after a failure",
                );
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
        stopped: stop.reason().map(str::to_owned),
        totals: Totals::of(&outcomes),
        causes: crate::result::causes(&outcomes),
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
    run_stoppable(e, info, opts, http, uid, None).await
}

async fn run_stoppable(
    e: &Execution,
    info: &Arc<TargetInfo>,
    opts: &Arc<RunOptions>,
    http: reqwest::Client,
    uid: usize,
    stop: Option<Stop>,
) -> Outcome {
    let started = Instant::now();
    let transcript = Transcript::new();
    let (e2, info2, opts2, t2) = (e.clone(), info.clone(), opts.clone(), transcript.clone());
    let fut = async move { actions::execute(&e2, &info2, &opts2, http, t2, uid).await };
    // A panic or a hang in one execution must not take the run down.
    let mut handle = tokio::spawn(fut);
    let limit = opts.scale(opts.case_timeout);
    let stop2 = stop.clone();
    let stopped = async move {
        match stop2 {
            Some(s) => s.stopped().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = &mut handle => match r {
            Ok(r) => r,
            Err(join) => Err(StepError::Error(format!("the harness failed: {join}"))),
        },
        _ = tokio::time::sleep(limit) => {
            handle.abort();
            transcript.mark(crate::client::transcript::Mark::WaitedOut);
            Err(StepError::Error(format!(
                "the execution did not finish within {:.0} s",
                limit.as_secs_f64()
            )))
        }
        _ = stopped => {
            handle.abort();
            let why = stop.as_ref().and_then(Stop::reason).unwrap_or("the run was stopped");
            return outcome::skipped(e, Verdict::Skipped, format!("stopped while running: {why}"));
        }
    };
    outcome::outcome(e, result, transcript, started.elapsed(), opts.trace_all)
}
