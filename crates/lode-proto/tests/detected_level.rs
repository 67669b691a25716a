//! `detect_level` against what Loki 3.7.6 actually stored: every entry of
//! the compat dataset that the public goldens return, with its stream
//! labels, structured metadata and line (see fixtures/extract_detected_level.py).

use lode_proto::detect_level;

fn pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

#[test]
fn agrees_with_loki_on_every_golden_entry() {
    let text = include_str!("fixtures/detected_level.jsonl");
    let mut total = 0;
    let mut wrong = Vec::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels = pairs(&row["labels"]);
        let sm = pairs(&row["structured_metadata"]);
        let log = row["line"].as_str().unwrap();
        let want = row["detected_level"].as_str().unwrap();
        let got = detect_level(&labels, &sm, log);
        total += 1;
        if got != want {
            wrong.push(format!("want {want} got {got}: {log:.160}"));
        }
    }
    assert!(total > 4000, "fixture too small: {total}");
    assert!(
        wrong.is_empty(),
        "{} of {total} disagree:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}
