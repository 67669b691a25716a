//! A stream's labels as the store holds them for the whole retention
//! period: every name and value in one string, their end offsets in a
//! second allocation. A `LabelSet` (a vector of pairs of separately
//! allocated strings) takes ~300 bytes for a typical 4-label stream; this
//! takes ~110, and a month of pod churn is 100,000 of them.

use lode_logql::LabelSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// Read access to a stream's labels, whichever way they are held.
pub trait LabelLookup {
    /// The value of label `name`, if the stream has it.
    fn label(&self, name: &str) -> Option<&str>;
}

impl<T: LabelLookup + ?Sized> LabelLookup for std::sync::Arc<T> {
    fn label(&self, name: &str) -> Option<&str> {
        (**self).label(name)
    }
}

impl LabelLookup for LabelSet {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// Sorted, unique label pairs in two allocations.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct StoredLabels {
    /// name0 value0 name1 value1 ... back to back.
    text: Box<str>,
    /// The end offset in `text` of each name and each value.
    ends: Box<[u32]>,
}

impl StoredLabels {
    /// From pairs sorted by name without duplicates (a `LabelSet`'s).
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> StoredLabels {
        let mut text = String::new();
        let mut ends = Vec::new();
        for (k, v) in pairs {
            text.push_str(k);
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
            text.push_str(v);
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        StoredLabels {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    pub fn from_set(l: &LabelSet) -> StoredLabels {
        StoredLabels::new(l.iter())
    }

    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends.get(i).map_or(start, |&e| e as usize);
        self.text.get(start..end).unwrap_or("")
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        (0..self.len()).map(|i| (self.part(2 * i), self.part(2 * i + 1)))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.part(2 * i))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.part(2 * mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.part(2 * mid + 1)),
            }
        }
        None
    }

    /// A `LabelSet` with the same pairs (for answers and pipelines).
    pub fn to_label_set(&self) -> LabelSet {
        LabelSet::from_sorted_unchecked(
            self.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Whether `l` holds exactly these pairs.
    pub fn eq_set(&self, l: &LabelSet) -> bool {
        self.len() == l.len() && self.iter().eq(l.iter())
    }
}

impl LabelLookup for StoredLabels {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

impl fmt::Debug for StoredLabels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Hashes label pairs so that a `LabelSet` and the `StoredLabels` of the
/// same pairs hash alike.
pub fn hash_pairs<'a>(
    state: &impl BuildHasher,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u64 {
    let mut h = state.build_hasher();
    for (k, v) in pairs {
        h.write(k.as_bytes());
        h.write_u8(0xff);
        h.write(v.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_lookup_and_hash() {
        let l = LabelSet::from_pairs([("pod", "p-1"), ("app", "grafana"), ("ns", ""), ("é", "ü")]);
        let s = StoredLabels::from_set(&l);
        assert_eq!(s.len(), 4);
        assert_eq!(s.to_label_set(), l);
        assert!(s.eq_set(&l));
        assert_eq!(s.get("app"), Some("grafana"));
        assert_eq!(s.get("ns"), Some(""));
        assert_eq!(s.get("é"), Some("ü"));
        assert_eq!(s.get("missing"), None);
        assert_eq!(s.names().collect::<Vec<_>>(), ["app", "ns", "pod", "é"]);
        let state = foldhash::fast::RandomState::default();
        assert_eq!(hash_pairs(&state, s.iter()), hash_pairs(&state, l.iter()));
        let other = LabelSet::from_pairs([("app", "grafanap"), ("ns", "-1")]);
        assert!(!s.eq_set(&other));
        // Pair boundaries are part of the hash: "ab"+"c" is not "a"+"bc".
        let a = LabelSet::from_pairs([("ab", "c")]);
        let b = LabelSet::from_pairs([("a", "bc")]);
        assert_ne!(hash_pairs(&state, a.iter()), hash_pairs(&state, b.iter()));
        assert!(StoredLabels::default().is_empty());
        assert_eq!(
            format!("{s:?}"),
            r#"{"app": "grafana", "ns": "", "pod": "p-1", "é": "ü"}"#
        );
    }
}
