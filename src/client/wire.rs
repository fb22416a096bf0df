//! How bytes go on the wire: cut into frames or POST bodies ([`Chunking`]), as text or binary
//! WebSocket frames ([`FrameKind`]), and the most the client buffers ([`MAX_RECEIVE`]).

/// The most the client buffers for one thing a server sends — a hub message, an HTTP response
/// body, an SSE line or event. A server past it (a message without end, an endless body) fails
/// the step with an error saying so instead of growing memory without bound.
pub const MAX_RECEIVE: usize = 64 << 20;

/// How to cut bytes into transport frames / request bodies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Chunking {
    /// All in one frame.
    #[default]
    Whole,
    /// Frames of at most this many bytes.
    Size(usize),
    /// Cut at these offsets.
    At(Vec<usize>),
}

impl Chunking {
    /// Splits `bytes` accordingly (never empty pieces, except for empty input).
    pub fn split<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        match self {
            Chunking::Whole => vec![bytes],
            Chunking::Size(n) => {
                let n = (*n).max(1);
                if bytes.is_empty() {
                    vec![bytes]
                } else {
                    bytes.chunks(n).collect()
                }
            }
            Chunking::At(cuts) => {
                let mut out = Vec::new();
                let mut prev = 0;
                for &c in cuts {
                    let c = c.min(bytes.len());
                    if c > prev {
                        out.push(&bytes[prev..c]);
                        prev = c;
                    }
                }
                if prev < bytes.len() || out.is_empty() {
                    out.push(&bytes[prev..]);
                }
                out
            }
        }
    }
}

/// Whether WebSocket frames carry text or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Text frames.
    Text,
    /// Binary frames.
    Binary,
}
