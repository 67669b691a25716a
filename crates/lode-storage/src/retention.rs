//! Retention: how long each stream's entries are kept. A tenant has a
//! default `retention_period` and `retention_stream` rules (selector,
//! priority, period); the matching rule with the highest priority decides a
//! stream's period (on equal priority the longer period wins), otherwise the
//! tenant default applies. A period of 0 keeps data forever.
//!
//! Entries older than `now - period` are hidden from every query at once
//! (see `visibility.rs`) and removed from disk by the compactor.

use crate::error::{Result, StorageError};
use crate::index::{compile_all, CompiledMatcher};
use crate::stored_labels::LabelLookup;
use lode_logql::ast::Expr;
#[cfg(test)]
use lode_logql::LabelSet;

/// One `retention_stream` rule.
#[derive(Debug, Clone)]
pub struct RetentionRule {
    pub selector: String,
    pub priority: i32,
    /// Nanoseconds.
    pub period: i64,
    matchers: Vec<CompiledMatcher>,
}

impl RetentionRule {
    pub fn new(selector: &str, priority: i32, period: i64) -> Result<RetentionRule> {
        let matchers = match lode_logql::parse(selector)? {
            Expr::Log(l) if l.pipeline.is_empty() => compile_all(&l.selector)?,
            _ => {
                return Err(StorageError::Invalid(format!(
                    "retention_stream selector must be a stream selector: {selector}"
                )))
            }
        };
        Ok(RetentionRule {
            selector: selector.to_string(),
            priority,
            period,
            matchers,
        })
    }

    pub fn matches<L: LabelLookup + ?Sized>(&self, labels: &L) -> bool {
        self.matchers.iter().all(|m| m.matches_labels(labels))
    }
}

/// A tenant's retention settings.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Nanoseconds; 0 keeps forever.
    pub period: i64,
    pub rules: Vec<RetentionRule>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            period: 720 * 3600 * 1_000_000_000,
            rules: Vec::new(),
        }
    }
}

impl Retention {
    /// Keeps everything forever.
    pub fn forever() -> Retention {
        Retention {
            period: 0,
            rules: Vec::new(),
        }
    }

    /// The retention period (ns, 0 = forever) of a stream.
    pub fn period_for<L: LabelLookup + ?Sized>(&self, labels: &L) -> i64 {
        let mut best: Option<&RetentionRule> = None;
        for r in &self.rules {
            if !r.matches(labels) {
                continue;
            }
            best = match best {
                Some(b) if (b.priority, b.period) >= (r.priority, r.period) => Some(b),
                _ => Some(r),
            };
        }
        best.map_or(self.period, |r| r.period)
    }

    /// The oldest timestamp still visible for a stream at `now`:
    /// entries with `ts < cutoff` are expired.
    pub fn cutoff<L: LabelLookup + ?Sized>(&self, labels: &L, now: i64) -> i64 {
        match self.period_for(labels) {
            0 => i64::MIN,
            p => now.saturating_sub(p),
        }
    }

    /// Whether nothing ever expires (no work for the compactor).
    pub fn keeps_everything(&self) -> bool {
        self.period == 0 && self.rules.iter().all(|r| r.period == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600 * 1_000_000_000;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn highest_priority_rule_wins_then_longest_period() {
        let r = Retention {
            period: 720 * H,
            rules: vec![
                RetentionRule::new(r#"{app="a"}"#, 1, 24 * H).unwrap(),
                RetentionRule::new(r#"{app=~"a|b"}"#, 2, 48 * H).unwrap(),
                RetentionRule::new(r#"{env="dev"}"#, 2, 96 * H).unwrap(),
            ],
        };
        assert_eq!(r.period_for(&ls(&[("app", "a")])), 48 * H);
        assert_eq!(r.period_for(&ls(&[("app", "a"), ("env", "dev")])), 96 * H);
        assert_eq!(r.period_for(&ls(&[("app", "c")])), 720 * H);
        assert_eq!(r.cutoff(&ls(&[("app", "b")]), 100 * H), 52 * H);
        assert_eq!(
            Retention::forever().cutoff(&ls(&[("app", "b")]), 100 * H),
            i64::MIN
        );
    }

    #[test]
    fn rule_selectors_must_be_plain_selectors() {
        assert!(RetentionRule::new(r#"{app="a"} |= "x""#, 1, H).is_err());
        assert!(RetentionRule::new("not a selector", 1, H).is_err());
    }
}
