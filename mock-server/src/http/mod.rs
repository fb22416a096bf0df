//! The HTTP layer. Every request goes through [`handle`] (CORS), then the route table
//! ([`ROUTES`], the apps' extra endpoints) and then the mapped hub endpoints: negotiate
//! ([`negotiate`]) or a transport request ([`connect`]). Paths match case-insensitively, as
//! ASP.NET Core's routing does.
//!
//! - [`connections`]: the table of negotiated connections and its sweeper;
//! - [`test_app`]: the extra endpoints of the TestHub app and the conformance contract;
//! - [`response`]: response shapes with ASP.NET Core's exact Content-Types.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::future::BoxFuture;
use signalr_protocol::negotiate::parse_query_pairs;

use crate::auth::Presented;
use crate::faults::Fault;
use crate::request::{RequestHeaders, RequestInfo};
use crate::shared::Shared;
use crate::variations::Variation;

pub(crate) mod connect;
pub(crate) mod connections;
mod negotiate;
mod response;
mod test_app;

use response::text;

/// The router: one fallback handler that routes case-insensitively.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// How a route's path is matched against the lower-cased request path.
enum Match {
    /// The path or anything below it, any method.
    Segment,
    /// Exactly the path, with this method.
    Exact(Method),
    /// Something below the path (`/path/…`), with this method.
    Below(Method),
}

type Handler = fn(Arc<Shared>, Request) -> BoxFuture<'static, Response>;

/// An extra endpoint.
struct Route {
    /// Lower-case path.
    path: &'static str,
    matching: Match,
    /// Belongs to the TestHub app, whose CORS middleware answers every OPTIONS with 204.
    test_app: bool,
    handler: Handler,
}

/// The extra endpoints, tried before the hub endpoints. A request whose method does not match
/// falls through to the hub endpoints (and so to 404).
const ROUTES: &[Route] = &[
    Route {
        path: "/echoredirect",
        matching: Match::Segment,
        test_app: true,
        handler: |s, r| Box::pin(test_app::echo_redirect(s, r)),
    },
    Route {
        path: "/redirect",
        matching: Match::Segment,
        test_app: true,
        handler: |s, r| Box::pin(test_app::redirect(s, r)),
    },
    Route {
        path: "/bad-negotiate",
        matching: Match::Segment,
        test_app: true,
        handler: |s, r| Box::pin(test_app::bad_negotiate(s, r)),
    },
    Route {
        path: "/generatejwttoken",
        matching: Match::Exact(Method::GET),
        test_app: true,
        handler: |s, r| Box::pin(test_app::generate_jwt_token(s, r)),
    },
    Route {
        path: "/contract/token",
        matching: Match::Exact(Method::GET),
        test_app: false,
        handler: |s, r| Box::pin(test_app::contract_token(s, r)),
    },
    Route {
        path: "/contract/redirect",
        matching: Match::Segment,
        test_app: false,
        handler: |s, r| Box::pin(test_app::contract_redirect(s, r)),
    },
    Route {
        path: "/clientresult",
        matching: Match::Below(Method::GET),
        test_app: true,
        handler: |s, r| Box::pin(test_app::client_result(s, r)),
    },
];

impl Route {
    fn matches(&self, lower: &str, method: &Method) -> bool {
        match &self.matching {
            Match::Segment => starts_with_segment(lower, self.path),
            Match::Exact(m) => lower == self.path && method == m,
            Match::Below(m) => {
                lower
                    .strip_prefix(self.path)
                    .is_some_and(|rest| rest.starts_with('/'))
                    && method == m
            }
        }
    }
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
    let no_cors = shared.faults.has(Fault::NoCors);
    let preflight =
        !no_cors && (request_method.is_some() || is_test_app_path(&shared, req.uri().path()));
    let chunk_errors = shared.config.has_variation(Variation::ChunkedErrors);
    let mut resp = if req.method() == Method::OPTIONS && preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        route(shared, req).await
    };
    // CORS that echoes the Origin and allows credentials (the TestHub app's middleware).
    if let Some(o) = origin.filter(|_| !no_cors) {
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
    let status = resp.status();
    if chunk_errors
        && !status.is_success()
        && !status.is_informational()
        && status != StatusCode::NOT_MODIFIED
    {
        resp = response::chunked(resp);
    }
    resp
}

/// Whether `path` belongs to the TestHub app (whose CORS middleware answers every OPTIONS).
fn is_test_app_path(shared: &Shared, path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ROUTES
        .iter()
        .any(|r| r.test_app && starts_with_segment(&lower, r.path))
        || shared
            .endpoints
            .iter()
            .any(|ep| ep.test_app && starts_with_segment(&lower, &ep.path))
}

fn starts_with_segment(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

async fn route(shared: Arc<Shared>, req: Request) -> Response {
    let lower = req.uri().path().to_ascii_lowercase();
    if let Some(r) = ROUTES.iter().find(|r| r.matches(&lower, req.method())) {
        return (r.handler)(shared, req).await;
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
    let Some((ep, is_negotiate)) = endpoint else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let query_str = req.uri().query().unwrap_or("");
    let query = parse_query_pairs(query_str);
    let presented = presented_token(&shared, req.headers(), &query);
    let faults = &shared.faults;
    let checked = ep.require_auth
        && !faults.has(Fault::AnonymousAuthorizedHub)
        && (is_negotiate || !faults.has(Fault::AuthNegotiateOnly));
    if checked && !matches!(presented, Presented::Valid(_)) {
        return unauthorized(&shared, &presented);
    }
    let user = presented.user();
    if is_negotiate {
        return if req.method() == Method::POST || shared.faults.has(Fault::NegotiateAnyMethod) {
            negotiate::negotiate(&shared, &ep, query_str)
        } else {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "");
            if ep.test_app {
                negotiate::set_test_cookies(r.headers_mut());
            }
            r
        };
    }
    // Kept for the connection's life: no spare capacity (`collect` leaves room for four pairs).
    let mut query = query;
    query.shrink_to_fit();
    let info = RequestInfo {
        path: req.uri().path().to_owned(),
        query,
        headers: RequestHeaders::from(req.headers()),
        user,
    };
    connect::transport_request(shared, ep, req, info).await
}

/// The token a request presents, as the JwtBearer handler and the app's `OnMessageReceived`
/// (the `access_token` query parameter when no Authorization header is present) find it.
fn presented_token(
    shared: &Shared,
    headers: &axum::http::HeaderMap,
    query: &[(String, String)],
) -> Presented {
    let tokens = &shared.tokens;
    let faults = &shared.faults;
    if faults.has(Fault::IgnoreQueryToken) {
        return tokens.presented(headers, &[]);
    }
    if faults.has(Fault::QueryTokenWins) && query.iter().any(|(k, _)| k == "access_token") {
        return tokens.presented(&axum::http::HeaderMap::new(), query);
    }
    tokens.presented(headers, query)
}

/// The challenge of an `[Authorize]` endpoint: 401, `WWW-Authenticate` as `JwtBearerHandler`
/// writes it, an empty body.
pub(crate) fn unauthorized(shared: &Shared, presented: &Presented) -> Response {
    let challenge = if shared.faults.has(Fault::BareAuthChallenge) {
        "Bearer".to_owned()
    } else {
        presented.challenge()
    };
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}
