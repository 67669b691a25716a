//! OTLP attribute values as Loki renders them into label and metadata
//! strings, and attribute-name normalisation.

use super::wire::{any_value::Value, AnyValue};

/// Prometheus-style label normalisation (OTel translator rules): invalid
/// characters become `_`, a leading digit gets `key_`, a single leading
/// underscore gets `key`.
pub fn normalize_label(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{s}")
    } else if s.starts_with('_') && !s.starts_with("__") {
        format!("key{s}")
    } else {
        s
    }
}

pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[usize::from(x >> 4)] as char);
        s.push(D[usize::from(x & 15)] as char);
    }
    s
}

/// Bytes as Loki prints an OTLP bytes value: standard base64, padded.
pub fn base64(b: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)
}

/// A value as text: strings as they are, numbers and booleans printed,
/// bytes base64, arrays and maps as JSON.
pub fn any_to_string(v: &AnyValue) -> String {
    match &v.value {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_double(*d),
        Some(Value::BytesValue(b)) => base64(b),
        Some(_) => to_json(v).to_string(),
    }
}

fn format_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        d.to_string()
    }
}

fn to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Some(Value::BytesValue(b)) => J::String(base64(b)),
        Some(Value::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        Some(Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|p| (p.key.clone(), p.value.as_ref().map_or(J::Null, to_json)))
                .collect(),
        ),
    }
}

/// Appends an attribute as structured metadata; maps are flattened into
/// `parent_child` names.
pub fn flatten_attributes(key: &str, v: &AnyValue, out: &mut Vec<(String, String)>) {
    match &v.value {
        Some(Value::KvlistValue(kv)) => {
            for p in &kv.values {
                if let Some(inner) = &p.value {
                    flatten_attributes(&format!("{key}_{}", p.key), inner, out);
                }
            }
        }
        _ => {
            let s = any_to_string(v);
            if !s.is_empty() {
                out.push((normalize_label(key), s));
            }
        }
    }
}
