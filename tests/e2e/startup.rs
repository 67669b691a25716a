//! The first five minutes: what `lode` says when it starts, with defaults
//! and with a config file, Loki's command-line flags, and start-up errors
//! that name the address, path or key they are about.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn lode(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lode"));
    c.args(args)
        .current_dir(dir)
        .env_remove("LODE_CONFIG")
        .env_remove("LODE_LISTEN")
        .env_remove("LODE_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

/// Starts `lode`, waits for `/ready`, stops it with SIGTERM and returns
/// what it wrote to stderr.
fn run_until_ready(mut cmd: Command, port: u16) -> String {
    let log = tempfile::NamedTempFile::new().expect("log file");
    cmd.stdout(Stdio::null())
        .stderr(log.reopen().expect("reopen log"));
    let mut child: Child = cmd.spawn().expect("spawn lode");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(port) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "lode exited ({st}) before it was ready:\n{}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "lode not ready in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    std::fs::read_to_string(log.path()).expect("read log")
}

/// Runs `lode` expecting it to fail at start; returns (exit code, stderr).
fn run_failing(mut cmd: Command) -> (i32, String) {
    let out = cmd.stdout(Stdio::null()).output().expect("run lode");
    assert!(!out.status.success(), "lode should have refused to start");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_has(line: &str, want: &str) {
    assert!(line.contains(want), "{want:?} missing from {line}");
}

/// The first log line containing `what`, without the quotes the log
/// format puts around some values.
fn line_with(log: &str, what: &str) -> String {
    log.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?} in:\n{log}"))
        .replace('"', "")
}

#[test]
fn start_up_lines_say_how_lode_is_set_up() {
    // Embedded defaults: ./data in the working directory, no config file.
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = run_until_ready(
        lode(
            dir.path(),
            &[&format!("-server.http-listen-port={port}"), "-target=all"],
        ),
        port,
    );
    let start = line_with(&log, "Starting Lode");
    assert!(
        start.contains(&format!("version={}", env!("CARGO_PKG_VERSION"))),
        "{start}"
    );
    let setup = line_with(&log, "configuration");
    for want in [
        "config=none (embedded defaults)".to_string(),
        "data_dir=./data".into(),
        format!("listen=0.0.0.0:{port}"),
        "auth=disabled".into(),
        "retention=30d".into(),
        "max_query_length=12h".into(),
        "max_streams_per_user=10000".into(),
        "max_entries_limit_per_query=5000".into(),
    ] {
        assert_has(&setup, &want);
    }
    assert!(
        dir.path().join("data").join("MANIFEST.json").exists()
            || dir.path().join("data").join("VERSION").exists()
    );

    // A config file with environment variables, Loki's flags on top.
    let port = free_port();
    let cfg = dir.path().join("loki-like.yaml");
    std::fs::write(
        &cfg,
        "auth_enabled: true\nserver:\n  http_listen_port: ${LODE_TEST_PORT}\nstorage:\n  data_dir: ${LODE_TEST_UNSET:-./from-default}\nlimits_config:\n  retention_period: 168h\n  max_query_length: 24h\n  max_streams_per_user: 500\n",
    )
    .expect("write config");
    let mut cmd = lode(
        dir.path(),
        &[
            &format!("-config.file={}", cfg.display()),
            "-config.expand-env=true",
            "-log.level=debug",
            "-print-config-stderr",
        ],
    );
    cmd.env("LODE_TEST_PORT", port.to_string())
        .env_remove("LODE_TEST_UNSET");
    let log = run_until_ready(cmd, port);
    let setup = line_with(&log, "configuration");
    for want in [
        format!("config={}", cfg.display()),
        "data_dir=./from-default".into(),
        format!("listen=0.0.0.0:{port}"),
        "auth=enabled".into(),
        "retention=1w".into(),
        "max_query_length=1d".into(),
        "max_streams_per_user=500".into(),
    ] {
        assert_has(&setup, &want);
    }
    assert!(
        log.contains("effective configuration"),
        "debug adds the effective config:\n{log}"
    );
    assert!(
        log.contains(&format!("http_listen_port: {port}")),
        "-print-config-stderr:\n{log}"
    );
    assert!(dir.path().join("from-default").is_dir());

    // -server.http-listen-port overrides the file.
    let port2 = free_port();
    let mut cmd = lode(
        dir.path(),
        &[
            "-config.file",
            cfg.to_str().expect("utf-8 path"),
            "-config.expand-env=true",
            &format!("-server.http-listen-port={port2}"),
        ],
    );
    cmd.env("LODE_TEST_PORT", port.to_string());
    let log = run_until_ready(cmd, port2);
    assert!(line_with(&log, "configuration").contains(&format!("listen=0.0.0.0:{port2}")));
}

#[test]
fn start_up_errors_name_their_subject() {
    let dir = tempfile::tempdir().expect("tempdir");

    // The port is taken.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (_, err) = run_failing(lode(
        dir.path(),
        &["--listen", &format!("127.0.0.1:{port}"), "--data-dir", "d1"],
    ));
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        err.contains("server.http_listen_port"),
        "says what to do: {err}"
    );

    // The data directory cannot be created (a file is in the way).
    std::fs::write(dir.path().join("a-file"), b"x").expect("write");
    let (_, err) = run_failing(lode(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--data-dir", "a-file/data"],
    ));
    assert!(err.contains("a-file/data"), "names the path: {err}");

    // A typo in the config file, and a bad value: both name the key.
    let bad = dir.path().join("typo.yaml");
    std::fs::write(&bad, "limits_config:\n  max_query_lenght: 1h\n").expect("write");
    let (_, err) = run_failing(lode(
        dir.path(),
        &["--config", bad.to_str().expect("utf-8")],
    ));
    assert!(
        err.contains("max_query_lenght") && err.contains("typo.yaml"),
        "{err}"
    );
    std::fs::write(&bad, "ingester:\n  chunk_idle_period: 0s\n").expect("write");
    let (_, err) = run_failing(lode(
        dir.path(),
        &["--check-config", bad.to_str().expect("utf-8")],
    ));
    assert!(err.contains("ingester.chunk_idle_period"), "{err}");

    // A flag Lode does not know, and a target it does not have.
    let (code, err) = run_failing(lode(dir.path(), &["-querier.max-concurrent=4"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("-querier.max-concurrent=4") && err.contains("--help"),
        "{err}"
    );
    let (_, err) = run_failing(lode(dir.path(), &["-target=querier"]));
    assert!(err.contains("write, read and backend"), "{err}");
    // A scalable target without a bucket says what is missing.
    let (_, err) = run_failing(lode(dir.path(), &["-target=read"]));
    assert!(err.contains("common.storage.s3.bucketnames"), "{err}");

    // A second server on a data directory in use is refused, naming it;
    // the first keeps serving.
    let port = free_port();
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut first = lode(
        dir.path(),
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            "shared",
        ],
    )
    .stdout(Stdio::null())
    .stderr(log.reopen().expect("log"))
    .spawn()
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(port) {
        assert!(Instant::now() < deadline, "first lode not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, err) = run_failing(lode(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--data-dir", "shared"],
    ));
    assert!(
        err.contains("data directory shared is in use by another lode process"),
        "{err}"
    );
    assert!(ready(port), "the first server still answers");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(first.id().to_string())
        .status();
    let _ = first.wait();
}

/// SIGTERM with a client that never finishes its request: Lode closes it
/// after `server.graceful_shutdown_timeout`, flushes and exits.
#[test]
fn shutdown_does_not_wait_forever_for_a_stuck_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "server:\n  graceful_shutdown_timeout: 1s\n").expect("write");
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut child = lode(
        dir.path(),
        &[
            "--config",
            cfg.to_str().expect("utf-8"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(log.reopen().expect("log"))
    .spawn()
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(port) {
        assert!(Instant::now() < deadline, "lode not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Half a request: headers never end.
    let mut stuck = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stuck
        .write_all(b"POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            assert!(st.success(), "clean exit: {st}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "lode still running 15 s after SIGTERM:\n{}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(log.path()).expect("log");
    assert!(text.contains("graceful_shutdown_timeout"), "{text}");
    drop(stuck);
}
