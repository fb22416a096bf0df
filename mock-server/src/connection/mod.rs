//! One hub connection over any [`Transport`], as ASP.NET Core's `HubConnectionHandler`,
//! `HubConnectionContext` and `DefaultHubDispatcher` run it:
//!
//! - [`handshake`]: the handshake phase (protocol selection, timeout, error texts);
//! - [`session`]: the receive/write loop (framing, keep-alive, client timeout, Close);
//! - [`dispatcher`]: invocations, completions, server-to-client and upload streams.
//!
//! Each connection is one task. It reads from the transport and writes whatever other tasks
//! (streams, async methods, broadcasts) queued on its [`ConnHandle`], so an idle connection
//! costs one task, its socket and an empty channel. Like ASP.NET Core's receive loop, it stops
//! reading while a non-streaming invocation waits for a free slot
//! (`MaximumParallelInvocationsPerClient`) or an upload stream's buffer is full.

use std::sync::Arc;

use signalr_protocol::FrameReader;

use crate::error::CloseReason;
use crate::faults::Fault;
use crate::handle::{ConnHandle, Identity};
use crate::hub::Hub;
use crate::lifetime::HubLifetime;
use crate::request::RequestInfo;
use crate::shared::Shared;
use crate::transport::Transport;

mod dispatcher;
mod handshake;
mod session;

use dispatcher::{DispatchOptions, Dispatcher};
use handshake::HandshakeRules;
use session::Session;

/// Everything a connection needs from the endpoint that accepted it.
pub(crate) struct ConnectionSetup {
    pub(crate) connection_id: String,
    pub(crate) request: Arc<RequestInfo>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) lifetime: Arc<HubLifetime>,
    pub(crate) shared: Arc<Shared>,
    /// `HttpConnectionDispatcherOptions.CloseOnAuthenticationExpiration`: close the connection
    /// when the token it connected with expires.
    pub(crate) close_on_auth_expiration: bool,
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
    let rules = HandshakeRules {
        config: cfg,
        faults,
        detailed_errors: setup.hub.detailed_errors,
        shutdown: &setup.shared.shutdown,
    };
    let Some(protocol) = handshake::handshake(&mut t, &mut frames, rules).await else {
        t.close().await;
        return;
    };

    let expires = if setup.close_on_auth_expiration {
        setup.request.user.as_ref().and_then(|u| u.expires)
    } else {
        None
    };
    let (conn, mut rx) = ConnHandle::new(
        Identity {
            connection_id: setup.connection_id,
            transport: t.kind(),
            protocol,
            request: setup.request,
        },
        setup.shared.shutdown.child_token(),
        faults,
        cfg.max_queued_bytes_per_connection,
    );
    let dispatcher = Dispatcher::new(
        conn.clone(),
        setup.hub.clone(),
        setup.lifetime.clone(),
        DispatchOptions {
            faults,
            parallel_invocations: cfg.maximum_parallel_invocations_per_client,
            stream_buffer_capacity: cfg.stream_buffer_capacity,
            client_result_timeout: cfg.client_result_timeout(),
        },
    );
    let mut session = Session {
        conn: conn.clone(),
        lifetime: setup.lifetime.clone(),
        dispatcher,
        protocol,
        frames,
        faults,
        detailed: setup.hub.detailed_errors,
        client_timeout_armed: false,
    };
    setup.lifetime.add(conn.clone());
    let expiry = expires.map(|exp| close_at_expiry(exp, &conn));
    // With a backplane, its channels are subscribed before the first message is read.
    setup.lifetime.backplane_barrier().await;

    let reason = match session.dispatcher.on_connected() {
        Err(e) => CloseReason::OnConnected(e),
        Ok(()) => session.run_loop(&mut t, &mut rx, cfg).await,
    };
    if let Some(task) = expiry {
        task.abort();
    }
    // A reason recorded by someone else (abort, overflow, shutdown) wins.
    let reason = conn.take_reason().unwrap_or(reason);
    session.finish(&mut t, &mut rx, reason).await;
}

/// With `CloseOnAuthenticationExpiration`, a task that ends the connection gracefully (Close
/// `allowReconnect: true`, as `RequestClose`) when the token's `exp` passes — `exp` itself, not
/// the clock skew authentication allowed (`HttpConnectionManager` compares
/// `AuthenticationExpiration` with the current time on its heartbeat).
fn close_at_expiry(exp: i64, conn: &Arc<ConnHandle>) -> tokio::task::JoinHandle<()> {
    // A far-future `exp` (any number a token may carry) waits forever; a past one closes now.
    let at = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(
        u64::try_from(exp).unwrap_or(0),
    ));
    let wait = match at {
        Some(at) => at
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
        None => std::time::Duration::MAX,
    };
    let conn = conn.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        conn.end(CloseReason::ServerRequest);
    })
}
