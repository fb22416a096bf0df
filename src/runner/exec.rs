//! Executes one case × combination: the step interpreter.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use signalr_protocol::{HubMessage, HubProtocol, Parsed, Value};
use tokio::time::Instant;

use super::timing::{self, Timers};
use super::{RunOptions, TargetInfo};
use crate::cases::matcher::{lookup, Pattern};
use crate::cases::{
    ConnectOpts, ConnectStep, Execution, HandshakeSend, OpenOpts, OpenStep, PerProtocol, Step,
    Timing,
};
use crate::client::{
    Chunking, Direction, FrameKind, RecvError, Session, Target, Transcript, TransportKind,
};
use crate::result::{Failure, Outcome, Verdict};

/// Why a step did not succeed.
#[derive(Debug, Clone)]
pub(crate) enum StepError {
    /// The target broke the requirement.
    Fail {
        step: usize,
        action: String,
        expected: String,
        actual: String,
    },
    /// The harness could not carry out the step.
    Error(String),
}

struct Ctx<'a> {
    exec: &'a Execution,
    opts: &'a RunOptions,
    info: &'a TargetInfo,
    http: reqwest::Client,
    transcript: Transcript,
    sessions: BTreeMap<String, Session>,
    vars: HashMap<String, String>,
    protocol: HubProtocol,
    transport: TransportKind,
    step: usize,
    action: &'static str,
    /// How long the current step waits for the server (for "nothing arrived within …").
    wait: Duration,
}

pub(crate) fn skipped(e: &Execution, verdict: Verdict, reason: String) -> Outcome {
    base_outcome(e, verdict, Some(reason), None, Vec::new(), Duration::ZERO)
}

fn base_outcome(
    e: &Execution,
    verdict: Verdict,
    reason: Option<String>,
    failure: Option<Failure>,
    transcript: Vec<crate::client::transcript::Event>,
    duration: Duration,
) -> Outcome {
    let c = &e.case;
    Outcome {
        name: e.name.clone(),
        case_id: c.id.clone(),
        title: c.title.clone(),
        requirement: c.requirement.clone(),
        level: c.level,
        reference: c.reference.clone(),
        tags: c.tags.clone(),
        transport: e.combo.transport.map(|t| t.short().to_owned()),
        protocol: e.combo.protocol.map(|p| p.name().to_owned()),
        negotiate_version: e.combo.negotiate_version,
        verdict,
        reason,
        failure,
        baseline: None,
        duration_ms: duration.as_millis() as u64,
        transcript,
    }
}

pub(crate) fn outcome(
    e: &Execution,
    result: Result<(), StepError>,
    transcript: Transcript,
    duration: Duration,
    trace_all: bool,
) -> Outcome {
    match result {
        Ok(()) => base_outcome(
            e,
            Verdict::Pass,
            None,
            None,
            if trace_all {
                transcript.events()
            } else {
                Vec::new()
            },
            duration,
        ),
        Err(StepError::Fail {
            step,
            action,
            expected,
            actual,
        }) => base_outcome(
            e,
            Verdict::for_broken(e.case.level),
            Some(format!("step {step} ({action}): {actual}")),
            Some(Failure {
                step,
                action,
                expected,
                actual,
            }),
            transcript.events(),
            duration,
        ),
        Err(StepError::Error(reason)) => base_outcome(
            e,
            Verdict::Error,
            Some(reason),
            None,
            transcript.events(),
            duration,
        ),
    }
}

pub(crate) async fn execute(
    e: &Execution,
    info: &TargetInfo,
    opts: &RunOptions,
    http: reqwest::Client,
    transcript: Transcript,
    uid: usize,
) -> Result<(), StepError> {
    let mut vars = HashMap::new();
    vars.insert("uid".to_owned(), format!("{uid}-{}", std::process::id()));
    let mut ctx = Ctx {
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
    };
    let result = ctx.run().await;
    for (_, mut s) in std::mem::take(&mut ctx.sessions) {
        s.close(false).await;
    }
    result
}

impl<'a> Ctx<'a> {
    async fn run(&mut self) -> Result<(), StepError> {
        let case = self.exec.case.clone();
        if case.auto_connect {
            self.action = "connect";
            self.connect("a", &ConnectOpts::default()).await?;
        }
        for (i, step) in case.steps.iter().enumerate() {
            self.step = i + 1;
            self.action = step.actions().first().copied().unwrap_or("step");
            if let Some(n) = &step.note {
                self.transcript
                    .push(step.client(), Direction::Note, "note", n.clone());
            }
            self.run_step(step).await?;
        }
        Ok(())
    }

    fn fail(&self, expected: impl Into<String>, actual: impl Into<String>) -> StepError {
        StepError::Fail {
            step: self.step,
            action: self.action.to_owned(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// Replaces `${name}` with variables (`uid`, saved values, `<client>.connectionId`).
    fn subst(&self, text: &str) -> Result<String, StepError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                return Err(StepError::Error(format!("unterminated variable in {text}")));
            };
            let name = &after[..end];
            let value = self
                .var(name)
                .ok_or_else(|| StepError::Error(format!("unknown variable '{name}'")))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn var(&self, name: &str) -> Option<String> {
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
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

    fn timeout_for(&self, step: &Step) -> Duration {
        let ms = match &step.within {
            Some(t) => self.timing_ms(t),
            None => self
                .exec
                .case
                .timeout_ms
                .map(|m| m as f64)
                .unwrap_or(self.opts.step_timeout.as_millis() as f64),
        };
        self.opts.scale(Duration::from_millis(ms as u64))
    }

    fn timing_ms(&self, t: &Timing) -> f64 {
        match t {
            Timing::Ms(ms) => *ms as f64,
            Timing::Expr(e) => timing::parse(e)
                .map(|x| x.eval(&self.timers()))
                .unwrap_or(0.0),
        }
    }

    fn timers(&self) -> Timers {
        self.info.timers
    }

    fn target_for(&self, user_token: Option<String>) -> Arc<Target> {
        let mut t = self.opts.target.clone();
        if user_token.is_some() {
            t.access_token = user_token;
        }
        Arc::new(t)
    }

    fn session(&mut self, name: &str) -> Result<&mut Session, StepError> {
        self.sessions.get_mut(name).ok_or_else(|| {
            StepError::Error(format!(
                "client '{name}' has not been created by an earlier step"
            ))
        })
    }

    fn new_session(&mut self, name: &str, token: Option<String>) -> &mut Session {
        let mut s = Session::new(
            name,
            self.target_for(token),
            self.http.clone(),
            self.transport,
            self.protocol,
            self.transcript.clone(),
        );
        s.request_timeout = self.opts.request_timeout();
        if let Some(mut old) = self.sessions.insert(name.to_owned(), s) {
            // Replacing a client drops its connection.
            tokio::spawn(async move { old.close(false).await });
        }
        self.sessions.get_mut(name).expect("just inserted")
    }

    async fn user_token(&mut self, user: &str) -> Result<String, StepError> {
        let user = self.subst(user)?;
        let url = {
            let mut u = self.opts.target.sibling_url("contract/token");
            u.query_pairs_mut().append_pair("user", &user);
            u
        };
        let mut probe = Session::new(
            "token",
            Arc::new(self.opts.target.clone()),
            self.http.clone(),
            self.transport,
            self.protocol,
            self.transcript.clone(),
        );
        probe.request_timeout = self.opts.request_timeout();
        let r = probe.http_token(url).await.map_err(StepError::Error)?;
        if r.status != 200 || r.body.is_empty() {
            return Err(StepError::Error(format!(
                "could not get a token for user '{user}' from the contract's /contract/token endpoint (HTTP {})",
                r.status
            )));
        }
        let token = r.text().trim().to_owned();
        self.transcript.secret(&token);
        Ok(token)
    }

    async fn connect(&mut self, client: &str, o: &ConnectOpts) -> Result<(), StepError> {
        let token = match &o.user {
            Some(u) => Some(self.user_token(u).await?),
            None => None,
        };
        let extra = match &o.query {
            Some(q) => self.subst(q)?,
            None => String::new(),
        };
        let version = self.exec.combo.negotiate_version;
        self.wait = self.opts.scale(self.opts.step_timeout);
        let deadline = Instant::now() + self.wait;
        let transport = self.transport;
        let protocol = self.protocol;
        let (step, action) = (self.step, self.action.to_owned());
        let fail = |expected: String, actual: String| StepError::Fail {
            step,
            action: action.clone(),
            expected,
            actual,
        };
        let s = self.new_session(client, token);
        if o.skip_negotiation {
            if transport != TransportKind::WebSockets {
                return Err(StepError::Error(
                    "skip_negotiation needs the WebSockets transport".into(),
                ));
            }
            s.open(None, &extra).await.map_err(|e| {
                fail(
                    "the WebSocket upgrade without negotiation succeeds".into(),
                    e,
                )
            })?;
        } else {
            let query = if extra.is_empty() {
                format!("negotiateVersion={version}")
            } else {
                format!("negotiateVersion={version}&{extra}")
            };
            let r = s.negotiate(&query).await.map_err(StepError::Error)?;
            let Some(id) = s.transport_id() else {
                return Err(fail(
                    "negotiate answers 200 with a connection".into(),
                    format!("HTTP {} {}", r.status, r.text()),
                ));
            };
            s.open(Some(&id), &extra)
                .await
                .map_err(|e| fail(format!("the {} transport opens", transport.name()), e))?;
        }
        s.send_handshake(
            protocol.name(),
            o.handshake_version.unwrap_or(1),
            &Chunking::Whole,
        )
        .await
        .map_err(StepError::Error)?;
        match s.recv_handshake(deadline).await {
            Ok(r) if r.error.is_none() => Ok(()),
            Ok(r) => Err(fail(
                "the handshake succeeds".into(),
                format!("handshake error: {}", r.error.unwrap_or_default()),
            )),
            Err(RecvError::Transport(t)) => Err(StepError::Error(t)),
            Err(e) => Err(fail("a handshake response".into(), self.describe_recv(&e))),
        }
    }

    async fn run_step(&mut self, step: &Step) -> Result<(), StepError> {
        let client = step.client().to_owned();
        let timeout = self.timeout_for(step);
        self.wait = timeout;
        let chunking = match (&step.chunk_size, &step.chunk_at) {
            (Some(n), _) => Chunking::Size(*n),
            (None, Some(at)) => Chunking::At(at.clone()),
            (None, None) => Chunking::Whole,
        };
        if let Some(c) = &step.connect {
            let opts = match c {
                ConnectStep::Flag(_) => ConnectOpts::default(),
                ConnectStep::Opts(o) => o.clone(),
            };
            return self.connect(&client, &opts).await;
        }
        if let Some(q) = &step.negotiate {
            let q = self.subst(q)?;
            if !self.sessions.contains_key(&client) {
                self.new_session(&client, None);
            }
            self.session(&client)?
                .negotiate(&q)
                .await
                .map_err(StepError::Error)?;
            return Ok(());
        }
        if let Some(o) = &step.open {
            let o = match o {
                OpenStep::Flag(_) => OpenOpts::default(),
                OpenStep::Opts(o) => o.clone(),
            };
            return self.open(&client, &o).await;
        }
        if let Some(h) = &step.handshake {
            let (p, v) = match h {
                HandshakeSend::Flag(_) => (None, None),
                HandshakeSend::Opts(o) => (o.protocol.clone(), o.version),
            };
            let protocol = p.unwrap_or_else(|| self.protocol.name().to_owned());
            return self
                .session(&client)?
                .send_handshake(&protocol, v.unwrap_or(1), &chunking)
                .await
                .map_err(StepError::Error);
        }
        if let Some(m) = &step.send {
            let mut bytes = Vec::new();
            let protocol = self.protocol;
            for item in m.items() {
                let Some(text) = item.for_protocol(protocol) else {
                    continue;
                };
                let text = self.subst(text)?;
                let msg = signalr_protocol::notation::message_from_text(&text).map_err(|e| {
                    StepError::Error(format!("invalid message in the case: {e}: {text}"))
                })?;
                self.transcript.push(
                    &client,
                    Direction::Out,
                    "msg",
                    signalr_protocol::notation::message_to_text(&msg),
                );
                protocol.write(&msg, &mut bytes);
            }
            let s = self.session(&client)?;
            let kind = s.frame_kind();
            return send_soft(s, &bytes, &chunking, kind).await;
        }
        if let Some(r) = &step.send_raw {
            let protocol = self.protocol;
            let mut bytes = Vec::new();
            if let Some(t) = &r.text {
                bytes.extend_from_slice(self.subst(t)?.as_bytes());
            }
            if let Some(h) = &r.hex {
                bytes.extend(parse_hex(h).map_err(StepError::Error)?);
            }
            for m in &r.messages {
                let text = self.subst(m)?;
                let msg = signalr_protocol::notation::message_from_text(&text).map_err(|e| {
                    StepError::Error(format!("invalid message in the case: {e}: {text}"))
                })?;
                protocol.write(&msg, &mut bytes);
            }
            let s = self.session(&client)?;
            let kind = match r.frame.as_deref() {
                Some("text") => FrameKind::Text,
                Some("binary") => FrameKind::Binary,
                _ => s.frame_kind(),
            };
            return send_soft(s, &bytes, &chunking, kind).await;
        }
        if let Some(h) = &step.http {
            let method = h.method.as_deref().unwrap_or("GET");
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| StepError::Error(format!("invalid HTTP method '{method}'")))?;
            let path = self.subst(&h.path)?;
            let query = self.subst(&h.query)?;
            let mut headers = Vec::new();
            for (k, v) in &h.headers {
                headers.push((k.clone(), self.subst(v)?));
            }
            let body = self.subst(&h.body)?.into_bytes();
            if !self.sessions.contains_key(&client) {
                self.new_session(&client, None);
            }
            let s = self.session(&client)?;
            let url = match path.strip_prefix("sibling:") {
                Some(p) => {
                    let mut u = s.target().sibling_url(p);
                    u.set_query((!query.is_empty()).then_some(query.as_str()));
                    u
                }
                None => s.target().url(&path, &query),
            };
            s.http(method, url, &headers, body)
                .await
                .map_err(StepError::Error)?;
            return Ok(());
        }
        if let Some(e) = &step.expect {
            for item in e.items() {
                self.expect_one(&client, item, step, timeout).await?;
            }
            return Ok(());
        }
        if let Some(e) = &step.expect_unordered {
            return self.expect_unordered(&client, e, step, timeout).await;
        }
        if let Some(h) = &step.expect_handshake {
            return self.expect_handshake(&client, h, timeout).await;
        }
        if let Some(h) = &step.expect_http {
            return self.expect_http(&client, h);
        }
        if let Some(c) = &step.expect_close {
            return self
                .expect_close(&client, c, step.websocket_close_code, timeout)
                .await;
        }
        if step.expect_disconnect.is_some() {
            return self
                .expect_disconnect(&client, step.websocket_close_code, timeout)
                .await;
        }
        if let Some(t) = &step.expect_silence {
            let d = self
                .opts
                .scale(Duration::from_millis(self.timing_ms(t) as u64));
            return self.expect_silence(&client, d).await;
        }
        if step.expect_ping.is_some() {
            return self.expect_ping(&client, timeout).await;
        }
        if let Some(how) = &step.close {
            self.session(&client)?.close(how == "graceful").await;
            return Ok(());
        }
        if let Some(t) = &step.wait {
            let d = self
                .opts
                .scale(Duration::from_millis(self.timing_ms(t) as u64));
            tokio::time::sleep(d).await;
            return Ok(());
        }
        Err(StepError::Error("a step without an action".into()))
    }

    async fn open(&mut self, client: &str, o: &OpenOpts) -> Result<(), StepError> {
        let id_mode = o.id.clone().unwrap_or_else(|| "token".into());
        let negotiate = o.negotiate.unwrap_or(id_mode != "none");
        let extra = match &o.query {
            Some(q) => self.subst(q)?,
            None => String::new(),
        };
        let version = o
            .negotiate_version
            .unwrap_or(self.exec.combo.negotiate_version);
        if !self.sessions.contains_key(client) {
            self.new_session(client, None);
        }
        let s = self.session(client)?;
        if negotiate {
            let r = s
                .negotiate(&format!("negotiateVersion={version}"))
                .await
                .map_err(StepError::Error)?;
            if s.negotiated.is_none() {
                let (status, body) = (r.status, r.text());
                return Err(self.fail(
                    "negotiate answers 200 with a connection",
                    format!("HTTP {status} {body}"),
                ));
            }
        }
        let s = self.session(client)?;
        let id = match id_mode.as_str() {
            "token" => s.transport_id(),
            "connectionId" => s.connection_id(),
            "none" => None,
            literal => Some(literal.to_owned()),
        };
        let id = match id {
            Some(i) => Some(self.subst(&i)?),
            None => None,
        };
        let s = self.session(client)?;
        let r = s.open(id.as_deref(), &extra).await;
        let expect_success = o.expect_success.unwrap_or(true);
        match (r, expect_success) {
            (Ok(()), true) | (Err(_), false) => Ok(()),
            (Err(e), true) => Err(self.fail("the transport opens", e)),
            (Ok(()), false) => Err(self.fail(
                "the server refuses the transport request",
                "it was accepted",
            )),
        }
    }

    fn pattern(&self, item: &PerProtocol) -> Result<Option<(Pattern, String)>, StepError> {
        let Some(text) = item.for_protocol(self.protocol) else {
            return Ok(None);
        };
        let text = self.subst(text)?;
        let p = Pattern::parse(&text)
            .map_err(|e| StepError::Error(format!("invalid pattern in the case: {e}: {text}")))?;
        Ok(Some((p, text)))
    }

    fn recv_failure(&self, expected: &str, e: RecvError) -> StepError {
        match e {
            RecvError::Transport(t) => StepError::Error(t),
            other => self.fail(expected, self.describe_recv(&other)),
        }
    }

    /// A receive error as the "actual" of a failure; a timeout names the step's whole wait
    /// (the error itself only knows the time left when its last read began).
    fn describe_recv(&self, e: &RecvError) -> String {
        match e {
            RecvError::Timeout(_) => RecvError::Timeout(self.wait).to_string(),
            other => other.to_string(),
        }
    }

    /// The next message that is not a Ping.
    async fn next_message(&mut self, client: &str, deadline: Instant) -> Result<Parsed, RecvError> {
        let s = self
            .sessions
            .get_mut(client)
            .ok_or_else(|| RecvError::Transport(format!("no client '{client}'")))?;
        loop {
            match s.recv(deadline).await? {
                Parsed::Message(HubMessage::Ping) => continue,
                p => return Ok(p),
            }
        }
    }

    async fn expect_one(
        &mut self,
        client: &str,
        item: &PerProtocol,
        step: &Step,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let Some((pattern, text)) = self.pattern(item)? else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let p = match self.next_message(client, deadline).await {
                Ok(p) => p,
                Err(e) => {
                    let mut actual = self.describe_recv(&e);
                    if !skipped.is_empty() {
                        actual = format!("{actual}; skipped before: {}", skipped.join(", "));
                    }
                    return Err(match e {
                        RecvError::Transport(t) => StepError::Error(t),
                        _ => self.fail(text, actual),
                    });
                }
            };
            let actual = signalr_protocol::notation::parsed_to_notation(&p);
            match pattern.matches_message(&actual) {
                Ok(()) => {
                    for (var, path) in &step.save {
                        let v = lookup(&actual, path).ok_or_else(|| {
                            StepError::Error(format!(
                                "cannot save '{var}': the message has no '{path}'"
                            ))
                        })?;
                        let s = match v {
                            Value::String(s) => s.clone(),
                            other => signalr_protocol::json::value_to_string(other),
                        };
                        self.vars.insert(var.clone(), s);
                    }
                    return Ok(());
                }
                Err(why) => {
                    let shown = signalr_protocol::json::value_to_string(&actual);
                    if step.skip_unmatched {
                        skipped.push(shown);
                        continue;
                    }
                    return Err(self.fail(text, format!("{shown} ({why})")));
                }
            }
        }
    }

    async fn expect_unordered(
        &mut self,
        client: &str,
        items: &[PerProtocol],
        _step: &Step,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let mut pending = Vec::new();
        for i in items {
            if let Some(p) = self.pattern(i)? {
                pending.push(p);
            }
        }
        let expected = pending
            .iter()
            .map(|(_, t)| t.clone())
            .collect::<Vec<_>>()
            .join(" and ");
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while !pending.is_empty() {
            let p = match self.next_message(client, deadline).await {
                Ok(p) => p,
                Err(e) => {
                    let mut actual = self.describe_recv(&e);
                    if !seen.is_empty() {
                        actual = format!("after {}: {actual}", seen.join(", "));
                    }
                    return Err(match e {
                        RecvError::Transport(t) => StepError::Error(t),
                        _ => self.fail(expected, actual),
                    });
                }
            };
            let actual = signalr_protocol::notation::parsed_to_notation(&p);
            let shown = signalr_protocol::json::value_to_string(&actual);
            match pending
                .iter()
                .position(|(pat, _)| pat.matches_message(&actual).is_ok())
            {
                Some(i) => {
                    pending.remove(i);
                    seen.push(shown);
                }
                None => {
                    return Err(self.fail(expected, format!("unexpected {shown}")));
                }
            }
        }
        Ok(())
    }

    async fn expect_handshake(
        &mut self,
        client: &str,
        h: &crate::cases::HandshakeExpect,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let deadline = Instant::now() + timeout;
        let expected = if h.ok {
            "a successful handshake response {}".to_owned()
        } else if let Some(e) = &h.error {
            format!("a handshake error response {{\"error\":{e:?}}}")
        } else if let Some(r) = &h.error_matches {
            format!("a handshake error matching /{r}/")
        } else {
            "a handshake response".to_owned()
        };
        let s = self.session(client)?;
        let resp = match s.recv_handshake(deadline).await {
            Ok(r) => r,
            Err(e) => return Err(self.recv_failure(&expected, e)),
        };
        match (&resp.error, h.ok) {
            (None, true) => return Ok(()),
            (Some(err), true) => return Err(self.fail(expected, format!("handshake error: {err}"))),
            (None, false) if h.error.is_some() || h.error_matches.is_some() => {
                return Err(self.fail(expected, "a successful handshake response"))
            }
            _ => {}
        }
        let err = resp.error.clone().unwrap_or_default();
        if let Some(e) = &h.error {
            let e = self.subst(e)?;
            if err != e {
                return Err(self.fail(expected, format!("handshake error: {err}")));
            }
        }
        if let Some(r) = &h.error_matches {
            let re = regex::Regex::new(r)
                .map_err(|e| StepError::Error(format!("invalid regex: {e}")))?;
            if !re.is_match(&err) {
                return Err(self.fail(expected, format!("handshake error: {err}")));
            }
        }
        if resp.error.is_some() && h.then_closed.unwrap_or(true) {
            let s = self.session(client)?;
            let leftover = s.pending_bytes().to_vec();
            if !leftover.is_empty() {
                return Err(self.fail(
                    "nothing after a handshake error response",
                    format!(
                        "more bytes: {}",
                        crate::client::transcript::show_bytes(&leftover)
                    ),
                ));
            }
            let deadline = Instant::now() + timeout;
            let s = self.session(client)?;
            if let Err(e) = s.wait_closed(deadline).await {
                return Err(self.fail(
                    "the server closes the connection after a failed handshake",
                    self.describe_recv(&e),
                ));
            }
        }
        Ok(())
    }

    fn expect_http(&mut self, client: &str, h: &crate::cases::HttpExpect) -> Result<(), StepError> {
        let s = self.session(client)?;
        let Some(r) = s.last_http.clone() else {
            return Err(StepError::Error("no HTTP exchange to check".into()));
        };
        let shown = format!(
            "HTTP {} {}",
            r.status,
            crate::client::transcript::show_bytes(&r.body)
        );
        if let Some(st) = h.status {
            if r.status != st {
                return Err(self.fail(format!("HTTP status {st}"), shown));
            }
        }
        if let Some(b) = &h.body {
            let b = self.subst(b)?;
            if r.text() != b {
                return Err(self.fail(format!("body {b:?}"), format!("body {:?}", r.text())));
            }
        }
        if let Some(ct) = &h.content_type {
            let actual = r.header("content-type").unwrap_or("");
            let media = actual.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case(ct) {
                return Err(self.fail(
                    format!("Content-Type {ct}"),
                    format!("Content-Type {actual:?}"),
                ));
            }
        }
        for (k, v) in &h.headers {
            let v = self.subst(v)?;
            let all = r.header_all(k);
            let ok = match v.as_str() {
                "!" => all.is_empty(),
                "*" => !all.is_empty(),
                _ => all.iter().any(|a| *a == v),
            };
            if !ok {
                let want = match v.as_str() {
                    "!" => format!("no {k} header"),
                    "*" => format!("a {k} header"),
                    _ => format!("{k}: {v}"),
                };
                return Err(self.fail(want, format!("{k}: {all:?}")));
            }
        }
        if let Some(pat) = &h.body_json {
            let pat = self.subst(pat)?;
            let p = Pattern::parse(&pat)
                .map_err(|e| StepError::Error(format!("invalid pattern: {e}")))?;
            let actual = signalr_protocol::json::parse_value(&r.body).map_err(|e| {
                self.fail(
                    format!("a JSON body matching {pat}"),
                    format!("{shown} (not JSON: {e})"),
                )
            })?;
            if let Err(why) = p.matches(&actual, "") {
                return Err(self.fail(pat, format!("{shown} ({why})")));
            }
        }
        Ok(())
    }

    async fn expect_close(
        &mut self,
        client: &str,
        item: &PerProtocol,
        ws_code: Option<u16>,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let Some((pattern, text)) = self.pattern(item)? else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let p = match self.next_message(client, deadline).await {
            Ok(p) => p,
            Err(e) => return Err(self.recv_failure(&text, e)),
        };
        let actual = signalr_protocol::notation::parsed_to_notation(&p);
        let shown = signalr_protocol::json::value_to_string(&actual);
        if let Err(why) = pattern.matches_message(&actual) {
            return Err(self.fail(text, format!("{shown} ({why})")));
        }
        self.expect_disconnect(client, ws_code, timeout).await
    }

    async fn expect_disconnect(
        &mut self,
        client: &str,
        ws_code: Option<u16>,
        timeout: Duration,
    ) -> Result<(), StepError> {
        let deadline = Instant::now() + timeout;
        match self.next_message(client, deadline).await {
            Ok(p) => {
                let shown = signalr_protocol::notation::parsed_to_text(&p);
                Err(self.fail(
                    "the server ends the connection",
                    format!("another message: {shown}"),
                ))
            }
            Err(RecvError::Closed(c)) => match ws_code {
                Some(want)
                    if self.transport == TransportKind::WebSockets && c.code != Some(want) =>
                {
                    Err(self.fail(
                        format!("the server ends the WebSocket with a Close frame, status {want}"),
                        match c.code {
                            Some(code) if c.reason.is_empty() => format!("status {code}"),
                            Some(code) => format!("status {code} ({})", c.reason),
                            None => format!("no Close frame: {}", c.reason),
                        },
                    ))
                }
                _ => Ok(()),
            },
            Err(RecvError::Timeout(_)) => {
                Err(self.fail("the server ends the connection", "it stayed open"))
            }
            Err(e) => Err(self.recv_failure("the server ends the connection", e)),
        }
    }

    async fn expect_silence(&mut self, client: &str, d: Duration) -> Result<(), StepError> {
        let deadline = Instant::now() + d;
        match self.next_message(client, deadline).await {
            Err(RecvError::Timeout(_)) => Ok(()),
            Ok(p) => Err(self.fail(
                format!("no message for {} ms", d.as_millis()),
                signalr_protocol::notation::parsed_to_text(&p),
            )),
            Err(e) => Err(self.recv_failure(&format!("no message for {} ms", d.as_millis()), e)),
        }
    }

    async fn expect_ping(&mut self, client: &str, timeout: Duration) -> Result<(), StepError> {
        let deadline = Instant::now() + timeout;
        let s = self.session(client)?;
        match s.recv(deadline).await {
            Ok(Parsed::Message(HubMessage::Ping)) => Ok(()),
            Ok(other) => Err(self.fail(
                "a Ping {\"type\":6}",
                signalr_protocol::notation::parsed_to_text(&other),
            )),
            Err(e) => Err(self.recv_failure("a Ping {\"type\":6}", e)),
        }
    }
}

/// Sends bytes. The server refusing them (a closed socket, a POST answered 404) is not a
/// harness error: the following expectation decides whether that was right.
async fn send_soft(
    s: &mut Session,
    bytes: &[u8],
    chunking: &Chunking,
    kind: FrameKind,
) -> Result<(), StepError> {
    if !s.is_open() {
        return Err(StepError::Error(format!(
            "client '{}' has no open transport to send on",
            s.name
        )));
    }
    if let Err(e) = s.send_bytes(bytes, chunking, kind).await {
        s.transcript.push(
            &s.name,
            Direction::Note,
            "note",
            format!("send failed: {e}"),
        );
    }
    Ok(())
}

fn parse_hex(h: &str) -> Result<Vec<u8>, String> {
    let digits: String = h.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in '{h}'"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("invalid hex '{}'", &digits[i..i + 2]))
        })
        .collect()
}
