//! Executes a parsed template against one entry, following Go's
//! `text/template` evaluation (pipelines, argument type checks, variable
//! scopes, `missingkey=zero` label lookups).

use std::fmt::Display;
use std::rc::Rc;

use super::ast::{Arg, ArgNode, Branch, Command, Node, Number, Pipe};
use super::fmt as gofmt;
use super::funcs::{self, Func, Ty};
use super::value::Value;
use super::TemplateContext;
use crate::time::GoTime;

/// An execution error: the node it happened at (byte offset and its text
/// as Go quotes it) and the message.
#[derive(Debug)]
pub(crate) struct ExecErr {
    pub pos: usize,
    pub context: String,
    pub msg: String,
}

type EResult<T> = Result<T, Box<ExecErr>>;

/// Output beyond this size aborts rendering (a template cannot grow a
/// line without bound). Four times Loki's default `max_line_size`: a
/// formatted line past it is an attack on memory, not a log line.
const MAX_OUTPUT: usize = 1 << 20;
/// Upper bound on `range` over an integer.
const MAX_RANGE_INT: i64 = 1_000_000;

enum Flow {
    Normal,
    Break,
    Continue,
}

fn err_at(node: &dyn Display, pos: usize, msg: String) -> Box<ExecErr> {
    let mut context = node.to_string();
    if let Some((idx, _)) = context.char_indices().nth(20) {
        context.truncate(idx);
        context.push_str("...");
    }
    Box::new(ExecErr { pos, context, msg })
}

pub(crate) fn execute<'a>(
    nodes: &'a [Node],
    ctx: &'a dyn TemplateContext,
    out: &mut String,
) -> EResult<()> {
    execute_on(nodes, ctx, &Value::Labels, out)
}

/// Like `execute`, with `dot` as the template's data.
pub(crate) fn execute_on<'a>(
    nodes: &'a [Node],
    ctx: &'a dyn TemplateContext,
    dot: &Value<'a>,
    out: &mut String,
) -> EResult<()> {
    let mut st = State {
        ctx,
        vars: Vec::new(),
    };
    st.walk(out, dot, nodes).map(|_| ())
}

struct State<'a> {
    ctx: &'a dyn TemplateContext,
    vars: Vec<(&'a str, Value<'a>)>,
}

impl<'a> State<'a> {
    fn walk(&mut self, out: &mut String, dot: &Value<'a>, nodes: &'a [Node]) -> EResult<Flow> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.print(out, v);
                    }
                }
                Node::If(b) | Node::With(b) => {
                    let flow = self.walk_if(out, dot, b, matches!(node, Node::With(_)))?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => self.walk_range(out, dot, b)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
            if out.len() > MAX_OUTPUT {
                return Err(Box::new(ExecErr {
                    pos: 0,
                    context: String::new(),
                    msg: "template output too large".into(),
                }));
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&self, out: &mut String, v: Value<'a>) {
        match v {
            Value::Str(s) => out.push_str(&s),
            Value::Nil => out.push_str("<no value>"),
            Value::Labels => gofmt::print_value(out, &self.materialize(Value::Labels)),
            v => gofmt::print_value(out, &v),
        }
    }

    /// Turns the lazily read label map into a real one.
    fn materialize(&self, v: Value<'a>) -> Value<'a> {
        if !matches!(v, Value::Labels) {
            return v;
        }
        let mut pairs = Vec::new();
        self.ctx
            .for_each_label(&mut |k, v| pairs.push((k.to_string(), v.to_string())));
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        Value::StrMap(Rc::new(pairs))
    }

    fn walk_if(
        &mut self,
        out: &mut String,
        dot: &Value<'a>,
        b: &'a Branch,
        with: bool,
    ) -> EResult<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let val = self.materialize(val);
        let flow = if val.truth() {
            if with {
                self.walk(out, &val, &b.list)?
            } else {
                self.walk(out, dot, &b.list)?
            }
        } else {
            self.walk(out, dot, &b.else_list)?
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, out: &mut String, dot: &Value<'a>, b: &'a Branch) -> EResult<()> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let val = self.materialize(val);
        let decl = &b.pipe.decl;
        let items: Vec<(Value<'a>, Value<'a>)> = match &val {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| (Value::string(k.clone()), v.clone()))
                .collect(),
            Value::StrMap(m) => m
                .iter()
                .map(|(k, v)| (Value::string(k.clone()), Value::string(v.clone())))
                .collect(),
            Value::Int(n) | Value::Int64(n) => {
                if decl.len() > 1 {
                    let msg = format!("can't use {n} to iterate over more than one variable");
                    return Err(err_at(&b.pipe, b.pipe.pos, msg));
                }
                if *n > MAX_RANGE_INT {
                    return Err(err_at(
                        &b.pipe,
                        b.pipe.pos,
                        format!("range over {n} is too large"),
                    ));
                }
                let int64 = matches!(val, Value::Int64(_));
                (0..(*n).max(0))
                    .map(|i| {
                        let v = if int64 {
                            Value::Int64(i)
                        } else {
                            Value::Int(i)
                        };
                        (v.clone(), v)
                    })
                    .collect()
            }
            Value::Nil => Vec::new(),
            v => {
                let mut shown = String::new();
                gofmt::print_value(&mut shown, v);
                return Err(err_at(
                    &b.pipe,
                    b.pipe.pos,
                    format!("range can't iterate over {shown}"),
                ));
            }
        };
        if items.is_empty() {
            self.walk(out, dot, &b.else_list)?;
            self.vars.truncate(mark);
            return Ok(());
        }
        for (index, elem) in items {
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    let first = if decl.len() > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    self.set_var(&decl[0], first, &b.pipe)?;
                    if decl.len() > 1 {
                        self.set_var(&decl[1], elem.clone(), &b.pipe)?;
                    }
                } else if decl.len() > 1 {
                    self.vars[mark].1 = index;
                    self.vars[mark + 1].1 = elem.clone();
                } else {
                    self.vars[mark].1 = elem.clone();
                }
            }
            let inner = self.vars.len();
            let flow = self.walk(out, &elem, &b.list)?;
            self.vars.truncate(inner);
            if let Flow::Break = flow {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: Value<'a>, pipe: &Pipe) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(err_at(
                pipe,
                pipe.pos,
                format!("undefined variable: {name}"),
            )),
        }
    }

    fn var_value(&self, name: &str) -> Value<'a> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => v.clone(),
            // `$` is the template's data unless shadowed.
            None => Value::Labels,
        }
    }

    fn eval_pipeline(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> EResult<Value<'a>> {
        let mut value: Option<Value<'a>> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value.take())?);
        }
        let v = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, v.clone(), pipe)?;
            } else {
                self.vars.push((name.as_str(), v.clone()));
            }
        }
        Ok(v)
    }

    fn not_a_function(&self, cmd: &Command, has_final: bool) -> EResult<()> {
        if cmd.args.len() > 1 || has_final {
            let first = &cmd.args[0];
            return Err(err_at(
                first,
                first.pos,
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value<'a>,
        cmd: &'a Command,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let first = &cmd.args[0];
        match &first.arg {
            Arg::Field(names) => {
                self.eval_field_chain(dot, dot.clone(), names, &cmd.args, first, fin)
            }
            Arg::Chain { node, fields } => {
                if let Arg::Nil = node.arg {
                    return Err(err_at(
                        first,
                        first.pos,
                        format!("indirection through explicit nil in {first}"),
                    ));
                }
                let base = self.eval_plain(dot, node)?;
                self.eval_field_chain(dot, base, fields, &cmd.args, first, fin)
            }
            Arg::Func(f) => self.eval_function(dot, *f, Some(cmd), &cmd.args[1..], fin, first),
            Arg::Pipe(p) => {
                self.not_a_function(cmd, fin.is_some())?;
                self.eval_pipeline(dot, p)
            }
            Arg::Var { name, fields } => {
                let v = self.var_value(name);
                if fields.is_empty() {
                    self.not_a_function(cmd, fin.is_some())?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, fields, &cmd.args, first, fin)
            }
            Arg::Nil => Err(err_at(first, first.pos, "nil is not a command".into())),
            _ => {
                self.not_a_function(cmd, fin.is_some())?;
                self.eval_plain(dot, first)
            }
        }
    }

    /// Evaluates an argument with no expected type (Go's
    /// `evalEmptyInterface` / chain receivers).
    fn eval_plain(&mut self, dot: &Value<'a>, node: &'a ArgNode) -> EResult<Value<'a>> {
        match &node.arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Nil),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Number(n) => ideal_constant(n, node),
            Arg::Str { value, .. } => Ok(Value::str(value)),
            Arg::Field(names) => self.eval_field_chain(dot, dot.clone(), names, &[], node, None),
            Arg::Var { name, fields } => {
                let v = self.var_value(name);
                if fields.is_empty() {
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, fields, &[], node, None)
            }
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            Arg::Func(f) => self.eval_function(dot, *f, None, &[], None, node),
            Arg::Chain {
                node: inner,
                fields,
            } => {
                if let Arg::Nil = inner.arg {
                    return Err(err_at(
                        node,
                        node.pos,
                        format!("indirection through explicit nil in {node}"),
                    ));
                }
                let base = self.eval_plain(dot, inner)?;
                self.eval_field_chain(dot, base, fields, &[], node, None)
            }
        }
    }

    /// `receiver.a.b.c`; the last field receives the command's arguments
    /// (`args[1..]`) and the piped value.
    fn eval_field_chain(
        &mut self,
        dot: &Value<'a>,
        receiver: Value<'a>,
        names: &'a [String],
        args: &'a [ArgNode],
        node: &'a ArgNode,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let mut r = receiver;
        let last = names.len().saturating_sub(1);
        for name in &names[..last] {
            r = self.eval_field(dot, r, name, &[], node, None)?;
        }
        match names.get(last) {
            Some(name) => self.eval_field(dot, r, name, args, node, fin),
            None => Ok(r),
        }
    }

    fn eval_field(
        &mut self,
        dot: &Value<'a>,
        receiver: Value<'a>,
        name: &'a str,
        args: &'a [ArgNode],
        node: &'a ArgNode,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let has_args = args.len() > 1 || fin.is_some();
        let no_args = || {
            err_at(
                node,
                node.pos,
                format!("{name} is not a method but has arguments"),
            )
        };
        match receiver {
            Value::Nil => Ok(Value::Nil),
            Value::Labels => {
                if has_args {
                    return Err(no_args());
                }
                // missingkey=zero on a map[string]string: absent is "".
                Ok(Value::str(self.ctx.label(name).unwrap_or("")))
            }
            Value::StrMap(m) => {
                if has_args {
                    return Err(no_args());
                }
                Ok(match m.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
                    Ok(i) => Value::string(m[i].1.clone()),
                    Err(_) => Value::str(""),
                })
            }
            Value::Map(m) => {
                if has_args {
                    return Err(no_args());
                }
                Ok(m.get(name).cloned().unwrap_or(Value::Nil))
            }
            Value::Time(t) => self.eval_time_method(dot, &t, name, args, node, fin),
            v => Err(err_at(
                node,
                node.pos,
                format!("can't evaluate field {name} in type {}", v.type_name()),
            )),
        }
    }

    fn eval_time_method(
        &mut self,
        dot: &Value<'a>,
        t: &GoTime,
        name: &'a str,
        args: &'a [ArgNode],
        node: &'a ArgNode,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let params: &[Ty] = match name {
            "Format" => &[Ty::Str],
            "UTC" | "Local" | "Unix" | "UnixMilli" | "UnixNano" | "String" | "Year" | "YearDay"
            | "Day" | "Hour" | "Minute" | "Second" | "Nanosecond" | "IsZero" => &[],
            _ => {
                return Err(err_at(
                    node,
                    node.pos,
                    format!("can't evaluate field {name} in type time.Time"),
                ))
            }
        };
        let explicit = args.get(1..).unwrap_or(&[]);
        let argv = self.eval_args(dot, name, params, None, explicit, fin, node)?;
        Ok(match name {
            "Format" => Value::string(t.format(match &argv[0] {
                Value::Str(s) => s,
                _ => "",
            })),
            "UTC" | "Local" => Value::Time(Box::new(t.utc())),
            "Unix" => Value::Int64(t.secs),
            "UnixMilli" => Value::Int64(t.unix_milli()),
            "UnixNano" => Value::Int64(t.unix_nano()),
            "String" => Value::string(t.to_string()),
            "Year" => Value::Int(t.year()),
            "YearDay" => Value::Int(t.year_day()),
            "Day" => Value::Int(t.day()),
            "Hour" => Value::Int(t.hour()),
            "Minute" => Value::Int(t.minute()),
            "Second" => Value::Int(t.second()),
            "Nanosecond" => Value::Int(t.nsec as i64),
            _ => Value::Bool(t.is_zero()),
        })
    }

    /// Calls a function. `cmd` is the command when the function heads
    /// one (errors then quote the whole command); `ident` is its name node.
    fn eval_function(
        &mut self,
        dot: &Value<'a>,
        f: Func,
        cmd: Option<&'a Command>,
        args: &'a [ArgNode],
        fin: Option<Value<'a>>,
        ident: &'a ArgNode,
    ) -> EResult<Value<'a>> {
        let (params, variadic) = f.sig();
        match f {
            Func::Line | Func::Timestamp => {
                self.eval_args(dot, f.name(), params, variadic, args, fin, ident)?;
                return Ok(if f == Func::Line {
                    Value::str(self.ctx.line())
                } else {
                    Value::Time(Box::new(GoTime::from_unix_nanos(self.ctx.timestamp_ns())))
                });
            }
            Func::And | Func::Or => {
                let num_in = args.len() + fin.is_some() as usize;
                if num_in < 1 {
                    let msg = format!(
                        "wrong number of args for {}: want at least 1 got 0",
                        f.name()
                    );
                    return Err(err_at(ident, ident.pos, msg));
                }
                let want = f == Func::Or;
                let mut v = Value::Nil;
                for a in args {
                    v = self.eval_arg(dot, Ty::Val, a)?;
                    if v.truth() == want {
                        return Ok(v);
                    }
                }
                if let Some(fv) = fin {
                    v = self.validate(fv, Ty::Val, ident)?;
                }
                return Ok(v);
            }
            _ => {}
        }
        let argv = self.eval_args(dot, f.name(), params, variadic, args, fin, ident)?;
        let regex = match (f.takes_regex(), cmd, args.first()) {
            (
                true,
                Some(cmd),
                Some(ArgNode {
                    arg: Arg::Str { value, .. },
                    ..
                }),
            ) => match cmd.regex.get_or_init(|| funcs::compile_regex(value)) {
                Ok(re) => Some(re),
                Err(e) => {
                    return Err(err_at(
                        cmd,
                        cmd.pos,
                        format!("error calling {}: {e}", f.name()),
                    ))
                }
            },
            _ => None,
        };
        funcs::call(f, argv, regex).map_err(|m| {
            let msg = format!("error calling {}: {m}", f.name());
            match cmd {
                Some(c) => err_at(c, c.pos, msg),
                None => err_at(ident, ident.pos, msg),
            }
        })
    }

    /// Checks the argument count and evaluates each argument against its
    /// parameter type, as Go's `evalCall`.
    #[allow(clippy::too_many_arguments)]
    fn eval_args(
        &mut self,
        dot: &Value<'a>,
        name: &str,
        params: &[Ty],
        variadic: Option<Ty>,
        args: &'a [ArgNode],
        fin: Option<Value<'a>>,
        ident: &ArgNode,
    ) -> EResult<Vec<Value<'a>>> {
        let num_in = args.len() + fin.is_some() as usize;
        if variadic.is_some() {
            if num_in < params.len() {
                let msg = format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    params.len(),
                    args.len()
                );
                return Err(err_at(ident, ident.pos, msg));
            }
        } else if num_in != params.len() {
            let msg = format!(
                "wrong number of args for {name}: want {} got {num_in}",
                params.len()
            );
            return Err(err_at(ident, ident.pos, msg));
        }
        let ty_at = |i: usize| params.get(i).copied().or(variadic).unwrap_or(Ty::Any);
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, ty_at(i), a)?);
        }
        if let Some(fv) = fin {
            argv.push(self.validate(fv, ty_at(num_in - 1), ident)?);
        }
        Ok(argv)
    }

    fn eval_arg(&mut self, dot: &Value<'a>, ty: Ty, node: &'a ArgNode) -> EResult<Value<'a>> {
        let found = |what: &str| err_at(node, node.pos, format!("expected {what}; found {node}"));
        let cant = || {
            err_at(
                node,
                node.pos,
                format!("can't handle {node} for arg of type {}", ty.go_name()),
            )
        };
        match &node.arg {
            Arg::Nil => match ty {
                Ty::Any => Ok(Value::Nil),
                _ => Err(err_at(
                    node,
                    node.pos,
                    format!("cannot assign nil to {}", ty.go_name()),
                )),
            },
            Arg::Bool(b) => match ty {
                Ty::Any | Ty::Val => Ok(Value::Bool(*b)),
                Ty::Str => Err(found("string")),
                Ty::Int => Err(found("integer")),
                Ty::Float => Err(found("float")),
                Ty::Time => Err(cant()),
            },
            Arg::Number(n) => match ty {
                Ty::Any | Ty::Val => ideal_constant(n, node),
                Ty::Int => n.int.map(Value::Int).ok_or_else(|| found("integer")),
                Ty::Float => n.float.map(Value::Float).ok_or_else(|| found("float")),
                Ty::Str => Err(found("string")),
                Ty::Time => Err(cant()),
            },
            Arg::Str { value, .. } => match ty {
                Ty::Any | Ty::Val | Ty::Str => Ok(Value::str(value)),
                Ty::Int => Err(found("integer")),
                Ty::Float => Err(found("float")),
                Ty::Time => Err(cant()),
            },
            _ => {
                let v = self.eval_plain(dot, node)?;
                self.validate(v, ty, node)
            }
        }
    }

    fn validate(&self, v: Value<'a>, ty: Ty, node: &ArgNode) -> EResult<Value<'a>> {
        match (ty, &v) {
            (Ty::Any | Ty::Val, _) => Ok(self.materialize(v)),
            (_, Value::Nil) => Err(err_at(
                node,
                node.pos,
                format!("invalid value; expected {}", ty.go_name()),
            )),
            (Ty::Str, Value::Str(_))
            | (Ty::Int, Value::Int(_))
            | (Ty::Float, Value::Float(_))
            | (Ty::Time, Value::Time(_)) => Ok(v),
            _ => {
                let got = self.materialize(v).type_name();
                let msg = format!("wrong type for value; expected {}; got {got}", ty.go_name());
                Err(err_at(node, node.pos, msg))
            }
        }
    }
}

/// A numeric literal as an untyped value: float syntax gives float64,
/// integers give int.
fn ideal_constant<'a>(n: &Number, node: &ArgNode) -> EResult<Value<'a>> {
    if n.is_char {
        return Ok(Value::Int(n.int.unwrap_or(0)));
    }
    let t = n.text.as_str();
    let hex_int =
        t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) && !t.contains(['p', 'P']);
    if let Some(f) = n.float {
        if !hex_int && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(f));
        }
    }
    if let Some(i) = n.int {
        return Ok(Value::Int(i));
    }
    if n.uint.is_some() {
        return Err(err_at(node, node.pos, format!("{t} overflows int")));
    }
    Ok(Value::Float(n.float.unwrap_or(0.0)))
}
