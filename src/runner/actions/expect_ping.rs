//! `expect_ping`: the next message is a Ping.

use signalr_protocol::{HubMessage, Parsed};
use tokio::time::Instant;

use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

const PING: &str = "a Ping {\"type\":6}";

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str) -> Result<(), StepError> {
    let deadline = Instant::now() + ctx.wait;
    match ctx.session(client)?.recv(deadline).await {
        Ok(Parsed::Message(HubMessage::Ping)) => Ok(()),
        Ok(other) => Err(ctx.fail(PING, signalr_protocol::notation::parsed_to_text(&other))),
        Err(e) => Err(ctx.recv_failure(PING, e)),
    }
}
