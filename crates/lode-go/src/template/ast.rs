//! The parse tree of a template. `Display` renders nodes the way Go's
//! `parse.Node.String` does, because execution errors quote them.

use std::fmt;
use std::sync::OnceLock;

use super::funcs::Func;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Box<Branch>),
    With(Box<Branch>),
    Range(Box<Branch>),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<ArgNode>,
    /// Compiled pattern of a regex function whose pattern is a literal.
    pub regex: OnceLock<Result<regex::Regex, String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct ArgNode {
    pub pos: usize,
    pub arg: Arg,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Number(Box<Number>),
    /// Decoded value and the source text (quotes included).
    Str {
        value: String,
        quoted: String,
    },
    /// `.a.b` (names without dots).
    Field(Vec<String>),
    /// `$x.a.b`: the variable name (with `$`) and the fields.
    Var {
        name: String,
        fields: Vec<String>,
    },
    Func(Func),
    Pipe(Box<Pipe>),
    /// `(pipeline).a.b` or `func.a`.
    Chain {
        node: Box<ArgNode>,
        fields: Vec<String>,
    },
}

/// A numeric constant with the interpretations Go's parser allows.
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub uint: Option<u64>,
    pub float: Option<f64>,
    pub is_char: bool,
}

impl Arg {
    /// Literals cannot start a later pipeline stage.
    pub fn is_literal(&self) -> bool {
        matches!(
            self,
            Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Number(_) | Arg::Str { .. }
        )
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Arg::Pipe(p) = &a.arg {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for ArgNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arg {
            Arg::Dot => f.write_str("."),
            Arg::Nil => f.write_str("nil"),
            Arg::Bool(b) => write!(f, "{b}"),
            Arg::Number(n) => f.write_str(&n.text),
            Arg::Str { quoted, .. } => f.write_str(quoted),
            Arg::Field(names) => {
                for n in names {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Var { name, fields } => {
                f.write_str(name)?;
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Func(func) => f.write_str(func.name()),
            Arg::Pipe(p) => write!(f, "{p}"),
            Arg::Chain { node, fields } => {
                if let Arg::Pipe(p) = &node.arg {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
        }
    }
}
