//! The functions a template may call: Go's builtins, Loki's own, and the
//! Sprig subset Loki enables. Each has the Go signature the evaluator
//! checks arguments against, so type mismatches fail as they do in Loki.

use std::borrow::Cow;
use std::fmt::Write;

use super::cast::{to_float64, to_int64, Decimal};
use super::fmt as gofmt;
use super::strfuncs;
use super::value::Value;
use crate::time::{self as gotime, GoTime};

/// A parameter type of a Go function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Int,
    Float,
    Time,
    /// `interface{}`.
    Any,
    /// `reflect.Value` (Go's comparison and logic builtins).
    Val,
}

impl Ty {
    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Float => "float64",
            Ty::Time => "time.Time",
            Ty::Any => "interface {}",
            Ty::Val => "reflect.Value",
        }
    }
}

macro_rules! functions {
    ($($variant:ident = $name:literal ($($p:ident),*) $(... $v:ident)?;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($variant),* }

        impl Func {
            pub fn lookup(name: &str) -> Option<Func> {
                match name {
                    $($name => Some(Func::$variant),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Func::$variant => $name),* }
            }

            /// Fixed parameter types and the variadic element type.
            pub fn sig(self) -> (&'static [Ty], Option<Ty>) {
                match self {
                    $(Func::$variant => (&[$(Ty::$p),*], functions!(@v $($v)?)),)*
                }
            }
        }
    };
    (@v) => { None };
    (@v $v:ident) => { Some(Ty::$v) };
}

functions! {
    // Go text/template builtins.
    And = "and"(Val) ... Val;
    Or = "or"(Val) ... Val;
    Not = "not"(Val);
    Len = "len"(Val);
    Index = "index"(Val) ... Val;
    Slice = "slice"(Val) ... Val;
    Print = "print"() ... Any;
    Printf = "printf"(Str) ... Any;
    Println = "println"() ... Any;
    UrlQuery = "urlquery"() ... Any;
    Html = "html"() ... Any;
    Js = "js"() ... Any;
    Call = "call"(Val) ... Val;
    Eq = "eq"(Val) ... Val;
    Ne = "ne"(Val, Val);
    Lt = "lt"(Val, Val);
    Le = "le"(Val, Val);
    Gt = "gt"(Val, Val);
    Ge = "ge"(Val, Val);
    // Loki.
    Line = "__line__"();
    Timestamp = "__timestamp__"();
    ToLowerGo = "ToLower"(Str);
    ToUpperGo = "ToUpper"(Str);
    ReplaceGo = "Replace"(Str, Str, Str, Int);
    TrimGo = "Trim"(Str, Str);
    TrimLeftGo = "TrimLeft"(Str, Str);
    TrimRightGo = "TrimRight"(Str, Str);
    TrimPrefixGo = "TrimPrefix"(Str, Str);
    TrimSuffixGo = "TrimSuffix"(Str, Str);
    TrimSpaceGo = "TrimSpace"(Str);
    RegexReplaceAll = "regexReplaceAll"(Str, Str, Str);
    RegexReplaceAllLiteral = "regexReplaceAllLiteral"(Str, Str, Str);
    Count = "count"(Str, Str);
    UrlDecode = "urldecode"(Str);
    UrlEncode = "urlencode"(Str);
    Bytes = "bytes"(Str);
    Duration = "duration"(Str);
    DurationSeconds = "duration_seconds"(Str);
    UnixEpochMillis = "unixEpochMillis"(Time);
    UnixEpochNanos = "unixEpochNanos"(Time);
    ToDateInZone = "toDateInZone"(Str, Str, Str);
    UnixToTime = "unixToTime"(Str);
    AlignLeft = "alignLeft"(Int, Str);
    AlignRight = "alignRight"(Int, Str);
    // Sprig.
    B64Enc = "b64enc"(Str);
    B64Dec = "b64dec"(Str);
    Lower = "lower"(Str);
    Upper = "upper"(Str);
    Title = "title"(Str);
    Trunc = "trunc"(Int, Str);
    Substr = "substr"(Int, Int, Str);
    Contains = "contains"(Str, Str);
    HasPrefix = "hasPrefix"(Str, Str);
    HasSuffix = "hasSuffix"(Str, Str);
    Indent = "indent"(Int, Str);
    Nindent = "nindent"(Int, Str);
    Replace = "replace"(Str, Str, Str);
    Repeat = "repeat"(Int, Str);
    Trim = "trim"(Str);
    TrimAll = "trimAll"(Str, Str);
    TrimSuffix = "trimSuffix"(Str, Str);
    TrimPrefix = "trimPrefix"(Str, Str);
    ToInt = "int"(Any);
    ToFloat64 = "float64"(Any);
    Add = "add"() ... Any;
    Sub = "sub"(Any, Any);
    Mul = "mul"(Any) ... Any;
    Div = "div"(Any, Any);
    Mod = "mod"(Any, Any);
    Addf = "addf"() ... Any;
    Subf = "subf"(Any) ... Any;
    Mulf = "mulf"(Any) ... Any;
    Divf = "divf"(Any) ... Any;
    Max = "max"(Any) ... Any;
    Min = "min"(Any) ... Any;
    Maxf = "maxf"(Any) ... Any;
    Minf = "minf"(Any) ... Any;
    Ceil = "ceil"(Any);
    Floor = "floor"(Any);
    Round = "round"(Any, Int) ... Float;
    FromJson = "fromJson"(Str);
    Date = "date"(Str, Any);
    ToDate = "toDate"(Str, Str);
    Now = "now"();
    UnixEpoch = "unixEpoch"(Time);
    Default = "default"(Any) ... Any;
    Utc = "UTC"(Time);
}

impl Func {
    /// Whether the first argument is a regular expression (compiled once
    /// per call site when it is a literal).
    pub fn takes_regex(self) -> bool {
        matches!(
            self,
            Func::RegexReplaceAll | Func::RegexReplaceAllLiteral | Func::Count
        )
    }
}

type FResult<'a> = Result<Value<'a>, String>;

fn s<'v>(args: &'v [Value<'_>], i: usize) -> &'v str {
    match args.get(i) {
        Some(Value::Str(s)) => s,
        _ => "",
    }
}

fn int(args: &[Value<'_>], i: usize) -> i64 {
    match args.get(i) {
        Some(Value::Int(v) | Value::Int64(v)) => *v,
        _ => 0,
    }
}

fn time<'v>(args: &'v [Value<'_>], i: usize) -> Option<&'v GoTime> {
    match args.get(i) {
        Some(Value::Time(t)) => Some(t),
        _ => None,
    }
}

fn owned<'a>(s: String) -> Value<'a> {
    Value::Str(Cow::Owned(s))
}

const DIV_ZERO: &str = "runtime error: integer divide by zero";

/// Calls a function whose arguments already have the types of its
/// signature (`and`, `or`, `__line__` and `__timestamp__` are handled by
/// the evaluator). `regex` is the pre-compiled first argument, if any.
pub(crate) fn call<'a>(
    f: Func,
    mut args: Vec<Value<'a>>,
    regex: Option<&regex::Regex>,
) -> FResult<'a> {
    let a = &args;
    Ok(match f {
        Func::And | Func::Or | Func::Line | Func::Timestamp => Value::Nil,
        Func::Not => Value::Bool(!a[0].truth()),
        Func::Len => Value::Int(builtin_len(&a[0])?),
        Func::Index => return builtin_index(args),
        Func::Slice => return builtin_slice(args),
        Func::Print => {
            let mut out = String::new();
            gofmt::sprint(&mut out, a);
            owned(out)
        }
        Func::Println => {
            let mut out = String::new();
            gofmt::sprintln(&mut out, a);
            owned(out)
        }
        Func::Printf => {
            let mut out = String::new();
            gofmt::sprintf(&mut out, s(a, 0), &a[1..]);
            owned(out)
        }
        Func::UrlQuery => owned(strfuncs::query_escape(&eval_args(a))),
        Func::Html => owned(strfuncs::html_escape(&eval_args(a))),
        Func::Js => owned(strfuncs::js_escape(&eval_args(a))),
        Func::Call => {
            return Err(match &a[0] {
                Value::Nil => "call of nil".to_string(),
                v => format!("non-function of type {}", v.type_name()),
            })
        }
        Func::Eq => Value::Bool(builtin_eq(&a[0], &a[1..])?),
        Func::Ne => Value::Bool(!builtin_eq(&a[0], &a[1..])?),
        Func::Lt => Value::Bool(builtin_lt(&a[0], &a[1])?),
        Func::Le => Value::Bool(builtin_lt(&a[0], &a[1])? || builtin_eq(&a[0], &a[1..])?),
        Func::Gt => Value::Bool(!(builtin_lt(&a[0], &a[1])? || builtin_eq(&a[0], &a[1..])?)),
        Func::Ge => Value::Bool(!builtin_lt(&a[0], &a[1])?),
        Func::ToLowerGo | Func::Lower => owned(strfuncs::go_lower(s(a, 0))),
        Func::ToUpperGo | Func::Upper => owned(strfuncs::go_upper(s(a, 0))),
        Func::ReplaceGo => {
            let (src, old, new, n) = (s(a, 0), s(a, 1), s(a, 2), int(a, 3));
            if old == new || n == 0 {
                return Ok(args.swap_remove(0));
            }
            owned(if n < 0 {
                src.replace(old, new)
            } else {
                src.replacen(old, new, n as usize)
            })
        }
        Func::TrimGo => sub_str(args, 0, |t, c| t.trim_matches(|x| c.contains(x))),
        Func::TrimLeftGo => sub_str(args, 0, |t, c| t.trim_start_matches(|x| c.contains(x))),
        Func::TrimRightGo => sub_str(args, 0, |t, c| t.trim_end_matches(|x| c.contains(x))),
        Func::TrimPrefixGo => sub_str(args, 0, |t, p| t.strip_prefix(p).unwrap_or(t)),
        Func::TrimSuffixGo => sub_str(args, 0, |t, p| t.strip_suffix(p).unwrap_or(t)),
        Func::TrimSpaceGo | Func::Trim => sub_str(args, 0, |t, _| t.trim()),
        Func::TrimAll => sub_str(args, 1, |t, c| t.trim_matches(|x| c.contains(x))),
        Func::TrimPrefix => sub_str(args, 1, |t, p| t.strip_prefix(p).unwrap_or(t)),
        Func::TrimSuffix => sub_str(args, 1, |t, p| t.strip_suffix(p).unwrap_or(t)),
        Func::RegexReplaceAll | Func::RegexReplaceAllLiteral | Func::Count => {
            let compiled;
            let re = match regex {
                Some(r) => r,
                None => {
                    compiled = compile_regex(s(a, 0))?;
                    &compiled
                }
            };
            match f {
                Func::Count => Value::Int(re.find_iter(s(a, 1)).count() as i64),
                Func::RegexReplaceAll => owned(re.replace_all(s(a, 1), s(a, 2)).into_owned()),
                _ => owned(
                    re.replace_all(s(a, 1), regex::NoExpand(s(a, 2)))
                        .into_owned(),
                ),
            }
        }
        Func::UrlDecode => owned(strfuncs::query_unescape(s(a, 0))?),
        Func::UrlEncode => owned(strfuncs::query_escape(s(a, 0))),
        Func::Bytes => Value::Float(strfuncs::parse_bytes(s(a, 0))?),
        Func::Duration | Func::DurationSeconds => Value::Float(strfuncs::parse_duration(s(a, 0))?),
        Func::UnixEpochMillis => owned(time(a, 0).map_or(0, |t| t.unix_milli()).to_string()),
        Func::UnixEpochNanos => owned(time(a, 0).map_or(0, |t| t.unix_nano()).to_string()),
        Func::UnixEpoch => owned(time(a, 0).map_or(0, |t| t.secs).to_string()),
        Func::ToDateInZone => {
            // Zones other than UTC/Local are not loaded; Loki falls back to
            // UTC when a zone fails to load, and Local is UTC on the server.
            Value::Time(Box::new(
                gotime::parse(s(a, 0), s(a, 2)).unwrap_or_else(|_| GoTime::zero()),
            ))
        }
        Func::ToDate => Value::Time(Box::new(
            gotime::parse(s(a, 0), s(a, 1)).unwrap_or_else(|_| GoTime::zero()),
        )),
        Func::UnixToTime => Value::Time(Box::new(unix_to_time(s(a, 0))?)),
        Func::AlignLeft => owned(strfuncs::align(int(a, 0), s(a, 1), true)),
        Func::AlignRight => owned(strfuncs::align(int(a, 0), s(a, 1), false)),
        Func::B64Enc => owned(strfuncs::b64_encode(s(a, 0).as_bytes())),
        Func::B64Dec => owned(match strfuncs::b64_decode(s(a, 0)) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }),
        Func::Title => owned(strfuncs::title(s(a, 0))),
        Func::Trunc => owned(strfuncs::trunc(int(a, 0), s(a, 1))),
        Func::Substr => owned(strfuncs::substring(int(a, 0), int(a, 1), s(a, 2))),
        Func::Contains => Value::Bool(s(a, 1).contains(s(a, 0))),
        Func::HasPrefix => Value::Bool(s(a, 1).starts_with(s(a, 0))),
        Func::HasSuffix => Value::Bool(s(a, 1).ends_with(s(a, 0))),
        Func::Indent | Func::Nindent => {
            let n = int(a, 0);
            if n < 0 {
                return Err("strings: negative Repeat count".into());
            }
            let pad = strfuncs::repeat(" ", n)?;
            let mut out = String::new();
            if f == Func::Nindent {
                out.push('\n');
            }
            out.push_str(&pad);
            out.push_str(&s(a, 1).replace('\n', &format!("\n{pad}")));
            owned(out)
        }
        Func::Replace => owned(s(a, 2).replace(s(a, 0), s(a, 1))),
        Func::Repeat => owned(strfuncs::repeat(s(a, 1), int(a, 0))?),
        Func::ToInt => Value::Int(to_int64(&a[0])),
        Func::ToFloat64 => Value::Float(to_float64(&a[0])),
        Func::Add => Value::Int64(a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v)))),
        Func::Sub => Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))),
        Func::Mul => Value::Int64(
            a[1..]
                .iter()
                .fold(to_int64(&a[0]), |acc, v| acc.wrapping_mul(to_int64(v))),
        ),
        Func::Div | Func::Mod => {
            let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
            if y == 0 {
                return Err(DIV_ZERO.into());
            }
            Value::Int64(if f == Func::Div {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            })
        }
        Func::Addf => Value::Float(decimal_op(&Value::Float(0.0), a, f)?),
        Func::Subf | Func::Mulf | Func::Divf => Value::Float(decimal_op(&a[0], &a[1..], f)?),
        Func::Max => Value::Int64(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max)),
        Func::Min => Value::Int64(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min)),
        Func::Maxf => Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_max),
        ),
        Func::Minf => Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_min),
        ),
        Func::Ceil => Value::Float(to_float64(&a[0]).ceil()),
        Func::Floor => Value::Float(to_float64(&a[0]).floor()),
        Func::Round => {
            let round_on = match a.get(2) {
                Some(Value::Float(r)) => *r,
                _ => 0.5,
            };
            let val = to_float64(&a[0]);
            let pow = 10f64.powf(int(a, 1) as f64);
            let digit = pow * val;
            let frac = digit.fract();
            let r = if frac >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Value::Float(r / pow)
        }
        Func::FromJson => match serde_json::from_str::<serde_json::Value>(s(a, 0)) {
            Ok(v) => Value::from_json(&v),
            Err(_) => Value::Nil,
        },
        Func::Date => {
            let t = match &a[1] {
                Value::Time(t) => (**t).clone(),
                Value::Int(n) | Value::Int64(n) => GoTime::from_unix(*n, 0),
                _ => GoTime::now(),
            };
            owned(t.utc().format(s(a, 0)))
        }
        Func::Now => Value::Time(Box::new(GoTime::now())),
        Func::Default => {
            if a.len() < 2 || empty(&a[1]) {
                return Ok(args.swap_remove(0));
            }
            args.swap_remove(1)
        }
        Func::Utc => Value::Time(Box::new(
            time(a, 0).map(|t| t.utc()).unwrap_or_else(GoTime::zero),
        )),
    })
}

/// Applies `op` to the string argument `i` with the other string
/// argument, borrowing from the input when the result is a slice of it.
fn sub_str<'a>(
    mut args: Vec<Value<'a>>,
    i: usize,
    op: impl for<'x> Fn(&'x str, &str) -> &'x str,
) -> Value<'a> {
    let other = if i == 0 {
        s(&args, 1).to_string()
    } else {
        s(&args, 0).to_string()
    };
    let Value::Str(src) = std::mem::replace(&mut args[i], Value::Nil) else {
        return Value::str("");
    };
    match src {
        Cow::Borrowed(b) => Value::Str(Cow::Borrowed(op(b, &other))),
        Cow::Owned(o) => owned(op(&o, &other).to_string()),
    }
}

/// Compiles a function's pattern with Go's RE2 meaning (`\d` is ASCII
/// and so on), reporting Go's error text.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    crate::regex::compile(pattern).map_err(|e| e.to_string())
}

fn go_max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            y
        } else {
            x
        }
    } else {
        x.max(y)
    }
}

fn go_min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            x
        } else {
            y
        }
    } else {
        x.min(y)
    }
}

/// Sprig's `empty`.
fn empty(v: &Value<'_>) -> bool {
    match v {
        Value::Time(_) => false,
        v => !v.truth(),
    }
}

fn decimal_op(first: &Value<'_>, rest: &[Value<'_>], f: Func) -> Result<f64, String> {
    let mut acc = Decimal::from_f64(to_float64(first))?;
    let mut fallback = to_float64(first);
    let mut exact = true;
    for v in rest {
        let x = to_float64(v);
        let d = Decimal::from_f64(x)?;
        if f == Func::Divf && x == 0.0 {
            return Err("decimal division by 0".into());
        }
        let next = match f {
            Func::Addf => acc.add(d),
            Func::Subf => acc.sub(d),
            Func::Mulf => acc.mul(d),
            _ => acc.div(d),
        };
        fallback = match f {
            Func::Addf => fallback + x,
            Func::Subf => fallback - x,
            Func::Mulf => fallback * x,
            _ => fallback / x,
        };
        match next {
            Some(n) if exact => acc = n,
            _ => exact = false,
        }
    }
    Ok(if exact { acc.to_f64() } else { fallback })
}

fn unix_to_time(epoch: &str) -> Result<GoTime, String> {
    let i = super::cast::go_parse_int_base10(epoch).ok_or_else(|| {
        format!(
            "unable to parse time '{epoch}': strconv.ParseInt: parsing {}: invalid syntax",
            super::go_quote(epoch)
        )
    })?;
    match epoch.len() {
        5 => Ok(GoTime::from_unix(i.wrapping_mul(86_400), 0)),
        10 => Ok(GoTime::from_unix(i, 0)),
        13 => Ok(GoTime::from_unix(0, i.wrapping_mul(1_000_000))),
        16 => Ok(GoTime::from_unix(0, i.wrapping_mul(1_000))),
        19 => Ok(GoTime::from_unix(0, i)),
        l => Err(format!(
            "unable to parse time '{epoch}': unrecognized epoch length {l}"
        )),
    }
}

/// text/template's `evalArgs`: a lone string as is, otherwise `Sprint`.
fn eval_args(args: &[Value<'_>]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    let mut out = String::new();
    gofmt::sprint(&mut out, args);
    out
}

fn builtin_len(v: &Value<'_>) -> Result<i64, String> {
    Ok(match v {
        Value::Str(s) => s.len() as i64,
        Value::StrMap(m) => m.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Nil => return Err("len of untyped nil".into()),
        v => return Err(format!("len of type {}", v.type_name())),
    })
}

fn index_int(v: &Value<'_>) -> Result<i64, String> {
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(*i),
        Value::U8(u) => Ok(*u as i64),
        Value::Nil => Err("cannot index slice/array with nil".into()),
        v => Err(format!(
            "cannot index slice/array with type {}",
            v.type_name()
        )),
    }
}

fn builtin_index<'a>(mut args: Vec<Value<'a>>) -> FResult<'a> {
    let rest = args.split_off(1);
    let mut cur = args.pop().unwrap_or(Value::Nil);
    for idx in rest {
        cur = match cur {
            Value::Str(s) => {
                let x = index_int(&idx)?;
                if x < 0 || x as usize >= s.len() {
                    return Err(format!("index out of range: {x}"));
                }
                Value::U8(s.as_bytes()[x as usize])
            }
            Value::List(l) => {
                let x = index_int(&idx)?;
                if x < 0 || x as usize >= l.len() {
                    return Err(format!("index out of range: {x}"));
                }
                l[x as usize].clone()
            }
            Value::StrMap(m) => match &idx {
                Value::Str(k) => match m.binary_search_by(|(n, _)| n.as_str().cmp(k)) {
                    Ok(i) => owned(m[i].1.clone()),
                    Err(_) => Value::str(""),
                },
                Value::Nil => return Err("value is nil; should be of type string".into()),
                v => {
                    return Err(format!(
                        "value has type {}; should be string",
                        v.type_name()
                    ))
                }
            },
            Value::Map(m) => match &idx {
                Value::Str(k) => m.get(k.as_ref()).cloned().unwrap_or(Value::Nil),
                Value::Nil => return Err("value is nil; should be of type string".into()),
                v => {
                    return Err(format!(
                        "value has type {}; should be string",
                        v.type_name()
                    ))
                }
            },
            Value::Nil => return Err("index of untyped nil".into()),
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(cur)
}

fn builtin_slice<'a>(mut args: Vec<Value<'a>>) -> FResult<'a> {
    let idx = args.split_off(1);
    let item = args.pop().unwrap_or(Value::Nil);
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match &item {
        Value::Str(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::Nil => return Err("slice of untyped nil".into()),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut bounds = [0usize, len, len];
    for (k, v) in idx.iter().enumerate() {
        let x = index_int(v)?;
        if x < 0 || x as usize > len {
            return Err(format!("index out of range: {x}"));
        }
        bounds[k] = x as usize;
    }
    if bounds[0] > bounds[1] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[0], bounds[1]
        ));
    }
    if idx.len() == 3 && bounds[1] > bounds[2] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[1], bounds[2]
        ));
    }
    Ok(match item {
        Value::Str(s) => {
            let bytes = &s.as_bytes()[bounds[0]..bounds[1]];
            owned(String::from_utf8_lossy(bytes).into_owned())
        }
        Value::List(l) => Value::List(std::rc::Rc::new(l[bounds[0]..bounds[1]].to_vec())),
        _ => Value::Nil,
    })
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value<'_>) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::U8(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

fn int_of(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::U8(u) => *u as i64,
        _ => 0,
    }
}

/// Go's `eq`: true when the first argument equals any of the others.
fn builtin_eq(a: &Value<'_>, others: &[Value<'_>]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => int_of(a) == int_of(b),
                (Kind::Invalid, _) | (_, Kind::Invalid) => false,
                _ => return Err(BAD_COMPARISON.into()),
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Time(x), Value::Time(y)) => x == y,
                _ if k1 != Kind::Other => int_of(a) == int_of(b),
                _ => return Err(format!("non-comparable type {}", type_and_value(b))),
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn type_and_value(v: &Value<'_>) -> String {
    let mut out = String::new();
    gofmt::print_value(&mut out, v);
    let _ = write!(out, ": {}", v.type_name());
    out
}

fn builtin_lt(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if matches!(k1, Kind::Invalid | Kind::Other) || matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(int_of(a) < int_of(b)),
            _ => Err(BAD_COMPARISON.into()),
        };
    }
    match (a, b) {
        (Value::Bool(_), _) => Err(BAD_COMPARISON_TYPE.into()),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Ok(int_of(a) < int_of(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(x: &str) -> Value<'_> {
        Value::str(x)
    }

    fn show(v: FResult<'_>) -> String {
        match v {
            Ok(v) => {
                let mut out = String::new();
                gofmt::print_value(&mut out, &v);
                out
            }
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn sprig_numbers_cast_strings() {
        assert_eq!(
            show(call(Func::Add, vec![sv("42"), Value::Int(1)], None)),
            "43"
        );
        assert_eq!(
            show(call(Func::Div, vec![sv("55068"), Value::Int(1024)], None)),
            "53"
        );
        assert_eq!(
            show(call(Func::Div, vec![sv("1"), sv("0")], None)),
            "ERR runtime error: integer divide by zero"
        );
        assert_eq!(
            show(call(Func::Addf, vec![Value::Float(0.1), sv("0.2")], None)),
            "0.3"
        );
        assert_eq!(
            show(call(
                Func::Divf,
                vec![Value::Int(10), Value::Int(2), Value::Int(4)],
                None
            )),
            "1.25"
        );
        assert_eq!(
            show(call(
                Func::Max,
                vec![Value::Int(1), sv("7"), Value::Float(3.9)],
                None
            )),
            "7"
        );
        assert_eq!(
            show(call(
                Func::Round,
                vec![Value::Float(123.555555), Value::Int(3)],
                None
            )),
            "123.556"
        );
        assert_eq!(
            show(call(Func::Ceil, vec![Value::Float(123.001)], None)),
            "124"
        );
    }

    #[test]
    fn sprig_argument_order() {
        assert_eq!(
            show(call(
                Func::Replace,
                vec![sv("a"), sv("b"), sv("banana")],
                None
            )),
            "bbnbnb"
        );
        assert_eq!(
            show(call(
                Func::TrimPrefix,
                vec![sv("zigbee2mqtt/"), sv("zigbee2mqtt/hall")],
                None
            )),
            "hall"
        );
        assert_eq!(
            show(call(Func::TrimAll, vec![sv("$"), sv("$5.00$")], None)),
            "5.00"
        );
        assert_eq!(
            show(call(Func::Contains, vec![sv("he"), sv("hello")], None)),
            "true"
        );
        assert_eq!(show(call(Func::Default, vec![sv("-"), sv("")], None)), "-");
        assert_eq!(show(call(Func::Default, vec![sv("-"), sv("x")], None)), "x");
    }

    #[test]
    fn comparisons_follow_go_kinds() {
        assert_eq!(builtin_eq(&sv("a"), &[sv("b"), sv("a")]), Ok(true));
        assert_eq!(
            builtin_eq(&sv("7"), &[Value::Int(7)]),
            Err(BAD_COMPARISON.into())
        );
        assert_eq!(builtin_eq(&Value::Int(7), &[Value::Int64(7)]), Ok(true));
        assert_eq!(builtin_eq(&Value::Nil, &[sv("x")]), Ok(false));
        assert_eq!(builtin_lt(&sv("a"), &sv("b")), Ok(true));
        assert_eq!(
            builtin_lt(&Value::Int(1), &Value::Float(2.0)),
            Err(BAD_COMPARISON.into())
        );
        assert_eq!(
            builtin_lt(&Value::Bool(true), &Value::Bool(false)),
            Err(BAD_COMPARISON_TYPE.into())
        );
    }

    #[test]
    fn index_and_slice() {
        let list = Value::List(std::rc::Rc::new(vec![
            Value::Float(1.0),
            Value::Str(Cow::Owned("x".into())),
        ]));
        assert_eq!(
            show(call(Func::Index, vec![list.clone(), Value::Int(1)], None)),
            "x"
        );
        assert_eq!(
            show(call(Func::Index, vec![list, Value::Int(5)], None)),
            "ERR index out of range: 5"
        );
        assert_eq!(
            show(call(
                Func::Slice,
                vec![sv("hello"), Value::Int(1), Value::Int(3)],
                None
            )),
            "el"
        );
        assert_eq!(
            show(call(Func::Index, vec![sv("A"), Value::Int(0)], None)),
            "65"
        );
    }

    #[test]
    fn time_functions() {
        assert_eq!(
            show(call(Func::UnixToTime, vec![sv("1679577215")], None)),
            "2023-03-23 13:13:35 +0000 UTC"
        );
        assert_eq!(
            show(call(Func::UnixToTime, vec![sv("19373")], None)),
            "2023-01-16 00:00:00 +0000 UTC"
        );
        assert!(show(call(Func::UnixToTime, vec![sv("123")], None))
            .contains("unrecognized epoch length 3"));
        let t = call(
            Func::ToDateInZone,
            vec![sv("2006-01-02"), sv("UTC"), sv("2021-11-02")],
            None,
        )
        .unwrap();
        assert_eq!(
            show(call(Func::UnixEpoch, vec![t.clone()], None)),
            "1635811200"
        );
        assert_eq!(
            show(call(Func::Date, vec![sv("02/01/2006"), t], None)),
            "02/11/2021"
        );
        assert_eq!(
            show(call(Func::ToDate, vec![sv("2006"), sv("x")], None)),
            "0001-01-01 00:00:00 +0000 UTC"
        );
    }
}
