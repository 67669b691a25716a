//! Block filters: a bit set of the 4-byte grams of a block's lines, so that
//! substring line filters skip blocks that cannot hold their needle without
//! decompressing them. Layout and the reasons for its parameters: see
//! `docs/storage.md` ("Block filter").

/// Gram length in bytes.
pub const GRAM: usize = 4;
/// Filter kind byte: 4-gram bit set, one bit per gram.
const KIND_GRAMS4: u8 = 1;
/// The bit set is built at this size, then folded to the chosen one. Every
/// size the writer picks (2^j and 3·2^j, j ≥ 6) divides it, so folding is
/// exact: with `k = M / m`, bit `⌊h·M/2^32⌋` lands on `⌊h·m/2^32⌋`, its
/// index divided by k.
const BUILD_BITS: usize = 3 << 16;
const MIN_BITS: usize = 64;
/// Fill above which a smaller size is refused: at 70 % a 25-gram needle
/// still passes a block without it with probability ~1e-4 (measured on the
/// homelab data set, see `docs/storage.md`).
const MAX_FILL_PERCENT: usize = 70;
/// A filter never takes more than this share of the block's line bytes
/// (high-entropy text would need ~1/5), but may always take `MIN_CAP_BITS`:
/// small blocks pay for their template grams alone and must stay skippable.
const MAX_SHARE: usize = 8;
const MIN_CAP_BITS: usize = 256;

/// Fibonacci hashing: the high bits of the product depend on every bit of
/// the gram, and `slot` only uses high bits.
#[inline]
fn gram_hash(w: u32) -> u32 {
    w.wrapping_mul(0x9E37_79B1)
}

/// The bit of hash `h` in a set of `m` bits (multiply-shift range reduction:
/// no division, and nested sizes fold exactly).
#[inline]
fn slot(h: u32, m: usize) -> usize {
    ((u64::from(h) * m as u64) >> 32) as usize
}

/// True when a window holds an ASCII letter or a byte ≥ 0x80 (four bytes at
/// once: bit 7 of a lane marks a letter after folding case).
#[inline]
fn qualifies(w: u32) -> bool {
    const HI: u32 = 0x8080_8080;
    let x = (w | 0x2020_2020) & 0x7f7f_7f7f;
    let ge_a = x.wrapping_add(0x1f1f_1f1f); // lane ≥ 'a' (0x61)
    let gt_z = x.wrapping_add(0x0505_0505); // lane ≥ '{' (0x7b)
    (w & HI) | (ge_a & !gt_z & HI) != 0
}

#[inline]
fn window(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Builds a block filter from its lines; `None` when the block gets none.
/// One scratch bit set per thread: blocks are encoded one at a time.
pub fn build<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Box<[u64; BUILD_BITS / 64]>> =
            std::cell::RefCell::new(Box::new([0; BUILD_BITS / 64]));
    }
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let s: &mut [u64; BUILD_BITS / 64] = &mut s;
        s.fill(0);
        let mut line_bytes = 0usize;
        for l in lines {
            line_bytes += l.len();
            add_line(s, l);
        }
        fold(s, line_bytes)
    })
}

/// Sets the bits of every qualifying window of `l`. Five windows come from
/// each 8-byte load, with their letter test done on all eight lanes at once.
/// Branch-free: letters and digits alternate unpredictably in log text, a
/// branch per window mispredicts a lot.
#[inline]
fn add_line(s: &mut [u64; BUILD_BITS / 64], l: &[u8]) {
    let mut i = 0;
    while i + 8 <= l.len() {
        let mut x = [0u8; 8];
        x.copy_from_slice(&l[i..i + 8]);
        let x = u64::from_le_bytes(x);
        let q = qualifying_windows(x);
        for k in 0..5 {
            let j = slot(gram_hash((x >> (8 * k)) as u32), BUILD_BITS);
            s[j / 64] |= (q >> (8 * k) & 1) << (j % 64);
        }
        i += 5;
    }
    while i + GRAM <= l.len() {
        let w = window(l, i);
        let j = slot(gram_hash(w), BUILD_BITS);
        s[j / 64] |= u64::from(qualifies(w)) << (j % 64);
        i += 1;
    }
}

/// Bit `8·k` is set when the window of bytes `k..k+4` of `x` qualifies
/// (k ≤ 4), as [`qualifies`] decides it.
#[inline]
fn qualifying_windows(x: u64) -> u64 {
    const HI: u64 = 0x8080_8080_8080_8080;
    let y = (x | 0x2020_2020_2020_2020) & 0x7f7f_7f7f_7f7f_7f7f;
    let ge_a = y.wrapping_add(0x1f1f_1f1f_1f1f_1f1f);
    let gt_z = y.wrapping_add(0x0505_0505_0505_0505);
    let lanes = ((x & HI) | (ge_a & !gt_z & HI)) >> 7;
    lanes | lanes >> 8 | lanes >> 16 | lanes >> 24
}

/// Picks the smallest size whose fill is acceptable and encodes it.
fn fold(full: &[u64], line_bytes: usize) -> Option<Vec<u8>> {
    let max_bits = (line_bytes / MAX_SHARE * 8).max(MIN_CAP_BITS);
    let set: usize = full.iter().map(|w| w.count_ones() as usize).sum();
    let mut folded = Vec::new();
    for m in sizes() {
        if m > max_bits {
            return None;
        }
        // Folding merges colliding bits, so fewer than `set` remain; but
        // with 1.5 grams per bit far more than 70 % would: not worth a fold.
        if set * 2 > m * 3 {
            continue;
        }
        let k = BUILD_BITS / m;
        folded.clear();
        folded.resize(m / 64, 0u64);
        for (wi, w) in full.iter().enumerate() {
            let mut x = *w;
            while x != 0 {
                let j = (wi * 64 + x.trailing_zeros() as usize) / k;
                folded[j / 64] |= 1 << (j % 64);
                x &= x - 1;
            }
        }
        let ones: usize = folded.iter().map(|w| w.count_ones() as usize).sum();
        if ones * 100 <= m * MAX_FILL_PERCENT {
            let mut out = Vec::with_capacity(1 + m / 8);
            out.push(KIND_GRAMS4);
            for w in &folded {
                out.extend_from_slice(&w.to_le_bytes());
            }
            return Some(out);
        }
    }
    None
}

/// 64, 128, 192, 256, 384, ... 196,608: every multiple of 64 bits of the
/// form 2^j or 3·2^j, ascending (all divide `BUILD_BITS`).
fn sizes() -> impl Iterator<Item = usize> {
    (6..=17u32)
        .flat_map(|j| [1usize << j, 3usize << (j - 1)])
        .filter(|m| *m >= MIN_BITS && m % 64 == 0 && BUILD_BITS.is_multiple_of(*m))
}

/// The qualifying grams of one needle, hashed once per query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedleGrams {
    hashes: Vec<u32>,
}

impl NeedleGrams {
    /// `None` when the needle cannot rule a block out (shorter than a gram,
    /// or no qualifying window).
    pub fn new(needle: &[u8]) -> Option<NeedleGrams> {
        if needle.len() < GRAM {
            return None;
        }
        let mut hashes: Vec<u32> = (0..=needle.len() - GRAM)
            .map(|i| window(needle, i))
            .filter(|w| qualifies(*w))
            .map(gram_hash)
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        (!hashes.is_empty()).then_some(NeedleGrams { hashes })
    }

    /// False only when the block's lines certainly do not contain the needle.
    /// A filter of an unknown kind or an empty one never rules out.
    pub fn may_occur(&self, filter: &[u8]) -> bool {
        let Some((&kind, bits)) = filter.split_first() else {
            return true;
        };
        if kind != KIND_GRAMS4 || bits.is_empty() {
            return true;
        }
        let m = bits.len() * 8;
        self.hashes.iter().all(|h| {
            let i = slot(*h, m);
            bits[i / 8] >> (i % 8) & 1 == 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scalar_qualifies(w: u32) -> bool {
        w.to_le_bytes()
            .iter()
            .any(|c| c.is_ascii_alphabetic() || *c >= 0x80)
    }

    fn filter_of(lines: &[&str]) -> Option<Vec<u8>> {
        build(lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn finds_present_needles_and_rules_out_absent_ones() {
        let lines: Vec<String> = (0..500)
            .map(|i| format!("level=info msg=\"request {i} done\" path=/api/v1/query took={i}ms"))
            .chain(["trace_id=4bf92f3577b34da6a3ce929d0e0e4736 failed".to_string()])
            .collect();
        let f = build(lines.iter().map(|l| l.as_bytes())).unwrap();
        let present = [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "request",
            "api/v1",
            " done",
        ];
        for n in present {
            assert!(NeedleGrams::new(n.as_bytes()).unwrap().may_occur(&f), "{n}");
        }
        let absent = [
            "00f067aa0ba902b7c0ffee5eed1234ab",
            "timeout",
            "NXDOMAIN",
            "kitchen",
        ];
        let ruled_out = absent
            .iter()
            .filter(|n| !NeedleGrams::new(n.as_bytes()).unwrap().may_occur(&f))
            .count();
        assert!(ruled_out >= 3, "only {ruled_out} of {absent:?} ruled out");
    }

    #[test]
    fn short_or_digit_only_needles_never_rule_out() {
        assert_eq!(NeedleGrams::new(b"abc"), None);
        assert_eq!(NeedleGrams::new(b"10.42.1.19"), None);
        assert_eq!(NeedleGrams::new(b"12:00:01"), None);
        assert!(NeedleGrams::new(b"1234a").is_some());
    }

    #[test]
    fn size_follows_content_and_respects_the_cap() {
        // No qualifying gram at all: the smallest filter, all zeros.
        let f = filter_of(&["12:00:01.123 200 1234"]).unwrap();
        assert_eq!(f.len(), 1 + MIN_BITS / 8);
        assert!(f[1..].iter().all(|b| *b == 0));
        // Many distinct grams: a larger filter, at most 70 % full.
        let many: Vec<String> = (0..4000u32)
            .map(|i| {
                format!(
                    "id={:08x} msg=\"request completed as usual\" user=admin",
                    i.wrapping_mul(2654435761)
                )
            })
            .collect();
        let f = build(many.iter().map(|l| l.as_bytes())).unwrap();
        let ones: u32 = f[1..].iter().map(|b| b.count_ones()).sum();
        assert!(f.len() > 1000);
        assert!(ones as usize * 100 <= (f.len() - 1) * 8 * MAX_FILL_PERCENT);
        // Random text would need more than 1/8 of it.
        let mut x = 1u64;
        let noisy: Vec<String> = (0..200)
            .map(|_| {
                (0..30)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (b'a' + (x >> 59) as u8 % 26) as char
                    })
                    .collect()
            })
            .collect();
        assert_eq!(build(noisy.iter().map(|l| l.as_bytes())), None);
    }

    #[test]
    fn unknown_or_empty_filters_never_rule_out() {
        let n = NeedleGrams::new(b"needle").unwrap();
        assert!(n.may_occur(&[]));
        assert!(n.may_occur(&[KIND_GRAMS4]));
        assert!(n.may_occur(&[9, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!n.may_occur(&[KIND_GRAMS4, 0, 0, 0, 0, 0, 0, 0, 0]));
    }

    /// The definition: every window, one at a time.
    fn build_by_windows(lines: &[&[u8]]) -> Option<Vec<u8>> {
        let mut s = Box::new([0u64; BUILD_BITS / 64]);
        for l in lines {
            for c in l.windows(GRAM) {
                let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if scalar_qualifies(w) {
                    let i = slot(gram_hash(w), BUILD_BITS);
                    s[i / 64] |= 1 << (i % 64);
                }
            }
        }
        fold(&s[..], lines.iter().map(|l| l.len()).sum())
    }

    proptest! {
        #[test]
        fn prop_swar_class_matches_scalar(w in any::<u32>()) {
            prop_assert_eq!(qualifies(w), scalar_qualifies(w));
        }

        #[test]
        fn prop_window_lanes_match_scalar(x in any::<u64>()) {
            let q = qualifying_windows(x);
            for k in 0..5 {
                prop_assert_eq!(q >> (8 * k) & 1 == 1, scalar_qualifies((x >> (8 * k)) as u32));
            }
        }

        #[test]
        fn prop_build_sets_the_bits_of_every_window(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..90), 0..30),
        ) {
            let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(build(lines.iter().copied()), build_by_windows(&lines));
        }

        /// No false negatives: any substring of any line (ASCII, digits,
        /// multi-byte UTF-8) is never ruled out.
        #[test]
        fn prop_never_rules_out_a_present_needle(
            lines in proptest::collection::vec("[a-f0-9 =:.é✓日本-]{0,60}|\\PC{0,30}", 1..40),
            pick in any::<proptest::sample::Index>(),
            a in any::<proptest::sample::Index>(),
            len in 4usize..40,
        ) {
            let f = filter_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
            let line = lines[pick.index(lines.len())].as_bytes();
            if let (Some(f), true) = (f, line.len() >= GRAM) {
                let start = a.index(line.len() - GRAM + 1);
                let end = (start + len).min(line.len());
                if let Some(n) = NeedleGrams::new(&line[start..end]) {
                    prop_assert!(n.may_occur(&f));
                }
            }
        }
    }
}
