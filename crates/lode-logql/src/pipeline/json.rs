//! The `json` and `unpack` parsers.
//!
//! `| json` walks the line once with a small hand-written scanner: nested
//! objects are flattened with `_`, arrays are skipped, numbers and booleans
//! keep their literal text and strings are unescaped. Error texts follow the
//! ones Loki reports in `__error_details__`.

use serde_json::Value;

use super::builder::{sanitize_into, sanitize_segment, LabelBuf};
use crate::error::{Error, Result};
use crate::labels::LabelSet;

pub(crate) const JSON_ERR: &str = "JSONParserErr";

const E_OBJECT: &str = "Value looks like object, but can't find closing '}' symbol";
const E_STRING: &str = "Value is string, but can't find closing '\"' symbol";
const E_ARRAY: &str = "Value is array, but can't find closing ']' symbol";
const E_VALUE: &str =
    "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol";
const E_ESCAPE: &str = "Encountered an invalid escape sequence in a string";
const E_UNKNOWN: &str = "Unknown value type";
const E_DEPTH: &str = "Malformed JSON error";
const MAX_DEPTH: usize = 64;

/// Reusable buffers of the JSON scanner.
#[derive(Debug, Default)]
pub(crate) struct JsonScratch {
    key: String,
    raw_key: String,
    value: String,
    pairs: Vec<(String, String)>,
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Where a decoded string lives: in the input, or unescaped in a buffer.
enum Str {
    Borrowed(usize, usize),
    Owned,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner {
            s,
            b: s.as_bytes(),
            i: 0,
        }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Reads a string whose opening quote is at `self.i`.
    fn string(&mut self, out: &mut String) -> Result<Str, &'static str> {
        self.i += 1;
        let start = self.i;
        let mut owned = false;
        let mut seg = start;
        loop {
            let rel = memchr::memchr2(b'"', b'\\', &self.b[self.i..]).ok_or(E_STRING)?;
            self.i += rel;
            if self.b[self.i] == b'"' {
                let end = self.i;
                self.i += 1;
                if !owned {
                    return Ok(Str::Borrowed(start, end));
                }
                out.push_str(&self.s[seg..end]);
                return Ok(Str::Owned);
            }
            if !owned {
                out.clear();
                owned = true;
            }
            out.push_str(&self.s[seg..self.i]);
            let esc = *self.b.get(self.i + 1).ok_or(E_STRING)?;
            self.i += 2;
            match esc {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hi = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&hi) {
                        if self.b.get(self.i) == Some(&b'\\')
                            && self.b.get(self.i + 1) == Some(&b'u')
                        {
                            self.i += 2;
                            let lo = self.hex4()?;
                            if (0xDC00..0xE000).contains(&lo) {
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else {
                                None
                            }
                        } else {
                            None
                        }
                    } else {
                        char::from_u32(hi)
                    };
                    out.push(c.unwrap_or('\u{FFFD}'));
                }
                _ => return Err(E_ESCAPE),
            }
            seg = self.i;
        }
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let h = self.b.get(self.i..self.i + 4).ok_or(E_ESCAPE)?;
        let h = std::str::from_utf8(h).map_err(|_| E_ESCAPE)?;
        let v = u32::from_str_radix(h, 16).map_err(|_| E_ESCAPE)?;
        self.i += 4;
        Ok(v)
    }

    /// A number, `true`, `false` or `null`: the raw token.
    fn scalar(&mut self) -> Result<(usize, usize), &'static str> {
        let start = self.i;
        while self.i < self.b.len()
            && !matches!(
                self.b[self.i],
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
            )
        {
            self.i += 1;
        }
        if self.i == self.b.len() {
            return Err(E_VALUE);
        }
        let tok = &self.b[start..self.i];
        // An empty token (a value position holding `}` or `,`) is malformed.
        let ok = match tok.first().copied().unwrap_or(0) {
            b't' => tok == b"true",
            b'f' => tok == b"false",
            b'n' => tok == b"null",
            b'-' | b'0'..=b'9' => tok
                .iter()
                .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')),
            _ => false,
        };
        if !ok {
            return Err(E_UNKNOWN);
        }
        Ok((start, self.i))
    }

    /// Skips any value starting at `self.i`.
    fn skip_value(&mut self, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_DEPTH {
            return Err(E_DEPTH);
        }
        match self.peek() {
            Some(b'"') => {
                let mut tmp = String::new();
                self.string(&mut tmp).map(|_| ())
            }
            Some(b'{') => {
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        Some(b'"') => {
                            let mut tmp = String::new();
                            self.string(&mut tmp)?;
                        }
                        _ => return Err(E_OBJECT),
                    }
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(E_OBJECT);
                    }
                    self.i += 1;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(E_OBJECT),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        None => return Err(E_ARRAY),
                        _ => {}
                    }
                    self.skip_value(depth + 1).map_err(
                        |e| {
                            if e == E_VALUE {
                                E_ARRAY
                            } else {
                                e
                            }
                        },
                    )?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err(E_ARRAY),
                    }
                }
            }
            Some(_) => self.scalar().map(|_| ()),
            None => Err(E_VALUE),
        }
    }
}

/// `| json` without parameters.
pub(crate) fn parse_all(
    line: &str,
    stream: &LabelSet,
    labels: &mut LabelBuf,
    scratch: &mut JsonScratch,
) -> Result<(), &'static str> {
    let mut sc = Scanner::new(line);
    sc.ws();
    if sc.peek() != Some(b'{') {
        return Err(E_OBJECT);
    }
    scratch.key.clear();
    walk_object(&mut sc, stream, labels, scratch, 0)
}

fn walk_object(
    sc: &mut Scanner<'_>,
    stream: &LabelSet,
    labels: &mut LabelBuf,
    scratch: &mut JsonScratch,
    depth: usize,
) -> Result<(), &'static str> {
    if depth > MAX_DEPTH {
        return Err(E_DEPTH);
    }
    sc.i += 1; // '{'
    let prefix_len = scratch.key.len();
    loop {
        sc.ws();
        match sc.peek() {
            Some(b'}') => {
                sc.i += 1;
                return Ok(());
            }
            Some(b'"') => {}
            _ => return Err(E_OBJECT),
        }
        scratch.key.truncate(prefix_len);
        match sc.string(&mut scratch.raw_key)? {
            Str::Borrowed(a, b) => {
                if prefix_len > 0 {
                    scratch.key.push('_');
                }
                sanitize_segment(&sc.s[a..b], &mut scratch.key, prefix_len == 0);
            }
            Str::Owned => {
                if prefix_len > 0 {
                    scratch.key.push('_');
                }
                sanitize_segment(&scratch.raw_key, &mut scratch.key, prefix_len == 0);
            }
        }
        sc.ws();
        if sc.peek() != Some(b':') {
            return Err(E_OBJECT);
        }
        sc.i += 1;
        sc.ws();
        match sc.peek() {
            Some(b'{') => walk_object(sc, stream, labels, scratch, depth + 1)?,
            Some(b'[') => sc.skip_value(depth + 1)?,
            Some(b'"') => {
                let v = sc.string(&mut scratch.value)?;
                let val = match v {
                    Str::Borrowed(a, b) => &sc.s[a..b],
                    Str::Owned => scratch.value.as_str(),
                };
                if !scratch.key.is_empty() {
                    labels.add_parsed(stream, &scratch.key, val);
                }
            }
            Some(_) => {
                let (a, b) = sc.scalar()?;
                let tok = &sc.s[a..b];
                let val = if tok == "null" { "" } else { tok };
                if !scratch.key.is_empty() {
                    labels.add_parsed(stream, &scratch.key, val);
                }
            }
            None => return Err(E_OBJECT),
        }
        sc.ws();
        match sc.peek() {
            Some(b',') => sc.i += 1,
            Some(b'}') => {}
            _ => return Err(E_OBJECT),
        }
    }
}

/// One step of a JSON path expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses `a.b[0]["x.y"]`.
pub(crate) fn parse_path(expr: &str) -> Result<Vec<PathStep>> {
    let bad = || Error::Invalid(format!("invalid JSON expression: {expr:?}"));
    let b = expr.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    let mut cur = String::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                if !cur.is_empty() {
                    steps.push(PathStep::Key(std::mem::take(&mut cur)));
                } else if steps.is_empty() {
                    return Err(bad());
                }
                i += 1;
            }
            b'[' => {
                if !cur.is_empty() {
                    steps.push(PathStep::Key(std::mem::take(&mut cur)));
                }
                let close = expr[i..].find(']').ok_or_else(bad)? + i;
                let inner = expr[i + 1..close].trim();
                if let Some(q) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    steps.push(PathStep::Key(q.to_string()));
                } else {
                    steps.push(PathStep::Index(inner.parse().map_err(|_| bad())?));
                }
                i = close + 1;
            }
            _ => {
                let c = expr[i..].chars().next().ok_or_else(bad)?;
                cur.push(c);
                i += c.len_utf8();
            }
        }
    }
    if !cur.is_empty() {
        steps.push(PathStep::Key(cur));
    }
    if steps.is_empty() {
        return Err(bad());
    }
    Ok(steps)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `| json a="x.y", ...` with compiled paths.
pub(crate) fn parse_params(
    line: &str,
    params: &[(String, Vec<PathStep>)],
    stream: &LabelSet,
    labels: &mut LabelBuf,
) -> Result<(), &'static str> {
    let trimmed = line.trim_start();
    if !trimmed.starts_with('{') {
        return Err(E_OBJECT);
    }
    let root: Value = serde_json::from_str(line).map_err(|_| E_OBJECT)?;
    for (name, path) in params {
        let mut v = Some(&root);
        for step in path {
            v = match (v, step) {
                (Some(Value::Object(m)), PathStep::Key(k)) => m.get(k),
                (Some(Value::Array(a)), PathStep::Index(i)) => a.get(*i),
                _ => None,
            };
        }
        let text = v.map(value_text).unwrap_or_default();
        labels.add_parsed(stream, name, &text);
    }
    Ok(())
}

/// `| unpack`: a JSON object whose `_entry` replaces the line and whose
/// other string fields become labels. Returns the new line, if any.
pub(crate) fn unpack(
    line: &str,
    stream: &LabelSet,
    labels: &mut LabelBuf,
    scratch: &mut JsonScratch,
) -> Result<Option<String>, &'static str> {
    let mut sc = Scanner::new(line);
    sc.ws();
    if sc.peek() != Some(b'{') {
        return Err(E_OBJECT);
    }
    sc.i += 1;
    scratch.pairs.clear();
    let mut entry: Option<String> = None;
    loop {
        sc.ws();
        match sc.peek() {
            Some(b'}') => break,
            Some(b'"') => {}
            _ => return Err(E_OBJECT),
        }
        let key = match sc.string(&mut scratch.raw_key)? {
            Str::Borrowed(a, b) => sc.s[a..b].to_string(),
            Str::Owned => scratch.raw_key.clone(),
        };
        sc.ws();
        if sc.peek() != Some(b':') {
            return Err(E_OBJECT);
        }
        sc.i += 1;
        sc.ws();
        if sc.peek() == Some(b'"') {
            let val = match sc.string(&mut scratch.value)? {
                Str::Borrowed(a, b) => sc.s[a..b].to_string(),
                Str::Owned => scratch.value.clone(),
            };
            if key == "_entry" {
                entry = Some(val);
            } else {
                scratch.pairs.push((key, val));
            }
        } else {
            sc.skip_value(1)?;
        }
        sc.ws();
        match sc.peek() {
            Some(b',') => sc.i += 1,
            Some(b'}') => {}
            _ => return Err(E_OBJECT),
        }
    }
    if entry.is_some() {
        let mut name = String::new();
        for (k, v) in &scratch.pairs {
            name.clear();
            sanitize_into(k, &mut name);
            if !name.is_empty() {
                labels.add_parsed(stream, &name, v);
            }
        }
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(line: &str) -> (Result<(), &'static str>, LabelSet) {
        let stream = LabelSet::from_pairs([("level", "x")]);
        let mut b = LabelBuf::default();
        b.reset(&stream, &[]);
        let r = parse_all(line, &stream, &mut b, &mut JsonScratch::default());
        b.remove("level");
        (r, b.to_label_set())
    }

    #[test]
    fn missing_value_is_an_error_not_a_panic() {
        // Found by the `never_panics_jsonish` proptest: `}` where a value belongs.
        for line in [r#"{"":}"#, r#"{"a":,"b":1}"#, r#"{"a":]"#] {
            assert!(run(line).0.is_err(), "{line}");
        }
    }

    #[test]
    fn flattens_nested_and_skips_arrays() {
        let (r, l) = run(
            r#"{"level":"info","a":{"b":{"c":1.50}},"arr":[1,{"x":2}],"t":true,"n":null,"s":"q\"\u00e9","1k":"v","a-b":"w"}"#,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(l.get("level_extracted"), Some("info"));
        assert_eq!(l.get("a_b_c"), Some("1.50"));
        assert_eq!(l.get("arr"), None);
        assert_eq!(l.get("t"), Some("true"));
        assert_eq!(l.get("n"), Some(""));
        assert_eq!(l.get("s"), Some("q\"é"));
        assert_eq!(l.get("_1k"), Some("v"));
        assert_eq!(l.get("a_b"), Some("w"));
    }

    #[test]
    fn errors_keep_earlier_labels() {
        let (r, _) = run("2024-01-01 not json");
        assert_eq!(r, Err(E_OBJECT));
        let (r, _) = run("");
        assert_eq!(r, Err(E_OBJECT));
        let (r, l) = run(r#"{"a":"1","b":"#);
        assert!(r.is_err());
        assert_eq!(l.get("a"), Some("1"));
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path(r#"a.b[0]["x.y"]"#).unwrap(),
            vec![
                PathStep::Key("a".into()),
                PathStep::Key("b".into()),
                PathStep::Index(0),
                PathStep::Key("x.y".into())
            ]
        );
        let stream = LabelSet::new();
        let mut b = LabelBuf::default();
        b.reset(&stream, &[]);
        let params = vec![
            ("ua".to_string(), parse_path("req.headers.ua").unwrap()),
            ("first".to_string(), parse_path("list[1]").unwrap()),
        ];
        parse_params(
            r#"{"req":{"headers":{"ua":"curl"}},"list":[1,2.5]}"#,
            &params,
            &stream,
            &mut b,
        )
        .unwrap();
        assert_eq!(b.get("ua"), Some("curl"));
        assert_eq!(b.get("first"), Some("2.5"));
    }

    #[test]
    fn unpack_needs_entry() {
        let stream = LabelSet::new();
        let mut b = LabelBuf::default();
        b.reset(&stream, &[]);
        let mut sc = JsonScratch::default();
        let r = unpack(r#"{"a":"1","n":2}"#, &stream, &mut b, &mut sc).unwrap();
        assert_eq!(r, None);
        assert_eq!(b.get("a"), None);
        let r = unpack(
            r#"{"a":"1","_entry":"line","n":2}"#,
            &stream,
            &mut b,
            &mut sc,
        )
        .unwrap();
        assert_eq!(r.as_deref(), Some("line"));
        assert_eq!(b.get("a"), Some("1"));
        assert_eq!(b.get("n"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = run(&s);
            let stream = LabelSet::new();
            let mut b = LabelBuf::default();
            let _ = unpack(&s, &stream, &mut b, &mut JsonScratch::default());
        }

        #[test]
        fn never_panics_jsonish(s in r#"[{}\[\]":,a-c0-9 \\u.-]{0,80}"#) {
            let _ = run(&s);
            let _ = run(&format!("{{{s}"));
        }
    }
}
