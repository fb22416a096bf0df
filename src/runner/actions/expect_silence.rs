//! `expect_silence`: no message other than Ping arrives for a while.

use std::time::Duration;

use tokio::time::Instant;

use crate::cases::Timing;
use crate::client::RecvError;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str, t: &Timing) -> Result<(), StepError> {
    let d: Duration = ctx.duration(t);
    let deadline = Instant::now() + d;
    let expected = || format!("no message for {} ms", d.as_millis());
    match ctx.next_message(client, deadline).await {
        Err(RecvError::Timeout(_)) => Ok(()),
        Ok(p) => Err(ctx.fail(expected(), signalr_protocol::notation::parsed_to_text(&p))),
        Err(e) => Err(ctx.recv_failure(&expected(), e)),
    }
}
