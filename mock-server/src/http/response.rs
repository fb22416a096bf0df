//! The response shapes ASP.NET Core writes, each with its exact Content-Type (or none).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A `text/plain` body.
pub(crate) fn text(status: StatusCode, body: &str) -> Response {
    let mut r = (status, body.to_owned()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// A body without a Content-Type (what `HttpResponse.WriteAsync(string)` sends).
pub(crate) fn bare(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r
}

/// An `application/json` 200.
pub(crate) fn json(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The same answer with its body sent in chunked transfer coding (no Content-Length), as a
/// server that streams its error bodies does (variation `chunked-errors`).
pub(crate) fn chunked(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from_stream(body.into_data_stream()))
}
