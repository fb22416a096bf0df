//! `connect`: negotiate (unless skipped), open the transport and complete the handshake.

use crate::client::transcript::show_bytes;
use tokio::time::Instant;

use crate::cases::ConnectOpts;
use crate::client::{Chunking, TransportKind};
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str, o: &ConnectOpts) -> Result<(), StepError> {
    let node = ctx.node(o.node.unwrap_or(0))?;
    let token = match (&o.user, &o.token) {
        (Some(u), _) => Some(user_token(ctx, u, node).await?),
        (None, Some(t)) => Some(ctx.subst(t)?).filter(|t| !t.is_empty()),
        (None, None) => None,
    };
    let token_in = crate::cases::step::token_in(o.token_in.as_deref()).map_err(StepError::Error)?;
    let extra = match &o.query {
        Some(q) => ctx.subst(q)?,
        None => String::new(),
    };
    let version = ctx.exec.combo.negotiate_version;
    ctx.wait = ctx.opts.scale(ctx.opts.step_timeout);
    let deadline = Instant::now() + ctx.wait;
    let (transport, protocol) = (ctx.transport, ctx.protocol);
    let s = ctx.new_session_on(client, token, node);
    if token_in != crate::cases::step::TokenIn::Browser {
        let t = s.target().access_token.clone();
        s.set_token(t, super::use_token::placement(token_in));
    }
    let opened = if o.skip_negotiation {
        if transport != TransportKind::WebSockets {
            return Err(StepError::Error(
                "skip_negotiation needs the WebSockets transport".into(),
            ));
        }
        s.open(None, &extra).await.map_err(|e| {
            (
                "the WebSocket upgrade without negotiation succeeds".to_owned(),
                e,
            )
        })
    } else {
        let query = if extra.is_empty() {
            format!("negotiateVersion={version}")
        } else {
            format!("negotiateVersion={version}&{extra}")
        };
        let r = match s.negotiate(&query).await {
            Ok(r) => r,
            Err(e) => return Err(ctx.client_failure("negotiate answers", e)),
        };
        let Some(id) = s.transport_id() else {
            return Err(ctx.fail(
                "negotiate answers 200 with a connection",
                format!("HTTP {} {}", r.status, show_bytes(&r.body)),
            ));
        };
        s.open(Some(&id), &extra)
            .await
            .map_err(|e| (format!("the {} transport opens", transport.name()), e))
    };
    if let Err((expected, e)) = opened {
        return Err(ctx.client_failure(&expected, e));
    }
    let s = ctx.session(client)?;
    if let Err(e) = s
        .send_handshake(
            protocol.name(),
            o.handshake_version.unwrap_or(1),
            &Chunking::Whole,
        )
        .await
    {
        return Err(ctx.client_failure("the handshake request is sent", e));
    }
    let stateful = transport == TransportKind::WebSockets
        && o.handshake_version.unwrap_or(1) >= 2
        && s.negotiated
            .as_ref()
            .is_some_and(|n| n.use_stateful_reconnect);
    match s.recv_handshake(deadline).await {
        Ok(r) => match r.error {
            None => {
                s.stateful = stateful;
                Ok(())
            }
            Some(e) => Err(ctx.fail("the handshake succeeds", format!("handshake error: {e}"))),
        },
        Err(e) => Err(ctx.recv_failure("a handshake response", e)),
    }
}

/// A token for `user` from the contract's `/contract/token` endpoint of the client's node.
async fn user_token(
    ctx: &mut Ctx<'_>,
    user: &str,
    node: &crate::client::Target,
) -> Result<String, StepError> {
    let user = ctx.subst(user)?;
    let url = {
        let mut u = node.sibling_url("contract/token");
        u.query_pairs_mut().append_pair("user", &user);
        u
    };
    fetch_token(ctx, url, &user).await
}

/// GETs a token from the contract's `/contract/token` (`url` carries the query); the token is
/// registered as a secret, so no transcript or report shows it.
pub(super) async fn fetch_token(
    ctx: &mut Ctx<'_>,
    url: reqwest::Url,
    user: &str,
) -> Result<String, StepError> {
    let mut fetch = ctx.session_factory()("token", None);
    let r = match fetch.http_token(url).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.client_failure("a token", e)),
    };
    if r.status != 200 || r.body.is_empty() {
        return Err(StepError::Error(format!(
            "could not get a token for user '{user}' from the contract's /contract/token endpoint (HTTP {})",
            r.status
        )));
    }
    let token = r.text().trim().to_owned();
    ctx.transcript.secret(&token);
    Ok(token)
}
