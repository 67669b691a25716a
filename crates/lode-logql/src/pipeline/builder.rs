//! The per-entry working label set. One `LabelBuf` lives in each
//! `StreamPipeline` and is reused for every entry, so its `String` slots keep
//! their capacity: after warm-up, filling it costs no allocation.

use crate::labels::LabelSet;

pub(crate) const ERROR_LABEL: &str = "__error__";
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";
const DUPLICATE_SUFFIX: &str = "_extracted";

/// Where a label came from; decides the `categorize-labels` bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    Stream,
    Metadata,
    Parsed,
}

#[derive(Debug)]
struct Slot {
    name: String,
    /// `tag(name)`: lookups compare it before comparing names.
    tag: u64,
    value: String,
    cat: Category,
}

/// A cheap fingerprint of a label name. Parsers look up every field name
/// they extract among the entry's labels; comparing tags first spares
/// nearly all string comparisons.
#[inline]
fn tag(name: &str) -> u64 {
    let b = name.as_bytes();
    match b.len() {
        0 => 0,
        n => {
            n as u64
                | u64::from(b[0]) << 16
                | u64::from(b[n / 2]) << 24
                | u64::from(b[n - 1]) << 32
                | u64::from(b[n * 3 / 4]) << 40
        }
    }
}

/// Labels of the entry being processed, plus its pipeline error.
#[derive(Debug, Default)]
pub(crate) struct LabelBuf {
    slots: Vec<Slot>,
    len: usize,
    /// Tags of the stream's label names, for `add_parsed`.
    stream_tags: Vec<u64>,
    err: String,
    err_details: String,
}

impl LabelBuf {
    /// Refills the buffer with the stream labels and structured metadata.
    pub(crate) fn reset(&mut self, stream: &LabelSet, sm: &[(String, String)]) {
        self.len = 0;
        self.err.clear();
        self.err_details.clear();
        self.stream_tags.clear();
        for (k, v) in stream.iter() {
            self.push(k, v, Category::Stream);
            self.stream_tags.push(self.slots[self.len - 1].tag);
        }
        for (k, v) in sm {
            // Metadata with an empty value is absent, as in Loki.
            if v.is_empty() {
                continue;
            }
            match self.position(k) {
                Some(i) => {
                    let s = &mut self.slots[i];
                    s.value.clear();
                    s.value.push_str(v);
                    s.cat = Category::Metadata;
                }
                None => self.push(k, v, Category::Metadata),
            }
        }
    }

    fn push(&mut self, name: &str, value: &str, cat: Category) {
        if self.len < self.slots.len() {
            let s = &mut self.slots[self.len];
            s.name.clear();
            s.name.push_str(name);
            s.tag = tag(name);
            s.value.clear();
            s.value.push_str(value);
            s.cat = cat;
        } else {
            self.slots.push(Slot {
                name: name.to_string(),
                tag: tag(name),
                value: value.to_string(),
                cat,
            });
        }
        self.len += 1;
    }

    fn position(&self, name: &str) -> Option<usize> {
        let t = tag(name);
        self.slots[..self.len]
            .iter()
            .position(|s| s.tag == t && s.name == name)
    }

    /// A label value; `__error__`/`__error_details__` included.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        if name == ERROR_LABEL {
            return (!self.err.is_empty()).then_some(self.err.as_str());
        }
        if name == ERROR_DETAILS_LABEL {
            return (!self.err_details.is_empty()).then_some(self.err_details.as_str());
        }
        self.position(name).map(|i| self.slots[i].value.as_str())
    }

    /// Sets or replaces a label. A replaced label keeps its category unless
    /// `cat` says it now comes from a formatter (parsed).
    pub(crate) fn set(&mut self, name: &str, value: &str, cat: Category) {
        if name == ERROR_LABEL {
            self.err.clear();
            self.err.push_str(value);
            return;
        }
        if name == ERROR_DETAILS_LABEL {
            self.err_details.clear();
            self.err_details.push_str(value);
            return;
        }
        match self.position(name) {
            Some(i) => {
                let s = &mut self.slots[i];
                s.value.clear();
                s.value.push_str(value);
                s.cat = cat;
            }
            None => self.push(name, value, cat),
        }
    }

    /// Adds a label found by a parser. A name taken by a stream label gets
    /// the `_extracted` suffix; a name some parser already extracted keeps
    /// its first value (Loki does not overwrite extracted labels).
    /// `name` must already be sanitised.
    pub(crate) fn add_parsed(&mut self, stream: &LabelSet, name: &str, value: &str) {
        // `stream_tags` holds this stream's tags after `reset`; without it,
        // ask the stream.
        let maybe_stream =
            self.stream_tags.len() != stream.len() || self.stream_tags.contains(&tag(name));
        if maybe_stream && stream.contains(name) {
            let mut n = String::with_capacity(name.len() + DUPLICATE_SUFFIX.len());
            n.push_str(name);
            n.push_str(DUPLICATE_SUFFIX);
            self.add_parsed_final(&n, value);
        } else {
            self.add_parsed_final(name, value);
        }
    }

    fn add_parsed_final(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Some(i) if self.slots[i].cat == Category::Parsed => {}
            Some(i) => {
                let s = &mut self.slots[i];
                s.value.clear();
                s.value.push_str(value);
                s.cat = Category::Parsed;
            }
            None => self.push(name, value, Category::Parsed),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) {
        if name == ERROR_LABEL {
            self.err.clear();
            return;
        }
        if name == ERROR_DETAILS_LABEL {
            self.err_details.clear();
            return;
        }
        if let Some(i) = self.position(name) {
            // Rotate the freed slot to the end so its buffers are reused.
            self.slots[i..self.len].rotate_left(1);
            self.len -= 1;
        }
    }

    /// Keeps the labels for which `keep(name, value)` is true; the error
    /// labels are offered too.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        if !self.err.is_empty() && !keep(ERROR_LABEL, &self.err) {
            self.err.clear();
        }
        if !self.err_details.is_empty() && !keep(ERROR_DETAILS_LABEL, &self.err_details) {
            self.err_details.clear();
        }
        let mut i = 0;
        while i < self.len {
            let s = &self.slots[i];
            if keep(&s.name, &s.value) {
                i += 1;
            } else {
                self.slots[i..self.len].rotate_left(1);
                self.len -= 1;
            }
        }
    }

    pub(crate) fn has_err(&self) -> bool {
        !self.err.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn err(&self) -> &str {
        &self.err
    }

    /// Records a pipeline error; the first error of an entry wins.
    pub(crate) fn set_err(&mut self, kind: &str, details: &str) {
        if self.err.is_empty() {
            self.err.push_str(kind);
            self.err_details.clear();
            self.err_details.push_str(details);
        }
    }

    /// All labels, error labels included. Parsed labels may carry an empty
    /// value (`--keep-empty`, JSON `""`), as in Loki's output.
    pub(crate) fn to_label_set(&self) -> LabelSet {
        self.collect(|_| true)
    }

    fn collect(&self, want: impl Fn(Category) -> bool) -> LabelSet {
        let mut v: Vec<(String, String)> = self.slots[..self.len]
            .iter()
            .filter(|s| want(s.cat) && (s.cat == Category::Parsed || !s.value.is_empty()))
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect();
        if want(Category::Parsed) {
            if !self.err.is_empty() {
                v.push((ERROR_LABEL.to_string(), self.err.clone()));
            }
            if !self.err_details.is_empty() {
                v.push((ERROR_DETAILS_LABEL.to_string(), self.err_details.clone()));
            }
        }
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|b, a| a.0 == b.0);
        LabelSet::from_sorted_unchecked(v)
    }

    /// (all, stream, structured metadata, parsed)
    pub(crate) fn categorized(&self) -> (LabelSet, LabelSet, LabelSet, LabelSet) {
        (
            self.to_label_set(),
            self.collect(|c| c == Category::Stream),
            self.collect(|c| c == Category::Metadata),
            self.collect(|c| c == Category::Parsed),
        )
    }
}

/// Writes `key` as a valid label name into `out`: characters outside
/// `[A-Za-z0-9_]` become `_`, and a leading digit gets a `_` prefix.
pub(crate) fn sanitize_into(key: &str, out: &mut String) {
    sanitize_segment(key, out, true);
}

/// Loki's `sanitizeLabelKey`: surrounding space trimmed, every character but
/// `[a-zA-Z0-9_]` made `_`; only a `first` segment gets `_` before a digit.
pub fn sanitize_segment(key: &str, out: &mut String, first: bool) {
    let key = key.trim();
    if first && key.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        out.push_str(key);
        return;
    }
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf() -> (LabelSet, LabelBuf) {
        let stream = LabelSet::from_pairs([("app", "a"), ("level", "info")]);
        let mut b = LabelBuf::default();
        b.reset(&stream, &[("trace_id".into(), "t1".into())]);
        (stream, b)
    }

    #[test]
    fn parsed_clash_gets_suffix_and_first_wins() {
        let (stream, mut b) = buf();
        b.add_parsed(&stream, "level", "error");
        b.add_parsed(&stream, "msg", "one");
        b.add_parsed(&stream, "msg", "two");
        assert_eq!(b.get("level"), Some("info"));
        assert_eq!(b.get("level_extracted"), Some("error"));
        assert_eq!(b.get("msg"), Some("one"));
        let (all, s, m, p) = b.categorized();
        assert_eq!(all.len(), 5);
        assert_eq!(s.len(), 2);
        assert_eq!(m.get("trace_id"), Some("t1"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn reuse_after_remove_and_reset() {
        let (stream, mut b) = buf();
        b.remove("app");
        assert_eq!(b.get("app"), None);
        b.set_err("JSONParserErr", "bad");
        b.set_err("Other", "x");
        assert_eq!(b.get(ERROR_LABEL), Some("JSONParserErr"));
        b.reset(&stream, &[]);
        assert_eq!(b.get("app"), Some("a"));
        assert!(!b.has_err());
        assert_eq!(b.to_label_set(), stream);
    }

    #[test]
    fn names_with_equal_tags_stay_apart() {
        // Equal length and equal bytes where the tag looks: only the names
        // tell them apart.
        assert_eq!(tag("axbyc"), tag("azbyc"));
        let stream = LabelSet::from_pairs([("axbyc", "s")]);
        let mut b = LabelBuf::default();
        b.reset(&stream, &[]);
        b.add_parsed(&stream, "azbyc", "p");
        b.add_parsed(&stream, "axbyc", "q");
        assert_eq!(b.get("azbyc"), Some("p"));
        assert_eq!(b.get("axbyc"), Some("s"));
        assert_eq!(b.get("axbyc_extracted"), Some("q"));
        // Without `reset` the stream is asked directly.
        let mut fresh = LabelBuf::default();
        fresh.add_parsed(&stream, "axbyc", "r");
        assert_eq!(fresh.get("axbyc_extracted"), Some("r"));
    }

    #[test]
    fn sanitize() {
        let mut s = String::new();
        sanitize_into("01:59.x-y", &mut s);
        assert_eq!(s, "_01_59_x_y");
        s.clear();
        sanitize_into("orgId", &mut s);
        assert_eq!(s, "orgId");
    }
}
