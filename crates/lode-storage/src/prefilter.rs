//! The literal plan of a query's line filters: which blocks can be skipped
//! (their filter rules every needle out, `format/filter.rs`) and, in blocks
//! that are read, which lines can match at all (one search of the whole
//! decompressed text instead of running the pipeline on every line).
//!
//! The plan is a conjunction of clauses, one per line filter: every line the
//! pipeline passes contains at least one literal of each clause. Negated
//! filters, patterns, `ip()`, non-literal regexes and filters after a stage
//! that rewrites the line contribute no clause.

use crate::format::filter::NeedleGrams;
use lode_logql::pipeline::LogPipeline;
use memchr::memmem::Finder;

/// A candidate search costs one pass per literal: beyond this many, running
/// the pipeline on every line is as cheap.
const MAX_SEARCH_LITERALS: usize = 4;

#[derive(Debug)]
struct Clause {
    /// Grams of each literal; `None` when some literal cannot rule a block
    /// out (too short, no qualifying gram), so the clause never skips.
    grams: Option<Vec<NeedleGrams>>,
    finders: Vec<Finder<'static>>,
}

/// What a query's line filters require of a line.
#[derive(Debug)]
pub struct Prefilter {
    clauses: Vec<Clause>,
    /// The clause searched for candidate lines, if one is worth it.
    search: Option<usize>,
}

impl Prefilter {
    /// From literal sets (each: one of these is in every passing line);
    /// `None` when nothing can be skipped or searched.
    pub fn new(sets: &[Vec<Vec<u8>>]) -> Option<Prefilter> {
        let clauses: Vec<Clause> = sets
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| Clause {
                grams: s.iter().map(|l| NeedleGrams::new(l)).collect(),
                finders: s.iter().map(|l| Finder::new(l).into_owned()).collect(),
            })
            .collect();
        // The clause whose shortest literal is longest narrows most.
        let search = clauses
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.finders.len() <= MAX_SEARCH_LITERALS
                    && c.finders.iter().all(|f| !f.needle().is_empty())
            })
            .max_by_key(|(_, c)| c.finders.iter().map(|f| f.needle().len()).min())
            .map(|(i, _)| i);
        let p = Prefilter { clauses, search };
        (p.can_skip() || p.search.is_some()).then_some(p)
    }

    /// The plan of a log pipeline's line filters.
    pub fn from_pipeline(p: &LogPipeline) -> Option<Prefilter> {
        Prefilter::new(&p.required_literal_sets())
    }

    /// Whether any block can be ruled out by its filter.
    pub fn can_skip(&self) -> bool {
        self.clauses.iter().any(|c| c.grams.is_some())
    }

    /// False only when no line of a block with this filter can pass.
    pub fn block_may_match(&self, filter: &[u8]) -> bool {
        self.clauses.iter().all(|c| match &c.grams {
            Some(gs) => gs.iter().any(|g| g.may_occur(filter)),
            None => true,
        })
    }

    /// Marks in `marks` (one per line) the lines that contain a literal of
    /// the searched clause; a match spanning two lines does not count.
    /// Returns false (marks untouched) when there is no clause to search:
    /// every line is then a candidate.
    pub fn mark_candidates(&self, text: &[u8], offsets: &[u32], marks: &mut Vec<bool>) -> bool {
        let Some(c) = self.search.map(|i| &self.clauses[i]) else {
            return false;
        };
        let n = offsets.len().saturating_sub(1);
        marks.clear();
        marks.resize(n, false);
        for f in &c.finders {
            mark_one(f, text, offsets, marks);
        }
        true
    }
}

fn mark_one(f: &Finder<'_>, text: &[u8], offsets: &[u32], marks: &mut [bool]) {
    let len = f.needle().len();
    let (mut pos, mut line) = (0usize, 0usize);
    while pos < text.len() {
        let Some(p) = f.find(&text[pos..]) else {
            return;
        };
        let at = pos + p;
        // The line holding byte `at`: the first whose end is past it.
        line += offsets[line + 1..].partition_point(|&o| o as usize <= at);
        let Some(&end) = offsets.get(line + 1) else {
            return;
        };
        let end = end as usize;
        if at + len <= end {
            marks[line] = true;
            pos = end;
        } else {
            pos = at + 1;
        }
    }
}

#[cfg(test)]
mod tests;
