//! `close`: the client closes its transport, gracefully or abruptly, or (WebSockets) starts the
//! closing handshake with an empty Close frame and waits for the server's answer.

use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str, graceful: bool) -> Result<(), StepError> {
    ctx.session(client)?.close(graceful).await;
    Ok(())
}

/// Sends an empty Close frame; the server's Close frame is checked by the next
/// `expect_disconnect` / `expect_end` (with `websocket_close_code`).
pub(super) async fn empty_frame(ctx: &mut Ctx<'_>, client: &str) -> Result<(), StepError> {
    if ctx.transport != crate::client::TransportKind::WebSockets {
        return Err(StepError::Error(
            "close = \"empty-frame\" is for WebSockets only".into(),
        ));
    }
    match ctx.session(client)?.send_empty_close().await {
        Ok(()) => Ok(()),
        Err(e) => Err(ctx.client_failure("the Close frame is sent", e)),
    }
}
