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
/// 16-byte words. For the JSON reader's test (`"`, a backslash or a control character) this
/// compiles to 0.9 instructions a byte instead of 1.3 (callgrind, over a 2 KB string); for a
/// single byte or the writer's four-way test it is no better or far worse, so each caller uses
/// the form measured best for its test.
#[inline(always)]
pub(crate) fn position_by_mask(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    if let Some(rest) = bytes.get(from..) {
        for block in rest.chunks_exact(BLOCK) {
            if any_by_mask::<BLOCK>(block, &hit) {
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

/// [`position_by_mask`] going 64 bytes a step before 32: one branch per 64 bytes makes the JSON
/// writer's ASCII test 0.72 instead of 0.8 instructions a byte over a 2 KB string (callgrind:
/// 147 fewer per 2 KB echo); the reader's scan, inlined into its string loop, measured no
/// better over long strings and 155 instructions worse per 64 B echo, so it keeps the plain form.
#[inline(always)]
pub(crate) fn position_by_mask_wide(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    if let Some(rest) = bytes.get(from..) {
        let mut wide = rest.chunks_exact(2 * BLOCK);
        let mut found = false;
        for block in &mut wide {
            if any_by_mask::<{ 2 * BLOCK }>(block, &hit) {
                found = true;
                break;
            }
            i += 2 * BLOCK;
        }
        if !found {
            for block in wide.remainder().chunks_exact(BLOCK) {
                if any_by_mask::<BLOCK>(block, &hit) {
                    break;
                }
                i += BLOCK;
            }
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

/// Whether `hit` holds for a byte of `block` (`N` bytes, a multiple of 16): a mask byte per
/// byte, ORed as 16-byte words.
#[inline(always)]
fn any_by_mask<const N: usize>(block: &[u8], hit: &impl Fn(u8) -> bool) -> bool {
    let mut mask = [0u8; N];
    for (m, &b) in mask.iter_mut().zip(block) {
        *m = u8::from(hit(b));
    }
    mask.chunks_exact(16)
        .map(|w| u128::from_ne_bytes(w.try_into().unwrap_or([0; 16])))
        .fold(0, |a, w| a | w)
        != 0
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
        // Past two 64-byte steps and a 32-byte one, with starts before, at and after the hit.
        for len in 0..200 {
            for at in 0..=len {
                let mut buf = vec![b'a'; len];
                if at < len {
                    buf[at] = [b'"', b'\\', 0x00, 0x1f][at % 4];
                }
                let starts = [
                    0,
                    1,
                    31,
                    33,
                    63,
                    65,
                    at.saturating_sub(1),
                    at,
                    at + 1,
                    len,
                    len + 1,
                ];
                for from in starts {
                    let want = position(&buf, from, hit);
                    assert_eq!(position_by_mask(&buf, from, hit), want, "{len} {at} {from}");
                    assert_eq!(
                        position_by_mask_wide(&buf, from, hit),
                        want,
                        "{len} {at} {from}"
                    );
                }
            }
        }
    }
}
