//! What the target offers: transports from negotiate; features, timers and limits from the
//! contract's `Describe()`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use signalr_protocol::{HubMessage, HubProtocol, Value};

use super::{http_client_for, RunOptions};
use crate::cases::timing::Timers;
use crate::client::transcript::{excerpt_to, redact_text};
use crate::client::{ClientError, Session, Transcript, TransportKind};

/// The largest receive limit whose size cases conform runs (they send up to four times it).
pub const MAX_TESTED_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

/// What the target offers.
#[derive(Debug, Clone, Default)]
pub struct TargetInfo {
    /// `Describe()` result, if implemented.
    pub describe: Option<Value>,
    /// Features from `Describe` (`None` = unknown: everything is assumed).
    pub features: Option<BTreeSet<String>>,
    /// Transports and their transfer formats from negotiate.
    pub transports: Vec<(TransportKind, Vec<String>)>,
    /// Timers.
    pub timers: Timers,
    /// `EnableDetailedErrors`.
    pub detailed_errors: bool,
    /// Stateful reconnect enabled.
    pub stateful_reconnect: bool,
    /// `CloseOnAuthenticationExpiration` on the authorized hub (contract 1.1).
    pub close_on_auth_expiration: bool,
    /// `StatefulReconnectBufferSize` (100,000 unless declared).
    pub stateful_reconnect_buffer_size: u64,
    /// `MaximumParallelInvocationsPerClient` (1 unless declared).
    pub max_parallel_invocations: u64,
    /// `MaximumReceiveMessageSize` (`None` = unlimited; 32768 unless declared).
    pub max_message_size: Option<u64>,
    /// How many other nodes of the hub were given (`--peer`), each probed.
    pub peers: usize,
    /// What each `--peer` offers, in `--peer` order (node 1 first): cases that put clients on
    /// a peer run only where it agrees with the target.
    pub peer_nodes: Vec<PeerNode>,
    /// Why a `--peer` URL is not a node of the conformance hub (the run stops, exit 2).
    pub peer_problem: Option<String>,
    /// Notes for the report.
    pub notes: Vec<String>,
    /// Why the target does not look like the conformance hub (negotiate is not a SignalR
    /// negotiate response, or `Describe()` is not answered). The runner still runs (every
    /// transport, every feature assumed); `conform` stops before the run unless told to go on.
    pub preflight: Option<String>,
}

/// One `--peer` as probed, and how it differs from the target.
#[derive(Debug, Clone, Default)]
pub struct PeerNode {
    /// Its URL as shown (credentials redacted).
    pub url: String,
    /// What it offers (its own negotiate and `Describe()`).
    pub info: TargetInfo,
    /// Hub options it declares unlike the target (`keepAliveIntervalMs 15000, the target
    /// 2000`): nodes of one hub share them, and a case's expectations come from the target's.
    pub differences: Vec<String>,
}

impl PeerNode {
    /// Why a case that puts clients on this peer cannot run with the target's expectations:
    /// a transport or transfer format it does not offer, a capability the case requires that
    /// it lacks (and the target has), or options unlike the target's.
    pub fn disagrees(
        &self,
        n: usize,
        transport: Option<(TransportKind, Option<HubProtocol>)>,
        requires: &[String],
    ) -> Option<String> {
        let who = format!("--peer {} (node {n})", self.url);
        // `has`/`supports` speak of "the target": say it of the peer.
        let differ = |why: &str| match (
            why.strip_prefix("the target's "),
            why.strip_prefix("the target "),
        ) {
            (Some(rest), _) => format!("the nodes differ: {who}: its {rest}"),
            (None, Some(rest)) => format!("the nodes differ: {who} {rest}, unlike the target"),
            (None, None) => format!("the nodes differ: {who}: {why}"),
        };
        if let Some((t, protocol)) = transport {
            if let Err(why) = self.info.supports(t, protocol) {
                return Some(differ(&why));
            }
        }
        for r in requires.iter().filter(|r| *r != "peers") {
            if let Err(why) = self.info.has(r) {
                return Some(differ(&why));
            }
        }
        (!self.differences.is_empty()).then(|| {
            format!(
                "the nodes differ: {who} declares {} (nodes of one hub share their hub options; \
                 expectations come from the target's)",
                self.differences.join("; ")
            )
        })
    }
}

/// The hub options two nodes declare differently (`Describe()`, normalized: an absent field
/// is ASP.NET Core's default). `server` is free text and may differ (a mock-hub node next to
/// an ASP.NET Core node); features and transports are compared per case.
fn option_differences(peer: &TargetInfo, target: &TargetInfo) -> Vec<String> {
    fn shown<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref().map_or("null".to_owned(), ToString::to_string)
    }
    let version = |i: &TargetInfo| {
        i.describe
            .as_ref()
            .and_then(|d| d.get("contractVersion", false))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (p, t) = (&peer.timers, &target.timers);
    let pairs: [(&str, String, String); 12] = [
        (
            "contractVersion",
            shown(&version(peer)),
            shown(&version(target)),
        ),
        (
            "keepAliveIntervalMs",
            shown(&Some(p.keep_alive_interval)),
            shown(&Some(t.keep_alive_interval)),
        ),
        (
            "clientTimeoutIntervalMs",
            shown(&Some(p.client_timeout_interval)),
            shown(&Some(t.client_timeout_interval)),
        ),
        (
            "handshakeTimeoutMs",
            shown(&Some(p.handshake_timeout)),
            shown(&Some(t.handshake_timeout)),
        ),
        (
            "disconnectTimeoutMs",
            shown(&Some(p.disconnect_timeout)),
            shown(&Some(t.disconnect_timeout)),
        ),
        (
            "longPollTimeoutMs",
            shown(&Some(p.long_poll_timeout)),
            shown(&Some(t.long_poll_timeout)),
        ),
        (
            "maximumReceiveMessageSize",
            shown(&peer.max_message_size),
            shown(&target.max_message_size),
        ),
        (
            "maximumParallelInvocationsPerClient",
            shown(&Some(peer.max_parallel_invocations)),
            shown(&Some(target.max_parallel_invocations)),
        ),
        (
            "detailedErrors",
            shown(&Some(peer.detailed_errors)),
            shown(&Some(target.detailed_errors)),
        ),
        (
            "statefulReconnect",
            shown(&Some(peer.stateful_reconnect)),
            shown(&Some(target.stateful_reconnect)),
        ),
        (
            "statefulReconnectBufferSize",
            shown(&Some(peer.stateful_reconnect_buffer_size)),
            shown(&Some(target.stateful_reconnect_buffer_size)),
        ),
        (
            "closeOnAuthenticationExpiration",
            shown(&Some(peer.close_on_auth_expiration)),
            shown(&Some(target.close_on_auth_expiration)),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(k, a, b)| format!("{k} {a}, the target {b}"))
        .collect()
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nothing answers at the target URL.
    #[error("the target {url} is unreachable: {reason}")]
    Unreachable {
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl TargetInfo {
    /// Whether the target offers `t` with `protocol`'s transfer format.
    pub fn supports(&self, t: TransportKind, protocol: Option<HubProtocol>) -> Result<(), String> {
        let Some((_, formats)) = self.transports.iter().find(|(k, _)| *k == t) else {
            return Err(format!("the target does not offer {}", t.name()));
        };
        if let Some(p) = protocol {
            let f = p.transfer_format().name();
            if !formats.iter().any(|x| x == f) {
                return Err(format!(
                    "the target's {} transport does not offer the {f} transfer format",
                    t.name()
                ));
            }
        }
        Ok(())
    }

    /// The declared receive limit, for `${maxMessageSize}` and size expressions.
    pub(crate) fn message_size_limit(&self) -> Option<u64> {
        self.max_message_size
    }

    pub(super) fn has(&self, capability: &str) -> Result<(), String> {
        match capability {
            "detailed-errors" => self
                .detailed_errors
                .then_some(())
                .ok_or_else(|| "the target does not enable detailed errors".to_owned()),
            "no-detailed-errors" => (!self.detailed_errors)
                .then_some(())
                .ok_or_else(|| "the target enables detailed errors".to_owned()),
            "stateful-reconnect" => self
                .stateful_reconnect
                .then_some(())
                .ok_or_else(|| "the target does not allow stateful reconnect".to_owned()),
            "close-on-auth-expiration" => self
                .close_on_auth_expiration
                .then_some(())
                .ok_or_else(|| {
                    "the target's authorized hub does not close connections when their token expires (closeOnAuthenticationExpiration)".to_owned()
                }),
            "default-stateful-reconnect-buffer" => (self.stateful_reconnect_buffer_size
                == 100_000)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "the target's stateful reconnect buffer is {} bytes, not 100000",
                        self.stateful_reconnect_buffer_size
                    )
                }),
            "sequential-invocations" => (self.max_parallel_invocations <= 1)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "the target runs up to {} invocations of a connection in parallel",
                        self.max_parallel_invocations
                    )
                }),
            "message-size-limit" => match self.max_message_size {
                Some(n) if n <= MAX_TESTED_MESSAGE_SIZE => Ok(()),
                Some(n) => Err(format!(
                    "the target's receive message size limit ({n} bytes) is above the {MAX_TESTED_MESSAGE_SIZE} bytes conform sends"
                )),
                None => Err("the target has no receive message size limit".to_owned()),
            },
            "default-message-size-limit" => (self.max_message_size == Some(32_768))
                .then_some(())
                .ok_or_else(|| match self.max_message_size {
                    None => "the target has no receive message size limit".to_owned(),
                    Some(n) => {
                        format!("the target's receive message size limit is {n} bytes, not 32768")
                    }
                }),
            "peers" => (self.peers > 0)
                .then_some(())
                .ok_or_else(|| {
                    "needs --peer: another node of the same scaled-out hub".to_owned()
                }),
            "describe" => self
                .describe
                .as_ref()
                .map(|_| ())
                .ok_or_else(|| "the target has no Describe method".to_owned()),
            feature => match &self.features {
                Some(f) if !f.contains(feature) => Err(format!(
                    "the target does not declare the '{feature}' feature"
                )),
                _ => Ok(()),
            },
        }
    }
}

fn describe_number(d: &Value, key: &str) -> Option<f64> {
    d.get(key, false).and_then(Value::as_f64)
}

/// Finds out what the target offers: negotiate (transports) and `Describe()` (features,
/// timers); then each `--peer` the same way: a peer that does not answer is unreachable, one
/// that is not the conformance hub, or not a node of the target's hub (a message from one to
/// a connection on the other does not arrive), is `peer_problem`; what it declares unlike
/// the target is kept for gating (`PeerNode::disagrees`).
pub async fn probe(opts: &RunOptions) -> Result<TargetInfo, ProbeError> {
    let mut info = probe_one(opts, &opts.target).await?;
    info.peers = opts.peers.len();
    for peer in &opts.peers {
        let p = probe_one(opts, peer).await.map_err(|e| match e {
            ProbeError::Unreachable { url, reason } => ProbeError::Unreachable {
                url: format!("{url} (--peer)"),
                reason,
            },
        })?;
        let url = crate::client::transcript::redact_url(peer.hub_url.as_str());
        if let Some(problem) = &p.preflight {
            info.peer_problem.get_or_insert(format!(
                "--peer {url} is not a node of the conformance hub: {problem} — every --peer \
                 must be the conformance hub's URL on another node of the same scaled-out hub \
                 as --target"
            ));
        }
        let differences = option_differences(&p, &info);
        let n = info.peer_nodes.len() + 1;
        if !differences.is_empty() {
            info.notes.push(format!(
                "--peer {url} (node {n}) declares {}: cases with clients on it are UNIMPLEMENTED",
                differences.join("; ")
            ));
        }
        info.peer_nodes.push(PeerNode {
            url,
            info: p,
            differences,
        });
    }
    if info.peer_problem.is_none() && info.preflight.is_none() {
        for (i, peer) in opts.peers.iter().enumerate() {
            match same_hub(opts, &info, &info.peer_nodes[i], peer).await {
                Ok(()) => {}
                Err(SameHub::Unknown(why)) => info.notes.push(why),
                Err(SameHub::Not(why)) => {
                    info.peer_problem = Some(why);
                    break;
                }
            }
        }
    }
    Ok(info)
}

/// Why the nodes could not be shown to serve one hub.
enum SameHub {
    /// They do not: the run must not start.
    Not(String),
    /// It could not be checked (a feature is missing): a note.
    Unknown(String),
}

/// The method the same-hub check sends (no hub method: a name no case uses).
const SAME_HUB_METHOD: &str = "ConformSameHubCheck";

/// Whether `peer` and the target are nodes of one hub: a client on each, and a
/// `SendToConnection` from each to the other's connection must arrive (through the backplane;
/// neither connection is local to the sender). A peer on another backplane, prefix or hub
/// name, or without a backplane, would otherwise make every cross-node case FAIL and blame
/// the server.
async fn same_hub(
    opts: &RunOptions,
    info: &TargetInfo,
    node: &PeerNode,
    peer: &crate::client::Target,
) -> Result<(), SameHub> {
    let url = &node.url;
    for i in [info, &node.info] {
        if let Err(why) = i.has("broadcast") {
            return Err(SameHub::Unknown(format!(
                "could not check that --peer {url} serves the target's hub ({why}: the check \
                 uses SendToConnection)"
            )));
        }
    }
    let wait = opts.scale(Duration::from_secs(5));
    let deadline = tokio::time::Instant::now() + opts.scale(Duration::from_secs(10)) + wait;
    let not = |why: String| SameHub::Not(format!("--peer {url} could not be checked: {why}"));
    let mut t = hub_session(opts, info, &opts.target, deadline)
        .await
        .map_err(|e| not(format!("a client on the target: {e}")))?;
    let mut p = match hub_session(opts, &node.info, peer, deadline).await {
        Ok(p) => p,
        Err(e) => {
            t.close(true).await;
            return Err(not(format!("a client on the peer: {e}")));
        }
    };
    let outcome = async {
        let (tid, pid) = match (t.connection_id(), p.connection_id()) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(not("negotiate gave no connection id".into())),
        };
        same_node(&mut p, peer, &t, url).await?;
        for forward in [true, false] {
            let (from, from_name, to, to_name, to_id) = if forward {
                (&mut t, "the target", &mut p, "the peer", &pid)
            } else {
                (&mut p, "the peer", &mut t, "the target", &tid)
            };
            let nonce = format!("{from_name} to {to_name}, conform {}", std::process::id());
            let args = vec![
                Value::string(to_id.clone()),
                Value::string(SAME_HUB_METHOD),
                Value::string(nonce.clone()),
            ];
            let call = HubMessage::invoke("same-hub", "SendToConnection", args);
            from.send_message(&call, &Default::default())
                .await
                .map_err(|e| not(format!("SendToConnection from {from_name}: {e}")))?;
            match completion(from, "same-hub", deadline).await {
                Ok(signalr_protocol::CompletionResult::Error(e)) => {
                    return Err(not(format!("SendToConnection on {from_name} failed: {e}")))
                }
                Ok(_) => {}
                Err(e) => return Err(not(format!("SendToConnection on {from_name}: {e}"))),
            }
            let arrival = tokio::time::Instant::now() + wait;
            loop {
                match to.recv(arrival.min(deadline)).await {
                    Ok(signalr_protocol::Parsed::Message(HubMessage::Invocation(inv)))
                        if inv.target == SAME_HUB_METHOD
                            && inv.arguments.first().and_then(Value::as_str)
                                == Some(nonce.as_str()) =>
                    {
                        break
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        return Err(SameHub::Not(format!(
                            "--peer {url} does not serve the target's hub: a SendToConnection \
                             from {from_name} to a connection on {to_name} did not arrive within \
                             {:.1} s — every --peer must be a node of the target's scaled-out hub \
                             (the same backplane, with the same channel prefix and hub name), \
                             and that hub must deliver Clients.Client(id) across nodes",
                            wait.as_secs_f64()
                        )))
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    t.close(true).await;
    p.close(true).await;
    outcome
}

/// The target itself under another URL (`localhost` for `127.0.0.1`, a second port of one
/// process) would pass every cross-node case without anything crossing a backplane. A node
/// knows only its own connections: a DELETE for the target's connection token must get 404
/// from another node (ASP.NET Core's `HttpConnectionDispatcher`: unknown id → 404), while the
/// same process answers something else (400 for a WebSocket connection, 202 for Long Polling).
async fn same_node(
    p: &mut Session,
    peer: &crate::client::Target,
    t: &Session,
    url: &str,
) -> Result<(), SameHub> {
    let Some(token) = t.transport_id() else {
        return Ok(());
    };
    let mut u = peer.url("", "");
    u.query_pairs_mut().append_pair("id", &token);
    match p.http(reqwest::Method::DELETE, u, &[], Vec::new()).await {
        Ok(r) if r.status != 404 => Err(SameHub::Not(format!(
            "--peer {url} is the target itself, not another node: it knows the target's \
             connection (DELETE with the target's connection token answered {}, where another \
             node answers 404 No Connection with that ID) — every --peer must be a different \
             node of the target's scaled-out hub",
            r.status
        ))),
        // 404, or no answer: the send check below decides.
        _ => Ok(()),
    }
}

/// A JSON client on `node`, past the handshake and one round trip, on the first transport it
/// offers (WebSockets preferred).
async fn hub_session(
    opts: &RunOptions,
    info: &TargetInfo,
    node: &crate::client::Target,
    deadline: tokio::time::Instant,
) -> Result<Session, String> {
    let t = preferred_transport(info).ok_or("no transport conform knows")?;
    let mut s = Session::new(
        "probe",
        Arc::new(node.clone()),
        http_client_for(&node.tls),
        t,
        HubProtocol::Json,
        Transcript::new(),
    )
    .with_request_timeout(opts.request_timeout());
    start(&mut s, t, deadline).await?;
    // One round trip before anything is addressed to it: the handshake is answered before
    // OnConnectedAsync subscribes the connection's channels on the backplane, and the first
    // message is read after.
    s.send_message(
        &HubMessage::invoke("ready", "Describe", vec![]),
        &Default::default(),
    )
    .await
    .map_err(|e| format!("Describe: {e}"))?;
    completion(&mut s, "ready", deadline)
        .await
        .map_err(|e| format!("Describe: {e}"))?;
    Ok(s)
}

/// The transport a probe uses: the first of WebSockets, Long Polling, Server-Sent Events that
/// the node offers.
fn preferred_transport(info: &TargetInfo) -> Option<TransportKind> {
    [
        TransportKind::WebSockets,
        TransportKind::LongPolling,
        TransportKind::ServerSentEvents,
    ]
    .into_iter()
    .find(|t| info.transports.iter().any(|(k, _)| k == t))
}

/// Negotiate, transport `t` and a JSON handshake on `s`; `Err` says which step failed.
async fn start(
    s: &mut Session,
    t: TransportKind,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    s.negotiate("negotiateVersion=1")
        .await
        .map_err(|e| format!("negotiate: {e}"))?;
    let id = s.transport_id().ok_or("negotiate gave no connection id")?;
    s.open(Some(&id), "")
        .await
        .map_err(|e| format!("{}: {e}", t.name()))?;
    s.send_handshake("json", 1, &Default::default())
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let hs = s
        .recv_handshake(deadline)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    match hs.error {
        Some(e) => Err(format!("the handshake was refused: {e}")),
        None => Ok(()),
    }
}

/// The Completion of invocation `id` (other messages are skipped).
async fn completion(
    s: &mut Session,
    id: &str,
    deadline: tokio::time::Instant,
) -> Result<signalr_protocol::CompletionResult, String> {
    loop {
        match s.recv(deadline).await.map_err(|e| e.to_string())? {
            signalr_protocol::Parsed::Message(HubMessage::Completion(c))
                if c.invocation_id == id =>
            {
                return Ok(c.result)
            }
            _ => continue,
        }
    }
}

/// A `Describe()` whose `contractVersion` has another major version than the one conform
/// speaks (CONTRACT.md §3: the run stops). Absent is taken as 1.0.
fn contract_problem(d: &Value) -> Option<String> {
    let v = d.get("contractVersion", false)?;
    let text = match v.as_str() {
        Some(t) => t,
        None => {
            let shown = excerpt_to(&redact_text(&format!("{v:?}")), 60);
            return Some(format!(
                "Describe() declares contractVersion {shown}, not a \"major.minor\" string"
            ));
        }
    };
    let major = text.split('.').next().unwrap_or("");
    (major.trim() != "1").then(|| {
        format!(
            "Describe() declares contractVersion \"{}\"; this conform speaks contract 1.x \
             (fixtures/contract/CONTRACT.md)",
            excerpt_to(text, 40)
        )
    })
}

/// What one node offers.
async fn probe_one(
    opts: &RunOptions,
    node: &crate::client::Target,
) -> Result<TargetInfo, ProbeError> {
    let mut info = TargetInfo {
        max_message_size: Some(32_768),
        max_parallel_invocations: 1,
        stateful_reconnect_buffer_size: 100_000,
        ..TargetInfo::default()
    };
    let http = http_client_for(&node.tls);
    let transcript = Transcript::new();
    let target = Arc::new(node.clone());
    let mut s = Session::new(
        "probe",
        target.clone(),
        http.clone(),
        TransportKind::WebSockets,
        HubProtocol::Json,
        transcript,
    )
    .with_request_timeout(opts.request_timeout());
    let negotiate_url = crate::client::transcript::redact_url(
        node.url("/negotiate", "negotiateVersion=1").as_str(),
    );
    let r = match s.negotiate("negotiateVersion=1").await {
        Ok(r) => r,
        // No answer at all: the target is unreachable.
        Err(e @ (ClientError::Request(_) | ClientError::NoResponse(_))) => {
            return Err(ProbeError::Unreachable {
                url: crate::client::transcript::redact_url(node.hub_url.as_str()),
                reason: e.to_string(),
            })
        }
        // An answer conform cannot use (a body too large or without end): not a hub.
        Err(e) => {
            info.preflight = Some(format!("POST {negotiate_url} failed: {e}"));
            info.notes
                .push(format!("negotiate failed ({e}): assuming every transport"));
            Default::default()
        }
    };
    match &s.negotiated {
        Some(n) => {
            for t in n.available_transports.iter().flatten() {
                if let Some(k) = TransportKind::parse(&t.transport) {
                    info.transports.push((k, t.transfer_formats.clone()));
                }
            }
        }
        None => {
            // Without a usable negotiate response every transport is tried, so the cases
            // report what is wrong instead of being gated away.
            let body = crate::client::transcript::excerpt_to(&redact_text(&r.text()), 200);
            if info.preflight.is_none() {
                info.notes.push(format!(
                    "negotiate answered {} {body}: assuming every transport",
                    r.status,
                ));
            }
            info.preflight.get_or_insert(format!(
                "POST {negotiate_url} answered {} with no SignalR negotiate response{}",
                r.status,
                if body.trim().is_empty() {
                    String::new()
                } else {
                    format!(" ({})", body.trim())
                }
            ));
            for t in TransportKind::ALL {
                let formats = t.transfer_formats().iter().map(|f| (*f).to_owned());
                info.transports.push((t, formats.collect()));
            }
        }
    }
    // Describe over whichever transport is offered, preferring WebSockets.
    if let Some(t) = preferred_transport(&info) {
        let mut s = Session::new(
            "probe",
            target,
            http,
            t,
            HubProtocol::Json,
            Transcript::new(),
        )
        .with_request_timeout(opts.request_timeout());
        let deadline = tokio::time::Instant::now() + opts.scale(Duration::from_secs(5));
        let described: Result<_, String> = async {
            start(&mut s, t, deadline).await?;
            s.send_message(
                &HubMessage::invoke("describe", "Describe", vec![]),
                &Default::default(),
            )
            .await
            .map_err(|e| format!("invocation: {e}"))?;
            loop {
                match s.recv(deadline).await.map_err(|e| e.to_string())? {
                    signalr_protocol::Parsed::Message(HubMessage::Completion(c)) => {
                        // The only invocation in flight: a Completion for another id is the
                        // target's bug, and waiting longer would not help.
                        return if c.invocation_id == "describe" {
                            Ok(c.result)
                        } else {
                            Err(format!(
                                "a completion for '{}' came instead",
                                c.invocation_id
                            ))
                        };
                    }
                    _ => continue,
                }
            }
        }
        .await;
        s.close(true).await;
        match described {
            Ok(signalr_protocol::CompletionResult::Value(d)) => {
                info.features = d.get("features", false).and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                });
                let t = Timers::default();
                info.timers = Timers {
                    keep_alive_interval: describe_number(&d, "keepAliveIntervalMs")
                        .unwrap_or(t.keep_alive_interval),
                    client_timeout_interval: describe_number(&d, "clientTimeoutIntervalMs")
                        .unwrap_or(t.client_timeout_interval),
                    handshake_timeout: describe_number(&d, "handshakeTimeoutMs")
                        .unwrap_or(t.handshake_timeout),
                    disconnect_timeout: describe_number(&d, "disconnectTimeoutMs")
                        .unwrap_or(t.disconnect_timeout),
                    long_poll_timeout: describe_number(&d, "longPollTimeoutMs")
                        .unwrap_or(t.long_poll_timeout),
                };
                // Absent = ASP.NET Core's default; null = unlimited.
                info.max_message_size = match d.get("maximumReceiveMessageSize", false) {
                    None => Some(32_768),
                    Some(Value::Null) => None,
                    Some(v) => v.as_i64().map(|n| n.max(0) as u64),
                };
                info.detailed_errors = d
                    .get("detailedErrors", false)
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                info.stateful_reconnect = d
                    .get("statefulReconnect", false)
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                info.close_on_auth_expiration = d
                    .get("closeOnAuthenticationExpiration", false)
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                info.stateful_reconnect_buffer_size = d
                    .get("statefulReconnectBufferSize", false)
                    .and_then(Value::as_i64)
                    .map_or(100_000, |n| n.max(0) as u64);
                info.max_parallel_invocations = d
                    .get("maximumParallelInvocationsPerClient", false)
                    .and_then(Value::as_i64)
                    .map_or(1, |n| n.max(1) as u64);
                if let Some(problem) = contract_problem(&d) {
                    info.preflight.get_or_insert(problem);
                }
                info.describe = Some(d);
            }
            Ok(other) => {
                let why = excerpt_to(&redact_text(&format!("{other:?}")), 200);
                info.notes.push(format!(
                    "Describe() did not return a description ({why}): assuming ASP.NET Core defaults and every feature"
                ));
                info.preflight.get_or_insert(format!(
                    "the hub did not answer Describe() with a description ({why})"
                ));
            }
            Err(why) => {
                let why = excerpt_to(&redact_text(&why), 300);
                info.notes.push(format!(
                    "could not call Describe() ({why}): assuming ASP.NET Core defaults and every feature"
                ));
                info.preflight
                    .get_or_insert(format!("the hub did not answer Describe() ({why})"));
            }
        }
    } else {
        info.notes
            .push("negotiate offered no usable transport".into());
        info.preflight
            .get_or_insert("negotiate offered no transport conform knows".into());
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(features: &[&str], transports: &[TransportKind]) -> TargetInfo {
        TargetInfo {
            features: Some(features.iter().map(|f| (*f).to_owned()).collect()),
            transports: transports
                .iter()
                .map(|t| (*t, vec!["Text".to_owned(), "Binary".to_owned()]))
                .collect(),
            max_message_size: Some(32_768),
            max_parallel_invocations: 1,
            stateful_reconnect_buffer_size: 100_000,
            ..TargetInfo::default()
        }
    }

    fn peer(info: TargetInfo, target: &TargetInfo) -> PeerNode {
        PeerNode {
            url: "http://peer/conformance".into(),
            differences: option_differences(&info, target),
            info,
        }
    }

    const ALL: [TransportKind; 3] = [
        TransportKind::WebSockets,
        TransportKind::LongPolling,
        TransportKind::ServerSentEvents,
    ];

    #[test]
    fn a_contract_of_another_major_version_stops_the_run() {
        let d = |v: Value| Value::Map(vec![(Value::string("contractVersion"), v)]);
        assert_eq!(contract_problem(&d(Value::string("1.1"))), None);
        assert_eq!(contract_problem(&d(Value::string("1.0"))), None);
        assert_eq!(contract_problem(&Value::Map(vec![])), None);
        assert_eq!(
            contract_problem(&d(Value::string("2.0"))).as_deref(),
            Some(
                "Describe() declares contractVersion \"2.0\"; this conform speaks contract \
                 1.x (fixtures/contract/CONTRACT.md)"
            )
        );
        assert!(contract_problem(&d(Value::Int(1)))
            .is_some_and(|p| p.contains("not a \"major.minor\" string")));
    }

    #[test]
    fn a_peer_like_the_target_agrees() {
        let target = node(&["groups", "group-admin"], &ALL);
        let p = peer(node(&["groups", "group-admin"], &ALL), &target);
        let requires = ["peers".to_owned(), "group-admin".to_owned()];
        let ws = Some((TransportKind::WebSockets, Some(HubProtocol::Json)));
        assert_eq!(p.disagrees(1, ws, &requires), None);
    }

    #[test]
    fn a_feature_the_case_needs_and_the_peer_lacks_is_named() {
        let target = node(&["groups", "group-admin"], &ALL);
        let p = peer(node(&["groups"], &ALL), &target);
        let requires = ["peers".to_owned(), "group-admin".to_owned()];
        assert_eq!(
            p.disagrees(2, None, &requires).as_deref(),
            Some(
                "the nodes differ: --peer http://peer/conformance (node 2) does not declare the \
                 'group-admin' feature, unlike the target"
            )
        );
        // A feature the case does not need is no reason.
        assert_eq!(p.disagrees(2, None, &["groups".to_owned()]), None);
    }

    #[test]
    fn a_transport_the_peer_lacks_is_named() {
        let target = node(&[], &ALL);
        let p = peer(node(&[], &[TransportKind::WebSockets]), &target);
        let lp = Some((TransportKind::LongPolling, Some(HubProtocol::Json)));
        assert_eq!(
            p.disagrees(1, lp, &[]).as_deref(),
            Some(
                "the nodes differ: --peer http://peer/conformance (node 1) does not offer \
                 LongPolling, unlike the target"
            )
        );
    }

    #[test]
    fn a_capability_of_the_targets_options_is_said_of_the_peer() {
        let target = node(&[], &ALL);
        let mut other = node(&[], &ALL);
        other.max_parallel_invocations = 4;
        let p = peer(other, &target);
        assert_eq!(
            p.disagrees(1, None, &["sequential-invocations".to_owned()])
                .as_deref(),
            Some(
                "the nodes differ: --peer http://peer/conformance (node 1) runs up to 4 \
                 invocations of a connection in parallel, unlike the target"
            )
        );
        let mut other = node(&[], &ALL);
        other.stateful_reconnect_buffer_size = 5;
        let p = peer(other, &target);
        assert_eq!(
            p.disagrees(1, None, &["default-stateful-reconnect-buffer".to_owned()])
                .as_deref(),
            Some(
                "the nodes differ: --peer http://peer/conformance (node 1): its stateful \
                 reconnect buffer is 5 bytes, not 100000"
            )
        );
    }

    #[test]
    fn hub_options_unlike_the_targets_are_named() {
        let target = node(&[], &ALL);
        let mut other = node(&[], &ALL);
        other.timers.keep_alive_interval = 15_000.0;
        other.max_message_size = None;
        let mut target = target;
        target.timers.keep_alive_interval = 1_000.0;
        let p = peer(other, &target);
        assert_eq!(
            p.differences,
            [
                "keepAliveIntervalMs 15000, the target 1000",
                "maximumReceiveMessageSize null, the target 32768"
            ]
        );
        let why = p.disagrees(1, None, &[]).expect("a reason");
        assert!(
            why.starts_with(
                "the nodes differ: --peer http://peer/conformance (node 1) declares \
                 keepAliveIntervalMs 15000, the target 1000; maximumReceiveMessageSize null, \
                 the target 32768"
            ),
            "{why}"
        );
    }
}
