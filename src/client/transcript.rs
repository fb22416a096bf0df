//! The wire transcript of a case: every HTTP exchange, frame and decoded message, in order,
//! with secrets (connection tokens, access tokens, Authorization headers) redacted.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::result::{Direction, Event};

#[derive(Debug)]
struct Inner {
    start: Instant,
    events: Vec<Event>,
    secrets: Vec<String>,
    /// The target sent something over a transport (data or a close).
    answered: bool,
    /// A wait for the target ran out (no response, no upgrade, nothing arrived).
    waited_out: bool,
}

/// What the circuit breaker learns from a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The target sent data or closed a transport.
    Answered,
    /// A wait for the target ran out.
    WaitedOut,
}

/// A shared, append-only transcript.
#[derive(Debug, Clone)]
pub struct Transcript(Arc<Mutex<Inner>>);

/// At most this many events are kept (a flood must not exhaust memory).
const MAX_EVENTS: usize = 2_000;
/// Longest text kept per event.
const MAX_TEXT: usize = 2_000;

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}

impl Transcript {
    /// An empty transcript starting now.
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(Inner {
            start: Instant::now(),
            events: Vec::new(),
            secrets: Vec::new(),
            answered: false,
            waited_out: false,
        })))
    }

    /// Records what the circuit breaker needs to know.
    pub fn mark(&self, m: Mark) {
        if let Ok(mut i) = self.0.lock() {
            match m {
                Mark::Answered => i.answered = true,
                Mark::WaitedOut => i.waited_out = true,
            }
        }
    }

    /// A wait for the target ran out and the target never sent anything over a transport:
    /// the execution says the target is silent, not that it broke a requirement.
    pub fn target_silent(&self) -> bool {
        self.0.lock().is_ok_and(|i| i.waited_out && !i.answered)
    }

    /// The target sent something over a transport, or answered a request other than
    /// negotiate.
    pub fn target_answered(&self) -> bool {
        self.0.lock().is_ok_and(|i| i.answered)
    }

    /// Registers a value to redact wherever it appears (tokens).
    pub fn secret(&self, s: &str) {
        if s.len() >= 6 {
            if let Ok(mut i) = self.0.lock() {
                if !i.secrets.iter().any(|x| x == s) {
                    i.secrets.push(s.to_owned());
                }
            }
        }
    }

    /// `text` with every registered secret and every token-shaped value replaced by
    /// `<redacted>` (see [`redact_text`]): for failure texts and notes, which quote bodies and
    /// URLs the transcript also saw.
    pub fn redact(&self, text: &str) -> String {
        let mut text = redact_text(text);
        if let Ok(i) = self.0.lock() {
            for s in &i.secrets {
                if text.contains(s.as_str()) {
                    text = text.replace(s.as_str(), "<redacted>");
                }
            }
        }
        text
    }

    /// Appends an event.
    pub fn push(&self, client: &str, dir: Direction, layer: &'static str, text: impl Into<String>) {
        let Ok(mut i) = self.0.lock() else { return };
        if i.events.len() >= MAX_EVENTS {
            if i.events.len() == MAX_EVENTS {
                let at_ms = i.start.elapsed().as_millis() as u64;
                i.events.push(Event {
                    at_ms,
                    client: client.to_owned(),
                    dir: Direction::Note,
                    layer: "note",
                    text: "transcript truncated".into(),
                });
            }
            return;
        }
        let mut text: String = text.into();
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let total = text.len();
            text.truncate(cut);
            text.push_str(&format!("… ({total} bytes)"));
        }
        for s in &i.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "<redacted>");
            }
        }
        let text = redact_text(&text);
        let at_ms = i.start.elapsed().as_millis() as u64;
        i.events.push(Event {
            at_ms,
            client: client.to_owned(),
            dir,
            layer,
            text,
        });
    }

    /// A copy of the events.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|i| i.events.clone()).unwrap_or_default()
    }
}

/// Most bytes [`show_bytes`] renders: a 6.8 MB body must not become a 20 MB hex string
/// before the transcript cuts it to [`MAX_TEXT`] characters.
const MAX_SHOWN_BYTES: usize = 2_048;

/// Renders bytes for the transcript: text when it is printable UTF-8 (0x1E shown as `␞`),
/// hex otherwise. Past [`MAX_SHOWN_BYTES`] only the start is rendered, followed by the size.
pub fn show_bytes(b: &[u8]) -> String {
    if b.len() > MAX_SHOWN_BYTES {
        let mut cut = MAX_SHOWN_BYTES;
        // Do not split a UTF-8 sequence (at most 3 bytes back).
        while cut > MAX_SHOWN_BYTES - 3 && b.get(cut).is_some_and(|x| x & 0xC0 == 0x80) {
            cut -= 1;
        }
        return format!("{}… ({} bytes in all)", show_bytes(&b[..cut]), b.len());
    }
    match std::str::from_utf8(b) {
        Ok(s)
            if s.chars()
                .all(|c| !c.is_control() || c == '\u{1e}' || c == '\n' || c == '\r') =>
        {
            s.replace('\u{1e}', "␞")
        }
        _ => {
            let mut out = String::with_capacity(b.len() * 3);
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&format!("{x:02x}"));
            }
            format!("hex: {out}")
        }
    }
}

/// Redacts `id=`, `access_token=` query values and bearer tokens in a URL or header text.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for (i, part) in url.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (prefix, kv) = match part.find('?') {
            Some(q) => part.split_at(q + 1),
            None => ("", part),
        };
        out.push_str(prefix);
        match kv.split_once('=') {
            Some((k, _)) if k == "id" || k == "access_token" => {
                out.push_str(k);
                out.push_str("=<redacted>");
            }
            _ => out.push_str(kv),
        }
    }
    out
}

/// Longest quoted value (an expected or actual outcome, a reason, a note) kept in a failure
/// and the reports; the rest is cut and its size given, so a hostile body cannot blow up
/// stdout or a report.
pub const MAX_EXCERPT: usize = 600;

/// `text` cut to [`MAX_EXCERPT`] bytes (at a character boundary) with its full size appended.
pub fn excerpt(text: &str) -> String {
    excerpt_to(text, MAX_EXCERPT)
}

/// `text` cut to `max` bytes (at a character boundary) with its full size appended.
pub fn excerpt_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..cut], text.len())
}

/// Redacts values that are secrets by their shape, wherever they are quoted: `id=` and
/// `access_token=` in URLs, `connectionToken` / `accessToken` / `access_token` JSON
/// properties, and `Authorization` / `Bearer` header values.
pub fn redact_text(text: &str) -> String {
    use std::sync::OnceLock;
    // Most lines hold none of the words the patterns start with: skip the patterns.
    let lower = text.to_ascii_lowercase();
    if !["id=", "token", "authorization", "bearer"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return text.to_owned();
    }
    static PATTERNS: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            // URL query values.
            r"([?&](?:id|access_token)=)[^&\s\x22'<>]+",
            // JSON properties (the negotiate response's tokens, any access token).
            // (also when quoted again, as in `"{\"connectionToken\":\"…\"}"`)
            r#"((?i)\\*"(?:connectionToken|accessToken|access_token)\\*"\s*:\s*\\*")[^"\\]+"#,
            // Header values.
            r"((?i)authorization\s*[:=]\s*(?:bearer\s+)?)[^\s\x22',;]+",
            r"((?i)\bbearer\s+)[A-Za-z0-9\-._~+/]+=*",
        ]
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect()
    });
    let mut out = std::borrow::Cow::Borrowed(text);
    for p in patterns {
        if p.is_match(&out) {
            out = std::borrow::Cow::Owned(p.replace_all(&out, "${1}<redacted>").into_owned());
        }
    }
    out.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("http://h/hub?id=abc&x=1&access_token=zzz"),
            "http://h/hub?id=<redacted>&x=1&access_token=<redacted>"
        );
        let t = Transcript::new();
        t.secret("supersecret");
        t.push(
            "a",
            Direction::In,
            "http",
            "{\"connectionToken\":\"supersecret\"}",
        );
        assert!(t.events()[0].text.contains("<redacted>"));
        assert_eq!(show_bytes(b"{}\x1e"), "{}␞");
        assert_eq!(show_bytes(&[0x91, 0x06]), "hex: 91 06");
    }

    #[test]
    fn secrets_are_redacted_by_shape() {
        let t = redact_text(
            r#"{"connectionId":"c1","connectionToken":"tok-123456","accessToken":"jwt.abc"} GET http://h/hub?id=tok-123456&x=1 Authorization: Bearer abc.def=="#,
        );
        assert!(
            !t.contains("tok-123456") && !t.contains("jwt.abc") && !t.contains("abc.def"),
            "{t}"
        );
        assert!(
            t.contains(r#""connectionId":"c1""#) && t.contains("&x=1"),
            "{t}"
        );
    }

    #[test]
    fn excerpts_keep_the_start_and_name_the_size() {
        let long = "é".repeat(1_000);
        let e = excerpt(&long);
        assert!(e.len() < MAX_EXCERPT + 40, "{}", e.len());
        assert!(e.ends_with("… (2000 bytes in all)"), "{e}");
        assert_eq!(excerpt("short"), "short");
        let shown = show_bytes(&vec![b'a'; 100_000]);
        assert!(shown.len() < 2_100 && shown.ends_with("(100000 bytes in all)"));
    }
}
