//! `drop` and `keep`.

use super::builder::{LabelBuf, ERROR_DETAILS_LABEL, ERROR_LABEL};
use super::label_filter::StrMatcher;
use crate::ast::LabelSelectorItem;
use crate::error::Result;

#[derive(Debug, Clone)]
pub(crate) struct Selector {
    name: String,
    /// `None` selects the label whatever its value.
    m: Option<StrMatcher>,
}

impl Selector {
    fn selects(&self, name: &str, value: &str) -> bool {
        self.name == name && self.m.as_ref().is_none_or(|m| m.matches(value))
    }
}

pub(crate) fn compile(items: &[LabelSelectorItem]) -> Result<Vec<Selector>> {
    items
        .iter()
        .map(|it| {
            Ok(match it {
                LabelSelectorItem::Name(n) => Selector {
                    name: n.clone(),
                    m: None,
                },
                LabelSelectorItem::Matcher(m) => Selector {
                    name: m.name.clone(),
                    m: Some(StrMatcher::new(m)?),
                },
            })
        })
        .collect()
}

/// Removes every label some selector selects (error labels included).
pub(crate) fn drop(sel: &[Selector], labels: &mut LabelBuf) {
    labels.retain(|n, v| !sel.iter().any(|s| s.selects(n, v)));
}

/// Keeps only the selected labels. The error labels always stay, so a
/// metric query can still report a pipeline error.
pub(crate) fn keep(sel: &[Selector], labels: &mut LabelBuf) {
    labels.retain(|n, v| {
        n == ERROR_LABEL || n == ERROR_DETAILS_LABEL || sel.iter().any(|s| s.selects(n, v))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{MatchOp, Matcher};
    use crate::labels::LabelSet;

    fn buf() -> LabelBuf {
        let mut b = LabelBuf::default();
        b.reset(
            &LabelSet::from_pairs([("app", "a"), ("level", "info"), ("pid", "7")]),
            &[],
        );
        b.set_err("JSONParserErr", "d");
        b
    }

    fn items() -> Vec<LabelSelectorItem> {
        vec![
            LabelSelectorItem::Name("app".into()),
            LabelSelectorItem::Matcher(Matcher {
                name: "level".into(),
                op: MatchOp::Eq,
                value: "error".into(),
            }),
        ]
    }

    #[test]
    fn keep_names_and_matchers() {
        let mut b = buf();
        keep(&compile(&items()).unwrap(), &mut b);
        let l = b.to_label_set();
        assert_eq!(l.get("app"), Some("a"));
        assert_eq!(l.get("level"), None);
        assert_eq!(l.get("pid"), None);
        assert_eq!(l.get("__error__"), Some("JSONParserErr"));
    }

    #[test]
    fn drop_names_and_matchers() {
        let mut b = buf();
        let mut it = items();
        it.push(LabelSelectorItem::Name("__error__".into()));
        drop(&compile(&it).unwrap(), &mut b);
        let l = b.to_label_set();
        assert_eq!(l.get("app"), None);
        assert_eq!(l.get("level"), Some("info"));
        assert_eq!(l.get("__error__"), None);
    }
}
