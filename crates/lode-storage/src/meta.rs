//! Metadata queries: label names, label values and series, over streams
//! that have data in a time range.

use crate::error::Result;
use crate::index::compile_all;
use crate::store::Store;
use lode_logql::ast::Matcher;
use lode_logql::LabelSet;
use std::collections::BTreeSet;

impl Store {
    /// Streams (label sets) matching any of `selectors` (all streams when
    /// `selectors` is empty) with data in `[start, end]`.
    pub fn series(&self, tenant: &str, selectors: &[Vec<Matcher>], start: i64, end: i64) -> Result<Vec<LabelSet>> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let compiled = selectors
            .iter()
            .map(|s| compile_all(s))
            .collect::<Result<Vec<_>>>()?;
        let t = t.read();
        let mut out = BTreeSet::new();
        let mut consider = |id: u32| {
            let s = &t.streams[id as usize];
            if s.overlaps(start, end) {
                out.insert(s.labels.clone());
            }
        };
        if compiled.is_empty() {
            (0..t.streams.len() as u32).for_each(&mut consider);
        }
        for ms in &compiled {
            let ids: Vec<u32> = t
                .index
                .candidates(ms)
                .unwrap_or_else(|| (0..t.streams.len() as u32).collect());
            for id in ids {
                if ms.iter().all(|m| m.matches_labels(&t.streams[id as usize].labels)) {
                    consider(id);
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Label names of streams with data in `[start, end]`, optionally only
    /// of streams matching `selector`.
    pub fn label_names(&self, tenant: &str, selector: Option<&[Matcher]>, start: i64, end: i64) -> Result<Vec<String>> {
        let sel: Vec<Vec<Matcher>> = selector.map(|s| vec![s.to_vec()]).unwrap_or_default();
        let mut names = BTreeSet::new();
        for l in self.series(tenant, &sel, start, end)? {
            for n in l.names() {
                names.insert(n.to_string());
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` of streams with data in `[start, end]`.
    pub fn label_values(
        &self,
        tenant: &str,
        name: &str,
        selector: Option<&[Matcher]>,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>> {
        let sel: Vec<Vec<Matcher>> = selector.map(|s| vec![s.to_vec()]).unwrap_or_default();
        let mut values = BTreeSet::new();
        for l in self.series(tenant, &sel, start, end)? {
            if let Some(v) = l.get(name) {
                values.insert(v.to_string());
            }
        }
        Ok(values.into_iter().collect())
    }
}
