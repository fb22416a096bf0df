//! The oracle: turns a generated [`Sequence`] into a case in the spec-cases format whose
//! expectations are what ASP.NET Core does (docs/fuzz.md lists each property and why it holds).
//! The fuzzer runs exactly the text this module writes, so a failure printed or written with
//! `--out` replays with `conform --cases DIR`.
//!
//! The model tracks, per client, whether it is open, its next invocation id, its groups and
//! whether it has armed the server's client timeout (by sending a Ping). Every operation waits
//! for everything it expects before the next one starts, so nothing is ordered across
//! operations except what one connection's own messages order; where the protocol leaves the
//! order open (the caller's own copy of a send against its Completion, a canceled stream's
//! notice against its Completion, completions of parallel invocations) the case accepts any.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use signalr_protocol::{json, notation, HubProtocol, TransportKind, Value};

use super::ops::{BatchItem, Invalid, Op, Sequence};

/// The target facts the expectations depend on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    /// Completions come in invocation order (`maximumParallelInvocationsPerClient` = 1).
    pub sequential: bool,
}

const NAMES: [&str; 3] = ["a", "b", "c"];
const CLOSE_ERROR: &str =
    r#"{"type":7,"error":{"$regex":"^Connection closed with an error\\."},"allowReconnect":true}"#;

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn val(v: &Value) -> String {
    json::value_to_string(&notation::value_to_notation(v))
}

fn jstr(s: &str) -> String {
    json::value_to_string(&Value::String(s.to_owned()))
}

fn void_completion(id: &str) -> String {
    format!(r#"{{"type":3,"invocationId":"{id}","result":{{"$oneOf":[null,{{"$absent":true}}]}}}}"#)
}

fn result(id: &str, v: &Value) -> String {
    format!(r#"{{"type":3,"invocationId":"{id}","result":{}}}"#, val(v))
}

fn error(id: &str, text_pattern: &str) -> String {
    format!(r#"{{"type":3,"invocationId":"{id}","error":{text_pattern}}}"#)
}

fn invoke(id: Option<&str>, target: &str, args: &[String]) -> String {
    match id {
        Some(id) => format!(
            r#"{{"type":1,"invocationId":"{id}","target":{},"arguments":[{}]}}"#,
            jstr(target),
            args.join(",")
        ),
        None => format!(
            r#"{{"type":1,"target":{},"arguments":[{}]}}"#,
            jstr(target),
            args.join(",")
        ),
    }
}

fn sent_message(payload: &Value) -> String {
    invoke(None, "fuzzMessage", &[val(payload)])
}

#[derive(Default, Clone)]
struct Client {
    connected: bool,
    open: bool,
    /// Sent a Ping: the server's client timeout runs for it.
    armed: bool,
    next_id: u32,
    groups: [bool; 2],
    /// The server has answered one of its invocations, so it is registered with the hub's
    /// lifetime manager (receives broadcasts). A handshake response alone does not show that.
    confirmed: bool,
}

struct Builder {
    out: String,
    protocol: HubProtocol,
    transport: TransportKind,
    facts: Facts,
    requires: BTreeSet<&'static str>,
    exclusive: bool,
    clients: [Client; 3],
    aux: u32,
}

impl Builder {
    fn step(&mut self, client: &str, lines: &[(&str, String)]) {
        self.out.push_str("\n[[case.step]]\n");
        if client != "a" {
            let _ = writeln!(self.out, "client = {}", toml_str(client));
        }
        for (k, v) in lines {
            let _ = writeln!(self.out, "{k} = {v}");
        }
    }

    /// Client `c` ready to act (connecting it on first use); `None` once it has closed.
    fn ready(&mut self, c: u8) -> Option<&'static str> {
        let i = usize::from(c.min(2));
        let name = NAMES[i];
        if !self.clients[i].connected {
            self.clients[i].connected = true;
            self.clients[i].open = true;
            self.step(name, &[("connect", "true".into())]);
        }
        self.clients[i].open.then_some(name)
    }

    fn id(&mut self, c: u8) -> String {
        let cl = &mut self.clients[usize::from(c.min(2))];
        cl.next_id += 1;
        cl.next_id.to_string()
    }

    fn aux_name(&mut self, prefix: &str) -> String {
        self.aux += 1;
        format!("{prefix}{}", self.aux)
    }

    fn send(&mut self, name: &str, msgs: &[String], cuts: &[u16]) {
        let list = format!(
            "[{}]",
            msgs.iter()
                .map(|m| toml_str(m))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut lines = vec![("send", list)];
        let at = self.cut_points(msgs, cuts);
        if !at.is_empty() {
            lines.push((
                "chunk_at",
                format!(
                    "[{}]",
                    at.iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        self.step(name, &lines);
    }

    /// Offsets (per mille of the framed length) as byte offsets; JSON only at character
    /// boundaries, so every piece is valid UTF-8 text.
    fn cut_points(&self, msgs: &[String], cuts: &[u16]) -> Vec<usize> {
        if cuts.is_empty() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        for m in msgs {
            match notation::message_from_text(m) {
                Ok(msg) => bytes.extend(self.protocol.encode(&msg)),
                Err(_) => return Vec::new(),
            }
        }
        let len = bytes.len();
        let text = std::str::from_utf8(&bytes).ok();
        let mut at: Vec<usize> = cuts
            .iter()
            .map(|&p| len * usize::from(p) / 1000)
            .filter(|&o| o > 0 && o < len)
            .filter(|&o| match (self.protocol, text) {
                (HubProtocol::Json, Some(t)) => t.is_char_boundary(o),
                _ => true,
            })
            .collect();
        at.sort_unstable();
        at.dedup();
        at
    }

    fn expect(&mut self, name: &str, patterns: &[String]) {
        self.confirm_if_answered(name, patterns);
        let list = format!(
            "[{}]",
            patterns
                .iter()
                .map(|m| toml_str(m))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.step(name, &[("expect", list)]);
    }

    fn expect_unordered(&mut self, name: &str, patterns: &[String]) {
        self.confirm_if_answered(name, patterns);
        let list = format!(
            "[{}]",
            patterns
                .iter()
                .map(|m| toml_str(m))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.step(name, &[("expect_unordered", list)]);
    }

    /// A Completion for one of the client's invocations shows that the server dispatches its
    /// messages, which it does only after registering the connection with the lifetime manager.
    fn confirm_if_answered(&mut self, name: &str, patterns: &[String]) {
        if patterns.iter().any(|p| p.starts_with(r#"{"type":3,"#)) {
            if let Some(i) = NAMES.iter().position(|n| *n == name) {
                self.clients[i].confirmed = true;
            }
        }
    }

    fn closed(&mut self, c: u8) {
        let cl = &mut self.clients[usize::from(c.min(2))];
        cl.open = false;
        cl.groups = [false; 2];
    }

    /// A timing operation leaves every armed client silent for longer than the client timeout
    /// may allow: the model stops using them (the server may have closed them).
    fn abandon_armed(&mut self, except: Option<u8>) {
        for i in 0..3u8 {
            if Some(i) != except && self.clients[usize::from(i)].armed {
                self.closed(i);
            }
        }
    }

    fn expect_close(&mut self, name: &str, pattern: &str, within: Option<&str>) {
        let mut lines = vec![("expect_close", toml_str(pattern))];
        if let Some(w) = within {
            lines.push(("within", toml_str(w)));
        } else {
            lines.push(("websocket_close_code", "1000".into()));
        }
        self.step(name, &lines);
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::Echo {
                c,
                value,
                blocking,
                casing,
            } => {
                let Some(n) = self.ready(*c) else { return };
                let target = ["Echo", "echo", "ECHO", "eCHo"][usize::from(*casing % 4)];
                if *blocking {
                    let id = self.id(*c);
                    self.send(n, &[invoke(Some(&id), target, &[val(value)])], &[]);
                    self.expect(n, &[result(&id, value)]);
                } else {
                    self.send(n, &[invoke(None, target, &[val(value)])], &[]);
                }
            }
            Op::Falsy { c, kind } => {
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                let (k, v) = [
                    ("zero", Value::Int(0)),
                    ("false", Value::Bool(false)),
                    ("empty", Value::String(String::new())),
                    ("null", Value::Null),
                ][usize::from(*kind % 4)]
                .clone();
                self.send(n, &[invoke(Some(&id), "Falsy", &[jstr(k)])], &[]);
                self.expect(n, &[result(&id, &v)]);
            }
            Op::Counter { c, count } => {
                self.requires.insert("server-streams");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                self.send(
                    n,
                    &[format!(
                        r#"{{"type":4,"invocationId":"{id}","target":"Counter","arguments":[{count},0]}}"#
                    )],
                    &[],
                );
                let mut want: Vec<String> = (0..*count)
                    .map(|i| format!(r#"{{"type":2,"invocationId":"{id}","item":{i}}}"#))
                    .collect();
                want.push(format!(r#"{{"type":3,"invocationId":"{id}"}}"#));
                self.expect(n, &want);
            }
            Op::CancelInfinite { c } => {
                self.requires.insert("server-streams");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                self.send(
                    n,
                    &[
                        format!(
                            r#"{{"type":4,"invocationId":"{id}","target":"InfiniteStream","arguments":[]}}"#
                        ),
                        format!(r#"{{"type":5,"invocationId":"{id}"}}"#),
                    ],
                    &[],
                );
                self.expect_unordered(
                    n,
                    &[
                        invoke(None, "StreamCanceled", &[]),
                        format!(r#"{{"type":3,"invocationId":"{id}"}}"#),
                    ],
                );
            }
            Op::Upload { c, items, cuts } => {
                self.requires.insert("upload-streams");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                let sid = format!("u{id}");
                let mut msgs = vec![format!(
                    r#"{{"type":1,"invocationId":"{id}","target":"UploadCollect","arguments":[],"streamIds":["{sid}"]}}"#
                )];
                for it in items {
                    msgs.push(format!(
                        r#"{{"type":2,"invocationId":"{sid}","item":{}}}"#,
                        val(it)
                    ));
                }
                msgs.push(format!(r#"{{"type":3,"invocationId":"{sid}"}}"#));
                self.send(n, &msgs, cuts);
                self.expect(n, &[result(&id, &Value::Array(items.clone()))]);
            }
            Op::UnknownMethod { c, name } => {
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                self.send(n, &[invoke(Some(&id), name, &[])], &[]);
                let text = format!(
                    "Failed to invoke '{name}' due to an error on the server. HubException: Method does not exist."
                );
                self.expect(n, &[error(&id, &jstr(&text))]);
            }
            Op::HubException { c, message } => {
                self.requires.insert("errors");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                self.send(
                    n,
                    &[invoke(Some(&id), "ThrowHubException", &[jstr(message)])],
                    &[],
                );
                let text = format!(
                    "An unexpected error occurred invoking 'ThrowHubException' on the server. HubException: {message}"
                );
                self.expect(n, &[error(&id, &jstr(&text))]);
            }
            Op::BindingFailure { c, arg } => {
                self.requires.insert("typed-binding");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                self.send(n, &[invoke(Some(&id), "Add", &[val(arg), "1".into()])], &[]);
                // Detailed errors append the binding exception; the prefix is the same.
                let pattern =
                    r#"{"$regex":"^Failed to invoke 'Add' due to an error on the server\\."}"#;
                self.expect(n, &[error(&id, pattern)]);
            }
            Op::Ping { c } => {
                let Some(n) = self.ready(*c) else { return };
                self.clients[usize::from(*c.min(&2))].armed = true;
                self.send(n, &[r#"{"type":6}"#.to_owned()], &[]);
            }
            Op::Batch { c, items, cuts } => {
                let Some(n) = self.ready(*c) else { return };
                let mut msgs = Vec::new();
                let mut want = Vec::new();
                for it in items {
                    let id = self.id(*c);
                    match it {
                        BatchItem::Echo(v) => {
                            msgs.push(invoke(Some(&id), "Echo", &[val(v)]));
                            want.push(result(&id, v));
                        }
                        BatchItem::Delay(ms, v) => {
                            self.requires.insert("delays");
                            msgs.push(invoke(Some(&id), "Delay", &[ms.to_string(), val(v)]));
                            want.push(result(&id, v));
                        }
                    }
                }
                self.send(n, &msgs, cuts);
                if self.facts.sequential {
                    self.requires.insert("sequential-invocations");
                    self.expect(n, &want);
                } else {
                    self.expect_unordered(n, &want);
                }
            }
            Op::UnknownType { c, value } => {
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                let echo = invoke(Some(&id), "Echo", &[val(value)]);
                let Ok(msg) = notation::message_from_text(&echo) else {
                    return;
                };
                let mut bytes = self.protocol.encode(&msg);
                // The unknown message last in the frame: ASP.NET Core's parse loop stops at an
                // unknown message, so nothing may follow it in the same read.
                let frame = match self.protocol {
                    HubProtocol::Json => {
                        bytes.extend_from_slice(
                            b"{\"type\":99,\"invocationId\":\"99\",\"conform\":[1,2,3]}\x1e",
                        );
                        "text"
                    }
                    HubProtocol::MessagePack => {
                        bytes.extend_from_slice(&[0x02, 0x91, 0x63]);
                        "binary"
                    }
                };
                let hex = crate::hex::to_hex(&bytes);
                self.step(
                    n,
                    &[(
                        "send_raw",
                        format!("{{ hex = {}, frame = \"{frame}\" }}", toml_str(&hex)),
                    )],
                );
                self.expect(n, &[result(&id, value)]);
            }
            Op::Join { c, g } | Op::Leave { c, g } => {
                self.requires.insert("groups");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                let join = matches!(op, Op::Join { .. });
                let method = if join { "JoinGroup" } else { "LeaveGroup" };
                let group = format!("fuzz-${{uid}}-g{g}");
                self.send(n, &[invoke(Some(&id), method, &[jstr(&group)])], &[]);
                self.expect(n, &[void_completion(&id)]);
                self.clients[usize::from(*c.min(&2))].groups[usize::from(*g % 2)] = join;
            }
            Op::GroupSend { c, g, payload } => {
                self.requires.insert("groups");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                let g = usize::from(*g % 2);
                let group = format!("fuzz-${{uid}}-g{g}");
                self.send(
                    n,
                    &[invoke(
                        Some(&id),
                        "SendToGroup",
                        &[jstr(&group), jstr("fuzzMessage"), val(payload)],
                    )],
                    &[],
                );
                let me = usize::from(*c.min(&2));
                self.deliver(me, &id, payload, |_, cl| cl.groups[g]);
            }
            Op::Others { c, payload } => {
                self.requires.insert("broadcast");
                self.exclusive = true;
                let Some(n) = self.ready(*c) else { return };
                self.sync_others(usize::from(*c.min(&2)));
                let id = self.id(*c);
                self.send(
                    n,
                    &[invoke(
                        Some(&id),
                        "SendToOthers",
                        &[jstr("fuzzMessage"), val(payload)],
                    )],
                    &[],
                );
                let me = usize::from(*c.min(&2));
                self.deliver(me, &id, payload, |i, _| i != me);
            }
            Op::ClientResult { c, value } => {
                self.requires.insert("client-results");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                let var = self.aux_name("sid");
                self.send(
                    n,
                    &[invoke(
                        Some(&id),
                        "InvokeCaller",
                        &[jstr("fuzzResult"), format!("[{}]", val(value)), "0".into()],
                    )],
                    &[],
                );
                self.step(
                    n,
                    &[
                        (
                            "expect",
                            toml_str(&format!(
                                r#"{{"type":1,"invocationId":{{"$regex":"^.+$"}},"target":"fuzzResult","arguments":[{}]}}"#,
                                val(value)
                            )),
                        ),
                        ("save", format!("{{ {var} = \"invocationId\" }}")),
                    ],
                );
                self.send(
                    n,
                    &[format!(
                        r#"{{"type":3,"invocationId":"${{{var}}}","result":{}}}"#,
                        val(value)
                    )],
                    &[],
                );
                self.expect(n, &[result(&id, value)]);
            }
            Op::Invalid { c, kind } => {
                let Some(n) = self.ready(*c) else { return };
                let (hex, frame) = match (self.protocol, kind) {
                    (HubProtocol::Json, Invalid::Malformed) => (
                        crate::hex::to_hex(b"{\"type\":1,\"invocationId\":\"1\",\x1e"),
                        "text",
                    ),
                    (HubProtocol::Json, Invalid::Empty) => ("1e".to_owned(), "text"),
                    (HubProtocol::Json, Invalid::OneByte) => ("01 7b 1e".to_owned(), "text"),
                    (HubProtocol::MessagePack, Invalid::Malformed) => ("00".to_owned(), "binary"),
                    (HubProtocol::MessagePack, Invalid::Empty) => {
                        ("80 80 80 80 08".to_owned(), "binary")
                    }
                    (HubProtocol::MessagePack, Invalid::OneByte) => {
                        ("01 7b 1e".to_owned(), "binary")
                    }
                };
                self.step(
                    n,
                    &[(
                        "send_raw",
                        format!("{{ hex = {}, frame = \"{frame}\" }}", toml_str(&hex)),
                    )],
                );
                self.expect_close(n, CLOSE_ERROR, None);
                self.closed(*c);
            }
            Op::Oversize { c } => {
                self.requires.insert("default-message-size-limit");
                let Some(n) = self.ready(*c) else { return };
                let id = self.id(*c);
                let big = Value::String("x".repeat(33_000));
                self.send(n, &[invoke(Some(&id), "Echo", &[val(&big)])], &[]);
                self.expect_close(n, CLOSE_ERROR, None);
                self.closed(*c);
            }
            Op::RequestClose { c } => {
                self.requires.insert("close");
                let Some(n) = self.ready(*c) else { return };
                self.send(n, &[invoke(None, "RequestClose", &[])], &[]);
                self.expect_close(n, r#"{"type":7,"allowReconnect":true}"#, None);
                self.closed(*c);
            }
            Op::Negotiate { version0 } => {
                let n = self.aux_name("n");
                if *version0 {
                    self.step(&n, &[("negotiate", toml_str("fuzz=1"))]);
                    self.step(
                        &n,
                        &[(
                            "expect_http",
                            format!(
                                "{{ status = 200, body_json = {} }}",
                                toml_str(
                                    r#"{"$partial":{"connectionId":{"$type":"string"},"connectionToken":{"$absent":true}}}"#
                                )
                            ),
                        )],
                    );
                } else {
                    self.step(&n, &[("negotiate", toml_str("negotiateVersion=1"))]);
                    self.step(
                        &n,
                        &[(
                            "expect_http",
                            format!(
                                "{{ status = 200, body_json = {} }}",
                                toml_str(
                                    r#"{"$partial":{"negotiateVersion":1,"connectionId":{"$type":"string"},"connectionToken":{"$type":"string"}}}"#
                                )
                            ),
                        )],
                    );
                    self.step(
                        &n,
                        &[(
                            "open",
                            "{ id = \"connectionId\", expect_success = false }".into(),
                        )],
                    );
                    self.step(&n, &[("expect_http", "{ status = 404 }".into())]);
                }
            }
            Op::BadHandshake { name } => {
                let n = self.aux_name("h");
                self.step(&n, &[("open", "true".into())]);
                self.step(
                    &n,
                    &[("handshake", format!("{{ protocol = {} }}", toml_str(name)))],
                );
                self.step(
                    &n,
                    &[(
                        "expect_handshake",
                        format!(
                            "{{ error = {} }}",
                            toml_str(&format!("The protocol '{name}' is not supported."))
                        ),
                    )],
                );
            }
            Op::KeepAlive { c } => {
                // Long Polling has an inherent keep-alive: ASP.NET Core sends no Pings over it.
                if self.transport == TransportKind::LongPolling {
                    return;
                }
                let Some(n) = self.ready(*c) else { return };
                self.abandon_armed(Some(*c));
                self.step(
                    n,
                    &[
                        ("expect_ping", "true".into()),
                        ("within", toml_str("keepAliveInterval * 1.5 + 1000")),
                    ],
                );
            }
            Op::ClientTimeout { c } => {
                let Some(n) = self.ready(*c) else { return };
                self.abandon_armed(Some(*c));
                self.send(n, &[r#"{"type":6}"#.to_owned()], &[]);
                self.expect_close(n, CLOSE_ERROR, Some("clientTimeoutInterval + 2000"));
                self.closed(*c);
            }
            Op::HandshakeTimeout => {
                self.abandon_armed(None);
                let n = self.aux_name("t");
                self.step(&n, &[("open", "true".into())]);
                self.step(
                    &n,
                    &[
                        (
                            "expect_handshake",
                            "{ error = \"Handshake was canceled.\" }".into(),
                        ),
                        ("within", toml_str("handshakeTimeout + 2000")),
                    ],
                );
            }
        }
    }

    /// The caller's void Completion, and `payload` at every open client `to` selects: the
    /// caller's own copy in any order with its Completion (a backplane may deliver it after),
    /// each other recipient's as its next message.
    /// ASP.NET Core writes the handshake response (`HubConnectionContext.HandshakeAsync`)
    /// before `HubConnectionHandler` registers the connection with the lifetime manager, so a
    /// client that has only finished its handshake may miss a send to others made at once. Every
    /// other open client the server has not yet answered is answered once first.
    fn sync_others(&mut self, me: usize) {
        for (i, name) in NAMES.into_iter().enumerate() {
            let cl = &self.clients[i];
            if i == me || !cl.connected || !cl.open || cl.confirmed {
                continue;
            }
            let id = self.id(i as u8);
            self.send(name, &[invoke(Some(&id), "Echo", &[jstr("sync")])], &[]);
            self.expect(
                name,
                &[format!(
                    r#"{{"type":3,"invocationId":"{id}","result":"sync"}}"#
                )],
            );
        }
    }

    fn deliver(
        &mut self,
        me: usize,
        id: &str,
        payload: &Value,
        to: impl Fn(usize, &Client) -> bool,
    ) {
        let recipients: Vec<usize> = (0..3)
            .filter(|&i| self.clients[i].connected && self.clients[i].open)
            .filter(|&i| to(i, &self.clients[i]))
            .collect();
        if recipients.contains(&me) {
            self.expect_unordered(NAMES[me], &[void_completion(id), sent_message(payload)]);
        } else {
            self.expect(NAMES[me], &[void_completion(id)]);
        }
        for i in recipients.into_iter().filter(|&i| i != me) {
            self.expect(NAMES[i], &[sent_message(payload)]);
        }
    }
}

/// The case for `seq`: TOML text in the spec-cases format, with `id`.
pub fn case_text(seq: &Sequence, facts: Facts, id: &str, comment: &str) -> String {
    let mut b = Builder {
        out: String::new(),
        protocol: seq.protocol,
        transport: seq.transport,
        facts,
        requires: BTreeSet::from(["echo"]),
        exclusive: false,
        clients: Default::default(),
        aux: 0,
    };
    b.clients[0].connected = true;
    b.clients[0].open = true;
    for (i, op) in seq.ops.iter().enumerate() {
        let _ = write!(b.out, "\n# op {}: {}", i + 1, op_name(op));
        b.op(op);
    }
    // Every open client still answers, and nothing unexpected arrived before the answer.
    b.out.push_str("\n# every open client still answers\n");
    for i in 0..3u8 {
        let cl = &b.clients[usize::from(i)];
        if cl.connected && cl.open {
            let id = b.id(i);
            let end = Value::String("fuzz-end".into());
            b.send(
                NAMES[usize::from(i)],
                &[invoke(Some(&id), "Echo", &[val(&end)])],
                &[],
            );
            b.expect(NAMES[usize::from(i)], &[result(&id, &end)]);
        }
    }
    let transport = match seq.transport {
        TransportKind::WebSockets => "websockets",
        TransportKind::ServerSentEvents => "sse",
        TransportKind::LongPolling => "longpolling",
    };
    let mut head = String::new();
    let _ = writeln!(head, "{comment}");
    head.push_str("[[case]]\n");
    let _ = writeln!(head, "id = {}", toml_str(id));
    let _ = writeln!(
        head,
        "title = {}",
        toml_str(&format!(
            "Generated sequence of {} operations ({}, {})",
            seq.ops.len(),
            transport,
            seq.protocol.name()
        ))
    );
    let _ = writeln!(
        head,
        "requirement = {}",
        toml_str(
            "Every property of `conform fuzz` holds for this sequence: one Completion per blocking invocation with its id and none for non-blocking ones, stream items before their Completion and none after CancelInvocation, Echo returns its argument, sends reach exactly their recipients, invalid input ends the connection with ASP.NET Core's Close, other connections keep working, negotiate keeps answering."
        )
    );
    head.push_str("level = \"MUST\"\n");
    let _ = writeln!(
        head,
        "reference = {}",
        toml_str("HubProtocol.md and TransportProtocols.md (dotnet/aspnetcore src/SignalR/docs/specs); HubConnectionHandler, DefaultHubDispatcher; the properties in docs/fuzz.md")
    );
    head.push_str("tags = [\"fuzz\"]\n");
    let _ = writeln!(head, "transports = [\"{transport}\"]");
    let _ = writeln!(head, "protocols = [\"{}\"]", seq.protocol.name());
    let _ = writeln!(
        head,
        "requires = [{}]",
        b.requires
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if b.exclusive {
        head.push_str("exclusive = true\n");
    }
    head + &b.out
}

/// A short name of an operation for the comments of a case.
pub fn op_name(op: &Op) -> String {
    match op {
        Op::Echo { c, blocking, .. } => format!(
            "{} Echo by {}",
            if *blocking {
                "blocking"
            } else {
                "non-blocking"
            },
            NAMES[usize::from(*c.min(&2))]
        ),
        Op::Falsy { .. } => "Falsy".into(),
        Op::Counter { count, .. } => format!("Counter stream of {count}"),
        Op::CancelInfinite { .. } => "InfiniteStream, canceled".into(),
        Op::Upload { items, .. } => format!("upload of {} items", items.len()),
        Op::UnknownMethod { .. } => "unknown method".into(),
        Op::HubException { .. } => "ThrowHubException".into(),
        Op::BindingFailure { .. } => "binding failure".into(),
        Op::Ping { .. } => "Ping".into(),
        Op::Batch { items, .. } => format!("{} invocations in one send", items.len()),
        Op::UnknownType { .. } => "unknown message type".into(),
        Op::Join { c, g } => format!("{} joins group {g}", NAMES[usize::from(*c.min(&2))]),
        Op::Leave { c, g } => format!("{} leaves group {g}", NAMES[usize::from(*c.min(&2))]),
        Op::GroupSend { g, .. } => format!("send to group {g}"),
        Op::Others { .. } => "send to others".into(),
        Op::ClientResult { .. } => "client result".into(),
        Op::Invalid { kind, .. } => format!("invalid input ({kind:?})"),
        Op::Oversize { .. } => "message over 32768 bytes".into(),
        Op::RequestClose { .. } => "RequestClose".into(),
        Op::Negotiate { version0 } => {
            format!("negotiate (version {})", if *version0 { 0 } else { 1 })
        }
        Op::BadHandshake { .. } => "handshake with an unknown protocol".into(),
        Op::KeepAlive { .. } => "wait for a keep-alive Ping".into(),
        Op::ClientTimeout { .. } => "client timeout".into(),
        Op::HandshakeTimeout => "handshake timeout".into(),
    }
}
