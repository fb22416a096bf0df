//! A step of a case, typed: which client acts, and one [`Action`] with what it needs already
//! parsed (patterns, messages, hex, regexes, timing expressions). [`Step::from_raw`] is the
//! only place a step as written becomes one, so a bad step is a load error, never a verdict.

use std::collections::BTreeMap;
use std::sync::Arc;

use signalr_protocol::{HubMessage, HubProtocol};

use super::file::{
    ConnectStep, HandshakeSend, OpenStep, PerProtocol, RawStep, ReattachStep, TimingText,
};
use super::matcher::Pattern;
use super::timing::Timing;
use super::{
    ConnectOpts, HandshakeExpect, HttpExpect, HttpStep, OpenOpts, ReattachOpts, TokenStep,
};

/// Text from the case that may hold `${variables}`. Without any, it is parsed at load and the
/// parsed form is kept; with some, it is parsed once the variables are known.
#[derive(Debug, Clone)]
pub struct Template<T> {
    /// As written.
    pub text: String,
    /// Parsed, when the text has no variables.
    pub parsed: Option<T>,
}

impl<T> Template<T> {
    fn new(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Self, String> {
        let parsed = if text.contains("${") {
            None
        } else {
            Some(parse(text)?)
        };
        Ok(Self {
            text: text.to_owned(),
            parsed,
        })
    }
}

/// A value per protocol; `None` = the step item does not apply to that protocol.
#[derive(Debug, Clone)]
pub struct ByProtocol<T> {
    /// For JSON.
    pub json: Option<Arc<T>>,
    /// For MessagePack.
    pub messagepack: Option<Arc<T>>,
}

impl<T> ByProtocol<T> {
    /// The value for `p`.
    pub fn get(&self, p: HubProtocol) -> Option<&T> {
        match p {
            HubProtocol::Json => self.json.as_deref(),
            HubProtocol::MessagePack => self.messagepack.as_deref(),
        }
    }

    // One text for both protocols is parsed once and shared.
    fn from_text(
        p: &PerProtocol,
        build: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Self, String> {
        Ok(match p {
            PerProtocol::Same(s) => {
                let v = Arc::new(build(s)?);
                Self {
                    json: Some(v.clone()),
                    messagepack: Some(v),
                }
            }
            PerProtocol::Split { json, messagepack } => Self {
                json: json.as_deref().map(&build).transpose()?.map(Arc::new),
                messagepack: messagepack
                    .as_deref()
                    .map(&build)
                    .transpose()?
                    .map(Arc::new),
            },
        })
    }
}

/// How a step cuts what it sends into frames / POST bodies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Chunks {
    /// All in one.
    #[default]
    Whole,
    /// Pieces of at most this many bytes (`chunk_size`).
    Size(usize),
    /// Cut at these offsets (`chunk_at`).
    At(Vec<usize>),
}

/// WebSocket frame type of a raw send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Text frames.
    Text,
    /// Binary frames.
    Binary,
}

/// A message pattern that may hold variables.
pub type PatternTemplate = Template<Pattern>;
/// A hub message in notation that may hold variables.
pub type MessageTemplate = Template<HubMessage>;

/// Expected handshake response, with its regex compiled.
#[derive(Debug, Clone)]
pub struct HandshakeCheck {
    /// Success (`{}`).
    pub ok: bool,
    /// Exact error text.
    pub error: Option<String>,
    /// Error text matching this regex (source, compiled).
    pub error_matches: Option<(String, regex::Regex)>,
    /// The transport closes after an error response.
    pub then_closed: bool,
}

/// Expected HTTP response of the last exchange, with its body pattern parsed.
#[derive(Debug, Clone)]
pub struct HttpCheck {
    /// Status code.
    pub status: Option<u16>,
    /// Exact body text.
    pub body: Option<String>,
    /// Body as JSON, matched against this pattern.
    pub body_json: Option<PatternTemplate>,
    /// Content-Type's media type.
    pub content_type: Option<String>,
    /// Headers that must be present with these values (`"*"` = any, `"!"` = absent).
    pub headers: BTreeMap<String, String>,
    /// Values of the JSON body to save: variable → path (`save` on the step).
    pub save: BTreeMap<String, String>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Negotiate, open the transport and complete the handshake.
    Connect(ConnectOpts),
    /// A negotiate request with this query string.
    Negotiate(String),
    /// Open the transport, no handshake.
    Open(OpenOpts),
    /// Send a handshake request.
    Handshake {
        /// Protocol name (default: the combination's).
        protocol: Option<String>,
        /// Version.
        version: i32,
        /// Cutting.
        chunks: Chunks,
    },
    /// Send messages in the combination's protocol, in one buffer.
    Send {
        /// The messages.
        messages: Vec<ByProtocol<MessageTemplate>>,
        /// Cutting.
        chunks: Chunks,
    },
    /// Send raw bytes: text, then hex, then framed messages.
    SendRaw {
        /// UTF-8 text.
        text: Option<String>,
        /// Bytes.
        hex: Vec<u8>,
        /// Messages framed in the combination's protocol.
        messages: Vec<MessageTemplate>,
        /// Frame type (default: the protocol's).
        frame: Option<Frame>,
        /// Cutting.
        chunks: Chunks,
    },
    /// An HTTP request.
    Http(HttpStep),
    /// The next messages (Pings skipped) match, in order.
    Expect {
        /// Patterns.
        patterns: Vec<ByProtocol<PatternTemplate>>,
        /// Values to save from each matched message: variable → path.
        save: BTreeMap<String, String>,
        /// Skip messages that do not match instead of failing.
        skip_unmatched: bool,
    },
    /// The next messages match, in any order.
    ExpectUnordered(Vec<ByProtocol<PatternTemplate>>),
    /// The handshake response.
    ExpectHandshake(HandshakeCheck),
    /// The last HTTP exchange.
    ExpectHttp(HttpCheck),
    /// A Close message, then the transport ends.
    ExpectClose {
        /// The Close message's pattern.
        pattern: ByProtocol<PatternTemplate>,
        /// WebSocket Close frame status.
        websocket_close_code: Option<u16>,
    },
    /// The transport ends.
    ExpectDisconnect {
        /// WebSocket Close frame status.
        websocket_close_code: Option<u16>,
    },
    /// The connection ends, leniently: any Close message then the end of the transport, or
    /// the end of the transport alone (for cases whose subject is not the Close message).
    ExpectEnd {
        /// WebSocket Close frame status.
        websocket_close_code: Option<u16>,
    },
    /// Every WebSocket frame since the handshake carried the protocol's transfer format.
    ExpectFrames,
    /// No message other than Ping arrives for this long.
    ExpectSilence(Timing),
    /// A Ping arrives.
    ExpectPing,
    /// Stateful reconnect: the server acknowledges the client's messages up to this id (earlier
    /// Acks may come first).
    ExpectAck(i64),
    /// Stateful reconnect: drop the WebSocket (if open) and open a new one for the same
    /// connection, without a handshake.
    Reattach(ReattachOpts),
    /// Close the transport.
    Close {
        /// WebSocket Close frame / DELETE, or dropping the connection.
        graceful: bool,
    },
    /// WebSockets: send an empty Close frame and keep reading (`close = "empty-frame"`).
    CloseEmptyFrame,
    /// Wait this long.
    Wait(Timing),
    /// Get a token from the contract's `/contract/token` and save it.
    Token(TokenStep),
    /// Present this token from now on (empty: none), placed as `token_in` says.
    UseToken {
        /// The token (may hold variables).
        token: String,
        /// Where it goes.
        token_in: TokenIn,
    },
}

impl Action {
    /// The action's name as written in case files (and shown in failures).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Connect(_) => "connect",
            Action::Negotiate(_) => "negotiate",
            Action::Open(_) => "open",
            Action::Handshake { .. } => "handshake",
            Action::Send { .. } => "send",
            Action::SendRaw { .. } => "send_raw",
            Action::Http(_) => "http",
            Action::Expect { .. } => "expect",
            Action::ExpectUnordered(_) => "expect_unordered",
            Action::ExpectHandshake(_) => "expect_handshake",
            Action::ExpectHttp(_) => "expect_http",
            Action::ExpectClose { .. } => "expect_close",
            Action::ExpectDisconnect { .. } => "expect_disconnect",
            Action::ExpectEnd { .. } => "expect_end",
            Action::ExpectFrames => "expect_frames",
            Action::ExpectSilence(_) => "expect_silence",
            Action::ExpectPing => "expect_ping",
            Action::ExpectAck(_) => "expect_ack",
            Action::Reattach(_) => "reattach",
            Action::Close { .. } | Action::CloseEmptyFrame => "close",
            Action::Wait(_) => "wait",
            Action::Token(_) => "token",
            Action::UseToken { .. } => "use_token",
        }
    }
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Which client acts (`a` by default).
    pub client: String,
    /// A note shown in the transcript.
    pub note: Option<String>,
    /// Timeout of an expect step (default: the case's `timeout_ms`).
    pub within: Option<Timing>,
    /// `send` / `expect_unordered` only: do it this many times (an expression of the target's
    /// settings, e.g. `maxParallelInvocations + 1`), with `${n}` = 1, 2, …
    pub repeat: Option<String>,
    /// What it does.
    pub action: Action,
}

/// A timing as written, parsed (the error names the expression).
pub(super) fn timing(t: &TimingText) -> Result<Timing, String> {
    match t {
        TimingText::Ms(ms) => Ok(Timing::Ms(*ms)),
        TimingText::Expr(e) => Timing::parse(e).map_err(|m| format!("timing '{e}': {m}")),
    }
}

fn pattern(text: &str) -> Result<PatternTemplate, String> {
    Template::new(text, Pattern::parse).map_err(|m| format!("pattern {text}: {m}"))
}

fn message(text: &str) -> Result<MessageTemplate, String> {
    Template::new(text, signalr_protocol::notation::message_from_text)
        .map_err(|m| format!("message {text}: {m}"))
}

fn patterns(items: Vec<PerProtocol>) -> Result<Vec<ByProtocol<PatternTemplate>>, String> {
    items
        .iter()
        .map(|p| ByProtocol::from_text(p, pattern))
        .collect()
}

impl Step {
    /// Validates a step as written; the error says what is wrong (the caller adds where).
    pub(super) fn from_raw(s: RawStep) -> Result<Step, String> {
        let names = s.actions();
        if names.len() != 1 {
            return Err(format!(
                "a step needs exactly one action (found {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
        if s.websocket_close_code.is_some()
            && s.expect_close.is_none()
            && s.expect_disconnect.is_none()
            && s.expect_end.is_none()
        {
            return Err(
                "websocket_close_code goes with expect_close, expect_disconnect or expect_end"
                    .into(),
            );
        }
        let within = s.within.as_ref().map(timing).transpose()?;
        let chunks = match (s.chunk_size, &s.chunk_at) {
            (Some(n), _) => Chunks::Size(n),
            (None, Some(at)) => Chunks::At(at.clone()),
            (None, None) => Chunks::Whole,
        };
        if s.token_in.is_some() && s.use_token.is_none() {
            return Err("token_in goes with use_token (connect takes its own token_in)".into());
        }
        if !s.save.is_empty() && s.expect.is_none() && s.expect_http.is_none() {
            return Err("save goes with expect or expect_http".into());
        }
        let action = if let Some(c) = s.connect {
            let o = match c {
                ConnectStep::Flag(_) => ConnectOpts::default(),
                ConnectStep::Opts(o) => o,
            };
            token_in(o.token_in.as_deref())?;
            if o.token.is_some() && o.user.is_some() {
                return Err("connect takes a user or a token, not both".into());
            }
            Action::Connect(o)
        } else if let Some(t) = s.token {
            check_token_step(&t)?;
            Action::Token(t)
        } else if let Some(t) = s.use_token {
            Action::UseToken {
                token: t,
                token_in: token_in(s.token_in.as_deref())?,
            }
        } else if let Some(q) = s.negotiate {
            Action::Negotiate(q)
        } else if let Some(o) = s.open {
            Action::Open(match o {
                OpenStep::Flag(_) => OpenOpts::default(),
                OpenStep::Opts(o) => o,
            })
        } else if let Some(h) = s.handshake {
            let (protocol, version) = match h {
                HandshakeSend::Flag(_) => (None, None),
                HandshakeSend::Opts(o) => (o.protocol, o.version),
            };
            Action::Handshake {
                protocol,
                version: version.unwrap_or(1),
                chunks,
            }
        } else if let Some(m) = s.send {
            Action::Send {
                messages: m
                    .into_items()
                    .iter()
                    .map(|p| ByProtocol::from_text(p, message))
                    .collect::<Result<_, _>>()?,
                chunks,
            }
        } else if let Some(r) = s.send_raw {
            let hex = match &r.hex {
                Some(h) => crate::hex::parse_hex(h).map_err(|m| format!("send_raw hex: {m}"))?,
                None => Vec::new(),
            };
            let frame = match r.frame.as_deref() {
                None => None,
                Some("text") => Some(Frame::Text),
                Some("binary") => Some(Frame::Binary),
                Some(other) => {
                    return Err(format!(
                        "send_raw frame must be 'text' or 'binary', not '{other}'"
                    ))
                }
            };
            Action::SendRaw {
                text: r.text,
                hex,
                messages: r
                    .messages
                    .iter()
                    .map(|m| message(m))
                    .collect::<Result<_, _>>()?,
                frame,
                chunks,
            }
        } else if let Some(h) = s.http {
            Action::Http(h)
        } else if let Some(e) = s.expect {
            Action::Expect {
                patterns: patterns(e.into_items())?,
                save: s.save,
                skip_unmatched: s.skip_unmatched,
            }
        } else if let Some(e) = s.expect_unordered {
            Action::ExpectUnordered(patterns(e)?)
        } else if let Some(h) = s.expect_handshake {
            Action::ExpectHandshake(handshake_check(h)?)
        } else if let Some(h) = s.expect_http {
            let mut check = http_check(h)?;
            check.save = s.save;
            Action::ExpectHttp(check)
        } else if let Some(c) = s.expect_close {
            Action::ExpectClose {
                pattern: ByProtocol::from_text(&c, pattern)?,
                websocket_close_code: s.websocket_close_code,
            }
        } else if s.expect_disconnect.is_some() {
            Action::ExpectDisconnect {
                websocket_close_code: s.websocket_close_code,
            }
        } else if s.expect_end.is_some() {
            Action::ExpectEnd {
                websocket_close_code: s.websocket_close_code,
            }
        } else if s.expect_frames.is_some() {
            Action::ExpectFrames
        } else if let Some(t) = &s.expect_silence {
            Action::ExpectSilence(timing(t)?)
        } else if s.expect_ping.is_some() {
            Action::ExpectPing
        } else if let Some(n) = s.expect_ack {
            if n < 1 {
                return Err(format!("expect_ack {n}: sequence ids start at 1"));
            }
            Action::ExpectAck(n)
        } else if let Some(r) = s.reattach {
            Action::Reattach(match r {
                ReattachStep::Flag(_) => ReattachOpts::default(),
                ReattachStep::Opts(o) => o,
            })
        } else if let Some(how) = &s.close {
            match how.as_str() {
                "graceful" => Action::Close { graceful: true },
                "abrupt" => Action::Close { graceful: false },
                "empty-frame" => Action::CloseEmptyFrame,
                _ => return Err("close must be 'graceful', 'abrupt' or 'empty-frame'".into()),
            }
        } else if let Some(t) = &s.wait {
            Action::Wait(timing(t)?)
        } else {
            // `actions()` found exactly one action field above.
            return Err("a step needs exactly one action (found none)".into());
        };
        if s.repeat.is_some() && !matches!(action, Action::Send { .. } | Action::ExpectUnordered(_))
        {
            return Err("`repeat` only applies to `send` and `expect_unordered`".into());
        }
        Ok(Step {
            client: s.client.unwrap_or_else(|| "a".to_owned()),
            note: s.note,
            within,
            repeat: s.repeat,
            action,
        })
    }
}

fn handshake_check(h: HandshakeExpect) -> Result<HandshakeCheck, String> {
    let error_matches = match h.error_matches {
        Some(r) => {
            let re = regex::Regex::new(&r).map_err(|e| format!("invalid regex: {e}"))?;
            Some((r, re))
        }
        None => None,
    };
    Ok(HandshakeCheck {
        ok: h.ok,
        error: h.error,
        error_matches,
        then_closed: h.then_closed.unwrap_or(true),
    })
}

fn http_check(h: HttpExpect) -> Result<HttpCheck, String> {
    Ok(HttpCheck {
        status: h.status,
        body: h.body,
        body_json: h.body_json.as_deref().map(pattern).transpose()?,
        content_type: h.content_type,
        headers: h.headers,
        save: BTreeMap::new(),
    })
}

/// Where a client puts its token (`token_in`); the runner maps it to the client's placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenIn {
    /// As browser clients: the header on negotiate and Long Polling, the query on the
    /// WebSocket upgrade and the SSE GET.
    #[default]
    Browser,
    /// The Authorization header everywhere.
    Header,
    /// The `access_token` query parameter everywhere.
    Query,
}

/// `token_in` as written.
pub fn token_in(t: Option<&str>) -> Result<TokenIn, String> {
    match t {
        None | Some("browser") => Ok(TokenIn::Browser),
        Some("header") => Ok(TokenIn::Header),
        Some("query") => Ok(TokenIn::Query),
        Some(other) => Err(format!(
            "token_in must be 'browser', 'header' or 'query', not '{other}'"
        )),
    }
}

fn check_token_step(t: &TokenStep) -> Result<(), String> {
    let name_ok = !t.save.is_empty()
        && t.save
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err("token needs save = \"<variable name>\" (letters, digits, _ and -)".into());
    }
    if t.user.is_empty() {
        return Err("token needs a user".into());
    }
    match t.alg.as_deref() {
        None | Some("HS256" | "HS384" | "HS512" | "none") => Ok(()),
        Some(a) => Err(format!(
            "token alg must be HS256, HS384, HS512 or none, not '{a}'"
        )),
    }
}
