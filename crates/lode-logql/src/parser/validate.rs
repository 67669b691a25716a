//! Checks Loki makes when it builds a query, after the syntax: they are
//! 400s with Loki's `parse error : ...` wording.

use super::invalid;
use crate::ast::{
    LabelFmt, LineFilter, LineFilterOp, LineFilterValue, MatchOp, Matcher, Parser, Stage,
};
use crate::error::Result;
use crate::pipeline::line_template;
use lode_go::regex as go_regex;

const EMPTY_COMPATIBLE: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// A selector needs a matcher that rejects the empty value, or it would
/// select every stream.
pub(crate) fn selector(matchers: &[Matcher]) -> Result<()> {
    let selective = matchers.iter().any(|m| match m.op {
        MatchOp::Eq => !m.value.is_empty(),
        MatchOp::Neq => m.value.is_empty(),
        MatchOp::Re => go_regex::compile_matcher(&m.value).is_ok_and(|re| !re.is_match("")),
        MatchOp::Nre => go_regex::compile_matcher(&m.value).is_ok_and(|re| re.is_match("")),
    });
    if selective {
        Ok(())
    } else {
        Err(invalid(EMPTY_COMPATIBLE))
    }
}

pub(crate) fn matcher_regex(m: &Matcher) -> Result<()> {
    if matches!(m.op, MatchOp::Re | MatchOp::Nre) {
        go_regex::compile_matcher(&m.value).map_err(invalid)?;
    }
    Ok(())
}

fn stage_error(stage: &Stage, msg: impl std::fmt::Display) -> crate::error::Error {
    invalid(format!("stage '{stage}' : {msg}"))
}

pub(crate) fn line_filter(f: &LineFilter) -> Result<()> {
    let regex = matches!(f.op, LineFilterOp::Match | LineFilterOp::NotMatch);
    let ip_ok = matches!(f.op, LineFilterOp::Contains | LineFilterOp::NotContains);
    for v in &f.values {
        match v {
            LineFilterValue::Str(s) if regex => {
                if let Err(e) = go_regex::compile(s) {
                    return Err(stage_error(&Stage::LineFilter(f.clone()), e));
                }
            }
            LineFilterValue::Ip(_) if !ip_ok => {
                return Err(stage_error(
                    &Stage::LineFilter(f.clone()),
                    "ip filter is only supported with |= and !=",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn stage(stage: &Stage) -> Result<()> {
    match stage {
        Stage::Parser(Parser::Regexp(re)) => {
            let compiled = go_regex::compile(re).map_err(|e| stage_error(stage, e))?;
            let mut seen: Vec<&str> = Vec::new();
            for name in compiled.capture_names().flatten() {
                if seen.contains(&name) {
                    return Err(stage_error(
                        stage,
                        format!("duplicate extracted label name '{name}'"),
                    ));
                }
                seen.push(name);
            }
            if seen.is_empty() {
                return Err(stage_error(
                    stage,
                    "at least one named capture must be supplied",
                ));
            }
        }
        Stage::LabelFormat(fmts) => {
            let mut seen: Vec<&str> = Vec::with_capacity(fmts.len());
            for f in fmts {
                let dst = match f {
                    LabelFmt::Rename { dst, .. } | LabelFmt::Template { dst, .. } => dst.as_str(),
                };
                if dst == "__error__" {
                    return Err(stage_error(stage, format!("{dst} cannot be formatted")));
                }
                if seen.contains(&dst) {
                    return Err(stage_error(
                        stage,
                        format!(
                            "multiple label name '{dst}' not allowed in a single format operation"
                        ),
                    ));
                }
                seen.push(dst);
            }
        }
        Stage::LineFormat(t) => {
            line_template(t).map_err(|e| stage_error(stage, template_msg(e)))?;
        }
        _ => {}
    }
    if let Stage::LabelFormat(fmts) = stage {
        for f in fmts {
            if let LabelFmt::Template { template, .. } = f {
                line_template(template).map_err(|e| stage_error(stage, template_msg(e)))?;
            }
        }
    }
    Ok(())
}

fn template_msg(e: crate::error::Error) -> String {
    match e {
        crate::error::Error::Invalid(m) => m,
        other => other.to_string(),
    }
}
