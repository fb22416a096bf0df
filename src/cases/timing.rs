//! Timing expressions: `2000`, `keepAliveInterval * 2 + 1000`, `(clientTimeoutInterval + 500) * 1.5`.
//! Names: `keepAliveInterval`, `clientTimeoutInterval`, `handshakeTimeout`, `disconnectTimeout`,
//! `longPollTimeout`.
//! Names are the target's timers in milliseconds, as `Describe` declares them (ASP.NET Core's
//! defaults when it does not).
//!
//! Case files are parsed once, at load: a [`Timing`] holds the parsed form and is evaluated
//! against the target's timers when an execution needs it.

/// The target's timers in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timers {
    /// `KeepAliveInterval`.
    pub keep_alive_interval: f64,
    /// `ClientTimeoutInterval`.
    pub client_timeout_interval: f64,
    /// `HandshakeTimeout`.
    pub handshake_timeout: f64,
    /// `DisconnectTimeout` (connection options).
    pub disconnect_timeout: f64,
    /// `LongPolling.PollTimeout` (connection options).
    pub long_poll_timeout: f64,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            keep_alive_interval: 15_000.0,
            client_timeout_interval: 30_000.0,
            handshake_timeout: 15_000.0,
            disconnect_timeout: 15_000.0,
            long_poll_timeout: 90_000.0,
        }
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number of milliseconds.
    Num(f64),
    /// A timer.
    Name(Timer),
    /// `a + b`.
    Add(Box<Expr>, Box<Expr>),
    /// `a - b`.
    Sub(Box<Expr>, Box<Expr>),
    /// `a * b`.
    Mul(Box<Expr>, Box<Expr>),
}

/// A timer an expression can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// `keepAliveInterval`.
    KeepAliveInterval,
    /// `clientTimeoutInterval`.
    ClientTimeoutInterval,
    /// `handshakeTimeout`.
    HandshakeTimeout,
    /// `disconnectTimeout`.
    DisconnectTimeout,
    /// `longPollTimeout`.
    LongPollTimeout,
}

const NAMES: &[(&str, Timer)] = &[
    ("keepAliveInterval", Timer::KeepAliveInterval),
    ("clientTimeoutInterval", Timer::ClientTimeoutInterval),
    ("handshakeTimeout", Timer::HandshakeTimeout),
    ("disconnectTimeout", Timer::DisconnectTimeout),
    ("longPollTimeout", Timer::LongPollTimeout),
];

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn expr(&mut self) -> Result<Expr, String> {
        let mut l = self.term()?;
        loop {
            self.ws();
            match self.s.get(self.i) {
                Some(b'+') => {
                    self.i += 1;
                    l = Expr::Add(Box::new(l), Box::new(self.term()?));
                }
                Some(b'-') => {
                    self.i += 1;
                    l = Expr::Sub(Box::new(l), Box::new(self.term()?));
                }
                _ => return Ok(l),
            }
        }
    }
    fn term(&mut self) -> Result<Expr, String> {
        let mut l = self.factor()?;
        loop {
            self.ws();
            if self.s.get(self.i) == Some(&b'*') {
                self.i += 1;
                l = Expr::Mul(Box::new(l), Box::new(self.factor()?));
            } else {
                return Ok(l);
            }
        }
    }
    fn factor(&mut self) -> Result<Expr, String> {
        self.ws();
        let start = self.i;
        match self.s.get(self.i) {
            Some(b'(') => {
                self.i += 1;
                let e = self.expr()?;
                self.ws();
                if self.s.get(self.i) != Some(&b')') {
                    return Err("missing ')'".into());
                }
                self.i += 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || *c == b'.' => {
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'.')
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                t.parse()
                    .map(Expr::Num)
                    .map_err(|_| format!("bad number '{t}'"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                match NAMES.iter().find(|(n, _)| *n == t) {
                    Some((_, timer)) => Ok(Expr::Name(*timer)),
                    None => {
                        let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                        Err(format!("unknown name '{t}' (one of {})", names.join(", ")))
                    }
                }
            }
            _ => Err(format!(
                "expected a number, a name or '(' at offset {}",
                self.i
            )),
        }
    }
}

/// Parses an expression.
pub fn parse(text: &str) -> Result<Expr, String> {
    let mut p = P {
        s: text.as_bytes(),
        i: 0,
    };
    let e = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text at offset {}", p.i));
    }
    Ok(e)
}

impl Expr {
    /// Milliseconds for these timers (never negative).
    pub fn eval(&self, t: &Timers) -> f64 {
        let v = match self {
            Expr::Num(n) => *n,
            Expr::Name(n) => match n {
                Timer::KeepAliveInterval => t.keep_alive_interval,
                Timer::ClientTimeoutInterval => t.client_timeout_interval,
                Timer::DisconnectTimeout => t.disconnect_timeout,
                Timer::LongPollTimeout => t.long_poll_timeout,
                Timer::HandshakeTimeout => t.handshake_timeout,
            },
            Expr::Add(a, b) => a.eval(t) + b.eval(t),
            Expr::Sub(a, b) => a.eval(t) - b.eval(t),
            Expr::Mul(a, b) => a.eval(t) * b.eval(t),
        };
        v.max(0.0)
    }
}

/// A duration of a case: milliseconds, or a parsed expression over the target's timers.
#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    /// Milliseconds.
    Ms(u64),
    /// An expression (`keepAliveInterval * 2 + 1000`).
    Expr(Expr),
}

impl Timing {
    /// Parses the text form of a case file.
    pub fn parse(text: &str) -> Result<Timing, String> {
        parse(text).map(Timing::Expr)
    }

    /// Milliseconds for these timers (never negative).
    pub fn millis(&self, t: &Timers) -> f64 {
        match self {
            Timing::Ms(ms) => *ms as f64,
            Timing::Expr(e) => e.eval(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let t = Timers::default();
        assert_eq!(parse("2000").unwrap().eval(&t), 2000.0);
        assert_eq!(
            parse("keepAliveInterval * 2 + 1000").unwrap().eval(&t),
            31_000.0
        );
        assert_eq!(
            parse("(handshakeTimeout + 500) * 1.5").unwrap().eval(&t),
            23_250.0
        );
        assert!(parse("keepalive").is_err());
        assert!(parse("1 +").is_err());
    }
}
