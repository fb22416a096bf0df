//! `open`: open the transport without a handshake (negotiating first unless told otherwise),
//! with any id on the URL; or expect the target to refuse it.

use crate::cases::OpenOpts;
use crate::client::transcript::show_bytes;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str, o: &OpenOpts) -> Result<(), StepError> {
    let id_mode = o.id.as_deref().unwrap_or("token");
    let negotiate = o.negotiate.unwrap_or(id_mode != "none");
    let extra = match &o.query {
        Some(q) => ctx.subst(q)?,
        None => String::new(),
    };
    let version = o
        .negotiate_version
        .unwrap_or(ctx.exec.combo.negotiate_version);
    let s = ctx.session_or_new(client);
    if negotiate {
        let r = match s.negotiate(&format!("negotiateVersion={version}")).await {
            Ok(r) => r,
            Err(e) => return Err(ctx.client_failure("negotiate answers", e)),
        };
        if s.negotiated.is_none() {
            let (status, body) = (r.status, show_bytes(&r.body));
            return Err(ctx.fail(
                "negotiate answers 200 with a connection",
                format!("HTTP {status} {body}"),
            ));
        }
    }
    let id = match id_mode {
        "token" => s.transport_id(),
        "connectionId" => s.connection_id(),
        "none" => None,
        literal => Some(literal.to_owned()),
    };
    let id = match id {
        Some(i) => Some(ctx.subst(&i)?),
        None => None,
    };
    let r = ctx.session(client)?.open(id.as_deref(), &extra).await;
    match (r, o.expect_success.unwrap_or(true)) {
        (Ok(()), true) | (Err(_), false) => Ok(()),
        (Err(e), true) => Err(ctx.client_failure("the transport opens", e)),
        (Ok(()), false) => {
            Err(accepted_anyway(ctx, client, "the server refuses the transport request").await)
        }
    }
}

/// The failure of a transport request the server should have refused but accepted: what it did
/// next (a WebSocket close 4404 or 4409, data, nothing) goes into the transcript and the failure.
pub(super) async fn accepted_anyway(ctx: &mut Ctx<'_>, client: &str, expected: &str) -> StepError {
    let deadline = tokio::time::Instant::now() + ctx.wait;
    let then = match ctx.session(client) {
        Ok(s) => match s.wait_closed(deadline).await {
            Ok(c) => format!("then it ended the transport ({})", c.describe()),
            Err(_) => "and it stayed open".to_owned(),
        },
        Err(e) => return e,
    };
    ctx.fail(expected, format!("it was accepted, {then}"))
}
