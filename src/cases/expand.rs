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

/// The executions `s` selects, in order.
pub fn select(all: Vec<Execution>, s: &Selection) -> Vec<Execution> {
    all.into_iter()
        .filter(|e| s.cases.is_empty() || s.cases.iter().any(|g| glob_match(g, &e.name)))
        .filter(|e| !s.skip.iter().any(|g| glob_match(g, &e.name)))
        .filter(|e| s.tags.is_empty() || s.tags.iter().any(|t| e.case.tags.contains(t)))
        .collect()
}

/// Glob matching for `--case`/`--skip`: `*` matches within a path segment, `**` across
/// segments; a pattern without brackets also matches every combination of the case.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) if rest.first() == Some(&b'*') => {
                let rest = &rest[1..];
                (0..=n.len()).any(|i| m(rest, &n[i..]))
            }
            Some((b'*', rest)) => {
                let mut i = 0;
                loop {
                    if m(rest, &n[i..]) {
                        return true;
                    }
                    if i >= n.len() || n[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some((c, rest)) => n.first() == Some(c) && m(rest, &n[1..]),
        }
    }
    if m(pattern.as_bytes(), name.as_bytes()) {
        return true;
    }
    // `area/case` selects `area/case[...]`.
    match name.split_once('[') {
        Some((base, _)) if !pattern.contains('[') => m(pattern.as_bytes(), base.as_bytes()),
        _ => false,
    }
}
