//! OTLP/JSON (the protobuf JSON mapping with OTLP's exceptions: trace and
//! span ids are hex, enums are numbers) into the wire types. Field names
//! are accepted in lowerCamelCase and in the original snake_case, 64-bit
//! integers as JSON strings or numbers.

use super::wire::{
    any_value::Value as AV, AnyValue, ArrayValue, ExportLogsServiceRequest, InstrumentationScope,
    KeyValue, KeyValueList, LogRecord, Resource, ResourceLogs, ScopeLogs,
};
use crate::error::ProtoError;
use serde_json::{Map, Value};

type R<T> = Result<T, ProtoError>;

fn err(msg: impl Into<String>) -> ProtoError {
    ProtoError::Json(msg.into())
}

/// Field lookup under its camelCase or snake_case name.
fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn obj<'a>(v: &'a Value, what: &str) -> R<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| err(format!("{what}: expected an object")))
}

fn list<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> R<&'a [Value]> {
    match field(o, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(err(format!("{camel}: expected an array"))),
    }
}

fn string(o: &Map<String, Value>, camel: &str, snake: &str) -> R<String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(err(format!("{camel}: expected a string"))),
    }
}

fn u64_field(o: &Map<String, Value>, camel: &str, snake: &str) -> R<u64> {
    match field(o, camel, snake) {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| err(format!("{camel}: invalid integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| err(format!("{camel}: invalid integer {s:?}"))),
        Some(_) => Err(err(format!("{camel}: expected an integer"))),
    }
}

fn i64_value(v: &Value, what: &str) -> R<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| err(format!("{what}: invalid integer"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| err(format!("{what}: invalid integer {s:?}"))),
        _ => Err(err(format!("{what}: expected an integer"))),
    }
}

/// Hex digits to bytes, on bytes (never slicing the string: a multi-byte
/// character in an id must be an error, not a panic on a char boundary).
fn hex_bytes(s: &str, what: &str) -> R<Vec<u8>> {
    let nibble = |b: u8| (b as char).to_digit(16).filter(|_| b.is_ascii());
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(err(format!("{what}: invalid hex id")));
    }
    b.chunks_exact(2)
        .map(|p| match (nibble(p[0]), nibble(p[1])) {
            (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
            _ => Err(err(format!("{what}: invalid hex id"))),
        })
        .collect()
}

/// Protobuf's JSON mapping of `bytes`: standard or URL-safe base64, with or
/// without padding.
fn base64_decode(s: &str) -> R<Vec<u8>> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode};
    const CONFIG: base64::engine::GeneralPurposeConfig =
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    let engine = if s.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    base64::Engine::decode(engine, s).map_err(|_| err("bytesValue: invalid base64"))
}

fn any_value(v: &Value) -> R<AnyValue> {
    let o = obj(v, "value")?;
    let value = if let Some(s) = field(o, "stringValue", "string_value") {
        Some(AV::StringValue(
            s.as_str()
                .ok_or_else(|| err("stringValue: expected a string"))?
                .to_string(),
        ))
    } else if let Some(b) = field(o, "boolValue", "bool_value") {
        Some(AV::BoolValue(
            b.as_bool()
                .ok_or_else(|| err("boolValue: expected a boolean"))?,
        ))
    } else if let Some(i) = field(o, "intValue", "int_value") {
        Some(AV::IntValue(i64_value(i, "intValue")?))
    } else if let Some(d) = field(o, "doubleValue", "double_value") {
        let f = match d {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                s => s.parse().ok(),
            },
            _ => None,
        };
        Some(AV::DoubleValue(
            f.ok_or_else(|| err("doubleValue: expected a number"))?,
        ))
    } else if let Some(a) = field(o, "arrayValue", "array_value") {
        let values = list(obj(a, "arrayValue")?, "values", "values")?
            .iter()
            .map(any_value)
            .collect::<R<_>>()?;
        Some(AV::ArrayValue(ArrayValue { values }))
    } else if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
        let values = key_values(obj(kv, "kvlistValue")?, "values", "values")?;
        Some(AV::KvlistValue(KeyValueList { values }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        Some(AV::BytesValue(base64_decode(
            b.as_str()
                .ok_or_else(|| err("bytesValue: expected a string"))?,
        )?))
    } else {
        None
    };
    Ok(AnyValue { value })
}

fn key_values(o: &Map<String, Value>, camel: &str, snake: &str) -> R<Vec<KeyValue>> {
    list(o, camel, snake)?
        .iter()
        .map(|kv| {
            let kv = obj(kv, "attribute")?;
            Ok(KeyValue {
                key: string(kv, "key", "key")?,
                value: field(kv, "value", "value").map(any_value).transpose()?,
            })
        })
        .collect()
}

fn log_record(v: &Value) -> R<LogRecord> {
    let o = obj(v, "logRecord")?;
    let severity_number = match field(o, "severityNumber", "severity_number") {
        None => 0,
        Some(Value::String(s)) => severity_from_name(s),
        Some(v) => i32::try_from(i64_value(v, "severityNumber")?).unwrap_or(0),
    };
    Ok(LogRecord {
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: u64_field(o, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number,
        severity_text: string(o, "severityText", "severity_text")?,
        body: field(o, "body", "body").map(any_value).transpose()?,
        attributes: key_values(o, "attributes", "attributes")?,
        dropped_attributes_count: u32::try_from(u64_field(
            o,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?)
        .unwrap_or(u32::MAX),
        flags: u32::try_from(u64_field(o, "flags", "flags")?).unwrap_or(0),
        trace_id: hex_bytes(&string(o, "traceId", "trace_id")?, "traceId")?,
        span_id: hex_bytes(&string(o, "spanId", "span_id")?, "spanId")?,
        event_name: string(o, "eventName", "event_name")?,
    })
}

/// `SEVERITY_NUMBER_INFO2`-style enum names, as some encoders emit them.
fn severity_from_name(s: &str) -> i32 {
    const NAMES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let Some(rest) = s.strip_prefix("SEVERITY_NUMBER_") else {
        return s.parse().unwrap_or(0);
    };
    let split = rest
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (name, n) = rest.split_at(split);
    let Some(base) = NAMES.iter().position(|x| *x == name) else {
        return 0;
    };
    let offset: i32 = if n.is_empty() {
        1
    } else {
        n.parse().unwrap_or(1)
    };
    base as i32 * 4 + offset
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`.
pub fn decode_json_request(body: &[u8]) -> R<ExportLogsServiceRequest> {
    let v: Value = serde_json::from_slice(body).map_err(|e| err(e.to_string()))?;
    let o = obj(&v, "request")?;
    let mut resource_logs = Vec::new();
    for rl in list(o, "resourceLogs", "resource_logs")? {
        let rl = obj(rl, "resourceLogs")?;
        let resource = match field(rl, "resource", "resource") {
            Some(r) => {
                let r = obj(r, "resource")?;
                Some(Resource {
                    attributes: key_values(r, "attributes", "attributes")?,
                    dropped_attributes_count: 0,
                })
            }
            None => None,
        };
        let mut scope_logs = Vec::new();
        for sl in list(rl, "scopeLogs", "scope_logs")? {
            let sl = obj(sl, "scopeLogs")?;
            let scope = match field(sl, "scope", "scope") {
                Some(s) => {
                    let s = obj(s, "scope")?;
                    Some(InstrumentationScope {
                        name: string(s, "name", "name")?,
                        version: string(s, "version", "version")?,
                        attributes: key_values(s, "attributes", "attributes")?,
                        dropped_attributes_count: u32::try_from(u64_field(
                            s,
                            "droppedAttributesCount",
                            "dropped_attributes_count",
                        )?)
                        .unwrap_or(0),
                    })
                }
                None => None,
            };
            let log_records = list(sl, "logRecords", "log_records")?
                .iter()
                .map(log_record)
                .collect::<R<_>>()?;
            scope_logs.push(ScopeLogs {
                scope,
                log_records,
                schema_url: string(sl, "schemaUrl", "schema_url")?,
            });
        }
        resource_logs.push(ResourceLogs {
            resource,
            scope_logs,
            schema_url: string(rl, "schemaUrl", "schema_url")?,
        });
    }
    Ok(ExportLogsServiceRequest { resource_logs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_names() {
        assert_eq!(severity_from_name("SEVERITY_NUMBER_INFO"), 9);
        assert_eq!(severity_from_name("SEVERITY_NUMBER_ERROR3"), 19);
        assert_eq!(severity_from_name("17"), 17);
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert!(base64_decode("a!b=").is_err());
        assert_eq!(super::super::values::base64(b"hello"), "aGVsbG8=");
    }
}
