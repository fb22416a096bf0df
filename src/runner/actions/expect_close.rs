//! `expect_close` (a Close message, then the transport ends), `expect_disconnect` (the
//! transport ends) and `expect_end` (either: any Close message or none, then the end); over
//! WebSockets optionally with a given Close frame status.

use tokio::time::Instant;

use crate::cases::step::{ByProtocol, PatternTemplate};
use crate::client::{RecvError, TransportKind};
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn close(
    ctx: &mut Ctx<'_>,
    client: &str,
    item: &ByProtocol<PatternTemplate>,
    ws_code: Option<u16>,
) -> Result<(), StepError> {
    let Some((pattern, text)) = ctx.pattern_for(item)? else {
        return Ok(());
    };
    let deadline = Instant::now() + ctx.wait;
    let p = match ctx.next_message(client, deadline).await {
        Ok(p) => p,
        Err(e) => return Err(ctx.recv_failure(&text, e)),
    };
    let actual = signalr_protocol::notation::parsed_to_notation(&p);
    let shown = signalr_protocol::json::value_to_string(&actual);
    if let Err(why) = pattern.matches_message(&actual) {
        return Err(ctx.fail(text, format!("{shown} ({why})")));
    }
    disconnect(ctx, client, ws_code).await
}

/// The connection ends: a Close message of any content (Pings skipped) and then the end of the
/// transport, or the end of the transport alone. For steps whose subject is not the Close.
pub(super) async fn end(
    ctx: &mut Ctx<'_>,
    client: &str,
    ws_code: Option<u16>,
) -> Result<(), StepError> {
    const ENDS: &str =
        "the server ends the connection (a Close message or the end of the transport)";
    let deadline = Instant::now() + ctx.wait;
    match ctx.next_message(client, deadline).await {
        Ok(signalr_protocol::Parsed::Message(signalr_protocol::HubMessage::Close(_))) => {
            disconnect(ctx, client, ws_code).await
        }
        Ok(p) => Err(ctx.fail(
            ENDS,
            format!(
                "another message: {}",
                signalr_protocol::notation::parsed_to_text(&p)
            ),
        )),
        Err(RecvError::Closed(_)) => disconnect(ctx, client, ws_code).await,
        Err(RecvError::Timeout(_)) => Err(ctx.fail(ENDS, "it stayed open")),
        Err(e) => Err(ctx.recv_failure(ENDS, e)),
    }
}

pub(super) async fn disconnect(
    ctx: &mut Ctx<'_>,
    client: &str,
    ws_code: Option<u16>,
) -> Result<(), StepError> {
    let deadline = Instant::now() + ctx.wait;
    match ctx.next_message(client, deadline).await {
        Ok(p) => {
            let shown = signalr_protocol::notation::parsed_to_text(&p);
            Err(ctx.fail(
                "the server ends the connection",
                format!("another message: {shown}"),
            ))
        }
        Err(RecvError::Closed(c)) => match ws_code {
            Some(want) if ctx.transport == TransportKind::WebSockets && c.code != Some(want) => {
                Err(ctx.fail(
                    format!("the server ends the WebSocket with a Close frame, status {want}"),
                    match c.code {
                        Some(code) if c.reason.is_empty() => format!("status {code}"),
                        Some(code) => format!("status {code} ({})", c.reason),
                        None => format!("no Close frame: {}", c.reason),
                    },
                ))
            }
            _ => Ok(()),
        },
        Err(RecvError::Timeout(_)) => {
            Err(ctx.fail("the server ends the connection", "it stayed open"))
        }
        Err(e) => Err(ctx.recv_failure("the server ends the connection", e)),
    }
}
