//! One line of an execution's wire transcript: recorded by the client, kept in the
//! [`super::Outcome`], rendered by the reports.

use serde::Serialize;

/// Direction of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client → server.
    Out,
    /// Server → client.
    In,
    /// A note from the harness.
    Note,
}

/// One transcript line.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Milliseconds since the case started.
    pub at_ms: u64,
    /// Which client (a, b, c …).
    pub client: String,
    /// Direction.
    pub dir: Direction,
    /// Layer: `http`, `ws`, `sse`, `lp`, `msg`, `handshake`, `note`.
    pub layer: &'static str,
    /// What happened (redacted).
    pub text: String,
}
