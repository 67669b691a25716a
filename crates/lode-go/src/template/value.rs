//! Dynamically typed template values, tagged with the Go type they stand
//! for (`int` and `int64` differ in Go templates: a function that takes an
//! `int` rejects an `int64`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::time::GoTime;

#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    /// Go's invalid value / nil interface.
    Nil,
    Str(Cow<'a, str>),
    /// Go `int`.
    Int(i64),
    /// Go `int64`.
    Int64(i64),
    /// Go `uint8` (indexing a string yields a byte).
    U8(u8),
    Float(f64),
    Bool(bool),
    Time(Box<GoTime>),
    /// The template's data before it is needed as a whole: the entry's
    /// labels (`map[string]string`), read one by one through the context.
    Labels,
    /// A materialised `map[string]string`, sorted by key.
    StrMap(Rc<Vec<(String, String)>>),
    /// `map[string]interface {}` (from `fromJson`).
    Map(Rc<BTreeMap<String, Value<'static>>>),
    /// `[]interface {}` (from `fromJson`).
    List(Rc<Vec<Value<'static>>>),
}

impl<'a> Value<'a> {
    pub fn str(s: &'a str) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    pub fn string(s: String) -> Value<'a> {
        Value::Str(Cow::Owned(s))
    }

    /// The Go type name `%T` and error messages show.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::U8(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Time(_) => "time.Time",
            Value::Labels | Value::StrMap(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
        }
    }

    /// Go's `template.IsTrue`.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::U8(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bool(b) => *b,
            Value::Time(_) => true,
            // Callers materialise `Labels` first when it matters; a
            // template's data is a non-empty map in practice.
            Value::Labels => true,
            Value::StrMap(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// Converts a decoded JSON document the way `encoding/json` fills an
    /// `interface{}`: numbers become float64.
    pub fn from_json(v: &serde_json::Value) -> Value<'static> {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::Str(Cow::Owned(s.clone())),
            serde_json::Value::Array(a) => {
                Value::List(Rc::new(a.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(o) => Value::Map(Rc::new(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            )),
        }
    }
}
