//! The HTTP error map, in process: requests through the real router
//! (`tower::ServiceExt::oneshot`, no socket) on a store in a temporary
//! directory, each checking the status and text Loki gives.

use crate::config::Config;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;

/// A server state on a store in `dir` with `yaml` as its config.
pub(crate) fn state(yaml: &str, dir: &std::path::Path) -> Arc<AppState> {
    let mut config = Config::from_yaml(yaml).expect("config");
    config.storage.data_dir = dir.to_path_buf();
    let store = lode_storage::Store::open(config.store_options(), config.limits()).expect("store");
    Arc::new(AppState {
        store: Arc::new(store),
        config: Arc::new(config),
        metrics: crate::metrics::Metrics::new(),
        ready: Default::default(),
        ruler: None,
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

/// A store whose every operation fails with the error it was built with:
/// what the HTTP layer answers depends only on the error's kind.
struct FailingStore {
    error: fn() -> lode_storage::StorageError,
    counters: lode_storage::store::StoreCounters,
    subscribers: lode_storage::subscribe::Subscribers,
}

impl lode_storage::LogStore for FailingStore {
    fn limits_for(&self, _: &str) -> lode_storage::Limits {
        lode_storage::Limits::default()
    }
    fn set_limits(&self, _: lode_storage::Limits) {}
    fn set_tenant_limits(&self, _: std::collections::HashMap<String, lode_storage::Limits>) {}
    fn push(
        &self,
        _: &str,
        _: Vec<lode_proto::PushStream>,
        done: lode_storage::store::PushCallback,
    ) {
        done(Err((self.error)()))
    }
    fn flush(&self) -> lode_storage::Result<()> {
        Err((self.error)())
    }
    fn shutdown(&self) -> lode_storage::Result<()> {
        Ok(())
    }
    fn query_logs(
        &self,
        _: &str,
        _: &lode_storage::LogQuery<'_>,
    ) -> lode_storage::Result<(Vec<lode_storage::LogHit>, lode_storage::ScanStats)> {
        Err((self.error)())
    }
    fn samples(&self, _: &str, max_series: usize) -> lode_storage::samples::TenantSamples {
        lode_storage::samples::TenantSamples::empty(max_series)
    }
    fn series(
        &self,
        _: &str,
        _: &[Vec<lode_logql::ast::Matcher>],
        _: i64,
        _: i64,
    ) -> lode_storage::Result<Vec<lode_logql::LabelSet>> {
        Err((self.error)())
    }
    fn label_names(
        &self,
        _: &str,
        _: Option<&[lode_logql::ast::Matcher]>,
        _: i64,
        _: i64,
    ) -> lode_storage::Result<Vec<String>> {
        Err((self.error)())
    }
    fn label_values(
        &self,
        _: &str,
        _: &str,
        _: Option<&[lode_logql::ast::Matcher]>,
        _: i64,
        _: i64,
    ) -> lode_storage::Result<Vec<String>> {
        Err((self.error)())
    }
    fn index_stats(
        &self,
        _: &str,
        _: &[lode_logql::ast::Matcher],
        _: i64,
        _: i64,
    ) -> lode_storage::Result<lode_storage::meta::IndexStats> {
        Err((self.error)())
    }
    fn volume(
        &self,
        _: &str,
        _: &[lode_logql::ast::Matcher],
        _: i64,
        _: i64,
        _: i64,
        _: &lode_storage::meta::VolumeGroup,
    ) -> lode_storage::Result<Vec<(lode_logql::LabelSet, Vec<u64>)>> {
        Err((self.error)())
    }
    fn add_delete(
        &self,
        _: &str,
        _: &str,
        _: i64,
        _: i64,
    ) -> lode_storage::Result<lode_storage::delete::DeleteRequest> {
        Err((self.error)())
    }
    fn list_deletes(&self, _: &str) -> Vec<lode_storage::delete::DeleteRequest> {
        Vec::new()
    }
    fn cancel_delete(
        &self,
        _: &str,
        _: &str,
    ) -> lode_storage::Result<Result<(), lode_storage::delete::CancelError>> {
        Err((self.error)())
    }
    fn stats(&self) -> lode_storage::StoreStats {
        lode_storage::StoreStats::default()
    }
    fn tenant_status(&self, _: &str) -> lode_storage::store::TenantStatus {
        Default::default()
    }
    fn compactor_schedule(&self) -> lode_storage::store::CompactorSchedule {
        Default::default()
    }
    fn counters(&self) -> &lode_storage::store::StoreCounters {
        &self.counters
    }
    fn subscribers(&self) -> &lode_storage::subscribe::Subscribers {
        &self.subscribers
    }
}

fn failing(error: fn() -> lode_storage::StorageError) -> Arc<AppState> {
    Arc::new(AppState {
        store: Arc::new(FailingStore {
            error,
            counters: Default::default(),
            subscribers: Default::default(),
        }),
        config: Arc::new(Config::from_yaml("{}").expect("config")),
        metrics: crate::metrics::Metrics::new(),
        ready: Default::default(),
        ruler: None,
    })
}

#[tokio::test]
async fn storage_errors_map_to_one_status_on_every_endpoint() {
    use lode_storage::StorageError as E;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let range = format!("start={}&end={now}", now - 3_600_000_000_000);
    let sel = enc(r#"{app="a"}"#);
    let reads = [
        format!("/loki/api/v1/query_range?{sel}&{range}"),
        format!("/loki/api/v1/query_range?{sel}&{range}&direction=forward"),
        format!("/loki/api/v1/labels?{range}"),
        format!("/loki/api/v1/label/app/values?{range}"),
        format!(
            "/loki/api/v1/series?match[]={}&{range}",
            &sel["query=".len()..]
        ),
        format!("/loki/api/v1/index/stats?{sel}&{range}"),
        format!("/loki/api/v1/index/volume?{sel}&{range}"),
    ];
    type Case = (fn() -> E, StatusCode, &'static str);
    let cases: [Case; 5] = [
        (
            || E::Unavailable("writer stopped".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            "writer stopped",
        ),
        (
            || E::DiskFull("wal: no space".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            "disk full",
        ),
        (
            || E::Corrupt("bad block".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt data",
        ),
        (
            || E::RateLimited("slow down".into()),
            StatusCode::TOO_MANY_REQUESTS,
            "slow down",
        ),
        (
            || E::QueryLimit("too many".into()),
            StatusCode::BAD_REQUEST,
            "too many",
        ),
    ];
    for (error, status, text) in cases {
        let st = failing(error);
        for uri in &reads {
            let (s, t) = call(&st, get(uri)).await;
            assert_eq!(s, status, "{uri}: {t}");
            assert!(t.contains(text), "{uri}: {t}");
        }
        let push = Request::post("/loki/api/v1/push")
            .header("content-type", "application/json")
            .body(Body::from(format!(
                r#"{{"streams":[{{"stream":{{"app":"a"}},"values":[["{now}","x"]]}}]}}"#
            )))
            .unwrap();
        let (s, t) = call(&st, push).await;
        assert_eq!(s, status, "push: {t}");
        assert!(t.contains(text), "push: {t}");
    }
}

#[tokio::test]
async fn each_target_serves_its_endpoints_only() {
    let s3 = "common:\n  storage:\n    s3:\n      bucketnames: lode\n      endpoint: 127.0.0.1:1\n";
    let d = tempfile::tempdir().unwrap();
    let read = state(
        &format!("target: read\n{s3}scalable:\n  writers: [http://127.0.0.1:2]\n"),
        d.path(),
    );
    let push = || {
        Request::post("/loki/api/v1/push")
            .header("Content-Type", "application/json")
            .body(Body::from(r#"{"streams":[]}"#))
            .unwrap()
    };
    assert_eq!(call(&read, push()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&read, get("/lode/internal/v1/feed?after=0")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&read, get("/loki/api/v1/labels")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&read, get("/loki/api/v1/delete")).await.0,
        StatusCode::NOT_FOUND,
        "deletes go to the backend"
    );
    drop(read);
    let d = tempfile::tempdir().unwrap();
    let write = state(&format!("target: write\n{s3}"), d.path());
    assert_eq!(call(&write, push()).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&write, get("/loki/api/v1/labels")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&write, get("/loki/api/v1/rules")).await.0,
        StatusCode::NOT_FOUND
    );
    // A store without a bucket keeps no feed: 503, never records it lacks.
    let (s, t) = call(&write, get("/lode/internal/v1/feed?after=0")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{t}");
}
