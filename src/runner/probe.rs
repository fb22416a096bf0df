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
    /// Why a `--peer` URL is not a node of the conformance hub (the run stops, exit 2).
    pub peer_problem: Option<String>,
    /// Notes for the report.
    pub notes: Vec<String>,
    /// Why the target does not look like the conformance hub (negotiate is not a SignalR
    /// negotiate response, or `Describe()` is not answered). The runner still runs (every
    /// transport, every feature assumed); `conform` stops before the run unless told to go on.
    pub preflight: Option<String>,
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
/// that is not the conformance hub is `peer_problem`.
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
        if let Some(problem) = p.preflight {
            let url = crate::client::transcript::redact_url(peer.hub_url.as_str());
            info.peer_problem.get_or_insert(format!(
                "--peer {url} is not a node of the conformance hub: {problem}"
            ));
        }
    }
    Ok(info)
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
    let transport = [
        TransportKind::WebSockets,
        TransportKind::LongPolling,
        TransportKind::ServerSentEvents,
    ]
    .into_iter()
    .find(|t| info.transports.iter().any(|(k, _)| k == t));
    if let Some(t) = transport {
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
            if let Some(e) = hs.error {
                return Err(format!("the handshake was refused: {e}"));
            }
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
