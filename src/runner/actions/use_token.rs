//! `use_token = "${t}"`: the client presents this token from now on (empty: none), in the
//! header, the query or both as the browser clients do (`token_in`). Transports already open
//! keep what they started with; later requests (negotiate, `open`, `http`) use the new token.

use crate::client::TokenIn;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) fn run(
    ctx: &mut Ctx<'_>,
    client: &str,
    token: &str,
    token_in: TokenIn,
) -> Result<(), StepError> {
    let token = ctx.subst(token)?;
    let token = (!token.is_empty()).then_some(token);
    ctx.session_or_new(client).set_token(token, token_in);
    Ok(())
}
