//! WebSocket frames (RFC 6455) as mock-hub reads and writes them on an upgraded connection.
//!
//! tungstenite keeps a read buffer per socket for the socket's whole life (even a 2 KiB one
//! costs every idle connection its 2 KiB, and it is zero-filled before each read). Here bytes are
//! read into a buffer on the reading thread's stack and taken apart at once: frame headers into
//! a 14-byte array, payloads (unmasked) into the message they belong to, which is allocated at
//! its frame's announced size and handed over without a copy. An idle connection holds no buffer.
//!
//! What the reader refuses, the close code it earns and when, is what tungstenite refuses: 1009
//! for a frame above the limit as soon as its header arrives; once its payload has arrived (so
//! that nothing is left unread when the close goes out: unread bytes make the kernel answer with
//! a reset, which can overtake the close frame), 1002 for protocol violations (an unmasked
//! frame, reserved bits, a fragmented or over-long control frame, an unexpected or missing
//! continuation, a reserved opcode), 1009 for a message above the limit, 1007 for a text message
//! that is not UTF-8.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Bytes read from the socket at a time, at most (on the stack, not kept).
pub(crate) const MAX_READ: usize = 16 * 1024;

const CONTINUE: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Status 1000 (Normal Closure), big-endian.
const NORMAL_CLOSURE: [u8; 2] = [0x03, 0xe8];

/// What the reader produced.
#[derive(Debug, PartialEq)]
pub(crate) enum WsEvent {
    /// The payloads of one or more complete data messages, in order.
    Data(Bytes),
    /// The peer's Close frame (its reply is queued).
    Close,
    /// The peer broke the protocol: the close code it earns (`None`: the peer is gone).
    Failed(Option<u16>),
}

/// How a peer's Close frame is answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CloseAnswer {
    /// Status 1000 whatever the peer sent, as ASP.NET Core answers (`CloseOutputAsync`).
    Normal,
    /// The peer's frame echoed, as tungstenite answers (a fault mode).
    Echo,
}

/// The frame being read.
#[derive(Debug, Clone, Copy)]
struct Current {
    opcode: u8,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes still to come.
    left: u64,
    /// Payload bytes seen so far (the mask's phase).
    seen: u64,
    /// The payload is skipped, then the connection fails with this code (1002: the frame
    /// breaks the protocol; 1009: the message would pass the limit).
    refused: Option<u16>,
}

/// A WebSocket server connection over `io`: reads frames without a buffer of its own between
/// reads, writes unmasked frames.
pub(crate) struct WsConn<T> {
    io: T,
    /// The current frame's header as far as it has arrived.
    head: [u8; 14],
    head_len: u8,
    current: Option<Current>,
    /// Opcode of the data message being assembled (`TEXT`/`BINARY`), if one is.
    msg_opcode: Option<u8>,
    /// The data message being assembled (no allocation while none is).
    msg: Vec<u8>,
    /// The OR of `msg`'s bytes (bit 7 set: not all ASCII).
    msg_bits: u8,
    /// A control frame's payload while it arrives (at most 125 bytes).
    control: Vec<u8>,
    /// Complete data messages not yet handed out.
    ready: Vec<u8>,
    /// Whether `ready` holds messages (perhaps empty ones).
    got_data: bool,
    /// A failure found after data that is handed out first.
    failure: Option<Option<u16>>,
    /// Control frames to send (a Pong, the reply to a Close) and how much of them went out.
    out: Vec<u8>,
    out_at: usize,
    max_message: usize,
    read_size: usize,
    answer: CloseAnswer,
    /// The peer's Close arrived: nothing more is read.
    peer_closed: bool,
    /// The peer's Close arrived after ours: it is not answered.
    we_closed: bool,
    /// Runs when the peer starts the closing handshake, before its reply can go out.
    on_peer_close: Option<PeerClose>,
}

/// What the owner of a connection does the moment the peer's Close frame arrives.
pub(crate) type PeerClose = Box<dyn FnOnce() + Send + Sync>;

/// Unmasks `data` in place; `phase` is the offset of `data[0]` in its frame's payload.
/// 32-byte blocks against a 32-byte key compile to vector XORs (0.27 instructions a byte under
/// callgrind, against 0.32 for eight bytes at a time). Returns the OR of the unmasked bytes:
/// bit 7 clear says they are all ASCII, which the same vector pass finds almost for free (a
/// separate `is_ascii` over a 2 KB text message cost 0.2 instructions a byte).
fn unmask(data: &mut [u8], mask: [u8; 4], phase: u64) -> u8 {
    let p = (phase % 4) as usize;
    let key: [u8; 32] = std::array::from_fn(|i| mask[(p + i) % 4]);
    let mut seen = [0u8; 32];
    let mut chunks = data.chunks_exact_mut(32);
    for c in &mut chunks {
        for ((b, k), s) in c.iter_mut().zip(&key).zip(&mut seen) {
            *b ^= k;
            *s |= *b;
        }
    }
    let mut bits = seen.iter().fold(0, |a, s| a | s);
    for (b, k) in chunks.into_remainder().iter_mut().zip(&key) {
        *b ^= k;
        bits |= *b;
    }
    bits
}

/// Whether a text message is UTF-8, given the OR of its bytes: ASCII (most hub traffic) needs
/// no further look.
fn is_utf8(msg: &[u8], bits: u8) -> bool {
    bits < 0x80 || std::str::from_utf8(msg).is_ok()
}

/// The length of a frame header whose second byte (mask bit and 7-bit length) is `b1`.
fn head_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// An unmasked server frame's header for a payload of `len` bytes.
pub(crate) fn frame_head(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= 0xffff {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

impl<T> WsConn<T> {
    /// A server connection over `io` that refuses frames and messages above `max_message`
    /// bytes and reads at most `read_size` bytes at a time.
    pub(crate) fn new(io: T, max_message: usize, read_size: usize, answer: CloseAnswer) -> Self {
        Self {
            io,
            head: [0; 14],
            head_len: 0,
            current: None,
            msg_opcode: None,
            msg: Vec::new(),
            msg_bits: 0,
            control: Vec::new(),
            ready: Vec::new(),
            got_data: false,
            failure: None,
            out: Vec::new(),
            out_at: 0,
            max_message,
            read_size: read_size.clamp(256, MAX_READ),
            answer,
            peer_closed: false,
            we_closed: false,
            on_peer_close: None,
        }
    }

    /// Sets what runs when the peer's Close frame arrives (unless it answers ours): in the
    /// same poll that reads the frame, before the reply is written.
    pub(crate) fn on_peer_close(&mut self, f: PeerClose) {
        self.on_peer_close = Some(f);
    }

    /// Takes `bytes` apart; returns how many were used and whether reading stops (a Close
    /// frame, or a failure recorded in `self.failure`).
    fn feed(&mut self, bytes: &mut [u8]) -> (usize, bool) {
        let mut i = 0;
        while i < bytes.len() {
            let Some(mut cur) = self.current else {
                // A frame header.
                self.head[usize::from(self.head_len)] = bytes[i];
                self.head_len += 1;
                i += 1;
                let have = usize::from(self.head_len);
                if have >= 2 && have == head_len(self.head[1]) {
                    self.head_len = 0;
                    if let Err(code) = self.start_frame(have) {
                        self.failure = Some(Some(code));
                        return (i, true);
                    }
                    if self.current.is_some_and(|c| c.left == 0) && self.end_frame() {
                        return (i, true);
                    }
                }
                continue;
            };
            let n = cur.left.min((bytes.len() - i) as u64) as usize;
            let chunk = &mut bytes[i..i + n];
            i += n;
            if cur.refused.is_none() {
                let bits = unmask(chunk, cur.mask, cur.seen);
                if cur.opcode >= CLOSE {
                    self.control.extend_from_slice(chunk);
                } else {
                    self.msg_bits |= bits;
                    self.msg.extend_from_slice(chunk);
                }
            }
            cur.seen += n as u64;
            cur.left -= n as u64;
            self.current = Some(cur);
            if cur.left == 0 && self.end_frame() {
                return (i, true);
            }
        }
        (i, false)
    }

    /// Checks a complete header (`len` bytes in `self.head`) and starts its frame; `Err` is a
    /// frame too large to read.
    fn start_frame(&mut self, len: usize) -> Result<(), u16> {
        let h = &self.head[..len];
        let (b0, b1) = (h[0], h[1]);
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0f;
        let payload = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => h[2..10].iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)),
            n => u64::from(n),
        };
        if payload > self.max_message as u64 {
            return Err(1009);
        }
        let masked = b1 & 0x80 != 0;
        let mask = if masked {
            [h[len - 4], h[len - 3], h[len - 2], h[len - 1]]
        } else {
            [0; 4]
        };
        // A client's frames must be masked.
        let violation = !masked
            || b0 & 0x70 != 0
            || match opcode {
                CLOSE | PING | PONG => !fin || payload > 125,
                TEXT | BINARY => self.msg_opcode.is_some(),
                CONTINUE => self.msg_opcode.is_none(),
                _ => true,
            };
        let refused = if violation {
            Some(1002)
        } else if opcode == CONTINUE && self.msg.len() as u64 + payload > self.max_message as u64 {
            // The limit is applied once the frame has arrived, as tungstenite does; its bytes
            // are not kept.
            Some(1009)
        } else {
            None
        };
        if refused.is_none() {
            match opcode {
                TEXT | BINARY => {
                    self.msg_opcode = Some(opcode);
                    self.msg.reserve_exact(payload as usize);
                }
                CONTINUE => self.msg.reserve(payload as usize),
                _ => {}
            }
        }
        self.current = Some(Current {
            opcode,
            fin,
            mask,
            left: payload,
            seen: 0,
            refused,
        });
        Ok(())
    }

    /// The current frame's payload is complete; `true` if reading stops.
    fn end_frame(&mut self) -> bool {
        let Some(cur) = self.current.take() else {
            return false;
        };
        if let Some(code) = cur.refused {
            self.failure = Some(Some(code));
            return true;
        }
        match cur.opcode {
            PING => {
                let payload = std::mem::take(&mut self.control);
                self.queue_control(PONG, &payload);
                false
            }
            PONG => {
                self.control = Vec::new();
                false
            }
            CLOSE => {
                let payload = std::mem::take(&mut self.control);
                self.peer_closed = true;
                if !self.we_closed {
                    if let Some(f) = self.on_peer_close.take() {
                        f();
                    }
                }
                match self.close_reply(&payload) {
                    Ok(reply) => {
                        if !self.we_closed {
                            self.queue_control(CLOSE, &reply);
                        }
                    }
                    Err(code) => self.failure = Some(Some(code)),
                }
                true
            }
            _ => {
                if !cur.fin {
                    return false;
                }
                let msg = std::mem::take(&mut self.msg);
                let bits = std::mem::take(&mut self.msg_bits);
                if self.msg_opcode.take() == Some(TEXT) && !is_utf8(&msg, bits) {
                    self.failure = Some(Some(1007));
                    return true;
                }
                if self.ready.is_empty() {
                    self.ready = msg;
                } else {
                    self.ready.extend_from_slice(&msg);
                }
                // Even an empty message is news (it restarts the client timeout).
                self.got_data = true;
                false
            }
        }
    }

    /// The payload of the answer to a Close frame with `payload`, or the close code it earns.
    fn close_reply(&self, payload: &[u8]) -> Result<Vec<u8>, u16> {
        if self.answer == CloseAnswer::Normal {
            return Ok(NORMAL_CLOSURE.to_vec());
        }
        match payload {
            [] => Ok(Vec::new()),
            [_] => Err(1002),
            [a, b, reason @ ..] => {
                let code = u16::from_be_bytes([*a, *b]);
                if std::str::from_utf8(reason).is_err() {
                    return Err(1007);
                }
                if CloseCode::from(code).is_allowed() {
                    Ok(payload.to_vec())
                } else {
                    let mut p = 1002u16.to_be_bytes().to_vec();
                    p.extend_from_slice(b"Protocol violation");
                    Ok(p)
                }
            }
        }
    }

    /// Queues a control frame; a Pong waiting to go out is replaced, never more than two
    /// frames wait (a Pong partly written, then another reply).
    fn queue_control(&mut self, opcode: u8, payload: &[u8]) {
        if self.out_at == 0 {
            self.out.clear();
        } else if self.out.len() > self.out_at + 127 || opcode == PONG {
            return;
        }
        let (h, n) = frame_head(opcode, payload.len());
        self.out.extend_from_slice(&h[..n]);
        self.out.extend_from_slice(payload);
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> WsConn<T> {
    /// Writes queued control frames as far as the socket takes them now.
    fn poll_write_control(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.out_at < self.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_at..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => self.out_at += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out = Vec::new();
        self.out_at = 0;
        Poll::Ready(Ok(()))
    }

    /// The next thing the peer did. Cancel-safe: all progress is kept in `self`.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<WsEvent> {
        // Answer Pings promptly, as tungstenite does before each read (a socket that takes
        // nothing now is tried again later).
        if self.out_at < self.out.len() {
            if let Poll::Ready(Err(_)) = self.poll_write_control(cx) {
                return Poll::Ready(WsEvent::Failed(None));
            }
        }
        loop {
            if self.got_data {
                self.got_data = false;
                return Poll::Ready(WsEvent::Data(Bytes::from(std::mem::take(&mut self.ready))));
            }
            if let Some(f) = self.failure {
                return Poll::Ready(WsEvent::Failed(f));
            }
            if self.peer_closed {
                return Poll::Ready(WsEvent::Close);
            }
            let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); MAX_READ];
            let mut rb = ReadBuf::uninit(&mut storage[..self.read_size]);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(WsEvent::Failed(None)),
                Poll::Ready(Ok(())) => {}
            }
            if rb.filled().is_empty() {
                // The peer vanished without a closing handshake.
                self.failure = Some(None);
                continue;
            }
            let (_, stop) = self.feed(rb.filled_mut());
            if stop && !self.got_data && self.failure.is_none() && self.out_at < self.out.len() {
                // A Close: try to answer now (the rest waits for `flush`).
                if let Poll::Ready(Err(_)) = self.poll_write_control(cx) {
                    return Poll::Ready(WsEvent::Failed(None));
                }
            }
            if self.out_at < self.out.len() {
                // A Pong to send: try now; a socket that takes nothing waits for the next read.
                let _ = self.poll_write_control(cx);
            }
        }
    }

    /// Writes queued control frames (the answer to the peer's Close) and flushes.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_control(cx)).await?;
        self.io.flush().await
    }

    /// Writes one unfragmented frame.
    pub(crate) async fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_control(cx)).await?;
        let (h, n) = frame_head(opcode, payload.len());
        let (mut head, mut body) = (&h[..n], payload);
        while !head.is_empty() || !body.is_empty() {
            let bufs = [std::io::IoSlice::new(head), std::io::IoSlice::new(body)];
            let w = self.io.write_vectored(&bufs).await?;
            if w == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            let from_head = w.min(head.len());
            head = &head[from_head..];
            body = &body[w - from_head..];
        }
        self.io.flush().await
    }

    /// Sends our Close frame with `code`; a Close from the peer after it is not answered.
    pub(crate) async fn send_close(&mut self, code: u16) -> std::io::Result<()> {
        self.we_closed = true;
        self.send(CLOSE, &code.to_be_bytes()).await
    }
}

/// Frame opcodes for [`WsConn::send`].
pub(crate) mod opcode {
    pub(crate) const TEXT: u8 = super::TEXT;
    pub(crate) const BINARY: u8 = super::BINARY;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut f = vec![b0];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn conn(answer: CloseAnswer) -> WsConn<()> {
        WsConn::new((), 1000, 2048, answer)
    }

    /// Feeds `input` in pieces of `chunk` bytes until reading stops; returns the data, the
    /// failure and the queued control output.
    fn run(c: &mut WsConn<()>, input: &[u8], chunk: usize) -> (Vec<u8>, Option<Option<u16>>) {
        let mut data = Vec::new();
        for piece in input.chunks(chunk) {
            let mut piece = piece.to_vec();
            let (_, stop) = c.feed(&mut piece);
            data.append(&mut c.ready);
            c.got_data = false;
            if stop {
                break;
            }
        }
        (data, c.failure)
    }

    #[test]
    fn unmasking_at_any_phase_and_length_matches_the_bytewise_rule() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for phase in 0..8u64 {
            for len in 0..40 {
                let orig: Vec<u8> = (0..len as u8).collect();
                let mut d = orig.clone();
                let bits = unmask(&mut d, mask, phase);
                let want: Vec<u8> = orig
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[(i + phase as usize) % 4])
                    .collect();
                assert_eq!(d, want, "phase {phase}, len {len}");
                assert_eq!(
                    bits,
                    want.iter().fold(0, |a, b| a | b),
                    "phase {phase}, len {len}"
                );
            }
        }
    }

    #[test]
    fn messages_fragments_and_pings_in_any_pieces() {
        let mut input = client_frame(0x81, b"hello \x1e", [1, 2, 3, 4]);
        input.extend(client_frame(0x02, b"ab", [9, 8, 7, 6]));
        input.extend(client_frame(0x89, b"p", [5, 5, 5, 5]));
        input.extend(client_frame(0x80, &[b'c'; 300], [4, 3, 2, 1]));
        input.extend(client_frame(0x8A, b"", [0, 0, 0, 0]));
        let mut want = b"hello \x1eab".to_vec();
        want.extend([b'c'; 300]);
        for chunk in [1, 2, 5, 13, 1000] {
            let mut c = conn(CloseAnswer::Normal);
            let (data, failure) = run(&mut c, &input, chunk);
            assert_eq!(failure, None, "chunks of {chunk}");
            assert_eq!(data, want, "chunks of {chunk}");
            assert_eq!(c.out, [0x8A, 1, b'p'], "the Pong, chunks of {chunk}");
            assert!(c.msg.capacity() == 0 && c.control.capacity() == 0);
        }
    }

    #[test]
    fn a_close_is_answered_with_1000_or_echoed() {
        let close = client_frame(0x88, &[0x03, 0xe9, b'x'], [1, 2, 3, 4]);
        let mut c = conn(CloseAnswer::Normal);
        assert_eq!(run(&mut c, &close, 3), (vec![], None));
        assert!(c.peer_closed);
        assert_eq!(c.out, [0x88, 2, 0x03, 0xe8]);
        let mut c = conn(CloseAnswer::Echo);
        run(&mut c, &close, 3);
        assert_eq!(c.out, [0x88, 3, 0x03, 0xe9, b'x']);
        let mut c = conn(CloseAnswer::Echo);
        run(&mut c, &client_frame(0x88, &[], [1, 2, 3, 4]), 3);
        assert_eq!(c.out, [0x88, 0]);
        let mut c = conn(CloseAnswer::Echo);
        run(&mut c, &client_frame(0x88, &[0x03, 0xed], [1, 2, 3, 4]), 3);
        assert_eq!(
            &c.out[..4],
            [0x88, 20, 0x03, 0xea],
            "1005 is not allowed: 1002"
        );
        let mut c = conn(CloseAnswer::Echo);
        assert_eq!(
            run(&mut c, &client_frame(0x88, &[3], [1, 2, 3, 4]), 3).1,
            Some(Some(1002))
        );
    }

    /// A socket that hands out `input` once and logs every write into `log`.
    struct Logged {
        input: Vec<u8>,
        log: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
    }

    impl AsyncRead for Logged {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if self.input.is_empty() {
                return Poll::Pending;
            }
            let n = self.input.len().min(buf.remaining());
            buf.put_slice(&self.input[..n]);
            self.input.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Logged {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.log.lock().unwrap().push("write");
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// What happened, in order, while a connection read `input` (with `we_closed`: after the
    /// server had sent its own Close).
    fn peer_close_order(input: Vec<u8>, we_closed: bool) -> (Vec<&'static str>, bool) {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let io = Logged {
            input,
            log: log.clone(),
        };
        let mut c = WsConn::new(io, 1000, 2048, CloseAnswer::Normal);
        c.we_closed = we_closed;
        let hook_log = log.clone();
        c.on_peer_close(Box::new(move || hook_log.lock().unwrap().push("hook")));
        let waker = futures_util::task::noop_waker();
        let closed = matches!(
            c.poll_recv(&mut Context::from_waker(&waker)),
            Poll::Ready(WsEvent::Close)
        );
        let order = log.lock().unwrap().clone();
        (order, closed)
    }

    #[test]
    fn the_peer_close_hook_runs_before_the_reply_is_written() {
        let close = client_frame(0x88, &[0x03, 0xe8], [1, 2, 3, 4]);
        assert_eq!(
            peer_close_order(close.clone(), false),
            (vec!["hook", "write"], true)
        );
        // The peer's Close answers ours: no hook (and no reply).
        assert_eq!(peer_close_order(close, true), (vec![], true));
        // Data and Pings do not run it (the Pong is written).
        let mut input = client_frame(0x89, b"p", [1, 2, 3, 4]);
        input.extend(client_frame(0x81, b"x", [1, 2, 3, 4]));
        assert_eq!(peer_close_order(input, false), (vec!["write"], false));
    }

    #[test]
    fn bad_frames_earn_their_close_codes() {
        let m = [1, 2, 3, 4];
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (client_frame(0x81, &[b'{', 0xff, 0xfe], m), 1007),
            (client_frame(0x89, &[0; 200], m), 1002),
            (client_frame(0x09, b"", m), 1002),
            (client_frame(0xC1, b"x", m), 1002),
            (client_frame(0x80, b"x", m), 1002),
            (client_frame(0x83, b"x", m), 1002),
            (client_frame(0x8B, b"x", m), 1002),
            (vec![0x81, 0x01, b'x'], 1002),
            (client_frame(0x82, &[0; 1001], m), 1009),
            (
                [client_frame(0x01, b"a", m), client_frame(0x81, b"b", m)].concat(),
                1002,
            ),
            (
                [
                    client_frame(0x02, &[0; 600], m),
                    client_frame(0x00, &[0; 600], m),
                ]
                .concat(),
                1009,
            ),
        ];
        for (input, code) in cases {
            for chunk in [1, 7, 5000] {
                let mut c = conn(CloseAnswer::Normal);
                let (data, failure) = run(&mut c, &input, chunk);
                assert_eq!((data, failure), (vec![], Some(Some(code))), "{input:x?}");
            }
        }
    }

    #[test]
    fn server_frame_headers() {
        assert_eq!(frame_head(TEXT, 5).0[..2], [0x81, 5]);
        assert_eq!(frame_head(BINARY, 126).0[..4], [0x82, 126, 0, 126]);
        assert_eq!(
            frame_head(TEXT, 70_000).0,
            [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]
        );
    }
}
