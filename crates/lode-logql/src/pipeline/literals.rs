//! Required literals of a regex, for block skipping in storage: a set of
//! byte strings such that every match of the regex contains at least one of
//! them. `error|timeout` gives {error, timeout}; `err.*timeout` gives
//! {timeout} (or {err}); `(?i)error` expands its case classes only while the
//! set stays small, else nothing is known.

use regex_syntax::hir::{Class, Hir, HirKind};

/// More alternatives than this and the set is useless for skipping anyway.
const MAX_SET: usize = 16;
/// Characters a class may expand to.
const MAX_CLASS: usize = 4;

/// The required literals of `re` (as compiled by the line filter), or
/// `None` when nothing useful is known.
pub(crate) fn required_literals(re: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::Parser::new().parse(re).ok()?;
    let set = required(&hir)?;
    (!set.is_empty()).then_some(set)
}

/// The exact (finite, small) set of strings `h` matches.
fn exact(h: &Hir) -> Option<Vec<Vec<u8>>> {
    match h.kind() {
        // Assertions match the empty string: dropping them only widens.
        HirKind::Empty | HirKind::Look(_) => Some(vec![Vec::new()]),
        HirKind::Literal(l) => Some(vec![l.0.to_vec()]),
        HirKind::Class(Class::Unicode(c)) => {
            let n: usize = c
                .ranges()
                .iter()
                .map(|r| r.end() as usize - r.start() as usize + 1)
                .sum();
            if n > MAX_CLASS {
                return None;
            }
            let mut out = Vec::with_capacity(n);
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    out.push(ch.to_string().into_bytes());
                }
            }
            Some(out)
        }
        HirKind::Class(Class::Bytes(c)) => {
            let n: usize = c
                .ranges()
                .iter()
                .map(|r| usize::from(r.end() - r.start()) + 1)
                .sum();
            if n > MAX_CLASS {
                return None;
            }
            Some(
                c.ranges()
                    .iter()
                    .flat_map(|r| (r.start()..=r.end()).map(|b| vec![b]))
                    .collect(),
            )
        }
        HirKind::Capture(c) => exact(&c.sub),
        HirKind::Repetition(r) if r.min == 1 && r.max == Some(1) => exact(&r.sub),
        HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) => {
            let mut s = exact(&r.sub)?;
            s.push(Vec::new());
            bounded(s)
        }
        HirKind::Concat(parts) => {
            let mut acc = vec![Vec::new()];
            for p in parts {
                acc = cross(&acc, &exact(p)?)?;
            }
            Some(acc)
        }
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(exact(a)?);
            }
            bounded(out)
        }
        HirKind::Repetition(_) => None,
    }
}

/// A set every match contains one element of (not necessarily exact).
fn required(h: &Hir) -> Option<Vec<Vec<u8>>> {
    if let Some(s) = exact(h) {
        return Some(s);
    }
    match h.kind() {
        HirKind::Capture(c) => required(&c.sub),
        // At least one copy of the sub-expression is in every match.
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(required(a)?);
            }
            bounded(out)
        }
        HirKind::Concat(parts) => {
            // Runs of exactly known parts concatenate; every run, and every
            // other part's required set, is contained in each match: keep
            // the most selective one.
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut run: Option<Vec<Vec<u8>>> = None;
            let consider = |cand: Option<Vec<Vec<u8>>>, best: &mut Option<Vec<Vec<u8>>>| {
                if let Some(c) = cand {
                    if best.as_ref().is_none_or(|b| score(&c) > score(b)) {
                        *best = Some(c);
                    }
                }
            };
            for p in parts {
                match exact(p) {
                    Some(s) => {
                        run = match run.take() {
                            Some(r) => match cross(&r, &s) {
                                Some(x) => Some(x),
                                None => {
                                    consider(Some(r), &mut best);
                                    Some(s)
                                }
                            },
                            None => Some(s),
                        };
                    }
                    None => {
                        consider(run.take(), &mut best);
                        consider(required(p), &mut best);
                    }
                }
            }
            consider(run, &mut best);
            best
        }
        _ => None,
    }
}

/// How well a set narrows: its shortest member decides.
fn score(s: &[Vec<u8>]) -> usize {
    s.iter().map(Vec::len).min().unwrap_or(0)
}

fn cross(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len() * b.len() > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut v = x.clone();
            v.extend_from_slice(y);
            out.push(v);
        }
    }
    bounded(out)
}

fn bounded(mut s: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    s.sort();
    s.dedup();
    (s.len() <= MAX_SET).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req(re: &str) -> Option<Vec<String>> {
        required_literals(re).map(|s| {
            s.into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect()
        })
    }

    #[test]
    fn literal_sets() {
        assert_eq!(req("timeout"), Some(vec!["timeout".into()]));
        assert_eq!(
            req("error|timeout"),
            Some(vec!["error".into(), "timeout".into()])
        );
        assert_eq!(req("a\\.b"), Some(vec!["a.b".into()]));
        assert_eq!(
            req("(GET|PUT) /api"),
            Some(vec!["GET /api".into(), "PUT /api".into()])
        );
        assert_eq!(req("err.*timeout"), Some(vec!["timeout".into()]));
        assert_eq!(req("^level=error\\b"), Some(vec!["level=error".into()]));
        assert_eq!(req("(?:abc)+def"), Some(vec!["abc".into()]));
        assert_eq!(req("x(abcd)+"), Some(vec!["abcd".into()]));
        assert_eq!(
            req("(?i)k"),
            Some(vec!["K".into(), "k".into(), "\u{212a}".into()])
        );
    }

    #[test]
    fn unknown_means_none() {
        for re in [".*", "a*", "[a-z]+", "\\d{3}", "a|.*", "(?:ab)*"] {
            assert_eq!(req(re), None, "{re}");
        }
        // Case-insensitive: only a bounded expansion of a part is kept.
        let s = req("(?i)timeout").unwrap();
        assert!(s.len() <= MAX_SET);
        assert!(s
            .iter()
            .all(|l| l.len() == 4 && "timeout".contains(&l.to_lowercase())));
    }

    proptest! {
        /// Soundness: whenever the regex matches a haystack, one of the
        /// literals is in it.
        #[test]
        fn prop_every_match_contains_a_literal(
            re in "(\\(?(err|or|time|out|[a-c]|\\.|x\\*|\\(\\?i\\)k|\\^|\\$)\\)?[|+?]?){1,6}",
            hay in "[a-cekortimux.K ]{0,30}",
        ) {
            let Ok(r) = regex::Regex::new(&re) else { return Ok(()); };
            if let (Some(set), true) = (required_literals(&re), r.is_match(&hay)) {
                prop_assert!(
                    set.iter().any(|l| hay.as_bytes().windows(l.len().max(1)).any(|w| w == l.as_slice()) || l.is_empty()),
                    "{re} matches {hay:?} but none of {set:?} is in it"
                );
            }
        }
    }
}
