//! `reattach`: stateful reconnect — the client drops its WebSocket (no Close frame, if it is
//! still open) and opens a new one for the same connection, without a handshake; or expects
//! the target to refuse it (checked with `expect_http`).

use crate::cases::ReattachOpts;
use crate::client::TransportKind;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    client: &str,
    o: &ReattachOpts,
) -> Result<(), StepError> {
    if ctx.transport != TransportKind::WebSockets {
        return Err(StepError::Error("reattach is for WebSockets only".into()));
    }
    let s = ctx.session(client)?;
    let id = match o.id.as_deref().unwrap_or("token") {
        "token" => s.transport_id(),
        "connectionId" => s.connection_id(),
        literal => Some(literal.to_owned()),
    };
    let Some(id) = id else {
        return Err(StepError::Error(format!(
            "client '{client}' has no negotiated connection to reattach to"
        )));
    };
    let id = ctx.subst(&id)?;
    let r = ctx.session(client)?.reattach(&id).await;
    match (r, o.expect_success.unwrap_or(true)) {
        (Ok(()), true) | (Err(_), false) => Ok(()),
        (Err(e), true) => Err(ctx.client_failure("the WebSocket reattaches (101)", e)),
        (Ok(()), false) => {
            Err(super::open::accepted_anyway(ctx, client, "the server refuses the reattach").await)
        }
    }
}
