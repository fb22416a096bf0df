//! What a run produced: one [`Outcome`] per execution, read by every reporter.
//! The JSON report is this structure (`schema_version` 1; see `docs/report-schema.md`).

use serde::Serialize;

use crate::cases::Level;
use crate::client::transcript::Event;

/// Version of the JSON report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The verdict of one execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Verdict {
    /// The requirement holds.
    #[serde(rename = "PASS")]
    Pass,
    /// A SHOULD requirement is broken.
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    /// A MAY requirement is broken (reported, never fails a run).
    #[serde(rename = "INFORMATIONAL")]
    Informational,
    /// The target lacks a capability the case needs.
    #[serde(rename = "UNIMPLEMENTED")]
    Unimplemented,
    /// Not run (tier, filter).
    #[serde(rename = "SKIPPED")]
    Skipped,
    /// A MUST requirement is broken.
    #[serde(rename = "FAIL")]
    Fail,
    /// The harness or the network failed; says nothing about conformance.
    #[serde(rename = "ERROR")]
    Error,
}

impl Verdict {
    /// The label used in reports.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Informational => "INFORMATIONAL",
            Verdict::Unimplemented => "UNIMPLEMENTED",
            Verdict::Skipped => "SKIPPED",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        }
    }

    /// Every verdict in report order.
    pub const ALL: [Verdict; 7] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::NonStrict,
        Verdict::Informational,
        Verdict::Unimplemented,
        Verdict::Skipped,
        Verdict::Error,
    ];

    /// The verdict for a broken requirement of `level`.
    pub fn for_broken(level: Level) -> Verdict {
        match level {
            Level::Must => Verdict::Fail,
            Level::Should => Verdict::NonStrict,
            Level::May => Verdict::Informational,
        }
    }
}

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
    /// Counts.
    pub totals: Totals,
    /// Every execution, sorted by name.
    pub outcomes: Vec<Outcome>,
}

impl RunResult {
    /// Whether the run fails CI: a FAIL or ERROR that is not a known failure, a NON-STRICT in
    /// strict mode, or a stale baseline entry.
    pub fn failed(&self) -> bool {
        self.outcomes.iter().any(|o| {
            let known = o.baseline == Some(BaselineStatus::KnownFailure);
            match o.verdict {
                Verdict::Fail | Verdict::Error => !known,
                Verdict::NonStrict => self.strict && !known,
                _ => o.baseline == Some(BaselineStatus::Stale),
            }
        })
    }
}
