//! The direct reader: a well-formed payload straight from bytes into [`Fields`] and [`Value`]s,
//! with the reference reader's rules (property order free, last repeat wins, depth limit), and
//! `None` for anything the reference reader would reject or that it does not handle itself.
//!
//! The reference reader (serde_json under visitors, in `read`) then reads what this gave up on,
//! and reports ASP.NET Core's error. Agreement of the two is tested in tests/properties.rs.

use super::fields::Fields;
use super::lexer::{Lexer, Number};
use super::MAX_DEPTH;
use crate::message::Headers;
use crate::value::Value;

/// The properties of one message payload; `None` to leave the payload to the reference reader.
pub(super) fn read_fields(payload: &[u8]) -> Option<Fields> {
    let mut lx = Lexer::new(payload)?;
    lx.eat(b'{')?;
    let mut f = Fields::default();
    // What follows the object is never read (the reference reader ignores it as well).
    if lx.eat_if(b'}') {
        return Some(f);
    }
    loop {
        let key = lx.string()?;
        lx.eat(b':')?;
        match &*key {
            "type" => f.message_type = Some(i32::try_from(int(&mut lx)??).ok()?),
            "invocationId" => f.invocation_id = Some(lx.string()?.into_owned()),
            "target" => f.target = Some(lx.string()?.into_owned()),
            "error" => f.error = Some(lx.string()?.into_owned()),
            "allowReconnect" => f.allow_reconnect = boolean(&mut lx)?,
            "streamIds" => f.stream_ids = Some(strings(&mut lx)?),
            "result" => f.result = Some(value(&mut lx, 1)?),
            "item" => f.item = Some(value(&mut lx, 1)?),
            "arguments" => f.arguments = Some(array(&mut lx, 2)?),
            "headers" => f.headers = Some(headers(&mut lx)?),
            "sequenceId" => f.sequence_id = int(&mut lx)?,
            _ => skip(&mut lx, 1)?,
        }
        if !lx.next_or_close(b'}')? {
            return Some(f);
        }
    }
}

/// One value that must be all the text (white space around it allowed).
pub(super) fn read_value(text: &[u8]) -> Option<Value> {
    let mut lx = Lexer::new(text)?;
    let v = value(&mut lx, 0)?;
    lx.at_end().then_some(v)
}

/// An integer property: `null` is `Some(None)`; a float, a non-number or an integer outside
/// `i64` is left to the reference reader (its errors differ by case).
fn int(lx: &mut Lexer<'_>) -> Option<Option<i64>> {
    match lx.peek()? {
        b'n' => {
            lx.literal(b"null")?;
            Some(None)
        }
        _ => match lx.number()? {
            Number::U64(u) => Some(Some(i64::try_from(u).ok()?)),
            Number::I64(i) => Some(Some(i)),
            Number::F64(_) => None,
        },
    }
}

fn boolean(lx: &mut Lexer<'_>) -> Option<bool> {
    match lx.peek()? {
        b't' => lx.literal(b"true").map(|()| true),
        b'f' => lx.literal(b"false").map(|()| false),
        _ => None,
    }
}

/// `streamIds`: an array of strings only.
fn strings(lx: &mut Lexer<'_>) -> Option<Vec<String>> {
    lx.eat(b'[')?;
    let mut ids = Vec::new();
    if lx.eat_if(b']') {
        return Some(ids);
    }
    loop {
        ids.push(lx.string()?.into_owned());
        if !lx.next_or_close(b']')? {
            return Some(ids);
        }
    }
}

/// `headers`: an object of strings only; a repeated key replaces the earlier value.
fn headers(lx: &mut Lexer<'_>) -> Option<Headers> {
    lx.eat(b'{')?;
    let mut headers = Headers::new();
    if lx.eat_if(b'}') {
        return Some(headers);
    }
    loop {
        let key = lx.string()?.into_owned();
        lx.eat(b':')?;
        let value = lx.string()?.into_owned();
        headers.insert(key, value);
        if !lx.next_or_close(b'}')? {
            return Some(headers);
        }
    }
}

/// The elements of an array, each read at `depth`.
fn array(lx: &mut Lexer<'_>, depth: usize) -> Option<Vec<Value>> {
    lx.eat(b'[')?;
    let mut items = Vec::new();
    if lx.eat_if(b']') {
        return Some(items);
    }
    loop {
        items.push(value(lx, depth)?);
        if !lx.next_or_close(b']')? {
            return Some(items);
        }
    }
}

/// Any value; a container at `depth` [`MAX_DEPTH`] or deeper is left to the reference reader.
fn value(lx: &mut Lexer<'_>, depth: usize) -> Option<Value> {
    Some(match lx.peek()? {
        b'"' => Value::String(lx.string()?.into_owned()),
        b'n' => lx.literal(b"null").map(|()| Value::Null)?,
        b't' | b'f' => Value::Bool(boolean(lx)?),
        b'[' => {
            if depth >= MAX_DEPTH {
                return None;
            }
            Value::Array(array(lx, depth + 1)?)
        }
        b'{' => {
            if depth >= MAX_DEPTH {
                return None;
            }
            lx.eat(b'{')?;
            let mut entries = Vec::new();
            if !lx.eat_if(b'}') {
                loop {
                    let k = lx.string()?.into_owned();
                    lx.eat(b':')?;
                    entries.push((Value::String(k), value(lx, depth + 1)?));
                    if !lx.next_or_close(b'}')? {
                        break;
                    }
                }
            }
            Value::Map(entries)
        }
        _ => match lx.number()? {
            Number::U64(u) => match i64::try_from(u) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::UInt(u),
            },
            Number::I64(i) => Value::Int(i),
            Number::F64(f) => Value::F64(f),
        },
    })
}

/// Skips any value, with the same depth limit.
fn skip(lx: &mut Lexer<'_>, depth: usize) -> Option<()> {
    match lx.peek()? {
        open @ (b'[' | b'{') => {
            if depth >= MAX_DEPTH {
                return None;
            }
            lx.eat(open)?;
            let close = if open == b'[' { b']' } else { b'}' };
            if lx.eat_if(close) {
                return Some(());
            }
            loop {
                if open == b'{' {
                    lx.string()?;
                    lx.eat(b':')?;
                }
                skip(lx, depth + 1)?;
                if !lx.next_or_close(close)? {
                    return Some(());
                }
            }
        }
        _ => value(lx, depth).map(drop),
    }
}
