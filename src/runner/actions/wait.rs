//! `wait`: let time pass (for cases about the target's timers).

use crate::cases::Timing;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, t: &Timing) -> Result<(), StepError> {
    tokio::time::sleep(ctx.duration(t)).await;
    Ok(())
}
