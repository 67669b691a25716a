//! The step-evaluation tree: every node of a metric expression is advanced
//! one evaluation instant at a time and exposes the instant vector (or
//! scalar) it produced for that instant.
//!
//! Series are identified by dense `u32` ids local to each node; a node maps
//! ids to label sets through `labels`. Parents cache whatever they derive
//! from a child's labels (group, signature, output id) per child id, so label
//! sets are hashed once per series, not once per step.

use std::collections::HashMap;

use crate::error::Result;
use crate::labels::LabelSet;

/// One element of a node's instant vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Elem {
    pub id: u32,
    pub value: f64,
}

/// What a node yields at each step; fixed when the tree is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Scalar,
    Vector,
}

pub(crate) trait Node {
    fn shape(&self) -> Shape;
    /// Evaluates the node at instant `ts` (nanoseconds). Steps are fed in
    /// increasing order, exactly once each.
    fn advance(&mut self, ts: i64) -> Result<()>;
    /// The value of the last step when `shape()` is `Scalar`.
    fn scalar(&self) -> f64 {
        f64::NAN
    }
    /// The instant vector of the last step when `shape()` is `Vector`.
    fn vector(&self) -> &[Elem] {
        &[]
    }
    /// Labels of a series id this node emitted.
    fn labels(&self, id: u32) -> &LabelSet;
}

pub(crate) type BoxNode = Box<dyn Node>;

/// Assigns dense ids to label sets.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<LabelSet, u32>,
    labels: Vec<LabelSet>,
}

impl Interner {
    pub fn intern(&mut self, labels: LabelSet) -> u32 {
        if let Some(&id) = self.ids.get(&labels) {
            return id;
        }
        let id = self.labels.len() as u32;
        self.labels.push(labels.clone());
        self.ids.insert(labels, id);
        id
    }

    pub fn get(&self, id: u32) -> &LabelSet {
        &self.labels[id as usize]
    }
}

/// A per-child-id memo: `u32::MAX` marks "not computed yet".
#[derive(Debug, Default)]
pub(crate) struct IdCache(Vec<u32>);

impl IdCache {
    pub fn get_or(&mut self, id: u32, compute: impl FnOnce() -> u32) -> u32 {
        let i = id as usize;
        if i >= self.0.len() {
            self.0.resize(i + 1, u32::MAX);
        }
        if self.0[i] == u32::MAX {
            self.0[i] = compute();
        }
        self.0[i]
    }
}

/// A map from dense keys to values that is cleared in O(1) between steps
/// by bumping a generation counter.
#[derive(Debug, Default)]
pub(crate) struct StepMap<T: Copy> {
    slots: Vec<(u64, T)>,
    generation: u64,
}

impl<T: Copy> StepMap<T> {
    pub fn clear(&mut self) {
        self.generation += 1;
    }

    pub fn get(&self, key: u32) -> Option<T> {
        match self.slots.get(key as usize) {
            Some(&(g, v)) if g == self.generation => Some(v),
            _ => None,
        }
    }

    pub fn insert(&mut self, key: u32, value: T)
    where
        T: Default,
    {
        let i = key as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, (0, T::default()));
        }
        self.slots[i] = (self.generation, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_dedups() {
        let mut i = Interner::default();
        let a = i.intern(LabelSet::from_pairs([("a", "1")]));
        let b = i.intern(LabelSet::from_pairs([("a", "2")]));
        assert_eq!(i.intern(LabelSet::from_pairs([("a", "1")])), a);
        assert_ne!(a, b);
        assert_eq!(i.get(b).get("a"), Some("2"));
    }

    #[test]
    fn step_map_clears_between_steps() {
        let mut m: StepMap<u32> = StepMap::default();
        m.clear();
        m.insert(3, 7);
        assert_eq!(m.get(3), Some(7));
        assert_eq!(m.get(2), None);
        m.clear();
        assert_eq!(m.get(3), None);
    }

    #[test]
    fn id_cache_computes_once() {
        let mut c = IdCache::default();
        let mut calls = 0;
        for _ in 0..3 {
            assert_eq!(
                c.get_or(5, || {
                    calls += 1;
                    42
                }),
                42
            );
        }
        assert_eq!(calls, 1);
    }
}
