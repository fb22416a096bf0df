//! The errors that cross rooms: what a hub method throws ([`HubError`]), why a client result
//! failed ([`ClientResultError`]) and why a connection ended ([`CloseReason`]). They live here,
//! below the hub, the call context and the connection, so each of those can name them without
//! importing the others.

use signalr_protocol::error::ProtocolError;
use signalr_protocol::HubMessage;

/// An exception thrown by a hub method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct HubError {
    /// The .NET exception type name (`HubException`, `InvalidOperationException` …).
    pub exception: String,
    /// The exception message.
    pub message: String,
}

impl HubError {
    /// A `HubException`: its message always reaches the client.
    pub fn hub(message: impl Into<String>) -> Self {
        Self {
            exception: "HubException".into(),
            message: message.into(),
        }
    }

    /// Any other exception: its message reaches the client only with detailed errors.
    pub fn exception(exception: &str, message: impl Into<String>) -> Self {
        Self {
            exception: exception.into(),
            message: message.into(),
        }
    }

    /// `new InvalidOperationException(message)`.
    pub fn invalid_operation(message: impl Into<String>) -> Self {
        Self::exception("InvalidOperationException", message)
    }

    /// `ErrorMessageHelper.BuildErrorMessage(prefix, ex, detailed)`.
    pub fn build_message(&self, prefix: &str, detailed: bool) -> String {
        if detailed || self.exception == "HubException" {
            format!("{prefix} {}: {}", self.exception, self.message)
        } else {
            prefix.to_owned()
        }
    }
}

/// Why a client result failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientResultError {
    /// The client answered with an error Completion (surfaces as `HubException`).
    #[error("the client answered with an error: {0}")]
    Client(String),
    /// The connection is gone or went away (`IOException`).
    #[error("the connection is gone: {0}")]
    Connection(String),
    /// Nobody answered in time (`HubException: Invocation canceled by the server.`).
    #[error("the client result was canceled")]
    Canceled,
}

impl From<ClientResultError> for HubError {
    fn from(e: ClientResultError) -> Self {
        match e {
            ClientResultError::Client(msg) => HubError::hub(msg),
            ClientResultError::Connection(msg) => HubError::exception("IOException", msg),
            // ClientResultsManager completes a canceled client result with
            // `CompletionMessage.WithError(id, "Invocation canceled by the server.")`, which the
            // waiting hub method sees as a HubException (so its text always reaches the caller).
            ClientResultError::Canceled => HubError::hub("Invocation canceled by the server."),
        }
    }
}

/// Why a connection ended; decides the Close message.
#[derive(Debug, Clone)]
pub(crate) enum CloseReason {
    /// The transport went away, or the server is shutting down.
    TransportClosed,
    /// The client sent a Close message.
    ClientClose,
    /// The hub called `Context.Abort()`.
    HubAbort,
    /// The server asked for a graceful close (allowReconnect).
    ServerRequest,
    /// The client sent bytes the protocol rejects, or too large a message.
    Protocol(ProtocolError),
    /// Nothing arrived within the client timeout after the client's first Ping.
    ClientTimeout,
    /// `OnConnectedAsync` threw.
    OnConnected(HubError),
    /// The client answered another connection's client result.
    InvalidCompletion(String),
    /// The client did not read what it was sent.
    Overflow,
    /// The client sent a WebSocket frame the transport refuses (invalid UTF-8 in a text frame,
    /// a message over the limit, a protocol violation).
    BadFrame,
    /// A stateful client's Sequence named an id beyond the messages it sent
    /// (`MessageBuffer.ResetSequence`).
    SequenceTooLarge,
}

impl CloseReason {
    /// The Close message ASP.NET Core sends for this ending.
    pub(crate) fn close_message(&self, detailed: bool) -> HubMessage {
        let error = |exception: &str, message: &str| {
            Some(
                HubError::exception(exception, message)
                    .build_message("Connection closed with an error.", detailed),
            )
        };
        match self {
            CloseReason::TransportClosed | CloseReason::ServerRequest => {
                HubMessage::close(None, true)
            }
            CloseReason::ClientClose | CloseReason::HubAbort => HubMessage::close(None, false),
            CloseReason::Overflow => HubMessage::close(None, true),
            CloseReason::Protocol(e) => HubMessage::close(error(e.exception(), e.message()), true),
            CloseReason::ClientTimeout => HubMessage::close(
                error(
                    "OperationCanceledException",
                    "Client hasn't sent a message/ping within the configured ClientTimeoutInterval.",
                ),
                true,
            ),
            CloseReason::OnConnected(e) => HubMessage::close(
                Some(e.build_message("Connection closed with an error.", detailed)),
                false,
            ),
            CloseReason::InvalidCompletion(m) => {
                HubMessage::close(error("InvalidOperationException", m), true)
            }
            CloseReason::SequenceTooLarge => HubMessage::close(
                error(
                    "InvalidOperationException",
                    "Sequence ID greater than amount of messages we've received.",
                ),
                true,
            ),
            CloseReason::BadFrame => HubMessage::close(
                error(
                    "WebSocketException",
                    "The remote party sent a WebSocket frame that cannot be accepted.",
                ),
                true,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_exceptions_always_show_their_message() {
        let e = HubError::hub("nope");
        assert_eq!(
            e.build_message("Failed.", false),
            "Failed. HubException: nope"
        );
        let e = HubError::invalid_operation("secret");
        assert_eq!(e.build_message("Failed.", false), "Failed.");
        assert_eq!(
            e.build_message("Failed.", true),
            "Failed. InvalidOperationException: secret"
        );
    }
}
