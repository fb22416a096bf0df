//! `use_token = "${t}"`: the client presents this token from now on (empty: none), in the
//! header, the query or both as the browser clients do (`token_in`). Transports already open
//! keep what they started with; later requests (negotiate, `open`, `http`) use the new token.

use crate::cases::step::TokenIn;
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
    ctx.session_or_new(client)
        .set_token(token, placement(token_in));
    Ok(())
}

/// The client's placement for a case's `token_in`.
pub(super) fn placement(t: TokenIn) -> crate::client::TokenIn {
    match t {
        TokenIn::Browser => crate::client::TokenIn::Browser,
        TokenIn::Header => crate::client::TokenIn::Header,
        TokenIn::Query => crate::client::TokenIn::Query,
    }
}
