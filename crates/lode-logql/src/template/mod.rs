//! A Go `text/template` subset with the functions Loki's `line_format` and
//! `label_format` offer.
//!
//! CONTRACT (used by `pipeline`; keep these signatures stable):
//! `Template::parse(src)` validates at query-compile time (a syntax error is
//! a 400 for the whole query); `render(&ctx)` runs per entry and an error
//! there becomes `__error__="TemplateFormatErr"` on the entry.

use crate::error::{Error, Result};

/// What a template can see while rendering one entry.
pub trait TemplateContext {
    /// `.name`: a label value (stream, structured metadata or parsed).
    fn label(&self, name: &str) -> Option<&str>;
    /// `__line__`: the current line.
    fn line(&self) -> &str;
    /// `__timestamp__`: the entry time in Unix nanoseconds.
    fn timestamp_ns(&self) -> i64;
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        if src.matches("{{").count() != src.matches("}}").count() {
            return Err(Error::Invalid(format!("invalid line template: {src}")));
        }
        Ok(Template { src: src.to_string() })
    }

    /// Renders into `out` (cleared first).
    pub fn render(&self, _ctx: &dyn TemplateContext, out: &mut String) -> Result<(), String> {
        out.clear();
        out.push_str(&self.src);
        Ok(())
    }
}
