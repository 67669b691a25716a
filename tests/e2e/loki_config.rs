//! A Loki config file just loads: Loki's own single-binary examples and a
//! homelab Loki config (`tests/fixtures/loki-configs/`) pass
//! `--check-config`, start Lode with `-config.file=`, and their settings
//! that mean something in Lode are in force: the listen port,
//! `common.path_prefix` as the data directory, `limits_config`. What only
//! Loki's internals use is named in one warning; a typo is still an error.

mod common;

use common::http;

const T: Duration = Duration::from_secs(30);
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/loki-configs")
        .join(name)
}

fn lode(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lode"));
    c.current_dir(dir)
        .env_remove("LODE_CONFIG")
        .env_remove("LODE_LISTEN")
        .env_remove("LODE_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// The fixture as a user has it, with its port and `/tmp/loki` moved to a
/// free port and a temporary directory.
fn localized(name: &str, dir: &Path, port: u16) -> PathBuf {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    let text = text
        .replace(
            "http_listen_port: 3100",
            &format!("http_listen_port: {port}"),
        )
        .replace("/tmp/loki", &dir.join("loki").display().to_string());
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

struct Running {
    child: Child,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, dir: &Path, port: u16) -> Running {
    let log = dir.join("lode.log");
    let out = std::fs::File::create(&log).expect("log");
    let child = lode(dir)
        .arg(format!("-config.file={}", config.display()))
        .stdout(out.try_clone().expect("clone"))
        .stderr(out)
        .spawn()
        .expect("spawn lode");
    let mut r = Running { child, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(resp) = http(port, "GET", "/ready", &[], b"", T) {
            if resp.status == 200 {
                return r;
            }
        }
        if let Ok(Some(st)) = r.child.try_wait() {
            panic!(
                "lode exited ({st}): {}",
                std::fs::read_to_string(&r.log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "lode not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn check_config(path: &Path) -> (bool, String) {
    let out = lode(path.parent().expect("dir"))
        .arg("--check-config")
        .arg(path)
        .output()
        .expect("run lode");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn lokis_own_examples_load_and_serve() {
    for (name, ignored) in [
        (
            "loki-local-config.yaml",
            &[
                "server.grpc_listen_port",
                "common.ring",
                "schema_config",
                "query_range",
                "pattern_ingester",
            ][..],
        ),
        (
            "docs-local-example.yaml",
            &["common.ring", "schema_config", "storage_config"][..],
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let cfg = localized(name, dir.path(), port);
        let (ok, text) = check_config(&cfg);
        assert!(ok, "{name}: {text}");
        assert!(text.contains("config OK"), "{name}: {text}");
        let warning = text
            .lines()
            .find(|l| l.starts_with("ignored Loki settings"))
            .unwrap_or_else(|| panic!("{name}: no warning in {text}"));
        for key in ignored {
            assert!(
                warning.contains(key),
                "{name}: {key} not named in {warning}"
            );
        }
        let s = start(&cfg, dir.path(), port);
        // `common.path_prefix` is the data directory.
        assert!(
            dir.path().join("loki").join("VERSION").exists(),
            "{name}: data not under path_prefix"
        );
        let log = std::fs::read_to_string(&s.log).unwrap_or_default();
        assert_eq!(
            log.matches("ignored Loki settings").count(),
            1,
            "{name}: one startup warning: {log}"
        );
        let r = http(port, "GET", "/loki/api/v1/labels", &[], b"", T).expect("labels");
        assert_eq!(r.status, 200, "{name}");
    }
}

#[test]
fn a_homelab_loki_config_serves_with_its_limits_in_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = localized("homelab-loki.yaml", dir.path(), port);
    let (ok, text) = check_config(&cfg);
    assert!(ok, "{text}");
    for key in [
        "memberlist",
        "compactor.working_directory",
        "ingester.wal",
        "limits_config.split_queries_by_interval",
        "querier.max_concurrent",
        "analytics",
    ] {
        assert!(text.contains(key), "{key} not named: {text}");
    }
    let _s = start(&cfg, dir.path(), port);
    let now = common::now_ns();
    let q = |extra: &str| {
        format!(
            "/loki/api/v1/query_range?{}{extra}",
            common::form_encode(&[("query", r#"{app="a"}"#)])
        )
    };
    // limits_config.max_entries_limit_per_query: 100.
    let r = http(
        port,
        "GET",
        &q(&format!(
            "&limit=101&start={}&end={now}",
            now - 60_000_000_000
        )),
        &[],
        b"",
        T,
    )
    .expect("query");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("(101 > 100)"), "{}", r.text());
    // limits_config.max_query_length: 2h.
    let r = http(
        port,
        "GET",
        &q(&format!(
            "&start={}&end={now}",
            now - 3 * 3600 * 1_000_000_000
        )),
        &[],
        b"",
        T,
    )
    .expect("query");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("limit: 2h"), "{}", r.text());
    // The effective config shows the file's limits.
    let r = http(port, "GET", "/config", &[], b"", T).expect("config");
    let text = r.text();
    assert!(text.contains("max_entries_limit_per_query: 100"), "{text}");
    assert!(text.contains("retention_period: 30d"), "{text}");
}

#[test]
fn a_key_in_neither_loki_nor_lode_is_still_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = localized("homelab-loki.yaml", dir.path(), free_port());
    let text = std::fs::read_to_string(&cfg).expect("read");
    std::fs::write(
        &cfg,
        text.replace("max_query_series: 50", "max_query_seires: 50"),
    )
    .expect("write");
    let (ok, text) = check_config(&cfg);
    assert!(!ok, "{text}");
    assert!(text.contains("limits_config.max_query_seires"), "{text}");
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "server:\n  grcp_listen_port: 9095\n").expect("write");
    let (ok, text) = check_config(&typo);
    assert!(!ok && text.contains("server.grcp_listen_port"), "{text}");
}
