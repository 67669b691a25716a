//! End to end: `POST /otlp/v1/logs` as OTLP/HTTP protobuf and JSON (plain
//! and gzip) is queryable by its `service_name` label, with the default
//! resource attributes indexed and the rest as structured metadata.

mod common;

use common::{form_encode, gzip, now_ns, Server};
use lode_proto::otlp::wire::{
    any_value, AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Resource, ResourceLogs,
    ScopeLogs,
};
use prost::Message;
use serde_json::{json, Value};

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
    }
}

fn query(srv: &Server, q: &str, categorize: bool) -> Value {
    let end = (now_ns() + 1_000_000_000).to_string();
    let start = (now_ns() - 600_000_000_000).to_string();
    let h: Vec<(&str, &str)> = if categorize {
        vec![("X-Loki-Response-Encoding-Flags", "categorize-labels")]
    } else {
        vec![]
    };
    srv.get_json(
        "/loki/api/v1/query_range",
        &[
            ("query", q),
            ("start", &start),
            ("end", &end),
            ("limit", "100"),
        ],
        &h,
    )
}

fn lines(v: &Value) -> Vec<String> {
    common::flatten(v).into_iter().map(|(_, _, l)| l).collect()
}

#[test]
fn protobuf_push_is_queryable_by_service_name() {
    let srv = Server::start();
    let t = now_ns() as u64;
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("k8s.namespace.name", "shop"),
                    kv("host.name", "node-1"),
                ],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records: vec![LogRecord {
                    time_unix_nano: t,
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("payment failed".into())),
                    }),
                    attributes: vec![kv("http.method", "POST")],
                    trace_id: vec![0xab; 16],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let r = srv.request(
        "POST",
        "/otlp/v1/logs",
        &[("Content-Type", "application/x-protobuf")],
        &req.encode_to_vec(),
    );
    assert!(r.status / 100 == 2, "{} {}", r.status, r.text());

    let v = query(&srv, r#"{service_name="checkout"}"#, true);
    assert_eq!(lines(&v), vec!["payment failed"]);
    let s = &v["data"]["result"][0];
    assert_eq!(
        s["stream"],
        json!({"k8s_namespace_name": "shop", "service_name": "checkout"})
    );
    let md = &s["values"][0][2]["structuredMetadata"];
    assert_eq!(md["host_name"], "node-1");
    assert_eq!(md["http_method"], "POST");
    assert_eq!(md["severity_text"], "ERROR");
    assert_eq!(md["trace_id"], "abababababababababababababababab");
    assert_eq!(md["detected_level"], "error");
    let labels = srv.get_json("/loki/api/v1/labels", &[], &[]);
    assert!(
        labels["data"]
            .as_array()
            .unwrap()
            .contains(&json!("k8s_namespace_name")),
        "{labels}"
    );
}

#[test]
fn json_push_plain_and_gzip_is_queryable_by_service_name() {
    let srv = Server::start();
    let body = |line: &str| {
        json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}},
                                         {"key": "deployment.environment", "value": {"stringValue": "prod"}}]},
            "scopeLogs": [{"scope": {"name": "cart.logger"},
                "logRecords": [{"timeUnixNano": now_ns().to_string(), "severityText": "INFO",
                                 "body": {"stringValue": line},
                                 "attributes": [{"key": "user.id", "value": {"intValue": "42"}}]}]}]}]})
        .to_string()
    };
    let r = srv.request(
        "POST",
        "/otlp/v1/logs",
        &[("Content-Type", "application/json")],
        body("plain json").as_bytes(),
    );
    assert!(r.status / 100 == 2, "{} {}", r.status, r.text());
    let r = srv.request(
        "POST",
        "/otlp/v1/logs",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &gzip(body("gzipped json").as_bytes()),
    );
    assert!(r.status / 100 == 2, "{} {}", r.status, r.text());
    let v = query(
        &srv,
        r#"{service_name="cart", deployment_environment="prod"}"#,
        false,
    );
    let mut got = lines(&v);
    got.sort();
    assert_eq!(got, vec!["gzipped json", "plain json"]);
    let s = &v["data"]["result"][0]["stream"];
    assert_eq!(s["user_id"], "42");
    assert_eq!(s["scope_name"], "cart.logger");
    // Metadata is filterable like labels.
    let v = query(
        &srv,
        r#"{service_name="cart"} | user_id="42" |= "gzip""#,
        false,
    );
    assert_eq!(lines(&v), vec!["gzipped json"]);
    let vals = srv.get_json(
        &format!(
            "/loki/api/v1/label/service_name/values?{}",
            form_encode(&[])
        ),
        &[],
        &[],
    );
    assert_eq!(vals["data"], json!(["cart"]));
}

#[test]
fn otlp_errors() {
    let srv = Server::start();
    let r = srv.request(
        "POST",
        "/otlp/v1/logs",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    assert_eq!(r.status, 415, "{}", r.text());
    let r = srv.request(
        "POST",
        "/otlp/v1/logs",
        &[("Content-Type", "application/json")],
        b"{\"resourceLogs\": 5}",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["code"], 3);
    let r = srv.request(
        "POST",
        "/otlp/v1/logs",
        &[("Content-Type", "application/x-protobuf")],
        b"\xff\xff\xff",
    );
    assert_eq!(r.status, 400);
    // A protobuf google.rpc.Status: field 1 (code) = 3.
    assert_eq!(&r.body[..2], &[0x08, 0x03]);
}
