//! A stream's unsealed entries in columns: timestamps, line lengths, the
//! line text in a few large buffers and the structured metadata packed the
//! same way. A `Vec<Entry>` costs three to five heap allocations and ~150
//! bytes of bookkeeping per line; here an entry costs ~40 bytes beyond its
//! text and nothing is allocated per line, which is most of the memory an
//! ingesting server holds.

use lode_proto::Entry;

/// Text buffers grow in chunks so that appending never moves earlier
/// lines; a chunk is at least this big, or as big as the line.
const MIN_CHUNK: usize = 4 << 10;
/// And at most this big (unless one line is larger), which bounds the
/// unused tail of a stream's last chunk.
const MAX_CHUNK: usize = 64 << 10;

#[derive(Debug, Default)]
pub struct Head {
    ts: Vec<i64>,
    line_lens: Vec<u32>,
    /// Lines back to back; a line never spans two chunks.
    chunks: Vec<String>,
    text_len: usize,
    /// Structured metadata pairs per entry.
    meta_counts: Vec<u32>,
    /// Name length, value length, per pair, in entry order.
    meta_lens: Vec<u32>,
    meta_text: String,
}

impl Head {
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Total bytes of line text held.
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    pub fn push(&mut self, e: &Entry) {
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
        self.meta_counts.push(e.structured_metadata.len() as u32);
        for (k, v) in &e.structured_metadata {
            self.meta_lens.push(k.len() as u32);
            self.meta_lens.push(v.len() as u32);
            self.meta_text.push_str(k);
            self.meta_text.push_str(v);
        }
    }

    /// Visits every entry in arrival order as borrowed parts.
    fn for_each(&self, mut f: impl FnMut(i64, &str, MetaIter<'_>)) {
        let (mut chunk, mut pos) = (0usize, 0usize);
        let (mut pair, mut mpos) = (0usize, 0usize);
        for i in 0..self.ts.len() {
            let len = self.line_lens[i] as usize;
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
            let n = self.meta_counts[i] as usize;
            let lens = &self.meta_lens[pair * 2..(pair + n) * 2];
            let bytes: usize = lens.iter().map(|l| *l as usize).sum();
            let text = self.meta_text.get(mpos..mpos + bytes).unwrap_or("");
            pair += n;
            mpos += bytes;
            f(self.ts[i], line, MetaIter { lens, text });
        }
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
                    structured_metadata: meta.collect(),
                });
            }
        });
        out.sort_by_key(|e| e.ts);
        out
    }

    /// Every entry, sorted by time (stable), leaving the head empty.
    pub fn take_sorted(&mut self) -> Vec<Entry> {
        let v = self.entries_in(i64::MIN, i64::MAX);
        *self = Head::default();
        v
    }
}

struct MetaIter<'a> {
    lens: &'a [u32],
    text: &'a str,
}

impl Iterator for MetaIter<'_> {
    type Item = (String, String);

    fn next(&mut self) -> Option<(String, String)> {
        let (&[k, v], rest) = self.lens.split_first_chunk::<2>()?;
        let (k, v) = (k as usize, v as usize);
        let name = self.text.get(..k).unwrap_or("").to_owned();
        let value = self.text.get(k..k + v).unwrap_or("").to_owned();
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
        ];
        for e in &input {
            h.push(e);
        }
        assert_eq!(h.len(), 5);
        assert_eq!(
            h.text_len(),
            input.iter().map(|e| e.line.len()).sum::<usize>()
        );
        let mut want = input.clone();
        want.sort_by_key(|e| e.ts);
        assert_eq!(h.entries_in(i64::MIN, i64::MAX), want);
        assert_eq!(h.entries_in(2, 3), want[1..3].to_vec());
        assert!(h.entries_in(6, 9).is_empty());
        assert_eq!(h.take_sorted(), want);
        assert!(h.is_empty());
        assert_eq!(h.text_len(), 0);
    }

    proptest! {
        #[test]
        fn round_trips_any_entries(
            raw in prop::collection::vec(
                (-5i64..5, ".{0,300}", prop::collection::vec(("[a-z_]{0,8}", ".{0,8}"), 0..3)),
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
