//! The log pipeline: line filters, parsers, label filters and formatters,
//! compiled once per query and run per entry; plus sample extraction for
//! metric queries.
//!
//! CONTRACT (used by lode-storage; keep these signatures stable):
//! - `LogPipeline::new(&[Stage])` compiles; errors are `Error::Invalid`/`Parse`.
//! - `LogPipeline::for_stream(&LabelSet)` gives a per-stream runner; call
//!   `process(ts, line, structured_metadata)` for each entry in order.
//! - `SampleExtractor` does the same for a range aggregation and yields
//!   `(value, series labels)`; the labels already have the range
//!   aggregation's `by`/`without` grouping applied.

mod builder;
mod convert;
mod drop_keep;
mod extract;
mod format;
mod ip;
mod json;
mod label_filter;
mod line_filter;
mod literals;
mod logfmt;
mod pattern;
mod regexp;

#[cfg(test)]
mod tests;

use std::mem;

use regex::CaptureLocations;

use crate::ast::{Parser, Stage};
use crate::error::{Error, Result};
use crate::labels::LabelSet;
use lode_go::template::Template;

use builder::LabelBuf;
use drop_keep::Selector;
use format::{CompiledLabelFmt, Decolorize, EntryContext, TEMPLATE_ERR};
use json::{JsonScratch, PathStep, JSON_ERR};
use label_filter::CompiledLabelFilter;
use line_filter::CompiledLineFilter;
use logfmt::{Logfmt, LogfmtScratch, LOGFMT_ERR};
use pattern::Pattern;
use regexp::RegexpParser;

pub use builder::sanitize_segment;
pub use extract::{SampleExtractor, StreamExtractor};

/// A log line after the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedEntry {
    /// The (possibly reformatted) line.
    pub line: String,
    /// All labels of the entry after the pipeline: stream labels, structured
    /// metadata and parsed labels merged (`stream` of the default encoding).
    pub labels: LabelSet,
    /// The subsets for `categorize-labels`: indexed stream labels,
    /// structured metadata and parsed labels, each after the pipeline.
    pub stream: LabelSet,
    pub structured_metadata: LabelSet,
    pub parsed: LabelSet,
}

/// One compiled stage.
#[derive(Debug, Clone)]
enum Step {
    Line(CompiledLineFilter),
    Json,
    JsonParams(Vec<(String, Vec<PathStep>)>),
    Logfmt(Logfmt),
    Regexp(RegexpParser),
    Pattern(Pattern),
    Unpack,
    LabelFilter(CompiledLabelFilter),
    LineFormat(Template),
    LabelFormat(Vec<CompiledLabelFmt>),
    Drop(Vec<Selector>),
    Keep(Vec<Selector>),
    Decolorize(Decolorize),
}

/// Parses a `line_format` or `label_format` template, with the error
/// wording Loki gives both (`invalid line template: template: line:1: ...`).
pub(crate) fn line_template(src: &str) -> Result<Template> {
    Template::parse(src, "line").map_err(|e| Error::Invalid(format!("invalid line template: {e}")))
}

fn compile_step(stage: &Stage) -> Result<Step> {
    Ok(match stage {
        Stage::LineFilter(f) => Step::Line(CompiledLineFilter::new(f)?),
        Stage::Parser(Parser::Json { params }) if params.is_empty() => Step::Json,
        Stage::Parser(Parser::Json { params }) => Step::JsonParams(
            params
                .iter()
                .map(|(label, path)| Ok((label.clone(), json::parse_path(path)?)))
                .collect::<Result<_>>()?,
        ),
        Stage::Parser(Parser::Logfmt {
            strict,
            keep_empty,
            params,
        }) => Step::Logfmt(Logfmt {
            strict: *strict,
            keep_empty: *keep_empty,
            params: params.clone(),
        }),
        Stage::Parser(Parser::Regexp(re)) => Step::Regexp(RegexpParser::new(re)?),
        Stage::Parser(Parser::Pattern(p)) => Step::Pattern(Pattern::new(p, true)?),
        Stage::Parser(Parser::Unpack) => Step::Unpack,
        Stage::LabelFilter(f) => Step::LabelFilter(CompiledLabelFilter::new(f)?),
        Stage::LineFormat(t) => Step::LineFormat(line_template(t)?),
        Stage::LabelFormat(f) => Step::LabelFormat(format::compile_label_fmt(f)?),
        Stage::Drop(items) => Step::Drop(drop_keep::compile(items)?),
        Stage::Keep(items) => Step::Keep(drop_keep::compile(items)?),
        Stage::Decolorize => Step::Decolorize(Decolorize::new()),
    })
}

/// A compiled log pipeline.
#[derive(Debug)]
pub struct LogPipeline {
    steps: Vec<Step>,
}

impl LogPipeline {
    pub fn new(stages: &[Stage]) -> Result<Self> {
        let steps = stages.iter().map(compile_step).collect::<Result<_>>()?;
        Ok(LogPipeline { steps })
    }

    /// Compiles a pipeline followed by extra label filters (the filters
    /// written after `unwrap`).
    pub(crate) fn with_filters(
        stages: &[Stage],
        filters: &[crate::ast::LabelFilter],
    ) -> Result<Self> {
        let mut p = LogPipeline::new(stages)?;
        for f in filters {
            p.steps
                .push(Step::LabelFilter(CompiledLabelFilter::new(f)?));
        }
        Ok(p)
    }

    /// True when the pipeline changes nothing and filters nothing.
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }

    /// Byte strings every passing line must contain (from `|=` filters
    /// before any formatting stage), for block skipping. Empty when unknown.
    pub fn required_substrings(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for s in &self.steps {
            match s {
                Step::Line(f) => out.extend(f.required_substring()),
                // These rewrite the line: later filters see another text.
                Step::LineFormat(_) | Step::Decolorize(_) | Step::Unpack => break,
                _ => {}
            }
        }
        out
    }

    /// Literal sets for block skipping: every line the pipeline passes
    /// contains at least one literal of each set (`|= "a" or "b"`,
    /// `|~ "a|b"`), from line filters before any stage that rewrites the line.
    pub fn required_literal_sets(&self) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for s in &self.steps {
            match s {
                Step::Line(f) => out.extend(f.required_any()),
                Step::LineFormat(_) | Step::Decolorize(_) | Step::Unpack => break,
                _ => {}
            }
        }
        out
    }

    pub fn for_stream(&self, stream: &LabelSet) -> StreamPipeline<'_> {
        let locs = self
            .steps
            .iter()
            .map(|s| match s {
                Step::Regexp(r) => Some(r.locations()),
                _ => None,
            })
            .collect();
        StreamPipeline {
            pipeline: self,
            stream: stream.clone(),
            labels: LabelBuf::default(),
            labels_ready: false,
            line: String::new(),
            line_owned: false,
            tmp: String::new(),
            json: JsonScratch::default(),
            logfmt: LogfmtScratch::default(),
            locs,
        }
    }
}

/// Runs a pipeline for the entries of one stream. Its buffers are reused
/// from entry to entry.
pub struct StreamPipeline<'p> {
    pipeline: &'p LogPipeline,
    stream: LabelSet,
    labels: LabelBuf,
    /// Whether `labels` holds this entry's labels yet: stages that need no
    /// labels (line filters) never pay for them.
    labels_ready: bool,
    /// The rewritten line, when a stage rewrote it (`line_owned`).
    line: String,
    line_owned: bool,
    tmp: String,
    json: JsonScratch,
    logfmt: LogfmtScratch,
    /// Capture buffers of the `regexp` stages, by step index.
    locs: Vec<Option<CaptureLocations>>,
}

impl StreamPipeline<'_> {
    /// Runs one entry; `None` when a stage filtered it out.
    pub fn process(
        &mut self,
        ts: i64,
        line: &str,
        structured_metadata: &[(String, String)],
    ) -> Option<ProcessedEntry> {
        if !self.run(ts, line, structured_metadata) {
            return None;
        }
        self.ensure_labels(structured_metadata);
        let (labels, stream, structured_metadata, parsed) = self.labels.categorized();
        Some(ProcessedEntry {
            line: self.current_line(line).to_string(),
            labels,
            stream,
            structured_metadata,
            parsed,
        })
    }

    fn ensure_labels(&mut self, sm: &[(String, String)]) {
        if !self.labels_ready {
            self.labels.reset(&self.stream, sm);
            self.labels_ready = true;
        }
    }

    fn current_line<'a>(&'a self, original: &'a str) -> &'a str {
        if self.line_owned {
            &self.line
        } else {
            original
        }
    }

    /// Runs every stage; false when the entry is filtered out. Afterwards
    /// `current_line` is the final line and, if `labels_ready`, `labels`
    /// the final labels.
    fn run(&mut self, ts: i64, line: &str, sm: &[(String, String)]) -> bool {
        self.labels_ready = false;
        self.line_owned = false;
        let steps = &self.pipeline.steps;
        for (idx, step) in steps.iter().enumerate() {
            if let Step::Line(f) = step {
                if !f.passes(self.current_line(line)) {
                    return false;
                }
                continue;
            }
            self.ensure_labels(sm);
            let cur: &str = if self.line_owned { &self.line } else { line };
            let labels = &mut self.labels;
            let stream = &self.stream;
            match step {
                Step::Line(_) => unreachable!("handled above"),
                Step::Json => {
                    if let Err(e) = json::parse_all(cur, stream, labels, &mut self.json) {
                        labels.set_err(JSON_ERR, e);
                    }
                }
                Step::JsonParams(params) => {
                    if let Err(e) = json::parse_params(cur, params, stream, labels) {
                        labels.set_err(JSON_ERR, e);
                    }
                }
                Step::Logfmt(p) => {
                    if let Err(e) = p.parse(cur, stream, labels, &mut self.logfmt) {
                        labels.set_err(LOGFMT_ERR, &e);
                    }
                }
                Step::Regexp(r) => {
                    if let Some(locs) = self.locs[idx].as_mut() {
                        r.parse(cur, locs, stream, labels);
                    }
                }
                Step::Pattern(p) => {
                    p.run(cur, |name, value| labels.add_parsed(stream, name, value));
                }
                Step::Unpack => match json::unpack(cur, stream, labels, &mut self.json) {
                    Ok(Some(entry)) => {
                        self.tmp = entry;
                        mem::swap(&mut self.line, &mut self.tmp);
                        self.line_owned = true;
                    }
                    Ok(None) => {}
                    Err(e) => labels.set_err(JSON_ERR, e),
                },
                Step::LabelFilter(f) => {
                    if !f.eval(labels) {
                        return false;
                    }
                }
                Step::LineFormat(t) => {
                    let ctx = EntryContext {
                        labels,
                        line: cur,
                        ts,
                    };
                    match t.render(&ctx, &mut self.tmp) {
                        Ok(()) => {
                            mem::swap(&mut self.line, &mut self.tmp);
                            self.line_owned = true;
                        }
                        Err(details) => labels.set_err(TEMPLATE_ERR, &details),
                    }
                }
                Step::LabelFormat(f) => format::apply_label_fmt(f, labels, cur, ts, &mut self.tmp),
                Step::Drop(sel) => drop_keep::drop(sel, labels),
                Step::Keep(sel) => drop_keep::keep(sel, labels),
                Step::Decolorize(d) => {
                    if let std::borrow::Cow::Owned(s) = d.apply(cur) {
                        self.tmp = s;
                        mem::swap(&mut self.line, &mut self.tmp);
                        self.line_owned = true;
                    }
                }
            }
        }
        true
    }
}
