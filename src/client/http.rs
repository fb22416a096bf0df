//! HTTP exchanges of a session: one helper that sends a request with the target's headers and
//! token, logs both sides to the transcript (tokens redacted) and remembers the last exchange
//! for `expect_http` — shared by the session and its transport (sends, Long Polling's DELETE).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use signalr_protocol::NegotiateResponse;

use super::error::ClientError;
use super::target::Target;
use super::transcript::{self, Transcript};
use super::wire::{Held, MAX_RECEIVE};
use crate::result::Direction;

/// An HTTP exchange's result.
#[derive(Debug, Clone, Default)]
pub struct HttpResult {
    /// Status code.
    pub status: u16,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl HttpResult {
    /// A header's value (first occurrence).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a session's HTTP requests; cheap to clone (the clones share the last exchange).
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) target: Arc<Target>,
    pub(crate) transcript: Transcript,
    /// The session's name in the case, for the transcript.
    pub(crate) name: String,
    /// How long a request may take (see `Session::request_timeout`).
    pub(crate) timeout: Duration,
    last: Arc<Mutex<Option<HttpResult>>>,
}

impl Http {
    pub(crate) fn new(
        client: reqwest::Client,
        target: Arc<Target>,
        transcript: Transcript,
        name: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            target,
            transcript,
            name: name.to_owned(),
            timeout,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// Appends a transcript line of this session.
    pub(crate) fn note(&self, dir: Direction, layer: &'static str, text: impl Into<String>) {
        self.transcript.push(&self.name, dir, layer, text);
    }

    /// Remembers `r` as the last HTTP exchange.
    pub(crate) fn record(&self, r: HttpResult) {
        if let Ok(mut l) = self.last.lock() {
            *l = Some(r);
        }
    }

    /// The last HTTP exchange.
    pub(crate) fn last(&self) -> Option<HttpResult> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// A request with the target's headers and token; with `secret_body` the response body is
    /// a token and is redacted in the transcript.
    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        headers: &[(String, String)],
        body: Vec<u8>,
        secret_body: bool,
    ) -> Result<HttpResult, ClientError> {
        let shown = transcript::redact_url(url.as_str());
        self.note(
            Direction::Out,
            "http",
            format!(
                "{method} {shown}{}",
                if body.is_empty() {
                    String::new()
                } else {
                    format!(" body: {}", transcript::show_bytes(&body))
                }
            ),
        );
        let url = with_query_token(&self.target, url);
        let mut req = self.client.request(method, url);
        for (k, v) in &self.target.headers {
            req = req.header(k, v);
        }
        if let Some(t) = self.target.bearer(false) {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req
            .body(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                let err = if e.is_timeout() {
                    self.transcript.mark(transcript::Mark::WaitedOut);
                    ClientError::NoResponse(self.timeout)
                } else {
                    ClientError::Request(super::error::describe_request_error(&e))
                };
                self.note(Direction::Note, "http", err.to_string());
                err
            })?;
        let status = resp.status().as_u16();
        // An answer for the circuit breaker — except negotiate's: a target that answers
        // negotiate and nothing else is still silent.
        if !resp.url().path().ends_with("/negotiate") {
            self.transcript.mark(transcript::Mark::Answered);
        }
        let headers = header_pairs(resp.headers());
        // The request's timeout (above) also bounds reading the body.
        let body = read_body(resp).await.inspect_err(|e| {
            self.note(Direction::Note, "http", e.to_string());
        })?;
        // Register tokens before logging the body that contains them.
        if secret_body {
            if let Ok(t) = std::str::from_utf8(&body) {
                self.transcript.secret(t.trim());
            }
        }
        if let Ok(n) = NegotiateResponse::parse(&body) {
            if let Some(t) = &n.connection_token {
                if Some(t) != n.connection_id.as_ref() {
                    self.transcript.secret(t);
                }
            }
            if let Some(t) = &n.access_token {
                self.transcript.secret(t);
            }
        }
        let ct = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| format!(" [{v}]"))
            .unwrap_or_default();
        self.note(
            Direction::In,
            "http",
            format!("{status}{ct} {}", transcript::show_bytes(&body)),
        );
        let r = HttpResult {
            status,
            headers,
            body,
        };
        self.record(r.clone());
        Ok(r)
    }
}

/// `url` with the target's `access_token` query parameter when the token goes in the query
/// (and the URL does not carry one already).
pub(crate) fn with_query_token(target: &Target, mut url: reqwest::Url) -> reqwest::Url {
    if let Some(t) = target.query_token(false) {
        if !url.query_pairs().any(|(k, _)| k == "access_token") {
            url.query_pairs_mut().append_pair("access_token", t);
        }
    }
    url
}

/// Response headers as (lower-case name, value) pairs; a non-UTF-8 value is shown lossily.
pub(crate) fn header_pairs(h: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Reads a response body, failing (instead of allocating on) past `MAX_RECEIVE` bytes; the
/// bytes count against the run's shared receive budget until the body is dropped.
pub(crate) async fn read_body(mut resp: reqwest::Response) -> Result<Bytes, ClientError> {
    let mut body = Vec::new();
    let mut held = Held::default();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_RECEIVE {
                    return Err(ClientError::BodyTooLarge);
                }
                held.resize(body.len() + c.len())
                    .await
                    .map_err(|e| ClientError::BodyRead(e.to_string()))?;
                body.extend_from_slice(&c);
            }
            Ok(None) => return Ok(held.into_bytes(body)),
            Err(e) if e.is_timeout() => return Err(ClientError::BodyTimeout),
            Err(e) => return Err(ClientError::BodyRead(e.to_string())),
        }
    }
}

/// A response body read off the socket without an HTTP library (a refused WebSocket upgrade),
/// decoded by its framing as HTTP/1.1 defines it (RFC 9112 §6): chunked transfer coding, else
/// Content-Length, else the bytes as they are. Returns the body and, when the bytes do not
/// frame a complete body, what is wrong (the complete part is kept).
pub(crate) fn decode_body(headers: &[(String, String)], raw: &[u8]) -> (Bytes, Option<String>) {
    let value = |name: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    let chunked = value("transfer-encoding").iter().any(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if chunked {
        return dechunk(raw);
    }
    if let Some(len) = value("content-length").first() {
        return match len.trim().parse::<usize>() {
            Ok(n) if n <= raw.len() => (Bytes::copy_from_slice(&raw[..n]), None),
            Ok(n) => (
                Bytes::copy_from_slice(raw),
                Some(format!(
                    "body incomplete: {} of {n} bytes (Content-Length)",
                    raw.len()
                )),
            ),
            Err(_) => (
                Bytes::copy_from_slice(raw),
                Some(format!("invalid Content-Length '{len}'")),
            ),
        };
    }
    (Bytes::copy_from_slice(raw), None)
}

/// Decodes chunked transfer coding: `size[;ext]CRLF data CRLF … 0 CRLF [trailers] CRLF`.
/// Hand-written because these bytes come from tungstenite's refused-upgrade error, not from an
/// HTTP client, and because conform must report a malformed or incomplete body (what is wrong,
/// with the complete part kept) that an HTTP library would only turn into an opaque error.
fn dechunk(raw: &[u8]) -> (Bytes, Option<String>) {
    let mut body = Vec::new();
    let mut rest = raw;
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            let why = if rest.is_empty() {
                "chunked body incomplete: no last chunk".to_owned()
            } else {
                "chunked body incomplete: a chunk-size line without CRLF".to_owned()
            };
            return (Bytes::from(body), Some(why));
        };
        let line = String::from_utf8_lossy(&rest[..eol]);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = match usize::from_str_radix(size_text, 16) {
            Ok(n) if !size_text.is_empty() && size_text.len() <= 16 => n,
            _ => {
                return (
                    Bytes::copy_from_slice(raw),
                    Some(format!("not chunked transfer coding: chunk size '{line}'")),
                )
            }
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return (Bytes::from(body), None);
        }
        if rest.len() < size {
            body.extend_from_slice(rest);
            return (
                Bytes::from(body),
                Some(format!(
                    "chunked body incomplete: a chunk of {size} bytes has {}",
                    rest.len()
                )),
            );
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        match rest.strip_prefix(b"\r\n") {
            Some(r) => rest = r,
            None if rest.is_empty() => {
                return (
                    Bytes::from(body),
                    Some("chunked body incomplete: no last chunk".to_owned()),
                )
            }
            None => {
                return (
                    Bytes::from(body),
                    Some("not chunked transfer coding: a chunk without its CRLF".to_owned()),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decode_body;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let te = h(&[("transfer-encoding", "chunked")]);
        let (b, why) = decode_body(&te, b"1a\r\nNo Connection with that ID\r\n0\r\n\r\n");
        assert_eq!((&b[..], why), (&b"No Connection with that ID"[..], None));
        let (b, why) = decode_body(&te, b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n");
        assert_eq!((&b[..], why), (&b"abcde"[..], None));
        let (b, why) = decode_body(&te, b"3\r\nabc\r\n");
        assert_eq!(&b[..], b"abc");
        assert!(why.is_some_and(|w| w.contains("no last chunk")));
        let (b, why) = decode_body(&te, b"zz\r\nabc\r\n");
        assert_eq!(&b[..], b"zz\r\nabc\r\n");
        assert!(why.is_some_and(|w| w.contains("chunk size 'zz'")));
        let (b, why) = decode_body(&te, b"ffffffffffffffff\r\nab");
        assert_eq!(&b[..], b"ab");
        assert!(why.is_some());
        let (_, why) = decode_body(&te, b"fffffffffffffffff\r\nab");
        assert!(why.is_some_and(|w| w.contains("chunk size")));
    }

    #[test]
    fn content_length_bodies_are_cut_or_reported() {
        let cl = h(&[("Content-Length", "5")]);
        assert_eq!(&decode_body(&cl, b"hello world").0[..], b"hello");
        let (b, why) = decode_body(&cl, b"hel");
        assert_eq!(&b[..], b"hel");
        assert!(why.is_some_and(|w| w.contains("3 of 5")));
        assert_eq!(&decode_body(&[], b"as is").0[..], b"as is");
    }
}
