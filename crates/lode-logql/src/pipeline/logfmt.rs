//! The `logfmt` parser: `key=value key2="quoted \" value" flag`.
//!
//! Without `--strict` a malformed pair is skipped and scanning resumes at
//! the next space; with it, the first syntax error stops the parser and
//! becomes `__error__="LogfmtParserErr"`. Empty values are dropped unless
//! `--keep-empty`.

use super::builder::{sanitize_into, LabelBuf};
use crate::labels::LabelSet;

pub(crate) const LOGFMT_ERR: &str = "LogfmtParserErr";

#[derive(Debug, Clone)]
pub(crate) struct Logfmt {
    pub(crate) strict: bool,
    pub(crate) keep_empty: bool,
    /// `(label, key)`; empty means every key.
    pub(crate) params: Vec<(String, String)>,
}

/// Reusable buffers.
#[derive(Debug, Default)]
pub(crate) struct LogfmtScratch {
    key: String,
    value: String,
}

struct SyntaxError {
    pos: usize,
    what: u8,
}

impl SyntaxError {
    fn message(&self) -> String {
        let what = match self.what {
            b'"' => "unexpected '\"'".to_string(),
            b'=' => "unexpected '='".to_string(),
            0 => "unterminated quoted value".to_string(),
            c => format!("unexpected {:?}", c as char),
        };
        format!("logfmt syntax error at pos {} : {}", self.pos, what)
    }
}

/// Go-style unquoting of the inside of a quoted value.
fn unquote_into(raw: &str, out: &mut String) {
    out.clear();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let h: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&h, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push('\u{FFFD}'),
                }
            }
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
}

impl Logfmt {
    /// Extracts the pairs of `line`; `Err(details)` on a strict-mode error.
    pub(crate) fn parse(
        &self,
        line: &str,
        stream: &LabelSet,
        labels: &mut LabelBuf,
        scratch: &mut LogfmtScratch,
    ) -> Result<(), String> {
        let b = line.as_bytes();
        let n = b.len();
        let mut i = 0;
        while i < n {
            while i < n && b[i] <= b' ' {
                i += 1;
            }
            if i >= n {
                break;
            }
            match self.pair(line, &mut i) {
                Ok((key, val)) => self.emit(key, val, stream, labels, scratch),
                Err(e) => {
                    if self.strict {
                        return Err(e.message());
                    }
                    while i < n && b[i] > b' ' {
                        i += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Scans one `key[=value]` at `*i`; the value range is raw (quoted
    /// values still include their escapes, without the quotes) plus a flag.
    fn pair<'l>(
        &self,
        line: &'l str,
        i: &mut usize,
    ) -> Result<(&'l str, (&'l str, bool)), SyntaxError> {
        let b = line.as_bytes();
        let n = b.len();
        let ks = *i;
        while *i < n && b[*i] > b' ' && b[*i] != b'=' && b[*i] != b'"' {
            *i += 1;
        }
        if *i < n && b[*i] == b'"' {
            return Err(SyntaxError {
                pos: *i + 1,
                what: b'"',
            });
        }
        let key = &line[ks..*i];
        if *i >= n || b[*i] <= b' ' {
            return Ok((key, ("", false)));
        }
        // b[*i] == '='
        if key.is_empty() {
            return Err(SyntaxError {
                pos: *i + 1,
                what: b'=',
            });
        }
        *i += 1;
        if *i >= n || b[*i] <= b' ' {
            return Ok((key, ("", false)));
        }
        if b[*i] == b'"' {
            *i += 1;
            let vs = *i;
            let mut escaped = false;
            while *i < n {
                match b[*i] {
                    b'\\' => {
                        escaped = true;
                        *i += 2;
                    }
                    b'"' => {
                        let v = &line[vs..*i];
                        *i += 1;
                        return Ok((key, (v, escaped)));
                    }
                    _ => *i += 1,
                }
            }
            *i = n;
            return Err(SyntaxError { pos: n, what: 0 });
        }
        let vs = *i;
        while *i < n && b[*i] > b' ' {
            if b[*i] == b'=' || b[*i] == b'"' {
                return Err(SyntaxError {
                    pos: *i + 1,
                    what: b[*i],
                });
            }
            *i += 1;
        }
        Ok((key, (&line[vs..*i], false)))
    }

    fn emit(
        &self,
        key: &str,
        (raw, escaped): (&str, bool),
        stream: &LabelSet,
        labels: &mut LabelBuf,
        scratch: &mut LogfmtScratch,
    ) {
        if raw.is_empty() && !self.keep_empty {
            return;
        }
        let val = if escaped {
            unquote_into(raw, &mut scratch.value);
            scratch.value.as_str()
        } else {
            raw
        };
        if self.params.is_empty() {
            scratch.key.clear();
            sanitize_into(key, &mut scratch.key);
            if !scratch.key.is_empty() {
                labels.add_parsed(stream, &scratch.key, val);
            }
        } else {
            for (label, k) in &self.params {
                if k == key {
                    labels.add_parsed(stream, label, val);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(p: &Logfmt, line: &str) -> (Result<(), String>, LabelSet) {
        let stream = LabelSet::from_pairs([("level", "x")]);
        let mut b = LabelBuf::default();
        b.reset(&stream, &[]);
        let r = p.parse(line, &stream, &mut b, &mut LogfmtScratch::default());
        b.remove("level");
        (r, b.to_label_set())
    }

    fn lf(strict: bool, keep_empty: bool) -> Logfmt {
        Logfmt {
            strict,
            keep_empty,
            params: vec![],
        }
    }

    #[test]
    fn basic_pairs() {
        let (r, l) = run(
            &lf(false, false),
            r#"logger=context userId=0 t=2024 level=info msg="Request \"Completed\"" referer= flag"#,
        );
        assert!(r.is_ok());
        assert_eq!(l.get("logger"), Some("context"));
        assert_eq!(l.get("userId"), Some("0"));
        assert_eq!(l.get("level_extracted"), Some("info"));
        assert_eq!(l.get("msg"), Some("Request \"Completed\""));
        assert_eq!(l.get("referer"), None);
        assert_eq!(l.get("flag"), None);
    }

    #[test]
    fn strict_reports_position() {
        let (r, _) = run(&lf(true, false), r#"{"time":"x"}"#);
        assert_eq!(
            r.unwrap_err(),
            "logfmt syntax error at pos 2 : unexpected '\"'"
        );
        let (r, l) = run(&lf(false, false), r#"{"time":"x"} a=1"#);
        assert!(r.is_ok());
        assert_eq!(l.get("a"), Some("1"));
        let (r, _) = run(&lf(true, false), r#"a="unterminated"#);
        assert!(r.is_err());
    }

    #[test]
    fn keep_empty_and_params() {
        let (_, l) = run(&lf(false, true), "a= b");
        assert_eq!(l.get("a"), Some(""));
        assert_eq!(l.get("b"), Some(""));
        let (_, l) = run(&lf(false, false), "a= b");
        assert!(l.is_empty());
        let p = Logfmt {
            strict: false,
            keep_empty: false,
            params: vec![
                ("st".into(), "status".into()),
                ("path".into(), "path".into()),
            ],
        };
        let (_, l) = run(&p, "method=GET path=/x status=404");
        assert_eq!(l.get("st"), Some("404"));
        assert_eq!(l.get("path"), Some("/x"));
        assert_eq!(l.get("method"), None);
    }

    #[test]
    fn keys_are_sanitised() {
        let (_, l) = run(&lf(false, false), "I0101 01:59:39.9 a.b=c");
        assert_eq!(l.get("a_b"), Some("c"));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}", strict in any::<bool>()) {
            let _ = run(&lf(strict, true), &s);
        }

        #[test]
        fn never_panics_logfmtish(s in r#"[a-c= "\\]{0,60}"#) {
            let _ = run(&lf(true, false), &s);
            let _ = run(&lf(false, true), &s);
        }
    }
}
