//! Parser from tokens to the tree, with Go's checks and error wording
//! (`template: NAME:LINE: MSG`).

use std::sync::OnceLock;

use super::ast::{Arg, ArgNode, Branch, Command, Node, Number, Pipe};
use super::cast::{go_parse_float, go_parse_int, go_parse_uint};
use super::funcs::Func;
use super::lex::{lex, Item, Kind};

/// Nesting limit for parentheses and control structures; keeps the
/// recursive parser and evaluator far from the stack limit.
const MAX_DEPTH: usize = 100;

enum Control {
    Else,
    End,
}

enum Parsed {
    Node(Node),
    Control(Control),
}

pub(crate) fn parse(src: &str, name: &str) -> Result<Vec<Node>, String> {
    let items = lex(src);
    let mut p = Parser {
        src,
        name,
        items,
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
    };
    p.parse_root()
        .map_err(|msg| format!("template: {name}:{}: {msg}", p.err_line()))
}

struct Parser<'s> {
    src: &'s str,
    name: &'s str,
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
}

type PResult<T> = Result<T, String>;

impl Parser<'_> {
    fn err_line(&self) -> usize {
        let i = self
            .i
            .saturating_sub(1)
            .min(self.items.len().saturating_sub(1));
        self.items.get(i).map(|t| t.line).unwrap_or(1)
    }

    fn peek(&self) -> &Item {
        &self.items[self.i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.peek().clone();
        if self.i < self.items.len() - 1 {
            self.i += 1;
        } else {
            // Stay on the final Eof/Error item.
            self.i = self.items.len();
        }
        it
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn skip_space(&mut self) {
        while self.i < self.items.len() && self.items[self.i].kind == Kind::Space {
            self.i += 1;
        }
    }

    fn peek_non_space(&mut self) -> &Item {
        self.skip_space();
        self.peek()
    }

    fn next_non_space(&mut self) -> Item {
        self.skip_space();
        self.next()
    }

    fn text(&self, it: &Item) -> String {
        it.text(self.src).to_string()
    }

    fn unexpected(&self, it: &Item, context: &str) -> String {
        if it.kind == Kind::Error {
            return it.describe(self.src);
        }
        format!("unexpected {} in {}", it.describe(self.src), context)
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Item> {
        let it = self.next_non_space();
        if it.kind != kind {
            return Err(self.unexpected(&it, context));
        }
        Ok(it)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("max expression depth exceeded".into());
        }
        Ok(())
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        loop {
            match self.peek().kind {
                Kind::Eof => return Ok(root),
                _ => match self.text_or_action()? {
                    Parsed::Node(n) => root.push(n),
                    Parsed::Control(Control::End) => return Err("unexpected {{end}}".into()),
                    Parsed::Control(Control::Else) => return Err("unexpected {{else}}".into()),
                },
            }
        }
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.kind {
            Kind::Text => Ok(Parsed::Node(Node::Text(self.text(&it)))),
            Kind::LeftDelim => self.action(),
            _ => Err(self.unexpected(&it, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        if it.kind == Kind::Keyword {
            let kw = it.text(self.src);
            return match kw {
                "if" => Ok(Parsed::Node(Node::If(Box::new(self.control("if")?)))),
                "with" => Ok(Parsed::Node(Node::With(Box::new(self.control("with")?)))),
                "range" => Ok(Parsed::Node(Node::Range(Box::new(self.control("range")?)))),
                "end" => {
                    self.expect(Kind::RightDelim, "end")?;
                    Ok(Parsed::Control(Control::End))
                }
                "else" => {
                    let peek = self.peek_non_space().clone();
                    if peek.kind == Kind::Keyword && matches!(peek.text(self.src), "if" | "with") {
                        return Ok(Parsed::Control(Control::Else));
                    }
                    self.expect(Kind::RightDelim, "else")?;
                    Ok(Parsed::Control(Control::Else))
                }
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return Err(format!("{{{{{kw}}}}} outside {{{{range}}}}"));
                    }
                    let ctx = format!("{{{{{kw}}}}}");
                    self.expect(Kind::RightDelim, &ctx)?;
                    Ok(Parsed::Node(if kw == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    }))
                }
                _ => Err(format!(
                    "{{{{{kw}}}}} is not supported in line and label templates"
                )),
            };
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Parsed::Node(Node::Action(pipe)))
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Control)> {
        let mut list = Vec::new();
        loop {
            if self.peek_non_space().kind == Kind::Eof {
                return Err("unexpected EOF".into());
            }
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                Parsed::Control(c) => return Ok((list, c)),
            }
        }
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = Vec::new();
        if let Control::Else = next {
            let peek = self.peek().clone();
            let chained =
                peek.kind == Kind::Keyword && peek.text(self.src) == context && context != "range";
            if chained {
                self.next();
                let inner = self.control(context)?;
                else_list.push(if context == "if" {
                    Node::If(Box::new(inner))
                } else {
                    Node::With(Box::new(inner))
                });
            } else {
                let (l, end) = self.item_list()?;
                if let Control::Else = end {
                    return Err("expected end; found {{else}}".into());
                }
                else_list = l;
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        self.enter()?;
        let pos = self.peek_non_space().start;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space().clone();
            if v.kind != Kind::Variable {
                break;
            }
            self.next();
            let after_var = self.i;
            let next = self.peek_non_space().clone();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    let name = self.text(&v);
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    break;
                }
                Kind::OtherChar if next.text(self.src) == "," => {
                    self.next_non_space();
                    let name = self.text(&v);
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RParen => continue,
                            _ => return Err("range can only initialize variables".into()),
                        }
                    }
                    return Err(format!("too many declarations in {context}"));
                }
                _ => {
                    // The variable is an operand; rewind to it.
                    self.i = after_var - 1;
                    break;
                }
            }
        }
        loop {
            let it = self.next_non_space();
            if it.kind == end {
                self.check_pipeline(&pipe, context)?;
                self.depth -= 1;
                return Ok(pipe);
            }
            match it.kind {
                Kind::Bool
                | Kind::Char
                | Kind::Dot
                | Kind::Field
                | Kind::Ident
                | Kind::Number
                | Kind::Nil
                | Kind::RawStr
                | Kind::Str
                | Kind::Variable
                | Kind::LParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&it, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if c.args.first().is_some_and(|a| a.arg.is_literal()) {
                return Err(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().start;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let it = self.next();
            match it.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&it, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err("empty command".into());
        }
        Ok(Command {
            pos,
            args,
            regex: OnceLock::new(),
        })
    }

    fn operand(&mut self) -> PResult<Option<ArgNode>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next();
            fields.push(self.text(&f)[1..].to_string());
        }
        let pos = node.pos;
        let arg = match node.arg {
            Arg::Field(mut names) => {
                names.extend(fields);
                Arg::Field(names)
            }
            Arg::Var {
                name,
                fields: mut fs,
            } => {
                fs.extend(fields);
                Arg::Var { name, fields: fs }
            }
            Arg::Bool(_) | Arg::Str { .. } | Arg::Number(_) | Arg::Nil | Arg::Dot => {
                return Err(format!(
                    "unexpected . after term {}",
                    super::go_quote(&node.to_string())
                ));
            }
            other => Arg::Chain {
                node: Box::new(ArgNode { pos, arg: other }),
                fields,
            },
        };
        Ok(Some(ArgNode { pos, arg }))
    }

    fn term(&mut self) -> PResult<Option<ArgNode>> {
        let it = self.next_non_space();
        let pos = it.start;
        let text = it.text(self.src);
        let arg = match it.kind {
            Kind::Ident => match Func::lookup(text) {
                Some(f) => Arg::Func(f),
                None => return Err(format!("function {} not defined", super::go_quote(text))),
            },
            Kind::Dot => Arg::Dot,
            Kind::Nil => Arg::Nil,
            Kind::Variable => {
                if !self.vars.iter().any(|v| v == text) {
                    return Err(format!("undefined variable {}", super::go_quote(text)));
                }
                Arg::Var {
                    name: text.to_string(),
                    fields: Vec::new(),
                }
            }
            Kind::Field => Arg::Field(vec![text[1..].to_string()]),
            Kind::Bool => Arg::Bool(text == "true"),
            Kind::Number | Kind::Char => {
                Arg::Number(Box::new(new_number(text, it.kind == Kind::Char)?))
            }
            Kind::LParen => {
                let p = self.pipeline("parenthesized pipeline", Kind::RParen)?;
                Arg::Pipe(Box::new(p))
            }
            Kind::Str | Kind::RawStr => {
                let value = unquote(text).ok_or_else(|| "invalid syntax".to_string())?;
                Arg::Str {
                    value,
                    quoted: text.to_string(),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        let _ = self.name;
        Ok(Some(ArgNode { pos, arg }))
    }
}

fn new_number(text: &str, is_char: bool) -> PResult<Number> {
    let mut n = Number {
        text: text.to_string(),
        int: None,
        uint: None,
        float: None,
        is_char,
    };
    if is_char {
        let s = unquote(text).ok_or_else(|| "invalid syntax".to_string())?;
        let mut chars = s.chars();
        let c = match (chars.next(), chars.next()) {
            (Some(c), None) => c,
            _ => return Err("invalid syntax".into()),
        };
        n.int = Some(c as i64);
        n.uint = Some(c as u64);
        n.float = Some(c as u32 as f64);
        return Ok(n);
    }
    if text.ends_with('i') {
        return Err(format!("illegal number syntax: {}", super::go_quote(text)));
    }
    n.uint = go_parse_uint(text);
    n.int = go_parse_int(text);
    if n.int == Some(0) {
        n.uint = Some(0);
    }
    if let Some(i) = n.int {
        n.float = Some(i as f64);
    } else if let Some(u) = n.uint {
        n.float = Some(u as f64);
    } else if let Some(f) = go_parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", super::go_quote(text)));
        }
        n.float = Some(f);
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            n.int = Some(f as i64);
        }
    }
    if n.int.is_none() && n.uint.is_none() && n.float.is_none() {
        return Err(format!("illegal number syntax: {}", super::go_quote(text)));
    }
    Ok(n)
}

/// `strconv.Unquote`; bytes that do not form UTF-8 (from `\x` / octal
/// escapes) become U+FFFD, as Go prints them.
fn unquote(s: &str) -> Option<String> {
    crate::strconv::unquote_lossy(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse(src, "line").err().unwrap_or_default()
    }

    #[test]
    fn parse_errors_use_go_wording() {
        assert_eq!(err("{{.foo"), "template: line:1: unclosed action");
        assert_eq!(
            err("{{ nope .x }}"),
            "template: line:1: function \"nope\" not defined"
        );
        assert_eq!(err("{{}}"), "template: line:1: missing value for command");
        assert_eq!(err("{{ end }}"), "template: line:1: unexpected {{end}}");
        assert_eq!(err("{{ if .a }}x"), "template: line:1: unexpected EOF");
        assert_eq!(
            err("{{ $x }}"),
            "template: line:1: undefined variable \"$x\""
        );
        assert_eq!(
            err("{{ .a | \"x\" }}"),
            "template: line:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            err("{{ break }}"),
            "template: line:1: {{break}} outside {{range}}"
        );
        assert_eq!(err("a\n{{ if }}"), "template: line:2: missing value for if");
    }

    #[test]
    fn valid_templates_parse() {
        for src in [
            "{{ if eq .a \"b\" }}x{{ else if .c }}y{{ else }}z{{ end }}",
            "{{ $x := .a }}{{ $x = \"b\" }}{{ $x }}",
            "{{ range $i, $e := .a }}{{ $i }}{{ break }}{{ end }}",
            "{{ (fromJson .a).b.c }}",
            "{{ with .a }}{{ . }}{{ else with .b }}{{ . }}{{ end }}",
            "{{ 'a' }} {{ 0x1F }} {{ 1e3 }} {{ -2 }}",
        ] {
            assert!(
                parse(src, "line").is_ok(),
                "{src}: {:?}",
                parse(src, "line").err()
            );
        }
    }

    #[test]
    fn unquote_handles_go_escapes() {
        assert_eq!(
            unquote(r#""a\tb\u00e9\x41\101""#).as_deref(),
            Some("a\tbéAA")
        );
        assert_eq!(unquote("`a\\n`").as_deref(), Some("a\\n"));
        assert_eq!(unquote(r#""\'""#), None);
        assert_eq!(unquote(r"'\''").as_deref(), Some("'"));
    }
}
