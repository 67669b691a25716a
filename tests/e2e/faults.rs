//! Disk faults against the real binary, each asserting exactly which data
//! survives: a truncated chunk file, a flipped byte in an early WAL record,
//! a damaged block, a missing manifest, and a second process on the same
//! data directory.

mod common;

use common::{base_ts, flatten, walk, Entry, PushStream, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn lines(s: &Server, sel: &str, start: i64, end: i64) -> Vec<String> {
    let v = s.query_logs(None, sel, start, end, 5000, "forward");
    flatten(&v).into_iter().map(|(_, _, l)| l).collect()
}

fn metric(s: &Server, name: &str) -> f64 {
    let text = s.get("/metrics").text();
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// Starts another `lode` on `data_dir`, which must fail; its stderr.
fn start_failing(data_dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lode"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .expect("run lode");
    assert!(
        !out.status.success(),
        "lode started on {}",
        data_dir.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn push_lines(s: &Server, labels: &str, t0: i64, n: usize, tag: &str) {
    let entries = (0..n)
        .map(|i| Entry::new(t0 + i as i64 * 1_000_000, format!("{tag} line {i}")))
        .collect();
    let r = s.push_proto(None, &[PushStream::new(labels, entries)]);
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn a_truncated_chunk_file_is_quarantined_and_the_other_files_keep_serving() {
    let mut s = Server::start();
    let t0 = base_ts(Duration::from_secs(600));
    push_lines(&s, r#"{app="a"}"#, t0, 50, "a");
    s.flush();
    push_lines(&s, r#"{app="b"}"#, t0, 50, "b");
    s.flush();
    s.stop();
    let chunks = files_with_ext(&s.data_dir.join("tenants"), "chunk");
    assert_eq!(chunks.len(), 2, "{chunks:?}");
    // The first flush's file (stream a) loses its last 40 bytes.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&chunks[0])
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 40).unwrap();
    drop(f);
    s.spawn();
    let end = t0 + 1_000_000_000;
    assert_eq!(
        lines(&s, r#"{app="b"}"#, t0, end).len(),
        50,
        "the intact file"
    );
    assert!(lines(&s, r#"{app="a"}"#, t0, end).is_empty());
    assert_eq!(metric(&s, "lode_unreadable_chunk_files_total"), 1.0);
    let kept = files_with_ext(&s.data_dir.join("quarantine"), "chunk");
    assert_eq!(kept.len(), 1, "the damaged file is kept aside, not deleted");
    assert_eq!(std::fs::metadata(&kept[0]).unwrap().len(), len - 40);
    // And it stays out: a second restart neither trips on it nor loses b.
    s.stop();
    s.spawn();
    assert_eq!(lines(&s, r#"{app="b"}"#, t0, end).len(), 50);
}

#[test]
fn a_flipped_byte_in_an_early_wal_record_loses_only_that_record() {
    let mut s = Server::start_with_config(Some("storage:\n  flush_interval: 1h\n"));
    let t0 = base_ts(Duration::from_secs(600));
    for i in 0..10 {
        push_lines(
            &s,
            r#"{app="w"}"#,
            t0 + i * 1_000_000_000,
            1,
            &format!("push{i}"),
        );
    }
    s.kill();
    let segs = files_with_ext(&s.data_dir.join("wal"), "wal");
    let seg = segs.last().expect("a WAL segment").clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let first = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    // Inside the second record's payload, past its sequence number.
    let at = 8 + first + 8 + 12;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    s.spawn();
    let got = lines(&s, r#"{app="w"}"#, t0, t0 + 20_000_000_000);
    assert_eq!(got.len(), 9, "{got:?}");
    assert!(!got.iter().any(|l| l.starts_with("push1 ")), "{got:?}");
    assert!(
        got.iter().any(|l| l.starts_with("push9 ")),
        "records after the damage replayed"
    );
    assert_eq!(metric(&s, "lode_wal_corrupt_records_total"), 1.0);
}

#[test]
fn a_damaged_block_is_quarantined_and_the_stream_keeps_answering() {
    let mut s = Server::start_with_config(Some(
        "storage:\n  block_target_bytes: 2KiB\ncompactor:\n  compaction_interval: 1s\n",
    ));
    let t0 = base_ts(Duration::from_secs(600));
    for k in 0..4 {
        push_lines(
            &s,
            r#"{app="d"}"#,
            t0 + k * 100_000_000,
            100,
            &format!("batch{k}"),
        );
    }
    s.flush();
    s.stop();
    let chunk = files_with_ext(&s.data_dir.join("tenants"), "chunk")[0].clone();
    let mut bytes = std::fs::read(&chunk).unwrap();
    // Just past the 8-byte magic: inside the first block.
    bytes[20] ^= 0xff;
    std::fs::write(&chunk, &bytes).unwrap();
    s.spawn();
    let got = lines(&s, r#"{app="d"}"#, t0, t0 + 1_000_000_000);
    assert!(
        got.len() < 400 && got.len() > 200,
        "{} lines served",
        got.len()
    );
    assert!(metric(&s, "lode_damaged_blocks_total") >= 1.0);
    // A second small file of the same day: the compactor merges the two,
    // leaving the damaged block out and keeping its bytes.
    push_lines(&s, r#"{app="d"}"#, t0 + 500_000_000, 100, "batch4");
    s.flush();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let kept: Vec<_> = walk(&s.data_dir.join("quarantine"))
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("-block-"))
            .collect();
        if !kept.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no block quarantined by the compactor"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        lines(&s, r#"{app="d"}"#, t0, t0 + 1_000_000_000).len(),
        got.len() + 100,
        "after compaction: what was served, plus the new file"
    );
}

#[test]
fn a_missing_manifest_refuses_start_and_deletes_nothing() {
    let mut s = Server::start();
    let t0 = base_ts(Duration::from_secs(600));
    push_lines(&s, r#"{app="m"}"#, t0, 10, "m");
    s.flush();
    s.stop();
    std::fs::remove_file(s.data_dir.join("MANIFEST.json")).unwrap();
    let before = files_with_ext(&s.data_dir.join("tenants"), "chunk");
    assert!(!before.is_empty());
    let err = start_failing(&s.data_dir);
    assert!(err.contains("MANIFEST.json"), "{err}");
    assert_eq!(files_with_ext(&s.data_dir.join("tenants"), "chunk"), before);
}

#[test]
fn a_second_process_on_the_same_data_dir_refuses_to_start() {
    let s = Server::start();
    let err = start_failing(&s.data_dir);
    assert!(err.contains("in use by another lode process"), "{err}");
    assert_eq!(s.get("/ready").status, 200, "the first keeps serving");
}
