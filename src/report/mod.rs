//! Reports of a [`RunResult`]: terminal, JSON, JUnit, HTML and Markdown.

mod html;
mod junit;
mod markdown;
pub mod terminal;

pub use html::html;
pub use junit::junit;
pub use markdown::markdown;
pub use terminal::{failure_details, terminal};

use crate::result::{Direction, Event, RunResult};

/// The JSON report (pretty-printed, schema in `docs/report-schema.md`).
pub fn json(r: &RunResult) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The area of an execution name (`handshake` of `handshake/unknown-protocol[…]`).
pub fn area(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// Escapes text for XML/HTML.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters: show them.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Renders a transcript as text lines.
pub fn transcript_lines(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let arrow = match e.dir {
                Direction::Out => "→",
                Direction::In => "←",
                Direction::Note => "·",
            };
            format!(
                "{:>6}ms {} {} {:<9} {}",
                e.at_ms, e.client, arrow, e.layer, e.text
            )
        })
        .collect()
}
