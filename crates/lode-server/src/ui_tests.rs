//! The UI's routes in process: the embedded files, their headers, and the
//! status document scoped to the caller's tenant. The page itself is tested
//! in a real browser by `tests/ui/`.

use crate::router_tests::state;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;

async fn send(st: &Arc<AppState>, req: Request<Body>) -> axum::response::Response {
    crate::router(st.clone())
        .oneshot(req)
        .await
        .expect("infallible")
}

async fn body(r: axum::response::Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
    String::from_utf8(b.to_vec()).unwrap()
}

fn get(uri: &str, tenant: Option<&str>) -> Request<Body> {
    let mut b = Request::get(uri);
    if let Some(t) = tenant {
        b = b.header("X-Scope-OrgID", t);
    }
    b.body(Body::empty()).unwrap()
}

fn push(tenant: &str, app: &str) -> Request<Body> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Request::post("/loki/api/v1/push")
        .header("content-type", "application/json")
        .header("X-Scope-OrgID", tenant)
        .body(Body::from(format!(
            r#"{{"streams":[{{"stream":{{"app":"{app}"}},"values":[["{now}","a line"]]}}]}}"#
        )))
        .unwrap()
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let d = tempfile::tempdir().unwrap();
    let st = state("{}", d.path());
    for (uri, to) in [("/", "ui/"), ("/ui", "ui/")] {
        let r = send(&st, get(uri, None)).await;
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT, "{uri}");
        assert_eq!(r.headers()[header::LOCATION], to, "{uri}");
    }
    let r = send(&st, get("/ui/", None)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let html = body(r).await;
    // Relative references only: the page works behind any path prefix.
    for asset in ["assets/app.js", "assets/app.css", "assets/favicon.svg"] {
        assert!(html.contains(&format!("\"{asset}\"")), "{asset}");
        let r = send(&st, get(&format!("/ui/{asset}"), None)).await;
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    let r = send(&st, get("/ui/assets/../../config", None)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = send(&st, get("/ui/assets/nope.js", None)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn status_is_scoped_to_the_tenant_when_auth_is_enabled() {
    let d = tempfile::tempdir().unwrap();
    let st = state("auth_enabled: true", d.path());
    for (t, app) in [("alpha", "a"), ("beta", "b1"), ("beta", "b2")] {
        assert_eq!(
            send(&st, push(t, app)).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    let r = send(&st, get("/ui/api/status", None)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: serde_json::Value =
        serde_json::from_str(&body(send(&st, get("/ui/api/status", Some("beta"))).await).await)
            .unwrap();
    assert_eq!(v["tenant"], "beta");
    assert_eq!(v["auth_enabled"], true);
    assert_eq!(v["tenant_status"]["streams"], 2);
    assert_eq!(v["tenant_status"]["active_streams"], 2);
    assert_eq!(
        v["tenant_status"]["lines_ingested"], 2,
        "beta's own lines only"
    );
    assert!(v["tenant_status"]["oldest"].is_string());
    // Store-wide figures sum every tenant: not shown to one of them.
    assert!(v.get("store").is_none(), "{v}");
    let v: serde_json::Value =
        serde_json::from_str(&body(send(&st, get("/ui/api/status", Some("alpha"))).await).await)
            .unwrap();
    assert_eq!(v["tenant_status"]["streams"], 1);
    assert_eq!(v["limits"]["retention_period"], "30d");
    assert_eq!(v["compactor"]["compaction_interval"], "10m");
}

#[tokio::test]
async fn status_without_auth_has_the_store_figures() {
    let d = tempfile::tempdir().unwrap();
    let st = state("{}", d.path());
    assert_eq!(
        send(&st, push("ignored", "a")).await.status(),
        StatusCode::NO_CONTENT
    );
    let v: serde_json::Value =
        serde_json::from_str(&body(send(&st, get("/ui/api/status", None)).await).await).unwrap();
    assert_eq!(v["tenant"], "fake");
    assert_eq!(v["store"]["tenants"], 1);
    assert_eq!(v["store"]["streams"], 1);
    assert_eq!(v["store"]["lines_ingested"], 1);
    assert!(v["store"]["wal_bytes"].as_u64().unwrap() > 0);
    assert!(v["tenant_status"]["newest"].is_string());
}
