//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>`, with `or` alternatives
//! and `ip(...)`. Everything is compiled once; matching allocates nothing.

use memchr::memmem::Finder;
use regex::Regex;
use regex_syntax::hir::{Hir, HirKind};

use super::ip::IpMatcher;
use super::pattern::Pattern;
use crate::ast::{LineFilter, LineFilterOp, LineFilterValue};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Matcher {
    /// Matches every line (`|= ""`).
    All,
    Substring(Box<Finder<'static>>),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatcher),
}

impl Matcher {
    fn is_match(&self, line: &str) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Substring(f) => f.find(line.as_bytes()).is_some(),
            Matcher::Regex(r) => r.is_match(line),
            Matcher::Pattern(p) => p.matches(line),
            Matcher::Ip(m) => m.matches_line(line),
        }
    }
}

/// One compiled line filter stage.
#[derive(Debug, Clone)]
pub(crate) struct CompiledLineFilter {
    negate: bool,
    alternatives: Vec<Matcher>,
}

/// A regex that is just a case-sensitive literal is searched with memmem.
fn literal_of(re: &str) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(re).ok()?;
    fn lit(h: &Hir) -> Option<Vec<u8>> {
        match h.kind() {
            HirKind::Literal(l) => Some(l.0.to_vec()),
            HirKind::Concat(parts) => {
                let mut out = Vec::new();
                for p in parts {
                    out.extend(lit(p)?);
                }
                Some(out)
            }
            HirKind::Capture(c) => lit(&c.sub),
            _ => None,
        }
    }
    String::from_utf8(lit(&hir)?).ok()
}

/// A Go regex with Go's meaning (`lode_go::regex`); the parser has already
/// refused the ones Go refuses, with Go's message.
pub(crate) fn compile_regex(re: &str) -> Result<Regex> {
    lode_go::regex::compile(re).map_err(|e| Error::Invalid(e.to_string()))
}

impl CompiledLineFilter {
    pub(crate) fn new(f: &LineFilter) -> Result<Self> {
        let negate = matches!(
            f.op,
            LineFilterOp::NotContains | LineFilterOp::NotMatch | LineFilterOp::NotPattern
        );
        let mut alternatives = Vec::with_capacity(f.values.len());
        for v in &f.values {
            let m = match (f.op, v) {
                (_, LineFilterValue::Ip(p)) => Matcher::Ip(IpMatcher::new(p)?),
                (LineFilterOp::Contains | LineFilterOp::NotContains, LineFilterValue::Str(s)) => {
                    if s.is_empty() {
                        Matcher::All
                    } else {
                        Matcher::Substring(Box::new(Finder::new(s.as_bytes()).into_owned()))
                    }
                }
                (LineFilterOp::Match | LineFilterOp::NotMatch, LineFilterValue::Str(s)) => {
                    let re = compile_regex(s)?;
                    match literal_of(re.as_str()) {
                        Some(l) if l.is_empty() => Matcher::All,
                        Some(l) => {
                            Matcher::Substring(Box::new(Finder::new(l.as_bytes()).into_owned()))
                        }
                        None => Matcher::Regex(re),
                    }
                }
                (LineFilterOp::Pattern | LineFilterOp::NotPattern, LineFilterValue::Str(s)) => {
                    Matcher::Pattern(Pattern::new(s, false)?)
                }
            };
            alternatives.push(m);
        }
        Ok(CompiledLineFilter {
            negate,
            alternatives,
        })
    }

    /// True when the line passes.
    #[inline]
    pub(crate) fn passes(&self, line: &str) -> bool {
        let any = self.alternatives.iter().any(|m| m.is_match(line));
        any != self.negate
    }

    /// Literals one of which every passing line contains (for block
    /// skipping and candidate search); `None` when unknown.
    pub(crate) fn required_any(&self) -> Option<Vec<Vec<u8>>> {
        if self.negate {
            return None;
        }
        let mut out = Vec::new();
        for m in &self.alternatives {
            match m {
                Matcher::Substring(f) => out.push(f.needle().to_vec()),
                Matcher::Regex(r) => out.extend(super::literals::required_literals(r.as_str())?),
                Matcher::All | Matcher::Pattern(_) | Matcher::Ip(_) => return None,
            }
        }
        Some(out)
    }

    /// The substring every passing line contains, if this filter has one.
    pub(crate) fn required_substring(&self) -> Option<Vec<u8>> {
        if self.negate || self.alternatives.len() != 1 {
            return None;
        }
        match &self.alternatives[0] {
            Matcher::Substring(f) => Some(f.needle().to_vec()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lf(op: LineFilterOp, vals: &[&str]) -> CompiledLineFilter {
        CompiledLineFilter::new(&LineFilter {
            op,
            values: vals
                .iter()
                .map(|s| LineFilterValue::Str(s.to_string()))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn contains_and_not() {
        let f = lf(LineFilterOp::Contains, &["ERROR"]);
        assert!(f.passes("x ERROR y"));
        assert!(!f.passes("x error y"));
        assert_eq!(f.required_substring(), Some(b"ERROR".to_vec()));
        let n = lf(LineFilterOp::NotContains, &["a", "b"]);
        assert!(n.passes("xyz"));
        assert!(!n.passes("xbz"));
        assert!(lf(LineFilterOp::Contains, &[""]).passes(""));
        assert!(lf(LineFilterOp::Contains, &["x", "y"]).passes("y"));
    }

    #[test]
    fn regex_unanchored_and_flags() {
        let f = lf(LineFilterOp::Match, &["(?i)node is now ASLEEP"]);
        assert!(f.passes("[Node 003] Node is now asleep"));
        let f = lf(LineFilterOp::Match, &["NXDOMAIN|SERVFAIL"]);
        assert!(f.passes("a SERVFAIL b"));
        let f = lf(LineFilterOp::NotMatch, &[".+"]);
        assert!(f.passes(""));
        assert!(!f.passes("x"));
        let f = lf(LineFilterOp::Match, &["(?s)ERR.*IOException"]);
        assert!(f.passes("ERR x\nSystem.IO.IOException"));
        let f = lf(LineFilterOp::Match, &["ERR.*IOException"]);
        assert!(!f.passes("ERR x\nSystem.IO.IOException"));
        // A literal regex uses the substring path but keeps its meaning.
        let f = lf(LineFilterOp::Match, &["a\\.b"]);
        assert!(f.passes("xa.by"));
        assert!(!f.passes("xaxby"));
        assert!(CompiledLineFilter::new(&LineFilter {
            op: LineFilterOp::Match,
            values: vec![LineFilterValue::Str("(".into())]
        })
        .is_err());
    }

    #[test]
    fn pattern_and_ip() {
        let f = lf(LineFilterOp::Pattern, &["<_> GET <_>"]);
        assert!(f.passes("1.2.3.4 GET /"));
        assert!(!f.passes("1.2.3.4 POST /"));
        let f = CompiledLineFilter::new(&LineFilter {
            op: LineFilterOp::NotContains,
            values: vec![LineFilterValue::Ip("10.0.0.0/8".into())],
        })
        .unwrap();
        assert!(!f.passes("from 10.1.2.3"));
        assert!(f.passes("from 11.1.2.3"));
    }
}
