//! `expect_frames`: every WebSocket frame received since the handshake carried the protocol's
//! transfer format — text frames for JSON, binary frames for MessagePack (ASP.NET Core's
//! `TransferFormat`; the TypeScript client rejects JSON in binary frames). Nothing to check on
//! Server-Sent Events and Long Polling.

use crate::client::{FrameKind, TransportKind};
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) fn run(ctx: &mut Ctx<'_>, client: &str) -> Result<(), StepError> {
    if ctx.transport != TransportKind::WebSockets {
        return Ok(());
    }
    let s = ctx.session(client)?;
    let (want, protocol) = (s.frame_kind(), s.protocol);
    let Some((got, shown)) = s.wrong_frame.clone() else {
        return Ok(());
    };
    let name = |k: FrameKind| match k {
        FrameKind::Text => "text",
        FrameKind::Binary => "binary",
    };
    Err(ctx.fail(
        format!(
            "every {} message in a WebSocket {} frame",
            protocol.name(),
            name(want)
        ),
        format!("a {} frame: {shown}", name(got)),
    ))
}
