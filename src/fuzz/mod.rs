//! `conform fuzz`: property-based testing of a live server.
//!
//! Sequences of operations are generated with proptest ([`ops`], on the protocol crate's
//! exported strategies), turned by the oracle ([`model`]) into a case in the spec-cases format,
//! and run by the runner against the target like any other case. A sequence whose case does not
//! PASS is shrunk with proptest's shrinking (fewer operations, simpler values) to a minimal one
//! that still fails, and printed — or written with `--out` — as a case file that
//! `conform --cases DIR` replays. With a reference target the property is that both targets
//! give the same verdict. The properties and why each holds on ASP.NET Core: docs/fuzz.md.
//!
//! Memory stays bounded however long a run lasts: at most `jobs` sequences exist at a time, an execution's
//! transcript and the client's buffers are capped, and only counters outlive a run.

pub mod cli;
pub mod model;
pub mod ops;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use signalr_protocol::{HubProtocol, TransportKind};

use crate::cases;
use crate::result::{Outcome, Verdict};
use crate::runner::{self, RunOptions, TargetInfo};

pub use model::Facts;
pub use ops::{Caps, Sequence};

/// How to fuzz.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// The master seed; run `i` uses a seed derived from it and `i`.
    pub seed: u64,
    /// Most sequences to run.
    pub runs: u64,
    /// Stop starting sequences (and shrinking) after this long.
    pub time: Option<Duration>,
    /// Longest generated sequence (operations).
    pub max_len: usize,
    /// Most shrinking steps.
    pub max_shrink: u32,
    /// Longest shrinking may take (a failure that waits out server timers shrinks slowly).
    pub shrink_time: Duration,
    /// Re-runs of a failing sequence before shrinking: when none of them fails, the failure is
    /// reported as flaky (not reproduced) and the search goes on.
    pub replays: u32,
    /// Sequences run at a time (each on its own connections; a sequence that sends to every
    /// connection runs alone). Results are taken in run order, so the finding does not depend
    /// on it.
    pub jobs: usize,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            runs: 1000,
            time: None,
            max_len: 10,
            max_shrink: 500,
            shrink_time: Duration::from_secs(60),
            replays: 2,
            jobs: 4,
        }
    }
}

/// A target under test: run options (target URL, timeouts) and what its probe found.
#[derive(Clone)]
pub struct FuzzTarget {
    /// Options of its executions.
    pub opts: Arc<RunOptions>,
    /// Its `Describe()` and transports.
    pub info: Arc<TargetInfo>,
    /// An identical hub of its own for the sequences that must run alone (they send to every
    /// connection): they run there one at a time while the others go on here. Without it they
    /// run alone on this target, and every other sequence waits. `conform fuzz` starts one with
    /// an embedded mock-hub.
    pub alone: Option<Arc<FuzzTarget>>,
}

impl FuzzTarget {
    /// Probes the target of `opts`.
    pub async fn probe(opts: RunOptions) -> Result<Self, runner::ProbeError> {
        let opts = Arc::new(opts);
        let info = Arc::new(runner::probe(&opts).await?);
        Ok(Self {
            opts,
            info,
            alone: None,
        })
    }

    /// This target, with `twin` (an identical hub) for the sequences that must run alone.
    pub fn with_alone(mut self, twin: FuzzTarget) -> Self {
        self.alone = Some(Arc::new(twin));
        self
    }

    /// What the generator may use on this target.
    pub fn caps(&self) -> Caps {
        let i = &self.info;
        let mut combos = Vec::new();
        for (t, _) in &i.transports {
            for p in HubProtocol::ALL {
                // MessagePack is binary: never over Server-Sent Events.
                if !(*t == TransportKind::ServerSentEvents && p == HubProtocol::MessagePack) {
                    combos.push((*t, p));
                }
            }
        }
        Caps {
            combos,
            features: i
                .features
                .as_ref()
                .map(|f| f.iter().cloned().collect())
                .unwrap_or_else(|| vec!["echo".into()]),
            sequential: i.max_parallel_invocations == 1,
            default_size_limit: i.max_message_size == Some(32_768),
            short_timers: i.timers.keep_alive_interval <= 2_000.0
                && i.timers.client_timeout_interval <= 5_000.0
                && i.timers.handshake_timeout <= 5_000.0,
        }
    }

    fn facts(&self) -> Facts {
        Facts {
            sequential: self.info.max_parallel_invocations == 1,
        }
    }
}

/// What the generator may use on both targets.
pub fn common_caps(a: &Caps, b: &Caps) -> Caps {
    Caps {
        combos: a
            .combos
            .iter()
            .filter(|c| b.combos.contains(c))
            .copied()
            .collect(),
        features: a.features.iter().filter(|f| b.has(f)).cloned().collect(),
        sequential: a.sequential && b.sequential,
        default_size_limit: a.default_size_limit && b.default_size_limit,
        short_timers: a.short_timers && b.short_timers,
    }
}

/// One sequence's result on a target.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The verdict of its case.
    pub verdict: Verdict,
    /// Why, when it is not PASS: the failed expectation or the error.
    pub detail: String,
}

impl Checked {
    fn of(o: &Outcome) -> Self {
        let mut detail = String::new();
        if let Some(f) = &o.failure {
            detail = format!(
                "step {} ({}): expected {}; got {}",
                f.step, f.action, f.expected, f.actual
            );
        }
        if let Some(r) = &o.reason {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(r);
        }
        Self {
            verdict: o.verdict,
            detail,
        }
    }
}

/// A failing sequence, found and shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Which run (1-based) found it.
    pub run: u64,
    /// The seed of that run (`--seed` reproduces the whole search; this names the run).
    pub run_seed: u64,
    /// Operations in the sequence as generated.
    pub original_len: usize,
    /// Operations after shrinking.
    pub shrunk_len: usize,
    /// Shrinking steps tried.
    pub shrink_steps: u32,
    /// The minimal case (spec-cases TOML).
    pub case: String,
    /// Its id.
    pub case_id: String,
    /// Its result on the target.
    pub target: Checked,
    /// Its result on the reference, in differential mode.
    pub reference: Option<Checked>,
}

/// A failure that did not happen again when its sequence was re-run (a race in the target or
/// in the machine's timing: reported, not shrunk).
#[derive(Debug, Clone)]
pub struct Flaky {
    /// Which run (1-based) failed.
    pub run: u64,
    /// The seed of that run.
    pub run_seed: u64,
    /// Its result on the target (and reference) when it failed.
    pub target: Checked,
    /// Its result on the reference, in differential mode.
    pub reference: Option<Checked>,
    /// The case as generated (not shrunk).
    pub case: String,
}

/// Most runs started past the oldest result not yet taken.
const LOOKAHEAD: u64 = 64;

/// Most flaky failures a report keeps (the rest are only counted).
pub const MAX_FLAKY_KEPT: usize = 10;

/// The result of a fuzz run.
#[derive(Debug, Clone)]
pub struct FuzzReport {
    /// The master seed.
    pub seed: u64,
    /// Sequences run before stopping (shrinking not counted).
    pub runs: u64,
    /// Operations in those sequences.
    pub operations: u64,
    /// Wall time of the search (without shrinking).
    pub search_time: Duration,
    /// Wall time in all.
    pub total_time: Duration,
    /// The first failure, shrunk.
    pub finding: Option<Finding>,
    /// The run stopped at `--time` before `--runs`.
    pub stopped_by_time: bool,
    /// Failures that did not reproduce on re-running (the first [`MAX_FLAKY_KEPT`]).
    pub flaky: Vec<Flaky>,
    /// How many failures did not reproduce.
    pub flaky_count: u64,
}

impl FuzzReport {
    /// Sequences per minute of the search.
    pub fn per_minute(&self) -> f64 {
        let s = self.search_time.as_secs_f64();
        if s > 0.0 {
            self.runs as f64 * 60.0 / s
        } else {
            0.0
        }
    }

    /// The JSON form (`--json`).
    pub fn to_json(&self) -> serde_json::Value {
        let checked =
            |c: &Checked| serde_json::json!({ "verdict": c.verdict.label(), "detail": c.detail });
        serde_json::json!({
            "seed": self.seed,
            "runs": self.runs,
            "operations": self.operations,
            "searchSeconds": self.search_time.as_secs_f64(),
            "totalSeconds": self.total_time.as_secs_f64(),
            "sequencesPerMinute": self.per_minute(),
            "stoppedByTime": self.stopped_by_time,
            "passed": self.finding.is_none() && self.flaky_count == 0,
            "flakyCount": self.flaky_count,
            "flaky": self.flaky.iter().map(|f| serde_json::json!({
                "run": f.run,
                "runSeed": f.run_seed,
                "target": checked(&f.target),
                "reference": f.reference.as_ref().map(checked),
                "case": f.case,
            })).collect::<Vec<_>>(),
            "finding": self.finding.as_ref().map(|f| serde_json::json!({
                "run": f.run,
                "runSeed": f.run_seed,
                "originalLength": f.original_len,
                "shrunkLength": f.shrunk_len,
                "shrinkSteps": f.shrink_steps,
                "caseId": f.case_id,
                "case": f.case,
                "target": checked(&f.target),
                "reference": f.reference.as_ref().map(checked),
            })),
        })
    }
}

/// The seed of run `i` of a search with master seed `seed` (splitmix64).
pub fn run_seed(seed: u64, i: u64) -> u64 {
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rng_for(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&run_seed(seed, i as u64).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Generates run `i`'s sequence exactly as [`fuzz`] does (for reproducing one run).
pub fn generate(caps: &Caps, o: &FuzzOptions, i: u64) -> Option<Sequence> {
    let strategy = ops::sequence(caps, o.max_len);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(run_seed(o.seed, i)));
    strategy.new_tree(&mut runner).ok().map(|t| t.current())
}

/// The case id of a finding.
fn case_id(seed: u64, run: u64) -> String {
    format!("fuzz/seed-{seed}-run-{run}")
}

struct Checker {
    target: FuzzTarget,
    reference: Option<FuzzTarget>,
    facts: Facts,
    http: reqwest::Client,
    uid: AtomicUsize,
    /// Held shared by a sequence, alone by one that sends to every connection (`exclusive`)
    /// when its target has no twin for such sequences.
    gate: tokio::sync::RwLock<()>,
    /// Held by a sequence that runs on a target's twin ([`FuzzTarget::alone`]).
    alone: tokio::sync::Mutex<()>,
}

impl Checker {
    async fn run_on(&self, t: &FuzzTarget, text: &str) -> Checked {
        let uid = self.uid.fetch_add(1, Ordering::Relaxed) + 1;
        let parsed = cases::parse_file("fuzz", text);
        let execution = parsed.map_err(|e| e.to_string()).and_then(|c| {
            cases::expand(&c)
                .into_iter()
                .next()
                .ok_or_else(|| "no execution".to_owned())
        });
        match execution {
            Ok(e) => {
                let o = if let (true, Some(twin)) = (e.case.exclusive, &t.alone) {
                    let _one = self.alone.lock().await;
                    runner::run_execution(&e, &twin.info, &twin.opts, self.http.clone(), uid).await
                } else if e.case.exclusive {
                    let _alone = self.gate.write().await;
                    runner::run_execution(&e, &t.info, &t.opts, self.http.clone(), uid).await
                } else {
                    let _shared = self.gate.read().await;
                    runner::run_execution(&e, &t.info, &t.opts, self.http.clone(), uid).await
                };
                Checked::of(&o)
            }
            Err(e) => Checked {
                verdict: Verdict::Error,
                detail: format!("the generated case does not load (a fuzzer bug): {e}"),
            },
        }
    }

    /// `(fails, on target, on reference)`.
    async fn check(&self, seq: &Sequence, id: &str) -> (bool, Checked, Option<Checked>) {
        let text = model::case_text(seq, self.facts, id, "");
        let a = self.run_on(&self.target, &text).await;
        match &self.reference {
            None => (a.verdict != Verdict::Pass, a, None),
            Some(r) => {
                let b = self.run_on(r, &text).await;
                (a.verdict != b.verdict, a, Some(b))
            }
        }
    }
}

/// Runs the search: sequences until one fails (then shrinks it), `runs` are done or `time` is up.
pub async fn fuzz(
    target: &FuzzTarget,
    reference: Option<&FuzzTarget>,
    o: &FuzzOptions,
    mut progress: impl FnMut(u64),
) -> FuzzReport {
    let started = Instant::now();
    let deadline = o.time.map(|t| started + t);
    let time_up = || deadline.is_some_and(|d| Instant::now() >= d);
    let caps = match reference {
        Some(r) => common_caps(&target.caps(), &r.caps()),
        None => target.caps(),
    };
    let facts = Facts {
        sequential: target.facts().sequential && reference.is_none_or(|r| r.facts().sequential),
    };
    let checker = Arc::new(Checker {
        target: target.clone(),
        reference: reference.cloned(),
        facts,
        http: runner::http_client(),
        uid: AtomicUsize::new(0),
        gate: tokio::sync::RwLock::new(()),
        alone: tokio::sync::Mutex::new(()),
    });
    let strategy = ops::sequence(&caps, o.max_len);
    let mut report = FuzzReport {
        seed: o.seed,
        runs: 0,
        operations: 0,
        search_time: Duration::ZERO,
        total_time: Duration::ZERO,
        finding: None,
        stopped_by_time: false,
        flaky: Vec::new(),
        flaky_count: 0,
    };
    // `jobs` sequences running; results taken in run order from those done. A slow sequence (a
    // timer operation waits seconds) holds one job, not the window: the others go on, up to
    // LOOKAHEAD runs past the oldest result not yet taken (which bounds the results held).
    let mut running = FuturesUnordered::new();
    let mut done = std::collections::BTreeMap::new();
    let mut next = 0u64;
    let mut take = 0u64;
    loop {
        while running.len() < o.jobs.max(1) && next < o.runs && next - take < LOOKAHEAD {
            if time_up() {
                report.stopped_by_time = true;
                break;
            }
            let i = next;
            next += 1;
            let strategy = &strategy;
            let checker = checker.clone();
            running.push(async move {
                let seed = run_seed(o.seed, i);
                let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(seed));
                let Ok(tree) = strategy.new_tree(&mut runner) else {
                    return (i, None);
                };
                let seq = tree.current();
                let id = case_id(o.seed, i + 1);
                // The case is written, loaded and run on a task of its own: `jobs` sequences use
                // every core, not only the one polling this window.
                let (seq2, id2) = (seq.clone(), id.clone());
                let (fails, a, b) =
                    match tokio::spawn(async move { checker.check(&seq2, &id2).await }).await {
                        Ok(r) => r,
                        Err(e) => (
                            true,
                            Checked {
                                verdict: Verdict::Error,
                                detail: format!("the harness failed: {e}"),
                            },
                            None,
                        ),
                    };
                (i, Some((seed, tree, seq, id, fails, a, b)))
            });
        }
        let Some(result) = done.remove(&take) else {
            match running.next().await {
                Some((i, r)) => {
                    done.insert(i, r);
                    continue;
                }
                None => break,
            }
        };
        let i = take;
        take += 1;
        let Some((seed, mut tree, seq, id, fails, a, b)) = result else {
            continue;
        };
        report.runs += 1;
        report.operations += seq.ops.len() as u64;
        progress(report.runs);
        if !fails {
            continue;
        }
        // Later sequences already started finish before anything else runs (their results
        // are not taken: the first failure in run order is the one reported).
        while running.next().await.is_some() {}
        done.clear();
        // Re-run before shrinking: a failure that does not happen again is reported as flaky,
        // not shrunk (shrinking would chase noise), and the search goes on.
        let mut reproduced = false;
        for _ in 0..o.replays {
            if checker.check(&seq, &id).await.0 {
                reproduced = true;
                break;
            }
        }
        if !reproduced && o.replays > 0 {
            report.flaky_count += 1;
            // The search goes on from the next run (those started meanwhile were dropped).
            next = i + 1;
            if report.flaky.len() < MAX_FLAKY_KEPT {
                report.flaky.push(Flaky {
                    run: i + 1,
                    run_seed: seed,
                    target: a,
                    reference: b,
                    case: model::case_text(&seq, facts, &id, ""),
                });
            }
            continue;
        }
        report.search_time = started.elapsed();
        // proptest's shrinking: simplify while it still fails, complicate back when it passes.
        let original_len = seq.ops.len();
        let (mut best, mut best_a, mut best_b) = (seq, a, b);
        let mut steps = 0u32;
        let shrink_deadline = Instant::now() + o.shrink_time;
        if tree.simplify() {
            loop {
                if steps >= o.max_shrink || time_up() || Instant::now() >= shrink_deadline {
                    break;
                }
                steps += 1;
                let cur = tree.current();
                let (fails, a, b) = checker.check(&cur, &id).await;
                if fails {
                    (best, best_a, best_b) = (cur, a, b);
                    if !tree.simplify() {
                        break;
                    }
                } else if !tree.complicate() {
                    break;
                }
            }
        }
        let comment = format!(
            "# Found by `conform fuzz --seed {}` at run {} ({} operations, shrunk to {} in {} steps).\n# Replay: conform --cases DIR (this file in DIR).",
            o.seed,
            i + 1,
            original_len,
            best.ops.len(),
            steps
        );
        report.finding = Some(Finding {
            run: i + 1,
            run_seed: seed,
            original_len,
            shrunk_len: best.ops.len(),
            shrink_steps: steps,
            case: model::case_text(&best, facts, &id, &comment),
            case_id: id,
            target: best_a,
            reference: best_b,
        });
        report.total_time = started.elapsed();
        return report;
    }
    report.search_time = started.elapsed();
    report.total_time = report.search_time;
    report
}
