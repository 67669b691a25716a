//! A Go `text/template` engine with the functions Loki's `line_format` and
//! `label_format` offer.
//!
//! CONTRACT (used by LogQL's pipeline; keep these signatures stable):
//! `Template::parse(src, name)` validates at query-compile time (a syntax error is
//! a 400 for the whole query); `render(&ctx)` runs per entry and an error
//! there becomes `__error__="TemplateFormatErr"` on the entry.
//!
//! Semantics follow Loki: the data is the entry's labels as a
//! `map[string]string` with `missingkey=zero` (a missing label renders as
//! the empty string), `__line__` and `__timestamp__` are functions, and
//! the function set is Loki's plus its Sprig subset, with Go's argument
//! type checks (labels are strings: `printf "%d" .pid` prints
//! `%!d(string=7)`, while Sprig's numeric functions cast strings).

mod ast;
mod cast;
mod exec;
mod fmt;
mod funcs;
mod lex;
mod parse;
mod strfuncs;
#[cfg(test)]
mod tests;
mod value;

pub(crate) use crate::strconv::quote as go_quote;

use crate::Error;

/// What a template can see while rendering one entry.
pub trait TemplateContext {
    /// `.name`: a label value (stream, structured metadata or parsed).
    fn label(&self, name: &str) -> Option<&str>;
    /// `__line__`: the current line.
    fn line(&self) -> &str;
    /// `__timestamp__`: the entry time in Unix nanoseconds.
    fn timestamp_ns(&self) -> i64;
    /// Calls `f` with every label. Only templates that use the data as a
    /// whole (`{{ . }}`, `range $k, $v := .`, `len .`) need it; without an
    /// override those see an empty map.
    fn for_each_label(&self, _f: &mut dyn FnMut(&str, &str)) {}
}

/// One field of a structured template data (`Template::render_fields`).
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Str(&'a str),
    Float(f64),
    /// A `map[string]string`.
    Map(&'a [(String, String)]),
}

/// The context of a template rendered outside any line.
struct NoLine;

impl TemplateContext for NoLine {
    fn label(&self, _: &str) -> Option<&str> {
        None
    }
    fn line(&self) -> &str {
        ""
    }
    fn timestamp_ns(&self) -> i64 {
        0
    }
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    /// Go's template name, which appears in error messages.
    name: &'static str,
    nodes: Vec<ast::Node>,
}

impl Template {
    /// Parses a template that Go's errors call `name` (Loki names
    /// `line_format`'s template `line` and `label_format`'s `label`).
    pub fn parse(src: &str, name: &'static str) -> Result<Template, Error> {
        let nodes = parse::parse(src, name).map_err(Error::Template)?;
        Ok(Template {
            src: src.to_string(),
            name,
            nodes,
        })
    }

    /// The template source.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Renders into `out` (cleared first). On error `out` holds partial
    /// output and the message is Go's (`template: line:1:3: executing
    /// "line" at <div .a 0>: error calling div: ...`).
    pub fn render(&self, ctx: &dyn TemplateContext, out: &mut String) -> Result<(), String> {
        out.clear();
        exec::execute(&self.nodes, ctx, out).map_err(|e| self.describe(&e))
    }

    fn describe(&self, e: &exec::ExecErr) -> String {
        if e.context.is_empty() {
            return format!("template: {}: {}", self.name, e.msg);
        }
        let before = &self.src[..e.pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = before
            .rfind('\n')
            .map_or(before.len(), |i| before.len() - i - 1);
        format!(
            "template: {}:{line}:{col}: executing \"{}\" at <{}>: {}",
            self.name, self.name, e.context, e.msg
        )
    }

    /// Renders with a structure as the data (`.Labels`, `.Value`, ...):
    /// Prometheus' alert templates, where the dot is not a line's labels.
    /// No line or timestamp is in scope.
    pub fn render_fields(
        &self,
        fields: &[(&str, Field<'_>)],
        out: &mut String,
    ) -> Result<(), String> {
        let map: std::collections::BTreeMap<String, value::Value<'static>> = fields
            .iter()
            .map(|(k, f)| {
                let v = match f {
                    Field::Str(s) => value::Value::string(s.to_string()),
                    Field::Float(x) => value::Value::Float(*x),
                    Field::Map(pairs) => {
                        let mut p: Vec<(String, String)> = pairs.to_vec();
                        p.sort();
                        p.dedup_by(|a, b| a.0 == b.0);
                        value::Value::StrMap(std::rc::Rc::new(p))
                    }
                };
                (k.to_string(), v)
            })
            .collect();
        let dot = value::Value::Map(std::rc::Rc::new(map));
        out.clear();
        exec::execute_on(&self.nodes, &NoLine, &dot, out).map_err(|e| self.describe(&e))
    }

    /// Names of the labels the template reads as `.name` (the first name
    /// of each field chain), sorted and unique.
    pub fn required_labels(&self) -> Vec<&str> {
        let mut names = Vec::new();
        collect_fields(&self.nodes, &mut names);
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn collect_fields<'t>(nodes: &'t [ast::Node], names: &mut Vec<&'t str>) {
    for n in nodes {
        match n {
            ast::Node::Action(p) => collect_pipe(p, names),
            ast::Node::If(b) | ast::Node::With(b) | ast::Node::Range(b) => {
                collect_pipe(&b.pipe, names);
                collect_fields(&b.list, names);
                collect_fields(&b.else_list, names);
            }
            _ => {}
        }
    }
}

fn collect_pipe<'t>(p: &'t ast::Pipe, names: &mut Vec<&'t str>) {
    for c in &p.cmds {
        for a in &c.args {
            collect_arg(a, names);
        }
    }
}

fn collect_arg<'t>(a: &'t ast::ArgNode, names: &mut Vec<&'t str>) {
    match &a.arg {
        ast::Arg::Field(f) => names.extend(f.first().map(String::as_str)),
        ast::Arg::Pipe(p) => collect_pipe(p, names),
        ast::Arg::Chain { node, .. } => collect_arg(node, names),
        _ => {}
    }
}
