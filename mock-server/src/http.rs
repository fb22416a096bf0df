//! The HTTP layer: routing (case-insensitive, as ASP.NET Core's), CORS, negotiate, the
//! connection table, transport selection and the TestHub app's extra endpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use rand::RngCore;
use signalr_protocol::negotiate::{
    parse_query_pairs, AvailableTransport, NegotiateQuery, VersionParam,
};
use signalr_protocol::{NegotiateResponse, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::connection::{self, ConnectionSetup, RequestInfo};
use crate::faults::Fault;
use crate::hub::Hub;
use crate::lifetime::HubLifetime;
use crate::transport::long_polling::{self, LongPollState, LongPollingTransport};
use crate::transport::sse;
use crate::transport::websockets::WebSocketTransport;
use crate::transport::{Received, Transport, TransportKind};
use crate::Shared;

/// What an endpoint serves.
pub enum EndpointKind {
    /// A hub.
    Hub {
        /// The hub's methods.
        hub: Arc<Hub>,
        /// Its connections, groups and users (shared by endpoints of the same hub type).
        lifetime: Arc<HubLifetime>,
    },
    /// A raw connection that echoes every byte (`EchoConnectionHandler`).
    Echo,
}

/// A mapped path (`MapHub` / `MapConnectionHandler`).
pub struct Endpoint {
    /// Lower-case path, e.g. `/testhub`.
    pub path: String,
    /// What it serves.
    pub kind: EndpointKind,
    /// Enabled transports.
    pub transports: Vec<TransportKind>,
    /// `[Authorize]` on the hub: negotiate and transports need a valid token.
    pub require_auth: bool,
    /// Belongs to the TestHub app (cookies on negotiate).
    pub test_app: bool,
}

/// State of a negotiated connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Negotiated, no transport yet.
    Pending,
    /// A transport is attached.
    Active(TransportKind),
    /// The connection is over; kept briefly so a Long Polling client's next poll gets 204.
    Ended(Instant),
}

/// The channels an HTTP-based transport (SSE, Long Polling) is fed through.
#[derive(Clone)]
pub(crate) struct HttpIo {
    inbound: mpsc::Sender<Received>,
    long_poll: Option<Arc<LongPollState>>,
}

/// One HTTP connection (negotiate → transport).
pub struct HttpConnection {
    /// Public id.
    pub connection_id: String,
    /// Secret token (the table key; equals the id for negotiate version 0).
    pub token: String,
    /// Negotiate version it was created with.
    pub negotiate_version: i32,
    created: Instant,
    state: Mutex<ConnState>,
    io: Mutex<Option<HttpIo>>,
    /// Data POSTed before any transport started (ASP.NET Core buffers it in the pipe).
    early: Mutex<Option<mpsc::Receiver<Received>>>,
}

impl HttpConnection {
    /// The Long Polling state, once a Long Polling transport has started.
    fn long_poll(&self) -> Option<Arc<LongPollState>> {
        self.io
            .lock()
            .ok()
            .and_then(|io| io.as_ref().and_then(|io| io.long_poll.clone()))
    }

    /// The inbound channel for POSTs: the transport's, or a buffer until one starts.
    fn inbound(&self) -> Option<mpsc::Sender<Received>> {
        let mut io = self.io.lock().ok()?;
        if let Some(io) = io.as_ref() {
            return Some(io.inbound.clone());
        }
        let (tx, rx) = mpsc::channel(POSTS_IN_FLIGHT);
        *io = Some(HttpIo {
            inbound: tx.clone(),
            long_poll: None,
        });
        if let Ok(mut e) = self.early.lock() {
            *e = Some(rx);
        }
        Some(tx)
    }

    /// The inbound channel pair for a starting SSE/LP transport (taking over early POSTs).
    fn start_inbound(&self, long_poll: Option<Arc<LongPollState>>) -> mpsc::Receiver<Received> {
        let early = self.early.lock().ok().and_then(|mut e| e.take());
        let Ok(mut io) = self.io.lock() else {
            return mpsc::channel(1).1;
        };
        match (early, io.as_ref().map(|i| i.inbound.clone())) {
            (Some(rx), Some(tx)) => {
                *io = Some(HttpIo {
                    inbound: tx,
                    long_poll,
                });
                rx
            }
            _ => {
                let (tx, rx) = mpsc::channel(POSTS_IN_FLIGHT);
                *io = Some(HttpIo {
                    inbound: tx,
                    long_poll,
                });
                rx
            }
        }
    }
}

/// The table of negotiated connections, keyed by token.
#[derive(Default)]
pub struct ConnectionManager {
    map: Mutex<HashMap<String, Arc<HttpConnection>>>,
}

/// 16 random bytes, base64url without padding (22 characters).
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl ConnectionManager {
    fn create(&self, negotiate_version: i32, token_is_id: bool) -> Arc<HttpConnection> {
        let id = new_id();
        let token = if negotiate_version == 0 || token_is_id {
            id.clone()
        } else {
            new_id()
        };
        let c = Arc::new(HttpConnection {
            connection_id: id,
            token: token.clone(),
            negotiate_version,
            created: Instant::now(),
            state: Mutex::new(ConnState::Pending),
            io: Mutex::new(None),
            early: Mutex::new(None),
        });
        if let Ok(mut m) = self.map.lock() {
            m.insert(token, c.clone());
        }
        c
    }

    fn get(&self, token: &str) -> Option<Arc<HttpConnection>> {
        self.map.lock().ok()?.get(token).cloned()
    }

    fn find_by_id(&self, id: &str) -> Option<Arc<HttpConnection>> {
        self.map
            .lock()
            .ok()?
            .values()
            .find(|c| c.connection_id == id)
            .cloned()
    }

    fn remove(&self, token: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(token);
        }
    }

    /// Connections negotiated but not (yet) connected.
    pub fn pending(&self) -> usize {
        self.map
            .lock()
            .map(|m| {
                m.values()
                    .filter(|c| {
                        c.state
                            .lock()
                            .map(|s| *s == ConnState::Pending)
                            .unwrap_or(false)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// All connections in the table.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sweep(&self, timeout: Duration) {
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, c| {
                let pending = c
                    .state
                    .lock()
                    .map(|s| *s == ConnState::Pending)
                    .unwrap_or(true);
                !(pending && c.created.elapsed() > timeout)
            });
        }
    }
}

/// Disposes of negotiated connections that never connected (`DisconnectTimeout`).
pub(crate) fn spawn_sweeper(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => shared.connections.sweep(shared.config.disconnect_timeout()),
                _ = shared.shutdown.cancelled() => break,
            }
        }
    })
}

/// The router: one fallback handler that routes case-insensitively.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = (status, body.to_owned()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// A body without a Content-Type (what `HttpResponse.WriteAsync(string)` sends).
fn bare(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .body(Body::from(body))
        .unwrap_or_default()
}

fn json_response(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
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

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let request_method = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .cloned();
    let request_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    // A CORS preflight gets 204. The TestHub app's middleware answers every OPTIONS with 204;
    // elsewhere a plain OPTIONS reaches the endpoint (405).
    let preflight = request_method.is_some() || is_test_app_path(&shared, req.uri().path());
    let mut resp = if req.method() == Method::OPTIONS && preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        route(shared, req).await
    };
    // CORS that echoes the Origin and allows credentials (the TestHub app's middleware).
    if let Some(o) = origin {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if let Some(m) = request_method {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        if let Some(rh) = request_headers {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, rh);
        }
    }
    resp
}

/// Whether `path` belongs to the TestHub app (whose CORS middleware answers every OPTIONS).
fn is_test_app_path(shared: &Shared, path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [
        "/echoredirect",
        "/redirect",
        "/bad-negotiate",
        "/generatejwttoken",
        "/clientresult",
    ]
    .iter()
    .any(|p| starts_with_segment(&lower, p))
        || shared
            .endpoints
            .iter()
            .any(|ep| ep.test_app && starts_with_segment(&lower, &ep.path))
}

fn starts_with_segment(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

async fn route(shared: Arc<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let lower = path.to_ascii_lowercase();
    let query_str = req.uri().query().unwrap_or("").to_owned();

    if starts_with_segment(&lower, "/echoredirect") {
        let target = format!(
            "{}{}",
            path.replacen("echoredirect", "echo", 1),
            if query_str.is_empty() {
                String::new()
            } else {
                format!("?{query_str}")
            }
        );
        let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    if starts_with_segment(&lower, "/redirect") {
        let query = parse_query_pairs(&query_str);
        let base = query
            .iter()
            .find(|(k, _)| k == "baseUrl")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let n = shared
            .redirects
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        // `Response.WriteAsync` sets no Content-Type.
        return bare(
            StatusCode::OK,
            format!("{{ \"url\": \"{base}/testHub?numRedirects={n}\" }}"),
        );
    }
    if starts_with_segment(&lower, "/bad-negotiate") {
        return bare(
            StatusCode::BAD_REQUEST,
            "Some response from server".to_owned(),
        );
    }
    if lower == "/generatejwttoken" && req.method() == Method::GET {
        return bare(
            StatusCode::OK,
            shared
                .tokens
                .issue("testuser", "SignalRTestServer", "SignalRTests", 5),
        );
    }
    if lower == "/contract/token" && req.method() == Method::GET {
        let query = parse_query_pairs(&query_str);
        let Some(user) = query
            .iter()
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v.clone())
        else {
            return text(
                StatusCode::BAD_REQUEST,
                "The 'user' query parameter is required.",
            );
        };
        return shared
            .tokens
            .issue(&user, "signalr-conform", "signalr-conform", 3600)
            .into_response();
    }
    if let Some(id) = lower.strip_prefix("/clientresult/") {
        if req.method() == Method::GET {
            let id = &path[path.len() - id.len()..];
            return client_result(&shared, id).await;
        }
    }
    let endpoint = shared.endpoints.iter().find_map(|ep| {
        if lower == ep.path {
            Some((ep.clone(), false))
        } else if lower.strip_suffix("/negotiate") == Some(ep.path.as_str()) {
            Some((ep.clone(), true))
        } else {
            None
        }
    });
    let Some((ep, negotiate)) = endpoint else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let query = parse_query_pairs(&query_str);
    let user = shared.tokens.user_from_request(req.headers(), &query);
    if ep.require_auth && user.is_none() {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    if negotiate {
        let mut r = if req.method() == Method::POST {
            negotiate_response(&shared, &ep, &query_str)
        } else {
            text(StatusCode::METHOD_NOT_ALLOWED, "")
        };
        if ep.test_app {
            set_test_cookies(r.headers_mut());
        }
        return r;
    }
    let info = RequestInfo {
        path: path.clone(),
        query,
        headers: owned_headers(req.headers()),
        user,
    };
    transport_request(shared, ep, req, info).await
}

/// A deep copy of request headers. hyper's header values are slices of the connection's read
/// buffer; keeping them for the connection's lifetime would keep that whole buffer alive.
fn owned_headers(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(h.len());
    for (k, v) in h {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_str().as_bytes()),
            HeaderValue::from_bytes(v.as_bytes()),
        ) {
            out.append(k, v);
        }
    }
    out
}

fn set_test_cookies(h: &mut HeaderMap) {
    for c in [
        "testCookie=testValue; path=/",
        "testCookie2=testValue2; path=/",
        "expiredCookie=doesntmatter; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/",
    ] {
        h.append(header::SET_COOKIE, HeaderValue::from_static(c));
    }
}

fn negotiate_response(shared: &Shared, ep: &Endpoint, query: &str) -> Response {
    let q = NegotiateQuery::parse(query);
    let faults = shared.faults;
    if faults.has(Fault::RequireNegotiateVersion) && q.negotiate_version == VersionParam::Absent {
        return text(StatusCode::BAD_REQUEST, "negotiateVersion is required");
    }
    let version = match q.resolve_version(shared.config.minimum_negotiate_version) {
        Ok(v) => v,
        Err(error) => return json_response(NegotiateResponse::error(error).to_json()),
    };
    if shared.connections.pending() >= shared.config.max_pending_connections {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many pending connections.",
        );
    }
    let conn = shared
        .connections
        .create(version, faults.has(Fault::TokenEqualsId));
    let transports: Vec<AvailableTransport> = AvailableTransport::defaults()
        .into_iter()
        .filter(|t| ep.transports.iter().any(|k| k.name() == t.transport))
        .collect();
    let stateful = shared.config.allow_stateful_reconnects && q.use_stateful_reconnect;
    let body = if faults.has(Fault::NegotiateWithoutVersion) {
        NegotiateResponse {
            connection_id: Some(conn.connection_id.clone()),
            available_transports: Some(transports),
            ..NegotiateResponse::default()
        }
        .to_json()
        .replacen("\"negotiateVersion\":0,", "", 1)
    } else {
        NegotiateResponse {
            negotiate_version: version,
            has_negotiate_version: true,
            connection_id: Some(conn.connection_id.clone()),
            connection_token: Some(conn.token.clone()),
            available_transports: Some(transports),
            use_stateful_reconnect: stateful,
            ..NegotiateResponse::default()
        }
        .to_json()
    };
    json_response(body)
}

fn lookup(shared: &Shared, id: &str) -> Option<Arc<HttpConnection>> {
    shared.connections.get(id).or_else(|| {
        // With `token-equals-id` or a v0 client, the id is the key; a wrong server also
        // accepts the public id (the fault).
        if shared.faults.has(Fault::TokenEqualsId) {
            shared.connections.find_by_id(id)
        } else {
            None
        }
    })
}

async fn transport_request(
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
    let method = req.method().clone();
    if method == Method::POST || method == Method::DELETE {
        let Some(id) = id else {
            return text(StatusCode::BAD_REQUEST, "Connection ID required");
        };
        let Some(conn) = lookup(&shared, &id) else {
            return text(StatusCode::NOT_FOUND, "No Connection with that ID");
        };
        let state = conn.state.lock().map(|s| *s).unwrap_or(ConnState::Pending);
        if method == Method::DELETE {
            return match (state, conn.long_poll()) {
                (ConnState::Active(TransportKind::LongPolling), Some(lp)) => {
                    lp.deleted.cancel();
                    let mut r = text(StatusCode::ACCEPTED, "");
                    long_polling::no_cache(&mut r);
                    r
                }
                (ConnState::Ended(_), _) => {
                    text(StatusCode::NOT_FOUND, "No Connection with that ID")
                }
                _ => text(
                    StatusCode::BAD_REQUEST,
                    "Cannot terminate this connection using the DELETE endpoint.",
                ),
            };
        }
        if state == ConnState::Active(TransportKind::WebSockets) {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST requests are not allowed for WebSocket connections.",
            );
        }
        let Some(inbound) = conn.inbound() else {
            return text(StatusCode::NOT_FOUND, "No Connection with that ID");
        };
        let body = match axum::body::to_bytes(req.into_body(), MAX_POST_BODY).await {
            Ok(b) => b,
            Err(_) => return text(StatusCode::BAD_REQUEST, ""),
        };
        if inbound.send(Received::Data(body)).await.is_err() {
            // The connection was disposed during the write.
            return StatusCode::NOT_FOUND.into_response();
        }
        return text(StatusCode::OK, "");
    }
    if method != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let kind = if accepts_event_stream(req.headers()) {
        TransportKind::ServerSentEvents
    } else if is_websocket_request(req.headers()) {
        TransportKind::WebSockets
    } else {
        TransportKind::LongPolling
    };
    // SSE and Long Polling need an existing connection; WebSockets create one lazily.
    let conn = match (&id, kind) {
        (None, TransportKind::WebSockets) => shared.connections.create(0, true),
        (None, _) => return text(StatusCode::BAD_REQUEST, "Connection ID required"),
        (Some(id), _) => match lookup(&shared, id) {
            Some(c) => c,
            // `GetOrCreateConnectionAsync` (the WebSocket path) writes this 404 without a
            // Content-Type; `GetConnectionAsync` (SSE, Long Polling) sets text/plain.
            None if kind == TransportKind::WebSockets => {
                return (
                    StatusCode::NOT_FOUND,
                    Body::from("No Connection with that ID"),
                )
                    .into_response()
            }
            None => return text(StatusCode::NOT_FOUND, "No Connection with that ID"),
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
    enum Next {
        Start,
        Poll,
        Refuse(Response),
        EndedPoll,
    }
    let next = match conn.state.lock() {
        Err(_) => Next::Refuse(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Ok(mut state) => match *state {
            ConnState::Pending => {
                *state = ConnState::Active(kind);
                Next::Start
            }
            ConnState::Active(k) if k != kind => Next::Refuse(text(
                StatusCode::BAD_REQUEST,
                "Cannot change transports mid-connection",
            )),
            ConnState::Active(TransportKind::LongPolling) => Next::Poll,
            ConnState::Active(_) => Next::Refuse(text(StatusCode::CONFLICT, "")),
            ConnState::Ended(_) if kind == TransportKind::LongPolling => Next::EndedPoll,
            ConnState::Ended(_) => {
                Next::Refuse(text(StatusCode::NOT_FOUND, "No Connection with that ID"))
            }
        },
    };
    match next {
        Next::Start => {}
        Next::Refuse(r) => return r,
        Next::EndedPoll => {
            // What the connection wrote before it ended still goes out; only an empty
            // buffer gets the final 204 (LongPollingServerTransport).
            let r = match conn.long_poll() {
                Some(lp) => long_polling::poll(&lp, shared.config.long_poll_timeout()).await,
                None => long_polling::ended_poll(),
            };
            if r.status() == StatusCode::NO_CONTENT {
                shared.connections.remove(&conn.token);
            }
            return r;
        }
        Next::Poll => {
            return match conn.long_poll() {
                Some(lp) => long_polling::poll(&lp, shared.config.long_poll_timeout()).await,
                None => text(StatusCode::CONFLICT, ""),
            };
        }
    }
    match kind {
        TransportKind::WebSockets => {
            let (mut parts, _body) = req.into_parts();
            let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(u) => u,
                Err(e) => {
                    shared.connections.remove(&conn.token);
                    return e.into_response();
                }
            };
            let buf = shared.config.websocket_read_buffer_size.max(256);
            upgrade
                .read_buffer_size(buf)
                .write_buffer_size(0)
                .max_message_size(16 << 20)
                .max_frame_size(16 << 20)
                .on_failed_upgrade({
                    let shared = shared.clone();
                    let token = conn.token.clone();
                    move |_| shared.connections.remove(&token)
                })
                .on_upgrade(move |ws| async move {
                    let code = if shared.faults.has(Fault::WebSocketCloseGoingAway) {
                        1001
                    } else {
                        1000
                    };
                    let t = WebSocketTransport::new(ws, code);
                    run_endpoint(t, &shared, &ep, &conn, info).await;
                    shared.connections.remove(&conn.token);
                })
        }
        TransportKind::ServerSentEvents => {
            let (t, body) = sse::sse(conn.start_inbound(None));
            tokio::spawn(async move {
                run_endpoint(t, &shared, &ep, &conn, info).await;
                shared.connections.remove(&conn.token);
            });
            let mut r = Response::new(Body::from_stream(body));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache,no-store"),
            );
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            h.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            r
        }
        TransportKind::LongPolling => {
            let lp = Arc::new(LongPollState::new(
                shared.config.max_queued_bytes_per_connection,
            ));
            let in_rx = conn.start_inbound(Some(lp.clone()));
            let t = LongPollingTransport::new(in_rx, lp, shared.config.disconnect_timeout());
            tokio::spawn(async move {
                run_endpoint(t, &shared, &ep, &conn, info).await;
                // Kept until the client's next poll (204) or the disconnect timeout.
                if let Ok(mut s) = conn.state.lock() {
                    *s = ConnState::Ended(Instant::now());
                }
            });
            long_polling::first_poll()
        }
    }
}

/// Largest POST body accepted (a hub message is at most 32 KB by default; a body may hold many).
const MAX_POST_BODY: usize = 16 << 20;
/// POST bodies queued for a connection before the next POST waits.
const POSTS_IN_FLIGHT: usize = 16;

async fn run_endpoint<T: Transport>(
    t: T,
    shared: &Arc<Shared>,
    ep: &Endpoint,
    conn: &HttpConnection,
    info: RequestInfo,
) {
    match &ep.kind {
        EndpointKind::Hub { hub, lifetime } => {
            connection::run(
                t,
                ConnectionSetup {
                    connection_id: conn.connection_id.clone(),
                    request: Arc::new(info),
                    hub: hub.clone(),
                    lifetime: lifetime.clone(),
                    shared: shared.clone(),
                },
            )
            .await
        }
        EndpointKind::Echo => echo(t, shared).await,
    }
}

/// `EchoConnectionHandler`: every byte back, as text (the transport's default format).
async fn echo<T: Transport>(mut t: T, shared: &Shared) {
    loop {
        tokio::select! {
            ev = t.recv() => match ev {
                Received::Data(b) => {
                    if t.send(b, signalr_protocol::TransferFormat::Text).await.is_err() {
                        break;
                    }
                }
                Received::Closed { .. } => break,
            },
            _ = shared.shutdown.cancelled() => break,
        }
    }
    t.close().await;
}

/// `GET /clientresult/{id}`: asks that TestHub connection for `Result()` and answers with it.
async fn client_result(shared: &Shared, id: &str) -> Response {
    let lifetime = shared.endpoints.iter().find_map(|ep| match &ep.kind {
        EndpointKind::Hub { lifetime, .. } if ep.path == "/testhub" => Some(lifetime.clone()),
        _ => None,
    });
    let Some(lifetime) = lifetime else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let outcome = match lifetime.start_client_result(id, "Result", Vec::new()) {
        Ok((_, rx)) => rx
            .await
            .unwrap_or(Err(crate::lifetime::ClientResultError::Canceled)),
        Err(e) => Err(e),
    };
    let body = match outcome {
        Ok(Value::Int(i)) => i.to_string(),
        Ok(v) => v.to_string(),
        Err(crate::lifetime::ClientResultError::Client(m))
        | Err(crate::lifetime::ClientResultError::Connection(m)) => m,
        Err(crate::lifetime::ClientResultError::Canceled) => "The operation was canceled.".into(),
    };
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from(body))
        .unwrap_or_default()
}
