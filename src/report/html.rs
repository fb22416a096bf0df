//! A single self-contained HTML page: tally, a case × combination matrix, and every
//! non-passing execution with its requirement, expected vs actual outcome and transcript.
//! No external resources; a few lines of script filter the matrix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{area, escape_xml as e, transcript_lines};
use crate::result::{BaselineStatus, Outcome, RunResult, Verdict};

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:16px 24px}
header h1{margin:0;font-size:20px}
header .sub{opacity:.8;font-size:13px;margin-top:4px;word-break:break-all}
main{padding:16px 24px;max-width:1400px}
#matrix{overflow-x:auto;max-width:100%}
#matrix td.c{padding:2px 3px;font-size:11px}
#matrix th{font-size:11px;writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
#matrix th:first-child,#matrix th:nth-child(2){writing-mode:horizontal-tb;transform:none}
.tally{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 16px}
.badge{border-radius:6px;padding:6px 10px;font-weight:600;background:#fff;border:1px solid #d0d7de}
.v-PASS{background:#dafbe1;color:#116329}.v-FAIL{background:#ffebe9;color:#a40e26}
.v-NON-STRICT{background:#fff8c5;color:#7d4e00}.v-INFORMATIONAL{background:#ddf4ff;color:#0a3069}
.v-UNIMPLEMENTED{background:#eaeef2;color:#57606a}.v-SKIPPED{background:#f6f8fa;color:#8c959f}
.v-ERROR{background:#fbefff;color:#6e40c9}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}
td.c{text-align:center;font-size:12px;font-weight:600;white-space:nowrap}
td.c a{color:inherit;text-decoration:none}
tr.area td{background:#eaeef2;font-weight:700}
.controls{margin:8px 0;display:flex;gap:12px;align-items:center}
input[type=search]{padding:5px 8px;width:320px;border:1px solid #d0d7de;border-radius:6px}
details{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:8px 0;padding:6px 10px}
summary{cursor:pointer;font-weight:600}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
dl{display:grid;grid-template-columns:110px 1fr;gap:2px 10px;margin:8px 0}dt{color:#57606a}dd{margin:0}
.note{color:#57606a;font-size:13px}
.banner{background:#ffebe9;border:1px solid #ff8182;border-radius:6px;padding:10px 14px;margin:8px 0;font-weight:600}
.run{border-top:1px solid #d0d7de;margin-top:8px;padding-top:4px}
"#;

const SCRIPT: &str = r#"
const q=document.getElementById('q'),h=document.getElementById('hidepass');
function apply(){const t=q.value.toLowerCase();
for(const r of document.querySelectorAll('tr.case')){const txt=r.dataset.name;const pass=r.dataset.pass==='1';
r.style.display=(txt.includes(t)&&!(h.checked&&pass))?'':'none';}}
q.addEventListener('input',apply);h.addEventListener('change',apply);apply();
"#;

fn combo(o: &Outcome) -> String {
    o.name
        .split_once('[')
        .map(|(_, c)| c.trim_end_matches(']').to_owned())
        .unwrap_or_else(|| "—".into())
}

fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The HTML report.
pub fn html(r: &RunResult) -> String {
    let mut s = String::new();
    let status = if r.failed() { "FAILED" } else { "OK" };
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>conform: {status}</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        s,
        "<header><h1>SignalR conformance: {status}</h1><div class=\"sub\">{}{} · {} executions · {:.1} s · conform {}</div></header><main>",
        e(&r.target.url),
        if r.target.embedded { " (embedded mock-hub)" } else { "" },
        r.outcomes.len(),
        r.duration_ms as f64 / 1000.0,
        e(&r.tool_version)
    );
    s.push_str("<div class=\"tally\">");
    for v in Verdict::ALL {
        let _ = write!(
            s,
            "<span class=\"badge v-{0}\">{0}: {1}</span>",
            v.label(),
            r.totals.get(v)
        );
    }
    if r.totals.known_failures > 0 || r.totals.stale > 0 {
        let _ = write!(
            s,
            "<span class=\"badge\">known failures: {}</span><span class=\"badge\">stale baseline: {}</span>",
            r.totals.known_failures, r.totals.stale
        );
    }
    s.push_str("</div>");
    // Problems with the run itself first: it stopped early, or the target is not the hub.
    if let Some(why) = &r.stopped {
        let _ = write!(
            s,
            "<div class=\"banner\" id=\"partial\">Partial report: {}</div>",
            e(why)
        );
    }
    for n in &r.target.notes {
        if n.starts_with("preflight:") || n.starts_with("negotiate answered") {
            let _ = write!(s, "<div class=\"banner\">{}</div>", e(n));
        } else {
            let _ = write!(s, "<p class=\"note\">{}</p>", e(n));
        }
    }
    if !r.causes.is_empty() {
        s.push_str("<h2>Causes</h2><table id=\"causes\"><thead><tr><th>Executions</th><th>Cases</th><th>What was seen</th><th>Transports / protocols</th><th>Example</th></tr></thead><tbody>");
        for c in r.causes.iter().take(30) {
            let mut on = c.transports.clone();
            on.extend(c.protocols.iter().cloned());
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"#{}\">{}</a></td></tr>",
                c.count,
                c.cases,
                e(&c.signature),
                e(&on.join(", ")),
                anchor(&c.example),
                e(&c.example)
            );
        }
        s.push_str("</tbody></table>");
    }
    if let Some(d) = &r.target.describe {
        let _ = write!(
            s,
            "<details><summary>Target description (Describe)</summary><pre>{}</pre></details>",
            e(&serde_json::to_string_pretty(d).unwrap_or_default())
        );
    }

    // Matrix.
    let combos: BTreeSet<String> = r.outcomes.iter().map(combo).collect();
    let combos: Vec<String> = combos.into_iter().collect();
    let mut cases: BTreeMap<&str, (&Outcome, BTreeMap<String, &Outcome>)> = BTreeMap::new();
    for o in &r.outcomes {
        cases
            .entry(&o.case_id)
            .or_insert_with(|| (o, BTreeMap::new()))
            .1
            .insert(combo(o), o);
    }
    let _ = write!(s, "<h2>Matrix</h2><div class=\"controls\"><input id=\"q\" type=\"search\" placeholder=\"filter cases…\"><label><input id=\"hidepass\" type=\"checkbox\"{}> hide passing</label></div>", if r.failed() || r.totals.fail > 0 { " checked" } else { "" });
    s.push_str("<div id=\"matrix\"><table><thead><tr><th>Case</th><th>Level</th>");
    for c in &combos {
        let _ = write!(s, "<th>{}</th>", e(c));
    }
    s.push_str("</tr></thead><tbody>");
    let mut current = "";
    for (id, (first, by_combo)) in &cases {
        let a = area(id);
        if a != current {
            let _ = write!(
                s,
                "<tr class=\"area\"><td colspan=\"{}\">{}</td></tr>",
                combos.len() + 2,
                e(a)
            );
            current = a;
        }
        let all_pass = by_combo.values().all(|o| o.verdict == Verdict::Pass);
        let _ = write!(
            s,
            "<tr class=\"case\" data-name=\"{}\" data-pass=\"{}\"><td title=\"{}\">{}</td><td>{}</td>",
            e(&format!("{} {}", id, first.title).to_lowercase()),
            u8::from(all_pass),
            e(&first.requirement),
            e(id),
            first.level
        );
        for c in &combos {
            match by_combo.get(c) {
                Some(o) => {
                    let label = match o.verdict {
                        Verdict::Pass => "✓".to_owned(),
                        v => v.label().to_owned(),
                    };
                    if o.verdict == Verdict::Pass {
                        let _ = write!(s, "<td class=\"c v-PASS\">{label}</td>");
                    } else {
                        let _ = write!(
                            s,
                            "<td class=\"c v-{}\" title=\"{}\"><a href=\"#{}\">{label}</a></td>",
                            o.verdict.label(),
                            e(o.reason.as_deref().unwrap_or("")),
                            anchor(&o.name)
                        );
                    }
                }
                None => s.push_str("<td></td>"),
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");

    // Details: one entry per case (its requirement once), failures first.
    let mut by_case: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in r
        .outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Pass || o.baseline.is_some() || !o.transcript.is_empty())
    {
        by_case.entry(&o.case_id).or_default().push(o);
    }
    let mut groups: Vec<(&str, Vec<&Outcome>)> = by_case.into_iter().collect();
    groups.sort_by_key(|(id, os)| {
        let worst = os.iter().map(|o| o.verdict.severity()).max().unwrap_or(0);
        (std::cmp::Reverse(worst), *id)
    });
    if !groups.is_empty() {
        s.push_str("<h2>Details</h2>");
    }
    for (id, os) in groups {
        let first = os[0];
        let worst = os
            .iter()
            .map(|o| o.verdict)
            .max_by_key(|v| v.severity())
            .unwrap_or(Verdict::Pass);
        let open = if matches!(worst, Verdict::Fail | Verdict::Error) {
            " open"
        } else {
            ""
        };
        let combos: Vec<String> = os.iter().map(|o| combo(o)).collect();
        let _ = write!(
            s,
            "<details class=\"case-details\"{open}><summary><span class=\"badge v-{0}\">{0}</span> {1} <span class=\"note\">[{2}]</span></summary><dl>",
            worst.label(),
            e(id),
            e(&combos.join("; "))
        );
        let _ = write!(s, "<dt>title</dt><dd>{}</dd>", e(&first.title));
        let _ = write!(
            s,
            "<dt>requirement</dt><dd>{} ({})</dd>",
            e(&first.requirement),
            first.level
        );
        let _ = write!(s, "<dt>reference</dt><dd>{}</dd></dl>", e(&first.reference));
        for o in os {
            let known = match o.baseline {
                Some(BaselineStatus::KnownFailure) => " · known failure",
                Some(BaselineStatus::Stale) => " · STALE baseline entry",
                None => "",
            };
            let _ = write!(
                s,
                "<div class=\"run\" id=\"{}\"><span class=\"badge v-{1}\">{1}</span> {2}{known}<dl>",
                anchor(&o.name),
                o.verdict.label(),
                e(&combo(o))
            );
            if let Some(f) = &o.failure {
                let _ = write!(s, "<dt>step</dt><dd>{} ({})</dd>", f.step, e(&f.action));
                let _ = write!(s, "<dt>expected</dt><dd><pre>{}</pre></dd>", e(&f.expected));
                let _ = write!(s, "<dt>actual</dt><dd><pre>{}</pre></dd>", e(&f.actual));
            } else if let Some(reason) = &o.reason {
                let _ = write!(s, "<dt>reason</dt><dd>{}</dd>", e(reason));
            }
            let _ = write!(s, "<dt>duration</dt><dd>{} ms</dd></dl>", o.duration_ms);
            if !o.transcript.is_empty() {
                let _ = write!(
                    s,
                    "<details><summary>transcript</summary><pre>{}</pre></details>",
                    e(&transcript_lines(&o.transcript).join("\n"))
                );
            }
            s.push_str("</div>");
        }
        s.push_str("</details>");
    }
    let _ = writeln!(s, "</main><script>{SCRIPT}</script></body></html>");
    s
}
