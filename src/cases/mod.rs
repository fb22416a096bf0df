//! Conformance cases: the file format, loading (embedded or from a directory), validation and
//! expansion into executions (case × transport × protocol × negotiate version).
//!
//! The format is documented in `spec-cases/README.md`.

pub mod matcher;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use signalr_protocol::HubProtocol;

use crate::client::TransportKind;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Runs by default.
    #[default]
    Default,
    /// Waits out real intervals; runs with `--tier slow`.
    Slow,
}

/// A value that is either one notation string or one per protocol.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PerProtocol {
    /// The same for both protocols.
    Same(String),
    /// Different per protocol (a missing entry means "not applicable").
    Split {
        /// For JSON.
        #[serde(default)]
        json: Option<String>,
        /// For MessagePack.
        #[serde(default)]
        messagepack: Option<String>,
    },
}

impl PerProtocol {
    /// The text for `p`.
    pub fn for_protocol(&self, p: HubProtocol) -> Option<&str> {
        match self {
            PerProtocol::Same(s) => Some(s),
            PerProtocol::Split { json, messagepack } => match p {
                HubProtocol::Json => json.as_deref(),
                HubProtocol::MessagePack => messagepack.as_deref(),
            },
        }
    }
}

/// One or several messages.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(PerProtocol),
    /// Several, in order.
    Many(Vec<PerProtocol>),
}

impl OneOrMany {
    /// As a list.
    pub fn items(&self) -> Vec<&PerProtocol> {
        match self {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(v) => v.iter().collect(),
        }
    }
}

/// Options of a `connect` step.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectOpts {
    /// Connect as this user (token from the contract's `/contract/token`).
    #[serde(default)]
    pub user: Option<String>,
    /// Extra query string on negotiate and transport URLs.
    #[serde(default)]
    pub query: Option<String>,
    /// Open a WebSocket without negotiating.
    #[serde(default)]
    pub skip_negotiation: bool,
    /// Handshake version (default 1).
    #[serde(default)]
    pub handshake_version: Option<i32>,
}

/// `connect = true` or `connect = { … }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ConnectStep {
    /// Defaults.
    Flag(bool),
    /// With options.
    Opts(ConnectOpts),
}

/// An HTTP request relative to the hub URL.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// Method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// Appended to the hub path (`/negotiate`, `""`); `sibling:` prefix = next to the hub path.
    #[serde(default)]
    pub path: String,
    /// Query string.
    #[serde(default)]
    pub query: String,
    /// Request headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Request body (text).
    #[serde(default)]
    pub body: String,
}

/// Expected HTTP response of the last exchange.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Status code.
    #[serde(default)]
    pub status: Option<u16>,
    /// Exact body text.
    #[serde(default)]
    pub body: Option<String>,
    /// Body as JSON, matched against this pattern.
    #[serde(default)]
    pub body_json: Option<String>,
    /// Content-Type's media type (parameters ignored).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Headers that must be present with these values (`"*"` = any value, `"!"` = absent).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// Options of an `open` step (transport without handshake).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenOpts {
    /// Which id goes on the URL: `token` (default: what negotiate says), `connectionId`,
    /// `none`, or a literal.
    #[serde(default)]
    pub id: Option<String>,
    /// Extra query.
    #[serde(default)]
    pub query: Option<String>,
    /// Negotiate first (default true unless `id = "none"`).
    #[serde(default)]
    pub negotiate: Option<bool>,
    /// Negotiate version to ask for.
    #[serde(default)]
    pub negotiate_version: Option<i32>,
    /// Whether the transport must open (default true). With false, the refusal is expected and
    /// the response is checked by a following `expect_http`.
    #[serde(default)]
    pub expect_success: Option<bool>,
}

/// `open = true` or `open = { … }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OpenStep {
    /// Defaults.
    Flag(bool),
    /// With options.
    Opts(OpenOpts),
}

/// A handshake request to send.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeStep {
    /// Protocol name (default: the combination's).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Version (default 1).
    #[serde(default)]
    pub version: Option<i32>,
}

/// `handshake = true` or `handshake = { … }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HandshakeSend {
    /// Defaults.
    Flag(bool),
    /// With options.
    Opts(HandshakeStep),
}

/// Expected handshake response.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeExpect {
    /// Success (`{}`).
    #[serde(default)]
    pub ok: bool,
    /// Exact error text.
    #[serde(default)]
    pub error: Option<String>,
    /// Error text matching this regex.
    #[serde(default)]
    pub error_matches: Option<String>,
    /// The transport closes after an error response (default true for errors).
    #[serde(default)]
    pub then_closed: Option<bool>,
}

/// Raw bytes to send.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSend {
    /// UTF-8 text (`\u001e` for the separator).
    #[serde(default)]
    pub text: Option<String>,
    /// Hex bytes (spaces allowed).
    #[serde(default)]
    pub hex: Option<String>,
    /// Messages in notation, each framed in the combination's protocol, all in one buffer.
    #[serde(default)]
    pub messages: Vec<String>,
    /// `text` or `binary` WebSocket frames (default: the protocol's).
    #[serde(default)]
    pub frame: Option<String>,
}

/// One step. Exactly one action field is set; the others are options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Which client acts (`a` by default).
    #[serde(default)]
    pub client: Option<String>,
    /// A note shown in the transcript.
    #[serde(default)]
    pub note: Option<String>,

    // Actions.
    /// Negotiate, open the transport and complete the handshake.
    #[serde(default)]
    pub connect: Option<ConnectStep>,
    /// A negotiate request with this query string.
    #[serde(default)]
    pub negotiate: Option<String>,
    /// Open the transport (negotiating first unless told otherwise), no handshake.
    #[serde(default)]
    pub open: Option<OpenStep>,
    /// Send a handshake request.
    #[serde(default)]
    pub handshake: Option<HandshakeSend>,
    /// Send message(s) in notation, framed in the combination's protocol, one frame.
    #[serde(default)]
    pub send: Option<OneOrMany>,
    /// Send raw bytes.
    #[serde(default)]
    pub send_raw: Option<RawSend>,
    /// An HTTP request.
    #[serde(default)]
    pub http: Option<HttpStep>,
    /// The next messages (Pings skipped) match these patterns, in order.
    #[serde(default)]
    pub expect: Option<OneOrMany>,
    /// The next messages match these patterns in any order.
    #[serde(default)]
    pub expect_unordered: Option<Vec<PerProtocol>>,
    /// The handshake response.
    #[serde(default)]
    pub expect_handshake: Option<HandshakeExpect>,
    /// The last HTTP exchange.
    #[serde(default)]
    pub expect_http: Option<HttpExpect>,
    /// A Close message matching this pattern, then the transport ends.
    #[serde(default)]
    pub expect_close: Option<PerProtocol>,
    /// The transport ends (other messages before it are a failure unless they are Pings).
    #[serde(default)]
    pub expect_disconnect: Option<bool>,
    /// No message other than Ping arrives for this long (ms, or a timing expression).
    #[serde(default)]
    pub expect_silence: Option<Timing>,
    /// A Ping arrives.
    #[serde(default)]
    pub expect_ping: Option<bool>,
    /// Close the transport: `graceful` or `abrupt`.
    #[serde(default)]
    pub close: Option<String>,
    /// Wait this long (ms or timing expression) — only for cases about time.
    #[serde(default)]
    pub wait: Option<Timing>,

    // Options.
    /// Timeout of an expect step (ms or expression; default the case's `timeout_ms`).
    #[serde(default)]
    pub within: Option<Timing>,
    /// With `expect_close` / `expect_disconnect` over WebSockets: the server's WebSocket Close
    /// frame carries this status code (ignored on the other transports).
    #[serde(default)]
    pub websocket_close_code: Option<u16>,
    /// Cut sent bytes into frames of this size.
    #[serde(default)]
    pub chunk_size: Option<usize>,
    /// Cut sent bytes into frames at these offsets.
    #[serde(default)]
    pub chunk_at: Option<Vec<usize>>,
    /// Save values from the matched message: `{ var = "result" }` (a path into the notation).
    #[serde(default)]
    pub save: std::collections::BTreeMap<String, String>,
    /// Expected messages that do not match are skipped over instead of failing (e.g. other
    /// clients' broadcasts arriving first).
    #[serde(default)]
    pub skip_unmatched: bool,
}

/// A duration: milliseconds, or an expression over the target's timers
/// (`keepAliveInterval * 2 + 1000`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Timing {
    /// Milliseconds.
    Ms(u64),
    /// An expression.
    Expr(String),
}

/// Which matrix axes a case expands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
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

/// One case as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(default)]
    pub tags: Vec<String>,
    /// Transports it applies to (default all).
    #[serde(default)]
    pub transports: Option<Vec<TransportKind>>,
    /// Protocols it applies to (default both).
    #[serde(default)]
    pub protocols: Option<Vec<String>>,
    /// Negotiate versions (default `[1]`).
    #[serde(default)]
    pub negotiate_versions: Option<Vec<i32>>,
    /// Matrix axes.
    #[serde(default)]
    pub axes: Axes,
    /// Capabilities the target must have (features from `Describe`, `detailed-errors`,
    /// `no-detailed-errors`, `stateful-reconnect` …).
    #[serde(default)]
    pub requires: Vec<String>,
    /// Touches server-wide state (broadcasts): runs alone.
    #[serde(default)]
    pub exclusive: bool,
    /// Tier.
    #[serde(default)]
    pub tier: Tier,
    /// Default timeout of expect steps in ms (scaled by `--time-scale`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Longest real interval the case waits out (an expression); decides the tier gate.
    #[serde(default)]
    pub waits: Option<Timing>,
    /// Connect client `a` before the first step (default true).
    #[serde(default = "yes")]
    pub auto_connect: bool,
    /// Steps.
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
    /// Where it was loaded from (filled by the loader).
    #[serde(skip)]
    pub source: String,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
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

const ACTIONS: &[&str] = &[
    "connect",
    "negotiate",
    "open",
    "handshake",
    "send",
    "send_raw",
    "http",
    "expect",
    "expect_unordered",
    "expect_handshake",
    "expect_http",
    "expect_close",
    "expect_disconnect",
    "expect_silence",
    "expect_ping",
    "close",
    "wait",
];

impl Step {
    /// Names of the action fields that are set.
    pub fn actions(&self) -> Vec<&'static str> {
        let set = [
            self.connect.is_some(),
            self.negotiate.is_some(),
            self.open.is_some(),
            self.handshake.is_some(),
            self.send.is_some(),
            self.send_raw.is_some(),
            self.http.is_some(),
            self.expect.is_some(),
            self.expect_unordered.is_some(),
            self.expect_handshake.is_some(),
            self.expect_http.is_some(),
            self.expect_close.is_some(),
            self.expect_disconnect.is_some(),
            self.expect_silence.is_some(),
            self.expect_ping.is_some(),
            self.close.is_some(),
            self.wait.is_some(),
        ];
        ACTIONS
            .iter()
            .zip(set)
            .filter_map(|(n, s)| s.then_some(*n))
            .collect()
    }

    /// The acting client.
    pub fn client(&self) -> &str {
        self.client.as_deref().unwrap_or("a")
    }
}

/// Capability names a case may require besides `Describe` features.
pub const BUILTIN_CAPABILITIES: &[&str] = &[
    "detailed-errors",
    "no-detailed-errors",
    "stateful-reconnect",
    "sequential-invocations",
    "default-message-size-limit",
    "describe",
];

impl Case {
    /// Checks the case is usable; the error names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = self.id.split('/').count() >= 2
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '/');
        if !id_ok {
            return Err(format!(
                "id '{}' must be 'area/name' in lower case with digits and dashes",
                self.id
            ));
        }
        if self.title.trim().is_empty()
            || self.requirement.trim().is_empty()
            || self.reference.trim().is_empty()
        {
            return Err("title, requirement and reference must not be empty".into());
        }
        if self.steps.is_empty() {
            return Err("a case needs at least one step".into());
        }
        for p in self.protocols.iter().flatten() {
            if HubProtocol::from_name(p).is_none() {
                return Err(format!("unknown protocol '{p}' (json, messagepack)"));
            }
        }
        for v in self.negotiate_versions.iter().flatten() {
            if !(0..=1).contains(v) {
                return Err(format!("negotiate version {v} (0 or 1)"));
            }
        }
        for (i, s) in self.steps.iter().enumerate() {
            let actions = s.actions();
            if actions.len() != 1 {
                return Err(format!(
                    "step {}: a step needs exactly one action (found {})",
                    i + 1,
                    if actions.is_empty() {
                        "none".to_owned()
                    } else {
                        actions.join(", ")
                    }
                ));
            }
            if let Some(c) = &s.close {
                if c != "graceful" && c != "abrupt" {
                    return Err(format!(
                        "step {}: close must be 'graceful' or 'abrupt'",
                        i + 1
                    ));
                }
            }
            if s.websocket_close_code.is_some()
                && s.expect_close.is_none()
                && s.expect_disconnect.is_none()
            {
                return Err(format!(
                    "step {}: websocket_close_code goes with expect_close or expect_disconnect",
                    i + 1
                ));
            }
            for t in [&s.within, &s.expect_silence, &s.wait]
                .into_iter()
                .flatten()
            {
                if let Timing::Expr(e) = t {
                    crate::runner::timing::parse(e)
                        .map_err(|m| format!("step {}: timing '{e}': {m}", i + 1))?;
                }
            }
            // Patterns must be valid notation (variables are filled in later, so only check
            // those without any).
            let mut patterns: Vec<&PerProtocol> = Vec::new();
            if let Some(e) = &s.expect {
                patterns.extend(e.items());
            }
            if let Some(e) = &s.expect_unordered {
                patterns.extend(e.iter());
            }
            if let Some(e) = &s.expect_close {
                patterns.push(e);
            }
            for p in patterns {
                for text in [
                    p.for_protocol(HubProtocol::Json),
                    p.for_protocol(HubProtocol::MessagePack),
                ]
                .into_iter()
                .flatten()
                {
                    if !text.contains("${") {
                        matcher::Pattern::parse(text)
                            .map_err(|m| format!("step {}: pattern {text}: {m}", i + 1))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The protocols it applies to.
    pub fn protocol_list(&self) -> Vec<HubProtocol> {
        match &self.protocols {
            Some(ps) => ps
                .iter()
                .filter_map(|p| HubProtocol::from_name(p))
                .collect(),
            None => HubProtocol::ALL.to_vec(),
        }
    }
}

/// Parses one case file's text.
pub fn parse_file(name: &str, text: &str) -> Result<Vec<Case>, CaseError> {
    let file: CaseFile = toml::from_str(text).map_err(|e| CaseError {
        source_name: name.to_owned(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for mut c in file.cases {
        c.source = name.to_owned();
        c.validate().map_err(|message| CaseError {
            source_name: format!("{name} (case '{}')", c.id),
            message,
        })?;
        out.push(c);
    }
    Ok(out)
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
    pub case: std::sync::Arc<Case>,
    /// The combination.
    pub combo: Combination,
}

/// Expands cases into executions. MessagePack never runs over Server-Sent Events.
pub fn expand(cases: &[Case]) -> Vec<Execution> {
    let mut out = Vec::new();
    for c in cases {
        let case = std::sync::Arc::new(c.clone());
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
}
