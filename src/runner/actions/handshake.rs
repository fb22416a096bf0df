//! `handshake`: send a handshake request (any protocol name and version).

use crate::client::Chunking;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    client: &str,
    protocol: Option<&str>,
    version: i32,
    chunking: &Chunking,
) -> Result<(), StepError> {
    let protocol = protocol.unwrap_or(ctx.protocol.name()).to_owned();
    match ctx
        .session(client)?
        .send_handshake(&protocol, version, chunking)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) => Err(ctx.client_failure("the handshake request is sent", e)),
    }
}
