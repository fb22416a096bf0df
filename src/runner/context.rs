//! The state of one execution while its steps run: the clients, the saved variables, the
//! step being run; and the helpers every action shares (variables, templates, receiving, and
//! the one mapping of a client error to FAIL or ERROR).

use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use signalr_protocol::{HubMessage, HubProtocol, Parsed};
use tokio::time::Instant;

use super::outcome::StepError;
use super::probe::MAX_TESTED_MESSAGE_SIZE;
use super::{RunOptions, TargetInfo};
use crate::cases::matcher::Pattern;
use crate::cases::step::{ByProtocol, MessageTemplate, PatternTemplate, Template};
use crate::cases::{Execution, Step};
use crate::client::{Blame, ClientError, RecvError, Session, Transcript, TransportKind};

/// A template's value (parsed at load or now) and its text after substitution.
/// The contract's authorized hub, next to the conformance hub (contract 1.1).
pub const AUTHORIZED_HUB: &str = "authhub";

pub(super) type Resolved<'t, T> = (Cow<'t, T>, Cow<'t, str>);

/// One execution in progress.
pub(super) struct Ctx<'a> {
    pub(super) exec: &'a Execution,
    pub(super) opts: &'a RunOptions,
    pub(super) info: &'a TargetInfo,
    pub(super) http: reqwest::Client,
    pub(super) transcript: Transcript,
    pub(super) sessions: BTreeMap<String, Session>,
    pub(super) vars: HashMap<String, String>,
    pub(super) protocol: HubProtocol,
    pub(super) transport: TransportKind,
    /// 1-based number of the step being run.
    pub(super) step: usize,
    pub(super) action: &'static str,
    /// How long the current step waits for the server (for "nothing arrived within …").
    pub(super) wait: Duration,
}

impl<'a> Ctx<'a> {
    /// A context for `e`, before its first step.
    pub(super) fn new(
        e: &'a Execution,
        info: &'a TargetInfo,
        opts: &'a RunOptions,
        http: reqwest::Client,
        transcript: Transcript,
        uid: usize,
    ) -> Self {
        let mut vars = HashMap::new();
        vars.insert("uid".to_owned(), format!("{uid}-{}", std::process::id()));
        Ctx {
            exec: e,
            opts,
            info,
            http,
            transcript,
            sessions: BTreeMap::new(),
            vars,
            protocol: e.combo.protocol.unwrap_or(HubProtocol::Json),
            transport: e.combo.transport.unwrap_or(TransportKind::WebSockets),
            step: 0,
            action: "connect",
            wait: opts.scale(opts.step_timeout),
        }
    }

    /// Starts a step: its number, its action, how long it waits for the server.
    pub(super) fn begin(&mut self, number: usize, step: &Step) {
        self.step = number;
        self.action = step.action.name();
        self.wait = self.timeout_for(step);
    }

    /// The target broke the requirement of the current step.
    /// Both texts are redacted and cut to an excerpt at once, so a hostile body is not kept
    /// whole (or a token shown) however the failure is reported.
    pub(super) fn fail(&self, expected: impl Into<String>, actual: impl Into<String>) -> StepError {
        let quote = |t: String| crate::client::transcript::excerpt(&self.transcript.redact(&t));
        StepError::Fail {
            step: self.step,
            action: self.action.to_owned(),
            expected: quote(expected.into()),
            actual: quote(actual.into()),
        }
    }

    /// A failed client call: FAIL when the target is to blame (the expectation `expected` did
    /// not hold), ERROR when the harness is.
    pub(super) fn client_failure(&self, expected: &str, e: ClientError) -> StepError {
        match e.blame() {
            Blame::Target => self.fail(expected, e.to_string()),
            Blame::Harness => StepError::Error(e.to_string()),
        }
    }

    /// A failed receive, like [`Ctx::client_failure`].
    pub(super) fn recv_failure(&self, expected: &str, e: RecvError) -> StepError {
        self.recv_failure_then(expected, e, |actual| actual)
    }

    /// A failed receive whose "actual" gets context (what arrived before it).
    pub(super) fn recv_failure_then(
        &self,
        expected: &str,
        e: RecvError,
        context: impl FnOnce(String) -> String,
    ) -> StepError {
        match (e.blame(), e) {
            (Blame::Harness, RecvError::Transport(t)) => StepError::Error(t),
            (Blame::Harness, other) => StepError::Error(other.to_string()),
            (Blame::Target, e) => self.fail(expected, context(self.describe_recv(&e))),
        }
    }

    /// A receive error as the "actual" of a failure; a timeout names the step's whole wait
    /// (the error itself only knows the time left when its last read began).
    pub(super) fn describe_recv(&self, e: &RecvError) -> String {
        match e {
            RecvError::Timeout(_) => RecvError::Timeout(self.wait).to_string(),
            other => other.to_string(),
        }
    }

    /// Replaces `${name}` with variables (`uid`, saved values, `<client>.connectionId`).
    pub(super) fn subst(&self, text: &str) -> Result<String, StepError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some((before, after)) = rest.split_once("${") {
            out.push_str(before);
            // The name ends at the brace that balances `${` (a detailed text may hold braces
            // and variables of its own).
            let mut depth = 1usize;
            let end = after.char_indices().find_map(|(i, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            });
            let Some(end) = end else {
                return Err(StepError::Error(format!("unterminated variable in {text}")));
            };
            let (name, tail) = (&after[..end], &after[end + 1..]);
            // `${detailed:<text>}`: the text (its own variables substituted) when the target
            // declares detailed errors, else nothing. ASP.NET Core's detailed texts are the
            // plain text plus ` <ExceptionType>: <message>` (ErrorMessageHelper.BuildErrorMessage).
            let value = match name.strip_prefix("detailed:") {
                Some(detail) if self.info.detailed_errors => self.subst(detail)?,
                Some(_) => String::new(),
                // `${fill:<size>}`: that many `x` (raw filler up to a size limit).
                None => match name.strip_prefix("fill:") {
                    Some(expr) => "x".repeat(self.size(expr)?),
                    None => self
                        .var(name)
                        .ok_or_else(|| StepError::Error(format!("unknown variable '{name}'")))?,
                },
            };
            out.push_str(&value);
            rest = tail;
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A size expression: integers and `maxMessageSize` (the target's declared
    /// MaximumReceiveMessageSize) joined by `+`, `-` and `*`, evaluated left to right; at most
    /// four times [`MAX_TESTED_MESSAGE_SIZE`].
    pub(super) fn size(&self, expr: &str) -> Result<usize, StepError> {
        let v = self.settings_expr(expr)?;
        if v > 4 * MAX_TESTED_MESSAGE_SIZE {
            return Err(StepError::Error(format!(
                "size expression '{expr}': {v} bytes is more than conform sends"
            )));
        }
        usize::try_from(v).map_err(|_| StepError::Error(format!("'{expr}' is too large")))
    }

    /// A repeat count: like a size, with `maxParallelInvocations` too; at most 1000.
    pub(super) fn count(&self, expr: &str) -> Result<usize, StepError> {
        match self.settings_expr(expr)? {
            v @ 0..=1000 => Ok(v as usize),
            v => Err(StepError::Error(format!(
                "repeat '{expr}' is {v}, more than the 1000 conform sends"
            ))),
        }
    }

    /// Integers and the target's declared settings (`maxMessageSize`,
    /// `maxParallelInvocations`) joined by `+`, `-`, `*`, evaluated left to right.
    fn settings_expr(&self, expr: &str) -> Result<u64, StepError> {
        let bad = |why: String| StepError::Error(format!("expression '{expr}': {why}"));
        let operand = |t: &str| -> Result<u64, StepError> {
            match t.trim() {
                "maxParallelInvocations" => Ok(self.info.max_parallel_invocations.max(1)),
                "maxMessageSize" => self
                    .info
                    .message_size_limit()
                    .ok_or_else(|| bad("the target declares no receive message size limit".into())),
                n => n
                    .parse::<u64>()
                    .map_err(|_| bad(format!("'{n}' is not a number"))),
            }
        };
        let mut value: Option<u64> = None;
        let mut op = None;
        let mut operand_text = String::new();
        for c in expr.chars().chain(std::iter::once('\0')) {
            if !matches!(c, '+' | '-' | '*' | '\0') {
                operand_text.push(c);
                continue;
            }
            let v = operand(&operand_text)?;
            operand_text.clear();
            value = Some(match (value, op) {
                (Some(a), Some('+')) => a.saturating_add(v),
                (Some(a), Some('-')) => a.checked_sub(v).ok_or_else(|| bad("below zero".into()))?,
                (Some(a), Some(_)) => a.saturating_mul(v),
                _ => v,
            });
            op = Some(c);
        }
        value.ok_or_else(|| bad("empty".into()))
    }

    fn var(&self, name: &str) -> Option<String> {
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
        }
        if name == "maxMessageSize" {
            return self.info.message_size_limit().map(|n| n.to_string());
        }
        // `${scaled:300}`: milliseconds for the server (e.g. a Delay argument) stretched by
        // --time-scale like the case's own waits.
        if let Some(ms) = name.strip_prefix("scaled:") {
            let ms: f64 = ms.trim().parse().ok()?;
            return Some(format!("{}", (ms * self.opts.time_scale).round() as u64));
        }
        let (client, field) = name.split_once('.')?;
        let s = self.sessions.get(client)?;
        match field {
            "connectionId" => s.connection_id(),
            "transportId" => s.transport_id(),
            _ => None,
        }
    }

    /// A template's value: parsed at load, or parsed now that the variables are known. The
    /// text is returned too (after substitution), for failures to show.
    fn resolve<'t, T: Clone>(
        &self,
        t: &'t Template<T>,
        parse: impl Fn(&str) -> Result<T, String>,
        what: &str,
    ) -> Result<Resolved<'t, T>, StepError> {
        if let Some(p) = &t.parsed {
            return Ok((Cow::Borrowed(p), Cow::Borrowed(t.text.as_str())));
        }
        let text = self.subst(&t.text)?;
        let v = parse(&text)
            .map_err(|e| StepError::Error(format!("invalid {what} in the case: {e}: {text}")))?;
        Ok((Cow::Owned(v), Cow::Owned(text)))
    }

    /// A pattern and its text.
    pub(super) fn pattern<'t>(
        &self,
        t: &'t PatternTemplate,
    ) -> Result<Resolved<'t, Pattern>, StepError> {
        self.resolve(t, Pattern::parse, "pattern")
    }

    /// The pattern of a per-protocol item for this combination (`None`: not applicable).
    pub(super) fn pattern_for<'t>(
        &self,
        item: &'t ByProtocol<PatternTemplate>,
    ) -> Result<Option<Resolved<'t, Pattern>>, StepError> {
        item.get(self.protocol).map(|t| self.pattern(t)).transpose()
    }

    /// A message.
    pub(super) fn message<'t>(
        &self,
        t: &'t MessageTemplate,
    ) -> Result<Cow<'t, HubMessage>, StepError> {
        self.resolve(t, signalr_protocol::notation::message_from_text, "message")
            .map(|(m, _)| m)
    }

    /// How long an expect step waits (scaled).
    fn timeout_for(&self, step: &Step) -> Duration {
        let ms = match &step.within {
            Some(t) => t.millis(&self.info.timers),
            None => self
                .exec
                .case
                .timeout_ms
                .map(|m| m as f64)
                .unwrap_or(self.opts.step_timeout.as_millis() as f64),
        };
        self.opts.scale(Duration::from_millis(ms as u64))
    }

    /// A case duration (`wait`, `expect_silence`) for the target's timers, scaled.
    pub(super) fn duration(&self, t: &crate::cases::Timing) -> Duration {
        self.opts
            .scale(Duration::from_millis(t.millis(&self.info.timers) as u64))
    }

    /// Makes sessions of this execution: `(name, user token)`; it borrows nothing, so a
    /// session can be made while the map of sessions is borrowed.
    pub(super) fn session_factory(&self) -> impl Fn(&str, Option<String>) -> Session {
        self.session_factory_on(&self.opts.target)
    }

    /// The node `n` of the hub: 0 = `--target`, N = the N-th `--peer` (the gate ran only
    /// cases whose nodes were given).
    pub(super) fn node(&self, n: u8) -> Result<&'a crate::client::Target, StepError> {
        match n {
            0 => Ok(&self.opts.target),
            n => self.opts.peers.get(usize::from(n) - 1).ok_or_else(|| {
                StepError::Error(format!(
                    "node {n}: only {} --peer given",
                    self.opts.peers.len()
                ))
            }),
        }
    }

    /// Like [`Ctx::session_factory`], for clients of the node `node`.
    pub(super) fn session_factory_on(
        &self,
        node: &crate::client::Target,
    ) -> impl Fn(&str, Option<String>) -> Session {
        let (http, transcript) = (self.http.clone(), self.transcript.clone());
        let (transport, protocol) = (self.transport, self.protocol);
        let (mut target, timeout) = (node.clone(), self.opts.request_timeout());
        if self.exec.case.hub == crate::cases::Hub::Authorized {
            target.hub_url = target.sibling_url(AUTHORIZED_HUB);
        }
        move |name, token| {
            let mut t = target.clone();
            if token.is_some() {
                t.access_token = token;
            }
            Session::new(
                name,
                Arc::new(t),
                http.clone(),
                transport,
                protocol,
                transcript.clone(),
            )
            .with_request_timeout(timeout)
        }
    }

    /// The client `name` of an earlier step.
    pub(super) fn session(&mut self, name: &str) -> Result<&mut Session, StepError> {
        self.sessions.get_mut(name).ok_or_else(|| {
            StepError::Error(format!(
                "client '{name}' has not been created by an earlier step"
            ))
        })
    }

    /// Creates (or replaces) the client `name` on the node `node` (see [`Ctx::node`]),
    /// connecting as the user of `token` if any.
    pub(super) fn new_session_on(
        &mut self,
        name: &str,
        token: Option<String>,
        node: &crate::client::Target,
    ) -> &mut Session {
        let s = self.session_factory_on(node)(name, token);
        self.put_session(name, s)
    }

    fn put_session(&mut self, name: &str, s: Session) -> &mut Session {
        match self.sessions.entry(name.to_owned()) {
            Entry::Occupied(mut o) => {
                let mut old = std::mem::replace(o.get_mut(), s);
                // Replacing a client drops its connection.
                tokio::spawn(async move { old.close(false).await });
                o.into_mut()
            }
            Entry::Vacant(v) => v.insert(s),
        }
    }

    /// The client `name`, created without a connection if no step has made it yet.
    pub(super) fn session_or_new(&mut self, name: &str) -> &mut Session {
        let make = self.session_factory();
        self.sessions
            .entry(name.to_owned())
            .or_insert_with(|| make(name, None))
    }

    /// The next message that is not a Ping (nor, with stateful reconnect, an Ack).
    pub(super) async fn next_message(
        &mut self,
        client: &str,
        deadline: Instant,
    ) -> Result<Parsed, RecvError> {
        let s = self
            .sessions
            .get_mut(client)
            .ok_or_else(|| RecvError::Transport(format!("no client '{client}'")))?;
        loop {
            match s.recv(deadline).await? {
                Parsed::Message(HubMessage::Ping) => continue,
                Parsed::Message(HubMessage::Ack(_)) if s.stateful => continue,
                p => return Ok(p),
            }
        }
    }
}
