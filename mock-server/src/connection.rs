//! One hub connection over any [`Transport`]: handshake, framing, dispatch to the hub,
//! keep-alive, client timeout and the Close message, as ASP.NET Core's `HubConnectionHandler`,
//! `HubConnectionContext` and `DefaultHubDispatcher` do it.
//!
//! Each connection is one task. It reads from the transport and writes whatever other tasks
//! (streams, async methods, broadcasts) queued for it, so an idle connection costs one task,
//! its socket and an empty channel. Like ASP.NET Core's receive loop, it stops reading while a
//! non-streaming invocation waits for a free slot (`MaximumParallelInvocationsPerClient`) or an
//! upload stream's buffer is full.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use futures_channel::mpsc::{self as fmpsc, UnboundedReceiver, UnboundedSender};
use futures_util::StreamExt;
use signalr_protocol::error::ProtocolError;
use signalr_protocol::handshake::{self, HandshakeResponse};
use signalr_protocol::{
    CompletionResult, FrameReader, HubMessage, HubProtocol, Parsed, TransferFormat, Value,
};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::User;
use crate::call::{Call, CallInner, Upload};
use crate::faults::Fault;
use crate::hub::{Handler, Hub, HubError, HubMethod, Param, ParamType};
use crate::lifetime::{ClientResultError, HubLifetime, ResultRouting, SharedMessage};
use crate::transport::{Received, Transport, TransportKind};
use crate::{FaultSet, Shared};

/// Queued bytes above which streams wait before sending more (`ApplicationMaxBufferSize`).
const STREAM_HIGH_WATER: usize = 64 * 1024;

/// The HTTP request that established a connection, as hub methods may read it.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// Request path.
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The authenticated user, if the request carried a valid token.
    pub user: Option<User>,
}

impl RequestInfo {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter (case-insensitive name, first occurrence).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A cookie from the `Cookie` header(s).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }
}

/// Why a connection ended; decides the Close message.
#[derive(Debug, Clone)]
pub enum CloseReason {
    /// The transport went away.
    TransportClosed,
    /// The client sent a Close message.
    ClientClose,
    /// The hub called `Context.Abort()`.
    HubAbort,
    /// The server asked for a graceful close (allowReconnect).
    ServerRequest,
    /// The server is shutting down.
    Shutdown,
    /// The client sent bytes the protocol rejects, or too large a message.
    Protocol(ProtocolError),
    /// Nothing arrived within the client timeout after the client's first Ping.
    ClientTimeout,
    /// `OnConnectedAsync` threw.
    OnConnected(HubError),
    /// The client answered another connection's client result.
    InvalidCompletion(String),
    /// The client did not read what it was sent.
    Overflow,
}

impl CloseReason {
    /// The Close message ASP.NET Core sends for this ending.
    fn close_message(&self, detailed: bool) -> HubMessage {
        let error = |exception: &str, message: &str| {
            Some(
                HubError::exception(exception, message)
                    .build_message("Connection closed with an error.", detailed),
            )
        };
        match self {
            CloseReason::TransportClosed | CloseReason::ServerRequest | CloseReason::Shutdown => {
                HubMessage::close(None, true)
            }
            CloseReason::ClientClose | CloseReason::HubAbort => HubMessage::close(None, false),
            CloseReason::Overflow => HubMessage::close(None, true),
            CloseReason::Protocol(e) => HubMessage::close(error(e.exception(), e.message()), true),
            CloseReason::ClientTimeout => HubMessage::close(
                error(
                    "OperationCanceledException",
                    "Client hasn't sent a message/ping within the configured ClientTimeoutInterval.",
                ),
                true,
            ),
            CloseReason::OnConnected(e) => HubMessage::close(
                Some(e.build_message("Connection closed with an error.", detailed)),
                false,
            ),
            CloseReason::InvalidCompletion(m) => {
                HubMessage::close(error("InvalidOperationException", m), true)
            }
        }
    }
}

/// The shared half of a connection: what hub methods, other connections and the lifetime
/// manager use to reach it.
pub struct ConnHandle {
    /// Public connection id.
    pub connection_id: String,
    /// Its transport.
    pub transport: TransportKind,
    /// Its hub protocol.
    pub protocol: HubProtocol,
    /// `UserIdentifier`.
    pub user_id: Option<String>,
    /// The establishing request.
    pub request: Arc<RequestInfo>,
    tx: UnboundedSender<Bytes>,
    queued: AtomicUsize,
    writable: Notify,
    pub(crate) groups: Mutex<HashSet<String>>,
    pub(crate) streams: Mutex<HashMap<String, CancellationToken>>,
    ended: CancellationToken,
    end_reason: Mutex<Option<CloseReason>>,
    faults: FaultSet,
    max_queued: usize,
}

impl ConnHandle {
    /// Encodes a message for this connection (fault modes applied).
    pub(crate) fn encode(&self, msg: &HubMessage) -> Bytes {
        let mut out = Vec::with_capacity(64);
        match self.protocol {
            HubProtocol::Json => {
                signalr_protocol::json::write_message(msg, &mut out);
                if self.faults.has(Fault::DropRecordSeparator) {
                    out.pop();
                }
            }
            HubProtocol::MessagePack => {
                if let (true, HubMessage::Close(c)) =
                    (self.faults.has(Fault::ShortMessagePackClose), msg)
                {
                    let mut body = vec![0x92, 0x07];
                    match &c.error {
                        Some(e) => signalr_protocol::msgpack::write_str(e, &mut body),
                        None => body.push(0xc0),
                    }
                    signalr_protocol::framing::frame_binary(&body, &mut out);
                } else if self.faults.has(Fault::LossyMessagePackTypes) {
                    signalr_protocol::msgpack::write_message(&lossy(msg), &mut out);
                } else {
                    signalr_protocol::msgpack::write_message(msg, &mut out);
                }
            }
        }
        Bytes::from(out)
    }

    /// Queues a message; `false` if the connection is gone.
    pub fn send(&self, msg: &HubMessage) -> bool {
        self.send_bytes(self.encode(msg))
    }

    pub(crate) fn send_shared(&self, msg: &SharedMessage) -> bool {
        self.send_bytes(msg.bytes_for(self))
    }

    fn send_bytes(&self, bytes: Bytes) -> bool {
        // HubConnectionContext.WriteAsync writes nothing once the connection is aborted
        // (`Context.Abort()`, a protocol error, a timeout …): e.g. the method that called
        // `Abort()` gets no Completion. The Close message is written separately.
        if self.is_ended() {
            return false;
        }
        let n = bytes.len();
        let queued = self.queued.fetch_add(n, Ordering::Relaxed) + n;
        if queued > self.max_queued {
            self.end(CloseReason::Overflow);
            return false;
        }
        self.tx.unbounded_send(bytes).is_ok()
    }

    /// Queues a message, first waiting while this client is behind (for streams).
    pub(crate) async fn send_with_backpressure(&self, msg: &HubMessage) -> bool {
        while self.queued.load(Ordering::Relaxed) > STREAM_HIGH_WATER {
            let notified = self.writable.notified();
            if self.queued.load(Ordering::Relaxed) <= STREAM_HIGH_WATER {
                break;
            }
            tokio::select! {
                _ = notified => {}
                _ = self.ended.cancelled() => return false,
            }
        }
        self.send(msg)
    }

    /// Ends the connection for `reason` (the first reason wins).
    pub(crate) fn end(&self, reason: CloseReason) {
        if let Ok(mut r) = self.end_reason.lock() {
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.ended.cancel();
    }

    /// Whether the connection has ended.
    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }

    fn take_reason(&self) -> CloseReason {
        self.end_reason
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .unwrap_or(CloseReason::TransportClosed)
    }
}

/// MessagePack values a careless server would write: bin as base64 strings, timestamps as
/// seconds (the `lossy-messagepack-types` fault).
fn lossy(msg: &HubMessage) -> HubMessage {
    fn v(x: &Value) -> Value {
        match x {
            Value::Binary(b) => {
                use base64::Engine as _;
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Value::Timestamp(t) => Value::Int(t.seconds),
            Value::Array(a) => Value::Array(a.iter().map(v).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, x)| (v(k), v(x))).collect()),
            other => other.clone(),
        }
    }
    let mut m = msg.clone();
    match &mut m {
        HubMessage::Invocation(i) => i.arguments = i.arguments.iter().map(v).collect(),
        HubMessage::StreamItem(s) => s.item = v(&s.item),
        HubMessage::Completion(c) => {
            if let CompletionResult::Value(x) = &c.result {
                c.result = CompletionResult::Value(v(x));
            }
        }
        _ => {}
    }
    m
}

/// Everything a connection needs from the endpoint that accepted it.
pub(crate) struct ConnectionSetup {
    pub connection_id: String,
    pub request: Arc<RequestInfo>,
    pub hub: Arc<Hub>,
    pub lifetime: Arc<HubLifetime>,
    pub shared: Arc<Shared>,
}

struct InvocationRequest {
    id: Option<String>,
    target: String,
    arguments: Vec<Value>,
    stream_ids: Vec<String>,
    streaming: bool,
}

enum Resume {
    /// A slot became free for this invocation.
    Invoke(
        Arc<HubMethod>,
        InvocationRequest,
        Option<OwnedSemaphorePermit>,
    ),
    /// An upload buffer accepted the item.
    Continue,
}

type Blocked = Pin<Box<dyn Future<Output = Resume> + Send>>;

struct Session {
    conn: Arc<ConnHandle>,
    hub: Arc<Hub>,
    lifetime: Arc<HubLifetime>,
    shared: Arc<Shared>,
    protocol: HubProtocol,
    frames: FrameReader,
    semaphore: Arc<Semaphore>,
    uploads: HashMap<String, (mpsc::Sender<Result<Value, HubError>>, ParamType)>,
    client_timeout_armed: bool,
    detailed: bool,
}

/// Runs a hub connection to its end.
pub(crate) async fn run<T: Transport>(mut t: T, setup: ConnectionSetup) {
    let cfg = &setup.shared.config;
    let faults = setup.shared.faults;
    let max_size = if faults.has(Fault::NoMessageSizeLimit) {
        None
    } else {
        cfg.max_message_size()
    };
    let mut frames = FrameReader::with_max_message_size(max_size);
    let Some(protocol) = handshake_phase(&mut t, &setup, &mut frames).await else {
        t.close().await;
        return;
    };

    let (tx, rx) = fmpsc::unbounded();
    let conn = Arc::new(ConnHandle {
        connection_id: setup.connection_id.clone(),
        transport: t.kind(),
        protocol,
        user_id: setup
            .request
            .user
            .as_ref()
            .and_then(|u| u.name_identifier.clone()),
        request: setup.request.clone(),
        tx,
        queued: AtomicUsize::new(0),
        writable: Notify::new(),
        groups: Mutex::new(HashSet::new()),
        streams: Mutex::new(HashMap::new()),
        ended: setup.shared.shutdown.child_token(),
        end_reason: Mutex::new(None),
        faults,
        max_queued: cfg.max_queued_bytes_per_connection,
    });
    let parallel = cfg.maximum_parallel_invocations_per_client.max(1);
    let mut session = Session {
        conn: conn.clone(),
        hub: setup.hub.clone(),
        lifetime: setup.lifetime.clone(),
        shared: setup.shared.clone(),
        protocol,
        frames,
        semaphore: Arc::new(Semaphore::new(parallel)),
        uploads: HashMap::new(),
        client_timeout_armed: false,
        detailed: setup.hub.detailed_errors,
    };
    setup.lifetime.add(conn.clone());

    let mut rx = rx;
    let reason = match setup
        .hub
        .on_connected
        .as_ref()
        .map(|f| f(&session.call(None, Vec::new(), None)))
    {
        Some(Err(e)) => CloseReason::OnConnected(e),
        _ => session.run_loop(&mut t, &mut rx).await,
    };
    let reason = match conn.end_reason.lock().ok().and_then(|mut r| r.take()) {
        // A reason recorded by someone else (abort, overflow, shutdown) wins.
        Some(r) => r,
        None => reason,
    };
    session.finish(&mut t, &mut rx, reason).await;
}

async fn handshake_phase<T: Transport>(
    t: &mut T,
    setup: &ConnectionSetup,
    frames: &mut FrameReader,
) -> Option<HubProtocol> {
    let cfg = &setup.shared.config;
    let faults = setup.shared.faults;
    let detailed = setup.hub.detailed_errors;
    let deadline = if faults.has(Fault::NoHandshakeTimeout) {
        None
    } else {
        Some(Instant::now() + cfg.handshake_timeout())
    };
    let request = loop {
        match frames.next_text() {
            Ok(Some(payload)) => break handshake::parse_request(payload),
            Ok(None) => {}
            Err(_) => {
                respond(t, "Handshake was canceled.").await;
                return None;
            }
        }
        tokio::select! {
            ev = t.recv() => match ev {
                Received::Data(b) => frames.push(&b),
                Received::Closed { .. } => return None,
            },
            _ = sleep_until_opt(deadline) => {
                respond(t, "Handshake was canceled.").await;
                return None;
            }
            _ = setup.shared.shutdown.cancelled() => return None,
        }
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            let text = HubError::exception(e.exception(), e.message()).build_message(
                "An unexpected error occurred during connection handshake.",
                detailed,
            );
            respond(t, &text).await;
            return None;
        }
    };
    let accept_any = faults.has(Fault::AcceptAnyHandshake);
    // DefaultHubProtocolResolver looks names up case-insensitively.
    let protocol = HubProtocol::ALL
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(&request.protocol));
    let protocol = match (protocol, accept_any) {
        (Some(p), _) => p,
        (None, true) => HubProtocol::Json,
        (None, false) => {
            respond(
                t,
                &format!("The protocol '{}' is not supported.", request.protocol),
            )
            .await;
            return None;
        }
    };
    if request.version > protocol.version() && !accept_any {
        respond(
            t,
            &format!(
                "The server does not support version {} of the '{}' protocol.",
                request.version, request.protocol
            ),
        )
        .await;
        return None;
    }
    let format = protocol.transfer_format();
    if !t.kind().supports(format) {
        respond(
            t,
            &format!(
                "Cannot use the '{}' protocol on the current transport. The transport does not support '{}' transfer format.",
                protocol.name(),
                format.name()
            ),
        )
        .await;
        return None;
    }
    if faults.has(Fault::SlowHandshake) {
        let delay = (cfg.handshake_timeout() + Duration::from_secs(1)).max(Duration::from_secs(16));
        tokio::time::sleep(delay).await;
    }
    if t.send(Bytes::from_static(handshake::SUCCESS_RESPONSE), format)
        .await
        .is_err()
    {
        return None;
    }
    Some(protocol)
}

async fn respond<T: Transport>(t: &mut T, error: &str) {
    let mut out = Vec::new();
    handshake::write_response(
        &HandshakeResponse {
            error: Some(error.to_owned()),
        },
        &mut out,
    );
    // The transfer format is not set yet: error responses go out as text.
    let _ = t.send(Bytes::from(out), TransferFormat::Text).await;
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn nonempty(id: &Option<String>) -> Option<&str> {
    id.as_deref().filter(|s| !s.is_empty())
}

impl Session {
    fn faults(&self) -> FaultSet {
        self.shared.faults
    }

    fn call(
        &self,
        cancel: Option<CancellationToken>,
        uploads: Vec<Option<Upload>>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Call {
        Call(Arc::new(CallInner {
            conn: self.conn.clone(),
            lifetime: self.lifetime.clone(),
            cancel: cancel.unwrap_or_else(|| self.conn.ended.clone()),
            uploads: Mutex::new(uploads),
            permit: Mutex::new(permit),
            client_result_timeout: self.shared.config.client_result_timeout(),
        }))
    }

    async fn run_loop<T: Transport>(
        &mut self,
        t: &mut T,
        rx: &mut UnboundedReceiver<Bytes>,
    ) -> CloseReason {
        let cfg = &self.shared.config;
        let format = self.protocol.transfer_format();
        let keep_alive = if t.inherent_keep_alive() || self.faults().has(Fault::NoKeepAlive) {
            None
        } else {
            cfg.keep_alive()
        };
        let client_timeout = if self.faults().has(Fault::NoClientTimeout) {
            None
        } else {
            cfg.client_timeout()
        };
        let mut next_ping = keep_alive.map(|k| Instant::now() + k);
        let mut last_received = Instant::now();
        let mut blocked: Option<Blocked> = None;
        let mut out: Vec<u8> = Vec::new();
        let ended = self.conn.ended.clone();

        // Messages pipelined behind the handshake.
        if let Err(r) = self.process_frames(&mut blocked) {
            return r;
        }
        loop {
            // Everything ready to go out leaves in one write.
            while let Ok(b) = rx.try_recv() {
                self.dequeued(b.len());
                out.extend_from_slice(&b);
            }
            if !out.is_empty() {
                let data = Bytes::from(std::mem::take(&mut out));
                if t.send(data, format).await.is_err() {
                    return CloseReason::TransportClosed;
                }
            }
            let timeout_at = match (self.client_timeout_armed, client_timeout) {
                (true, Some(d)) => Some(last_received + d),
                _ => None,
            };
            tokio::select! {
                biased;
                _ = ended.cancelled() => return self.conn.take_reason(),
                resume = async { blocked.as_mut().expect("guarded").await }, if blocked.is_some() => {
                    blocked = None;
                    if let Err(r) = self.resume(resume, &mut blocked) {
                        return r;
                    }
                    if let Err(r) = self.process_frames(&mut blocked) {
                        return r;
                    }
                }
                item = rx.next() => {
                    if let Some(b) = item {
                        self.dequeued(b.len());
                        out.extend_from_slice(&b);
                    }
                }
                ev = t.recv(), if blocked.is_none() => match ev {
                    Received::Data(b) => {
                        last_received = Instant::now();
                        self.frames.push(&b);
                        if let Err(r) = self.process_frames(&mut blocked) {
                            return r;
                        }
                    }
                    Received::Closed { .. } => {
                        if let Err(e) = self.frames.finish() {
                            return CloseReason::Protocol(e);
                        }
                        return CloseReason::TransportClosed;
                    }
                },
                _ = sleep_until_opt(next_ping) => {
                    if let (Some(k), Some(at)) = (keep_alive, next_ping.as_mut()) {
                        *at += k;
                        self.conn.send(&HubMessage::Ping);
                    }
                    if self.faults().has(Fault::UnsolicitedAck) {
                        self.conn.send(&HubMessage::Ack(signalr_protocol::SequenceId { sequence_id: 1 }));
                    }
                }
                _ = sleep_until_opt(timeout_at) => {
                    if let Some(d) = client_timeout {
                        if last_received.elapsed() >= d {
                            return CloseReason::ClientTimeout;
                        }
                    }
                }
            }
        }
    }

    fn dequeued(&self, n: usize) {
        let before = self.conn.queued.fetch_sub(n, Ordering::Relaxed);
        if before >= STREAM_HIGH_WATER && before - n < STREAM_HIGH_WATER {
            self.conn.writable.notify_waiters();
        }
    }

    fn process_frames(&mut self, blocked: &mut Option<Blocked>) -> Result<(), CloseReason> {
        let format = self.protocol.transfer_format();
        while blocked.is_none() {
            let protocol = self.protocol;
            let parsed = match self.frames.next_frame(format) {
                Ok(Some(payload)) => protocol.parse(payload),
                Ok(None) => return Ok(()),
                Err(e) => return Err(CloseReason::Protocol(e)),
            };
            let parsed = parsed.map_err(CloseReason::Protocol)?;
            self.dispatch(parsed, blocked)?;
        }
        Ok(())
    }

    fn resume(&mut self, r: Resume, blocked: &mut Option<Blocked>) -> Result<(), CloseReason> {
        match r {
            Resume::Invoke(method, req, permit) => {
                let _ = blocked;
                self.invoke(method, req, permit)
            }
            Resume::Continue => Ok(()),
        }
    }

    fn dispatch(
        &mut self,
        parsed: Parsed,
        blocked: &mut Option<Blocked>,
    ) -> Result<(), CloseReason> {
        match parsed {
            Parsed::UnknownType(t) => {
                if self.faults().has(Fault::RejectUnknownMessageTypes) {
                    return Err(CloseReason::Protocol(ProtocolError::invalid_data(
                        signalr_protocol::Layer::Json,
                        format!("Unknown message type {t}."),
                    )));
                }
                Ok(())
            }
            Parsed::InvocationBindingFailure {
                invocation_id,
                target,
                error,
                ..
            } => {
                let e = match self.hub.method(&target, self.case_sensitive()) {
                    None => HubError::hub("Method does not exist."),
                    Some(_) => HubError::exception("InvalidDataException", error),
                };
                let text = e.build_message(
                    &format!("Failed to invoke '{target}' due to an error on the server."),
                    self.detailed,
                );
                self.invocation_error(&invocation_id, text);
                Ok(())
            }
            // An item that cannot be bound ends its upload with an error
            // (ProcessStreamBindingFailure); for an unknown stream id it is only logged.
            Parsed::StreamBindingFailure { invocation_id, .. } => {
                if self.uploads.contains_key(&invocation_id) {
                    self.fail_upload(&invocation_id, blocked)
                } else {
                    Ok(())
                }
            }
            Parsed::Message(m) => match m {
                HubMessage::Invocation(i) => self.on_invocation(
                    InvocationRequest {
                        id: i.invocation_id,
                        target: i.target,
                        arguments: i.arguments,
                        stream_ids: i.stream_ids.unwrap_or_default(),
                        streaming: false,
                    },
                    blocked,
                ),
                HubMessage::StreamInvocation(i) => self.on_invocation(
                    InvocationRequest {
                        id: Some(i.invocation_id),
                        target: i.target,
                        arguments: i.arguments,
                        stream_ids: i.stream_ids.unwrap_or_default(),
                        streaming: true,
                    },
                    blocked,
                ),
                HubMessage::StreamItem(s) => {
                    let Some((tx, ty)) = self.uploads.get(&s.invocation_id) else {
                        return Ok(());
                    };
                    if !ty.accepts(&s.item, self.protocol) {
                        return self.fail_upload(&s.invocation_id, blocked);
                    }
                    match tx.try_send(Ok(s.item)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(item)) => {
                            let tx = tx.clone();
                            *blocked = Some(Box::pin(async move {
                                let _ = tx.send(item).await;
                                Resume::Continue
                            }));
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            self.uploads.remove(&s.invocation_id);
                        }
                    }
                    Ok(())
                }
                HubMessage::Completion(c) => {
                    if let Some((tx, _)) = self.uploads.remove(&c.invocation_id) {
                        if let CompletionResult::Error(e) = c.result {
                            *blocked = Some(Box::pin(async move {
                                let _ = tx.send(Err(HubError::hub(e))).await;
                                Resume::Continue
                            }));
                        }
                        return Ok(());
                    }
                    let result = match c.result {
                        CompletionResult::Value(v) => Ok(v),
                        // ClientResultsManager: a Completion without a result fails the wait
                        // with `new HubException(null)`, whose message is .NET's default text.
                        CompletionResult::Void => Err(ClientResultError::Client(
                            "Exception of type 'Microsoft.AspNetCore.SignalR.HubException' was thrown."
                                .into(),
                        )),
                        CompletionResult::Error(e) => Err(ClientResultError::Client(e)),
                    };
                    match self.lifetime.complete_client_result(
                        &self.conn.connection_id,
                        &c.invocation_id,
                        result,
                    ) {
                        ResultRouting::WrongConnection(msg) => {
                            Err(CloseReason::InvalidCompletion(msg))
                        }
                        ResultRouting::Delivered | ResultRouting::Unknown => Ok(()),
                    }
                }
                HubMessage::CancelInvocation(c) => {
                    if !self.faults().has(Fault::IgnoreCancelInvocation) {
                        let token = self
                            .conn
                            .streams
                            .lock()
                            .ok()
                            .and_then(|s| s.get(&c.invocation_id).cloned());
                        if let Some(token) = token {
                            token.cancel();
                        }
                    }
                    Ok(())
                }
                HubMessage::Ping => {
                    self.client_timeout_armed = true;
                    Ok(())
                }
                HubMessage::Close(_) => Err(CloseReason::ClientClose),
                HubMessage::Ack(_) | HubMessage::Sequence(_) => Ok(()),
            },
        }
    }

    /// Completes an upload stream with `Failed to bind Stream message.`, as ASP.NET Core does
    /// for an item it cannot bind to the stream's element type.
    fn fail_upload(&mut self, id: &str, blocked: &mut Option<Blocked>) -> Result<(), CloseReason> {
        if let Some((tx, _)) = self.uploads.remove(id) {
            *blocked = Some(Box::pin(async move {
                let _ = tx
                    .send(Err(HubError::hub("Failed to bind Stream message.")))
                    .await;
                Resume::Continue
            }));
        }
        Ok(())
    }

    fn case_sensitive(&self) -> bool {
        self.faults().has(Fault::CaseSensitiveMethods)
    }

    /// Sends an error Completion, if the invocation was blocking.
    fn invocation_error(&self, id: &Option<String>, text: String) {
        let text = if self.faults().has(Fault::WrongErrorTexts) {
            "error".to_owned()
        } else {
            text
        };
        match nonempty(id) {
            Some(id) => {
                let id = if self.faults().has(Fault::WrongCompletionId) {
                    format!("{id}-wrong")
                } else {
                    id.to_owned()
                };
                self.conn
                    .send(&HubMessage::completion(id, CompletionResult::Error(text)));
            }
            None if self.faults().has(Fault::AnswerNonBlocking) => {
                self.conn.send(&HubMessage::completion(
                    "nonblocking",
                    CompletionResult::Error(text),
                ));
            }
            None => {}
        }
    }

    fn on_invocation(
        &mut self,
        req: InvocationRequest,
        blocked: &mut Option<Blocked>,
    ) -> Result<(), CloseReason> {
        let failed =
            |target: &str| format!("Failed to invoke '{target}' due to an error on the server.");
        let Some(method) = self.hub.method(&req.target, self.case_sensitive()).cloned() else {
            let text = HubError::hub("Method does not exist.")
                .build_message(&failed(&req.target), self.detailed);
            self.invocation_error(&req.id, text);
            return Ok(());
        };
        // Binding happens while parsing, before any slot is taken.
        if let Err(e) = method.bind(&req.arguments, self.protocol) {
            let text = HubError::exception("InvalidDataException", e)
                .build_message(&failed(&req.target), self.detailed);
            self.invocation_error(&req.id, text);
            return Ok(());
        }
        let limited = !req.streaming
            && method.upload_count() == 0
            && !self.faults().has(Fault::ParallelInvocations);
        if !limited {
            return self.invoke(method, req, None);
        }
        match self.semaphore.clone().try_acquire_owned() {
            Ok(permit) => self.invoke(method, req, Some(permit)),
            Err(_) => {
                let sem = self.semaphore.clone();
                *blocked = Some(Box::pin(async move {
                    let permit = sem.acquire_owned().await.ok();
                    Resume::Invoke(method, req, permit)
                }));
                Ok(())
            }
        }
    }

    fn invoke(
        &mut self,
        method: Arc<HubMethod>,
        req: InvocationRequest,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), CloseReason> {
        let unexpected = format!(
            "An unexpected error occurred invoking '{}' on the server.",
            req.target
        );
        if method.authorize && self.conn.request.user.is_none() {
            self.invocation_error(
                &req.id,
                format!(
                    "Failed to invoke '{}' because user is unauthorized",
                    req.target
                ),
            );
            return Ok(());
        }
        if method.is_streaming() && !req.streaming {
            if nonempty(&req.id).is_some() {
                self.invocation_error(&req.id, format!("The client attempted to invoke the streaming '{}' method with a non-streaming invocation.", req.target));
            }
            return Ok(());
        }
        if !method.is_streaming() && req.streaming {
            self.invocation_error(&req.id, format!("The client attempted to invoke the non-streaming '{}' method with a streaming invocation.", req.target));
            return Ok(());
        }
        let (client, server) = (req.stream_ids.len(), method.upload_count());
        if client != server {
            let e = HubError::hub(format!(
                "Client sent {client} stream(s), Hub method expects {server}."
            ));
            self.invocation_error(&req.id, e.build_message(&unexpected, self.detailed));
            return Ok(());
        }
        let stream_token = if req.streaming {
            let id = req.id.clone().unwrap_or_default();
            let token = self.conn.ended.child_token();
            let fresh = match self.conn.streams.lock() {
                Ok(mut s) if !s.contains_key(&id) => {
                    s.insert(id.clone(), token.clone());
                    true
                }
                _ => false,
            };
            if !fresh {
                // StreamAsync's cleanup removes the id's entry even for the refused duplicate,
                // so the original stream can no longer be canceled (DefaultHubDispatcher).
                if let Ok(mut s) = self.conn.streams.lock() {
                    s.remove(&id);
                }
                self.invocation_error(&req.id, format!("Invocation ID '{id}' is already in use."));
                return Ok(());
            }
            Some(token)
        } else {
            None
        };
        let capacity = self.shared.config.stream_buffer_capacity.max(1);
        let upload_types: Vec<ParamType> = method
            .params
            .iter()
            .filter_map(|p| match p {
                Param::Upload(t) => Some(*t),
                Param::Value(_) => None,
            })
            .collect();
        let uploads = req
            .stream_ids
            .iter()
            .zip(upload_types)
            .map(|(sid, ty)| {
                let (tx, rx) = mpsc::channel(capacity);
                self.uploads.insert(sid.clone(), (tx, ty));
                Some(Upload::new(rx))
            })
            .collect();
        let call = self.call(stream_token.clone(), uploads, None);
        match &method.handler {
            Handler::Sync(f) => {
                let r = f(&call, req.arguments);
                drop(permit);
                self.send_completion(&req.id, &unexpected, r);
            }
            Handler::Async(f) => {
                if let Ok(mut p) = call.0.permit.lock() {
                    *p = permit;
                }
                let fut = f(call.clone(), req.arguments);
                let conn = self.conn.clone();
                let detailed = self.detailed;
                let faults = self.faults();
                let id = req.id;
                tokio::spawn(async move {
                    let r = fut.await;
                    let msg = completion(&id, &unexpected, r, detailed, faults);
                    if let Some(m) = msg {
                        conn.send(&m);
                    }
                    drop(call);
                });
            }
            Handler::Stream(f) => {
                let id = req.id.unwrap_or_default();
                match f(call.clone(), req.arguments) {
                    Err(e) => {
                        if let Ok(mut s) = self.conn.streams.lock() {
                            s.remove(&id);
                        }
                        self.invocation_error(
                            &Some(id),
                            e.build_message(&unexpected, self.detailed),
                        );
                    }
                    Ok(stream) => {
                        let conn = self.conn.clone();
                        let detailed = self.detailed;
                        let faults = self.faults();
                        let token = stream_token.unwrap_or_default();
                        tokio::spawn(run_stream(conn, id, stream, token, detailed, faults, call));
                    }
                }
            }
        }
        Ok(())
    }

    fn send_completion(
        &self,
        id: &Option<String>,
        unexpected: &str,
        r: Result<Option<Value>, HubError>,
    ) {
        if let Some(m) = completion(id, unexpected, r, self.detailed, self.faults()) {
            self.conn.send(&m);
        }
    }

    async fn finish<T: Transport>(
        &mut self,
        t: &mut T,
        rx: &mut UnboundedReceiver<Bytes>,
        reason: CloseReason,
    ) {
        self.conn.ended.cancel();
        let mut out = Vec::new();
        // What was queued before the end was already written as far as ASP.NET Core is
        // concerned (it writes to the transport pipe at once, and the transport sends the pipe's
        // contents before closing): it goes out before the Close, e.g. the Completion of an
        // invocation that preceded a protocol error in the same frame. Only a client too slow to
        // read its queue loses it (ASP.NET Core aborts a send stuck past TransportSendTimeout).
        if !matches!(reason, CloseReason::Overflow) {
            while let Ok(b) = rx.try_recv() {
                out.extend_from_slice(&b);
            }
        }
        if !self.faults().has(Fault::NoCloseMessage) {
            let close = reason.close_message(self.detailed);
            out.extend_from_slice(&self.conn.encode(&close));
        }
        if !out.is_empty() {
            let _ = t
                .send(Bytes::from(out), self.protocol.transfer_format())
                .await;
        }
        // Forget the connection before the (up to CloseTimeout long) closing handshake, as
        // HubConnectionHandler does: groups, users and client results it owes are released
        // even while a client takes its time to answer the Close frame.
        self.lifetime.remove(&self.conn);
        for (_, (tx, _)) in self.uploads.drain() {
            let _ = tx.try_send(Err(HubError::exception(
                "OperationCanceledException",
                "The underlying connection was closed.",
            )));
        }
        t.close().await;
    }
}

/// The Completion for a finished invocation (fault modes applied); `None` for non-blocking ones.
fn completion(
    id: &Option<String>,
    unexpected: &str,
    r: Result<Option<Value>, HubError>,
    detailed: bool,
    faults: FaultSet,
) -> Option<HubMessage> {
    let id = match nonempty(id) {
        Some(id) if faults.has(Fault::WrongCompletionId) => format!("{id}-wrong"),
        Some(id) => id.to_owned(),
        None if faults.has(Fault::AnswerNonBlocking) => "nonblocking".to_owned(),
        None => return None,
    };
    let result = match r {
        // DefaultHubDispatcher answers every successful invocation with
        // `CompletionMessage.WithResult(id, result)`: a void method gives `"result":null`.
        Ok(None) => CompletionResult::Value(Value::Null),
        Ok(Some(v)) if faults.has(Fault::DropFalsyResults) && is_falsy(&v) => {
            CompletionResult::Void
        }
        Ok(Some(v)) => CompletionResult::Value(v),
        Err(_) if faults.has(Fault::WrongErrorTexts) => CompletionResult::Error("error".into()),
        Err(e) => CompletionResult::Error(e.build_message(unexpected, detailed)),
    };
    Some(HubMessage::completion(id, result))
}

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) | Value::Int(0) => true,
        Value::String(s) => s.is_empty(),
        Value::F64(f) => *f == 0.0,
        _ => false,
    }
}

async fn run_stream(
    conn: Arc<ConnHandle>,
    id: String,
    mut stream: futures_util::stream::BoxStream<'static, Result<Value, HubError>>,
    cancel: CancellationToken,
    detailed: bool,
    faults: FaultSet,
    call: Call,
) {
    let ignore_cancel = faults.has(Fault::IgnoreCancelInvocation);
    let mut error = None;
    let mut held: Vec<Value> = Vec::new();
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled(), if !ignore_cancel => break,
            n = stream.next() => n,
        };
        match next {
            Some(Ok(item)) => {
                if faults.has(Fault::ReorderStreamItems) {
                    held.push(item);
                    continue;
                }
                let copies = if faults.has(Fault::DuplicateStreamItems) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    if !conn
                        .send_with_backpressure(&HubMessage::stream_item(id.clone(), item.clone()))
                        .await
                    {
                        return;
                    }
                }
            }
            Some(Err(e)) => {
                error = Some(e.build_message(
                    "An error occurred on the server while streaming results.",
                    detailed,
                ));
                break;
            }
            None => break,
        }
    }
    for item in held.into_iter().rev() {
        conn.send(&HubMessage::stream_item(id.clone(), item));
    }
    drop(stream);
    if let Ok(mut s) = conn.streams.lock() {
        s.remove(&id);
    }
    let result = match error {
        Some(_) if faults.has(Fault::WrongErrorTexts) => CompletionResult::Error("error".into()),
        Some(e) => CompletionResult::Error(e),
        None if faults.has(Fault::StreamCompletionWithResult) => {
            CompletionResult::Value(Value::Null)
        }
        None => CompletionResult::Void,
    };
    let id = if faults.has(Fault::WrongCompletionId) {
        format!("{id}-wrong")
    } else {
        id
    };
    conn.send(&HubMessage::completion(id, result));
    drop(call);
}
