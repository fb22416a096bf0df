//! Byte scanning a block at a time, for the loops that walk whole payloads: the record
//! separator search, and the JSON string reader and writer looking for the next byte that
//! needs attention.
//!
//! Text is mostly long runs of plain bytes, and these loops run over every byte received or
//! sent. Each 32-byte block is tested without branches (an OR over the block), which the
//! compiler turns into 16-byte vector compares (SSE2 on every x86-64); only the block holding
//! a hit is walked byte by byte. This replaced an eight-bytes-a-step SWAR loop that cost about
//! three instructions a byte, the largest per-byte cost of echoing a long string.

/// Bytes tested together.
const BLOCK: usize = 32;

/// The index of the first byte at or after `from` for which `hit` holds, or `bytes.len()`.
/// `hit` should be a few comparisons (it is evaluated for every byte of a block).
#[inline(always)]
pub(crate) fn position(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    if let Some(rest) = bytes.get(from..) {
        for block in rest.chunks_exact(BLOCK) {
            if block.iter().fold(false, |any, &b| any | hit(b)) {
                break;
            }
            i += BLOCK;
        }
    }
    while let Some(&b) = bytes.get(i) {
        if hit(b) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// [`position`] with the block test written as a mask byte per byte, then the mask tested as
/// two 16-byte words. For the JSON reader's test (`"`, a backslash or a control character) this
/// compiles to 0.9 instructions a byte instead of 1.3 (callgrind, over a 2 KB string); for a
/// single byte or the writer's four-way test it is no better or far worse, so each caller uses
/// the form measured best for its test.
#[inline(always)]
pub(crate) fn position_by_mask(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    if let Some(rest) = bytes.get(from..) {
        for block in rest.chunks_exact(BLOCK) {
            let mut mask = [0u8; BLOCK];
            for (m, &b) in mask.iter_mut().zip(block) {
                *m = u8::from(hit(b));
            }
            let (lo, hi) = mask.split_at(BLOCK / 2);
            let word = |half: &[u8]| u128::from_ne_bytes(half.try_into().unwrap_or([0; 16]));
            if word(lo) | word(hi) != 0 {
                break;
            }
            i += BLOCK;
        }
    }
    while let Some(&b) = bytes.get(i) {
        if hit(b) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// The index of the first `needle` at or after `from`. One byte is what the `memchr` crate
/// finds fastest (vector width chosen at run time: 0.4 instructions a byte here against under
/// 0.1 there, over a 2 KB message).
pub(crate) fn find_byte(haystack: &[u8], needle: u8, from: usize) -> Option<usize> {
    let rest = haystack.get(from..)?;
    memchr::memchr(needle, rest).map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_everywhere() {
        for len in 0..100 {
            for at in 0..len {
                let mut buf = vec![b'a'; len];
                buf[at] = 0x1e;
                if at + 1 < len {
                    // A second hit after the first must not be reported instead of it.
                    buf[len - 1] = 0x1e;
                }
                for from in 0..=at {
                    assert_eq!(find_byte(&buf, 0x1e, from), Some(at), "{len} {at} {from}");
                }
            }
            assert_eq!(find_byte(&vec![0x9eu8; len], 0x1e, 0), None);
        }
        assert_eq!(find_byte(b"abc", b'c', 7), None);
    }

    #[test]
    fn both_block_forms_find_the_same_byte() {
        let hit = |b: u8| (b == b'"') | (b == b'\\') | (b < 0x20);
        for len in 0..100 {
            for at in 0..=len {
                let mut buf = vec![b'a'; len];
                if at < len {
                    buf[at] = [b'"', b'\\', 0x00, 0x1f][at % 4];
                }
                for from in 0..=len + 1 {
                    assert_eq!(
                        position_by_mask(&buf, from, hit),
                        position(&buf, from, hit),
                        "{len} {at} {from}"
                    );
                }
            }
        }
    }
}
