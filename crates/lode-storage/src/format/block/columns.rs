//! The timestamp and line-length columns of a columnar block
//! (`docs/storage.md`, "Block"): frames of 128 entries, each holding its
//! first timestamp and bit-packed deltas (divided by the block's gcd), line
//! lengths and metadata set indices. Decoding is a few shifts per value and
//! never calls zstd.

use crate::error::StorageError;
use crate::format::varint::{put_ivarint, put_uvarint, Reader};

/// Entries per frame: one bit width per 128 values.
pub(super) const FRAME: usize = 128;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Bits needed for `max`.
fn width(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Appends `vals`, `w` bits each, least significant bit first.
fn pack(out: &mut Vec<u8>, vals: impl Iterator<Item = u64>, w: u32) {
    let mut acc = 0u128;
    let mut bits = 0u32;
    for v in vals {
        acc |= u128::from(v) << bits;
        bits += w;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// Bytes of `k` values of `w` bits.
fn packed_len(k: usize, w: u32) -> usize {
    (k * w as usize).div_ceil(8)
}

/// The most bytes one call of [`unpack`] reads: a frame of 64-bit values.
const MAX_PACKED: usize = FRAME * 8;

/// A frame's packed bytes, copied so that every value is one 16-byte load
/// with no tail case and no bounds check (`unpack`). Bytes past the copied
/// ones are left from earlier frames: they lie beyond the last value's bits
/// and are masked off.
struct Pad([u8; MAX_PACKED + 16]);

impl Pad {
    fn new() -> Pad {
        Pad([0; MAX_PACKED + 16])
    }
}

/// Reads `out.len()` (at most [`FRAME`]) values of `w` bits from `src`
/// (exactly `packed_len(out.len(), w)` bytes).
#[inline]
fn unpack(pad: &mut Pad, src: &[u8], w: u32, out: &mut [u64]) {
    debug_assert!(out.len() <= FRAME && w <= 64);
    if w == 0 {
        out.fill(0);
        return;
    }
    let n = src.len().min(MAX_PACKED);
    pad.0[..n].copy_from_slice(&src[..n]);
    let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    let mut bit = 0usize;
    for v in out.iter_mut() {
        // At most 127 values of 64 bits precede one: `at` stays below
        // MAX_PACKED, and the mask (a no-op) lets the compiler drop the
        // bounds check.
        let at = (bit >> 3) & (MAX_PACKED - 1);
        let word = u128::from_le_bytes(pad.0[at..at + 16].try_into().unwrap_or_default());
        *v = (word >> (bit & 7)) as u64 & mask;
        bit += w as usize;
    }
}

/// Appends the columns section for sorted (or any) timestamps, their line
/// lengths and metadata set indices (all of the same length).
pub(super) fn encode(ts: &[i64], lens: &[u32], sets: &[u32], out: &mut Vec<u8>) {
    // Unsigned wrapping differences: small for sorted input, and any input
    // still round-trips.
    let delta = |i: usize| (ts[i] as u64).wrapping_sub(ts[i - 1] as u64);
    let g = (1..ts.len()).fold(0u64, |g, i| gcd(g, delta(i))).max(1);
    put_uvarint(out, g);
    let mut prev_first = 0i64;
    for start in (0..ts.len()).step_by(FRAME) {
        let end = (start + FRAME).min(ts.len());
        put_ivarint(out, ts[start].wrapping_sub(prev_first));
        prev_first = ts[start];
        let scaled = (start + 1..end).map(|i| delta(i) / g);
        let w = width(scaled.clone().max().unwrap_or(0));
        out.push(w as u8);
        pack(out, scaled, w);
        let l = &lens[start..end];
        let w = width(u64::from(l.iter().copied().max().unwrap_or(0)));
        out.push(w as u8);
        pack(out, l.iter().map(|&x| u64::from(x)), w);
        let s = &sets[start..end];
        let w = width(u64::from(s.iter().copied().max().unwrap_or(0)));
        out.push(w as u8);
        pack(out, s.iter().map(|&x| u64::from(x)), w);
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("block columns: {what}"))
}

/// Appends the `n` timestamps and line lengths of a columns section, and
/// the metadata set indices if `sets` is given (skipped otherwise).
pub(super) fn decode(
    cols: &[u8],
    n: usize,
    ts: &mut Vec<i64>,
    lens: &mut Vec<u32>,
    mut sets: Option<&mut Vec<u32>>,
) -> Result<(), StorageError> {
    // A frame takes at least four bytes: refuse impossible counts before
    // reserving for them.
    if n.div_ceil(FRAME) > cols.len() / 4 + 1 {
        return Err(corrupt("entry count"));
    }
    let mut r = Reader::new(cols);
    let g = r.uvarint()?;
    if g == 0 {
        return Err(corrupt("gcd 0"));
    }
    ts.reserve(n);
    lens.reserve(n);
    if let Some(s) = sets.as_deref_mut() {
        s.reserve(n);
    }
    let mut buf = [0u64; FRAME];
    let mut pad = Pad::new();
    let mut first = 0i64;
    for start in (0..n).step_by(FRAME) {
        let k = (n - start).min(FRAME);
        first = first.wrapping_add(r.ivarint()?);
        let w = u32::from(r.take(1)?[0]);
        if w > 64 {
            return Err(corrupt("timestamp width"));
        }
        let deltas = &mut buf[..k - 1];
        unpack(&mut pad, r.take(packed_len(k - 1, w))?, w, deltas);
        let mut t = first;
        ts.push(t);
        for &d in deltas.iter() {
            t = t.wrapping_add(d.wrapping_mul(g) as i64);
            ts.push(t);
        }
        let w = u32::from(r.take(1)?[0]);
        if w > 32 {
            return Err(corrupt("length width"));
        }
        let ls = &mut buf[..k];
        unpack(&mut pad, r.take(packed_len(k, w))?, w, ls);
        // Values of at most 32 bits: the cast keeps them whole.
        lens.extend(ls.iter().map(|&l| l as u32));
        let w = u32::from(r.take(1)?[0]);
        if w > 32 {
            return Err(corrupt("set index width"));
        }
        let packed = r.take(packed_len(k, w))?;
        if let Some(s) = sets.as_deref_mut() {
            let ix = &mut buf[..k];
            unpack(&mut pad, packed, w, ix);
            s.extend(ix.iter().map(|&x| x as u32));
        }
    }
    if !r.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ts: &[i64], lens: &[u32]) -> (Vec<i64>, Vec<u32>, usize) {
        let sets: Vec<u32> = lens.iter().map(|&l| l % 5).collect();
        let (t, l, s, size) = round_trip_sets(ts, lens, &sets);
        assert_eq!(s, sets);
        (t, l, size)
    }

    fn round_trip_sets(
        ts: &[i64],
        lens: &[u32],
        sets: &[u32],
    ) -> (Vec<i64>, Vec<u32>, Vec<u32>, usize) {
        let mut out = Vec::new();
        encode(ts, lens, sets, &mut out);
        let (mut t, mut l, mut s) = (vec![7], vec![9], vec![11]);
        decode(&out, ts.len(), &mut t, &mut l, Some(&mut s)).unwrap();
        // Decoding appends.
        assert_eq!((t[0], l[0], s[0]), (7, 9, 11));
        // Without the set indices, the same timestamps and lengths.
        let (mut t2, mut l2) = (Vec::new(), Vec::new());
        decode(&out, ts.len(), &mut t2, &mut l2, None).unwrap();
        assert_eq!((&t2[..], &l2[..]), (&t[1..], &l[1..]));
        (t[1..].to_vec(), l[1..].to_vec(), s[1..].to_vec(), out.len())
    }

    #[test]
    fn one_set_costs_nothing_per_entry() {
        let ts: Vec<i64> = (0..1000).collect();
        let lens = vec![100u32; 1000];
        let (_, _, s0, zero) = round_trip_sets(&ts, &lens, &vec![0; 1000]);
        assert_eq!(s0, vec![0; 1000]);
        let two: Vec<u32> = (0..1000).map(|i| i % 2).collect();
        let (_, _, s2, one_bit) = round_trip_sets(&ts, &lens, &two);
        assert_eq!(s2, two);
        // A width byte per frame, and one bit per entry for two sets.
        assert_eq!(one_bit - zero, 1000 / 8);
    }

    #[test]
    fn frame_edges_and_extremes() {
        for n in [0usize, 1, 2, 127, 128, 129, 255, 256, 257, 1000] {
            let ts: Vec<i64> = (0..n as i64).map(|i| -5_000 + i * i * 1000).collect();
            let lens: Vec<u32> = (0..n as u32).map(|i| i * 37 % 300).collect();
            let (t, l, _) = round_trip(&ts, &lens);
            assert_eq!((t, l), (ts, lens), "{n}");
        }
        let ts = [i64::MIN, -1, 0, 0, 0, i64::MAX];
        let lens = [u32::MAX, 0, 1, u32::MAX, 5, 0];
        let (t, l, _) = round_trip(&ts, &lens);
        assert_eq!((t.as_slice(), l.as_slice()), (&ts[..], &lens[..]));
    }

    #[test]
    fn regular_timestamps_take_few_bits() {
        // A line every 10 ms, with jitter in whole milliseconds.
        let ts: Vec<i64> = (0..1000i64)
            .map(|i| 1_700_000_000_000_000_000 + i * 10_000_000 + (i % 3) * 1_000_000)
            .collect();
        let lens = vec![200u32; 1000];
        let (t, _, size) = round_trip(&ts, &lens);
        assert_eq!(t, ts);
        // 4 bits of delta (gcd 1 ms) and 8 of length per entry, plus frames.
        assert!(size < 1000 * 12 / 8 + 8 * 20, "{size}");
    }

    #[test]
    fn truncated_or_bad_widths_are_errors() {
        let ts: Vec<i64> = (0..300).map(|i| i * 3).collect();
        let lens: Vec<u32> = (0..300).collect();
        let sets: Vec<u32> = (0..300).map(|i| i % 7).collect();
        let mut out = Vec::new();
        encode(&ts, &lens, &sets, &mut out);
        let (mut t, mut l, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for cut in 0..out.len() {
            assert!(decode(&out[..cut], 300, &mut t, &mut l, Some(&mut s)).is_err());
            assert!(decode(&out[..cut], 300, &mut t, &mut l, None).is_err());
        }
        assert!(decode(&out, 299, &mut t, &mut l, None).is_err());
        assert!(decode(&out, 301, &mut t, &mut l, None).is_err());
        assert!(decode(&out, usize::MAX, &mut t, &mut l, None).is_err());
    }

    proptest! {
        #[test]
        fn prop_round_trip_sorted(
            mut ts in proptest::collection::vec(any::<i64>(), 0..400),
            lens in proptest::collection::vec(any::<u32>(), 400),
        ) {
            ts.sort_unstable();
            let lens = &lens[..ts.len()];
            let (t, l, _) = round_trip(&ts, lens);
            prop_assert_eq!(t, ts);
            prop_assert_eq!(l.as_slice(), lens);
        }

        #[test]
        fn prop_round_trip_small_steps(
            base in any::<i64>(),
            steps in proptest::collection::vec((0u64..4, 0u32..3), 0..600),
            scale in 1u64..1_000_000,
        ) {
            // Many equal timestamps and a shared granularity.
            let mut t = base;
            let mut ts = Vec::new();
            let mut lens = Vec::new();
            for (s, l) in steps {
                t = t.wrapping_add((s * scale) as i64);
                ts.push(t);
                lens.push(l);
            }
            let (got_t, got_l, _) = round_trip(&ts, &lens);
            prop_assert_eq!(got_t, ts);
            prop_assert_eq!(got_l, lens);
        }

        #[test]
        fn prop_round_trip_set_indices(
            sets in proptest::collection::vec(any::<u32>(), 0..400),
            shift in 0u32..32,
        ) {
            // Any index width, from one set to many.
            let sets: Vec<u32> = sets.iter().map(|&s| s >> shift).collect();
            let ts: Vec<i64> = (0..sets.len() as i64).collect();
            let lens = vec![3u32; sets.len()];
            let (t, l, s, _) = round_trip_sets(&ts, &lens, &sets);
            prop_assert_eq!(t, ts);
            prop_assert_eq!(l, lens);
            prop_assert_eq!(s, sets);
        }

        /// Against bit-by-bit reading, with the pad holding a longer
        /// earlier frame's bytes (as it does inside `decode`).
        #[test]
        fn prop_unpack_reads_each_value_bit_by_bit(
            earlier in proptest::collection::vec(any::<u8>(), MAX_PACKED),
            src in proptest::collection::vec(any::<u8>(), MAX_PACKED),
            w in 0u32..=64,
            k in 0usize..=FRAME,
        ) {
            let src = &src[..packed_len(k, w)];
            let mut pad = Pad::new();
            let mut out = vec![0u64; FRAME];
            unpack(&mut pad, &earlier, 64, &mut out);
            let mut out = vec![u64::MAX; k];
            unpack(&mut pad, src, w, &mut out);
            for (i, &v) in out.iter().enumerate() {
                let want = (0..w as usize).fold(0u64, |acc, b| {
                    let bit = i * w as usize + b;
                    acc | (u64::from(src[bit / 8] >> (bit % 8) & 1) << b)
                });
                prop_assert_eq!(v, want, "value {} of {} at width {}", i, k, w);
            }
        }

        #[test]
        fn prop_garbage_never_panics(
            b in proptest::collection::vec(any::<u8>(), 0..300),
            n in 0usize..2000,
        ) {
            let (mut t, mut l, mut s) = (Vec::new(), Vec::new(), Vec::new());
            if decode(&b, n, &mut t, &mut l, Some(&mut s)).is_ok() {
                prop_assert_eq!((t.len(), l.len(), s.len()), (n, n, n));
            }
        }
    }
}
