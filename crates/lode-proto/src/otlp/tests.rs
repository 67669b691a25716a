use super::wire::*;
use super::*;

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    })
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: s(v),
    }
}

fn request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
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
                scope: Some(InstrumentationScope {
                    name: "app.logger".into(),
                    version: "1.2".into(),
                    attributes: vec![],
                    dropped_attributes_count: 0,
                }),
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: s("payment failed"),
                    attributes: vec![
                        kv("http.method", "POST"),
                        KeyValue {
                            key: "ctx".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::KvlistValue(KeyValueList {
                                    values: vec![kv("user", "u1")],
                                })),
                            }),
                        },
                    ],
                    trace_id: vec![0xab; 16],
                    span_id: vec![0x01, 0x02, 0, 0, 0, 0, 0, 0xff],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn md<'a>(e: &'a Entry, k: &str) -> Option<&'a str> {
    e.structured_metadata
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
}

#[test]
fn maps_resource_attributes_like_loki() {
    let req = to_push_request(request(), 5);
    assert_eq!(req.streams.len(), 1);
    let st = &req.streams[0];
    assert_eq!(
        st.labels,
        vec![
            ("k8s_namespace_name".to_string(), "shop".to_string()),
            ("service_name".to_string(), "checkout".to_string()),
        ]
    );
    let e = &st.entries[0];
    assert_eq!(e.ts, 1_700_000_000_000_000_000);
    assert_eq!(e.line, "payment failed");
    assert_eq!(md(e, "host_name"), Some("node-1"));
    assert_eq!(md(e, "http_method"), Some("POST"));
    assert_eq!(md(e, "ctx_user"), Some("u1"));
    assert_eq!(md(e, "scope_name"), Some("app.logger"));
    assert_eq!(md(e, "severity_number"), Some("17"));
    assert_eq!(md(e, "severity_text"), Some("ERROR"));
    assert_eq!(md(e, "trace_id"), Some("abababababababababababababababab"));
    assert_eq!(md(e, "span_id"), Some("01020000000000ff"));
}

#[test]
fn unknown_service_and_time_fallbacks() {
    let mut r = request();
    r.resource_logs[0].resource = None;
    r.resource_logs[0].scope_logs[0].log_records[0].time_unix_nano = 0;
    let req = to_push_request(r.clone(), 42);
    assert_eq!(
        req.streams[0].labels,
        vec![("service_name".into(), "unknown_service".into())]
    );
    assert_eq!(req.streams[0].entries[0].ts, 42);
    r.resource_logs[0].scope_logs[0].log_records[0].observed_time_unix_nano = 7;
    assert_eq!(to_push_request(r, 42).streams[0].entries[0].ts, 7);
}

#[test]
fn protobuf_and_json_decode_to_the_same_request() {
    let pb = request().encode_to_vec();
    let from_pb = decode_protobuf_request(&pb).unwrap();
    let json = br#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}},
        {"key":"k8s.namespace.name","value":{"stringValue":"shop"}},
        {"key":"host.name","value":{"stringValue":"node-1"}}]},
      "scopeLogs":[{"scope":{"name":"app.logger","version":"1.2"},
        "logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":17,"severityText":"ERROR",
          "body":{"stringValue":"payment failed"},
          "attributes":[{"key":"http.method","value":{"stringValue":"POST"}},
                        {"key":"ctx","value":{"kvlistValue":{"values":[{"key":"user","value":{"stringValue":"u1"}}]}}}],
          "traceId":"abababababababababababababababab","spanId":"01020000000000ff"}]}]}]}"#;
    let from_json = decode_json_request(json).unwrap();
    assert_eq!(from_pb, from_json);
    assert_eq!(to_push_request(from_pb, 0), to_push_request(from_json, 0));
}

#[test]
fn non_string_values() {
    let v = |value| AnyValue { value: Some(value) };
    assert_eq!(
        values::any_to_string(&v(any_value::Value::IntValue(-3))),
        "-3"
    );
    assert_eq!(
        values::any_to_string(&v(any_value::Value::DoubleValue(1.5))),
        "1.5"
    );
    assert_eq!(
        values::any_to_string(&v(any_value::Value::BoolValue(true))),
        "true"
    );
    let arr = v(any_value::Value::ArrayValue(ArrayValue {
        values: vec![
            v(any_value::Value::IntValue(1)),
            v(any_value::Value::StringValue("a".into())),
        ],
    }));
    assert_eq!(values::any_to_string(&arr), r#"[1,"a"]"#);
    assert_eq!(values::normalize_label("1abc"), "key_1abc");
    assert_eq!(values::normalize_label("_x"), "key_x");
    assert_eq!(values::normalize_label("a.b-c"), "a_b_c");
}

#[test]
fn garbage_is_an_error() {
    assert!(decode_protobuf_request(b"\xff\xff\xff").is_err());
    assert!(decode_json_request(b"{\"resourceLogs\":3}").is_err());
    assert!(decode_json_request(b"not json").is_err());
}

/// Ids with multi-byte characters, odd lengths or non-hex digits are
/// errors (a 400), never a panic: a collector retries a 503 forever.
#[test]
fn bad_trace_and_span_ids_are_errors() {
    for id in ["é0", "0é", "aé", "€€", "abc", "zz", "+1", "０１"] {
        let body = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"1","body":{{"stringValue":"x"}},"traceId":"{id}"}}]}}]}}]}}"#
        );
        let e = decode_json_request(body.as_bytes()).expect_err(id);
        assert!(e.to_string().contains("traceId"), "{id}: {e}");
        let body = body.replace("traceId", "spanId");
        assert!(decode_json_request(body.as_bytes()).is_err(), "{id}");
    }
    let ok = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"stringValue":"x"},"traceId":"0aFf"}]}]}]}"#;
    let req = decode_json_request(ok.as_bytes()).unwrap();
    assert_eq!(
        req.resource_logs[0].scope_logs[0].log_records[0].trace_id,
        vec![0x0a, 0xff]
    );
}
