//! The HTTP error map, in process: requests through the real router
//! (`tower::ServiceExt::oneshot`, no socket) on a store in a temporary
//! directory, each checking the status and text Loki gives.

use crate::config::Config;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;

fn state(yaml: &str, dir: &std::path::Path) -> Arc<AppState> {
    let mut config = Config::from_yaml(yaml).expect("config");
    config.storage.data_dir = dir.to_path_buf();
    let store = lode_storage::Store::open(config.store_options(), config.limits()).expect("store");
    Arc::new(AppState {
        store: Arc::new(store),
        config: Arc::new(config),
        metrics: crate::metrics::Metrics::new(),
        ready: Default::default(),
    })
}

async fn call(st: &Arc<AppState>, req: Request<Body>) -> (StatusCode, String) {
    let resp = crate::router(st.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 26)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("query", s)]).unwrap()
}

#[tokio::test]
async fn client_errors_map_to_loki_status_and_text() {
    let d = tempfile::tempdir().unwrap();
    let st = state("{}", d.path());
    let (s, t) = call(
        &st,
        get(&format!("/loki/api/v1/query_range?{}", enc("{app="))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(t.starts_with("parse error"), "{t}");
    let (s, t) = call(
        &st,
        get(&format!(
            "/loki/api/v1/query_range?{}&limit=5001",
            enc(r#"{app="a"}"#)
        )),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        t.contains("max_entries_limit_per_query (5001 > 5000)"),
        "{t}"
    );
    let (s, t) = call(
        &st,
        get(&format!(
            "/loki/api/v1/index/volume_range?{}&start=0&end=3600000000000&step=1ms",
            enc(r#"{app="a"}"#)
        )),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    let proto = |body: Vec<u8>| {
        Request::post("/loki/api/v1/push")
            .header("content-type", "application/x-protobuf")
            .body(Body::from(body))
            .unwrap()
    };
    // A snappy header claiming 4 GiB: past the decompressed-size cap.
    let (s, _) = call(&st, proto(vec![0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2])).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // Claiming 5 bytes and holding garbage.
    let (s, t) = call(&st, proto(vec![0x05, 0xff, 0xff])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    let (s, _) = call(&st, get("/loki/api/v1/no-such-endpoint")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_query_past_its_byte_limit_is_400_with_the_key_named() {
    let d = tempfile::tempdir().unwrap();
    let st = state("{}", d.path());
    let t0 = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 600)
        * 1_000_000_000;
    let mut limits = st.store.limits_for("fake");
    limits.max_query_response_bytes = 8192;
    st.store.set_limits(limits);
    let line = "x".repeat(1000);
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"a"}},"values":[{}]}}]}}"#,
        (0..20)
            .map(|i| format!(r#"["{}","{line}"]"#, t0 + i))
            .collect::<Vec<_>>()
            .join(",")
    );
    let push = Request::post("/loki/api/v1/push")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let (s, t) = call(&st, push).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{t}");
    let q = format!(
        "/loki/api/v1/query_range?{}&start={}&end={}",
        enc(r#"{app="a"}"#),
        t0 - 1,
        t0 + 1_000_000_000
    );
    let (s, t) = call(&st, get(&format!("{q}&limit=100"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    assert!(t.contains("limits_config.max_query_response_bytes"), "{t}");
    let (s, t) = call(&st, get(&format!("{q}&limit=2"))).await;
    assert_eq!(s, StatusCode::OK, "a small answer still fits: {t}");
}
