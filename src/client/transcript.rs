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
        })))
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

/// Renders bytes for the transcript: text when it is printable UTF-8 (0x1E shown as `␞`),
/// hex otherwise.
pub fn show_bytes(b: &[u8]) -> String {
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
}
