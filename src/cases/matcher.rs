//! Message patterns: notation JSON with matchers.
//!
//! A pattern is written in the same notation `conform decode` prints. Plain values match
//! exactly (an integer only matches an integer, a float a float; a map must have exactly the
//! pattern's keys). Objects whose key is one of these are matchers instead:
//!
//! | matcher | matches |
//! |---|---|
//! | `{"$any": true}` | any value (the key must be present) |
//! | `{"$absent": true}` | the key is absent (only inside a map) |
//! | `{"$type": "string"}` | a type: `null bool integer float number string array map bin timestamp` |
//! | `{"$regex": "^s[0-9]+$"}` | a string matching the regex |
//! | `{"$contains": "text"}` | a string containing the text |
//! | `{"$oneOf": [p1, p2]}` | any of the patterns |
//! | `{"$not": p}` | anything `p` does not match |
//! | `{"$partial": {…}}` | a map with at least these keys matching |
//!
//! At a message's top level, `headers` is ignored unless the pattern mentions it (servers may
//! add tracing headers).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use signalr_protocol::Value;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Anything.
    Any,
    /// Key absent.
    Absent,
    /// An exact scalar.
    Exact(Value),
    /// A type.
    Type(String),
    /// A regex over strings.
    Regex(Regex),
    /// A substring.
    Contains(String),
    /// Alternatives.
    OneOf(Vec<Pattern>),
    /// Negation.
    Not(Box<Pattern>),
    /// An array, element by element.
    Array(Vec<Pattern>),
    /// A map.
    Map {
        /// Key patterns in order.
        entries: Vec<(String, Pattern)>,
        /// Extra keys allowed.
        partial: bool,
    },
}

const TYPES: &[&str] = &[
    "null",
    "bool",
    "integer",
    "float",
    "number",
    "string",
    "array",
    "map",
    "bin",
    "timestamp",
];

/// Compiles a `$regex` source once per process: cases repeat the same sources (ids, long
/// strings) and compiling one like `^x{32751}$` costs more than parsing every case file.
fn compile_regex(src: &str) -> Result<Regex, regex::Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(src).cloned()) {
        return Ok(r);
    }
    let r = Regex::new(src)?;
    if let Ok(mut c) = cache.lock() {
        c.insert(src.to_owned(), r.clone());
    }
    Ok(r)
}

impl Pattern {
    /// Parses pattern text (notation JSON with matchers).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let v = signalr_protocol::json::parse_value(text.as_bytes())
            .map_err(|e| format!("not valid JSON ({})", e.detail().unwrap_or(e.message())))?;
        Self::from_value(&v)
    }

    /// Compiles a parsed JSON value.
    pub fn from_value(v: &Value) -> Result<Pattern, String> {
        Ok(match v {
            Value::Array(items) => Pattern::Array(
                items
                    .iter()
                    .map(Self::from_value)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(entries) => {
                if entries.len() == 1 {
                    if let (Value::String(k), val) = (&entries[0].0, &entries[0].1) {
                        match k.as_str() {
                            "$any" => return Ok(Pattern::Any),
                            "$absent" => return Ok(Pattern::Absent),
                            "$type" => {
                                let t = val.as_str().ok_or("$type needs a string")?;
                                if !TYPES.contains(&t) {
                                    return Err(format!(
                                        "unknown $type '{t}' (one of {})",
                                        TYPES.join(", ")
                                    ));
                                }
                                return Ok(Pattern::Type(t.to_owned()));
                            }
                            "$regex" => {
                                let r = val.as_str().ok_or("$regex needs a string")?;
                                return compile_regex(r)
                                    .map(Pattern::Regex)
                                    .map_err(|e| format!("invalid $regex: {e}"));
                            }
                            "$contains" => {
                                return Ok(Pattern::Contains(
                                    val.as_str().ok_or("$contains needs a string")?.to_owned(),
                                ))
                            }
                            "$oneOf" => {
                                let alts = val.as_array().ok_or("$oneOf needs an array")?;
                                return Ok(Pattern::OneOf(
                                    alts.iter()
                                        .map(Self::from_value)
                                        .collect::<Result<_, _>>()?,
                                ));
                            }
                            "$not" => return Ok(Pattern::Not(Box::new(Self::from_value(val)?))),
                            "$partial" => {
                                return match Self::from_value(val)? {
                                    Pattern::Map { entries, .. } => Ok(Pattern::Map {
                                        entries,
                                        partial: true,
                                    }),
                                    _ => Err("$partial needs an object".into()),
                                }
                            }
                            _ => {}
                        }
                    }
                }
                let mut out = Vec::new();
                for (k, val) in entries {
                    let Value::String(k) = k else {
                        return Err("pattern keys must be strings".into());
                    };
                    out.push((k.clone(), Self::from_value(val)?));
                }
                Pattern::Map {
                    entries: out,
                    partial: false,
                }
            }
            other => Pattern::Exact(other.clone()),
        })
    }

    /// Matches a message in notation (top-level `headers` ignored unless named).
    pub fn matches_message(&self, actual: &Value) -> Result<(), String> {
        match (self, actual) {
            (Pattern::Map { entries, partial }, Value::Map(a))
                if !*partial && !entries.iter().any(|(k, _)| k == "headers") =>
            {
                let filtered = Value::Map(
                    a.iter()
                        .filter(|(k, _)| k.as_str() != Some("headers"))
                        .cloned()
                        .collect(),
                );
                self.matches(&filtered, "")
            }
            _ => self.matches(actual, ""),
        }
    }

    /// Matches any value; the error names the path and the difference.
    pub fn matches(&self, actual: &Value, path: &str) -> Result<(), String> {
        let at = |p: &str| {
            if p.is_empty() {
                "the value".to_owned()
            } else {
                format!("'{p}'")
            }
        };
        let show = |v: &Value| signalr_protocol::json::value_to_string(v);
        match self {
            Pattern::Any => Ok(()),
            Pattern::Absent => Err(format!(
                "{} should be absent but is {}",
                at(path),
                show(actual)
            )),
            Pattern::Exact(e) => {
                if scalar_eq(e, actual) {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: expected {}, found {}",
                        at(path),
                        show(e),
                        show(actual)
                    ))
                }
            }
            Pattern::Type(t) => {
                if type_matches(t, actual) {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: expected a {t}, found {}",
                        at(path),
                        show(actual)
                    ))
                }
            }
            Pattern::Regex(r) => match actual {
                Value::String(s) if r.is_match(s) => Ok(()),
                _ => Err(format!(
                    "{}: expected a string matching /{}/, found {}",
                    at(path),
                    r.as_str(),
                    show(actual)
                )),
            },
            Pattern::Contains(c) => match actual {
                Value::String(s) if s.contains(c.as_str()) => Ok(()),
                _ => Err(format!(
                    "{}: expected a string containing {c:?}, found {}",
                    at(path),
                    show(actual)
                )),
            },
            Pattern::OneOf(alts) => {
                let mut why = Vec::new();
                for a in alts {
                    match a.matches(actual, path) {
                        Ok(()) => return Ok(()),
                        Err(e) => why.push(e),
                    }
                }
                Err(format!(
                    "none of the alternatives matched: {}",
                    why.join("; ")
                ))
            }
            Pattern::Not(p) => match p.matches(actual, path) {
                Ok(()) => Err(format!(
                    "{}: {} matches what it must not",
                    at(path),
                    show(actual)
                )),
                Err(_) => Ok(()),
            },
            Pattern::Array(items) => {
                let Value::Array(a) = actual else {
                    return Err(format!(
                        "{}: expected an array, found {}",
                        at(path),
                        show(actual)
                    ));
                };
                if a.len() != items.len() {
                    return Err(format!(
                        "{}: expected {} element(s), found {}: {}",
                        at(path),
                        items.len(),
                        a.len(),
                        show(actual)
                    ));
                }
                for (i, (p, v)) in items.iter().zip(a).enumerate() {
                    p.matches(v, &join(path, &i.to_string()))?;
                }
                Ok(())
            }
            Pattern::Map { entries, partial } => {
                let Value::Map(a) = actual else {
                    return Err(format!(
                        "{}: expected an object, found {}",
                        at(path),
                        show(actual)
                    ));
                };
                for (k, p) in entries {
                    let found = a.iter().find(|(ak, _)| ak.as_str() == Some(k.as_str()));
                    match (p, found) {
                        (p, None) if p.accepts_absent() => {}
                        (Pattern::Absent, Some((_, v))) => {
                            return Err(format!(
                                "{} should be absent but is {}",
                                at(&join(path, k)),
                                show(v)
                            ))
                        }
                        (_, None) => {
                            return Err(format!(
                                "{} is missing (expected {})",
                                at(&join(path, k)),
                                p.describe()
                            ))
                        }
                        (p, Some((_, v))) => p.matches(v, &join(path, k))?,
                    }
                }
                if !partial {
                    for (k, v) in a {
                        let name = k.as_str().unwrap_or("");
                        if !entries.iter().any(|(pk, _)| pk == name) {
                            return Err(format!(
                                "{} is not expected (value {})",
                                at(&join(path, name)),
                                show(v)
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether a missing key satisfies this pattern (`$absent`, or an alternative that is).
    pub fn accepts_absent(&self) -> bool {
        match self {
            Pattern::Absent => true,
            Pattern::OneOf(alts) => alts.iter().any(Pattern::accepts_absent),
            _ => false,
        }
    }

    /// A short description for failure reports.
    pub fn describe(&self) -> String {
        match self {
            Pattern::Any => "any value".into(),
            Pattern::Absent => "absent".into(),
            Pattern::Exact(v) => signalr_protocol::json::value_to_string(v),
            Pattern::Type(t) => format!("a {t}"),
            Pattern::Regex(r) => format!("/{}/", r.as_str()),
            Pattern::Contains(c) => format!("text containing {c:?}"),
            Pattern::OneOf(a) => a
                .iter()
                .map(Pattern::describe)
                .collect::<Vec<_>>()
                .join(" or "),
            Pattern::Not(p) => format!("not {}", p.describe()),
            Pattern::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Pattern::describe)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Pattern::Map { entries, partial } => format!(
                "{{{}{}}}",
                entries
                    .iter()
                    .map(|(k, p)| format!("\"{k}\":{}", p.describe()))
                    .collect::<Vec<_>>()
                    .join(","),
                if *partial { ",…" } else { "" }
            ),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn scalar_eq(pattern: &Value, actual: &Value) -> bool {
    match (pattern, actual) {
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Int(a), Value::UInt(b)) | (Value::UInt(b), Value::Int(a)) => {
            u64::try_from(*a).ok() == Some(*b)
        }
        (Value::F64(a), Value::F64(b)) => a == b || (a.is_nan() && b.is_nan()),
        _ => pattern == actual,
    }
}

fn is_tagged(v: &Value, tag: &str) -> bool {
    matches!(v, Value::Map(e) if e.first().and_then(|(k, _)| k.as_str()) == Some(tag))
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "bool" => matches!(v, Value::Bool(_)),
        "integer" => matches!(v, Value::Int(_) | Value::UInt(_)),
        "float" => matches!(v, Value::F64(_)) || is_tagged(v, "$f32") || is_tagged(v, "$f64"),
        "number" => {
            matches!(v, Value::Int(_) | Value::UInt(_) | Value::F64(_))
                || is_tagged(v, "$f32")
                || is_tagged(v, "$f64")
        }
        "string" => matches!(v, Value::String(_)),
        "array" => matches!(v, Value::Array(_)),
        "map" => {
            matches!(v, Value::Map(_))
                && !["$bin", "$timestamp", "$f32", "$f64", "$ext", "$map"]
                    .iter()
                    .any(|t| is_tagged(v, t))
                || is_tagged(v, "$map")
        }
        "bin" => is_tagged(v, "$bin"),
        "timestamp" => is_tagged(v, "$timestamp"),
        _ => false,
    }
}

/// Looks up a dotted path (`result`, `arguments.0`, `item.name`) in a notation value.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        cur = match cur {
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            Value::Map(_) => cur.get(seg, false)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(t: &str) -> Value {
        signalr_protocol::json::parse_value(t.as_bytes()).unwrap()
    }

    #[test]
    fn exact_and_matchers() {
        let p =
            Pattern::parse(r#"{"type":3,"invocationId":"1","result":{"$type":"string"}}"#).unwrap();
        assert!(p
            .matches_message(&v(r#"{"type":3,"invocationId":"1","result":"x"}"#))
            .is_ok());
        assert!(p
            .matches_message(&v(
                r#"{"type":3,"headers":{"a":"b"},"invocationId":"1","result":"x"}"#
            ))
            .is_ok());
        let e = p
            .matches_message(&v(r#"{"type":3,"invocationId":"1"}"#))
            .unwrap_err();
        assert!(e.contains("'result' is missing"), "{e}");
        let void = Pattern::parse(r#"{"type":3,"invocationId":"1"}"#).unwrap();
        let e = void
            .matches_message(&v(r#"{"type":3,"invocationId":"1","result":null}"#))
            .unwrap_err();
        assert!(e.contains("'result' is not expected"), "{e}");
        assert!(Pattern::parse("1").unwrap().matches(&v("1.0"), "").is_err());
        assert!(Pattern::parse(r#"{"$regex":"^s[0-9]+$"}"#)
            .unwrap()
            .matches(&v(r#""s12""#), "")
            .is_ok());
        assert!(Pattern::parse(r#"{"$oneOf":[1,"a"]}"#)
            .unwrap()
            .matches(&v(r#""a""#), "")
            .is_ok());
        assert!(Pattern::parse(r#"{"$type":"bin"}"#)
            .unwrap()
            .matches(&v(r#"{"$bin":"AQ=="}"#), "")
            .is_ok());
        assert!(Pattern::parse(r#"{"$type":"nope"}"#).is_err());
        let void_or_null = Pattern::parse(
            r#"{"type":3,"invocationId":"1","result":{"$oneOf":[{"$absent":true},null]}}"#,
        )
        .unwrap();
        assert!(void_or_null
            .matches_message(&v(r#"{"type":3,"invocationId":"1"}"#))
            .is_ok());
        assert!(void_or_null
            .matches_message(&v(r#"{"type":3,"invocationId":"1","result":null}"#))
            .is_ok());
        assert!(void_or_null
            .matches_message(&v(r#"{"type":3,"invocationId":"1","result":0}"#))
            .is_err());
    }

    #[test]
    fn paths() {
        let m = v(r#"{"type":1,"arguments":[{"a":[1,2]}]}"#);
        assert_eq!(lookup(&m, "arguments.0.a.1"), Some(&Value::Int(2)));
        assert_eq!(lookup(&m, "arguments.5"), None);
    }
}
