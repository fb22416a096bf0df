//! Verdicts, and the one policy of which verdicts fail a run.

use serde::Serialize;

use crate::cases::Level;

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
    /// How bad the verdict is, for picking the worst of several (a case's row in a report):
    /// PASS < SKIPPED < UNIMPLEMENTED < INFORMATIONAL < NON-STRICT < ERROR < FAIL.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Skipped => 1,
            Verdict::Unimplemented => 2,
            Verdict::Informational => 3,
            Verdict::NonStrict => 4,
            Verdict::Error => 5,
            Verdict::Fail => 6,
        }
    }

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

    /// Whether this verdict fails a run: FAIL and ERROR always, NON-STRICT with `--strict`.
    /// Every "does it fail?" question (exit code, `--fail-fast`, JUnit, baselines) asks this.
    pub fn fails_run(self, strict: bool) -> bool {
        match self {
            Verdict::Fail | Verdict::Error => true,
            Verdict::NonStrict => strict,
            Verdict::Pass | Verdict::Informational | Verdict::Unimplemented | Verdict::Skipped => {
                false
            }
        }
    }

    /// Whether the execution ran and its requirement did not hold (or the harness failed):
    /// what a baseline can list as a known failure.
    pub fn is_broken(self) -> bool {
        match self {
            Verdict::Fail | Verdict::NonStrict | Verdict::Informational | Verdict::Error => true,
            Verdict::Pass | Verdict::Unimplemented | Verdict::Skipped => false,
        }
    }

    /// The verdict for a broken requirement of `level`.
    pub fn for_broken(level: Level) -> Verdict {
        match level {
            Level::Must => Verdict::Fail,
            Level::Should => Verdict::NonStrict,
            Level::May => Verdict::Informational,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fails_a_run() {
        let failing = |strict: bool| -> Vec<Verdict> {
            Verdict::ALL
                .into_iter()
                .filter(|v| v.fails_run(strict))
                .collect()
        };
        assert_eq!(failing(false), [Verdict::Fail, Verdict::Error]);
        assert_eq!(
            failing(true),
            [Verdict::Fail, Verdict::NonStrict, Verdict::Error]
        );
        let broken: Vec<Verdict> = Verdict::ALL.into_iter().filter(|v| v.is_broken()).collect();
        assert_eq!(
            broken,
            [
                Verdict::Fail,
                Verdict::NonStrict,
                Verdict::Informational,
                Verdict::Error
            ]
        );
    }
}
