//! The three transports, under one type for the whole workspace.
//!
//! Negotiate spells them `WebSockets`, `ServerSentEvents`, `LongPolling`; `HttpTransportType`
//! gives them the flag values 1, 2, 4; case files and execution names use the short names
//! `websockets`, `sse`, `longpolling`.

use crate::framing::TransferFormat;

/// A transport.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum TransportKind {
    /// WebSockets.
    #[serde(rename = "websockets")]
    WebSockets,
    /// Server-Sent Events (+ POST).
    #[serde(rename = "sse")]
    ServerSentEvents,
    /// Long Polling (GET polls + POST + DELETE).
    #[serde(rename = "longpolling")]
    LongPolling,
}

impl TransportKind {
    /// All three, in ASP.NET Core's negotiate order.
    pub const ALL: [TransportKind; 3] = [
        TransportKind::WebSockets,
        TransportKind::ServerSentEvents,
        TransportKind::LongPolling,
    ];

    /// The name negotiate and `GetActiveTransportName` use.
    pub fn name(&self) -> &'static str {
        match self {
            TransportKind::WebSockets => "WebSockets",
            TransportKind::ServerSentEvents => "ServerSentEvents",
            TransportKind::LongPolling => "LongPolling",
        }
    }

    /// The short name used in case files and execution names (`websockets`, `sse`, `longpolling`).
    pub fn short(&self) -> &'static str {
        match self {
            TransportKind::WebSockets => "websockets",
            TransportKind::ServerSentEvents => "sse",
            TransportKind::LongPolling => "longpolling",
        }
    }

    /// `HttpTransportType` flag value.
    pub fn flag(&self) -> u8 {
        match self {
            TransportKind::WebSockets => 1,
            TransportKind::ServerSentEvents => 2,
            TransportKind::LongPolling => 4,
        }
    }

    /// Whether it carries the transfer format (Server-Sent Events carry text only).
    pub fn supports(&self, format: TransferFormat) -> bool {
        !(matches!(self, TransportKind::ServerSentEvents) && format == TransferFormat::Binary)
    }

    /// The transfer formats negotiate lists for it.
    pub fn transfer_formats(&self) -> &'static [&'static str] {
        match self {
            TransportKind::ServerSentEvents => &["Text"],
            _ => &["Text", "Binary"],
        }
    }

    /// Parses a short or negotiate name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.short().eq_ignore_ascii_case(s) || t.name().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in TransportKind::ALL {
            assert_eq!(TransportKind::parse(t.name()), Some(t));
            assert_eq!(TransportKind::parse(t.short()), Some(t));
        }
        assert_eq!(
            TransportKind::parse("LONGPOLLING"),
            Some(TransportKind::LongPolling)
        );
        assert_eq!(TransportKind::parse("polling"), None);
    }
}
