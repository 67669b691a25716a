//! Label sets: the identity of a stream and of a metric series.

use std::fmt;

/// A set of labels kept sorted by name, names unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet(Vec<(String, String)>);

impl LabelSet {
    pub fn new() -> Self {
        LabelSet(Vec::new())
    }

    /// Builds a set from pairs in any order; a later duplicate name wins.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut s = LabelSet::new();
        for (k, v) in pairs {
            s.insert(k.into(), v.into());
        }
        s
    }

    /// Wraps pairs that are already sorted by name and unique.
    pub fn from_sorted_unchecked(pairs: Vec<(String, String)>) -> Self {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        LabelSet(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, name: String, value: String) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => Some(self.0.remove(i).1),
            Err(_) => None,
        }
    }

    pub fn retain(&mut self, mut f: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(k, v)| f(k, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }

    /// Keeps only the named labels (`by`), or drops them (`without`).
    pub fn project(&self, names: &[String], without: bool) -> LabelSet {
        LabelSet(
            self.0
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n == k) != without)
                .cloned()
                .collect(),
        )
    }
}

impl fmt::Display for LabelSet {
    /// Prometheus text form: `{a="b", c="d\"e"}` with Go-style quoting.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=")?;
            f.write_str(&lode_go::strconv::quote(v))?;
        }
        f.write_str("}")
    }
}

/// True when `name` is a valid Prometheus/Loki label name.
pub use lode_go::model::is_valid_label_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_unique() {
        let s = LabelSet::from_pairs([("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(s.to_string(), r#"{a="2", b="3"}"#);
        assert_eq!(s.get("b"), Some("3"));
        assert_eq!(s.get("c"), None);
    }

    #[test]
    fn quoting() {
        let s = LabelSet::from_pairs([("a", "x\"y\\z\n")]);
        assert_eq!(s.to_string(), r#"{a="x\"y\\z\n"}"#);
    }
}
