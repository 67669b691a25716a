//! A small, deterministic log-pattern miner in the spirit of Drain. A line
//! is split into words and the punctuation between them (spaces, quotes,
//! `=`, `:`, `,`, brackets); words carrying digits are masked as `<_>`; a
//! line joins the most similar cluster with the same punctuation skeleton,
//! and words where cluster members differ become `<_>`. Punctuation is never
//! masked, so two wildcards are never adjacent and every pattern is a valid
//! `|>` pattern filter that matches each line of its cluster.

use std::collections::{BTreeMap, HashMap};

/// Wildcard token, as in Loki's pattern syntax.
pub const WILDCARD: &str = "<_>";

/// Share of words that must agree for a line to join a cluster.
const SIMILARITY: f64 = 0.5;

/// Words considered per line; the rest of a longer line becomes one `<_>`,
/// so one huge line cannot make clustering expensive.
const MAX_WORDS: usize = 64;

/// Cluster cap per miner: lines of further shapes are not mined.
const MAX_CLUSTERS: usize = 1000;

fn is_delim(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '"'
            | '\''
            | '='
            | ':'
            | ','
            | ';'
            | '{'
            | '}'
            | '['
            | ']'
            | '('
            | ')'
            | '<'
            | '>'
    )
}

fn mask(word: &str) -> String {
    if word.bytes().any(|b| b.is_ascii_digit()) || word.len() > 40 {
        WILDCARD.to_string()
    } else {
        word.to_string()
    }
}

/// A line as `(skeleton, words)`: the skeleton holds the punctuation runs
/// with a `\0` where each word stands.
pub fn tokens(line: &str) -> (String, Vec<String>) {
    let line = line.trim_end_matches(['\n', '\r']);
    let mut skeleton = String::new();
    let mut words = Vec::new();
    let mut word_start: Option<usize> = None;
    for (i, c) in line.char_indices() {
        if is_delim(c) {
            if let Some(ws) = word_start.take() {
                words.push(mask(&line[ws..i]));
            }
            skeleton.push(c);
        } else if word_start.is_none() {
            if words.len() == MAX_WORDS {
                skeleton.push('\0');
                words.push(WILDCARD.to_string());
                return (skeleton, words);
            }
            word_start = Some(i);
            skeleton.push('\0');
        }
    }
    if let Some(ws) = word_start {
        words.push(mask(&line[ws..]));
    }
    (skeleton, words)
}

fn render(skeleton: &str, words: &[String]) -> String {
    let mut out = String::with_capacity(skeleton.len() + words.len() * 4);
    let mut w = words.iter();
    for c in skeleton.chars() {
        if c == '\0' {
            out.push_str(w.next().map_or("", String::as_str));
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug)]
struct Cluster {
    skeleton: String,
    tokens: Vec<String>,
    level: String,
    /// Bucket start (ns) → count.
    samples: BTreeMap<i64, u64>,
}

/// One mined pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct MinedPattern {
    pub pattern: String,
    pub level: String,
    /// `(bucket start in ns, count)`, oldest first.
    pub samples: Vec<(i64, u64)>,
}

/// Accumulates lines into patterns with per-step counts.
pub struct Miner {
    step: i64,
    clusters: Vec<Cluster>,
    /// (level, skeleton) → cluster indices.
    by_shape: HashMap<(String, String), Vec<usize>>,
}

impl Miner {
    /// `step` in nanoseconds (> 0): the sample bucket width.
    pub fn new(step: i64) -> Miner {
        Miner {
            step: step.max(1),
            clusters: Vec::new(),
            by_shape: HashMap::new(),
        }
    }

    pub fn add(&mut self, ts: i64, line: &str, level: &str) {
        let (skeleton, toks) = tokens(line);
        let bucket = ts - ts.rem_euclid(self.step);
        let key = (level.to_string(), skeleton.clone());
        let candidates = self.by_shape.entry(key).or_default();
        let mut best: Option<(usize, f64)> = None;
        for &ci in candidates.iter() {
            let c = &self.clusters[ci];
            let same = c
                .tokens
                .iter()
                .zip(&toks)
                .filter(|(a, b)| a == b || a.as_str() == WILDCARD)
                .count();
            let sim = if toks.is_empty() {
                1.0
            } else {
                same as f64 / toks.len() as f64
            };
            if sim >= SIMILARITY && best.is_none_or(|(_, s)| sim > s) {
                best = Some((ci, sim));
            }
        }
        let ci = match best {
            Some((ci, _)) => {
                let c = &mut self.clusters[ci];
                for (a, b) in c.tokens.iter_mut().zip(&toks) {
                    if a != b {
                        *a = WILDCARD.to_string();
                    }
                }
                ci
            }
            None if self.clusters.len() < MAX_CLUSTERS => {
                self.clusters.push(Cluster {
                    skeleton,
                    tokens: toks,
                    level: level.to_string(),
                    samples: BTreeMap::new(),
                });
                candidates.push(self.clusters.len() - 1);
                self.clusters.len() - 1
            }
            None => return,
        };
        *self.clusters[ci].samples.entry(bucket).or_default() += 1;
    }

    /// Patterns by descending total count, then pattern text. Clusters that
    /// ended with identical text (they diverged into the same shape) merge.
    pub fn finish(self) -> Vec<MinedPattern> {
        let mut merged: BTreeMap<(String, String), BTreeMap<i64, u64>> = BTreeMap::new();
        for c in self.clusters {
            let e = merged
                .entry((render(&c.skeleton, &c.tokens), c.level))
                .or_default();
            for (t, n) in c.samples {
                *e.entry(t).or_default() += n;
            }
        }
        let mut out: Vec<MinedPattern> = merged
            .into_iter()
            .map(|((pattern, level), s)| MinedPattern {
                pattern,
                level,
                samples: s.into_iter().collect(),
            })
            .collect();
        out.sort_by(|a, b| {
            let ta: u64 = a.samples.iter().map(|s| s.1).sum();
            let tb: u64 = b.samples.iter().map(|s| s.1).sum();
            tb.cmp(&ta).then_with(|| a.pattern.cmp(&b.pattern))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loki's `|>` semantics reduced to what the miner emits: `<_>` matches
    /// up to the next literal (or the end), literals must match in order.
    fn pattern_matches(pattern: &str, line: &str) -> bool {
        let parts: Vec<&str> = pattern.split(WILDCARD).collect();
        let mut rest = line;
        for (i, lit) in parts.iter().enumerate() {
            if i == 0 {
                match rest.strip_prefix(lit) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if lit.is_empty() {
                if i == parts.len() - 1 {
                    return true;
                }
            } else {
                match rest.find(lit) {
                    Some(p) => rest = &rest[p + lit.len()..],
                    None => return false,
                }
            }
        }
        rest.is_empty() || pattern.ends_with(WILDCARD)
    }

    #[test]
    fn groups_variable_tokens_and_counts_per_step() {
        let mut m = Miner::new(10_000_000_000);
        let lines = [
            (
                1_000_000_000,
                "level=info msg=request path=/api/users duration=12ms",
            ),
            (
                2_000_000_000,
                "level=info msg=request path=/api/orders duration=7ms",
            ),
            (
                15_000_000_000,
                "level=info msg=request path=/api/users duration=30ms",
            ),
            (16_000_000_000, "connection from 10.0.0.1 closed"),
        ];
        for (ts, l) in lines {
            m.add(ts, l, "info");
        }
        let got = m.finish();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].pattern,
            "level=info msg=request path=<_> duration=<_>"
        );
        assert_eq!(got[0].samples, vec![(0, 2), (10_000_000_000, 1)]);
        assert_eq!(got[1].pattern, "connection from <_> closed");
        for (_, l) in lines {
            assert!(got.iter().any(|p| pattern_matches(&p.pattern, l)), "{l}");
        }
    }

    #[test]
    fn deterministic_and_level_separated() {
        let run = || {
            let mut m = Miner::new(1);
            for i in 0..50 {
                m.add(
                    i,
                    &format!("user {i} logged in from host{}", i % 3),
                    if i % 2 == 0 { "info" } else { "warn" },
                );
            }
            m.finish()
        };
        let a = run();
        assert_eq!(a, run());
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|p| p.pattern == "user <_> logged in from <_>"));
    }

    #[test]
    fn json_lines_keep_their_keys() {
        let mut m = Miner::new(1);
        let lines = [
            r#"{"level":"error","user":{"id":7},"msg":"boom"}"#,
            r#"{"level":"error","user":{"id":12},"msg":"boom"}"#,
        ];
        for l in lines {
            m.add(0, l, "error");
        }
        let p = m.finish();
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].pattern,
            r#"{"level":"error","user":{"id":<_>},"msg":"boom"}"#
        );
        assert!(lines.iter().all(|l| pattern_matches(&p[0].pattern, l)));
        assert!(!p[0].pattern.contains("<_><_>"));
    }

    #[test]
    fn long_lines_are_capped() {
        let line: String = (0..200).map(|i| format!("w{} ", i % 7)).collect();
        let (_, words) = tokens(&line);
        assert_eq!(words.len(), MAX_WORDS + 1);
        let mut m = Miner::new(1);
        m.add(0, &line, "info");
        assert!(pattern_matches(&m.finish()[0].pattern, &line));
    }

    #[test]
    fn keeps_double_spaces_so_patterns_match() {
        let mut m = Miner::new(1);
        m.add(0, "a  b 1", "unknown");
        let p = m.finish();
        assert_eq!(p[0].pattern, "a  b <_>");
        assert!(pattern_matches(&p[0].pattern, "a  b 1"));
    }
}
