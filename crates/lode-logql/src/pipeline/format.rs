//! `line_format`, `label_format` and `decolorize`.

use std::borrow::Cow;

use regex::Regex;

use super::builder::{Category, LabelBuf};
use crate::ast::LabelFmt;
use crate::error::{Error, Result};
use lode_go::template::{Template, TemplateContext};

pub(crate) const TEMPLATE_ERR: &str = "TemplateFormatErr";

/// What templates see: the entry's current labels, line and time.
pub(crate) struct EntryContext<'a> {
    pub(crate) labels: &'a LabelBuf,
    pub(crate) line: &'a str,
    pub(crate) ts: i64,
}

impl TemplateContext for EntryContext<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name)
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
}

#[derive(Debug, Clone)]
pub(crate) enum CompiledLabelFmt {
    Rename { dst: String, src: String },
    Template { dst: String, tmpl: Template },
}

pub(crate) fn compile_label_fmt(fmts: &[LabelFmt]) -> Result<Vec<CompiledLabelFmt>> {
    let mut out = Vec::with_capacity(fmts.len());
    for f in fmts {
        let dst = match f {
            LabelFmt::Rename { dst, .. } | LabelFmt::Template { dst, .. } => dst,
        };
        if out.iter().any(|c: &CompiledLabelFmt| match c {
            CompiledLabelFmt::Rename { dst: d, .. } | CompiledLabelFmt::Template { dst: d, .. } => {
                d == dst
            }
        }) {
            return Err(Error::Invalid(format!(
                "multiple label name '{dst}' not allowed in a single format operation"
            )));
        }
        out.push(match f {
            LabelFmt::Rename { dst, src } => CompiledLabelFmt::Rename {
                dst: dst.clone(),
                src: src.clone(),
            },
            LabelFmt::Template { dst, template } => CompiledLabelFmt::Template {
                dst: dst.clone(),
                tmpl: super::line_template(template)?,
            },
        });
    }
    Ok(out)
}

/// Applies a `label_format` stage. `tmp` and `val` are reusable buffers.
pub(crate) fn apply_label_fmt(
    fmts: &[CompiledLabelFmt],
    labels: &mut LabelBuf,
    line: &str,
    ts: i64,
    tmp: &mut String,
) {
    for f in fmts {
        match f {
            CompiledLabelFmt::Rename { dst, src } => {
                if let Some(v) = labels.get(src) {
                    tmp.clear();
                    tmp.push_str(v);
                    labels.set(dst, tmp, Category::Parsed);
                    if dst != src {
                        labels.remove(src);
                    }
                }
            }
            CompiledLabelFmt::Template { dst, tmpl } => {
                let ctx = EntryContext { labels, line, ts };
                match tmpl.render(&ctx, tmp) {
                    Ok(()) => labels.set(dst, tmp, Category::Parsed),
                    Err(details) => labels.set_err(TEMPLATE_ERR, &details),
                }
            }
        }
    }
}

/// Strips ANSI escape sequences.
#[derive(Debug, Clone)]
pub(crate) struct Decolorize(Regex);

impl Decolorize {
    #[allow(clippy::expect_used)] // a constant pattern, checked by the tests
    pub(crate) fn new() -> Self {
        // ESC or CSI, optional intermediates, numeric parameters, final byte.
        Decolorize(
            Regex::new(
                r"[\x1b\x{9b}][\[()#;?]*(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-ORZcf-nqry=><]",
            )
            .expect("static regex"),
        )
    }

    pub(crate) fn apply<'l>(&self, line: &'l str) -> Cow<'l, str> {
        if !line.contains(['\x1b', '\u{9b}']) {
            return Cow::Borrowed(line);
        }
        self.0.replace_all(line, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelSet;

    #[test]
    fn decolorize() {
        let d = Decolorize::new();
        assert_eq!(d.apply("\x1b[0;35m[D][api:12]\x1b[0m"), "[D][api:12]");
        assert_eq!(d.apply("\x1b[31mERROR\x1b[0m ok"), "ERROR ok");
        assert!(matches!(d.apply("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn rename_moves_value() {
        let fmts = compile_label_fmt(&[LabelFmt::Rename {
            dst: "flow".into(),
            src: "flow_name".into(),
        }])
        .unwrap();
        let mut b = LabelBuf::default();
        b.reset(&LabelSet::from_pairs([("flow_name", "Heating")]), &[]);
        apply_label_fmt(&fmts, &mut b, "", 0, &mut String::new());
        assert_eq!(b.get("flow"), Some("Heating"));
        assert_eq!(b.get("flow_name"), None);
        assert!(compile_label_fmt(&[
            LabelFmt::Rename {
                dst: "a".into(),
                src: "b".into()
            },
            LabelFmt::Rename {
                dst: "a".into(),
                src: "c".into()
            }
        ])
        .is_err());
    }
}
