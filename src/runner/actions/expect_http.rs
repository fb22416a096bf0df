//! `expect_http`: the last HTTP exchange of the client has this status, body, content type
//! and headers.

use crate::cases::step::HttpCheck;
use crate::client::transcript::show_bytes;
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) fn run(ctx: &mut Ctx<'_>, client: &str, h: &HttpCheck) -> Result<(), StepError> {
    let Some(r) = ctx.session(client)?.last_http() else {
        return Err(StepError::Error("no HTTP exchange to check".into()));
    };
    let shown = format!("HTTP {} {}", r.status, show_bytes(&r.body));
    if let Some(st) = h.status {
        if r.status != st {
            return Err(ctx.fail(format!("HTTP status {st}"), shown));
        }
    }
    if let Some(b) = &h.body {
        let b = ctx.subst(b)?;
        if r.text() != b {
            return Err(ctx.fail(
                format!("body {b:?}"),
                format!("body {}", show_bytes(&r.body)),
            ));
        }
    }
    if let Some(ct) = &h.content_type {
        let actual = r.header("content-type").unwrap_or("");
        let media = actual.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case(ct) {
            return Err(ctx.fail(
                format!("Content-Type {ct}"),
                format!("Content-Type {actual:?}"),
            ));
        }
    }
    for (k, v) in &h.headers {
        let v = ctx.subst(v)?;
        let all = r.header_all(k);
        let ok = match v.as_str() {
            "!" => all.is_empty(),
            "*" => !all.is_empty(),
            _ => match v.strip_prefix('~') {
                Some(tokens) => has_tokens(&all, tokens),
                None => all.iter().any(|a| *a == v),
            },
        };
        if !ok {
            let want = match v.as_str() {
                "!" => format!("no {k} header"),
                "*" => format!("a {k} header"),
                _ => match v.strip_prefix('~') {
                    Some(tokens) => format!("{k} listing {tokens}"),
                    None => format!("{k}: {v}"),
                },
            };
            return Err(ctx.fail(want, format!("{k}: {all:?}")));
        }
    }
    if let Some(t) = &h.body_json {
        let (pattern, text) = ctx.pattern(t)?;
        let actual = signalr_protocol::json::parse_value(&r.body).map_err(|e| {
            ctx.fail(
                format!("a JSON body matching {text}"),
                format!("{shown} (not JSON: {e})"),
            )
        })?;
        if let Err(why) = pattern.matches(&actual, "") {
            return Err(ctx.fail(text, format!("{shown} ({why})")));
        }
    }
    if !h.save.is_empty() {
        let actual = signalr_protocol::json::parse_value(&r.body).map_err(|e| {
            ctx.fail(
                "a JSON body to save values from",
                format!("{shown} (not JSON: {e})"),
            )
        })?;
        for (var, path) in &h.save {
            let v = crate::cases::matcher::lookup(&actual, path)
                .ok_or_else(|| ctx.fail(format!("a JSON body with '{path}'"), shown.clone()))?;
            let s = match v {
                signalr_protocol::Value::String(s) => s.clone(),
                other => signalr_protocol::json::value_to_string(other),
            };
            // A saved value may be a token (a redirect's accessToken): never shown.
            if path.to_ascii_lowercase().contains("token") {
                ctx.transcript.secret(&s);
            }
            ctx.vars.insert(var.clone(), s);
        }
    }
    Ok(())
}

/// `~a,b`: every comma-separated token is among the header's comma-separated values, in any
/// order and case, white space ignored (`no-cache,no-store` = `no-store, no-cache`).
fn has_tokens(values: &[&str], tokens: &str) -> bool {
    let listed: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    tokens
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .all(|t| listed.contains(&t))
}

#[cfg(test)]
mod tests {
    use super::has_tokens;

    #[test]
    fn header_tokens_match_in_any_order_case_and_spacing() {
        assert!(has_tokens(&["no-cache,no-store"], "no-cache,no-store"));
        assert!(has_tokens(&["No-Store, no-cache"], "no-cache, no-store"));
        assert!(has_tokens(&["no-cache", "no-store"], "no-store"));
        assert!(!has_tokens(&["no-cache"], "no-cache,no-store"));
        assert!(!has_tokens(&[], "no-cache"));
    }
}
