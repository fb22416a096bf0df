//! Argument, item and result values, kept in the type they had on the wire.
//!
//! One value model serves both hub protocols so that a hub can echo or broadcast what it received
//! to peers speaking either protocol. Each protocol writes the types it has natively; the others
//! are written the way ASP.NET Core's serializers write the .NET type they map to (a MessagePack
//! `bin` becomes a base64 string in JSON, a timestamp an ISO 8601 UTC string).

/// A MessagePack timestamp (extension type −1): seconds since the Unix epoch plus nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (may be negative).
    pub seconds: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// A timestamp; `None` when `nanoseconds` is not below one second.
    pub fn new(seconds: i64, nanoseconds: u32) -> Option<Self> {
        (nanoseconds < 1_000_000_000).then_some(Self {
            seconds,
            nanoseconds,
        })
    }

    /// Decodes the payload of extension −1 (4, 8 or 12 bytes); `None` for any other shape.
    pub fn from_ext_payload(data: &[u8]) -> Option<Self> {
        match data.len() {
            4 => {
                let secs = u32::from_be_bytes(data.try_into().ok()?);
                Self::new(i64::from(secs), 0)
            }
            8 => {
                let raw = u64::from_be_bytes(data.try_into().ok()?);
                let nanos = (raw >> 34) as u32;
                let secs = (raw & 0x3_ffff_ffff) as i64;
                Self::new(secs, nanos)
            }
            12 => {
                let nanos = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?);
                let secs = i64::from_be_bytes(data.get(4..12)?.try_into().ok()?);
                Self::new(secs, nanos)
            }
            _ => None,
        }
    }

    /// The smallest extension payload that holds this timestamp (as MessagePack-CSharp writes it).
    pub fn to_ext_payload(&self) -> Vec<u8> {
        if (self.seconds as u64) >> 34 == 0 && self.seconds >= 0 {
            let data64 = (u64::from(self.nanoseconds) << 34) | self.seconds as u64;
            if data64 & 0xffff_ffff_0000_0000 == 0 {
                (data64 as u32).to_be_bytes().to_vec()
            } else {
                data64.to_be_bytes().to_vec()
            }
        } else {
            let mut out = Vec::with_capacity(12);
            out.extend_from_slice(&self.nanoseconds.to_be_bytes());
            out.extend_from_slice(&self.seconds.to_be_bytes());
            out
        }
    }

    /// ISO 8601 UTC text the way System.Text.Json writes a UTC `DateTime`
    /// (`2018-01-01T11:24:00Z`, fractions trimmed of trailing zeros, at most 7 digits).
    pub fn to_iso8601(&self) -> String {
        let days = self.seconds.div_euclid(86_400);
        let secs_of_day = self.seconds.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (
            secs_of_day / 3600,
            (secs_of_day / 60) % 60,
            secs_of_day % 60,
        );
        let mut s = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
        // .NET DateTime has 100 ns ticks: 7 fractional digits at most.
        let ticks = self.nanoseconds / 100;
        if ticks != 0 {
            let frac = format!("{ticks:07}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s.push('Z');
        s
    }

    /// Parses the text [`Timestamp::to_iso8601`] writes (`YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`).
    pub fn parse_iso8601(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 || *b.last()? != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let s = text.get(r)?;
            if s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        if b.get(4) != Some(&b'-')
            || b.get(7) != Some(&b'-')
            || b.get(10) != Some(&b'T')
            || b.get(13) != Some(&b':')
            || b.get(16) != Some(&b':')
        {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        let rest = text.get(19..text.len() - 1)?;
        let nanos = if rest.is_empty() {
            0
        } else {
            let digits = rest.strip_prefix('.')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let mut n: u32 = digits.parse().ok()?;
            for _ in digits.len()..9 {
                n *= 10;
            }
            n
        };
        let days = days_from_civil(y, mo as u32, d as u32);
        Self::new(days * 86_400 + h * 3600 + mi * 60 + s, nanos)
    }
}

// Howard Hinnant's civil-date algorithms (public domain), for proleptic Gregorian dates.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A payload value exactly as it was on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null` / MessagePack `nil`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX` (MessagePack uint64, or a large JSON integer).
    UInt(u64),
    /// A MessagePack float32.
    F32(f32),
    /// A MessagePack float64, or a JSON number with a fraction or exponent.
    F64(f64),
    /// A UTF-8 string.
    String(String),
    /// MessagePack `bin` (a .NET `byte[]`).
    Binary(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
    /// A map / JSON object, in wire order (JSON keys are always `Value::String`).
    Map(Vec<(Value, Value)>),
    /// MessagePack timestamp extension (−1), a .NET `DateTime`.
    Timestamp(Timestamp),
    /// Any other MessagePack extension, or a −1 extension that is not a valid timestamp.
    Ext(i8, Vec<u8>),
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    /// About how many bytes this value takes in either hub protocol (see
    /// [`HubMessage::encoded_len_hint`](crate::HubMessage::encoded_len_hint)).
    pub fn encoded_len_hint(&self) -> usize {
        let base64 = |n: usize| n.div_ceil(3) * 4 + 2;
        match self {
            Value::Null | Value::Bool(_) => 5,
            Value::Int(_) | Value::UInt(_) | Value::F32(_) | Value::F64(_) => 20,
            Value::String(s) => s.len() + 2,
            Value::Binary(b) | Value::Ext(_, b) => base64(b.len()),
            Value::Timestamp(_) => 32,
            Value::Array(items) => {
                2 + items
                    .iter()
                    .map(|v| v.encoded_len_hint() + 1)
                    .sum::<usize>()
            }
            Value::Map(entries) => {
                2 + entries
                    .iter()
                    .map(|(k, v)| k.encoded_len_hint() + v.encoded_len_hint() + 2)
                    .sum::<usize>()
            }
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer that fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    /// The number as `f64`, if this is any number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::F32(f) => Some(f64::from(*f)),
            Value::F64(f) => Some(*f),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Looks up a map entry by string key; `case_insensitive` follows System.Text.Json's
    /// `PropertyNameCaseInsensitive`.
    pub fn get(&self, key: &str, case_insensitive: bool) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find_map(|(k, v)| match k {
                Value::String(s) if s == key => Some(v),
                Value::String(s) if case_insensitive && s.eq_ignore_ascii_case(key) => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// A short name of the wire type, for error messages ("string", "bin", "timestamp" …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::F32(_) => "float32",
            Value::F64(_) => "float64",
            Value::String(_) => "string",
            Value::Binary(_) => "bin",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Timestamp(_) => "timestamp",
            Value::Ext(..) => "ext",
        }
    }

    /// Converts a `serde_json::Value` (no information is lost: JSON has no other types).
    pub fn from_json(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (Value::String(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::F64(f)
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_forms() {
        let t = Timestamp::new(1_514_805_840, 0).unwrap();
        assert_eq!(t.to_ext_payload(), vec![0x5a, 0x4a, 0x1a, 0x50]);
        assert_eq!(t.to_iso8601(), "2018-01-01T11:24:00Z");
        assert_eq!(Timestamp::parse_iso8601("2018-01-01T11:24:00Z"), Some(t));
        let t2 = Timestamp::new(946_684_800, 0).unwrap();
        assert_eq!(t2.to_iso8601(), "2000-01-01T00:00:00Z");
        let t3 = Timestamp::new(1, 500_000_000).unwrap();
        assert_eq!(t3.to_ext_payload().len(), 8);
        assert_eq!(Timestamp::from_ext_payload(&t3.to_ext_payload()), Some(t3));
        assert_eq!(t3.to_iso8601(), "1970-01-01T00:00:01.5Z");
        let neg = Timestamp::new(-1, 0).unwrap();
        assert_eq!(neg.to_ext_payload().len(), 12);
        assert_eq!(
            Timestamp::from_ext_payload(&neg.to_ext_payload()),
            Some(neg)
        );
        assert_eq!(neg.to_iso8601(), "1969-12-31T23:59:59Z");
        assert_eq!(Timestamp::parse_iso8601("1969-12-31T23:59:59Z"), Some(neg));
        assert_eq!(Timestamp::from_ext_payload(&[1, 2, 3]), None);
    }
}
