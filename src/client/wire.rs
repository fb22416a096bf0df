//! How bytes go on the wire: cut into frames or POST bodies ([`Chunking`]), as text or binary
//! WebSocket frames ([`FrameKind`]), and the most the client buffers ([`MAX_RECEIVE`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

/// The most the client buffers for one thing a server sends — a hub message, an HTTP response
/// body, an SSE line or event, a WebSocket message. A server past it (a message without end,
/// an endless body) fails the step with an error saying so instead of growing memory without
/// bound. 2 MiB: 64 times the hub protocol's default message limit (32 KB), 20 times the
/// largest message a case asks for.
pub const MAX_RECEIVE: usize = 2 << 20;

/// The most all executions of a run buffer together from the target (bodies being read,
/// received data waiting to be parsed, partial messages and SSE lines): parallel executions
/// share it, so `--jobs 16` against a target that floods every response holds this much, not
/// 16 × the per-thing limit. A reader that would go past it waits (the target sees TCP
/// back-pressure) until other executions let go, at most [`BUDGET_WAIT`]. A WebSocket
/// message being assembled by tungstenite counts too ([`Budgeted`]), give or take one socket
/// read per connection.
pub const RECEIVE_BUDGET: usize = 64 << 20;

/// Longest a reader waits for the shared budget before its step ends with an ERROR.
pub const BUDGET_WAIT: Duration = Duration::from_secs(10);

static BUDGET_USED: AtomicUsize = AtomicUsize::new(0);
static BUDGET_FREED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// The shared budget stayed exhausted for [`BUDGET_WAIT`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("conform's receive budget ({} MiB shared by parallel executions) stayed exhausted for {}s", RECEIVE_BUDGET >> 20, BUDGET_WAIT.as_secs())]
pub struct BudgetExhausted;

/// Bytes counted against [`RECEIVE_BUDGET`] while this lives.
#[derive(Debug, Default)]
pub(crate) struct Held(usize);

impl Held {
    /// Holds exactly `n` bytes: gives back at once when smaller; when larger, waits for the
    /// budget (at most [`BUDGET_WAIT`]). A single claim larger than the whole budget is
    /// granted when nothing else is held, so one legal large message always gets through.
    pub(crate) async fn resize(&mut self, n: usize) -> Result<(), BudgetExhausted> {
        self.resize_within(n, BUDGET_WAIT).await
    }

    async fn resize_within(&mut self, n: usize, wait: Duration) -> Result<(), BudgetExhausted> {
        if n <= self.0 {
            self.release(self.0 - n);
            return Ok(());
        }
        let more = n - self.0;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = BUDGET_FREED.notified();
            let used = BUDGET_USED.load(Ordering::Acquire);
            let fits = used + more <= RECEIVE_BUDGET || used == self.0;
            if fits {
                if BUDGET_USED
                    .compare_exchange(used, used + more, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.0 = n;
                    return Ok(());
                }
                continue;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(BudgetExhausted);
            }
        }
    }

    fn release(&mut self, n: usize) {
        if n > 0 {
            BUDGET_USED.fetch_sub(n, Ordering::AcqRel);
            self.0 -= n;
            BUDGET_FREED.notify_waiters();
        }
    }

    /// `data` as `Bytes` that keep this claim until the last clone is dropped.
    pub(crate) fn into_bytes(self, data: Vec<u8>) -> Bytes {
        if self.0 == 0 {
            return Bytes::from(data);
        }
        Bytes::from_owner(HeldBytes(data, self))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let n = self.0;
        self.release(n);
    }
}

struct HeldBytes(Vec<u8>, #[allow(dead_code)] Held);

impl AsRef<[u8]> for HeldBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Bytes held from the target right now, by every execution (for tests and probes).
pub fn budget_in_use() -> usize {
    BUDGET_USED.load(Ordering::Acquire)
}

/// Bytes a WebSocket has read from its socket and not yet handed over as a message.
/// tungstenite assembles a message (fragments included) inside the stream, out of reach: what
/// the socket has read since the last message is what that costs, so that is what counts
/// against [`RECEIVE_BUDGET`] until the next message (or the end) is delivered.
#[derive(Debug, Default)]
pub(crate) struct Assembling(AtomicUsize);

impl Assembling {
    /// A message or the end was delivered: gives back what was read up to now (bytes of the
    /// next message already read go back with it: at most one read early).
    pub(crate) fn delivered(&self) {
        let n = self.0.swap(0, Ordering::AcqRel);
        if n > 0 {
            BUDGET_USED.fetch_sub(n, Ordering::AcqRel);
            BUDGET_FREED.notify_waiters();
        }
    }

    fn read(&self, n: usize) {
        BUDGET_USED.fetch_add(n, Ordering::AcqRel);
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    /// Whether others hold the whole budget (what this holds alone is always allowed, as with
    /// [`Held`]: one large legal message gets through).
    fn exhausted(&self) -> bool {
        let used = BUDGET_USED.load(Ordering::Acquire);
        used >= RECEIVE_BUDGET && used > self.0.load(Ordering::Acquire)
    }
}

impl Drop for Assembling {
    fn drop(&mut self) {
        self.delivered();
    }
}

/// A socket whose reads count against [`RECEIVE_BUDGET`] (see [`Assembling`]): a read waits
/// while the budget is exhausted by others (the target sees TCP back-pressure), and fails
/// after [`BUDGET_WAIT`].
pub(crate) struct Budgeted<S> {
    inner: S,
    assembling: std::sync::Arc<Assembling>,
    freed: Option<std::pin::Pin<Box<tokio::sync::futures::Notified<'static>>>>,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Budgeted<S> {
    pub(crate) fn new(inner: S, assembling: std::sync::Arc<Assembling>) -> Self {
        Budgeted {
            inner,
            assembling,
            freed: None,
            deadline: None,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Budgeted<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        loop {
            // Registered before the check, so a release between the two is not missed.
            let freed = this
                .freed
                .get_or_insert_with(|| Box::pin(BUDGET_FREED.notified()));
            if !this.assembling.exhausted() {
                this.freed = None;
                this.deadline = None;
                break;
            }
            if freed.as_mut().poll(cx).is_ready() {
                this.freed = None;
                continue;
            }
            let deadline = this
                .deadline
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(BUDGET_WAIT)));
            if deadline.as_mut().poll(cx).is_ready() {
                this.freed = None;
                this.deadline = None;
                return Poll::Ready(Err(std::io::Error::other(BudgetExhausted)));
            }
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            this.assembling.read(n);
        }
        polled
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Budgeted<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_receive_budget_is_shared_and_waits_are_bounded() {
        // Most of the budget held by one execution…
        let mut big = Held::default();
        big.resize(RECEIVE_BUDGET - 1024).await.expect("fits");
        // … another that wants more than what is left waits, then gives up with an error.
        let mut other = Held::default();
        let e = other
            .resize_within(4096, Duration::from_millis(50))
            .await
            .expect_err("over the budget");
        assert!(e.to_string().contains("receive budget"), "{e}");
        // Once the first lets go, the second gets its bytes, and both are accounted.
        let waiter = tokio::spawn(async move {
            let mut h = Held::default();
            h.resize(4096).await.map(|()| h)
        });
        tokio::task::yield_now().await;
        drop(big);
        let h = waiter.await.expect("task").expect("fits after the release");
        // Bytes keep their claim until the last clone is dropped.
        let bytes = h.into_bytes(vec![0; 4096]);
        let clone = bytes.clone();
        drop(bytes);
        assert!(budget_in_use() >= 4096);
        drop(clone);
        assert_eq!(budget_in_use(), 0);
    }
}
