//! Conformance cases: the model, loading (embedded or from a directory) and validation. A case
//! file becomes typed [`Case`]s here, once; the runner never sees the text form.
//!
//! - [`file`]: the TOML format as written (private to the loader).
//! - [`step`]: a step's typed [`Action`], with patterns, messages and timings parsed.
//! - [`timing`]: timing expressions over the target's timers.
//! - [`matcher`]: message patterns.
//! - [`catalogue`]: the requirement catalogue and `conform explain`.
//! - [`expand`]: case × transport × protocol × negotiate version, and selection by glob/tag.
//!
//! The format is documented in `spec-cases/README.md`.

pub mod catalogue;
pub mod expand;
mod file;
pub mod matcher;
pub mod step;
pub mod timing;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use signalr_protocol::{HubProtocol, TransportKind};

pub use expand::{expand, glob_match, select, Combination, Execution, NameGlob, Selection};
pub use step::{Action, Step};
pub use timing::Timing;

use file::{CaseFile, RawCase};

/// How much a requirement matters; decides the verdict when it is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// Broken → FAIL.
    #[serde(rename = "MUST")]
    Must,
    /// Broken → NON-STRICT (FAIL with `--strict`).
    #[serde(rename = "SHOULD")]
    Should,
    /// Broken → INFORMATIONAL.
    #[serde(rename = "MAY")]
    May,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        })
    }
}

/// Which tier a case is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Runs by default.
    #[default]
    Default,
    /// Waits out real intervals; runs with `--tier slow`.
    Slow,
}

/// Which matrix axes a case expands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Axes {
    /// Transport × protocol (default).
    #[default]
    Full,
    /// Transport only (JSON).
    Transport,
    /// Neither: HTTP-only cases.
    None,
}

/// Options of a `connect` step.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectOpts {
    /// Connect as this user (token from the contract's `/contract/token`).
    pub user: Option<String>,
    /// Extra query string on negotiate and transport URLs.
    pub query: Option<String>,
    /// Open a WebSocket without negotiating.
    pub skip_negotiation: bool,
    /// Handshake version (default 1).
    pub handshake_version: Option<i32>,
    /// Present this token (usually `${var}` saved by a `token` step) instead of a user's.
    pub token: Option<String>,
    /// Where the token goes: `browser` (default), `header` or `query` (see `use_token`).
    pub token_in: Option<String>,
    /// The node the client lives on: 0 = `--target` (default), N = the N-th `--peer`
    /// (needs `requires = ["peers"]`).
    pub node: Option<u8>,
}

/// The most nodes a case may use (`node` up to this, minus the target).
pub const MAX_NODES: u8 = 8;

/// A `token` step: a token from the contract's `/contract/token` (contract 1.1 parameters),
/// saved in a variable.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenStep {
    /// The variable it is saved in (`${save}`; `${save.expires}` / `${save.notBefore}` hold its
    /// `exp` / `nbf` as ASP.NET Core writes dates in its error descriptions).
    pub save: String,
    /// Its user (name identifier).
    pub user: String,
    /// `exp` = now + this many seconds (negative: already expired); default 3600.
    pub lifetime_seconds: Option<i64>,
    /// `nbf` = now + this many seconds; default -1.
    pub not_before_seconds: Option<i64>,
    /// `HS256` (default), `HS384`, `HS512` or `none`.
    pub alg: Option<String>,
    /// Signed with a key the server does not have.
    pub wrong_key: bool,
    /// `role` claims.
    pub roles: Vec<String>,
    /// The `level` claim.
    pub level: Option<String>,
}

/// An HTTP request relative to the hub URL.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpStep {
    /// Method (default GET).
    pub method: Option<String>,
    /// Appended to the hub path (`/negotiate`, `""`); `sibling:` prefix = next to the hub path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// Request headers.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Request body (text).
    pub body: String,
}

/// Expected HTTP response of the last exchange.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpExpect {
    /// Status code.
    pub status: Option<u16>,
    /// Exact body text.
    pub body: Option<String>,
    /// Body as JSON, matched against this pattern.
    pub body_json: Option<String>,
    /// Content-Type's media type (parameters ignored).
    pub content_type: Option<String>,
    /// Headers that must be present with these values (`"*"` = any value, `"!"` = absent).
    pub headers: std::collections::BTreeMap<String, String>,
}

/// Options of a `reattach` step (stateful reconnect: a new WebSocket for the same connection).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReattachOpts {
    /// Which id goes on the URL: `token` (default: the connection's), `connectionId`, or a literal.
    pub id: Option<String>,
    /// Whether the WebSocket must open (default true). With false, the refusal is expected and
    /// checked with `expect_http`.
    pub expect_success: Option<bool>,
}

/// Options of an `open` step (transport without handshake).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenOpts {
    /// Which id goes on the URL: `token` (default: what negotiate says), `connectionId`,
    /// `none`, or a literal.
    pub id: Option<String>,
    /// Extra query.
    pub query: Option<String>,
    /// Negotiate first (default true unless `id = "none"`).
    pub negotiate: Option<bool>,
    /// Negotiate version to ask for.
    pub negotiate_version: Option<i32>,
    /// Whether the transport must open (default true). With false, the refusal is expected and
    /// the response is checked by a following `expect_http`.
    pub expect_success: Option<bool>,
}

/// Expected handshake response.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandshakeExpect {
    /// Success (`{}`).
    pub ok: bool,
    /// Exact error text.
    pub error: Option<String>,
    /// Error text matching this regex.
    pub error_matches: Option<String>,
    /// The transport closes after an error response (default true for errors).
    pub then_closed: Option<bool>,
}

/// Which of the contract's hubs a case's clients talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hub {
    /// The conformance hub (the target URL).
    #[default]
    Conformance,
    /// The authorized hub next to it (`authhub`, contract 1.1); needs `authorized-hub`.
    Authorized,
}

/// One case, validated.
#[derive(Debug, Clone)]
pub struct Case {
    /// Stable id, `area/name`.
    pub id: String,
    /// One line.
    pub title: String,
    /// The requirement it checks, as a sentence.
    pub requirement: String,
    /// MUST / SHOULD / MAY.
    pub level: Level,
    /// Where the requirement comes from (spec document + heading, or ASP.NET Core behaviour).
    pub reference: String,
    /// Tags for `--tag`.
    pub tags: Vec<String>,
    /// Transports it applies to (default all).
    pub transports: Option<Vec<TransportKind>>,
    /// Protocols it applies to (`None` = both).
    pub protocols: Option<Vec<HubProtocol>>,
    /// Negotiate versions to run with (default `[1]`).
    pub negotiate_versions: Option<Vec<i32>>,
    /// Matrix axes.
    pub axes: Axes,
    /// Capabilities the target must have (else UNIMPLEMENTED).
    pub requires: Vec<String>,
    /// Runs with nothing else in flight (broadcasts to every connection).
    pub exclusive: bool,
    /// Tier.
    pub tier: Tier,
    /// Default timeout of expect steps in ms (scaled by `--time-scale`).
    pub timeout_ms: Option<u64>,
    /// Longest real interval the case waits out; decides the tier gate.
    pub waits: Option<Timing>,
    /// The case still runs in the default tier while `waits` is at most this (instead of the
    /// run's slow threshold): checks that a default run must not leave out.
    pub default_tier_waits: Option<Timing>,
    /// Connect client `a` before the first step.
    pub auto_connect: bool,
    /// The hub its clients talk to.
    pub hub: Hub,
    /// How many `--peer` nodes its clients use (the highest `node` of its connect steps).
    pub peers: usize,
    /// Steps.
    pub steps: Vec<Step>,
    /// Where it was loaded from.
    pub source: String,
}

/// A case file or case that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct CaseError {
    /// File (and case) it is about.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

/// The cases compiled into the binary (`spec-cases/*.toml`).
pub const EMBEDDED: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/embedded_cases.rs"));

/// Capability names a case may require besides `Describe` features.
pub const BUILTIN_CAPABILITIES: &[&str] = &[
    "detailed-errors",
    "no-detailed-errors",
    "stateful-reconnect",
    "default-stateful-reconnect-buffer",
    "sequential-invocations",
    "default-message-size-limit",
    "message-size-limit",
    "describe",
    "close-on-auth-expiration",
];

impl Case {
    /// Validates a case as written; the error names what is wrong (and the step).
    fn from_raw(raw: RawCase, source: &str) -> Result<Case, String> {
        let id_ok = raw.id.split('/').count() >= 2
            && raw
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '/');
        if !id_ok {
            return Err(format!(
                "id '{}' must be 'area/name' in lower case with digits and dashes",
                raw.id
            ));
        }
        if raw.title.trim().is_empty()
            || raw.requirement.trim().is_empty()
            || raw.reference.trim().is_empty()
        {
            return Err("title, requirement and reference must not be empty".into());
        }
        if raw.steps.is_empty() {
            return Err("a case needs at least one step".into());
        }
        let protocols = match &raw.protocols {
            Some(names) => Some(
                names
                    .iter()
                    .map(|p| {
                        HubProtocol::from_name(p)
                            .ok_or_else(|| format!("unknown protocol '{p}' (json, messagepack)"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        for v in raw.negotiate_versions.iter().flatten() {
            if !(0..=1).contains(v) {
                return Err(format!("negotiate version {v} (0 or 1)"));
            }
        }
        let waits = raw.waits.as_ref().map(step::timing).transpose()?;
        let default_tier_waits = raw
            .default_tier_waits
            .as_ref()
            .map(step::timing)
            .transpose()?;
        if default_tier_waits.is_some() && waits.is_none() {
            return Err("default_tier_waits goes with waits".into());
        }
        if raw.hub == Hub::Authorized && !raw.requires.iter().any(|r| r == "authorized-hub") {
            return Err("hub = \"authorized\" needs requires = [\"authorized-hub\", …]".into());
        }
        let steps: Vec<Step> = raw
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| Step::from_raw(s).map_err(|m| format!("step {}: {m}", i + 1)))
            .collect::<Result<Vec<Step>, _>>()?;
        // Stateful reconnect reattaches WebSockets only (ASP.NET Core offers it on no other
        // transport): a case that reattaches must run on WebSockets alone.
        let websockets_only = raw.transports.as_deref() == Some(&[TransportKind::WebSockets][..]);
        if let Some(i) = steps
            .iter()
            .position(|s| matches!(s.action, step::Action::Reattach(_)))
        {
            if !websockets_only {
                return Err(format!(
                    "step {}: reattach needs transports = [\"websockets\"]",
                    i + 1
                ));
            }
        }
        let peers = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Connect(o) => o.node,
                _ => None,
            })
            .max()
            .unwrap_or(0);
        if peers >= MAX_NODES {
            return Err(format!(
                "connect node = {peers}: at most {} (0 = --target, N = the N-th --peer)",
                MAX_NODES - 1
            ));
        }
        if peers > 0 && !raw.requires.iter().any(|r| r == "peers") {
            return Err(format!(
                "a connect step with node = {peers} needs requires = [\"peers\", …]"
            ));
        }
        Ok(Case {
            peers: usize::from(peers),
            id: raw.id,
            title: raw.title,
            requirement: raw.requirement,
            level: raw.level,
            reference: raw.reference,
            tags: raw.tags,
            transports: raw.transports,
            protocols,
            negotiate_versions: raw.negotiate_versions,
            axes: raw.axes,
            requires: raw.requires,
            exclusive: raw.exclusive,
            tier: raw.tier,
            timeout_ms: raw.timeout_ms,
            waits,
            default_tier_waits,
            auto_connect: raw.auto_connect,
            hub: raw.hub,
            steps,
            source: source.to_owned(),
        })
    }

    /// The protocols it applies to.
    pub fn protocol_list(&self) -> Vec<HubProtocol> {
        match &self.protocols {
            Some(ps) => ps.clone(),
            None => HubProtocol::ALL.to_vec(),
        }
    }
}

/// Parses one case file's text; the error names the file, and the case and step when it is
/// about one.
pub fn parse_file(name: &str, text: &str) -> Result<Vec<Case>, CaseError> {
    let file: CaseFile = toml::from_str(text).map_err(|e| CaseError {
        source_name: name.to_owned(),
        message: e.to_string(),
    })?;
    file.cases
        .into_iter()
        .map(|raw| {
            let id = raw.id.clone();
            Case::from_raw(raw, name).map_err(|message| CaseError {
                source_name: format!("{name} (case '{id}')"),
                message,
            })
        })
        .collect()
}

/// Loads the embedded cases.
pub fn embedded() -> Result<Vec<Case>, CaseError> {
    collect(EMBEDDED.iter().map(|(n, t)| (n.to_string(), t.to_string())))
}

/// Loads every `*.toml` below `dir`.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, CaseError> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| CaseError {
        source_name: dir.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    files.sort();
    let mut texts = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| CaseError {
            source_name: f.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        texts.push((f.display().to_string(), text));
    }
    collect(texts.into_iter())
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

fn collect(files: impl Iterator<Item = (String, String)>) -> Result<Vec<Case>, CaseError> {
    let mut all = Vec::new();
    let mut ids = BTreeSet::new();
    for (name, text) in files {
        for c in parse_file(&name, &text)? {
            if !ids.insert(c.id.clone()) {
                return Err(CaseError {
                    source_name: name,
                    message: format!("duplicate case id '{}'", c.id),
                });
            }
            all.push(c);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(
            "handshake/*",
            "handshake/unknown-protocol[websockets,json]"
        ));
        assert!(glob_match("**", "a/b/c[x]"));
        assert!(glob_match(
            "handshake/unknown-protocol",
            "handshake/unknown-protocol[sse,json]"
        ));
        assert!(!glob_match("hand*", "handshake/x"));
        assert!(glob_match("hand**", "handshake/x"));
        assert!(glob_match("*/x[sse,json]", "handshake/x[sse,json]"));
        // `[` is literal: no character class.
        assert!(!glob_match("*/x[sse,json]", "handshake/xs"));
        assert!(glob_match("**[sse,json]", "a/b/c[sse,json]"));
        assert!(!glob_match("**[sse,json]", "a/b/c[sse,messagepack]"));
        assert!(glob_match("invocation/**", "invocation/a/b[x]"));
        assert!(glob_match("**/echo-*", "invocation/echo-string[x]"));
        assert!(!glob_match("**/echo-*", "invocation/echo/string[x]"));
        assert!(glob_match(
            "**[{sse,longpolling},json]",
            "a/b[longpolling,json]"
        ));
        assert!(!glob_match(
            "**[{sse,longpolling},json]",
            "a/b[websockets,json]"
        ));
        assert!(glob_match("a/?", "a/b[x]"));
        assert!(glob_match(r"a/\*", "a/*"));
        assert!(!glob_match(r"a/\*", "a/b"));
        assert!(NameGlob::new("a/{b").is_err());
        assert!(NameGlob::new("a\\").is_err());
    }

    #[test]
    fn expansion_skips_messagepack_over_sse() {
        let text = r#"
[[case]]
id = "a/b"
title = "t"
requirement = "r"
level = "MUST"
reference = "x"
[[case.step]]
send = '{"type":6}'
"#;
        let cases = parse_file("t.toml", text).unwrap();
        let names: Vec<String> = expand(&cases).into_iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            vec![
                "a/b[websockets,json]",
                "a/b[websockets,messagepack]",
                "a/b[sse,json]",
                "a/b[longpolling,json]",
                "a/b[longpolling,messagepack]",
            ]
        );
    }

    #[test]
    fn one_action_per_step() {
        let text = r#"
[[case]]
id = "a/b"
title = "t"
requirement = "r"
level = "MUST"
reference = "x"
[[case.step]]
send = '{"type":6}'
expect = '{"type":6}'
"#;
        let e = parse_file("t.toml", text).unwrap_err();
        assert!(
            e.to_string()
                .contains("exactly one action (found send, expect)"),
            "{e}"
        );
    }

    fn load_error(step: &str) -> String {
        let text = format!(
            "[[case]]\nid = \"a/b\"\ntitle = \"t\"\nrequirement = \"r\"\nlevel = \"MUST\"\nreference = \"x\"\n[[case.step]]\nsend = '{{\"type\":6}}'\n[[case.step]]\n{step}\n"
        );
        parse_file("t.toml", &text).unwrap_err().to_string()
    }

    #[test]
    fn the_authorized_hub_needs_its_capability() {
        let text = "[[case]]\nid = \"a/b\"\ntitle = \"t\"\nrequirement = \"r\"\nlevel = \"MUST\"\nreference = \"x\"\nhub = \"authorized\"\n[[case.step]]\nexpect_ping = true\n";
        let e = parse_file("t.toml", text).unwrap_err().to_string();
        assert!(e.contains("needs requires = [\"authorized-hub\""), "{e}");
        let ok = text.replace("hub = ", "requires = [\"authorized-hub\"]\nhub = ");
        let c = parse_file("t.toml", &ok).unwrap();
        assert_eq!(c[0].hub, Hub::Authorized);
    }

    #[test]
    fn a_client_on_another_node_needs_peers() {
        let text = "[[case]]\nid = \"a/b\"\ntitle = \"t\"\nrequirement = \"r\"\nlevel = \"MUST\"\nreference = \"x\"\n[[case.step]]\nclient = \"b\"\nconnect = { node = 2 }\n";
        let e = parse_file("t.toml", text).unwrap_err().to_string();
        assert!(e.contains("node = 2 needs requires = [\"peers\""), "{e}");
        let ok = text.replace("[[case.step]]", "requires = [\"peers\"]\n[[case.step]]");
        let c = parse_file("t.toml", &ok).unwrap();
        assert_eq!(c[0].peers, 2);
        let far = ok.replace("node = 2", "node = 8");
        let e = parse_file("t.toml", &far).unwrap_err().to_string();
        assert!(e.contains("connect node = 8: at most 7"), "{e}");
        let bad = ok.replace("node = 2", "node = -1");
        assert!(parse_file("t.toml", &bad).is_err());
        let none = ok.replace("node = 2", "node = 0");
        assert_eq!(parse_file("t.toml", &none).unwrap()[0].peers, 0);
    }

    #[test]
    fn steps_are_checked_at_load() {
        for (step, want) in [
            (
                r#"expect = '{"type":'"#,
                "t.toml (case 'a/b'): step 2: pattern",
            ),
            (r#"send = '{"type":1}'"#, "step 2: message {\"type\":1}"),
            (
                r#"send_raw = { hex = "1e 9" }"#,
                "step 2: send_raw hex: odd number",
            ),
            (
                r#"send_raw = { frame = "utf8" }"#,
                "step 2: send_raw frame must be",
            ),
            (
                r#"expect_handshake = { error_matches = "(" }"#,
                "step 2: invalid regex",
            ),
            (r#"expect_http = { body_json = '{' }"#, "step 2: pattern {"),
            ("wait = \"soon\"", "step 2: timing 'soon'"),
            (
                "close = \"later\"",
                "step 2: close must be 'graceful', 'abrupt' or 'empty-frame'",
            ),
            (
                "websocket_close_code = 1000\nexpect_ping = true",
                "step 2: websocket_close_code goes with",
            ),
            (
                "use_token = \"x\"\ntoken_in = \"cookie\"",
                "step 2: token_in must be 'browser', 'header' or 'query'",
            ),
            (
                "token_in = \"query\"\nexpect_ping = true",
                "step 2: token_in goes with use_token",
            ),
            (
                "connect = { token = \"t\", token_in = \"both\" }",
                "step 2: token_in must be",
            ),
            (
                "connect = { token = \"t\", user = \"u\" }",
                "step 2: connect takes a user or a token",
            ),
            (
                "token = { save = \"\", user = \"u\" }",
                "step 2: token needs save",
            ),
            (
                "token = { save = \"t\", user = \"u\", alg = \"RS256\" }",
                "step 2: token alg must be",
            ),
            (
                "save = { x = \"y\" }\nexpect_ping = true",
                "step 2: save goes with expect or expect_http",
            ),
            (
                "expect_ack = 0",
                "step 2: expect_ack 0: sequence ids start at 1",
            ),
            (
                "reattach = true",
                "step 2: reattach needs transports = [\"websockets\"]",
            ),
            (
                "reattach = { id = \"token\", handshake = true }",
                "data did not match any variant of untagged enum ReattachStep",
            ),
        ] {
            let e = load_error(step);
            assert!(e.contains(want), "{step}: {e}");
        }
    }

    #[test]
    fn a_reattach_on_websockets_alone_loads() {
        let text = "[[case]]\nid = \"a/b\"\ntitle = \"t\"\nrequirement = \"r\"\nlevel = \"MUST\"\nreference = \"x\"\ntransports = [\"websockets\"]\n[[case.step]]\nreattach = { id = \"connectionId\", expect_success = false }\n[[case.step]]\nexpect_ack = 3\n";
        let cases = parse_file("t.toml", text).unwrap();
        assert!(matches!(cases[0].steps[0].action, Action::Reattach(_)));
        assert!(matches!(cases[0].steps[1].action, Action::ExpectAck(3)));
    }

    #[test]
    fn texts_without_variables_are_parsed_once_at_load() {
        let text = "[[case]]\nid = \"a/b\"\ntitle = \"t\"\nrequirement = \"r\"\nlevel = \"MUST\"\nreference = \"x\"\nwaits = \"keepAliveInterval * 2\"\n[[case.step]]\nexpect = ['{\"type\":6}', '{\"type\":3,\"invocationId\":\"${id}\"}']\nwithin = 300\n";
        let cases = parse_file("t.toml", text).unwrap();
        let c = &cases[0];
        assert!(matches!(c.waits, Some(Timing::Expr(_))));
        let step = &c.steps[0];
        assert_eq!(step.within, Some(Timing::Ms(300)));
        let Action::Expect { patterns, .. } = &step.action else {
            panic!("an expect step: {:?}", step.action);
        };
        let json = |i: usize| patterns[i].get(HubProtocol::Json).unwrap();
        assert!(json(0).parsed.is_some());
        assert!(
            json(1).parsed.is_none(),
            "a pattern with variables waits for them"
        );
        // One text for both protocols is parsed once.
        assert!(std::sync::Arc::ptr_eq(
            patterns[0].json.as_ref().unwrap(),
            patterns[0].messagepack.as_ref().unwrap()
        ));
    }
}
