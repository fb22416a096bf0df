//! `send` and `send_raw`: bytes out — messages framed in the combination's protocol, or raw
//! text, hex and messages — cut as the step says. The server refusing them (a closed socket,
//! a POST answered 404) is not a harness error: the following expectation decides whether
//! that was right.

use crate::cases::step::{ByProtocol, Frame, MessageTemplate};
use crate::client::{Chunking, FrameKind, Session};
use crate::result::Direction;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn messages(
    ctx: &mut Ctx<'_>,
    client: &str,
    messages: &[ByProtocol<MessageTemplate>],
    chunking: &Chunking,
    times: Option<usize>,
) -> Result<(), StepError> {
    let protocol = ctx.protocol;
    let mut bytes = Vec::new();
    let items = (1..=times.unwrap_or(1)).flat_map(|n| messages.iter().map(move |m| (n, m)));
    for (n, item) in items {
        if times.is_some() {
            ctx.vars.insert("n".to_owned(), n.to_string());
        }
        let Some(t) = item.get(protocol) else {
            continue;
        };
        if let Some(framed) = padded(ctx, t)? {
            ctx.transcript.push(
                client,
                Direction::Out,
                "msg",
                format!("{} ({} bytes framed)", t.text, framed.len()),
            );
            bytes.extend_from_slice(&framed);
            continue;
        }
        let msg = ctx.message(t)?;
        ctx.transcript.push(
            client,
            Direction::Out,
            "msg",
            signalr_protocol::notation::message_to_text(&msg),
        );
        protocol.write(&msg, &mut bytes);
    }
    if bytes.is_empty() && times == Some(0) {
        return Ok(());
    }
    let s = ctx.session(client)?;
    let kind = s.frame_kind();
    send_soft(s, &bytes, chunking, kind).await
}

/// A message holding `${pad:<size>}` in a string: that string filled with `x` so that the
/// message, framed in the combination's protocol (JSON with its record separator, MessagePack
/// with its length prefix), is exactly `<size>` bytes — what ASP.NET Core counts against
/// MaximumReceiveMessageSize.
fn padded(ctx: &Ctx<'_>, t: &MessageTemplate) -> Result<Option<Vec<u8>>, StepError> {
    let Some(start) = t.text.find("${pad:") else {
        return Ok(None);
    };
    let Some(len) = t.text[start..].find('}') else {
        return Err(StepError::Error(format!(
            "unterminated ${{pad:…}} in {}",
            t.text
        )));
    };
    let expr = &t.text[start + "${pad:".len()..start + len];
    let want = ctx.size(expr)?;
    let frame = |n: usize| -> Result<Vec<u8>, StepError> {
        let text = format!(
            "{}{}{}",
            &t.text[..start],
            "x".repeat(n),
            &t.text[start + len + 1..]
        );
        let tmp = MessageTemplate { text, parsed: None };
        let msg = ctx.message(&tmp)?;
        let mut b = Vec::new();
        ctx.protocol.write(&msg, &mut b);
        Ok(b)
    };
    let mut n = want.saturating_sub(frame(0)?.len());
    // A longer string can need a longer length header (MessagePack str16 → str32, a longer
    // VarInt prefix): adjust until the framed size is exact.
    for _ in 0..4 {
        let b = frame(n)?;
        match b.len().cmp(&want) {
            std::cmp::Ordering::Equal => return Ok(Some(b)),
            std::cmp::Ordering::Greater => match n.checked_sub(b.len() - want) {
                Some(m) => n = m,
                None => break,
            },
            std::cmp::Ordering::Less => n += want - b.len(),
        }
    }
    Err(StepError::Error(format!(
        "cannot pad {} to exactly {want} bytes framed",
        t.text
    )))
}

/// The parts of a raw send, concatenated in this order.
pub(super) struct RawBytes<'a> {
    pub(super) text: Option<&'a str>,
    pub(super) hex: &'a [u8],
    pub(super) messages: &'a [MessageTemplate],
}

pub(super) async fn raw(
    ctx: &mut Ctx<'_>,
    client: &str,
    raw: RawBytes<'_>,
    frame: Option<Frame>,
    chunking: &Chunking,
) -> Result<(), StepError> {
    let protocol = ctx.protocol;
    let mut bytes = Vec::new();
    if let Some(t) = raw.text {
        bytes.extend_from_slice(ctx.subst(t)?.as_bytes());
    }
    bytes.extend_from_slice(raw.hex);
    for m in raw.messages {
        let msg = ctx.message(m)?;
        protocol.write(&msg, &mut bytes);
    }
    let s = ctx.session(client)?;
    let kind = match frame {
        Some(Frame::Text) => FrameKind::Text,
        Some(Frame::Binary) => FrameKind::Binary,
        None => s.frame_kind(),
    };
    send_soft(s, &bytes, chunking, kind).await
}

/// Sends bytes; a refusal is only noted in the transcript.
async fn send_soft(
    s: &mut Session,
    bytes: &[u8],
    chunking: &Chunking,
    kind: FrameKind,
) -> Result<(), StepError> {
    if !s.is_open() {
        return Err(StepError::Error(format!(
            "client '{}' has no open transport to send on",
            s.name
        )));
    }
    if let Err(e) = s.send_bytes(bytes, chunking, kind).await {
        s.transcript.push(
            &s.name,
            Direction::Note,
            "note",
            format!("send failed: {e}"),
        );
    }
    Ok(())
}
