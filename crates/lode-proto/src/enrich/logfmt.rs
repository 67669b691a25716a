//! Just enough of Loki's logfmt decoder to find a level field: the same
//! tokenisation (keys are runs of bytes above space without `=` or `"`,
//! bare keys have no value, an empty quoted value is no value) and the same
//! stop-at-first-syntax-error behaviour, since which keys are seen decides
//! the answer.

use std::borrow::Cow;

/// Value of the highest-priority `fields` key (compared ignoring ASCII
/// case) among the pairs scanned before the first syntax error. A match on
/// the first field ends the scan. `None` both when no key matched and when
/// the best match has no value.
pub(super) fn find_level<'a>(line: &'a str, fields: &[&str]) -> Option<Cow<'a, str>> {
    let mut best = fields.len();
    let mut result = None;
    let mut scanner = Scanner { s: line, pos: 0 };
    while let Some((key, value)) = scanner.next_pair() {
        if let Some(x) = fields.iter().position(|f| key.eq_ignore_ascii_case(f)) {
            if x < best {
                best = x;
                result = value;
                if x == 0 {
                    break;
                }
            }
        }
    }
    result
}

struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// Next `(key, value)`; `None` at the end of the line or on a syntax error.
    fn next_pair(&mut self) -> Option<(&'a str, Option<Cow<'a, str>>)> {
        let b = self.s.as_bytes();
        while self.pos < b.len() && b[self.pos] <= b' ' {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let start = self.pos;
        let mut multibyte = false;
        let key = loop {
            let Some(&c) = b.get(self.pos) else {
                return Some((self.checked_key(start, multibyte)?, None));
            };
            match c {
                b'=' => {
                    if self.pos == start {
                        return None;
                    }
                    break self.checked_key(start, multibyte)?;
                }
                b'"' => return None,
                c if c <= b' ' => return Some((self.checked_key(start, multibyte)?, None)),
                c => {
                    multibyte |= c >= 0x80;
                    self.pos += 1;
                }
            }
        };
        self.pos += 1; // past '='
        match b.get(self.pos) {
            None => return Some((key, None)),
            Some(&c) if c <= b' ' => return Some((key, None)),
            Some(b'"') => return self.quoted().map(|v| (key, v)),
            Some(_) => {}
        }
        let vstart = self.pos;
        while let Some(&c) = b.get(self.pos) {
            match c {
                b'=' | b'"' => return None,
                c if c <= b' ' => break,
                _ => self.pos += 1,
            }
        }
        Some((key, Some(Cow::Borrowed(&self.s[vstart..self.pos]))))
    }

    /// The key ending at `self.pos`; a key holding U+FFFD (from invalid
    /// input) is a syntax error, as in Loki.
    fn checked_key(&self, start: usize, multibyte: bool) -> Option<&'a str> {
        let key = &self.s[start..self.pos];
        (!(multibyte && key.contains('\u{fffd}'))).then_some(key)
    }

    /// A quoted value starting at `self.pos` (on the opening quote).
    fn quoted(&mut self) -> Option<Option<Cow<'a, str>>> {
        let b = self.s.as_bytes();
        let open = self.pos;
        let mut i = open + 1;
        let mut escaped = false;
        while i < b.len() {
            match b[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                    continue;
                }
                b'"' => {
                    self.pos = i + 1;
                    let raw = &self.s[open..=i];
                    if escaped {
                        // logfmt unquoting follows JSON string rules.
                        return serde_json::from_str::<String>(raw)
                            .ok()
                            .map(|v| Some(Cow::Owned(v)));
                    }
                    let inner = &raw[1..raw.len() - 1];
                    return Some((!inner.is_empty()).then_some(Cow::Borrowed(inner)));
                }
                _ => i += 1,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: [&str; 3] = ["level", "severity", "lvl"];

    fn find(line: &str) -> Option<String> {
        find_level(line, &F).map(Cow::into_owned)
    }

    #[test]
    fn priority_and_case() {
        assert_eq!(find("lvl=a severity=b"), Some("b".into()));
        assert_eq!(find("lvl=a LEVEL=c severity=b"), Some("c".into()));
        assert_eq!(find("a=1 Lvl=\"x y\""), Some("x y".into()));
    }

    #[test]
    fn escapes_and_empty_values() {
        assert_eq!(find(r#"level="in\"fo""#), Some("in\"fo".into()));
        assert_eq!(find(r#"level="""#), None);
        assert_eq!(find("level= x=1"), None);
        assert_eq!(find("level"), None);
        assert_eq!(find("lvl=x level"), None);
    }

    #[test]
    fn stops_at_syntax_errors() {
        assert_eq!(find(r#"I0101 "quoted" level=info"#), None);
        assert_eq!(find("a=b=c level=info"), None);
        assert_eq!(find("=x level=info"), None);
        assert_eq!(find(r#"msg="unterminated level=info"#), None);
        assert_eq!(find(r#"k="bad \q" level=info"#), None);
        assert_eq!(find("k\u{fffd}=1 level=info"), None);
        assert_eq!(find("ünï=1 level=info"), Some("info".into()));
    }
}
