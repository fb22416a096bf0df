//! The extra endpoints of the apps mock-hub imitates: the TestHub app of Microsoft's functional
//! tests (`/echoredirect`, `/redirect`, `/bad-negotiate`, `/generateJwtToken`,
//! `/clientresult/{id}`) and the conformance contract's `/contract/token`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use signalr_protocol::negotiate::parse_query_pairs;
use signalr_protocol::Value;

use super::response::{bare, text};
use crate::error::ClientResultError;
use crate::shared::Shared;

fn query_value(req: &Request, name: &str) -> Option<String> {
    parse_query_pairs(req.uri().query().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
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

/// `GET /contract/token?user=…`: a token for that user (the conformance contract).
pub(crate) async fn contract_token(shared: Arc<Shared>, req: Request) -> Response {
    let Some(user) = query_value(&req, "user") else {
        return text(
            StatusCode::BAD_REQUEST,
            "The 'user' query parameter is required.",
        );
    };
    shared
        .tokens
        .issue(&user, "signalr-conform", "signalr-conform", 3600)
        .into_response()
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
