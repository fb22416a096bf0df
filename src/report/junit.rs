//! JUnit XML: one `<testsuite>` per area, one `<testcase>` per execution, with `name`,
//! `classname` and `time` attributes (the Surefire schema CI systems read).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{area, escape_xml, failure_details};

/// Escapes text for an XML attribute: as element text, plus line breaks and tabs as
/// character references (a literal newline in an attribute is normalised to a space).
fn e(s: &str) -> String {
    escape_xml(s)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}
use crate::result::{BaselineStatus, Outcome, RunResult, Verdict};

/// The JUnit report.
pub fn junit(r: &RunResult) -> String {
    let mut suites: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in &r.outcomes {
        suites.entry(area(&o.name)).or_default().push(o);
    }
    let count = |os: &[&Outcome], f: &dyn Fn(&Outcome) -> bool| os.iter().filter(|o| f(o)).count();
    // What fails the run is a failure, or an error when the harness is to blame.
    let is_failure = |o: &Outcome| o.fails_run(r.strict) && o.verdict != Verdict::Error;
    let is_error = |o: &Outcome| o.fails_run(r.strict) && o.verdict == Verdict::Error;
    let is_skipped = |o: &Outcome| {
        matches!(o.verdict, Verdict::Skipped | Verdict::Unimplemented)
            || o.baseline == Some(BaselineStatus::KnownFailure)
    };
    let all: Vec<&Outcome> = r.outcomes.iter().collect();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        // No `skipped` here: junit-10.xsd (Jenkins xunit) does not allow it on <testsuites>.
        "<testsuites name=\"conform\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
        all.len(),
        count(&all, &is_failure),
        count(&all, &is_error),
        r.duration_ms as f64 / 1000.0
    );
    for (i, (name, os)) in suites.iter().enumerate() {
        let time: u64 = os.iter().map(|o| o.duration_ms).sum();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            e(name),
            os.len(),
            count(os, &is_failure),
            count(os, &is_error),
            count(os, &is_skipped),
            time as f64 / 1000.0
        );
        // The causes summary and a partial run, once, as properties of the first suite.
        if i == 0 && (!r.causes.is_empty() || r.stopped.is_some()) {
            let _ = writeln!(s, "    <properties>");
            if let Some(why) = &r.stopped {
                let _ = writeln!(s, "      <property name=\"partial\" value=\"{}\"/>", e(why));
            }
            for (n, c) in r.causes.iter().take(20).enumerate() {
                let _ = writeln!(
                    s,
                    "      <property name=\"cause.{}\" value=\"{} × {} (e.g. {})\"/>",
                    n + 1,
                    c.count,
                    e(&c.signature),
                    e(&c.example)
                );
            }
            let _ = writeln!(s, "    </properties>");
        }
        for o in os {
            let _ = write!(
                s,
                "    <testcase name=\"{}\" classname=\"conform.{}\" time=\"{:.3}\"",
                e(&o.name),
                e(name),
                o.duration_ms as f64 / 1000.0
            );
            let details = escape_xml(&failure_details(o, 200));
            let reason = e(o.reason.as_deref().unwrap_or(""));
            if is_failure(o) {
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"{}\" type=\"{}\">{details}</failure>\n    </testcase>",
                    reason,
                    o.verdict.label()
                );
            } else if is_error(o) {
                let _ = writeln!(s, ">\n      <error message=\"{reason}\" type=\"ERROR\">{details}</error>\n    </testcase>");
            } else if is_skipped(o) {
                let why = match o.baseline {
                    Some(BaselineStatus::KnownFailure) => format!(
                        "known failure (baseline): {}",
                        o.reason.as_deref().unwrap_or("")
                    ),
                    _ => format!(
                        "{}: {}",
                        o.verdict.label(),
                        o.reason.as_deref().unwrap_or("")
                    ),
                };
                let _ = writeln!(
                    s,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    e(&why)
                );
            } else if matches!(o.verdict, Verdict::NonStrict | Verdict::Informational) {
                let _ = writeln!(
                    s,
                    ">\n      <system-out>{details}</system-out>\n    </testcase>"
                );
            } else {
                let _ = writeln!(s, "/>");
            }
        }
        let _ = writeln!(s, "  </testsuite>");
    }
    s.push_str("</testsuites>\n");
    s
}
