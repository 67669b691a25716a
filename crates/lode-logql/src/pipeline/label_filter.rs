//! Label filter expressions (`status >= 500 and level="error"`).
//!
//! Like Loki: a numeric/duration/bytes comparison passes an entry that
//! already carries an error (only string matchers may filter errors out),
//! fails when the label is missing (except `!=`), and turns a value that
//! does not convert into `__error__="LabelFilterErr"` while keeping the
//! entry. `and` evaluates both sides; `or` stops at the first success.

use regex::Regex;

use super::builder::LabelBuf;
use super::convert::{parse_bytes, parse_duration_ns, parse_float};
use super::ip::IpMatcher;
use crate::ast::{CmpOp, LabelFilter, MatchOp, Matcher};
use crate::error::{Error, Result};

pub(crate) const LABEL_FILTER_ERR: &str = "LabelFilterErr";

/// A compiled string matcher (label filters, `drop`/`keep` matchers).
#[derive(Debug, Clone)]
pub(crate) enum StrMatcher {
    Eq(String),
    Neq(String),
    Re(Regex),
    Nre(Regex),
}

impl StrMatcher {
    pub(crate) fn new(m: &Matcher) -> Result<Self> {
        let anchored =
            |v: &str| lode_go::regex::compile_matcher(v).map_err(|e| Error::Invalid(e.to_string()));
        Ok(match m.op {
            MatchOp::Eq => StrMatcher::Eq(m.value.clone()),
            MatchOp::Neq => StrMatcher::Neq(m.value.clone()),
            MatchOp::Re => StrMatcher::Re(anchored(&m.value)?),
            MatchOp::Nre => StrMatcher::Nre(anchored(&m.value)?),
        })
    }

    pub(crate) fn matches(&self, v: &str) -> bool {
        match self {
            StrMatcher::Eq(s) => v == s,
            StrMatcher::Neq(s) => v != s,
            StrMatcher::Re(r) => r.is_match(v),
            StrMatcher::Nre(r) => !r.is_match(v),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Number,
    Duration,
    Bytes,
}

#[derive(Debug, Clone)]
pub(crate) enum CompiledLabelFilter {
    And(Box<CompiledLabelFilter>, Box<CompiledLabelFilter>),
    Or(Box<CompiledLabelFilter>, Box<CompiledLabelFilter>),
    Str {
        name: String,
        m: StrMatcher,
    },
    Cmp {
        name: String,
        kind: Kind,
        op: CmpOp,
        value: f64,
    },
    Ip {
        name: String,
        negate: bool,
        m: IpMatcher,
    },
}

fn cmp(op: CmpOp, a: f64, b: f64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Neq => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
    }
}

impl CompiledLabelFilter {
    pub(crate) fn new(f: &LabelFilter) -> Result<Self> {
        Ok(match f {
            LabelFilter::And(a, b) => CompiledLabelFilter::And(
                Box::new(CompiledLabelFilter::new(a)?),
                Box::new(CompiledLabelFilter::new(b)?),
            ),
            LabelFilter::Or(a, b) => CompiledLabelFilter::Or(
                Box::new(CompiledLabelFilter::new(a)?),
                Box::new(CompiledLabelFilter::new(b)?),
            ),
            LabelFilter::String(m) => CompiledLabelFilter::Str {
                name: m.name.clone(),
                m: StrMatcher::new(m)?,
            },
            LabelFilter::Number { name, op, value } => CompiledLabelFilter::Cmp {
                name: name.clone(),
                kind: Kind::Number,
                op: *op,
                value: *value,
            },
            LabelFilter::Duration { name, op, value } => CompiledLabelFilter::Cmp {
                name: name.clone(),
                kind: Kind::Duration,
                op: *op,
                value: *value as f64,
            },
            LabelFilter::Bytes { name, op, value } => CompiledLabelFilter::Cmp {
                name: name.clone(),
                kind: Kind::Bytes,
                op: *op,
                value: *value,
            },
            LabelFilter::Ip {
                name,
                negate,
                pattern,
            } => CompiledLabelFilter::Ip {
                name: name.clone(),
                negate: *negate,
                m: IpMatcher::new(pattern)?,
            },
        })
    }

    /// True when the entry passes; may record a `LabelFilterErr`.
    pub(crate) fn eval(&self, labels: &mut LabelBuf) -> bool {
        match self {
            CompiledLabelFilter::And(a, b) => {
                let l = a.eval(labels);
                let r = b.eval(labels);
                l && r
            }
            CompiledLabelFilter::Or(a, b) => a.eval(labels) || b.eval(labels),
            CompiledLabelFilter::Str { name, m } => m.matches(labels.get(name).unwrap_or("")),
            // Loki 3 (pkg/logql/log/label_filter.go, since grafana/loki#12378):
            // a converting filter on a label the entry does not have drops
            // the entry, whatever the operator; a value that does not
            // convert keeps it with `__error__=LabelFilterErr` (unless an
            // earlier stage set an error, which is kept); an earlier error
            // does not stop the comparison. `__error__` itself is not a
            // label such a filter can read.
            CompiledLabelFilter::Cmp {
                name,
                kind,
                op,
                value,
            } => {
                let Some(v) = converted_label(labels, name) else {
                    return false;
                };
                let conv = match kind {
                    Kind::Number => parse_float(v),
                    Kind::Duration => parse_duration_ns(v),
                    Kind::Bytes => parse_bytes(v),
                };
                match conv {
                    Ok(x) => cmp(*op, x, *value),
                    Err(details) => {
                        if !labels.has_err() {
                            labels.set_err(LABEL_FILTER_ERR, &details);
                        }
                        true
                    }
                }
            }
            // `ip()` (pkg/logql/log/ip.go): an entry that already has an
            // error passes, a missing label drops it, for `=` and `!=` alike.
            CompiledLabelFilter::Ip { name, negate, m } => {
                if labels.has_err() {
                    return true;
                }
                match converted_label(labels, name) {
                    Some(v) => m.matches_value(v) != *negate,
                    None => false,
                }
            }
        }
    }
}

/// A label as Loki's `LabelsBuilder.Get` finds it: the error labels are
/// kept apart, only string filters see `__error__`.
fn converted_label<'a>(labels: &'a LabelBuf, name: &str) -> Option<&'a str> {
    if name == super::builder::ERROR_LABEL || name == super::builder::ERROR_DETAILS_LABEL {
        return None;
    }
    labels.get(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelSet;

    fn labels(pairs: &[(&str, &str)]) -> LabelBuf {
        let mut b = LabelBuf::default();
        b.reset(&LabelSet::from_pairs(pairs.iter().copied()), &[]);
        b
    }

    fn s(name: &str, op: MatchOp, v: &str) -> LabelFilter {
        LabelFilter::String(Matcher {
            name: name.into(),
            op,
            value: v.into(),
        })
    }

    fn num(name: &str, op: CmpOp, value: f64) -> LabelFilter {
        LabelFilter::Number {
            name: name.into(),
            op,
            value,
        }
    }

    fn eval(f: &LabelFilter, b: &mut LabelBuf) -> bool {
        CompiledLabelFilter::new(f).unwrap().eval(b)
    }

    #[test]
    fn strings_and_missing_labels() {
        let mut b = labels(&[("level", "error")]);
        assert!(eval(&s("level", MatchOp::Re, "err.*"), &mut b));
        assert!(!eval(&s("level", MatchOp::Re, "err"), &mut b));
        assert!(eval(&s("nope", MatchOp::Eq, ""), &mut b));
        assert!(eval(&s("nope", MatchOp::Neq, "x"), &mut b));
        assert!(eval(&s("__error__", MatchOp::Eq, ""), &mut b));
    }

    #[test]
    fn numbers_durations_bytes() {
        let mut b = labels(&[("status", "503"), ("d", "2.5s"), ("size", "50Gi")]);
        assert!(eval(&num("status", CmpOp::Ge, 500.0), &mut b));
        assert!(!eval(&num("status", CmpOp::Lt, 500.0), &mut b));
        // A missing label drops the entry for every operator, `!=` too.
        assert!(!eval(&num("missing", CmpOp::Gt, 1.0), &mut b));
        assert!(!eval(&num("missing", CmpOp::Neq, 1.0), &mut b));
        let d = LabelFilter::Duration {
            name: "d".into(),
            op: CmpOp::Gt,
            value: 2_000_000_000,
        };
        assert!(eval(&d, &mut b));
        let by = LabelFilter::Bytes {
            name: "size".into(),
            op: CmpOp::Ge,
            value: 50.0 * 1024f64.powi(3),
        };
        assert!(eval(&by, &mut b));
        assert!(!b.has_err());
    }

    #[test]
    fn conversion_error_keeps_entry_and_marks_it() {
        let mut b = labels(&[("status", "abc"), ("n", "1")]);
        assert!(eval(&num("status", CmpOp::Gt, 1.0), &mut b));
        assert_eq!(b.err(), LABEL_FILTER_ERR);
        // With an error present, numeric filters still filter (Loki 3,
        // grafana/loki#12378), and a second failure keeps the first error.
        assert!(!eval(&num("n", CmpOp::Gt, 5.0), &mut b));
        assert!(eval(&num("n", CmpOp::Lt, 5.0), &mut b));
        assert!(!eval(&num("missing", CmpOp::Neq, 5.0), &mut b));
        let mut b = labels(&[("status", "abc")]);
        b.set_err("JSONParserErr", "");
        assert!(eval(&num("status", CmpOp::Gt, 1.0), &mut b));
        assert_eq!(b.err(), "JSONParserErr");
        assert!(!eval(&s("__error__", MatchOp::Eq, ""), &mut b));
        // `__error__` is not a label a converting filter can read.
        assert!(!eval(&num("__error__", CmpOp::Neq, 0.0), &mut b));
    }

    #[test]
    fn and_or() {
        let mut b = labels(&[("a", "1"), ("b", "2")]);
        let f = LabelFilter::Or(
            Box::new(num("a", CmpOp::Eq, 5.0)),
            Box::new(LabelFilter::And(
                Box::new(num("b", CmpOp::Eq, 2.0)),
                Box::new(s("a", MatchOp::Eq, "1")),
            )),
        );
        assert!(eval(&f, &mut b));
        let f = LabelFilter::And(
            Box::new(num("a", CmpOp::Eq, 5.0)),
            Box::new(num("b", CmpOp::Eq, 2.0)),
        );
        assert!(!eval(&f, &mut b));
    }

    #[test]
    fn ip_label_filter() {
        let mut b = labels(&[("ip", "10.42.1.7")]);
        let f = LabelFilter::Ip {
            name: "ip".into(),
            negate: false,
            pattern: "10.42.1.0/24".into(),
        };
        assert!(eval(&f, &mut b));
        let f = LabelFilter::Ip {
            name: "ip".into(),
            negate: true,
            pattern: "10.42.1.0/24".into(),
        };
        assert!(!eval(&f, &mut b));
    }
}
