//! One hub connection over any [`Transport`], as ASP.NET Core's `HubConnectionHandler`,
//! `HubConnectionContext` and `DefaultHubDispatcher` run it:
//!
//! - [`handshake`]: the handshake phase (protocol selection, timeout, error texts);
//! - [`session`]: the receive/write loop (framing, keep-alive, client timeout, Close, and
//!   reattaching a stateful connection's new WebSocket);
//! - [`buffer`]: stateful reconnect's resend buffer and numbering (`MessageBuffer`);
//! - [`dispatcher`]: invocations, completions, server-to-client and upload streams.
//!
//! Each connection is one task. It reads from the transport and writes whatever other tasks
//! (streams, async methods, broadcasts) queued on its [`ConnHandle`], so an idle connection
//! costs one task, its socket and an empty channel. Like ASP.NET Core's receive loop, it stops
//! reading while a non-streaming invocation waits for a free slot
//! (`MaximumParallelInvocationsPerClient`) or an upload stream's buffer is full.

use std::sync::Arc;

use bytes::Bytes;
use signalr_protocol::FrameReader;
use tokio::sync::mpsc;

use crate::error::CloseReason;
use crate::faults::Fault;
use crate::handle::{ConnHandle, Identity};
use crate::http::connections::HttpConnection;
use crate::hub::Hub;
use crate::lifetime::HubLifetime;
use crate::request::RequestInfo;
use crate::shared::Shared;
use crate::transport::Transport;

mod buffer;
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
    /// The negotiated connection: whether negotiate granted stateful reconnect (used only on
    /// WebSockets with handshake version 2), and its state for later transport requests.
    pub(crate) http: Arc<HttpConnection>,
}

/// Runs a hub connection to its end. `reattach` is given when the connection negotiated
/// stateful reconnect: it delivers the WebSockets the client reattaches with. The feature is
/// used only with a version 2 handshake (`HubConnectionContext`); otherwise `reattach` is
/// dropped and the connection is an ordinary one.
pub(crate) async fn run<T: Transport>(
    mut t: T,
    setup: ConnectionSetup,
    mut reattach: Option<mpsc::Receiver<T>>,
) {
    let cfg = &setup.shared.config;
    let faults = setup.shared.faults;
    let max_size = if faults.has(Fault::NoMessageSizeLimit) {
        None
    } else {
        cfg.max_message_size()
    };
    let mut frames = FrameReader::with_max_message_size(max_size);
    let success_in_handshake = t.kind() == signalr_protocol::TransportKind::WebSockets;
    let rules = HandshakeRules {
        config: cfg,
        faults,
        detailed_errors: setup.hub.detailed_errors,
        shutdown: &setup.shared.shutdown,
        // On Server-Sent Events and Long Polling the success response waits for OnConnected, so
        // that a failing OnConnected's Close leaves in the same write: the official JS client
        // POSTs a Ping as soon as it reads the response, and with the Close in a later write that
        // POST raced the connection's end (404), so start() failed with the 404 instead of the
        // server's error. Only the chunking differs from ASP.NET Core, not the order.
        send_success: success_in_handshake,
    };
    let Some((protocol, version)) = handshake::handshake(&mut t, &mut frames, rules).await else {
        t.close().await;
        return;
    };
    if version < 2 && reattach.is_some() {
        // `DisableReconnect`: an ordinary connection (a second WebSocket is refused with 409).
        setup.http.set_stateful(false);
        reattach = None;
    }
    // Stateful reconnect is for WebSockets only (the fault uses it on any transport).
    let stateful = reattach.is_some()
        || (setup.http.is_stateful() && version >= 2 && faults.has(Fault::StatefulAllTransports));
    let buffer = stateful.then(|| {
        Box::new(buffer::MessageBuffer::new(
            cfg.stateful_reconnect_buffer_size,
            faults,
        ))
    });

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
        buffer,
        attached: true,
        pending: None,
    };
    setup.lifetime.add(conn.clone());
    let expiry = expires.map(|exp| close_at_expiry(exp, &conn));
    // With a backplane, its channels are subscribed before the first message is read.
    setup.lifetime.backplane_barrier().await;

    let reason = match session.dispatcher.on_connected() {
        Err(e) => {
            if !success_in_handshake {
                session.pending = Some(Bytes::from_static(
                    signalr_protocol::handshake::SUCCESS_RESPONSE,
                ));
            }
            CloseReason::OnConnected(e)
        }
        Ok(()) => {
            if !success_in_handshake
                && t.send(
                    Bytes::from_static(signalr_protocol::handshake::SUCCESS_RESPONSE),
                    protocol.transfer_format(),
                )
                .await
                .is_err()
            {
                CloseReason::TransportClosed
            } else {
                session.run_loop(&mut t, &mut rx, cfg, &mut reattach).await
            }
        }
    };
    if let Some(task) = expiry {
        task.abort();
    }
    // A reason recorded by someone else (abort, overflow, shutdown) wins.
    drop(reattach);
    if t.kind() == signalr_protocol::TransportKind::WebSockets {
        // Over for good: from now on a WebSocket for this token is answered 404, also while the
        // closing handshake runs and before the connection leaves the table (a client's Close
        // frame did this already when it was read: `http::connect::ends_on_close`).
        setup.http.set_ended();
    }
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
