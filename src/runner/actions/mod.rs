//! One module per step action; [`run`] dispatches a typed step to its action. An action gets
//! the execution's [`Ctx`] and its acting client, and returns a [`StepError`] when the target
//! broke the requirement (FAIL) or the step could not be carried out (ERROR).
//!
//! To add an action: a variant of `cases::step::Action` (validated in `Step::from_raw`), a
//! module here, and an arm in [`run`].

mod close;
mod connect;
mod expect;
mod expect_ack;
mod expect_close;
mod expect_frames;
mod expect_handshake;
mod expect_http;
mod expect_ping;
mod expect_silence;
mod handshake;
mod http;
mod negotiate;
mod open;
mod reattach;
mod send;
mod token;
mod use_token;
mod wait;

use super::context::Ctx;
use super::outcome::StepError;
use super::{RunOptions, TargetInfo};
use crate::cases::step::{Action, Chunks};
use crate::cases::{Execution, Step};
use crate::client::{Chunking, Transcript};
use crate::result::Direction;

/// Runs the steps of `e` (after connecting client `a` unless the case says not to); every
/// client is closed afterwards, whatever happened.
pub(super) async fn execute(
    e: &Execution,
    info: &TargetInfo,
    opts: &RunOptions,
    http: reqwest::Client,
    transcript: Transcript,
    uid: usize,
) -> Result<(), StepError> {
    let mut ctx = Ctx::new(e, info, opts, http, transcript, uid);
    let result = steps(&mut ctx).await;
    for (_, mut s) in std::mem::take(&mut ctx.sessions) {
        s.close(false).await;
    }
    result
}

async fn steps(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    let case = ctx.exec.case.clone();
    if case.auto_connect {
        connect::run(ctx, "a", &Default::default()).await?;
    }
    for (i, step) in case.steps.iter().enumerate() {
        ctx.begin(i + 1, step);
        if let Some(n) = &step.note {
            ctx.transcript
                .push(&step.client, Direction::Note, "note", n.clone());
        }
        run(ctx, step).await?;
    }
    Ok(())
}

/// Runs one step.
async fn run(ctx: &mut Ctx<'_>, step: &Step) -> Result<(), StepError> {
    let client = step.client.as_str();
    match &step.action {
        Action::Connect(o) => connect::run(ctx, client, o).await,
        Action::Negotiate(query) => negotiate::run(ctx, client, query).await,
        Action::Open(o) => open::run(ctx, client, o).await,
        Action::Handshake {
            protocol,
            version,
            chunks,
        } => {
            handshake::run(
                ctx,
                client,
                protocol.as_deref(),
                *version,
                &chunking(chunks),
            )
            .await
        }
        Action::Send { messages, chunks } => {
            let times = repeats(ctx, step)?;
            send::messages(ctx, client, messages, &chunking(chunks), times).await
        }
        Action::SendRaw {
            text,
            hex,
            messages,
            frame,
            chunks,
        } => {
            let bytes = send::RawBytes {
                text: text.as_deref(),
                hex,
                messages,
            };
            send::raw(ctx, client, bytes, *frame, &chunking(chunks)).await
        }
        Action::Http(h) => http::run(ctx, client, h, step.within.is_some()).await,
        Action::Expect {
            patterns,
            save,
            skip_unmatched,
        } => expect::in_order(ctx, client, patterns, save, *skip_unmatched).await,
        Action::ExpectUnordered(patterns) => {
            let times = repeats(ctx, step)?;
            expect::unordered(ctx, client, patterns, times).await
        }
        Action::ExpectHandshake(h) => expect_handshake::run(ctx, client, h).await,
        Action::ExpectHttp(h) => expect_http::run(ctx, client, h),
        Action::ExpectClose {
            pattern,
            websocket_close_code,
        } => expect_close::close(ctx, client, pattern, *websocket_close_code).await,
        Action::ExpectDisconnect {
            websocket_close_code,
        } => expect_close::disconnect(ctx, client, *websocket_close_code).await,
        Action::ExpectEnd {
            websocket_close_code,
        } => expect_close::end(ctx, client, *websocket_close_code).await,
        Action::ExpectFrames => expect_frames::run(ctx, client),
        Action::ExpectSilence(t) => expect_silence::run(ctx, client, t).await,
        Action::ExpectPing => expect_ping::run(ctx, client).await,
        Action::ExpectAck(id) => expect_ack::run(ctx, client, *id).await,
        Action::Reattach(o) => reattach::run(ctx, client, o).await,
        Action::Close { graceful } => close::run(ctx, client, *graceful).await,
        Action::CloseEmptyFrame => close::empty_frame(ctx, client).await,
        Action::Wait(t) => wait::run(ctx, t).await,
        Action::Token(t) => token::run(ctx, t).await,
        Action::UseToken { token, token_in } => use_token::run(ctx, client, token, *token_in),
    }
}

/// How often a step with `repeat` runs its items (`None`: once, without `${n}`).
fn repeats(ctx: &Ctx<'_>, step: &Step) -> Result<Option<usize>, StepError> {
    step.repeat.as_deref().map(|r| ctx.count(r)).transpose()
}

fn chunking(c: &Chunks) -> Chunking {
    match c {
        Chunks::Whole => Chunking::Whole,
        Chunks::Size(n) => Chunking::Size(*n),
        Chunks::At(at) => Chunking::At(at.clone()),
    }
}
