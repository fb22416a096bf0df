//! Markdown for CI step summaries (`$GITHUB_STEP_SUMMARY`): a tally table, a per-area table
//! and the failures with their expected vs actual outcome (bounded in size).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::area;
use crate::result::{BaselineStatus, RunResult, Verdict};

/// GitHub truncates step summaries at 1 MiB; stay well below.
const MAX_FAILURES: usize = 100;

/// Longest text in a table cell.
const MAX_CELL: usize = 300;

/// Text for a table cell: HTML escaped (a target's `<body>` must not render), pipes escaped,
/// one line, at most [`MAX_CELL`] bytes with the size after a cut.
fn cell(s: &str) -> String {
    let s = crate::client::transcript::excerpt_to(s, MAX_CELL);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '`' => out.push_str("&#96;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The Markdown report.
pub fn markdown(r: &RunResult) -> String {
    let mut s = String::new();
    let status = if r.failed() { "❌ FAILED" } else { "✅ OK" };
    let _ = writeln!(s, "## conform: {status}\n");
    let _ = writeln!(
        s,
        "Target {}{} · {} executions in {:.1} s · conform {}\n",
        cell(&r.target.url),
        if r.target.embedded {
            " (embedded mock-hub)"
        } else {
            ""
        },
        r.outcomes.len(),
        r.duration_ms as f64 / 1000.0,
        r.tool_version
    );
    if let Some(why) = &r.stopped {
        let _ = writeln!(s, "> **Partial report:** {}\n", cell(why));
    }
    for n in &r.target.notes {
        let _ = writeln!(s, "> {}\n", cell(n));
    }
    if !r.causes.is_empty() {
        let _ = writeln!(
            s,
            "### Causes\n\n| Executions | Cases | What was seen | On | Example |\n|---:|---:|---|---|---|"
        );
        for c in r.causes.iter().take(20) {
            let mut on = c.transports.clone();
            on.extend(c.protocols.iter().cloned());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                c.count,
                c.cases,
                cell(&c.signature),
                cell(&on.join(", ")),
                cell(&c.example)
            );
        }
        if r.causes.len() > 20 {
            let _ = writeln!(s, "\n… and {} more cause(s).", r.causes.len() - 20);
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "| Verdict | Count |\n|---|---:|");
    for v in Verdict::ALL {
        let _ = writeln!(s, "| {} | {} |", v.label(), r.totals.get(v));
    }
    if r.totals.known_failures > 0 || r.totals.stale > 0 {
        let _ = writeln!(
            s,
            "| known failures (baseline) | {} |",
            r.totals.known_failures
        );
        let _ = writeln!(s, "| stale baseline entries | {} |", r.totals.stale);
    }
    let mut areas: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for o in &r.outcomes {
        let e = areas.entry(area(&o.name)).or_default();
        match o.verdict {
            Verdict::Pass => e[0] += 1,
            Verdict::Fail | Verdict::Error | Verdict::NonStrict => e[1] += 1,
            _ => e[2] += 1,
        }
    }
    let _ = writeln!(
        s,
        "\n| Area | Pass | Fail / Error / Non-strict | Other |\n|---|---:|---:|---:|"
    );
    for (a, [p, f, o]) in &areas {
        let _ = writeln!(s, "| {a} | {p} | {f} | {o} |");
    }
    let failures: Vec<_> = r
        .outcomes
        .iter()
        .filter(|o| {
            matches!(
                o.verdict,
                Verdict::Fail | Verdict::Error | Verdict::NonStrict
            ) || o.baseline == Some(BaselineStatus::Stale)
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\n### Failures\n");
        let _ = writeln!(
            s,
            "| Execution | Verdict | Level | Expected | Actual |\n|---|---|---|---|---|"
        );
        for o in failures.iter().take(MAX_FAILURES) {
            let (exp, act) = match &o.failure {
                Some(f) => (f.expected.as_str(), f.actual.as_str()),
                None => ("", o.reason.as_deref().unwrap_or("")),
            };
            let verdict = match o.baseline {
                Some(BaselineStatus::KnownFailure) => format!("{} (known)", o.verdict.label()),
                Some(BaselineStatus::Stale) => "STALE baseline".into(),
                None => o.verdict.label().into(),
            };
            let short = cell;
            let _ = writeln!(
                s,
                "| {} | {verdict} | {} | {} | {} |",
                cell(&o.name),
                o.level,
                short(exp),
                short(act)
            );
        }
        if failures.len() > MAX_FAILURES {
            let _ = writeln!(
                s,
                "\n… and {} more (see the JSON or HTML report).",
                failures.len() - MAX_FAILURES
            );
        }
    }
    s
}
