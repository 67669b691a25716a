//! `label_replace(v, dst, replacement, src, regex)`: with a fully anchored
//! regex matching the value of `src` (empty when absent), sets `dst` to the
//! replacement expanded with Go's `$1` / `${name}` template rules; an empty
//! expansion removes `dst`. Non-matching series pass unchanged.

use regex::Regex;

use crate::error::{Error, Result};
use crate::labels::LabelSet;

use super::node::{BoxNode, Elem, IdCache, Interner, Node, Shape};

pub(crate) struct LabelReplaceNode {
    child: BoxNode,
    dst: String,
    replacement: String,
    src: String,
    regex: Regex,
    outputs: Interner,
    out_of: IdCache,
    out: Vec<Elem>,
}

impl LabelReplaceNode {
    pub fn new(
        child: BoxNode,
        dst: &str,
        replacement: &str,
        src: &str,
        regex: &str,
    ) -> Result<Self> {
        if child.shape() != Shape::Vector {
            return Err(Error::Invalid(
                "label_replace expects an instant vector".into(),
            ));
        }
        let regex = lode_go::regex::compile_anchored(regex)
            .map_err(|e| Error::Invalid(format!("invalid regex in label_replace: {e}")))?;
        Ok(LabelReplaceNode {
            child,
            dst: dst.to_string(),
            replacement: replacement.to_string(),
            src: src.to_string(),
            regex,
            outputs: Interner::default(),
            out_of: IdCache::default(),
            out: Vec::new(),
        })
    }
}

/// The relabelled set, or a copy of the input when the regex does not match.
pub(crate) fn replace(
    labels: &LabelSet,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &Regex,
) -> LabelSet {
    let value = labels.get(src).unwrap_or("");
    let mut out = labels.clone();
    let Some(caps) = regex.captures(value) else {
        return out;
    };
    let mut expanded = String::new();
    expand_go_template(replacement, &caps, regex, &mut expanded);
    if expanded.is_empty() {
        out.remove(dst);
    } else {
        out.insert(dst.to_string(), expanded);
    }
    out
}

/// Go's `Regexp.Expand`: `$$` is a literal `$`; `$name` takes the longest
/// run of letters, digits and `_`; `${name}` is braced; a name that is all
/// digits (no leading zero) is a group number; unknown groups expand to
/// nothing; a malformed reference leaves the `$` as text.
pub(crate) fn expand_go_template(
    template: &str,
    caps: &regex::Captures<'_>,
    regex: &Regex,
    out: &mut String,
) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let Some((name, after)) = reference(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(n) => caps.get(n),
            None => regex
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
}

/// Splits a `name` or `{name}` reference off the start of `s`.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let after = &body[len..];
    if braced {
        let after = after.strip_prefix('}')?;
        Some((name, after))
    } else {
        Some((name, after))
    }
}

fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.parse::<usize>().ok().filter(|&n| n < 100_000_000)
}

impl Node for LabelReplaceNode {
    fn shape(&self) -> Shape {
        Shape::Vector
    }

    fn advance(&mut self, ts: i64) -> Result<()> {
        self.child.advance(ts)?;
        let LabelReplaceNode {
            child,
            dst,
            replacement,
            src,
            regex,
            outputs,
            out_of,
            out,
        } = self;
        out.clear();
        for e in child.vector() {
            let id = out_of.get_or(e.id, || {
                outputs.intern(replace(child.labels(e.id), dst, replacement, src, regex))
            });
            out.push(Elem { id, value: e.value });
        }
        Ok(())
    }

    fn vector(&self) -> &[Elem] {
        &self.out
    }

    fn labels(&self, id: u32) -> &LabelSet {
        self.outputs.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(r: &str) -> Regex {
        Regex::new(&format!("^(?:{r})$")).unwrap()
    }

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn replaces_with_numbered_group() {
        let l = ls(&[("app", "coredns")]);
        let got = replace(&l, "svc", "$1-svc", "app", &re("(.*)"));
        assert_eq!(got, ls(&[("app", "coredns"), ("svc", "coredns-svc")]));
    }

    #[test]
    fn regex_is_anchored() {
        let l = ls(&[("pod", "coredns-6799fbcd5-a1b2c")]);
        assert_eq!(replace(&l, "x", "$1", "pod", &re("6799")), l);
        let got = replace(&l, "replica", "$1", "pod", &re("coredns-[a-z0-9]+-(.*)"));
        assert_eq!(got.get("replica"), Some("a1b2c"));
    }

    #[test]
    fn empty_expansion_removes_destination() {
        let l = ls(&[("a", "x"), ("b", "y")]);
        let got = replace(&l, "b", "$1", "a", &re("x()"));
        assert_eq!(got, ls(&[("a", "x")]));
    }

    #[test]
    fn missing_source_matches_empty_string() {
        let l = ls(&[("a", "x")]);
        let got = replace(&l, "d", "none", "missing", &re(""));
        assert_eq!(got.get("d"), Some("none"));
    }

    #[test]
    fn go_template_rules() {
        let r = re("(?P<first>[a-z]+)-(?P<second>[0-9]+)");
        let caps = r.captures("abc-123").unwrap();
        let exp = |t: &str| {
            let mut s = String::new();
            expand_go_template(t, &caps, &r, &mut s);
            s
        };
        assert_eq!(exp("$1/$2"), "abc/123");
        assert_eq!(exp("${first}_x"), "abc_x");
        // `$1x` names group "1x", which does not exist.
        assert_eq!(exp("$1x"), "");
        assert_eq!(exp("${1}x"), "abcx");
        assert_eq!(exp("$second"), "123");
        assert_eq!(exp("$$1"), "$1");
        assert_eq!(exp("a$"), "a$");
        assert_eq!(exp("$-"), "$-");
        assert_eq!(exp("${first"), "${first");
        assert_eq!(exp("$01"), "");
        assert_eq!(exp("$9"), "");
    }
}
