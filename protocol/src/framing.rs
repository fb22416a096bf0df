//! Message framing: 0x1E-terminated text records and VarInt length-prefixed binary records.
//!
//! [`FrameReader`] is incremental: bytes are pushed as they arrive, in any chunking, and whole
//! message payloads come out. It mirrors how ASP.NET Core's hub loop applies
//! `MaximumReceiveMessageSize`: the parser only ever looks at a window of that many bytes, and a
//! message that does not fit in the window fails the connection. A length read from the network
//! is never used to size an allocation: the buffer only grows by the bytes actually received.

use crate::error::{texts, Layer, ProtocolError};

/// The record separator that ends every JSON message and every handshake message.
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Longest VarInt prefix (5 bytes, up to `0x7FFF_FFFF`).
pub const MAX_VARINT_LEN: usize = 5;

/// Whether a transport carries text or binary (the hub protocol's transfer format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferFormat {
    /// UTF-8 text (JSON).
    Text,
    /// Arbitrary bytes (MessagePack).
    Binary,
}

impl TransferFormat {
    /// `Text` or `Binary`, as negotiate and the handshake error texts spell it.
    pub fn name(&self) -> &'static str {
        match self {
            TransferFormat::Text => "Text",
            TransferFormat::Binary => "Binary",
        }
    }
}

/// Appends `len` as a VarInt (7 bits per byte, low group first, minimal length).
pub fn write_varint(len: usize, out: &mut Vec<u8>) {
    let (bytes, n) = varint(len);
    out.extend_from_slice(bytes.get(..n).unwrap_or_default());
}

/// `len` as a VarInt: the bytes and how many of them are used (at most [`MAX_VARINT_LEN`] for
/// lengths a reader accepts, up to `0x7FFF_FFFF`; up to 10 for any `usize`).
pub fn varint(mut len: usize) -> ([u8; 10], usize) {
    let mut bytes = [0u8; 10];
    let mut n = 0;
    for slot in bytes.iter_mut() {
        let mut b = (len & 0x7f) as u8;
        len >>= 7;
        if len > 0 {
            b |= 0x80;
        }
        *slot = b;
        n += 1;
        if len == 0 {
            break;
        }
    }
    (bytes, n)
}

/// Reads a VarInt prefix like ASP.NET Core's `BinaryMessageParser`.
///
/// `Ok(None)`: not enough bytes yet. `Ok(Some((length, prefix_len)))`: the body length and the
/// number of prefix bytes. Errors on a prefix above 2 GB (a 5th byte over 7, or a continuation bit
/// on the 5th byte).
pub fn read_varint(buf: &[u8]) -> Result<Option<(usize, usize)>, ProtocolError> {
    let mut length: u64 = 0;
    let mut last: u8 = 0;
    let window = buf.len().min(MAX_VARINT_LEN);
    let mut n = 0;
    while n < window {
        last = buf[n];
        length |= u64::from(last & 0x7f) << (n * 7);
        n += 1;
        if last & 0x80 == 0 {
            break;
        }
    }
    if n == 0 || (last & 0x80 != 0 && n < MAX_VARINT_LEN) {
        return Ok(None);
    }
    if last & 0x80 != 0 || (n == MAX_VARINT_LEN && last > 7) {
        return Err(ProtocolError::new(
            Layer::Framing,
            "FormatException",
            texts::MESSAGES_OVER_2GB,
        ));
    }
    Ok(Some((length as usize, n)))
}

/// Splits one record-separated message off the front of `buf`: `(payload_len, consumed)`.
pub fn split_text(buf: &[u8]) -> Option<(usize, usize)> {
    crate::scan::find_byte(buf, RECORD_SEPARATOR, 0).map(|i| (i, i + 1))
}

/// Splits one length-prefixed message off the front of `buf`: `(payload_range, consumed)`.
pub fn split_binary(buf: &[u8]) -> Result<Option<(std::ops::Range<usize>, usize)>, ProtocolError> {
    match read_varint(buf)? {
        Some((len, prefix)) if buf.len() - prefix >= len => {
            Ok(Some((prefix..prefix + len, prefix + len)))
        }
        _ => Ok(None),
    }
}

/// Appends `payload` as one text record.
pub fn frame_text(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(payload);
    out.push(RECORD_SEPARATOR);
}

/// Appends `payload` as one binary record.
pub fn frame_binary(payload: &[u8], out: &mut Vec<u8>) {
    write_varint(payload.len(), out);
    out.extend_from_slice(payload);
}

/// An incremental decoder of framed messages.
#[derive(Debug, Default, Clone)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Start of unconsumed bytes.
    pos: usize,
    /// Offset (from `pos`) up to which the text scanner found no separator.
    scanned: usize,
    max_message_size: Option<usize>,
}

impl FrameReader {
    /// A reader with no message size limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader that fails a message (with its prefix or separator) longer than `max` bytes,
    /// like ASP.NET Core's `MaximumReceiveMessageSize`.
    pub fn with_max_message_size(max: Option<usize>) -> Self {
        Self {
            max_message_size: max,
            ..Self::default()
        }
    }

    /// The size limit.
    pub fn max_message_size(&self) -> Option<usize> {
        self.max_message_size
    }

    /// Changes the size limit (e.g. between the handshake and the hub protocol).
    pub fn set_max_message_size(&mut self, max: Option<usize>) {
        self.max_message_size = max;
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && (self.pos == self.buf.len() || self.pos >= 4096) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Appends received bytes handed over as a buffer of their own: when nothing is buffered
    /// (the usual case: each read holds whole messages) the buffer is taken as it is, saving
    /// [`push`](Self::push)'s copy.
    pub fn push_owned(&mut self, data: Vec<u8>) {
        if self.pos == self.buf.len() {
            self.buf = data;
            self.pos = 0;
            self.scanned = 0;
        } else {
            self.push(&data);
        }
    }

    /// Bytes received but not yet returned as messages.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Takes all buffered bytes (e.g. what follows a handshake, for another reader).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        self.scanned = 0;
        rest
    }

    /// The next message payload in `format`, if one is complete.
    pub fn next_frame(&mut self, format: TransferFormat) -> Result<Option<&[u8]>, ProtocolError> {
        match format {
            TransferFormat::Text => self.next_text(),
            TransferFormat::Binary => self.next_binary(),
        }
    }

    /// The next 0x1E-terminated payload (without the separator).
    pub fn next_text(&mut self) -> Result<Option<&[u8]>, ProtocolError> {
        let avail = self.buf.len() - self.pos;
        let from = self.pos + self.scanned;
        let found = crate::scan::find_byte(&self.buf, RECORD_SEPARATOR, from).map(|i| i - self.pos);
        match found {
            Some(i) => {
                if let Some(max) = self.max_message_size {
                    // Payload plus separator must fit in the window.
                    if i + 1 > max {
                        return Err(self.too_large(max));
                    }
                }
                let start = self.pos;
                self.pos += i + 1;
                self.scanned = 0;
                Ok(Some(&self.buf[start..start + i]))
            }
            None => {
                self.scanned = avail;
                match self.max_message_size {
                    Some(max) if avail > max => Err(self.too_large(max)),
                    _ => Ok(None),
                }
            }
        }
    }

    /// The next VarInt-prefixed payload (without the prefix).
    pub fn next_binary(&mut self) -> Result<Option<&[u8]>, ProtocolError> {
        let avail = &self.buf[self.pos..];
        let (window, over) = match self.max_message_size {
            Some(max) if avail.len() > max => (&avail[..max], Some(max)),
            _ => (avail, None),
        };
        match split_binary(window)? {
            Some((range, consumed)) => {
                let start = self.pos;
                self.pos += consumed;
                Ok(Some(&self.buf[start + range.start..start + range.end]))
            }
            None => match over {
                Some(max) => Err(self.too_large(max)),
                None => Ok(None),
            },
        }
    }

    /// Call when the input has ended: leftover bytes mean a message was cut off.
    pub fn finish(&self) -> Result<(), ProtocolError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::invalid_data(
                Layer::Framing,
                texts::TERMINATED_WHILE_READING,
            ))
        }
    }

    fn too_large(&self, max: usize) -> ProtocolError {
        ProtocolError::invalid_data(Layer::Framing, texts::max_message_size(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_bytes_match_the_pushing_encoder() {
        fn pushed(mut len: usize) -> Vec<u8> {
            let mut out = Vec::new();
            loop {
                let b = (len & 0x7f) as u8;
                len >>= 7;
                out.push(if len > 0 { b | 0x80 } else { b });
                if len == 0 {
                    return out;
                }
            }
        }
        for len in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            0x7fff_ffff,
            1 << 40,
            usize::MAX,
        ] {
            let mut out = Vec::new();
            write_varint(len, &mut out);
            assert_eq!(out, pushed(len), "{len}");
        }
    }

    #[test]
    fn varint_examples() {
        for (n, bytes) in [
            (0usize, vec![0x00u8]),
            (11, vec![0x0b]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (5248, vec![0x80, 0x29]),
            (32768, vec![0x80, 0x80, 0x02]),
            (0x7fff_ffff, vec![0xff, 0xff, 0xff, 0xff, 0x07]),
        ] {
            let mut out = Vec::new();
            write_varint(n, &mut out);
            assert_eq!(out, bytes);
            assert_eq!(read_varint(&bytes).unwrap(), Some((n, bytes.len())));
        }
        assert!(read_varint(&[0xff; 5]).is_err());
        assert!(read_varint(&[0x80, 0x80, 0x80, 0x80, 0x08]).is_err());
        assert_eq!(read_varint(&[0x80]).unwrap(), None);
    }

    #[test]
    fn text_max_size_window() {
        let mut r = FrameReader::with_max_message_size(Some(4));
        r.push(b"abc\x1e");
        assert_eq!(r.next_text().unwrap(), Some(&b"abc"[..]));
        r.push(b"abcd\x1e");
        assert!(r.next_text().is_err());
        let mut r = FrameReader::with_max_message_size(Some(4));
        r.push(b"abcd");
        assert_eq!(r.next_text().unwrap(), None);
        r.push(b"e");
        assert!(r.next_text().is_err());
    }

    #[test]
    fn owned_pieces_read_as_copied_pieces() {
        // Whole messages (the buffer is taken over), a message split across pieces, several in
        // one piece, and a piece ending inside a message: the same payloads as `push` gives.
        let pieces: [&[u8]; 6] = [
            b"a\x1e",
            b"bc",
            b"d\x1eef",
            b"\x1e\x1eg\x1e",
            b"",
            b"hi\x1e",
        ];
        let read = |owned: bool| {
            let mut r = FrameReader::with_max_message_size(Some(8));
            let mut got = Vec::new();
            for p in pieces {
                if owned {
                    r.push_owned(p.to_vec());
                } else {
                    r.push(p);
                }
                while let Some(m) = r.next_text().unwrap() {
                    got.push(m.to_vec());
                }
            }
            assert!(r.finish().is_ok());
            got
        };
        let expected: Vec<Vec<u8>> = ["a", "bcd", "ef", "", "g", "hi"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(read(false), expected);
        assert_eq!(read(true), expected);
    }

    #[test]
    fn binary_one_byte_at_a_time() {
        let mut frames = Vec::new();
        frame_binary(b"hello", &mut frames);
        frame_binary(&[0u8; 200], &mut frames);
        let mut r = FrameReader::new();
        let mut got = Vec::new();
        for b in &frames {
            r.push(&[*b]);
            while let Some(p) = r.next_binary().unwrap() {
                got.push(p.to_vec());
            }
        }
        assert_eq!(got, vec![b"hello".to_vec(), vec![0u8; 200]]);
        assert!(r.finish().is_ok());
    }
}
