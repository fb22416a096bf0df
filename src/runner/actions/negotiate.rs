//! `negotiate = "query"`: one negotiate request; the response is checked by `expect_http`.

use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, client: &str, query: &str) -> Result<(), StepError> {
    let q = ctx.subst(query)?;
    match ctx.session_or_new(client).negotiate(&q).await {
        Ok(_) => Ok(()),
        Err(e) => Err(ctx.client_failure("negotiate answers", e)),
    }
}
