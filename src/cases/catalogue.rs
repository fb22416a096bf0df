//! The requirement catalogue: every case's requirement, level and reference, generated from the
//! cases (`docs/requirements.md`, kept current by `tests/catalogue.rs`), and one entry of it for
//! `conform explain ID`.

use std::fmt::Write as _;

use super::{Axes, Case, Tier};

/// One case's entry: its title, the requirement, level, where it comes from and where it runs.
pub fn entry(case: &Case) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### `{}` — {}", case.id, case.level);
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", case.title);
    let _ = writeln!(s);
    let _ = writeln!(s, "- Requirement: {}", case.requirement);
    let _ = writeln!(s, "- Reference: {}", case.reference);
    let _ = writeln!(s, "- Runs on: {}", runs_on(case));
    if !case.requires.is_empty() {
        let _ = writeln!(s, "- Target must offer: {}", case.requires.join(", "));
    }
    s
}

fn runs_on(case: &Case) -> String {
    let transports = match &case.transports {
        Some(t) => t.iter().map(|t| t.short()).collect::<Vec<_>>().join(", "),
        None => "every transport".into(),
    };
    let mut s = match case.axes {
        Axes::None => "HTTP only".to_owned(),
        Axes::Transport => format!("{transports} (JSON)"),
        Axes::Full => {
            let protocols = match &case.protocols {
                Some(p) => p.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
                None => "JSON and MessagePack".into(),
            };
            format!("{transports}; {protocols}")
        }
    };
    if case.tier == Tier::Slow {
        s.push_str("; slow tier (`--tier slow`)");
    }
    s
}

/// The whole catalogue, in case order, one section per area.
pub fn catalogue(cases: &[Case]) -> String {
    let mut s = String::from(
        "# Requirement catalogue\n\n\
         Generated from `spec-cases/*.toml` (do not edit: `UPDATE_CATALOGUE=1 cargo test --test catalogue`\n\
         rewrites it, and that test fails while it is out of date). `conform explain ID` prints one entry.\n\
         Levels: MUST → FAIL, SHOULD → NON-STRICT, MAY → INFORMATIONAL (grading: `spec-cases/README.md`).\n\
         References name the public specification (dotnet/aspnetcore `src/SignalR/docs/specs/HubProtocol.md`,\n\
         `TransportProtocols.md`, with the section) and the ASP.NET Core types and methods that behave so.\n",
    );
    let mut area = "";
    for case in cases {
        let this = case.id.split('/').next().unwrap_or_default();
        if this != area {
            area = this;
            let _ = write!(s, "\n## {area}\n");
        }
        s.push('\n');
        s.push_str(&entry(case));
    }
    s
}
