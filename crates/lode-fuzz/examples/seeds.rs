//! Writes the seed inputs of every fuzz target into `fuzz/seeds/<target>/`
//! (`cargo run -p lode-fuzz --example seeds`): valid inputs made with the
//! real encoders, so the fuzzer starts inside each format instead of at its
//! magic bytes. LogQL seeds are the queries of the conformance cases.

use flate2::write::{DeflateEncoder, GzEncoder};
use lode_proto::otlp::wire::*;
use lode_proto::wire::google::protobuf::Timestamp;
use lode_proto::wire::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use lode_proto::Entry;
use lode_storage::format::block::{encode_block, Compression};
use lode_storage::format::chunk_file::ChunkWriter;
use lode_storage::format::wal::encode_record;
use lode_storage::stored_labels::StoredLabels;
use prost::Message;
use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };

    let entries = vec![
        Entry {
            ts: 1_700_000_000_000_000_000,
            line: "level=info msg=\"started\" dur=12ms".into(),
            structured_metadata: vec![("trace_id".into(), "abc".into())],
        },
        Entry {
            ts: 1_700_000_001_000_000_000,
            line: r#"{"level":"error","status":502}"#.into(),
            structured_metadata: vec![],
        },
    ];

    // Loki protobuf push, snappy block format.
    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: br#"{app="api", namespace="prod"}"#.to_vec(),
            entries: entries
                .iter()
                .map(|e| EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: e.ts / 1_000_000_000,
                        nanos: (e.ts % 1_000_000_000) as i32,
                    }),
                    line: e.line.clone().into_bytes(),
                    structured_metadata: e
                        .structured_metadata
                        .iter()
                        .map(|(k, v)| LabelPairAdapter {
                            name: k.clone().into_bytes(),
                            value: v.clone().into_bytes(),
                        })
                        .collect(),
                    parsed: vec![],
                })
                .collect(),
            hash: 0,
        }],
        format: vec![],
    };
    let proto = req.encode_to_vec();
    put(
        "push_protobuf",
        "seed-1",
        &snap::raw::Encoder::new().compress_vec(&proto).unwrap(),
    );
    put(
        "push_protobuf",
        "seed-empty",
        &snap::raw::Encoder::new().compress_vec(&[]).unwrap(),
    );

    // JSON push: first byte selects the encoding (0 none, 1 gzip, 2 deflate).
    let json = br#"{"streams":[{"stream":{"app":"api","level":"warn"},"values":[["1700000000000000000","hello",{"trace_id":"t1"}],["1700000000000000001","world"]]}]}"#;
    let mut plain = vec![0u8];
    plain.extend_from_slice(json);
    put("push_json", "seed-plain", &plain);
    let mut gz = GzEncoder::new(vec![1u8], flate2::Compression::default());
    gz.write_all(json).unwrap();
    put("push_json", "seed-gzip", &gz.finish().unwrap());
    let mut df = DeflateEncoder::new(vec![2u8], flate2::Compression::default());
    df.write_all(json).unwrap();
    put("push_json", "seed-deflate", &df.finish().unwrap());

    // OTLP.
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
    };
    let otlp = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("k8s.namespace.name", "shop"),
                ],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "app".into(),
                    version: "1".into(),
                    attributes: vec![],
                    dropped_attributes_count: 0,
                }),
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("payment failed".into())),
                    }),
                    attributes: vec![kv("http.method", "POST")],
                    trace_id: vec![0xab; 16],
                    span_id: vec![1; 8],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    put("otlp_protobuf", "seed-1", &otlp.encode_to_vec());
    put(
        "otlp_json",
        "seed-1",
        br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"scopeLogs":[{"scope":{"name":"app"},"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,"body":{"stringValue":"ok"},"attributes":[{"key":"n","value":{"intValue":"3"}},{"key":"l","value":{"arrayValue":{"values":[{"boolValue":true},{"doubleValue":1.5}]}}}],"traceId":"0aff00000000000000000000000000ab","spanId":"0102030405060708"}]}]}]}"#,
    );

    for (i, l) in [
        r#"{app="api", namespace="prod"}"#,
        r#"{}"#,
        r#"{a="\"quoted\" \\ and \n newline", b="ünïcode"}"#,
        r#"{__name__="x",job="a/b"}"#,
    ]
    .iter()
    .enumerate()
    {
        put("labels", &format!("seed-{i}"), l.as_bytes());
    }

    let cases = root.join("../../../shared/compat/cases-public.jsonl");
    let text = std::fs::read_to_string(&cases).unwrap_or_default();
    let mut n = 0;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(q) = v.get("query").and_then(|q| q.as_str()) {
            put("logql", &format!("seed-{n:03}"), q.as_bytes());
            n += 1;
        }
    }
    for q in [
        r#"{app="api"} | json | line_format "{{ .status | repeat 3 }} {{ __line__ }}""#,
        r#"{app="api"} | logfmt | label_format d="{{ duration .dur }}" | unwrap bytes(bytes) | __error__="""#,
        r#"{app="api"} |~ "(?i)err(or)?\\b" | pattern "<ip> - - <_>" | decolorize"#,
    ] {
        put("logql", &format!("seed-{n:03}"), q.as_bytes());
        n += 1;
    }

    // WAL segment: two records.
    let labels = vec![("app".to_string(), "api".to_string())];
    let mut seg = Vec::new();
    encode_record(&mut seg, 1, "fake", 5, [(&labels[..], &entries[..])]);
    encode_record(&mut seg, 2, "t2", 6, [(&labels[..], &entries[..1])]);
    put("wal_segment", "seed-1", &seg);

    // Blocks in both compressions, and a chunk file holding them.
    let zstd = encode_block(&entries, Compression::Zstd(3)).unwrap();
    let none = encode_block(&entries, Compression::None).unwrap();
    put("block", "seed-zstd", &zstd);
    put("block", "seed-none", &none);
    let tmp: PathBuf = std::env::temp_dir().join("lode-fuzz-seed.lode");
    let mut w = ChunkWriter::create(&tmp).unwrap();
    let set = lode_logql::LabelSet::from_pairs(labels.clone());
    let s = w.stream(&StoredLabels::from_set(&set));
    for payload in [&zstd, &none] {
        w.add_block(s, payload, entries[0].ts, entries[1].ts, 2, 40)
            .unwrap();
    }
    let path = w.finish().unwrap();
    put("chunk_file", "seed-1", &std::fs::read(&path).unwrap());
    let _ = std::fs::remove_file(path);
    println!("seeds written under {}", root.display());
}
