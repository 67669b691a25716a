//! Stream label sets: parsing Loki's Prometheus-text form, validation and
//! canonical ordering.

use crate::error::ProtoError;
use lode_go::strconv::{push_escaped, unquote_promql, UnquoteError};

/// Parses a stream selector in Prometheus text form, `{a="b", c="d\"e"}`,
/// into a canonical label set (sorted by name, empty values dropped, names
/// unique). Values may use `"…"`, `'…'` (Go escapes) or `` `…` `` (raw)
/// quoting; an optional metric name before `{` becomes `__name__`, and a
/// trailing comma is allowed, as in PromQL.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>, ProtoError> {
    let pairs = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    }
    .parse()
    .map_err(|reason| ProtoError::LabelParse {
        labels: text.to_owned(),
        reason,
    })?;
    canonicalize(pairs)
}

/// Sorts by name, drops empty values (an empty value is an absent label in
/// Prometheus and Loki) and rejects empty sets and duplicate names.
pub fn canonicalize(mut pairs: Vec<(String, String)>) -> Result<Vec<(String, String)>, ProtoError> {
    pairs.retain(|(_, v)| !v.is_empty());
    if pairs.is_empty() {
        return Err(ProtoError::MissingLabels);
    }
    if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ProtoError::DuplicateLabel {
                stream: render_labels(&pairs),
                name: w[0].0.clone(),
            });
        }
    }
    Ok(pairs)
}

pub use lode_go::model::is_valid_label_name;

/// Renders a label set as Prometheus does (`{a="b", c="d"}`), used in error
/// texts and as the canonical stream key.
pub fn render_labels<K: AsRef<str>, V: AsRef<str>>(labels: &[(K, V)]) -> String {
    let mut out = String::with_capacity(
        2 + labels
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 5)
            .sum::<usize>(),
    );
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k.as_ref());
        out.push_str("=\"");
        push_escaped(&mut out, v.as_ref(), '"', false);
        out.push('"');
    }
    out.push('}');
    out
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn parse(mut self) -> Result<Vec<(String, String)>, String> {
        let mut pairs = Vec::new();
        self.skip_ws();
        if self.peek().is_some_and(is_name_start) {
            let name = self.name();
            pairs.push(("__name__".to_owned(), name.to_owned()));
            self.skip_ws();
            if self.peek().is_none() {
                return Ok(pairs);
            }
        }
        self.expect(b'{', "\"{\"")?;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(c) if is_name_start(c) => {}
                Some(_) => return Err(self.unexpected("label name")),
                None => return Err(self.err("unexpected end of input inside braces")),
            }
            let name = self.name().to_owned();
            self.skip_ws();
            match (self.peek(), self.s.get(self.pos + 1)) {
                (Some(b'='), Some(b'~')) | (Some(b'!'), _) => {
                    return Err(self.err("unexpected matcher in label set, expected \"=\""));
                }
                _ => {}
            }
            self.expect(b'=', "\"=\"")?;
            self.skip_ws();
            let value = self.string()?;
            pairs.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                Some(_) => return Err(self.unexpected("\",\" or \"}\"")),
                None => return Err(self.err("unexpected end of input inside braces")),
            }
        }
        self.skip_ws();
        if self.pos < self.s.len() {
            return Err(self.unexpected("end of input"));
        }
        Ok(pairs)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn name(&mut self) -> &str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'' | b'`')) => q,
            Some(_) => return Err(self.unexpected("string")),
            None => return Err(self.err("unexpected end of input, expected string")),
        };
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match self.s.get(i) {
                None => return Err(self.err("unterminated quoted string")),
                Some(b'\\') if quote != b'`' => i += 2,
                Some(b'\n') if quote != b'`' => return Err(self.err("unterminated quoted string")),
                Some(&c) if c == quote => break,
                Some(_) => i += 1,
            }
        }
        let body = &self.text[start..i];
        self.pos = i + 1;
        if quote == b'`' {
            return Ok(body.to_owned());
        }
        unquote_promql(&self.text[start - 1..=i]).map_err(|e| match e {
            UnquoteError::Syntax => format!(
                "{}: parse error: invalid escape sequence in string {}",
                self.at(start - 1),
                &self.text[start - 1..=i]
            ),
            UnquoteError::InvalidUtf8 => format!(
                "{}: parse error: invalid UTF-8 in label value",
                self.at(start - 1)
            ),
        })
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    /// Prometheus-style `line:col` (1-based, in characters).
    fn at(&self, pos: usize) -> String {
        let col = self.text.get(..pos).map_or(pos, |p| p.chars().count()) + 1;
        format!("1:{col}")
    }

    fn err(&self, msg: &str) -> String {
        format!("{}: parse error: {msg}", self.at(self.pos))
    }

    fn unexpected(&self, expected: &str) -> String {
        let found = self.text[self.pos..]
            .chars()
            .next()
            .map_or_else(|| "end of input".to_owned(), |c| format!("character {c:?}"));
        format!(
            "{}: parse error: unexpected {found}, expected {expected}",
            self.at(self.pos)
        )
    }
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_sorts_and_unescapes() {
        let got = parse_labels(r#"{c="d\"e", a="b",b='x\'y', z=`r\aw`}"#).unwrap();
        assert_eq!(
            got,
            pairs(&[("a", "b"), ("b", "x'y"), ("c", "d\"e"), ("z", "r\\aw")])
        );
        let got = parse_labels(" \t{ app = \"api\" ,\n }\n").unwrap();
        assert_eq!(got, pairs(&[("app", "api")]));
        assert_eq!(
            parse_labels(r#"{a="\u00e9\x41"}"#).unwrap(),
            pairs(&[("a", "éA")])
        );
    }

    #[test]
    fn metric_name_becomes_name_label() {
        assert_eq!(
            parse_labels(r#"up{job="x"}"#).unwrap(),
            pairs(&[("__name__", "up"), ("job", "x")])
        );
    }

    #[test]
    fn empty_values_are_dropped() {
        assert_eq!(
            parse_labels(r#"{a="", b="1"}"#).unwrap(),
            pairs(&[("b", "1")])
        );
        assert_eq!(
            parse_labels(r#"{a=""}"#).unwrap_err().to_string(),
            "error at least one label pair is required per stream"
        );
    }

    #[test]
    fn empty_set_is_an_error() {
        let e = parse_labels("{}").unwrap_err();
        assert_eq!(e, ProtoError::MissingLabels);
        assert_eq!(
            e.to_string(),
            "error at least one label pair is required per stream"
        );
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let e = parse_labels(r#"{b="1", a="x", b="2"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"stream '{a="x", b="1", b="2"}' has duplicate label name: 'b'"#
        );
    }

    #[test]
    fn syntax_errors_carry_loki_wrapper() {
        let cases = [
            (r#"{a=b}"#, r#"error parsing labels '{a=b}' with error: 1:4: parse error: unexpected character 'b', expected string"#),
            (r#"{1a="b"}"#, r#"error parsing labels '{1a="b"}' with error: 1:2: parse error: unexpected character '1', expected label name"#),
            (r#"{a="b""#, r#"error parsing labels '{a="b"' with error: 1:7: parse error: unexpected end of input inside braces"#),
            (r#"{a="b}"#, r#"error parsing labels '{a="b}' with error: 1:4: parse error: unterminated quoted string"#),
            (r#"{a!="b"}"#, r#"error parsing labels '{a!="b"}' with error: 1:3: parse error: unexpected matcher in label set, expected "=""#),
            (r#"{a=~"b"}"#, r#"error parsing labels '{a=~"b"}' with error: 1:3: parse error: unexpected matcher in label set, expected "=""#),
            (r#"{a="b"} x"#, r#"error parsing labels '{a="b"} x' with error: 1:9: parse error: unexpected character 'x', expected end of input"#),
            (r#"{a="\q"}"#, r#"error parsing labels '{a="\q"}' with error: 1:4: parse error: invalid escape sequence in string "\q""#),
            ("", "error parsing labels '' with error: 1:1: parse error: unexpected end of input, expected \"{\""),
            (r#"{a-b="c"}"#, r#"error parsing labels '{a-b="c"}' with error: 1:3: parse error: unexpected character '-', expected "=""#),
        ];
        for (input, want) in cases {
            let e = parse_labels(input).unwrap_err();
            assert_eq!(e.to_string(), want, "input {input}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn label_name_validation() {
        for ok in ["a", "_", "A_1", "__name__"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn render_quotes_values() {
        assert_eq!(
            render_labels(&pairs(&[("a", "x\"y"), ("b", "n\nl")])),
            r#"{a="x\"y", b="n\nl"}"#
        );
    }
}
