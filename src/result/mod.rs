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
    /// The case's step, 1-based; 0 is the implicit connect before step 1 (action `connect`).
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
    /// The target sent something over a transport or answered a request other than
    /// negotiate (resets the circuit breaker's count; not in the JSON report).
    #[serde(skip)]
    pub target_answered: bool,
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
    /// The failures grouped by cause (normalised failure signature), most frequent first: a
    /// server with two defects shows two headlines, not hundreds of rows.
    pub causes: Vec<Cause>,
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

/// Failing executions that share one normalised failure signature.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cause {
    /// The step action and what was seen, with numbers and ids normalised.
    pub signature: String,
    /// Failing executions with this signature.
    pub count: usize,
    /// Distinct cases among them.
    pub cases: usize,
    /// Transports they ran on.
    pub transports: Vec<String>,
    /// Protocols they used.
    pub protocols: Vec<String>,
    /// One of them, to start from.
    pub example: String,
}

/// The signature of a failure: digits become `N`, long ids `…`, at most 160 characters.
fn signature(o: &Outcome) -> String {
    let (action, seen) = match &o.failure {
        Some(f) => (f.action.as_str(), f.actual.as_str()),
        None => (o.verdict.label(), o.reason.as_deref().unwrap_or("")),
    };
    let mut out = String::with_capacity(seen.len().min(200));
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() >= 16 && word.chars().any(|c| c.is_ascii_digit()) {
            out.push('…');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    let mut last_digit = false;
    for c in seen.chars().take(400) {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        out.push(c);
    }
    flush(&mut word, &mut out);
    // Numbers last, so that ids were judged whole.
    let mut norm = String::with_capacity(out.len());
    for c in out.chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                norm.push('N');
            }
            last_digit = true;
        } else {
            last_digit = false;
            norm.push(c);
        }
    }
    let norm = norm.trim();
    let mut cut = norm.len().min(160);
    while !norm.is_char_boundary(cut) {
        cut -= 1;
    }
    let more = if cut < norm.len() { "…" } else { "" };
    format!("{action}: {}{more}", &norm[..cut])
}

/// Groups the failing executions (FAIL, ERROR, NON-STRICT) by [`signature`], most frequent
/// first.
pub fn causes(outcomes: &[Outcome]) -> Vec<Cause> {
    let mut by: std::collections::BTreeMap<String, Cause> = std::collections::BTreeMap::new();
    let mut case_ids: std::collections::BTreeMap<String, std::collections::BTreeSet<&str>> =
        Default::default();
    for o in outcomes {
        if !matches!(
            o.verdict,
            Verdict::Fail | Verdict::Error | Verdict::NonStrict
        ) {
            continue;
        }
        let sig = signature(o);
        let c = by.entry(sig.clone()).or_insert_with(|| Cause {
            signature: sig.clone(),
            count: 0,
            cases: 0,
            transports: Vec::new(),
            protocols: Vec::new(),
            example: o.name.clone(),
        });
        c.count += 1;
        for (list, v) in [
            (&mut c.transports, &o.transport),
            (&mut c.protocols, &o.protocol),
        ] {
            if let Some(v) = v {
                if !list.contains(v) {
                    list.push(v.clone());
                    list.sort();
                }
            }
        }
        let ids = case_ids.entry(sig).or_default();
        ids.insert(&o.case_id);
        c.cases = ids.len();
    }
    let mut v: Vec<Cause> = by.into_values().collect();
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.signature.cmp(&b.signature))
    });
    v
}

impl RunResult {
    /// Whether the run fails CI: an execution fails it ([`Outcome::fails_run`]).
    pub fn failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.fails_run(self.strict))
    }
}
