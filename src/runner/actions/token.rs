//! `token`: a token from the contract's `/contract/token` (contract 1.1 parameters: lifetime,
//! not-before, algorithm, wrong key, roles, level), saved in a variable and registered as a
//! secret so that no transcript or report shows it. `${name.expires}` and `${name.notBefore}`
//! hold its `exp` and `nbf` as ASP.NET Core writes them in `WWW-Authenticate` error
//! descriptions (`MM/dd/yyyy HH:mm:ss`, UTC).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use signalr_protocol::error::texts::invariant_date;

use crate::cases::TokenStep;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn run(ctx: &mut Ctx<'_>, t: &TokenStep) -> Result<(), StepError> {
    let user = ctx.subst(&t.user)?;
    let mut url = ctx.opts.target.sibling_url("contract/token");
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("user", &user);
        if let Some(s) = t.lifetime_seconds {
            q.append_pair("lifetimeSeconds", &s.to_string());
        }
        if let Some(s) = t.not_before_seconds {
            q.append_pair("notBeforeSeconds", &s.to_string());
        }
        if let Some(a) = &t.alg {
            q.append_pair("alg", a);
        }
        if t.wrong_key {
            q.append_pair("wrongKey", "true");
        }
        for r in &t.roles {
            q.append_pair("role", r);
        }
        if let Some(l) = &t.level {
            q.append_pair("level", l);
        }
    }
    let token = super::connect::fetch_token(ctx, url, &user).await?;
    let claims = claims(&token);
    let date = |k: &str| {
        claims
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(serde_json::Value::as_i64)
            .map(invariant_date)
            .unwrap_or_default()
    };
    ctx.vars.insert(format!("{}.expires", t.save), date("exp"));
    ctx.vars
        .insert(format!("{}.notBefore", t.save), date("nbf"));
    ctx.vars.insert(t.save.clone(), token);
    Ok(())
}

/// The payload of a JWT, if it is one.
fn claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_dotnet_writes_them() {
        assert_eq!(invariant_date(1_796_287_529), "12/03/2026 08:45:29");
        assert_eq!(invariant_date(951_782_400), "02/29/2000 00:00:00");
        assert_eq!(invariant_date(0), "01/01/1970 00:00:00");
    }

    #[test]
    fn claims_of_a_jwt_and_of_garbage() {
        let t = format!(
            "x.{}.y",
            URL_SAFE_NO_PAD.encode(br#"{"exp":1796287529,"sub":"a"}"#)
        );
        assert_eq!(claims(&t).unwrap()["exp"], 1_796_287_529);
        assert!(claims("abc").is_none());
        assert!(claims("a.!!!.b").is_none());
    }
}
