//! The HTTP request that established a connection, as hub methods may read it.

use axum::http::{header, HeaderMap, HeaderValue};
use bytes::BytesMut;

use crate::auth::User;

/// The HTTP request that established a connection (`Context.GetHttpContext()`).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// Request path.
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The authenticated user, if the request carried a valid token.
    pub user: Option<User>,
}

impl RequestInfo {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter (case-insensitive name, first occurrence).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A cookie from the `Cookie` header(s).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }
}

/// A deep copy of request headers. hyper's header values are slices of the connection's read
/// buffer; keeping them for the connection's lifetime would keep that whole buffer alive. The
/// copied values share one allocation (each value is a slice of it), not one each: every idle
/// connection keeps its request.
pub(crate) fn owned_headers(h: &HeaderMap) -> HeaderMap {
    let mut values = BytesMut::with_capacity(h.values().map(|v| v.len()).sum());
    for v in h.values() {
        values.extend_from_slice(v.as_bytes());
    }
    let values = values.freeze();
    let mut out = HeaderMap::with_capacity(h.len());
    let mut at = 0;
    for (k, v) in h {
        let value = values.slice(at..at + v.len());
        at += v.len();
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_str().as_bytes()),
            HeaderValue::from_maybe_shared(value),
        ) {
            out.append(k, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_headers_keep_every_value_in_order() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append(header::COOKIE, HeaderValue::from_static("a=b"));
        h.append("x-a", HeaderValue::from_static("two"));
        h.append(header::HOST, HeaderValue::from_static(""));
        let o = owned_headers(&h);
        assert_eq!(o, h);
        let all: Vec<_> = o.get_all("x-a").iter().collect();
        assert_eq!(all, ["1", "two"]);
    }
}
