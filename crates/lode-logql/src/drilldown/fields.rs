//! Field detection for `detected_fields` and `detected_field/<name>/values`:
//! value types as Loki infers them, a JSON walker that keeps each field's
//! path (`jsonPath`), and the per-field accumulator.

use std::collections::{BTreeMap, BTreeSet};

/// Field value types, in the order Loki tries them.
pub fn value_type(v: &str) -> &'static str {
    if v.parse::<i64>().is_ok() {
        "int"
    } else if is_go_float(v) {
        "float"
    } else if matches!(
        v,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    ) {
        "boolean"
    } else if lode_go::duration::parse(v).is_ok() {
        "duration"
    } else if lode_go::bytes::parse(v).is_ok() {
        "bytes"
    } else {
        "string"
    }
}

fn is_go_float(v: &str) -> bool {
    let t = v.trim_start_matches(['+', '-']);
    // Rust also accepts "infinity"/"nan" spellings Go accepts; both reject words.
    !t.is_empty()
        && (t.as_bytes()[0].is_ascii_digit()
            || t.starts_with('.')
            || t.eq_ignore_ascii_case("inf")
            || t.eq_ignore_ascii_case("infinity")
            || t.eq_ignore_ascii_case("nan"))
        && v.parse::<f64>().is_ok()
}

/// Flattens a JSON object line like `| json`: nested keys joined with `_`,
/// arrays skipped. Yields `(name, value, path)`. `None` if not an object.
pub fn json_fields(line: &str) -> Option<Vec<(String, String, Vec<String>)>> {
    let t = line.trim_start();
    if !t.starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(t).ok()?;
    let obj = v.as_object()?;
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(obj, &mut path, &mut out);
    Some(out)
}

fn walk(
    obj: &serde_json::Map<String, serde_json::Value>,
    path: &mut Vec<String>,
    out: &mut Vec<(String, String, Vec<String>)>,
) {
    for (k, v) in obj {
        path.push(k.clone());
        let value = match v {
            serde_json::Value::Object(o) => {
                walk(o, path, out);
                None
            }
            serde_json::Value::Array(_) | serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        if let Some(value) = value {
            // Each key sanitised as Loki's `json` parser does it, joined with `_`.
            let mut name = String::new();
            for (i, seg) in path.iter().enumerate() {
                if i > 0 {
                    name.push('_');
                }
                crate::pipeline::sanitize_segment(seg, &mut name, i == 0);
            }
            out.push((name, value, path.clone()));
        }
        path.pop();
    }
}

/// What is known about one field over the sample.
#[derive(Debug, Default)]
pub struct FieldInfo {
    pub ty: Option<&'static str>,
    pub values: BTreeSet<String>,
    /// `None` for structured metadata.
    pub parsers: Option<BTreeSet<&'static str>>,
    pub json_path: Option<Vec<String>>,
}

/// Accumulates fields over sampled entries.
#[derive(Debug, Default)]
pub struct Fields(pub BTreeMap<String, FieldInfo>);

impl Fields {
    pub fn add(
        &mut self,
        name: &str,
        value: &str,
        parser: Option<&'static str>,
        json_path: Option<&[String]>,
    ) {
        if name.starts_with("__") && name.ends_with("__") {
            return;
        }
        let f = self.0.entry(name.to_string()).or_default();
        if f.ty.is_none() {
            f.ty = Some(value_type(value));
        }
        if !f.values.contains(value) {
            f.values.insert(value.to_string());
        }
        if let Some(p) = parser {
            f.parsers.get_or_insert_with(BTreeSet::new).insert(p);
        }
        if f.json_path.is_none() {
            f.json_path = json_path.map(<[String]>::to_vec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_in_loki_order() {
        assert_eq!(value_type("42"), "int");
        assert_eq!(value_type("-7"), "int");
        assert_eq!(value_type("4.5"), "float");
        assert_eq!(value_type("true"), "boolean");
        assert_eq!(value_type("150ms"), "duration");
        assert_eq!(value_type("1h30m"), "duration");
        assert_eq!(value_type("10MB"), "bytes");
        assert_eq!(value_type("1.5 KiB"), "bytes");
        assert_eq!(value_type("GET"), "string");
        assert_eq!(value_type("ms"), "string");
        assert_eq!(value_type(""), "string");
    }

    #[test]
    fn json_paths() {
        let f = json_fields(r#"{"a":{"b":1,"c":"x"},"arr":[1],"n":null,"d-e":true}"#).unwrap();
        let names: Vec<_> = f
            .iter()
            .map(|(n, v, p)| (n.as_str(), v.as_str(), p.join(".")))
            .collect();
        assert!(names.contains(&("a_b", "1", "a.b".into())));
        assert!(names.contains(&("a_c", "x", "a.c".into())));
        assert!(names.contains(&("d_e", "true", "d-e".into())));
        assert_eq!(names.len(), 3);
        assert!(json_fields("level=info").is_none());
    }

    #[test]
    fn accumulates_cardinality_and_parsers() {
        let mut f = Fields::default();
        f.add("status", "200", Some("logfmt"), None);
        f.add("status", "500", Some("json"), Some(&["status".to_string()]));
        f.add("status", "200", Some("json"), None);
        f.add("trace_id", "abc", None, None);
        f.add("__error__", "x", Some("json"), None);
        let s = &f.0["status"];
        assert_eq!(s.values.len(), 2);
        assert_eq!(s.ty, Some("int"));
        assert_eq!(s.parsers.as_ref().unwrap().len(), 2);
        assert!(f.0["trace_id"].parsers.is_none());
        assert!(!f.0.contains_key("__error__"));
    }
}
