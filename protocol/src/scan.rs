//! Byte scanning eight bytes at a step (SWAR: the zero-byte tests from Alan Mycroft's
//! "haszero"), for the loops that walk whole payloads: the record separator search, and the
//! JSON string reader and writer looking for the next byte that needs attention.
//!
//! Text is mostly long runs of plain bytes, and these loops run over every byte received or sent.

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGHS: u64 = ONES << 7;

/// One eight-byte word, little-endian so that the lowest set bit is the first byte.
#[inline]
pub(crate) fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at + 8)?;
    <[u8; 8]>::try_from(chunk).ok().map(u64::from_le_bytes)
}

/// The high bit of each byte of `w` equal to `b` (exact up to the first one: later bits may
/// be false positives, so only the lowest is to be used).
#[inline]
pub(crate) fn bytes_eq(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The high bit of each byte of `w` below `n` (`n` ≤ 128; exact up to the first one).
#[inline]
pub(crate) fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// The byte index within its word of the first hit in a non-zero mask.
#[inline]
pub(crate) fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The index of the first byte at or after `from` that `hit` says needs attention, or
/// `bytes.len()`. `hits` is the same test for eight bytes at once: a mask with the high bit of
/// every byte that `hit` holds for, exact up to the first one.
#[inline(always)]
pub(crate) fn position(
    bytes: &[u8],
    from: usize,
    hits: impl Fn(u64) -> u64,
    hit: impl Fn(u8) -> bool,
) -> usize {
    let mut i = from;
    while let Some(w) = word(bytes, i) {
        let mask = hits(w);
        if mask != 0 {
            return i + first(mask);
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if hit(b) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// The index of the first `needle` at or after `from`.
pub(crate) fn find_byte(haystack: &[u8], needle: u8, from: usize) -> Option<usize> {
    let i = position(haystack, from, |w| bytes_eq(w, needle), |b| b == needle);
    (i < haystack.len()).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_everywhere() {
        for len in 0..40 {
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
    fn masks() {
        let w = u64::from_le_bytes(*b"ab\x01\"\\\xff\x1f ");
        assert_eq!(first(bytes_eq(w, b'"')), 3);
        assert_eq!(first(bytes_eq(w, b'\\')), 4);
        assert_eq!(first(bytes_below(w, 0x20)), 2);
        assert_eq!(bytes_eq(w, b'z'), 0);
    }
}
