//! The label index: from label matchers to the streams of a tenant.
//!
//! A homelab tenant has at most tens of thousands of streams, so the index
//! lives in memory (rebuilt from chunk-file footers and the WAL at start-up):
//! postings per `name=value` narrow the candidates, then every matcher is
//! checked against the candidate's labels.

use crate::error::Result;
use lode_logql::ast::{MatchOp, Matcher};
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
            MatchOp::Re | MatchOp::Nre => {
                Some(Regex::new(&format!("^(?s:{})$", m.value)).map_err(|e| {
                    lode_logql::Error::Invalid(format!("invalid regex {:?}: {e}", m.value))
                })?)
            }
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

    pub fn matches_labels(&self, labels: &LabelSet) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

pub fn compile_all(ms: &[Matcher]) -> Result<Vec<CompiledMatcher>> {
    ms.iter().map(CompiledMatcher::new).collect()
}

/// Postings: label name → value → sorted stream ids.
#[derive(Debug, Default)]
pub struct LabelIndex {
    postings: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
}

impl LabelIndex {
    pub fn add(&mut self, id: u32, labels: &LabelSet) {
        for (k, v) in labels.iter() {
            let ids = self
                .postings
                .entry(k.to_string())
                .or_default()
                .entry(v.to_string())
                .or_default();
            if ids.last() != Some(&id) {
                ids.push(id);
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
                    .get(&m.name)
                    .and_then(|vals| vals.get(&m.value))
                    .cloned()
                    .unwrap_or_default(),
                MatchOp::Re if !m.matches("") => {
                    let mut ids: Vec<u32> = self
                        .postings
                        .get(&m.name)
                        .map(|vals| {
                            vals.iter()
                                .filter(|(v, _)| m.matches(v))
                                .flat_map(|(_, ids)| ids.iter().copied())
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
    pub fn names(&self) -> impl Iterator<Item = (&String, &BTreeMap<String, Vec<u32>>)> {
        self.postings.iter()
    }

    pub fn values(&self, name: &str) -> Option<&BTreeMap<String, Vec<u32>>> {
        self.postings.get(name)
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
        ix.add(0, &LabelSet::from_pairs([("app", "a"), ("ns", "x")]));
        ix.add(1, &LabelSet::from_pairs([("app", "b"), ("ns", "x")]));
        ix.add(2, &LabelSet::from_pairs([("app", "c"), ("ns", "y")]));
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
