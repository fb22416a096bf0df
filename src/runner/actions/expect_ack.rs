//! `expect_ack`: stateful reconnect — the server acknowledges the client's messages up to an id
//! (it acks on a timer, so Acks of fewer messages may come first; anything else fails).

use signalr_protocol::{HubMessage, Parsed};
use tokio::time::Instant;

use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str, id: i64) -> Result<(), StepError> {
    let expected = format!("an Ack {{\"type\":8,\"sequenceId\":{id}}}");
    let deadline = Instant::now() + ctx.wait;
    loop {
        match ctx.session(client)?.recv(deadline).await {
            Ok(Parsed::Message(HubMessage::Ping)) => continue,
            Ok(Parsed::Message(HubMessage::Ack(a))) if a.sequence_id < id => continue,
            Ok(Parsed::Message(HubMessage::Ack(a))) if a.sequence_id == id => return Ok(()),
            Ok(other) => {
                return Err(ctx.fail(expected, signalr_protocol::notation::parsed_to_text(&other)))
            }
            Err(e) => return Err(ctx.recv_failure(&expected, e)),
        }
    }
}
