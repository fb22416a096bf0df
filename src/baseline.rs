//! Baselines of known failures: executions that are allowed to fail, and must keep failing.
//!
//! The file lists one execution name or glob per line (`#` starts a comment):
//!
//! ```text
//! # our server sends Pings only every 20 s
//! keepalive/ping-interval[websockets,json]
//! streaming/cancel-*
//! ```
//!
//! A listed execution that fails is a known failure (it does not fail the run); one that now
//! passes is stale and fails the run, so the baseline only ever shrinks.

use crate::cases::NameGlob;
use crate::result::{BaselineStatus, RunResult, Totals, Verdict};

/// A parsed baseline.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    entries: Vec<String>,
    globs: Vec<NameGlob>,
}

impl Baseline {
    /// Parses baseline text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        let mut globs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if line.contains(char::is_whitespace) {
                return Err(format!(
                    "line {}: '{line}' is not one execution name or glob",
                    i + 1
                ));
            }
            globs.push(NameGlob::new(line).map_err(|e| format!("line {}: {e}", i + 1))?);
            entries.push(line.to_owned());
        }
        Ok(Self { entries, globs })
    }

    /// The entries.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Marks known failures and stale entries; returns entries that matched no execution.
    pub fn apply(&self, r: &mut RunResult) -> Vec<String> {
        let mut matched = vec![false; self.entries.len()];
        for o in &mut r.outcomes {
            let Some(i) = self.globs.iter().position(|g| g.is_match(&o.name)) else {
                continue;
            };
            matched[i] = true;
            o.baseline = if o.verdict.is_broken() {
                Some(BaselineStatus::KnownFailure)
            } else if o.verdict == Verdict::Pass {
                Some(BaselineStatus::Stale)
            } else {
                None
            };
        }
        r.totals = Totals::of(&r.outcomes);
        self.entries
            .iter()
            .zip(matched)
            .filter(|(_, m)| !m)
            .map(|(e, _)| e.clone())
            .collect()
    }

    /// A baseline listing every execution of `r` that would fail a strict run.
    pub fn from_failures(r: &RunResult) -> String {
        let mut s = String::from(
            "# conform baseline: executions known to fail (one name or glob per line)\n",
        );
        for o in &r.outcomes {
            if o.verdict.fails_run(true) {
                s.push_str(&o.name);
                s.push('\n');
            }
        }
        s
    }
}
