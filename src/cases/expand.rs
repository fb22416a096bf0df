//! Expansion of cases into executions (case × transport × protocol × negotiate version), and
//! selecting executions by glob and tag.

use std::sync::Arc;

use signalr_protocol::{HubProtocol, TransportKind};

use super::{Axes, Case};

/// One combination of a case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Combination {
    /// Transport (`None` for HTTP-only cases).
    pub transport: Option<TransportKind>,
    /// Protocol (`None` for HTTP-only cases).
    pub protocol: Option<HubProtocol>,
    /// Negotiate version.
    pub negotiate_version: i32,
}

/// A case × combination, with its hierarchical name.
#[derive(Debug, Clone)]
pub struct Execution {
    /// `area/case[transport,protocol]`.
    pub name: String,
    /// The case.
    pub case: Arc<Case>,
    /// The combination.
    pub combo: Combination,
}

/// Expands cases into executions. MessagePack never runs over Server-Sent Events.
pub fn expand(cases: &[Case]) -> Vec<Execution> {
    let mut out = Vec::new();
    for c in cases {
        let case = Arc::new(c.clone());
        let versions = c.negotiate_versions.clone().unwrap_or_else(|| vec![1]);
        let show_version = versions.len() > 1;
        let transports: Vec<Option<TransportKind>> = match c.axes {
            Axes::None => vec![None],
            _ => c
                .transports
                .clone()
                .unwrap_or_else(|| TransportKind::ALL.to_vec())
                .into_iter()
                .map(Some)
                .collect(),
        };
        let protocols: Vec<Option<HubProtocol>> = match c.axes {
            Axes::None => vec![None],
            Axes::Transport => vec![Some(HubProtocol::Json)],
            Axes::Full => c.protocol_list().into_iter().map(Some).collect(),
        };
        for &v in &versions {
            for &t in &transports {
                for &p in &protocols {
                    if t == Some(TransportKind::ServerSentEvents)
                        && p == Some(HubProtocol::MessagePack)
                    {
                        continue;
                    }
                    let mut parts: Vec<String> = Vec::new();
                    if let Some(t) = t {
                        parts.push(t.short().to_owned());
                    }
                    if c.axes == Axes::Full {
                        if let Some(p) = p {
                            parts.push(p.name().to_owned());
                        }
                    }
                    if show_version {
                        parts.push(format!("v{v}"));
                    }
                    let name = if parts.is_empty() {
                        c.id.clone()
                    } else {
                        format!("{}[{}]", c.id, parts.join(","))
                    };
                    out.push(Execution {
                        name,
                        case: case.clone(),
                        combo: Combination {
                            transport: t,
                            protocol: p,
                            negotiate_version: v,
                        },
                    });
                }
            }
        }
    }
    out
}

/// Which executions a run selects (`--case`, `--skip`, `--tag`); empty lists select all.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Globs an execution must match one of.
    pub cases: Vec<String>,
    /// Globs an execution must match none of.
    pub skip: Vec<String>,
    /// Tags a case must have one of.
    pub tags: Vec<String>,
}

/// The executions `s` selects, in order; an invalid glob is an error naming it.
pub fn select(all: Vec<Execution>, s: &Selection) -> Result<Vec<Execution>, String> {
    let compile = |globs: &[String]| -> Result<Vec<NameGlob>, String> {
        globs.iter().map(|g| NameGlob::new(g)).collect()
    };
    let (cases, skip) = (compile(&s.cases)?, compile(&s.skip)?);
    Ok(all
        .into_iter()
        .filter(|e| cases.is_empty() || cases.iter().any(|g| g.is_match(&e.name)))
        .filter(|e| !skip.iter().any(|g| g.is_match(&e.name)))
        .filter(|e| s.tags.is_empty() || s.tags.iter().any(|t| e.case.tags.contains(t)))
        .collect())
}

/// A `--case`/`--skip`/baseline glob over execution names, matched with `globset`.
///
/// Execution names look like `area/case[transport,protocol]`, so the syntax differs from a
/// plain `globset` glob in two ways: `[` and `]` are literal (`**[sse,json]` means "every
/// execution over SSE with JSON", not a character class), and `**` matches across `/` wherever
/// it stands outside `{…}` (`hand**`, `**[sse,json]`), not only as a whole path segment. `*` and `?` stay
/// within a segment, `{a,b}` are alternatives, and `\` escapes the next character (`\*`, `\{`).
/// A glob without `[` also matches every combination of a case (`area/case` selects
/// `area/case[...]`).
#[derive(Debug, Clone)]
pub struct NameGlob {
    matcher: globset::GlobMatcher,
    whole_case: bool,
}

impl NameGlob {
    /// Compiles `pattern`; the error names the pattern and the problem.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let glob = globset::GlobBuilder::new(&translate(pattern))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("invalid glob '{pattern}': {}", e.kind()))?;
        Ok(Self {
            matcher: glob.compile_matcher(),
            whole_case: !pattern.contains('['),
        })
    }

    /// Whether the execution `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        if self.matcher.is_match(name) {
            return true;
        }
        // `area/case` selects `area/case[...]`.
        match name.split_once('[') {
            Some((base, _)) if self.whole_case => self.matcher.is_match(base),
            _ => false,
        }
    }
}

/// Rewrites conform's glob syntax into `globset`'s (see [`NameGlob`]).
fn translate(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_braces = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                out.push('\\');
                if let Some(&c) = p.get(i + 1) {
                    out.push(c);
                }
                i += 2;
                continue;
            }
            '[' | ']' => {
                out.push('\\');
                out.push(p[i]);
            }
            '{' => {
                in_braces = true;
                out.push('{');
            }
            '}' => {
                in_braces = false;
                out.push('}');
            }
            '*' if p.get(i + 1) == Some(&'*') => {
                let at_start = i == 0 || p[i - 1] == '/';
                let at_end = i + 2 == p.len() || p[i + 2] == '/';
                if (at_start && at_end) || in_braces {
                    // A whole segment: globset's own `**` already crosses `/`.
                    out.push_str("**");
                } else {
                    // Within a segment: no `/` crossed, or any number of them.
                    out.push_str("*{,/**/}*");
                }
                i += 2;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether the execution `name` matches the glob `pattern` (see [`NameGlob`]); an invalid
/// pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    NameGlob::new(pattern).is_ok_and(|g| g.is_match(name))
}
