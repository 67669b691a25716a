//! A stream's unsealed entries in columns: timestamps, line lengths, the
//! line text in a few buffers and an index into the stream's distinct
//! structured-metadata sets (most entries share one of a handful, e.g. only
//! `detected_level`). A `Vec<Entry>` costs three to five heap allocations
//! and ~150 bytes of bookkeeping per line; here an entry costs 16 bytes
//! beyond its text and nothing is allocated per line. Heads are most of the
//! memory an ingesting server holds.

use lode_proto::Entry;

/// Text buffers grow in chunks so that appending never moves earlier
/// lines; a chunk is at least this big, or as big as the line.
const MIN_CHUNK: usize = 2 << 10;
/// And at most this big (unless one line is larger): a stream's last chunk
/// is half empty on average, times every stream (64 KiB chunks left ~19 MiB
/// unused at the 1M-line bench's flush).
const MAX_CHUNK: usize = 16 << 10;
/// A new entry's metadata is compared with this many of the most recent
/// distinct sets before it is stored as a new one.
const RECENT_SETS: usize = 16;

/// A stream's head: nothing allocated while it is empty, which is what
/// most of a month's streams are (their data is in chunk files). Eight
/// empty vectors inline would cost ~180 bytes per stream.
#[derive(Debug, Default)]
pub struct Head(Option<Box<HeadData>>);

impl Head {
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|h| h.is_empty())
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |h| h.len())
    }

    /// The entries' timestamps, in arrival order.
    pub fn timestamps(&self) -> &[i64] {
        self.0.as_ref().map_or(&[], |h| h.timestamps())
    }

    /// Total bytes of line text held.
    pub fn text_len(&self) -> usize {
        self.0.as_ref().map_or(0, |h| h.text_len())
    }

    /// What the head costs against `block_target_bytes`: line bytes plus
    /// 16 per entry.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |h| h.bytes)
    }

    /// The oldest entry's timestamp (`i64::MAX` when empty).
    pub fn min_ts(&self) -> i64 {
        self.0.as_ref().map_or(i64::MAX, |h| h.min_ts)
    }

    /// The newest entry's timestamp (`i64::MIN` when empty).
    pub fn max_ts(&self) -> i64 {
        self.0.as_ref().map_or(i64::MIN, |h| h.max_ts)
    }

    pub fn push(&mut self, e: &Entry) {
        self.0.get_or_insert_with(Box::default).push(e);
    }

    /// Entries in `[start, end_incl]`, sorted by time (stable).
    pub fn entries_in(&self, start: i64, end_incl: i64) -> Vec<Entry> {
        self.0
            .as_ref()
            .map_or_else(Vec::new, |h| h.entries_in(start, end_incl))
    }

    /// Every entry as the columns of a block, sorted by time (stable),
    /// leaving the head empty: sealing costs a few vectors per block, not
    /// an `Entry` (and its allocations) per line.
    pub fn take_block_parts(&mut self) -> Option<crate::format::block::BlockParts> {
        self.0.take().map(|h| h.block_parts())
    }
}

#[derive(Debug)]
pub struct HeadData {
    bytes: usize,
    min_ts: i64,
    max_ts: i64,
    ts: Vec<i64>,
    line_lens: Vec<u32>,
    /// Lines back to back; a line never spans two chunks.
    chunks: Vec<String>,
    text_len: usize,
    /// Per entry, its structured metadata: an index into `sets`.
    meta_ids: Vec<u32>,
    sets: Vec<MetaSet>,
    /// Name length, value length, per pair of every set.
    meta_lens: Vec<u32>,
    /// Names and values of every set, back to back.
    meta_text: String,
}

/// One distinct structured-metadata set (pairs in entry order).
#[derive(Debug, Clone, Copy)]
struct MetaSet {
    /// First pair in `meta_lens` (in pairs) and the pair count.
    pair: u32,
    n: u32,
    /// Its bytes in `meta_text`.
    text: u32,
    bytes: u32,
}

impl Default for HeadData {
    fn default() -> Self {
        HeadData {
            bytes: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            ts: Vec::new(),
            line_lens: Vec::new(),
            chunks: Vec::new(),
            text_len: 0,
            meta_ids: Vec::new(),
            sets: Vec::new(),
            meta_lens: Vec::new(),
            meta_text: String::new(),
        }
    }
}

impl HeadData {
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// The entries' timestamps, in arrival order.
    pub fn timestamps(&self) -> &[i64] {
        &self.ts
    }

    /// Total bytes of line text held.
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    pub fn push(&mut self, e: &Entry) {
        self.bytes += e.line.len() + 16;
        self.min_ts = self.min_ts.min(e.ts);
        self.max_ts = self.max_ts.max(e.ts);
        self.ts.push(e.ts);
        self.line_lens.push(e.line.len() as u32);
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= e.line.len());
        if !fits {
            let cap = self.text_len.clamp(MIN_CHUNK, MAX_CHUNK).max(e.line.len());
            self.chunks.push(String::with_capacity(cap));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push_str(&e.line);
        }
        self.text_len += e.line.len();
        let id = self.set_id(&e.structured_metadata);
        self.meta_ids.push(id);
    }

    /// The id of a set equal to `sm` among the recent ones, else of a new set.
    fn set_id(&mut self, sm: &[(String, String)]) -> u32 {
        let from = self.sets.len().saturating_sub(RECENT_SETS);
        for id in (from..self.sets.len()).rev() {
            let set = self.sets[id];
            if set.n as usize == sm.len()
                && self
                    .set_iter(set)
                    .eq(sm.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            {
                return id as u32;
            }
        }
        let set = MetaSet {
            pair: (self.meta_lens.len() / 2) as u32,
            n: sm.len() as u32,
            text: self.meta_text.len() as u32,
            bytes: sm.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() as u32,
        };
        for (k, v) in sm {
            self.meta_lens.push(k.len() as u32);
            self.meta_lens.push(v.len() as u32);
            self.meta_text.push_str(k);
            self.meta_text.push_str(v);
        }
        self.sets.push(set);
        (self.sets.len() - 1) as u32
    }

    fn set_iter(&self, set: MetaSet) -> MetaIter<'_> {
        let (p, n) = (set.pair as usize, set.n as usize);
        let (t, b) = (set.text as usize, set.bytes as usize);
        MetaIter {
            lens: self.meta_lens.get(p * 2..(p + n) * 2).unwrap_or(&[]),
            text: self.meta_text.get(t..t + b).unwrap_or(""),
        }
    }

    /// Every line in arrival order.
    fn lines(&self) -> impl Iterator<Item = &str> + '_ {
        let (mut chunk, mut pos) = (0usize, 0usize);
        self.line_lens.iter().map(move |&len| {
            let len = len as usize;
            // A line that did not fit went to the next chunk (see `push`).
            while chunk < self.chunks.len() && pos + len > self.chunks[chunk].len() {
                chunk += 1;
                pos = 0;
            }
            let line = self
                .chunks
                .get(chunk)
                .and_then(|c| c.get(pos..pos + len))
                .unwrap_or("");
            pos += len;
            line
        })
    }

    /// Visits every entry in arrival order as borrowed parts.
    fn for_each(&self, mut f: impl FnMut(i64, &str, MetaIter<'_>)) {
        for (i, line) in self.lines().enumerate() {
            let set = self.sets[self.meta_ids[i] as usize];
            f(self.ts[i], line, self.set_iter(set));
        }
    }

    /// The block columns of every entry, sorted by time (stable). Equal
    /// metadata sets share one dictionary entry, numbered in order of
    /// first appearance, exactly as `encode_block` numbers them.
    pub fn block_parts(&self) -> crate::format::block::BlockParts {
        use std::collections::HashMap;
        let n = self.ts.len();
        let sorted = self.ts.is_sorted();
        let mut order: Vec<u32> = Vec::new();
        if !sorted {
            order = (0..n as u32).collect();
            order.sort_by_key(|&i| self.ts[i as usize]);
        }
        let at = |k: usize| if sorted { k } else { order[k] as usize };
        let mut p = crate::format::block::BlockParts {
            ts: Vec::with_capacity(n),
            lens: Vec::with_capacity(n),
            sets: Vec::with_capacity(n),
            md: Vec::new(),
            lines: Vec::with_capacity(self.text_len),
        };
        if sorted {
            for line in self.lines() {
                p.lines.extend_from_slice(line.as_bytes());
            }
        } else {
            let lines: Vec<&str> = self.lines().collect();
            for &i in &order {
                p.lines.extend_from_slice(lines[i as usize].as_bytes());
            }
        }
        for k in 0..n {
            let i = at(k);
            p.ts.push(self.ts[i]);
            p.lens.push(self.line_lens[i]);
        }
        let any_meta = self
            .meta_ids
            .iter()
            .any(|&id| self.sets.get(id as usize).is_some_and(|s| s.n > 0));
        if !any_meta {
            p.sets.resize(n, 0);
            return p;
        }
        // Head set id → block dictionary index, deduplicated by content.
        let mut remap: Vec<Option<u32>> = vec![None; self.sets.len()];
        let mut by_content: HashMap<(&[u32], &str), u32> = HashMap::new();
        let mut body = Vec::new();
        for k in 0..n {
            let id = self.meta_ids[at(k)] as usize;
            let ix = match remap[id] {
                Some(ix) => ix,
                None => {
                    let set = self.sets[id];
                    let (pr, np) = (set.pair as usize, set.n as usize);
                    let (t, b) = (set.text as usize, set.bytes as usize);
                    let key = (
                        self.meta_lens.get(pr * 2..(pr + np) * 2).unwrap_or(&[]),
                        self.meta_text.get(t..t + b).unwrap_or(""),
                    );
                    let next = by_content.len() as u32;
                    let ix = *by_content.entry(key).or_insert(next);
                    if ix == next {
                        crate::format::block::encode_set_pairs(&mut body, np, self.set_iter(set));
                    }
                    remap[id] = Some(ix);
                    ix
                }
            };
            p.sets.push(ix);
        }
        crate::format::varint::put_uvarint(&mut p.md, by_content.len() as u64);
        p.md.extend_from_slice(&body);
        p
    }

    /// Owned entries with `start <= ts <= end_incl`, sorted by time
    /// (stable: equal timestamps keep arrival order).
    pub fn entries_in(&self, start: i64, end_incl: i64) -> Vec<Entry> {
        let mut out = Vec::new();
        self.for_each(|ts, line, meta| {
            if ts >= start && ts <= end_incl {
                out.push(Entry {
                    ts,
                    line: line.to_owned(),
                    structured_metadata: meta.map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
                });
            }
        });
        out.sort_by_key(|e| e.ts);
        out
    }
}

struct MetaIter<'a> {
    lens: &'a [u32],
    text: &'a str,
}

impl<'a> Iterator for MetaIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let (&[k, v], rest) = self.lens.split_first_chunk::<2>()?;
        let (k, v) = (k as usize, v as usize);
        let name = self.text.get(..k).unwrap_or("");
        let value = self.text.get(k..k + v).unwrap_or("");
        self.text = self.text.get(k + v..).unwrap_or("");
        self.lens = rest;
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.lens.len() / 2, Some(self.lens.len() / 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ts: i64, line: &str, sm: &[(&str, &str)]) -> Entry {
        Entry {
            ts,
            line: line.to_owned(),
            structured_metadata: sm
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    proptest! {
        /// Sealing from the columns writes the very bytes sealing from
        /// owned entries wrote: same order, same dictionary, same block.
        #[test]
        fn block_parts_encode_as_the_entries_do(
            rows in proptest::collection::vec(
                (0i64..40, "[a-zé ]{0,30}", proptest::option::of(0usize..24)),
                0..120,
            ),
            big in 0usize..3,
        ) {
            use crate::format::block::{encode_block, encode_parts, Compression};
            let mut h = Head::default();
            for (i, (ts, line, set)) in rows.iter().enumerate() {
                // More distinct sets than RECENT_SETS, so the head holds
                // duplicates the block must fold together.
                let sm: Vec<(String, String)> = match set {
                    None => Vec::new(),
                    Some(s) => vec![("detected_level".into(), format!("l{s}")), ("k".into(), (s % 3).to_string())],
                };
                let line = if i % 37 == 0 && big > 0 { "x".repeat(MAX_CHUNK * big) } else { line.clone() };
                h.push(&Entry { ts: *ts, line, structured_metadata: sm });
            }
            let entries = h.entries_in(i64::MIN, i64::MAX);
            for c in [Compression::None, Compression::Zstd(1)] {
                let from_entries = encode_block(&entries, c).unwrap();
                let parts = h.0.as_ref().map(|d| d.block_parts()).unwrap_or_default();
                let lines: Vec<&[u8]> = parts.lines().collect();
                prop_assert_eq!(lines, entries.iter().map(|e| e.line.as_bytes()).collect::<Vec<_>>());
                prop_assert_eq!(encode_parts(parts, c).unwrap(), from_entries);
            }
        }
    }

    #[test]
    fn keeps_entries_and_sorts_stably() {
        let mut h = Head::default();
        let big = "x".repeat(MAX_CHUNK + 10);
        let input = vec![
            entry(5, "five", &[("detected_level", "info")]),
            entry(1, "", &[]),
            entry(
                5,
                "ünï five again",
                &[("a", ""), ("", "b"), ("trace_id", "t")],
            ),
            entry(3, &big, &[]),
            entry(2, "two", &[]),
            entry(4, "again", &[("detected_level", "info")]),
            entry(4, "other", &[("detected_level", "inf"), ("o", "")]),
        ];
        for e in &input {
            h.push(e);
        }
        assert_eq!(h.len(), 7);
        // Equal metadata is stored once.
        assert_eq!(h.0.as_ref().map(|d| d.sets.len()), Some(4));
        assert_eq!(
            h.text_len(),
            input.iter().map(|e| e.line.len()).sum::<usize>()
        );
        let mut want = input.clone();
        want.sort_by_key(|e| e.ts);
        assert_eq!(h.entries_in(i64::MIN, i64::MAX), want);
        assert_eq!(h.entries_in(2, 3), want[1..3].to_vec());
        assert_eq!(h.entries_in(4, 4).len(), 2);
        assert!(h.entries_in(6, 9).is_empty());
        let parts = h.take_block_parts().unwrap();
        assert_eq!(parts.ts, want.iter().map(|e| e.ts).collect::<Vec<_>>());
        assert_eq!(
            parts.lines().collect::<Vec<_>>(),
            want.iter().map(|e| e.line.as_bytes()).collect::<Vec<_>>()
        );
        assert!(h.is_empty());
        assert_eq!(h.text_len(), 0);
    }

    proptest! {
        #[test]
        fn round_trips_any_entries(
            raw in prop::collection::vec(
                (-5i64..5, ".{0,300}", prop::collection::vec(("[a-c_]{0,2}", "[x-z]{0,2}"), 0..3)),
                0..200,
            )
        ) {
            let input: Vec<Entry> = raw
                .into_iter()
                .map(|(ts, line, sm)| Entry { ts, line, structured_metadata: sm })
                .collect();
            let mut h = Head::default();
            for e in &input {
                h.push(e);
            }
            let mut want = input.clone();
            want.sort_by_key(|e| e.ts);
            prop_assert_eq!(h.entries_in(i64::MIN, i64::MAX), want.clone());
            let mid: Vec<Entry> = want.iter().filter(|e| (-1..=2).contains(&e.ts)).cloned().collect();
            prop_assert_eq!(h.entries_in(-1, 2), mid);
        }
    }
}
