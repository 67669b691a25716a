//! The label index: from label matchers to the streams of a tenant.
//!
//! A homelab tenant has at most tens of thousands of streams, so the index
//! lives in memory (rebuilt from chunk-file footers and the WAL at start-up):
//! postings per `name=value` narrow the candidates, then every matcher is
//! checked against the candidate's labels.

use crate::error::Result;
use crate::stored_labels::LabelLookup;
use lode_logql::ast::{MatchOp, Matcher};
#[cfg(test)]
use lode_logql::LabelSet;
use regex::Regex;
use std::collections::BTreeMap;

/// A matcher with its regex compiled (fully anchored, as in Loki).
#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl CompiledMatcher {
    pub fn new(m: &Matcher) -> Result<CompiledMatcher> {
        let re = match m.op {
            MatchOp::Re | MatchOp::Nre => Some(
                lode_go::regex::compile_matcher(&m.value)
                    .map_err(|e| lode_logql::Error::Invalid(e.to_string()))?,
            ),
            _ => None,
        };
        Ok(CompiledMatcher {
            name: m.name.clone(),
            op: m.op,
            value: m.value.clone(),
            re,
        })
    }

    /// Matches a label value; a missing label is the empty string.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Neq => v != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::Nre => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    pub fn matches_labels<L: LabelLookup + ?Sized>(&self, labels: &L) -> bool {
        self.matches(labels.label(&self.name).unwrap_or(""))
    }
}

pub fn compile_all(ms: &[Matcher]) -> Result<Vec<CompiledMatcher>> {
    ms.iter().map(CompiledMatcher::new).collect()
}

/// The sorted ids of one `name=value`. Most values of a month's index
/// belong to one stream (a pod name): they take no allocation of their own.
#[derive(Debug, Clone)]
enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    fn push(&mut self, id: u32) {
        match self {
            Ids::One(x) if *x == id => {}
            Ids::One(x) => *self = Ids::Many(vec![*x, id]),
            Ids::Many(v) if v.last() == Some(&id) => {}
            Ids::Many(v) => v.push(id),
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(x) => std::slice::from_ref(x),
            Ids::Many(v) => v,
        }
    }
}

/// Postings: label name → value → sorted stream ids.
#[derive(Debug, Default)]
pub struct LabelIndex {
    postings: BTreeMap<Box<str>, BTreeMap<Box<str>, Ids>>,
}

impl LabelIndex {
    pub fn add<'a>(&mut self, id: u32, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (k, v) in labels {
            let values = match self.postings.get_mut(k) {
                Some(vals) => vals,
                None => self.postings.entry(k.into()).or_default(),
            };
            match values.get_mut(v) {
                Some(ids) => ids.push(id),
                None => {
                    values.insert(v.into(), Ids::One(id));
                }
            }
        }
    }

    /// Candidate stream ids for the matchers, or `None` when no matcher can
    /// narrow the search (all streams are candidates).
    pub fn candidates(&self, ms: &[CompiledMatcher]) -> Option<Vec<u32>> {
        let mut best: Option<Vec<u32>> = None;
        for m in ms {
            let ids: Vec<u32> = match m.op {
                MatchOp::Eq if !m.value.is_empty() => self
                    .postings
                    .get(m.name.as_str())
                    .and_then(|vals| vals.get(m.value.as_str()))
                    .map(|ids| ids.as_slice().to_vec())
                    .unwrap_or_default(),
                MatchOp::Re if !m.matches("") => {
                    let mut ids: Vec<u32> = self
                        .postings
                        .get(m.name.as_str())
                        .map(|vals| {
                            vals.iter()
                                .filter(|(v, _)| m.matches(v))
                                .flat_map(|(_, ids)| ids.as_slice().iter().copied())
                                .collect()
                        })
                        .unwrap_or_default();
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                }
                _ => continue,
            };
            if best.as_ref().is_none_or(|b| ids.len() < b.len()) {
                best = Some(ids);
            }
        }
        best
    }

    /// Label names present in the index.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.postings.keys().map(|k| &**k)
    }

    /// Values of a label present in the index, with how many streams have each.
    pub fn values(&self, name: &str) -> impl Iterator<Item = (&str, usize)> {
        self.postings
            .get(name)
            .into_iter()
            .flat_map(|vals| vals.iter().map(|(v, ids)| (&**v, ids.as_slice().len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, op: MatchOp, v: &str) -> CompiledMatcher {
        CompiledMatcher::new(&Matcher {
            name: name.into(),
            op,
            value: v.into(),
        })
        .unwrap()
    }

    #[test]
    fn matcher_semantics() {
        let l = LabelSet::from_pairs([("app", "grafana"), ("ns", "monitoring")]);
        assert!(m("app", MatchOp::Eq, "grafana").matches_labels(&l));
        assert!(m("app", MatchOp::Re, "graf.*").matches_labels(&l));
        assert!(
            !m("app", MatchOp::Re, "graf").matches_labels(&l),
            "anchored"
        );
        assert!(m("missing", MatchOp::Neq, "x").matches_labels(&l));
        assert!(m("missing", MatchOp::Re, ".*").matches_labels(&l));
        assert!(!m("missing", MatchOp::Re, ".+").matches_labels(&l));
        assert!(m("app", MatchOp::Nre, "loki|tempo").matches_labels(&l));
    }

    #[test]
    fn candidates_narrow() {
        let mut ix = LabelIndex::default();
        ix.add(0, LabelSet::from_pairs([("app", "a"), ("ns", "x")]).iter());
        ix.add(1, LabelSet::from_pairs([("app", "b"), ("ns", "x")]).iter());
        ix.add(2, LabelSet::from_pairs([("app", "c"), ("ns", "y")]).iter());
        assert_eq!(ix.candidates(&[m("app", MatchOp::Eq, "b")]), Some(vec![1]));
        assert_eq!(
            ix.candidates(&[m("app", MatchOp::Re, "a|c")]),
            Some(vec![0, 2])
        );
        assert_eq!(ix.candidates(&[m("app", MatchOp::Neq, "a")]), None);
        assert_eq!(
            ix.candidates(&[m("ns", MatchOp::Eq, "x"), m("app", MatchOp::Eq, "a")]),
            Some(vec![0])
        );
    }
}
