//! What the client fails with, typed, and whose fault each failure is ([`Blame`]): the one
//! place that decides whether a failed client call is the target breaking a requirement
//! (FAIL) or the harness being unable to carry out a step (ERROR).

use std::time::Duration;

use signalr_protocol::error::ProtocolError;

use super::transport::CloseInfo;
use super::wire::MAX_RECEIVE;

/// Who a failure says something about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The target did not do what the step expected: the requirement is broken.
    Target,
    /// The harness could not carry out the step (network, a request that never left): says
    /// nothing about conformance.
    Harness,
}

/// A failed request, send or transport open.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// An HTTP request got no response in time.
    #[error("request failed: no response within {0:?}")]
    NoResponse(Duration),
    /// An HTTP request failed (connection refused, reset …).
    #[error("request failed: {0}")]
    Request(String),
    /// A response body is larger than the client buffers.
    #[error("the response body exceeds {} MiB", MAX_RECEIVE >> 20)]
    BodyTooLarge,
    /// A response body did not end within the request's timeout.
    #[error("the response body did not end before the request timed out")]
    BodyTimeout,
    /// Reading a response body failed.
    #[error("reading the response failed: {0}")]
    BodyRead(String),
    /// No transport is open to send on.
    #[error("the transport is not open")]
    NotOpen,
    /// A WebSocket frame could not be sent.
    #[error("WebSocket send failed: {0}")]
    WebSocketSend(String),
    /// The server answered a send (POST) with another status than 200.
    #[error("the send was refused with HTTP {0}")]
    SendRefused(u16),
    /// The transport did not open.
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// Why a transport did not open.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenError {
    /// The hub URL does not make a WebSocket URL.
    #[error("invalid WebSocket URL: {0}")]
    InvalidUrl(String),
    /// No answer to the upgrade request in time.
    #[error("WebSocket connect failed: no upgrade response within {0:?}")]
    UpgradeTimeout(Duration),
    /// The upgrade was answered with an HTTP status.
    #[error("the WebSocket upgrade was refused with HTTP {0}")]
    UpgradeRefused(u16),
    /// The WebSocket connection failed.
    #[error("WebSocket connect failed: {0}")]
    WebSocketConnect(String),
    /// The event stream request failed.
    #[error("SSE request failed: {0}")]
    SseRequest(String),
    /// No response headers to the event stream request in time.
    #[error("SSE request failed: no response headers within {0:?}")]
    SseTimeout(Duration),
    /// The event stream request was answered with another status than 200.
    #[error("the SSE request was refused with HTTP {0}")]
    SseRefused(u16),
    /// The first poll was answered with another status than 200.
    #[error("the first poll was refused with HTTP {0}")]
    PollRefused(u16),
    /// The first poll's request failed.
    #[error(transparent)]
    FirstPoll(Box<ClientError>),
}

/// Says why a request failed in a user's words — connection refused, name not resolved, TLS
/// certificate not trusted / expired / for another host, timed out — instead of reqwest's
/// "error sending request for url", with the underlying causes after it.
pub fn describe_request_error(e: &reqwest::Error) -> String {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !chain.contains(&text) {
            chain.push(text);
        }
        source = s.source();
    }
    let all = chain.join(": ").to_lowercase();
    let io_kind = {
        let mut k = None;
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                k = Some(io.kind());
            }
            source = s.source();
        }
        k
    };
    let why = if e.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        "timed out".to_owned()
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused)
        || all.contains("connection refused")
    {
        "connection refused (nothing listens on that port)".to_owned()
    } else if all.contains("dns error")
        || all.contains("failed to lookup address")
        || all.contains("name or service not known")
    {
        "the host name could not be resolved".to_owned()
    } else if all.contains("certificate") || all.contains("unknownissuer") {
        let what = if all.contains("expired") {
            "the TLS certificate has expired"
        } else if all.contains("notvalidforname") || all.contains("not valid for name") {
            "the TLS certificate is for another host name"
        } else if all.contains("unknownissuer") || all.contains("unknown issuer") {
            "the TLS certificate is not trusted (unknown issuer)"
        } else {
            "the TLS certificate was rejected"
        };
        format!("{what}; for a development server use --ca-cert FILE or --insecure")
    } else if io_kind == Some(std::io::ErrorKind::ConnectionReset) || all.contains("reset") {
        "the connection was reset".to_owned()
    } else if all.contains("tls") || all.contains("handshake") {
        "the TLS handshake failed (is it an HTTPS server?)".to_owned()
    } else {
        "the request failed".to_owned()
    };
    // The innermost causes say the most; reqwest's own outer text says least.
    let detail: Vec<&str> = chain.iter().skip(1).map(String::as_str).collect();
    if detail.is_empty() {
        format!("{why} ({})", chain.first().map_or("", String::as_str))
    } else {
        format!("{why} ({})", detail.join(": "))
    }
}

impl ClientError {
    /// Whose fault it is. The target's: a transport that does not open, a request it never
    /// answers (or whose body never ends, or is beyond any limit), a send it refuses. The
    /// harness's (or the network's): a request that could not be made or was cut, no open
    /// transport to send on, a WebSocket frame that could not be written. A case that expects
    /// a refusal checks it with the next step instead (sends note it and go on).
    pub fn blame(&self) -> Blame {
        match self {
            ClientError::Open(_)
            | ClientError::NoResponse(_)
            | ClientError::BodyTooLarge
            | ClientError::BodyTimeout
            | ClientError::SendRefused(_) => Blame::Target,
            ClientError::Request(_)
            | ClientError::BodyRead(_)
            | ClientError::NotOpen
            | ClientError::WebSocketSend(_) => Blame::Harness,
        }
    }
}

/// What a receive can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecvError {
    /// Nothing arrived in time.
    #[error("nothing arrived within {0:?}")]
    Timeout(Duration),
    /// The transport ended.
    #[error("the connection closed ({})", .0.describe())]
    Closed(CloseInfo),
    /// The server sent bytes that are not valid in the protocol.
    #[error("the server sent invalid data: {0}")]
    Protocol(ProtocolError),
    /// A transport-level failure.
    #[error("transport error: {0}")]
    Transport(String),
}

impl RecvError {
    /// Whose fault it is: silence, a close or invalid bytes are the target's; a transport the
    /// harness cannot read from is the harness's.
    pub fn blame(&self) -> Blame {
        match self {
            RecvError::Transport(_) => Blame::Harness,
            RecvError::Timeout(_) | RecvError::Closed(_) | RecvError::Protocol(_) => Blame::Target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_that_does_not_open_is_the_targets_fault() {
        assert_eq!(
            ClientError::from(OpenError::UpgradeRefused(404)).blame(),
            Blame::Target
        );
        let poll = OpenError::FirstPoll(Box::new(ClientError::Request("refused".into())));
        assert_eq!(ClientError::from(poll).blame(), Blame::Target);
        assert_eq!(
            ClientError::Request("refused".into()).blame(),
            Blame::Harness
        );
        // A refused or unanswered request the case needs is the target's failure.
        assert_eq!(ClientError::SendRefused(404).blame(), Blame::Target);
        assert_eq!(
            ClientError::NoResponse(Duration::from_secs(1)).blame(),
            Blame::Target
        );
        assert_eq!(ClientError::NotOpen.blame(), Blame::Harness);
        assert_eq!(RecvError::Timeout(Duration::ZERO).blame(), Blame::Target);
        assert_eq!(RecvError::Transport("x".into()).blame(), Blame::Harness);
        // Messages stay those of the untyped errors they replace.
        assert_eq!(
            ClientError::from(OpenError::FirstPoll(Box::new(ClientError::NoResponse(
                Duration::from_secs(1)
            ))))
            .to_string(),
            "request failed: no response within 1s"
        );
    }
}
