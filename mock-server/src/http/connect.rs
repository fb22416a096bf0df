//! Transport requests on a hub endpoint: `POST` (data for SSE/Long Polling), `DELETE` (ends a
//! Long Polling connection) and `GET` (starts a transport, or polls). Each transport's HTTP
//! start-up lives in its `transport/*.rs`; here is the connection state machine around it.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use signalr_protocol::{TransferFormat, TransportKind};

use super::connections::{ConnState, HttpConnection};
use super::response::{bare, chunked, text};
use crate::connection::{self, ConnectionSetup};
use crate::endpoint::{Endpoint, EndpointKind};
use crate::faults::{Fault, FaultSet};
use crate::request::RequestInfo;
use crate::shared::Shared;
use crate::transport::long_polling::{self, LongPollState};
use crate::transport::{sse, websockets, Received, Transport};

/// Largest POST body accepted (a hub message is at most 32 KB by default; a body may hold many).
const MAX_POST_BODY: usize = 16 << 20;

/// A POST body goes into the connection in pieces of at most this size (`ProcessSend`'s copy
/// buffer), at most [`super::connections::POSTS_IN_FLIGHT`] of them queued.
const POST_PIECE: usize = 4096;

const NO_CONNECTION: &str = "No Connection with that ID";

/// The 404 for a token that names no connection (unknown, expired, ended), as
/// `HttpConnectionDispatcher` writes it: `Response.WriteAsync` with no Content-Length, which
/// Kestrel sends in chunked transfer coding; `text/plain` where the dispatcher sets it
/// (`GetConnectionAsync`, DELETE), no Content-Type on the WebSocket path
/// (`GetOrCreateConnectionAsync`).
fn no_connection(shared: &Shared, content_type: bool) -> Response {
    let status = if shared.faults.has(Fault::UnknownIdAnswers400) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::NOT_FOUND
    };
    chunked(if content_type {
        text(status, NO_CONNECTION)
    } else {
        bare(status, NO_CONNECTION.to_owned())
    })
}

/// The connection endpoint's own refusals (no id, a method it does not serve): text/plain.
fn refuse(shared: &Shared, status: StatusCode, body: &str) -> Response {
    if shared.faults.has(Fault::BareConnectionErrors) {
        bare(status, String::new())
    } else {
        text(status, body)
    }
}

/// A request to a hub endpoint's own path.
pub(crate) async fn transport_request(
    shared: Arc<Shared>,
    ep: Arc<Endpoint>,
    req: Request,
    info: RequestInfo,
) -> Response {
    let id = info
        .query
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty());
    match *req.method() {
        Method::POST => send(&shared, id, req).await,
        Method::DELETE => delete(&shared, id),
        Method::GET => get(shared, ep, id, req, info).await,
        _ => refuse(&shared, StatusCode::METHOD_NOT_ALLOWED, ""),
    }
}

/// `POST`: data for an SSE or Long Polling connection (buffered if none started yet).
async fn send(shared: &Shared, id: Option<String>, req: Request) -> Response {
    let Some(id) = id else {
        return refuse(shared, StatusCode::BAD_REQUEST, "Connection ID required");
    };
    let Some(conn) = shared.connections.lookup(&id, shared.faults) else {
        return no_connection(shared, true);
    };
    if conn.state() == ConnState::Active(TransportKind::WebSockets) {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST requests are not allowed for WebSocket connections.",
        );
    }
    let Some(inbound) = conn.inbound() else {
        return no_connection(shared, true);
    };
    // One POST at a time, streamed into the connection in small pieces that wait while the
    // connection is behind (`ProcessSend` copies the body into the pipe under `WriteLock`):
    // the bytes held per connection stay bounded however large or many the POSTs are.
    let _writing = conn.write_lock.lock().await;
    let mut body = req.into_body().into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return text(StatusCode::BAD_REQUEST, "");
        };
        total += chunk.len();
        if total > MAX_POST_BODY {
            return text(StatusCode::BAD_REQUEST, "");
        }
        let mut at = 0;
        while at < chunk.len() {
            let end = (at + POST_PIECE).min(chunk.len());
            if inbound
                .send(Received::Data(chunk.slice(at..end)))
                .await
                .is_err()
            {
                // The connection was disposed during the write (e.g. the message was over the
                // hub's size limit). The rest of the body is read and dropped before the answer,
                // as Kestrel drains an unread request body, so a client still sending it gets
                // the 404 instead of a broken pipe.
                while total <= MAX_POST_BODY {
                    match body.next().await {
                        Some(Ok(rest)) => total += rest.len(),
                        _ => break,
                    }
                }
                return StatusCode::NOT_FOUND.into_response();
            }
            at = end;
        }
    }
    text(StatusCode::OK, "")
}

/// `DELETE`: ends a Long Polling connection.
fn delete(shared: &Shared, id: Option<String>) -> Response {
    let Some(id) = id else {
        return refuse(shared, StatusCode::BAD_REQUEST, "Connection ID required");
    };
    let Some(conn) = shared.connections.lookup(&id, shared.faults) else {
        return no_connection(shared, true);
    };
    match (conn.state(), conn.long_poll()) {
        (ConnState::Active(TransportKind::LongPolling), Some(lp)) => {
            lp.deleted.cancel();
            let status = if shared.faults.has(Fault::DeleteAnswers200) {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            let mut r = text(status, "");
            long_polling::no_cache(&mut r);
            r
        }
        (ConnState::Ended(_), _) => no_connection(shared, true),
        _ => text(
            StatusCode::BAD_REQUEST,
            "Cannot terminate this connection using the DELETE endpoint.",
        ),
    }
}

/// Which transport a GET asks for.
fn requested_transport(headers: &HeaderMap) -> TransportKind {
    if accepts_event_stream(headers) {
        TransportKind::ServerSentEvents
    } else if is_websocket_request(headers) {
        TransportKind::WebSockets
    } else {
        TransportKind::LongPolling
    }
}

fn is_websocket_request(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str()
            .map(|s| {
                s.split(',').any(|p| {
                    p.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case("text/event-stream")
                })
            })
            .unwrap_or(false)
    })
}

/// What a GET does to a connection in its current state.
enum Next {
    Start,
    Reattach,
    Poll,
    Refuse(Response),
    EndedPoll,
}

/// `GET`: starts a transport (or, for Long Polling, polls).
async fn get(
    shared: Arc<Shared>,
    ep: Arc<Endpoint>,
    id: Option<String>,
    req: Request,
    info: RequestInfo,
) -> Response {
    let kind = requested_transport(req.headers());
    // SSE and Long Polling need an existing connection; WebSockets create one lazily.
    let conn = match (&id, kind) {
        (None, TransportKind::WebSockets) => shared.connections.create(0, true),
        (None, _) => return refuse(&shared, StatusCode::BAD_REQUEST, "Connection ID required"),
        (Some(id), _) => match shared.connections.lookup(id, shared.faults) {
            Some(c) => c,
            // `GetOrCreateConnectionAsync` (the WebSocket path) writes this 404 without a
            // Content-Type; `GetConnectionAsync` (SSE, Long Polling) sets text/plain.
            None if kind == TransportKind::WebSockets => return no_connection(&shared, false),
            None => return no_connection(&shared, true),
        },
    };
    if !ep.transports.contains(&kind) {
        return text(
            StatusCode::NOT_FOUND,
            &format!(
                "{} transport not supported by this end point type",
                kind.name()
            ),
        );
    }
    let next = match conn.state.lock() {
        Err(_) => Next::Refuse(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Ok(mut state) => match *state {
            ConnState::Pending => {
                *state = ConnState::Active(kind);
                shared.connections.not_pending(&conn);
                Next::Start
            }
            ConnState::Active(k) if k != kind => Next::Refuse(text(
                StatusCode::BAD_REQUEST,
                "Cannot change transports mid-connection",
            )),
            // Stateful reconnect: a new WebSocket for a connection that may be reattached
            // (its old one vanished, or is replaced and closed).
            ConnState::Active(TransportKind::WebSockets)
                if kind == TransportKind::WebSockets && conn.reattach_sender().is_some() =>
            {
                Next::Reattach
            }
            ConnState::Active(TransportKind::LongPolling) => Next::Poll,
            ConnState::Active(_) => Next::Refuse(text(StatusCode::CONFLICT, "")),
            ConnState::Ended(_) if kind == TransportKind::LongPolling => Next::EndedPoll,
            // A WebSocket connection that ended is as good as gone (`GetOrCreateConnectionAsync`).
            ConnState::Ended(_) if kind == TransportKind::WebSockets => {
                Next::Refuse(no_connection(&shared, false))
            }
            ConnState::Ended(_) => Next::Refuse(no_connection(&shared, true)),
        },
    };
    match next {
        Next::Start => start(shared, ep, conn, kind, req, info).await,
        Next::Reattach => reattach(&shared, conn, req).await,
        Next::Refuse(r) => r,
        Next::EndedPoll => {
            // What the connection wrote before it ended still goes out; only an empty
            // buffer gets the final 204 (LongPollingServerTransport).
            let r = match conn.long_poll() {
                Some(lp) => {
                    long_polling::poll(
                        &lp,
                        shared.config.long_poll_timeout(),
                        shared.faults.has(Fault::PollTimeout204),
                    )
                    .await
                }
                None => long_polling::ended_poll(),
            };
            if r.status() == StatusCode::NO_CONTENT {
                shared.connections.remove(&conn.token);
            }
            r
        }
        Next::Poll => match conn.long_poll() {
            Some(lp) => {
                long_polling::poll(
                    &lp,
                    shared.config.long_poll_timeout(),
                    shared.faults.has(Fault::PollTimeout204),
                )
                .await
            }
            None => text(StatusCode::CONFLICT, ""),
        },
    }
}

/// Starts transport `kind` on a connection that just became active.
async fn start(
    shared: Arc<Shared>,
    ep: Arc<Endpoint>,
    conn: Arc<HttpConnection>,
    kind: TransportKind,
    req: Request,
    info: RequestInfo,
) -> Response {
    match kind {
        TransportKind::WebSockets => {
            let (mut parts, _body) = req.into_parts();
            let options = ws_options(&shared);
            let reattach = conn.start_reattach();
            let on_failed = {
                let shared = shared.clone();
                let token = conn.token.clone();
                move || shared.connections.remove(&token)
            };
            let (s, c) = (shared.clone(), conn.clone());
            // Shared, not moved by value through each layer of the connection's task.
            let info = Arc::new(info);
            let accepted = websockets::accept(&mut parts, options, on_failed, |mut t| async move {
                ends_on_close(&mut t, s.faults, &c);
                run_endpoint(t, &s, &ep, &c, info, reattach).await;
                s.connections.remove(&c.token);
            })
            .await;
            accepted.unwrap_or_else(|refusal| {
                shared.connections.remove(&conn.token);
                refusal
            })
        }
        TransportKind::ServerSentEvents => {
            let (t, response) = sse::start(
                conn.start_inbound(None),
                shared.faults.has(Fault::SsePlainHeaders),
                shared.config.transport_send_timeout(),
            );
            let info = Arc::new(info);
            tokio::spawn(async move {
                run_endpoint(t, &shared, &ep, &conn, info, None).await;
                shared.connections.remove(&conn.token);
            });
            response
        }
        TransportKind::LongPolling => {
            let lp = Arc::new(LongPollState::new(
                shared.config.max_queued_bytes_per_connection,
            ));
            let inbound = conn.start_inbound(Some(lp.clone()));
            let (t, response) =
                long_polling::start(lp.clone(), inbound, shared.config.disconnect_timeout());
            let info = Arc::new(info);
            tokio::spawn(async move {
                run_endpoint(t, &shared, &ep, &conn, info, None).await;
                if lp.abandoned() {
                    // The client stopped polling: disposed now, its queued output with it.
                    shared.connections.remove(&conn.token);
                } else {
                    // Kept until the client's next poll (204) or the disconnect timeout.
                    conn.set_ended();
                }
            });
            response
        }
    }
}

/// A client's Close frame ends its connection for good the moment it is read, before the
/// answering Close frame goes out: a WebSocket request with the token is refused with 404 from
/// then on, however fast it follows (ASP.NET Core: a graceful transport end disposes of the
/// connection; only a WebSocket that vanished may be reattached). The connection's task ends it
/// too, later; the fault `stateful-graceful-detaches` keeps it reattachable instead.
fn ends_on_close(
    t: &mut websockets::WebSocketTransport,
    faults: FaultSet,
    conn: &Arc<HttpConnection>,
) {
    if !faults.has(Fault::StatefulGracefulDetaches) {
        let conn = conn.clone();
        t.on_peer_close(move || conn.set_ended());
    }
}

/// How the server's WebSockets behave (ASP.NET Core's defaults; others are fault modes).
fn ws_options(shared: &Shared) -> websockets::WsOptions {
    websockets::WsOptions {
        read_buffer_size: shared.config.websocket_read_buffer_size,
        close_code: if shared.faults.has(Fault::WebSocketCloseGoingAway) {
            1001
        } else {
            1000
        },
        text_as_binary: shared.faults.has(Fault::JsonInBinaryFrames),
        answer_close_with_1000: !shared.faults.has(Fault::EchoEmptyClose),
        hub_message_size: if shared.faults.has(Fault::NoMessageSizeLimit) {
            None
        } else {
            shared.config.max_message_size()
        },
        send_timeout: shared.config.transport_send_timeout(),
    }
}

/// A stateful connection's client comes back with a new WebSocket: once upgraded it goes to
/// the connection's task, which resends from there (no handshake on a reattach). A connection
/// that ended meanwhile closes it at once.
async fn reattach(shared: &Shared, conn: Arc<HttpConnection>, req: Request) -> Response {
    let Some(tx) = conn.reattach_sender() else {
        return no_connection(shared, false);
    };
    let (mut parts, _body) = req.into_parts();
    let faults = shared.faults;
    let accepted = websockets::accept(
        &mut parts,
        ws_options(shared),
        || {},
        move |mut t| async move {
            ends_on_close(&mut t, faults, &conn);
            if let Err(refused) = tx.send(t).await {
                let mut t = refused.0;
                t.close().await;
            }
        },
    )
    .await;
    accepted.unwrap_or_else(|refusal| refusal)
}

async fn run_endpoint<T: Transport>(
    t: T,
    shared: &Arc<Shared>,
    ep: &Endpoint,
    conn: &Arc<HttpConnection>,
    info: Arc<RequestInfo>,
    reattach: Option<tokio::sync::mpsc::Receiver<T>>,
) {
    match &ep.kind {
        EndpointKind::Hub { hub, lifetime } => {
            connection::run(
                t,
                ConnectionSetup {
                    connection_id: conn.connection_id.clone(),
                    request: info,
                    hub: hub.clone(),
                    lifetime: lifetime.clone(),
                    shared: shared.clone(),
                    close_on_auth_expiration: ep.close_on_auth_expiration
                        && !shared.faults.has(Fault::NoAuthExpirationClose),
                    http: conn.clone(),
                },
                reattach,
            )
            .await
        }
        EndpointKind::Echo => echo(t, shared).await,
    }
}

/// `EchoConnectionHandler`: every byte back, as text (the transport's default format), or as
/// binary when the bytes are not UTF-8 (a WebSocket text frame cannot carry them; the other
/// transports send bytes whatever the format).
async fn echo<T: Transport>(mut t: T, shared: &Shared) {
    loop {
        tokio::select! {
            ev = t.recv() => match ev {
                Received::Data(b) => {
                    let format = match std::str::from_utf8(&b) {
                        Ok(_) => TransferFormat::Text,
                        Err(_) => TransferFormat::Binary,
                    };
                    if t.send(b, format).await.is_err() {
                        break;
                    }
                }
                Received::Closed => break,
            },
            _ = shared.shutdown.cancelled() => break,
        }
    }
    t.close().await;
}
