//! What a hub method sees of its caller: identity, request, clients, groups, uploads,
//! cancellation and client results (`Hub.Context`, `Hub.Clients`, `Hub.Groups`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use signalr_protocol::{HubMessage, HubProtocol, TransportKind, Value};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::error::{ClientResultError, CloseReason, HubError};
use crate::handle::ConnHandle;
use crate::lifetime::HubLifetime;
use crate::request::RequestInfo;
use crate::timer::sleep_opt;

/// A client-to-server stream as the hub method reads it.
pub struct Upload {
    rx: mpsc::Receiver<Result<Value, HubError>>,
}

impl Upload {
    pub(crate) fn new(rx: mpsc::Receiver<Result<Value, HubError>>) -> Self {
        Self { rx }
    }

    /// The next item; `None` when the client completed the stream; `Err` when the client
    /// completed it with an error (a `HubException`) or the connection closed.
    pub async fn next(&mut self) -> Option<Result<Value, HubError>> {
        self.rx.recv().await
    }
}

pub(crate) struct CallInner {
    pub(crate) conn: Arc<ConnHandle>,
    pub(crate) lifetime: Arc<HubLifetime>,
    pub(crate) cancel: CancellationToken,
    pub(crate) uploads: Mutex<Vec<Option<Upload>>>,
    pub(crate) permit: Mutex<Option<OwnedSemaphorePermit>>,
    pub(crate) client_result_timeout: Option<Duration>,
}

/// The context of one invocation (cheap to clone).
#[derive(Clone)]
pub struct Call(pub(crate) Arc<CallInner>);

impl Call {
    /// The caller's public connection id (`Context.ConnectionId`).
    pub fn connection_id(&self) -> &str {
        &self.0.conn.connection_id
    }

    /// The caller's user id (`Context.UserIdentifier`), from its token's name identifier.
    pub fn user_identifier(&self) -> Option<&str> {
        self.0.conn.user_id.as_deref()
    }

    /// The transport the caller uses.
    pub fn transport(&self) -> TransportKind {
        self.0.conn.transport
    }

    /// The caller's hub protocol.
    pub fn protocol(&self) -> HubProtocol {
        self.0.conn.protocol
    }

    /// The HTTP request that established the connection.
    pub fn request(&self) -> &RequestInfo {
        &self.0.conn.request
    }

    /// The hub's connections, groups and users.
    pub fn lifetime(&self) -> &HubLifetime {
        &self.0.lifetime
    }

    /// Fires when the stream is canceled by the client or the connection ends.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.0.cancel
    }

    /// Takes the `index`-th upload stream parameter.
    pub fn take_upload(&self, index: usize) -> Option<Upload> {
        self.0.uploads.lock().ok()?.get_mut(index)?.take()
    }

    /// `Clients.Caller.SendAsync`.
    pub fn send_caller(&self, target: &str, arguments: Vec<Value>) {
        self.0.conn.send(&HubMessage::send(target, arguments));
    }

    /// `Context.Abort()`: ends the connection with `{"type":7}`.
    pub fn abort(&self) {
        self.0.conn.end(CloseReason::HubAbort);
    }

    /// Asks for a graceful close (`IConnectionLifetimeNotificationFeature.RequestClose`):
    /// `{"type":7,"allowReconnect":true}`.
    pub fn request_close(&self) {
        self.0.conn.end(CloseReason::ServerRequest);
    }

    /// `Clients.Client(id).InvokeAsync(target, args)`: a client result. While waiting, the
    /// caller's invocation slot is given back so its Completion can be read.
    pub async fn invoke_client(
        &self,
        connection_id: &str,
        target: &str,
        arguments: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, HubError> {
        let lifetime = &self.0.lifetime;
        let (id, rx) = lifetime
            .start_client_result(connection_id, target, arguments)
            .map_err(HubError::from)?;
        // The caller's invocation slot is given back for good (HubCallerClients releases it
        // once), so the receive loop can read the client's Completion.
        drop(self.0.permit.lock().ok().and_then(|mut p| p.take()));
        let timeout = timeout.or(self.0.client_result_timeout);
        let outcome = tokio::select! {
            r = rx => r.unwrap_or(Err(ClientResultError::Canceled)),
            _ = sleep_opt(timeout) => Err(ClientResultError::Canceled),
            _ = self.0.cancel.cancelled() => Err(ClientResultError::Canceled),
        };
        if matches!(outcome, Err(ClientResultError::Canceled)) {
            lifetime.cancel_client_result(&id);
        }
        outcome.map_err(HubError::from)
    }
}
