//! A JSON lexer over one payload that accepts only what serde_json accepts and reads it the way
//! serde_json reads it (same numbers, same strings), and gives up (`None`) on anything else.
//!
//! It exists for speed: the hub reader runs it first and hands any payload it gives up on to the
//! serde_json reader, which then produces ASP.NET Core's error. So giving up is always safe;
//! accepting what serde_json would reject, or reading a different value, is the one thing it must
//! never do (`fast_and_reference_agree` in tests/properties.rs holds it to that).

use std::borrow::Cow;

use crate::scan;

/// A number as serde_json classifies it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    /// A non-negative integer that fits `u64`.
    U64(u64),
    /// A negative integer that fits `i64`.
    I64(i64),
    /// Anything with a fraction or exponent, and `-0` and negative integers below `i64::MIN`.
    F64(f64),
}

/// A byte that ends a run of plain string content: `"`, `\` or a control character.
const fn ends_run(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// [`ends_run`], or a byte past ASCII: one signed compare tests both `< 0x20` and `>= 0x80`,
/// which makes the block test cheaper than [`ends_run`]'s.
const fn ends_ascii_run(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | ((b as i8) < 0x20)
}

/// The index of the first byte at or after `from` that [`ends_run`], or `bytes.len()`.
#[inline]
pub(super) fn find_run_end(bytes: &[u8], from: usize) -> usize {
    scan::position_by_mask(bytes, from, ends_run)
}

/// [`find_run_end`] for a string's first run: ASCII text with the cheaper test, from the first
/// byte past ASCII on with the exact one. The runs between escapes keep the exact test: short
/// runs starting with the cheaper one made System.Text.Json-escaped text 2 % slower to read.
#[inline]
pub(super) fn find_first_run_end(bytes: &[u8], from: usize) -> usize {
    let i = scan::position_by_mask(bytes, from, ends_ascii_run);
    match bytes.get(i) {
        Some(&b) if b >= 0x80 => find_run_end(bytes, i),
        _ => i,
    }
}

/// The value of each byte as a hex digit (either case, as serde_json reads `\u`), or -1.
static HEX_VALUE: [i8; 256] = {
    let mut t = [-1i8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as i8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as i8;
        t[b'A' as usize + i] = 10 + i as i8;
        i += 1;
    }
    t
};

/// A cursor over one payload.
pub(super) struct Lexer<'a> {
    /// The payload, validated as UTF-8 once: every run of string content is a slice of it.
    text: &'a str,
    buf: &'a [u8],
    pos: usize,
    /// Where escaped strings are decoded: reused, so a string grows no buffer of its own.
    scratch: String,
}

impl<'a> Lexer<'a> {
    /// A lexer over `payload`; `None` unless it is all UTF-8 (JSON allows other bytes nowhere
    /// but inside strings, where serde_json refuses them as well; bytes after the message,
    /// which the reference reader never looks at, are left to it).
    pub(super) fn new(payload: &'a [u8]) -> Option<Self> {
        // simdutf8 picks the vector width at run time: 0.1 instructions a byte of ASCII against
        // the standard library's 0.5.
        let text = simdutf8::basic::from_utf8(payload).ok()?;
        Some(Self {
            text,
            buf: payload,
            pos: 0,
            scratch: String::new(),
        })
    }

    /// Skips JSON white space and returns the next byte without consuming it.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.buf.get(self.pos) {
            match b {
                b' ' | b'\n' | b'\t' | b'\r' => self.pos += 1,
                _ => return Some(b),
            }
        }
        None
    }

    /// Whether only white space is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Consumes `b` (after white space), or gives up.
    #[inline]
    pub(super) fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// Consumes `b` (after white space) if it is next.
    #[inline]
    pub(super) fn eat_if(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Consumes a literal's bytes (`null`, `true`, `false`) after its first one was peeked.
    pub(super) fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.buf.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// After `[` or `{` and the first element: consumes `,` (true) or `close` (false).
    #[inline]
    pub(super) fn next_or_close(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(true)
            }
            b if b == close => {
                self.pos += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// A string (after white space, opening quote included): borrowed when it has no escapes.
    #[inline]
    pub(super) fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = find_first_run_end(self.buf, start);
        // Runs end at ASCII bytes, so they are whole characters.
        let run = self.text.get(start..end)?;
        match self.buf.get(end)? {
            b'"' => {
                self.pos = end + 1;
                Some(Cow::Borrowed(run))
            }
            b'\\' => {
                let mut out = std::mem::take(&mut self.scratch);
                out.clear();
                out.push_str(run);
                self.pos = end;
                let done = self.escaped_string(&mut out);
                // A clone is allocated at its exact length.
                let owned = done.map(|()| Cow::Owned(out.clone()));
                self.scratch = out;
                owned
            }
            _ => None,
        }
    }

    /// The rest of a string from an escape on, appended to `out`.
    fn escaped_string(&mut self, out: &mut String) -> Option<()> {
        loop {
            // At a backslash.
            let esc = *self.buf.get(self.pos + 1)?;
            self.pos += 2;
            match esc {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let unit = self.hex4()?;
                    let c = match unit {
                        0xD800..=0xDBFF => {
                            // A surrogate pair; serde_json refuses anything else here.
                            if self.buf.get(self.pos..self.pos + 2)? != b"\\u" {
                                return None;
                            }
                            self.pos += 2;
                            let low = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&low) {
                                return None;
                            }
                            let cp = 0x10000
                                + ((u32::from(unit) - 0xD800) << 10)
                                + (u32::from(low) - 0xDC00);
                            char::from_u32(cp)?
                        }
                        0xDC00..=0xDFFF => return None,
                        _ => char::from_u32(u32::from(unit))?,
                    };
                    out.push(c);
                }
                _ => return None,
            }
            let start = self.pos;
            let end = find_run_end(self.buf, start);
            out.push_str(self.text.get(start..end)?);
            self.pos = end;
            match self.buf.get(end)? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {}
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let d = self.buf.get(self.pos..self.pos + 4)?;
        let digit = |i: usize| i32::from(d.get(i).map_or(-1, |&b| HEX_VALUE[usize::from(b)]));
        // A bad digit is -1, which makes the whole sum negative.
        let n = (digit(0) << 12) | (digit(1) << 8) | (digit(2) << 4) | digit(3);
        self.pos += 4;
        u16::try_from(n).ok()
    }

    /// A number (after white space), classified as serde_json classifies it.
    pub(super) fn number(&mut self) -> Option<Number> {
        self.peek()?;
        let start = self.pos;
        let negative = self.buf.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let mut significand: u64 = match self.buf.get(self.pos)? {
            b'0' => {
                self.pos += 1;
                if self.buf.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
                0
            }
            b @ b'1'..=b'9' => {
                self.pos += 1;
                u64::from(b - b'0')
            }
            _ => return None,
        };
        while let Some(&b) = self.buf.get(self.pos) {
            if !b.is_ascii_digit() {
                break;
            }
            // serde_json reads a longer integer as a float: leave that to it.
            significand = significand
                .checked_mul(10)?
                .checked_add(u64::from(b - b'0'))?;
            self.pos += 1;
        }
        match self.buf.get(self.pos) {
            Some(b'.' | b'e' | b'E') => self.float(start),
            _ if !negative => Some(Number::U64(significand)),
            _ => {
                let neg = (significand as i64).wrapping_neg();
                // serde_json's rule: `-0` and integers below i64::MIN are floats.
                Some(if neg >= 0 {
                    Number::F64(-(significand as f64))
                } else {
                    Number::I64(neg)
                })
            }
        }
    }

    /// The fraction and exponent of a number that started at `start`.
    fn float(&mut self, start: usize) -> Option<Number> {
        if self.buf.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.buf.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.buf.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        // Both parsers round correctly (serde_json with `float_roundtrip`); serde_json refuses
        // what overflows, so leave that to it.
        let f: f64 = self.text.get(start..self.pos)?.parse().ok()?;
        f.is_finite().then_some(Number::F64(f))
    }

    /// One or more ASCII digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.pos;
        while self.buf.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        (self.pos > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both run scans, which must agree.
    fn run_end(bytes: &[u8], from: usize) -> usize {
        let exact = find_run_end(bytes, from);
        assert_eq!(find_first_run_end(bytes, from), exact);
        exact
    }

    #[test]
    fn run_end_found_in_words_and_tails() {
        let text = b"0123456789abcdef\"";
        assert_eq!(run_end(text, 0), 16);
        assert_eq!(run_end(b"abc\\", 0), 3);
        assert_eq!(run_end(b"abcdefgh\x01", 0), 8);
        assert_eq!(run_end("é€日本語😀\x7f".as_bytes(), 0), 19);
        assert_eq!(run_end(b"", 0), 0);
    }

    #[test]
    fn run_ends_at_every_offset() {
        // Across and inside the scanner's 32-byte blocks, with bytes on both sides of the
        // tested ranges (0x20, 0x7f, non-ASCII) around the hit.
        for len in 0..100 {
            for at in 0..len {
                for end in [b'"', b'\\', 0x00, 0x1f] {
                    let mut b: Vec<u8> =
                        (0..len).map(|i| [b' ', 0x7f, 0xc3, b'a'][i % 4]).collect();
                    b[at] = end;
                    assert_eq!(run_end(&b, 0), at, "{len} {at} {end}");
                    assert_eq!(run_end(&b, at), at);
                }
            }
            assert_eq!(run_end(&vec![b'a'; len], 0), len);
        }
    }

    #[test]
    fn strings() {
        let s = |t: &str| Lexer::new(t.as_bytes())?.string().map(Cow::into_owned);
        assert_eq!(s(r#""plain""#).as_deref(), Some("plain"));
        assert_eq!(
            s(r#""a\"b\\c\/\b\f\n\r\t""#).as_deref(),
            Some("a\"b\\c/\u{8}\u{c}\n\r\t")
        );
        assert_eq!(
            s(r#""\u00e9\u20AC\uD83D\uDE00x""#).as_deref(),
            Some("é€😀x")
        );
        assert_eq!(s(r#""\uD83D""#), None);
        assert_eq!(s(r#""\uDE00""#), None);
        assert_eq!(s(r#""\uD83D\u0041""#), None);
        assert_eq!(s(r#""\x""#), None);
        assert_eq!(s("\"a\nb\""), None);
        assert_eq!(s("\"unterminated"), None);
        assert!(Lexer::new(b"\"\xff\"").is_none());
    }

    #[test]
    fn numbers() {
        let n = |t: &str| Lexer::new(t.as_bytes())?.number();
        assert_eq!(n("0"), Some(Number::U64(0)));
        assert_eq!(n("18446744073709551615"), Some(Number::U64(u64::MAX)));
        assert_eq!(n("18446744073709551616"), None);
        assert_eq!(n("-9223372036854775808"), Some(Number::I64(i64::MIN)));
        assert_eq!(
            n("-9223372036854775809"),
            Some(Number::F64(-9223372036854775809.0))
        );
        assert!(matches!(n("-0"), Some(Number::F64(f)) if f == 0.0 && f.is_sign_negative()));
        assert_eq!(n("1.5e3"), Some(Number::F64(1500.0)));
        assert_eq!(n("01"), None);
        assert_eq!(n("1."), None);
        assert_eq!(n("1e"), None);
        assert_eq!(n("1e999"), None);
        assert_eq!(n("-"), None);
    }
}
