//! The terminal report: one line per case (its combinations folded), failure details with
//! requirement, accepted vs actual outcome and transcript, and a tally line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::transcript_lines;
use crate::result::{BaselineStatus, Outcome, RunResult, Verdict};

static COLOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the terminal report colours verdicts (`--color`, `NO_COLOR`); off by default.
pub fn set_color(on: bool) {
    COLOR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// `text` (a verdict label, maybe padded) in its verdict's colour, when colours are on.
fn paint(v: Verdict, text: &str) -> String {
    if !COLOR.load(std::sync::atomic::Ordering::Relaxed) {
        return text.to_owned();
    }
    let code = match v {
        Verdict::Pass => "32",
        Verdict::Fail | Verdict::Error => "1;31",
        Verdict::NonStrict => "33",
        Verdict::Informational => "36",
        Verdict::Unimplemented | Verdict::Skipped => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// [`failure_details`] with its verdict painted.
fn details(o: &Outcome, max_transcript: usize) -> String {
    let d = failure_details(o, max_transcript);
    let label = o.verdict.label();
    match d.strip_prefix(label) {
        Some(rest) => format!("{}{rest}", paint(o.verdict, label)),
        None => d,
    }
}

/// The causes summary: the most frequent failure signatures first (at most `max`).
pub fn causes(r: &RunResult, max: usize) -> String {
    let mut s = String::new();
    if r.causes.is_empty() {
        return s;
    }
    let _ = writeln!(s, "Causes (failing executions grouped by what was seen)");
    for c in r.causes.iter().take(max) {
        let mut on: Vec<&str> = c.transports.iter().map(String::as_str).collect();
        on.extend(c.protocols.iter().map(String::as_str));
        let _ = writeln!(
            s,
            "  {:>4} × {}  ({} case(s){}{})\n         e.g. {}",
            c.count,
            c.signature,
            c.cases,
            if on.is_empty() { "" } else { "; " },
            on.join(", "),
            c.example
        );
    }
    if r.causes.len() > max {
        let _ = writeln!(s, "  … {} more cause(s)", r.causes.len() - max);
    }
    s
}

/// Details of one non-passing execution.
pub fn failure_details(o: &Outcome, max_transcript: usize) -> String {
    let mut s = String::new();
    let known = match o.baseline {
        Some(BaselineStatus::KnownFailure) => " (known failure, baseline)",
        Some(BaselineStatus::Stale) => " (baseline entry is stale: it passes now)",
        None => "",
    };
    let _ = writeln!(s, "{} {}{known}", o.verdict.label(), o.name);
    let _ = writeln!(s, "  requirement ({}): {}", o.level, o.requirement);
    let _ = writeln!(s, "  reference: {}", o.reference);
    if let Some(f) = &o.failure {
        let _ = writeln!(s, "  step {} ({})", f.step, f.action);
        let _ = writeln!(s, "    expected: {}", f.expected);
        let _ = writeln!(s, "    actual:   {}", f.actual);
    } else if let Some(r) = &o.reason {
        let _ = writeln!(s, "  reason: {r}");
    }
    if !o.transcript.is_empty() && max_transcript > 0 {
        let _ = writeln!(s, "  transcript:");
        let lines = transcript_lines(&o.transcript);
        let skip = lines.len().saturating_sub(max_transcript);
        if skip > 0 {
            let _ = writeln!(s, "    … {skip} earlier line(s)");
        }
        for l in lines.into_iter().skip(skip) {
            let _ = writeln!(s, "    {l}");
        }
    }
    s
}

/// The whole terminal report.
pub fn terminal(r: &RunResult, verbose: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "conform {} → {}{}",
        r.tool_version,
        r.target.url,
        if r.target.embedded {
            " (embedded mock-hub)"
        } else {
            ""
        }
    );
    for n in &r.target.notes {
        let _ = writeln!(s, "note: {n}");
    }
    if let Some(why) = &r.stopped {
        let _ = writeln!(s, "PARTIAL: the run stopped early: {why}");
    }
    let _ = writeln!(s);
    // Cases in order, each with its combinations.
    let mut by_case: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in &r.outcomes {
        by_case.entry(&o.case_id).or_default().push(o);
    }
    let mut area = "";
    for (id, outs) in &by_case {
        let a = super::area(id);
        if a != area {
            let _ = writeln!(s, "{a}");
            area = a;
        }
        let worst = outs
            .iter()
            .map(|o| o.verdict)
            .max_by_key(|v| v.severity())
            .unwrap_or(Verdict::Pass);
        let name = id.strip_prefix(a).unwrap_or(id).trim_start_matches('/');
        let counts = if outs.len() > 1 {
            let pass = outs.iter().filter(|o| o.verdict == Verdict::Pass).count();
            format!(" ({pass}/{})", outs.len())
        } else {
            String::new()
        };
        let mut line = format!(
            "  {} {name}{counts}",
            paint(worst, &format!("{:<14}", worst.label()))
        );
        if worst != Verdict::Pass && outs.len() > 1 {
            let which: Vec<String> = outs
                .iter()
                .filter(|o| o.verdict == worst)
                .map(|o| {
                    o.name
                        .split_once('[')
                        .map(|(_, c)| c.trim_end_matches(']').to_owned())
                        .unwrap_or_default()
                })
                .collect();
            let _ = write!(line, "  [{}]", which.join("; "));
        }
        if matches!(worst, Verdict::Skipped | Verdict::Unimplemented) {
            if let Some(reason) = outs.iter().find_map(|o| o.reason.as_deref()) {
                let _ = write!(line, " — {reason}");
            }
        }
        let _ = writeln!(s, "{line}");
    }
    let problems: Vec<&Outcome> = r
        .outcomes
        .iter()
        .filter(|o| {
            matches!(
                o.verdict,
                Verdict::Fail | Verdict::Error | Verdict::NonStrict | Verdict::Informational
            ) || o.baseline == Some(BaselineStatus::Stale)
        })
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(s, "\nDetails");
        for o in problems {
            let _ = writeln!(s);
            s.push_str(&details(o, if verbose { usize::MAX } else { 40 }));
        }
    }
    // The causes last, next to the tally, where a reader of a long log looks first.
    if !r.causes.is_empty() {
        let _ = writeln!(s);
        s.push_str(&causes(r, 10));
    }
    let _ = writeln!(s);
    s.push_str(&tally(r));
    s
}

/// `N cases, M executions: … in X s`.
pub fn tally(r: &RunResult) -> String {
    let cases = {
        let mut ids: Vec<&str> = r.outcomes.iter().map(|o| o.case_id.as_str()).collect();
        ids.dedup();
        ids.len()
    };
    let mut parts = Vec::new();
    for v in Verdict::ALL {
        let n = r.totals.get(v);
        if n > 0 {
            parts.push(format!("{n} {}", v.label()));
        }
    }
    let mut extra = String::new();
    if r.totals.known_failures > 0 {
        extra.push_str(&format!(", {} known failure(s)", r.totals.known_failures));
    }
    if r.totals.stale > 0 {
        extra.push_str(&format!(", {} stale baseline entr(ies)", r.totals.stale));
    }
    format!(
        "{cases} cases, {} executions: {}{extra} in {:.1} s — {}\n",
        r.outcomes.len(),
        parts.join(", "),
        r.duration_ms as f64 / 1000.0,
        if r.failed() {
            "FAILED"
        } else if r.stopped.is_some() {
            "PARTIAL"
        } else {
            "OK"
        }
    )
}

/// The `--quiet` terminal report: details of what fails even a non-strict run, then the tally.
pub fn quiet(r: &RunResult, verbose: bool) -> String {
    let mut s = String::new();
    for o in &r.outcomes {
        if o.verdict.fails_run(false) {
            s.push_str(&details(o, if verbose { usize::MAX } else { 20 }));
            s.push('\n');
        } else if o.baseline == Some(BaselineStatus::Stale) {
            // A stale baseline entry fails the run: name it even when quiet.
            let _ = writeln!(
                s,
                "STALE baseline entry: {} passes now (remove it from the baseline)\n",
                o.name
            );
        }
    }
    if let Some(why) = &r.stopped {
        let _ = writeln!(s, "PARTIAL: the run stopped early: {why}");
    }
    s.push_str(&causes(r, 10));
    s.push_str(&tally(r));
    s
}
