//! Ingest hot path throughput (lines/s): protobuf+snappy and JSON decoding
//! of a generated 10k-line batch, and enrichment of the decoded streams.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lode_proto::wire::google::protobuf::Timestamp;
use lode_proto::wire::logproto;
use prost::Message;

const STREAMS: usize = 50;
const PER_STREAM: usize = 200;

fn line(s: usize, i: usize) -> String {
    match i % 3 {
        0 => format!("ts=2024-01-01T00:00:{:02}Z caller=head.go:{i} level=info component=tsdb msg=\"Head GC completed\" duration={s}.{i}ms", i % 60),
        1 => format!("{{\"level\":\"warn\",\"msg\":\"request completed\",\"stream\":{s},\"i\":{i},\"path\":\"/api/v1/query\"}}"),
        _ => format!("10.42.0.{s} - - [01/Jan/2024:00:00:00 +0000] \"GET /api/{i} HTTP/1.1\" 200 {i} \"-\" \"curl/8.4.0\""),
    }
}

fn batch() -> logproto::PushRequest {
    logproto::PushRequest {
        streams: (0..STREAMS)
            .map(|s| logproto::StreamAdapter {
                labels: format!("{{app=\"app-{s}\", job=\"ns/app-{s}\", namespace=\"ns\", node=\"k3s-worker-01\"}}").into_bytes(),
                entries: (0..PER_STREAM)
                    .map(|i| logproto::EntryAdapter {
                        timestamp: Some(Timestamp { seconds: 1_700_000_000 + i as i64, nanos: s as i32 }),
                        line: line(s, i).into_bytes(),
                        structured_metadata: vec![],
                        parsed: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: vec![],
    }
}

fn json_body(req: &logproto::PushRequest) -> Vec<u8> {
    let streams: Vec<serde_json::Value> = req
        .streams
        .iter()
        .enumerate()
        .map(|(s, st)| {
            let values: Vec<serde_json::Value> = st
                .entries
                .iter()
                .map(|e| {
                    let ts = e.timestamp.unwrap();
                    serde_json::json!([(ts.seconds * 1_000_000_000 + i64::from(ts.nanos)).to_string(), String::from_utf8_lossy(&e.line)])
                })
                .collect();
            serde_json::json!({"stream": {"app": format!("app-{s}"), "job": format!("ns/app-{s}"), "namespace": "ns"}, "values": values})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap()
}

fn bench(c: &mut Criterion) {
    let req = batch();
    let lines = (STREAMS * PER_STREAM) as u64;
    let proto = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap();
    let json = json_body(&req);

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(lines));
    g.bench_function("protobuf_snappy", |b| {
        b.iter(|| lode_proto::decode_protobuf(black_box(&proto)).unwrap())
    });
    g.bench_function("json", |b| {
        b.iter(|| lode_proto::decode_json(black_box(&json)).unwrap())
    });
    let decoded = lode_proto::decode_protobuf(&proto).unwrap();
    g.bench_function("enrich", |b| {
        b.iter_batched(
            || decoded.clone(),
            |mut r| {
                for s in &mut r.streams {
                    lode_proto::enrich(s);
                }
                r
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
