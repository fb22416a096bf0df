//! `expect_handshake`: the handshake response is a success or the expected error; after an
//! error the server closes the connection.

use tokio::time::Instant;

use crate::cases::step::HandshakeCheck;
use crate::client::transcript::show_bytes;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    client: &str,
    h: &HandshakeCheck,
) -> Result<(), StepError> {
    let deadline = Instant::now() + ctx.wait;
    let expected = if h.ok {
        "a successful handshake response {}".to_owned()
    } else if let Some(e) = &h.error {
        format!("a handshake error response {{\"error\":{e:?}}}")
    } else if let Some((r, _)) = &h.error_matches {
        format!("a handshake error matching /{r}/")
    } else {
        "a handshake response".to_owned()
    };
    let resp = match ctx.session(client)?.recv_handshake(deadline).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.recv_failure(&expected, e)),
    };
    match (&resp.error, h.ok) {
        (None, true) => return Ok(()),
        (Some(err), true) => return Err(ctx.fail(expected, format!("handshake error: {err}"))),
        (None, false) if h.error.is_some() || h.error_matches.is_some() => {
            return Err(ctx.fail(expected, "a successful handshake response"))
        }
        _ => {}
    }
    let err = resp.error.clone().unwrap_or_default();
    if let Some(e) = &h.error {
        let e = ctx.subst(e)?;
        if err != e {
            return Err(ctx.fail(expected, format!("handshake error: {err}")));
        }
    }
    if let Some((_, re)) = &h.error_matches {
        if !re.is_match(&err) {
            return Err(ctx.fail(expected, format!("handshake error: {err}")));
        }
    }
    if resp.error.is_some() && h.then_closed {
        let s = ctx.session(client)?;
        let leftover = s.pending_bytes().to_vec();
        if !leftover.is_empty() {
            return Err(ctx.fail(
                "nothing after a handshake error response",
                format!("more bytes: {}", show_bytes(&leftover)),
            ));
        }
        let deadline = Instant::now() + ctx.wait;
        if let Err(e) = ctx.session(client)?.wait_closed(deadline).await {
            return Err(ctx.recv_failure(
                "the server closes the connection after a failed handshake",
                e,
            ));
        }
    }
    Ok(())
}
