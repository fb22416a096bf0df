//! `http`: any HTTP request relative to the hub URL (`sibling:` = next to it); the response is
//! checked by `expect_http`.

use crate::cases::HttpStep;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

/// `within` (when the step sets it) replaces the request timeout: for a request the server is
/// meant to hold, such as a Long Polling GET waiting out the poll timeout.
pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    client: &str,
    h: &HttpStep,
    within: bool,
) -> Result<(), StepError> {
    let wait = ctx.wait;
    let method = h.method.as_deref().unwrap_or("GET");
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| StepError::Error(format!("invalid HTTP method '{method}'")))?;
    let path = ctx.subst(&h.path)?;
    let query = ctx.subst(&h.query)?;
    let mut headers = Vec::new();
    for (k, v) in &h.headers {
        headers.push((k.clone(), ctx.subst(v)?));
    }
    let body = ctx.subst(&h.body)?.into_bytes();
    let s = ctx.session_or_new(client);
    let url = match path.strip_prefix("sibling:") {
        Some(p) => {
            let mut u = s.target().sibling_url(p);
            u.set_query((!query.is_empty()).then_some(query.as_str()));
            u
        }
        None => s.target().url(&path, &query),
    };
    let r = if within {
        s.http_within(method, url, &headers, body, wait).await
    } else {
        s.http(method, url, &headers, body).await
    };
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(ctx.client_failure("a response", e)),
    }
}
