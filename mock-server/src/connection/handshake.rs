//! The handshake phase: read the client's request (bounded by the handshake timeout), pick the
//! hub protocol and answer with success or ASP.NET Core's error text.

use std::time::Duration;

use bytes::Bytes;
use signalr_protocol::handshake::{self, HandshakeResponse};
use signalr_protocol::{FrameReader, HubProtocol, TransferFormat};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::MockConfig;
use crate::error::HubError;
use crate::faults::{Fault, FaultSet};
use crate::timer::sleep_until_opt;
use crate::transport::{Received, Transport};

/// What the handshake needs to know about the server.
pub(crate) struct HandshakeRules<'a> {
    pub(crate) config: &'a MockConfig,
    pub(crate) faults: FaultSet,
    pub(crate) detailed_errors: bool,
    pub(crate) shutdown: &'a CancellationToken,
    /// Send the success response here (`false`: the caller sends it, with what follows).
    pub(crate) send_success: bool,
}

/// Runs the handshake: the protocol and the version the client asked for (2 opts into
/// stateful reconnect when it was negotiated); `None` if the connection ends here (the error
/// response, if any, was sent). Bytes pipelined behind the request stay in `frames`.
pub(crate) async fn handshake<T: Transport>(
    t: &mut T,
    frames: &mut FrameReader,
    rules: HandshakeRules<'_>,
) -> Option<(HubProtocol, i32)> {
    let HandshakeRules {
        config: cfg,
        faults,
        detailed_errors: detailed,
        shutdown,
        send_success,
    } = rules;
    let deadline = if faults.has(Fault::NoHandshakeTimeout) {
        None
    } else {
        Some(Instant::now() + cfg.handshake_timeout())
    };
    let request = loop {
        match frames.next_text() {
            Ok(Some(payload)) => break handshake::parse_request(payload),
            Ok(None) => {}
            Err(_) => {
                respond(t, "Handshake was canceled.").await;
                return None;
            }
        }
        tokio::select! {
            ev = t.recv() => match ev {
                Received::Data(b) => frames.push(&b),
                Received::Closed => return None,
            },
            _ = sleep_until_opt(deadline) => {
                respond(t, "Handshake was canceled.").await;
                return None;
            }
            _ = shutdown.cancelled() => return None,
        }
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            let text = HubError::exception(e.exception(), e.message()).build_message(
                "An unexpected error occurred during connection handshake.",
                (detailed || faults.has(Fault::HandshakeErrorsAlwaysDetailed))
                    && !faults.has(Fault::HandshakeErrorsNotDetailed),
            );
            respond(t, &text).await;
            return None;
        }
    };
    let accept_any = faults.has(Fault::AcceptAnyHandshake);
    // DefaultHubProtocolResolver looks names up case-insensitively.
    let protocol = HubProtocol::ALL
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(&request.protocol));
    let protocol = match (protocol, accept_any) {
        (Some(p), _) => p,
        (None, true) => HubProtocol::Json,
        (None, false) => {
            respond(
                t,
                &format!("The protocol '{}' is not supported.", request.protocol),
            )
            .await;
            return None;
        }
    };
    if request.version > protocol.version() && !accept_any {
        respond(
            t,
            &format!(
                "The server does not support version {} of the '{}' protocol.",
                request.version, request.protocol
            ),
        )
        .await;
        return None;
    }
    let format = protocol.transfer_format();
    if !t.kind().supports(format) {
        respond(
            t,
            &format!(
                "Cannot use the '{}' protocol on the current transport. The transport does not support '{}' transfer format.",
                protocol.name(),
                format.name()
            ),
        )
        .await;
        return None;
    }
    if faults.has(Fault::SlowHandshake) {
        let delay = (cfg.handshake_timeout() + Duration::from_secs(1)).max(Duration::from_secs(16));
        tokio::time::sleep(delay).await;
    }
    if send_success
        && t.send(Bytes::from_static(handshake::SUCCESS_RESPONSE), format)
            .await
            .is_err()
    {
        return None;
    }
    Some((protocol, request.version))
}

async fn respond<T: Transport>(t: &mut T, error: &str) {
    let mut out = Vec::new();
    handshake::write_response(
        &HandshakeResponse {
            error: Some(error.to_owned()),
        },
        &mut out,
    );
    // The transfer format is not set yet: error responses go out as text.
    let _ = t.send(Bytes::from(out), TransferFormat::Text).await;
}
