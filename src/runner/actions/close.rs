//! `close`: the client closes its transport, gracefully or abruptly.

use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str, graceful: bool) -> Result<(), StepError> {
    ctx.session(client)?.close(graceful).await;
    Ok(())
}
