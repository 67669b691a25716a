//! Finds a level field in a JSON line the way Loki does: walk the object's
//! members in document order, descend into object values up to a depth,
//! and take the first member whose key is one of the fields (exact case)
//! and whose value is a string. The value is returned raw (escapes intact).
//! A syntax error ends the walk; members seen before it still count.

pub(super) fn find_level<'a>(
    line: &'a [u8],
    fields: &[&str],
    max_depth: usize,
) -> Option<&'a [u8]> {
    let mut w = Walker {
        b: line,
        pos: 0,
        fields,
    };
    match w.object(0, max_depth) {
        Walk::Found(start, end) => Some(&line[start..end]),
        Walk::NotFound | Walk::Malformed => None,
    }
}

enum Walk {
    Found(usize, usize),
    NotFound,
    Malformed,
}

struct Walker<'a, 'f> {
    b: &'a [u8],
    pos: usize,
    fields: &'f [&'f str],
}

impl Walker<'_, '_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Walks the object at `self.pos`, leaving `self.pos` after it.
    fn object(&mut self, depth: usize, max_depth: usize) -> Walk {
        self.ws();
        if self.b.get(self.pos) != Some(&b'{') {
            return Walk::Malformed;
        }
        self.pos += 1;
        loop {
            self.ws();
            match self.b.get(self.pos) {
                Some(b'}') => {
                    self.pos += 1;
                    return Walk::NotFound;
                }
                Some(b'"') => {}
                _ => return Walk::Malformed,
            }
            let Some((ks, ke, key_escaped)) = self.string() else {
                return Walk::Malformed;
            };
            self.ws();
            if self.b.get(self.pos) != Some(&b':') {
                return Walk::Malformed;
            }
            self.pos += 1;
            self.ws();
            match self.b.get(self.pos) {
                Some(b'"') => {
                    let Some((vs, ve, _)) = self.string() else {
                        return Walk::Malformed;
                    };
                    if self.key_matches(ks, ke, key_escaped) {
                        return Walk::Found(vs, ve);
                    }
                }
                Some(b'{') if depth + 1 < max_depth || max_depth == 0 => {
                    match self.object(depth + 1, max_depth) {
                        Walk::NotFound => {}
                        other => return other,
                    }
                }
                Some(b'{' | b'[') => {
                    if !self.skip_block() {
                        return Walk::Malformed;
                    }
                }
                Some(_) => {
                    if !self.skip_scalar() {
                        return Walk::Malformed;
                    }
                }
                None => return Walk::Malformed,
            }
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Walk::NotFound;
                }
                _ => return Walk::Malformed,
            }
        }
    }

    fn key_matches(&self, start: usize, end: usize, escaped: bool) -> bool {
        let raw = &self.b[start..end];
        if !escaped {
            return self.fields.iter().any(|f| f.as_bytes() == raw);
        }
        let Ok(quoted) = std::str::from_utf8(&self.b[start - 1..=end]) else {
            return false;
        };
        serde_json::from_str::<String>(quoted).is_ok_and(|k| self.fields.contains(&k.as_str()))
    }

    /// String at `self.pos` (on the quote): content range and whether it
    /// holds escapes; `self.pos` ends after the closing quote.
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => {
                    self.pos = i + 1;
                    return Some((start, i, escaped));
                }
                _ => i += 1,
            }
        }
        None
    }

    /// Skips a nested object or array by bracket matching (strings aware).
    fn skip_block(&mut self) -> bool {
        let mut level = 0usize;
        while let Some(&c) = self.b.get(self.pos) {
            match c {
                b'"' => {
                    if self.string().is_none() {
                        return false;
                    }
                    continue;
                }
                b'{' | b'[' => level += 1,
                b'}' | b']' => {
                    level -= 1;
                    if level == 0 {
                        self.pos += 1;
                        return true;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        false
    }

    /// Skips a number, `true`, `false` or `null` token.
    fn skip_scalar(&mut self) -> bool {
        let start = self.pos;
        while let Some(&c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']') {
                break;
            }
            self.pos += 1;
        }
        let tok = &self.b[start..self.pos];
        match tok.first() {
            Some(b't') => tok == b"true",
            Some(b'f') => tok == b"false",
            Some(b'n') => tok == b"null",
            Some(b'-' | b'0'..=b'9') => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: [&str; 2] = ["level", "lvl"];

    fn find(line: &str, depth: usize) -> Option<&str> {
        find_level(line.as_bytes(), &F, depth).map(|v| std::str::from_utf8(v).unwrap())
    }

    #[test]
    fn walks_in_order_to_depth() {
        assert_eq!(
            find(r#"{"a":1,"b":[{"level":"x"}],"lvl":"info"}"#, 2),
            Some("info")
        );
        assert_eq!(
            find(r#"{"a":{"level":"warn"},"level":"x"}"#, 2),
            Some("warn")
        );
        assert_eq!(find(r#"{"a":{"b":{"level":"warn"}},"c":true}"#, 2), None);
        assert_eq!(find(r#"{"a":{"b":{"level":"warn"}}}"#, 3), Some("warn"));
        assert_eq!(find(r#"{"a":{"b":{"level":"warn"}}}"#, 0), Some("warn"));
        assert_eq!(find(r#"{"level":5,"lvl":"x"}"#, 2), Some("x"));
        assert_eq!(find(r#"{"lev\u0065l":"e"}"#, 2), Some("e"));
        assert_eq!(find(r#"{"level":"a\"b"}"#, 2), Some(r#"a\"b"#));
    }

    #[test]
    fn malformed_stops_but_keeps_earlier_finds() {
        assert_eq!(find(r#"{"level":"info", oops}"#, 2), Some("info"));
        assert_eq!(find(r#"{"a":tru,"level":"info"}"#, 2), None);
        assert_eq!(find(r#"{"a":{"b":1 "c":2},"level":"info"}"#, 2), None);
        assert_eq!(find(r#"{"a":"unterminated}"#, 2), None);
        assert_eq!(find(r#"{"a":[1,2}"#, 2), None);
        assert_eq!(find("", 2), None);
    }
}
