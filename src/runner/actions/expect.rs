//! `expect` (the next messages, Pings skipped, match in order; values can be saved) and
//! `expect_unordered` (they match in any order).

use std::collections::BTreeMap;

use signalr_protocol::Value;
use tokio::time::Instant;

use crate::cases::matcher::lookup;
use crate::cases::step::{ByProtocol, PatternTemplate};
use crate::runner::context::Ctx;
use crate::runner::outcome::StepError;

pub(super) async fn in_order(
    ctx: &mut Ctx<'_>,
    client: &str,
    patterns: &[ByProtocol<PatternTemplate>],
    save: &BTreeMap<String, String>,
    skip_unmatched: bool,
) -> Result<(), StepError> {
    for item in patterns {
        one(ctx, client, item, save, skip_unmatched).await?;
    }
    Ok(())
}

async fn one(
    ctx: &mut Ctx<'_>,
    client: &str,
    item: &ByProtocol<PatternTemplate>,
    save: &BTreeMap<String, String>,
    skip_unmatched: bool,
) -> Result<(), StepError> {
    let Some((pattern, text)) = ctx.pattern_for(item)? else {
        return Ok(());
    };
    let deadline = Instant::now() + ctx.wait;
    let mut skipped = Vec::new();
    loop {
        let p = match ctx.next_message(client, deadline).await {
            Ok(p) => p,
            Err(e) => {
                return Err(ctx.recv_failure_then(&text, e, |actual| {
                    if skipped.is_empty() {
                        actual
                    } else {
                        format!("{actual}; skipped before: {}", skipped.join(", "))
                    }
                }))
            }
        };
        let actual = signalr_protocol::notation::parsed_to_notation(&p);
        match pattern.matches_message(&actual) {
            Ok(()) => {
                for (var, path) in save {
                    let v = lookup(&actual, path).ok_or_else(|| {
                        StepError::Error(format!(
                            "cannot save '{var}': the message has no '{path}'"
                        ))
                    })?;
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => signalr_protocol::json::value_to_string(other),
                    };
                    ctx.vars.insert(var.clone(), s);
                }
                return Ok(());
            }
            Err(why) => {
                let shown = signalr_protocol::json::value_to_string(&actual);
                if skip_unmatched {
                    skipped.push(shown);
                    continue;
                }
                return Err(ctx.fail(text, format!("{shown} ({why})")));
            }
        }
    }
}

pub(super) async fn unordered(
    ctx: &mut Ctx<'_>,
    client: &str,
    items: &[ByProtocol<PatternTemplate>],
    times: Option<usize>,
) -> Result<(), StepError> {
    let mut pending = Vec::new();
    for n in 1..=times.unwrap_or(1) {
        if times.is_some() {
            ctx.vars.insert("n".to_owned(), n.to_string());
        }
        for i in items {
            if let Some(p) = ctx.pattern_for(i)? {
                pending.push(p);
            }
        }
    }
    let expected = pending
        .iter()
        .map(|(_, t)| t.as_ref())
        .collect::<Vec<_>>()
        .join(" and ");
    let deadline = Instant::now() + ctx.wait;
    let mut seen = Vec::new();
    while !pending.is_empty() {
        let p = match ctx.next_message(client, deadline).await {
            Ok(p) => p,
            Err(e) => {
                return Err(ctx.recv_failure_then(&expected, e, |actual| {
                    if seen.is_empty() {
                        actual
                    } else {
                        format!("after {}: {actual}", seen.join(", "))
                    }
                }))
            }
        };
        let actual = signalr_protocol::notation::parsed_to_notation(&p);
        let shown = signalr_protocol::json::value_to_string(&actual);
        match pending
            .iter()
            .position(|(pat, _)| pat.matches_message(&actual).is_ok())
        {
            Some(i) => {
                pending.remove(i);
                seen.push(shown);
            }
            None => return Err(ctx.fail(expected, format!("unexpected {shown}"))),
        }
    }
    Ok(())
}
