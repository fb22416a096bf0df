//! The case file format as written (`spec-cases/README.md`): what TOML deserializes into
//! before [`super::step`] validates each step into a typed action. Nothing outside the loader
//! sees these types.

use std::collections::BTreeMap;

use serde::Deserialize;
use signalr_protocol::TransportKind;

use super::{
    Axes, ConnectOpts, HandshakeExpect, HttpExpect, HttpStep, Level, OpenOpts, ReattachOpts, Tier,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaseFile {
    #[serde(rename = "case", default)]
    pub(super) cases: Vec<RawCase>,
}

/// One case as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCase {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) requirement: String,
    pub(super) level: Level,
    pub(super) reference: String,
    #[serde(default)]
    pub(super) tags: Vec<String>,
    #[serde(default)]
    pub(super) transports: Option<Vec<TransportKind>>,
    #[serde(default)]
    pub(super) protocols: Option<Vec<String>>,
    #[serde(default)]
    pub(super) negotiate_versions: Option<Vec<i32>>,
    #[serde(default)]
    pub(super) axes: Axes,
    #[serde(default)]
    pub(super) requires: Vec<String>,
    #[serde(default)]
    pub(super) exclusive: bool,
    #[serde(default)]
    pub(super) tier: Tier,
    #[serde(default)]
    pub(super) timeout_ms: Option<u64>,
    #[serde(default)]
    pub(super) waits: Option<TimingText>,
    #[serde(default)]
    pub(super) default_tier_waits: Option<TimingText>,
    #[serde(default = "yes")]
    pub(super) auto_connect: bool,
    #[serde(default)]
    pub(super) hub: super::Hub,
    #[serde(rename = "step", default)]
    pub(super) steps: Vec<RawStep>,
}

fn yes() -> bool {
    true
}

/// A value that is either one notation string or one per protocol.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum PerProtocol {
    Same(String),
    Split {
        #[serde(default)]
        json: Option<String>,
        #[serde(default)]
        messagepack: Option<String>,
    },
}

/// One or several messages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(PerProtocol),
    Many(Vec<PerProtocol>),
}

impl OneOrMany {
    pub(super) fn into_items(self) -> Vec<PerProtocol> {
        match self {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `connect = true` or `connect = { … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum ConnectStep {
    Flag(bool),
    Opts(ConnectOpts),
}

/// `reattach = true` or `reattach = { … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum ReattachStep {
    Flag(bool),
    Opts(ReattachOpts),
}

/// `open = true` or `open = { … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum OpenStep {
    Flag(bool),
    Opts(OpenOpts),
}

/// A handshake request to send.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct HandshakeStep {
    pub(super) protocol: Option<String>,
    pub(super) version: Option<i32>,
}

/// `handshake = true` or `handshake = { … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum HandshakeSend {
    Flag(bool),
    Opts(HandshakeStep),
}

/// Raw bytes to send.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawSend {
    pub(super) text: Option<String>,
    pub(super) hex: Option<String>,
    pub(super) messages: Vec<String>,
    pub(super) frame: Option<String>,
}

/// A duration as written: milliseconds or a timing expression.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum TimingText {
    Ms(u64),
    Expr(String),
}

/// One step as written: exactly one action field is set; the others are options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) client: Option<String>,
    pub(super) note: Option<String>,

    // Actions.
    pub(super) connect: Option<ConnectStep>,
    pub(super) negotiate: Option<String>,
    pub(super) open: Option<OpenStep>,
    pub(super) handshake: Option<HandshakeSend>,
    pub(super) send: Option<OneOrMany>,
    pub(super) send_raw: Option<RawSend>,
    pub(super) http: Option<HttpStep>,
    pub(super) expect: Option<OneOrMany>,
    pub(super) expect_unordered: Option<Vec<PerProtocol>>,
    pub(super) expect_handshake: Option<HandshakeExpect>,
    pub(super) expect_http: Option<HttpExpect>,
    pub(super) expect_close: Option<PerProtocol>,
    pub(super) expect_disconnect: Option<bool>,
    pub(super) expect_end: Option<bool>,
    pub(super) expect_frames: Option<bool>,
    pub(super) expect_silence: Option<TimingText>,
    pub(super) expect_ping: Option<bool>,
    pub(super) expect_ack: Option<i64>,
    pub(super) reattach: Option<ReattachStep>,
    pub(super) close: Option<String>,
    pub(super) wait: Option<TimingText>,
    pub(super) token: Option<super::TokenStep>,
    pub(super) use_token: Option<String>,

    // Options.
    pub(super) within: Option<TimingText>,
    pub(super) websocket_close_code: Option<u16>,
    pub(super) chunk_size: Option<usize>,
    pub(super) chunk_at: Option<Vec<usize>>,
    pub(super) save: BTreeMap<String, String>,
    pub(super) skip_unmatched: bool,
    pub(super) repeat: Option<String>,
    pub(super) token_in: Option<String>,
}

/// The action fields, in the order a step's error lists them.
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
    "expect_end",
    "expect_frames",
    "expect_silence",
    "expect_ping",
    "expect_ack",
    "reattach",
    "close",
    "wait",
    "token",
    "use_token",
];

impl RawStep {
    /// Names of the action fields that are set.
    pub(super) fn actions(&self) -> Vec<&'static str> {
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
            self.expect_end.is_some(),
            self.expect_frames.is_some(),
            self.expect_silence.is_some(),
            self.expect_ping.is_some(),
            self.expect_ack.is_some(),
            self.reattach.is_some(),
            self.close.is_some(),
            self.wait.is_some(),
            self.token.is_some(),
            self.use_token.is_some(),
        ];
        ACTIONS
            .iter()
            .zip(set)
            .filter_map(|(n, s)| s.then_some(*n))
            .collect()
    }
}
