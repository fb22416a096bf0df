//! The extra endpoints of the apps mock-hub imitates: the TestHub app of Microsoft's functional
//! tests (`/echoredirect`, `/redirect`, `/bad-negotiate`, `/generateJwtToken`,
//! `/clientresult/{id}`) and the conformance contract's `/contract/token` and
//! `/contract/redirect`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use signalr_protocol::negotiate::parse_query_pairs;
use signalr_protocol::Value;

use super::response::{bare, text};
use crate::auth::{Presented, TokenSpec};
use crate::error::ClientResultError;
use crate::faults::Fault;
use crate::shared::Shared;
use jsonwebtoken::Algorithm;

fn query_value(req: &Request, name: &str) -> Option<String> {
    first(&parse_query_pairs(req.uri().query().unwrap_or("")), name).map(str::to_owned)
}

/// The first value of the query parameter `name`.
fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The contract endpoints' answer to a request without `user`.
fn user_required() -> Response {
    text(
        StatusCode::BAD_REQUEST,
        "The 'user' query parameter is required.",
    )
}

/// `/echoredirect…`: 307 to the same path under `/echo`.
pub(crate) async fn echo_redirect(_: Arc<Shared>, req: Request) -> Response {
    let path = req.uri().path();
    let target = match req.uri().query().unwrap_or("") {
        "" => path.replacen("echoredirect", "echo", 1),
        q => format!("{}?{q}", path.replacen("echoredirect", "echo", 1)),
    };
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `/redirect…`: a negotiate-style redirect to `testHub`, counting redirects.
pub(crate) async fn redirect(shared: Arc<Shared>, req: Request) -> Response {
    let base = query_value(&req, "baseUrl").unwrap_or_default();
    let n = shared.redirects.fetch_add(1, Ordering::SeqCst) + 1;
    // `Response.WriteAsync` sets no Content-Type.
    bare(
        StatusCode::OK,
        format!("{{ \"url\": \"{base}/testHub?numRedirects={n}\" }}"),
    )
}

/// `/bad-negotiate…`: a 400 with a body.
pub(crate) async fn bad_negotiate(_: Arc<Shared>, _: Request) -> Response {
    bare(
        StatusCode::BAD_REQUEST,
        "Some response from server".to_owned(),
    )
}

/// `GET /generateJwtToken`: a token for `testuser`.
pub(crate) async fn generate_jwt_token(shared: Arc<Shared>, _: Request) -> Response {
    bare(
        StatusCode::OK,
        shared
            .tokens
            .issue("testuser", "SignalRTestServer", "SignalRTests", 5),
    )
}

/// `GET /contract/token?user=…`: a token for that user (the conformance contract). Contract
/// 1.1 parameters shape it: `lifetimeSeconds` (default 3600; negative = already expired),
/// `notBeforeSeconds` (default -1), `alg` (`HS256` default, `HS384`, `HS512`, `none`),
/// `wrongKey=true` (signed with a key the server does not have), `role` (repeatable) and
/// `level` (claims for the authorized hub's policies).
pub(crate) async fn contract_token(shared: Arc<Shared>, req: Request) -> Response {
    let pairs = parse_query_pairs(req.uri().query().unwrap_or(""));
    let get = |name: &str| first(&pairs, name);
    let Some(user) = get("user") else {
        return user_required();
    };
    let mut spec = TokenSpec::new(user, "signalr-conform", "signalr-conform", 3600);
    let seconds = |name: &str, default: i64| match get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| n.unsigned_abs() <= 10 * 365 * 86_400)
            .ok_or_else(|| {
                format!(
                    "The '{name}' query parameter must be a number of seconds (at most ten years)."
                )
            }),
    };
    match (
        seconds("lifetimeSeconds", 3600),
        seconds("notBeforeSeconds", -1),
    ) {
        (Ok(l), Ok(n)) => {
            spec.lifetime_secs = l;
            spec.not_before_secs = n;
        }
        (Err(e), _) | (_, Err(e)) => return text(StatusCode::BAD_REQUEST, &e),
    }
    spec.alg = match get("alg").unwrap_or("HS256") {
        "HS256" => Some(Algorithm::HS256),
        "HS384" => Some(Algorithm::HS384),
        "HS512" => Some(Algorithm::HS512),
        "none" => None,
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "The 'alg' query parameter must be HS256, HS384, HS512 or none.",
            )
        }
    };
    spec.wrong_key = get("wrongKey") == Some("true");
    spec.roles = pairs
        .iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v.clone())
        .collect();
    spec.level = get("level").map(str::to_owned);
    shared.tokens.issue_spec(&spec).into_response()
}

/// `POST /contract/redirect/negotiate?user=U&hops=N` (contract 1.1): a negotiate redirect as
/// Azure SignalR issues them, `{"url":…,"accessToken":…}`, with a token for `U`. With `hops` >
/// 1 it redirects to itself with `hops` one less (a chain); the last hop sends the client to
/// the authorized hub. Every hop after the first (`hop` in the query) requires the token the
/// previous hop issued (a valid bearer token for `U`): a client that keeps its own token is
/// refused with 401.
pub(crate) async fn contract_redirect(shared: Arc<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_ascii_lowercase();
    if path != "/contract/redirect/negotiate" {
        return StatusCode::NOT_FOUND.into_response();
    }
    if req.method() != axum::http::Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let pairs = parse_query_pairs(req.uri().query().unwrap_or(""));
    let get = |name: &str| first(&pairs, name);
    let Some(user) = get("user") else {
        return user_required();
    };
    let hops = get("hops")
        .and_then(|h| h.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 10);
    if get("hop").is_some() {
        let presented = shared.tokens.presented(req.headers(), &[]);
        let ok =
            matches!(&presented, Presented::Valid(u) if u.name_identifier.as_deref() == Some(user));
        if !ok {
            return super::unauthorized(&shared, &presented);
        }
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let enc = signalr_protocol::negotiate::percent_encode;
    let url = if hops > 1 {
        format!(
            "http://{host}/contract/redirect?user={}&hops={}&hop={hops}",
            enc(user),
            hops - 1
        )
    } else {
        format!("http://{host}/authhub")
    };
    let mut body = serde_json::json!({ "url": url });
    if !shared.faults.has(Fault::RedirectWithoutToken) {
        let token = shared
            .tokens
            .issue(user, "signalr-conform", "signalr-conform", 3600);
        body["accessToken"] = serde_json::Value::String(token);
    }
    super::response::json(body.to_string())
}

/// `GET /clientresult/{id}`: asks that TestHub connection for `Result()` and answers with it.
pub(crate) async fn client_result(shared: Arc<Shared>, req: Request) -> Response {
    // The id keeps its case; only the route prefix is matched case-insensitively.
    let path = req.uri().path();
    let id = path.get("/clientresult/".len()..).unwrap_or("");
    let lifetime = shared
        .endpoints
        .iter()
        .find(|ep| ep.path == "/testhub")
        .and_then(|ep| ep.lifetime().cloned());
    let Some(lifetime) = lifetime else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let outcome = match lifetime.start_client_result(id, "Result", Vec::new()) {
        Ok((_, rx)) => rx.await.unwrap_or(Err(ClientResultError::Canceled)),
        Err(e) => Err(e),
    };
    let body = match outcome {
        Ok(Value::Int(i)) => i.to_string(),
        Ok(v) => v.to_string(),
        Err(ClientResultError::Client(m)) | Err(ClientResultError::Connection(m)) => m,
        Err(ClientResultError::Canceled) => "The operation was canceled.".into(),
    };
    bare(StatusCode::OK, body)
}
