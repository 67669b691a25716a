//! OTLP/HTTP logs ingestion (`POST /otlp/v1/logs`), mapped the way Loki 3.x
//! does with its default `otlp_config`: resource attributes in a fixed list
//! become stream labels (`.` → `_`), every other resource, scope and log
//! attribute becomes structured metadata, and a stream without
//! `service.name` gets `service_name="unknown_service"`.

mod json;
mod values;

use crate::enrich::{SERVICE_NAME, UNKNOWN_SERVICE};
use crate::error::ProtoError;
use crate::{Entry, PushRequest, PushStream};
use prost::Message;
use std::collections::BTreeMap;

pub use json::decode_json_request;
use values::{any_to_string, flatten_attributes, hex, normalize_label};

/// Generated OTLP wire types (see `proto/otlp_logs.proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/otlp.rs"));
}

/// Resource attributes Loki indexes as stream labels by default.
pub const DEFAULT_INDEX_ATTRIBUTES: [&str; 18] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// Decodes a protobuf `ExportLogsServiceRequest` (already decompressed).
pub fn decode_protobuf_request(body: &[u8]) -> Result<wire::ExportLogsServiceRequest, ProtoError> {
    wire::ExportLogsServiceRequest::decode(body).map_err(|e| ProtoError::Protobuf(e.to_string()))
}

/// The `google.rpc.Status` body OTLP clients expect with an error status.
pub fn status_body(code: i32, message: &str) -> Vec<u8> {
    wire::Status {
        code,
        message: message.to_string(),
    }
    .encode_to_vec()
}

/// Maps an export request onto push streams. `now_ns` stamps records that
/// carry neither a time nor an observed time.
pub fn to_push_request(req: wire::ExportLogsServiceRequest, now_ns: i64) -> PushRequest {
    let mut streams: BTreeMap<Vec<(String, String)>, Vec<Entry>> = BTreeMap::new();
    for rl in req.resource_logs {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut resource_md: Vec<(String, String)> = Vec::new();
        if let Some(res) = &rl.resource {
            for kv in &res.attributes {
                let Some(v) = &kv.value else { continue };
                if DEFAULT_INDEX_ATTRIBUTES.contains(&kv.key.as_str()) {
                    let value = any_to_string(v);
                    if !value.is_empty() {
                        labels.insert(normalize_label(&kv.key), value);
                    }
                } else {
                    flatten_attributes(&kv.key, v, &mut resource_md);
                }
            }
        }
        labels
            .entry(SERVICE_NAME.to_string())
            .or_insert_with(|| UNKNOWN_SERVICE.to_string());
        let key: Vec<(String, String)> = labels.into_iter().collect();
        let entries = streams.entry(key).or_default();
        for sl in rl.scope_logs {
            let mut scope_md = resource_md.clone();
            if let Some(scope) = &sl.scope {
                for kv in &scope.attributes {
                    if let Some(v) = &kv.value {
                        flatten_attributes(&kv.key, v, &mut scope_md);
                    }
                }
                if !scope.name.is_empty() {
                    scope_md.push(("scope_name".into(), scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    scope_md.push(("scope_version".into(), scope.version.clone()));
                }
                if scope.dropped_attributes_count != 0 {
                    scope_md.push((
                        "scope_dropped_attributes_count".into(),
                        scope.dropped_attributes_count.to_string(),
                    ));
                }
            }
            for rec in sl.log_records {
                entries.push(record_entry(rec, &scope_md, now_ns));
            }
        }
    }
    PushRequest {
        streams: streams
            .into_iter()
            .filter(|(_, e)| !e.is_empty())
            .map(|(labels, entries)| PushStream { labels, entries })
            .collect(),
    }
}

fn record_entry(rec: wire::LogRecord, inherited: &[(String, String)], now_ns: i64) -> Entry {
    let ts = [rec.time_unix_nano, rec.observed_time_unix_nano]
        .into_iter()
        .find(|&t| t != 0)
        .map_or(now_ns, |t| i64::try_from(t).unwrap_or(i64::MAX));
    let mut md = inherited.to_vec();
    for kv in &rec.attributes {
        if let Some(v) = &kv.value {
            flatten_attributes(&kv.key, v, &mut md);
        }
    }
    if rec.severity_number != 0 {
        md.push(("severity_number".into(), rec.severity_number.to_string()));
    }
    if !rec.severity_text.is_empty() {
        md.push(("severity_text".into(), rec.severity_text.clone()));
    }
    if rec.observed_time_unix_nano != 0 {
        md.push((
            "observed_timestamp".into(),
            rec.observed_time_unix_nano.to_string(),
        ));
    }
    if rec.dropped_attributes_count != 0 {
        md.push((
            "dropped_attributes_count".into(),
            rec.dropped_attributes_count.to_string(),
        ));
    }
    if rec.flags != 0 {
        md.push(("flags".into(), rec.flags.to_string()));
    }
    if !rec.trace_id.is_empty() {
        md.push(("trace_id".into(), hex(&rec.trace_id)));
    }
    if !rec.span_id.is_empty() {
        md.push(("span_id".into(), hex(&rec.span_id)));
    }
    if !rec.event_name.is_empty() {
        md.push(("event_name".into(), rec.event_name.clone()));
    }
    md.retain(|(_, v)| !v.is_empty());
    Entry {
        ts,
        line: rec.body.as_ref().map(any_to_string).unwrap_or_default(),
        structured_metadata: md,
    }
}

#[cfg(test)]
mod tests;
