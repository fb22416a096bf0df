//! The hub dispatcher (`DefaultHubDispatcher`): binds invocations to hub methods, runs them
//! (sync, async, streaming) within the per-client parallelism limit, feeds upload streams,
//! routes client-result Completions and cancels streams.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use signalr_protocol::error::ProtocolError;
use signalr_protocol::{CompletionResult, HubMessage, HubProtocol, Parsed, Value};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::call::{Call, CallInner, Upload};
use crate::error::{ClientResultError, CloseReason, HubError};
use crate::faults::{Fault, FaultSet};
use crate::handle::ConnHandle;
use crate::hub::{Handler, Hub, HubMethod, Param, ParamType};
use crate::lifetime::{self, Deferred, HubLifetime, ResultRouting};
use crate::outgoing::{self, Outcome};

/// An invocation as the dispatcher runs it (blocking, non-blocking or streaming).
pub(crate) struct InvocationRequest {
    id: Option<String>,
    target: String,
    arguments: Vec<Value>,
    stream_ids: Vec<String>,
    streaming: bool,
}

/// What a blocked receive loop waits for before it reads again.
pub(crate) enum Resume {
    /// A slot became free for this invocation.
    Invoke(
        Arc<HubMethod>,
        InvocationRequest,
        Option<OwnedSemaphorePermit>,
    ),
    /// An upload buffer accepted the item.
    Continue,
}

/// The wait that blocks the receive loop, as ASP.NET Core's does while an invocation waits
/// for a slot or an upload buffer is full.
pub(crate) type Blocked = Pin<Box<dyn Future<Output = Resume> + Send>>;

/// Limits and options the dispatcher applies.
pub(crate) struct DispatchOptions {
    pub(crate) faults: FaultSet,
    pub(crate) parallel_invocations: usize,
    pub(crate) stream_buffer_capacity: usize,
    pub(crate) client_result_timeout: Option<Duration>,
}

/// One connection's dispatcher.
pub(crate) struct Dispatcher {
    conn: Arc<ConnHandle>,
    hub: Arc<Hub>,
    lifetime: Arc<HubLifetime>,
    protocol: HubProtocol,
    detailed: bool,
    faults: FaultSet,
    semaphore: Arc<Semaphore>,
    stream_buffer_capacity: usize,
    client_result_timeout: Option<Duration>,
    uploads: HashMap<String, (mpsc::Sender<Result<Value, HubError>>, ParamType)>,
    /// Uploads whose stream id a later invocation reused: no item or completion reaches them
    /// any more (`StreamTracker.AddStream` replaces the id's entry), so their methods wait
    /// until the connection ends, as on ASP.NET Core. Dropped with the connection.
    orphaned_uploads: Vec<mpsc::Sender<Result<Value, HubError>>>,
}

impl Dispatcher {
    /// A dispatcher for `conn` on `hub`.
    pub(crate) fn new(
        conn: Arc<ConnHandle>,
        hub: Arc<Hub>,
        lifetime: Arc<HubLifetime>,
        options: DispatchOptions,
    ) -> Self {
        Self {
            protocol: conn.protocol,
            detailed: hub.detailed_errors,
            conn,
            hub,
            lifetime,
            faults: options.faults,
            semaphore: Arc::new(Semaphore::new(options.parallel_invocations.max(1))),
            stream_buffer_capacity: options.stream_buffer_capacity.max(1),
            client_result_timeout: options.client_result_timeout,
            uploads: HashMap::new(),
            orphaned_uploads: Vec::new(),
        }
    }

    /// Runs `OnConnectedAsync`.
    pub(crate) fn on_connected(&self) -> Result<(), HubError> {
        match &self.hub.on_connected {
            Some(f) => f(&self.call(None, Vec::new())),
            None => Ok(()),
        }
    }

    fn call(&self, cancel: Option<CancellationToken>, uploads: Vec<Option<Upload>>) -> Call {
        Call(Arc::new(CallInner {
            conn: self.conn.clone(),
            lifetime: self.lifetime.clone(),
            cancel: cancel.unwrap_or_else(|| self.conn.ended().clone()),
            uploads: Mutex::new(uploads),
            permit: Mutex::new(None),
            client_result_timeout: self.client_result_timeout,
        }))
    }

    /// Resumes what blocked the receive loop.
    pub(crate) fn resume(
        &mut self,
        r: Resume,
        blocked: &mut Option<Blocked>,
    ) -> Result<(), CloseReason> {
        match r {
            Resume::Invoke(method, req, permit) => {
                let _ = blocked;
                self.invoke(method, req, permit)
            }
            Resume::Continue => Ok(()),
        }
    }

    /// Handles one parsed message; `Err` ends the connection.
    pub(crate) fn dispatch(
        &mut self,
        parsed: Parsed,
        blocked: &mut Option<Blocked>,
    ) -> Result<(), CloseReason> {
        match parsed {
            Parsed::UnknownType(t) => {
                if self.faults.has(Fault::RejectUnknownMessageTypes) {
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
                self.invocation_error(invocation_id.as_deref(), text);
                Ok(())
            }
            // An item that cannot be bound ends its upload with an error
            // (ProcessStreamBindingFailure); for an unknown stream id it is only logged.
            Parsed::StreamBindingFailure { invocation_id, .. } => {
                match self.uploads.get(&invocation_id) {
                    Some((_, ty)) => {
                        let ty = *ty;
                        self.fail_upload(&invocation_id, ty, blocked)
                    }
                    None => Ok(()),
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
                        let ty = *ty;
                        return self.fail_upload(&s.invocation_id, ty, blocked);
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
                    if !self.faults.has(Fault::IgnoreCancelInvocation) {
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
                // The receive loop arms the client timeout on a Ping.
                HubMessage::Ping => Ok(()),
                HubMessage::Close(_) => Err(CloseReason::ClientClose),
                HubMessage::Ack(_) | HubMessage::Sequence(_) => Ok(()),
            },
        }
    }

    /// Ends every upload still open (the connection closed).
    pub(crate) fn close_uploads(&mut self) {
        self.orphaned_uploads.clear();
        for (_, (tx, _)) in self.uploads.drain() {
            let _ = tx.try_send(Err(HubError::exception(
                "OperationCanceledException",
                "The underlying connection was closed.",
            )));
        }
    }

    /// Completes an upload stream with `Failed to bind Stream message.`, as ASP.NET Core does
    /// for an item it cannot bind to the stream's element type; with detailed errors the
    /// binding exception follows (`ErrorMessageHelper.BuildErrorMessage`), in the protocol
    /// serializer's words.
    fn fail_upload(
        &mut self,
        id: &str,
        ty: ParamType,
        blocked: &mut Option<Blocked>,
    ) -> Result<(), CloseReason> {
        let base = "Failed to bind Stream message.";
        let text = if !self.detailed {
            base.to_owned()
        } else {
            let (json, msgpack) = match ty {
                ParamType::String => ("System.String", "String"),
                ParamType::Int32 => ("System.Int32", "Int32"),
                ParamType::Int64 => ("System.Int64", "Int64"),
                ParamType::Double => ("System.Double", "Double"),
                ParamType::Bool => ("System.Boolean", "Boolean"),
                ParamType::Bytes => ("System.Byte[]", "Byte[]"),
                ParamType::DateTime => ("System.DateTime", "DateTime"),
                ParamType::StringArray => ("System.String[]", "String[]"),
                ParamType::Any | ParamType::Object => ("System.Object", "Object"),
            };
            match self.protocol {
                HubProtocol::Json => format!(
                    "{base} JsonException: The JSON value could not be converted to {json}."
                ),
                HubProtocol::MessagePack => format!(
                    "{base} InvalidDataException: Deserializing object of the `{msgpack}` type for 'item' failed."
                ),
            }
        };
        if let Some((tx, _)) = self.uploads.remove(id) {
            *blocked = Some(Box::pin(async move {
                let _ = tx.send(Err(HubError::hub(text))).await;
                Resume::Continue
            }));
        }
        Ok(())
    }

    fn case_sensitive(&self) -> bool {
        self.faults.has(Fault::CaseSensitiveMethods)
    }

    /// Sends an error Completion, if the invocation was blocking.
    fn invocation_error(&self, id: Option<&str>, text: String) {
        if let Some(m) = outgoing::completion(id, Outcome::Failed(text), self.faults) {
            self.conn.send(&m);
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
            self.invocation_error(req.id.as_deref(), text);
            return Ok(());
        };
        // Binding happens while parsing, before any slot is taken. From here on texts quote
        // the method's declared name: since .NET 8 the hub protocols resolve the target through
        // `IInvocationBinder.GetTarget`, which returns it (`throwHUBexception` → `ThrowHubException`).
        if let Err(e) = method.bind(&req.arguments, self.protocol) {
            let text = HubError::exception("InvalidDataException", e)
                .build_message(&failed(&method.name), self.detailed);
            self.invocation_error(req.id.as_deref(), text);
            return Ok(());
        }
        let limited = !req.streaming
            && method.upload_count() == 0
            && !self.faults.has(Fault::ParallelInvocations);
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
        let declared = method.name.clone();
        let target = declared.as_str();
        let unexpected =
            || format!("An unexpected error occurred invoking '{target}' on the server.");
        let blocking = req.id.as_deref().is_some_and(|id| !id.is_empty());
        let user = self.conn.request.user.as_ref();
        let lax = self.faults.has(Fault::IgnoreMethodPolicies) && user.is_some();
        if !method.allows(user) && !lax {
            self.invocation_error(
                req.id.as_deref(),
                format!("Failed to invoke '{target}' because user is unauthorized"),
            );
            return Ok(());
        }
        if method.is_streaming() && !req.streaming {
            if blocking {
                self.invocation_error(req.id.as_deref(), format!("The client attempted to invoke the streaming '{target}' method with a non-streaming invocation."));
            }
            return Ok(());
        }
        if !method.is_streaming() && req.streaming {
            self.invocation_error(req.id.as_deref(), format!("The client attempted to invoke the non-streaming '{target}' method with a streaming invocation."));
            return Ok(());
        }
        let (client, server) = (req.stream_ids.len(), method.upload_count());
        if client != server {
            let e = HubError::hub(format!(
                "Client sent {client} stream(s), Hub method expects {server}."
            ));
            self.invocation_error(
                req.id.as_deref(),
                e.build_message(&unexpected(), self.detailed),
            );
            return Ok(());
        }
        let stream_token = if req.streaming {
            let id = req.id.clone().unwrap_or_default();
            let token = self.conn.ended().child_token();
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
                self.invocation_error(
                    req.id.as_deref(),
                    format!("Invocation ID '{id}' is already in use."),
                );
                return Ok(());
            }
            Some(token)
        } else {
            None
        };
        let capacity = self.stream_buffer_capacity;
        let upload_types = method.params.iter().filter_map(|p| match p {
            Param::Upload(t) => Some(*t),
            Param::Value(_) => None,
        });
        let uploads = req
            .stream_ids
            .iter()
            .zip(upload_types)
            .map(|(sid, ty)| {
                let (tx, rx) = mpsc::channel(capacity);
                if let Some((old, _)) = self.uploads.insert(sid.clone(), (tx, ty)) {
                    self.orphaned_uploads.push(old);
                }
                Some(Upload::new(rx))
            })
            .collect();
        let call = self.call(stream_token.clone(), uploads);
        match &method.handler {
            Handler::Sync(f) => {
                let held = self.lifetime.completion_first().then(Deferred::default);
                let r = match &held {
                    Some(d) => lifetime::hold_deliveries(d.clone(), || f(&call, req.arguments)),
                    None => f(&call, req.arguments),
                };
                drop(permit);
                let outcome = self.outcome(r, unexpected);
                if let Some(m) = outgoing::completion(req.id.as_deref(), outcome, self.faults) {
                    self.conn.send(&m);
                }
                if let Some(d) = &held {
                    lifetime::release_deliveries(d);
                }
            }
            Handler::Async(f) => {
                if let Ok(mut p) = call.0.permit.lock() {
                    *p = permit;
                }
                let held = self.lifetime.completion_first().then(Deferred::default);
                let fut = f(call.clone(), req.arguments);
                let conn = self.conn.clone();
                let detailed = self.detailed;
                let faults = self.faults;
                let id = req.id;
                let unexpected = unexpected();
                tokio::spawn(async move {
                    let r = match &held {
                        Some(d) => lifetime::hold_deliveries_async(d.clone(), fut).await,
                        None => fut.await,
                    };
                    let outcome = match r {
                        Ok(v) => Outcome::Returned(v),
                        Err(e) => Outcome::Failed(e.build_message(&unexpected, detailed)),
                    };
                    if let Some(m) = outgoing::completion(id.as_deref(), outcome, faults) {
                        conn.send(&m);
                    }
                    if let Some(d) = &held {
                        lifetime::release_deliveries(d);
                    }
                    drop(call);
                });
            }
            Handler::Stream(f) => {
                let id = req.id.clone().unwrap_or_default();
                match f(call.clone(), req.arguments) {
                    Err(e) => {
                        if let Ok(mut s) = self.conn.streams.lock() {
                            s.remove(&id);
                        }
                        self.invocation_error(
                            Some(&id),
                            e.build_message(&unexpected(), self.detailed),
                        );
                    }
                    Ok(stream) => {
                        let run = StreamRun {
                            conn: self.conn.clone(),
                            id,
                            cancel: stream_token.unwrap_or_default(),
                            detailed: self.detailed,
                            faults: self.faults,
                        };
                        tokio::spawn(run.run(stream, call));
                    }
                }
            }
        }
        Ok(())
    }

    fn outcome(
        &self,
        r: Result<Option<Value>, HubError>,
        unexpected: impl Fn() -> String,
    ) -> Outcome {
        match r {
            Ok(v) => Outcome::Returned(v),
            Err(e) => Outcome::Failed(e.build_message(&unexpected(), self.detailed)),
        }
    }
}

/// One running server-to-client stream.
struct StreamRun {
    conn: Arc<ConnHandle>,
    id: String,
    cancel: CancellationToken,
    detailed: bool,
    faults: FaultSet,
}

impl StreamRun {
    async fn run(self, mut stream: BoxStream<'static, Result<Value, HubError>>, call: Call) {
        let StreamRun {
            conn,
            id,
            cancel,
            detailed,
            faults,
        } = self;
        let ignore_cancel = faults.has(Fault::IgnoreCancelInvocation);
        let copies = outgoing::stream_item_copies(faults);
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
                    for _ in 0..copies {
                        if !conn
                            .send_with_backpressure(&HubMessage::stream_item(
                                id.clone(),
                                item.clone(),
                            ))
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
        conn.send(&outgoing::stream_completion(&id, error, faults));
        drop(call);
    }
}
