//! LogQL parser: text to `ast::Expr`, with Loki's error messages.
//!
//! A hand-written lexer and recursive-descent parser (precedence climbing
//! for binary operators). Syntax errors are `Error::Parse` with Loki's
//! `syntax error: unexpected X` wording; checks Loki makes after parsing
//! (empty-compatible selectors, bad regexes, unwrap rules...) are
//! `Error::Invalid` with Loki's `parse error : ...` text. Nesting is capped
//! at `MAX_DEPTH` so hostile input cannot overflow the stack.

mod lexer;
mod log;
mod metric;
mod validate;

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod verdicts_tests;

use crate::ast::{Expr, LogExpr, MetricExpr};
use crate::error::{Error, Result};
use lexer::{Tok, Token};

pub(crate) use metric::binop_precedence;

/// Deepest nesting accepted (parentheses, aggregations, chains of binary
/// or label-filter operators).
pub const MAX_DEPTH: usize = 256;

/// Queries whose estimated nesting stays under this parse on the caller's
/// stack; deeper ones on a helper thread with `DEEP_STACK` bytes of stack,
/// so that `MAX_DEPTH` levels fit even in unoptimised builds.
const INLINE_DEPTH: usize = 24;
const DEEP_STACK: usize = 64 << 20;

/// Parses a LogQL query.
pub fn parse(input: &str) -> Result<Expr> {
    let tokens = lexer::lex(input)?;
    if estimated_depth(&tokens) <= INLINE_DEPTH {
        return parse_tokens(tokens);
    }
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("logql-parse".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(scope, move || parse_tokens(tokens));
        match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(e) => Err(invalid(format!("query too deeply nested to parse: {e}"))),
        }
    })
}

fn parse_tokens(tokens: Vec<Token>) -> Result<Expr> {
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        depth: 0,
    };
    // `variants(...) of (...)` is a whole query of its own in Loki's grammar.
    if matches!(p.peek(), Tok::Ident(w) if w.eq_ignore_ascii_case("variants"))
        && p.peek_at(1) == &Tok::LParen
    {
        let v = p.variants()?;
        if p.peek() != &Tok::Eof {
            return Err(p.unexpected(&[]));
        }
        return Ok(Expr::Variants(v));
    }
    let (node, _) = p.binary(0)?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected(&[]));
    }
    Ok(match node {
        Node::Log(l) => Expr::Log(l),
        Node::Metric(m) => Expr::Metric(m),
    })
}

/// An upper bound on the parser's recursion for these tokens: bracket
/// nesting plus every token that can nest a level without a bracket
/// (binary operators, `,` and juxtaposed label filters).
fn estimated_depth(tokens: &[Token]) -> usize {
    let (mut open, mut max_open, mut chained) = (0usize, 0usize, 0usize);
    for (i, t) in tokens.iter().enumerate() {
        match &t.tok {
            Tok::LParen | Tok::LBrace => {
                open += 1;
                max_open = max_open.max(open);
            }
            Tok::RParen | Tok::RBrace => open = open.saturating_sub(1),
            Tok::Comma
            | Tok::Add
            | Tok::Sub
            | Tok::Mul
            | Tok::Div
            | Tok::Mod
            | Tok::Pow
            | Tok::EqEq
            | Tok::Gt
            | Tok::Ge
            | Tok::Lt
            | Tok::Le => chained += 1,
            Tok::Ident(w) if joins(w, tokens.get(i + 1).map(|t| &t.tok)) => chained += 1,
            _ => {}
        }
    }
    max_open + chained
}

/// A word that starts a label filter or is a logical operator.
fn joins(word: &str, next: Option<&Tok>) -> bool {
    matches!(next, Some(Tok::Eq | Tok::Neq | Tok::Re | Tok::Nre))
        || ["and", "or", "unless"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
}

/// A parsed operand before we know where it goes.
pub(crate) enum Node {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// Names that make a word a function call when `(` follows.
pub(crate) fn is_function_name(lower: &str) -> bool {
    metric::range_op(lower).is_some()
        || metric::vector_op(lower).is_some()
        || matches!(
            lower,
            "vector" | "label_replace" | "bytes" | "duration" | "duration_seconds" | "ip"
        )
}

/// A Loki-style `parse error : ...` for checks made after the syntax.
pub(crate) fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("parse error : {msg}"))
}

pub(crate) struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    /// Whether the current token is the word `kw` (case-insensitive).
    fn at_kw(&self, kw: &str) -> bool {
        self.kw_at(0, kw)
    }

    fn kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, expecting: &[&str]) -> Result<()> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.unexpected(expecting))
        }
    }

    fn ident(&mut self, expecting: &[&str]) -> Result<String> {
        match self.peek() {
            Tok::Ident(_) => match self.bump() {
                Tok::Ident(s) => Ok(s),
                _ => unreachable!("peeked an identifier"),
            },
            _ => Err(self.unexpected(expecting)),
        }
    }

    fn string(&mut self, expecting: &[&str]) -> Result<String> {
        match self.peek() {
            Tok::Str(_) => match self.bump() {
                Tok::Str(s) => Ok(s),
                _ => unreachable!("peeked a string"),
            },
            _ => Err(self.unexpected(expecting)),
        }
    }

    /// `syntax error: unexpected X[, expecting A or B]` at the current token.
    fn unexpected(&self, expecting: &[&str]) -> Error {
        let t = &self.toks[self.pos];
        let next_is_paren = self.peek_at(1) == &Tok::LParen;
        let mut msg = format!("syntax error: unexpected {}", t.tok.describe(next_is_paren));
        if !expecting.is_empty() {
            msg.push_str(", expecting ");
            msg.push_str(&expecting.join(" or "));
        }
        Error::Parse {
            line: t.line,
            col: t.col,
            msg,
        }
    }

    fn too_deep(&self) -> Error {
        let t = &self.toks[self.pos];
        Error::Parse {
            line: t.line,
            col: t.col,
            msg: format!("syntax error: expression nested deeper than {MAX_DEPTH} levels"),
        }
    }

    /// Enters one level of recursion.
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.too_deep());
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Checks the depth of a tree built by a loop rather than recursion.
    fn check_depth(&self, depth: usize) -> Result<()> {
        if depth + self.depth > MAX_DEPTH {
            return Err(self.too_deep());
        }
        Ok(())
    }
}
