//! Pattern expressions (`<ip> - - [<_>] "<method> ..."`): the `pattern`
//! parser and the `|>` / `!>` line filters.
//!
//! Matching walks the line left to right: a leading literal must start the
//! line, each capture runs up to the first occurrence of the literal that
//! follows it, and a trailing capture takes the rest of the line.

use memchr::memmem::Finder;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Node {
    Literal(Box<Finder<'static>>),
    /// `None` for `<_>`.
    Capture(Option<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    nodes: Vec<Node>,
}

fn is_name_char(c: u8, first: bool) -> bool {
    c == b'_' || c.is_ascii_alphabetic() || (!first && c.is_ascii_digit())
}

impl Pattern {
    /// `for_parser` demands at least one named capture.
    pub(crate) fn new(src: &str, for_parser: bool) -> Result<Self> {
        let b = src.as_bytes();
        let mut nodes: Vec<Node> = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'<' {
                let mut j = i + 1;
                while j < b.len() && is_name_char(b[j], j == i + 1) {
                    j += 1;
                }
                if j > i + 1 && j < b.len() && b[j] == b'>' {
                    let name = &src[i + 1..j];
                    if !lit.is_empty() {
                        nodes.push(Node::Literal(Box::new(
                            Finder::new(lit.as_bytes()).into_owned(),
                        )));
                        lit.clear();
                    }
                    if matches!(nodes.last(), Some(Node::Capture(_))) {
                        return Err(Error::Invalid(format!(
                            "invalid pattern: consecutive captures are not allowed: {src}"
                        )));
                    }
                    let cap = (name != "_").then(|| name.to_string());
                    if let Some(n) = &cap {
                        let dup = nodes
                            .iter()
                            .any(|x| matches!(x, Node::Capture(Some(m)) if m == n));
                        if dup {
                            return Err(Error::Invalid(format!(
                                "invalid pattern: duplicate capture {n}: {src}"
                            )));
                        }
                    }
                    nodes.push(Node::Capture(cap));
                    i = j + 1;
                    continue;
                }
            }
            let ch_len = src[i..].chars().next().map_or(1, char::len_utf8);
            lit.push_str(&src[i..i + ch_len]);
            i += ch_len;
        }
        if !lit.is_empty() {
            nodes.push(Node::Literal(Box::new(
                Finder::new(lit.as_bytes()).into_owned(),
            )));
        }
        let captures = nodes
            .iter()
            .filter(|n| matches!(n, Node::Capture(_)))
            .count();
        let named = nodes
            .iter()
            .filter(|n| matches!(n, Node::Capture(Some(_))))
            .count();
        if captures == 0 || (for_parser && named == 0) {
            return Err(Error::Invalid(format!(
                "invalid pattern: at least one capture is required: {src}"
            )));
        }
        Ok(Pattern { nodes })
    }

    /// Calls `emit(name, value)` for each named capture that matched.
    /// Returns true when the whole pattern matched.
    pub(crate) fn run<'l>(&self, line: &'l str, mut emit: impl FnMut(&str, &'l str)) -> bool {
        let b = line.as_bytes();
        let mut pos = 0usize;
        let mut pending: Option<&Option<String>> = None;
        for node in &self.nodes {
            match node {
                Node::Capture(c) => pending = Some(c),
                Node::Literal(f) => {
                    let needle_len = f.needle().len();
                    match pending.take() {
                        None => {
                            if !b[pos..].starts_with(f.needle()) {
                                return false;
                            }
                            pos += needle_len;
                        }
                        Some(cap) => match f.find(&b[pos..]) {
                            Some(at) => {
                                if let Some(name) = cap {
                                    emit(name, &line[pos..pos + at]);
                                }
                                pos += at + needle_len;
                            }
                            None => {
                                // The capture takes what is left; the match
                                // is partial.
                                if let Some(name) = cap {
                                    emit(name, &line[pos..]);
                                }
                                return false;
                            }
                        },
                    }
                }
            }
        }
        if let Some(Some(name)) = pending {
            emit(name, &line[pos..]);
        }
        true
    }

    pub(crate) fn matches(&self, line: &str) -> bool {
        self.run(line, |_, _| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, line: &str) -> (bool, Vec<(String, String)>) {
        let p = Pattern::new(p, true).unwrap();
        let mut v = Vec::new();
        let ok = p.run(line, |k, val| v.push((k.to_string(), val.to_string())));
        (ok, v)
    }

    #[test]
    fn access_log() {
        let (ok, v) = caps(
            r#"<ip> - - [<_>] "<method> <path> <_>" <status> <size>"#,
            r#"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/1.1" 200 512"#,
        );
        assert!(ok);
        let names: Vec<_> = v.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            names,
            [
                "ip=10.0.0.1",
                "method=GET",
                "path=/a",
                "status=200",
                "size=512"
            ]
        );
    }

    #[test]
    fn partial_match_keeps_captures() {
        let (ok, v) = caps(
            "<_>: Client <client> <what> its connection.",
            "17: Client c1 has exceeded timeout, disconnecting.",
        );
        assert!(!ok);
        assert_eq!(v[0], ("client".into(), "c1".into()));
        assert_eq!(
            v[1],
            ("what".into(), "has exceeded timeout, disconnecting.".into())
        );
    }

    #[test]
    fn leading_literal_anchors() {
        let p = Pattern::new("GET <_>", false).unwrap();
        assert!(p.matches("GET /x"));
        assert!(!p.matches("xGET /x"));
        assert!(Pattern::new("<a><b>", true).is_err());
        assert!(Pattern::new("<_> x", true).is_err());
        assert!(Pattern::new("plain", false).is_err());
    }
}
