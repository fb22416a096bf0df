//! What a run produced: one [`Outcome`] per execution, read by every reporter.
//! The JSON report is this structure (`schema_version` 1; see `docs/report-schema.md`).
//!
//! - [`verdict`]: verdicts and the one policy of which ones fail a run.
//! - [`event`]: transcript lines, as recorded by the client and shown by the reports.

pub mod event;
pub mod verdict;

use serde::Serialize;

use crate::cases::Level;
pub use event::{Direction, Event};
pub use verdict::Verdict;

/// Version of the JSON report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// Where and how a case failed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// 1-based step number.
    pub step: usize,
    /// The step's action (`expect`, `expect_http` …).
    pub action: String,
    /// The accepted outcome(s).
    pub expected: String,
    /// What was seen.
    pub actual: String,
}

/// Baseline bookkeeping for one execution.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineStatus {
    /// Listed as known failing, and it still fails.
    KnownFailure,
    /// Listed as known failing, but it passes now: the baseline is stale.
    Stale,
}

/// The result of one execution.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// `area/case[transport,protocol]`.
    pub name: String,
    /// The case id.
    pub case_id: String,
    /// The case title.
    pub title: String,
    /// The requirement checked.
    pub requirement: String,
    /// Its level.
    pub level: Level,
    /// Its reference.
    pub reference: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Transport (`websockets`, `sse`, `longpolling`), if any.
    pub transport: Option<String>,
    /// Protocol (`json`, `messagepack`), if any.
    pub protocol: Option<String>,
    /// Negotiate version.
    pub negotiate_version: i32,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it was skipped / unimplemented / errored, or a summary of the failure.
    pub reason: Option<String>,
    /// Failure details.
    pub failure: Option<Failure>,
    /// Baseline status.
    pub baseline: Option<BaselineStatus>,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The wire transcript (kept for everything but passes unless `--trace`).
    pub transcript: Vec<Event>,
    /// It did not pass because the target answered nothing at all (the circuit breaker's
    /// signal; not in the JSON report).
    #[serde(skip)]
    pub target_silent: bool,
}

/// Counts per verdict.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// PASS.
    pub pass: usize,
    /// FAIL.
    pub fail: usize,
    /// NON-STRICT.
    pub non_strict: usize,
    /// INFORMATIONAL.
    pub informational: usize,
    /// UNIMPLEMENTED.
    pub unimplemented: usize,
    /// SKIPPED.
    pub skipped: usize,
    /// ERROR.
    pub error: usize,
    /// Known failures from the baseline (counted in `fail`/`non_strict` too).
    pub known_failures: usize,
    /// Stale baseline entries.
    pub stale: usize,
}

impl Totals {
    /// Counts `outcomes`.
    pub fn of(outcomes: &[Outcome]) -> Totals {
        let mut t = Totals::default();
        for o in outcomes {
            match o.verdict {
                Verdict::Pass => t.pass += 1,
                Verdict::Fail => t.fail += 1,
                Verdict::NonStrict => t.non_strict += 1,
                Verdict::Informational => t.informational += 1,
                Verdict::Unimplemented => t.unimplemented += 1,
                Verdict::Skipped => t.skipped += 1,
                Verdict::Error => t.error += 1,
            }
            match o.baseline {
                Some(BaselineStatus::KnownFailure) => t.known_failures += 1,
                Some(BaselineStatus::Stale) => t.stale += 1,
                None => {}
            }
        }
        t
    }

    /// Count of one verdict.
    pub fn get(&self, v: Verdict) -> usize {
        match v {
            Verdict::Pass => self.pass,
            Verdict::Fail => self.fail,
            Verdict::NonStrict => self.non_strict,
            Verdict::Informational => self.informational,
            Verdict::Unimplemented => self.unimplemented,
            Verdict::Skipped => self.skipped,
            Verdict::Error => self.error,
        }
    }
}

/// What the target said about itself.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TargetSummary {
    /// The hub URL.
    pub url: String,
    /// Whether the embedded mock-hub was used.
    pub embedded: bool,
    /// `Describe()` result in notation, if the target implements it.
    pub describe: Option<serde_json::Value>,
    /// Transports negotiate offered.
    pub transports: Vec<String>,
    /// Notes from probing (e.g. "no Describe method: assuming ASP.NET Core defaults").
    pub notes: Vec<String>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Report schema version.
    pub schema_version: u32,
    /// `conform` version.
    pub tool_version: String,
    /// The target.
    pub target: TargetSummary,
    /// Start time, seconds since the Unix epoch.
    pub started_at: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// `--strict` was given (NON-STRICT fails the run).
    pub strict: bool,
    /// Why the run stopped early (`--fail-fast`, the circuit breaker, Ctrl-C); the report is
    /// then partial: executions not run are SKIPPED. `null` for a complete run.
    pub stopped: Option<String>,
    /// Counts.
    pub totals: Totals,
    /// Every execution, sorted by name.
    pub outcomes: Vec<Outcome>,
}

impl Outcome {
    /// Whether this execution fails the run: its verdict does ([`Verdict::fails_run`]) and
    /// the baseline does not list it as a known failure, or its baseline entry is stale.
    pub fn fails_run(&self, strict: bool) -> bool {
        match self.baseline {
            Some(BaselineStatus::KnownFailure) => false,
            Some(BaselineStatus::Stale) => true,
            None => self.verdict.fails_run(strict),
        }
    }
}

impl RunResult {
    /// Whether the run fails CI: an execution fails it ([`Outcome::fails_run`]).
    pub fn failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.fails_run(self.strict))
    }
}
