//! The HTTP request that established a connection, as hub methods may read it.

use axum::http::HeaderMap;

use crate::auth::User;

/// The HTTP request that established a connection (`Context.GetHttpContext()`).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// Request path.
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: RequestHeaders,
    /// The authenticated user, if the request carried a valid token.
    pub user: Option<User>,
}

impl RequestInfo {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
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
            .get_all("cookie")
            .filter_map(visible_ascii)
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }
}

/// Request headers as a hub may read them: names (lower case) and values in one allocation,
/// in their order. Every idle connection keeps its request, and a `HeaderMap` of a WebSocket
/// upgrade's five headers costs about 600 bytes; this costs their text and two bytes a header.
/// A deep copy: hyper's header values are slices of the connection's read buffer, which must not
/// be kept alive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    /// `name:value\n` for each header (a name holds no `:`, a value no `\n`).
    text: Box<[u8]>,
}

impl RequestHeaders {
    /// The first value of header `name` (case-insensitive), if it is visible ASCII (as
    /// `HeaderValue::to_str` requires).
    pub fn get(&self, name: &str) -> Option<&str> {
        let (_, v) = self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
        visible_ascii(v)
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header (lower-case name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.text.split(|&b| b == b'\n').filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            Some((name, &line[colon + 1..]))
        })
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl From<&HeaderMap> for RequestHeaders {
    fn from(h: &HeaderMap) -> Self {
        let size = h.iter().map(|(k, v)| k.as_str().len() + v.len() + 2).sum();
        let mut text = Vec::with_capacity(size);
        for (k, v) in h {
            text.extend_from_slice(k.as_str().as_bytes());
            text.push(b':');
            text.extend_from_slice(v.as_bytes());
            text.push(b'\n');
        }
        Self {
            text: text.into_boxed_slice(),
        }
    }
}

/// A header value as text when it is visible ASCII (or tabs), as `HeaderValue::to_str` reads it.
fn visible_ascii(v: &[u8]) -> Option<&str> {
    if v.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_every_value_in_order_and_read_as_header_map_does() {
        use axum::http::{header, HeaderValue};
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append(header::COOKIE, HeaderValue::from_static("a=b"));
        h.append("x-a", HeaderValue::from_static("two"));
        h.append(header::HOST, HeaderValue::from_static(""));
        h.append(
            "x-bin",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text"),
        );
        let o = RequestHeaders::from(&h);
        assert_eq!(o.len(), 5);
        let all: Vec<_> = o.get_all("X-A").collect();
        assert_eq!(all, [b"1".as_slice(), b"two"]);
        for name in [
            "x-a", "X-A", "cookie", "Host", "x-bin", "x-none", "", "x a", "x-a:",
        ] {
            let want = h.get(name).and_then(|v| v.to_str().ok());
            assert_eq!(o.get(name), want, "{name:?}");
        }
        let info = RequestInfo {
            headers: o,
            ..RequestInfo::default()
        };
        assert_eq!(info.cookie("a").as_deref(), Some("b"));
    }
}
