//! Lode's HTTP edge: Loki's API (push, LogQL queries, metadata, operations)
//! over the storage layer, with errors mapped to Loki's status codes in
//! `error.rs`.
// Input flows through every path of this crate: a failed unwrap is a
// panic a client can trigger. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod conn;
mod deadline_body;
pub mod encode;
pub mod error;
mod feeds;
pub mod lease;
pub mod metrics;
pub mod overrides;
pub mod params;
pub mod read;
#[cfg(test)]
mod router_tests;
pub mod routes;
pub mod ruler;
pub mod state;
#[cfg(test)]
mod ui_tests;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use config::Config;
use lode_storage::Store;
use state::{AppState, SharedState};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Largest request body accepted (Loki's `max_recv_msg_size` is 100 MiB).
const MAX_BODY: usize = 100 << 20;

/// The router with the endpoints of the configured target (`all`: every
/// endpoint; `write`: push; `read`: queries; `backend`: rules).
pub fn router(state: SharedState) -> Router {
    use routes::{meta, ops, push, query, rules, volume};
    let target = state.config.target;
    let mut r = Router::new()
        .route("/loki/api/v1/status/buildinfo", get(ops::buildinfo))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/config", get(ops::config));
    if target.writes() {
        r = r
            .route("/loki/api/v1/push", post(push::push))
            .route("/api/prom/push", post(push::push_legacy))
            .route("/otlp/v1/logs", post(routes::otlp::otlp_logs))
            .route("/flush", post(ops::flush))
            .route("/lode/internal/v1/feed", get(routes::feed::feed));
    }
    if matches!(
        target,
        config::scalable::Target::All | config::scalable::Target::Backend
    ) {
        // Scalable mode: the active backend keeps the delete requests and
        // publishes them; readers and writers follow (docs/deploy.md).
        r = r.route(
            "/loki/api/v1/delete",
            get(routes::delete::list)
                .post(routes::delete::create)
                .delete(routes::delete::cancel),
        );
    }
    if target.queries() {
        r = r
            .route("/loki/api/v1/tail", get(routes::tail::tail))
            .route(
                "/loki/api/v1/detected_labels",
                get(routes::detected::detected_labels).post(routes::detected::detected_labels),
            )
            .route(
                "/loki/api/v1/detected_fields",
                get(routes::detected::detected_fields).post(routes::detected::detected_fields),
            )
            .route(
                "/loki/api/v1/detected_field/{name}/values",
                get(routes::detected::detected_field_values)
                    .post(routes::detected::detected_field_values),
            )
            .route(
                "/loki/api/v1/patterns",
                get(routes::patterns::patterns).post(routes::patterns::patterns),
            )
            .route(
                "/loki/api/v1/drilldown-limits",
                get(routes::drilldown::drilldown_limits),
            )
            .route(
                "/loki/api/v1/query_range",
                get(query::query_range).post(query::query_range),
            )
            .route("/loki/api/v1/query", get(query::query).post(query::query))
            .route("/loki/api/v1/labels", get(meta::labels).post(meta::labels))
            .route("/loki/api/v1/label", get(meta::labels).post(meta::labels))
            .route(
                "/loki/api/v1/label/{name}/values",
                get(meta::label_values).post(meta::label_values),
            )
            .route("/loki/api/v1/series", get(meta::series).post(meta::series))
            .route(
                "/loki/api/v1/index/stats",
                get(volume::index_stats).post(volume::index_stats),
            )
            .route(
                "/loki/api/v1/index/volume",
                get(volume::volume).post(volume::volume),
            )
            .route(
                "/loki/api/v1/index/volume_range",
                get(volume::volume_range).post(volume::volume_range),
            )
            .route(
                "/loki/api/v1/format_query",
                get(ops::format_query).post(ops::format_query),
            )
            .route("/", get(routes::ui::to_ui))
            .route("/ui", get(routes::ui::to_ui))
            .route("/ui/", get(routes::ui::index))
            .route("/ui/assets/{name}", get(routes::ui::asset))
            .route("/ui/api/status", get(routes::ui::status));
    }
    if target.rules() {
        r = r
            .route("/loki/api/v1/rules", get(rules::list_all))
            .route(
                "/loki/api/v1/rules/{namespace}",
                get(rules::list_namespace)
                    .post(rules::set_group)
                    .delete(rules::delete_namespace),
            )
            .route(
                "/loki/api/v1/rules/{namespace}/{group}",
                get(rules::get_group).delete(rules::delete_group),
            )
            .route("/api/prom/rules", get(rules::list_all))
            .route(
                "/api/prom/rules/{namespace}",
                get(rules::list_namespace)
                    .post(rules::set_group)
                    .delete(rules::delete_namespace),
            )
            .route(
                "/api/prom/rules/{namespace}/{group}",
                get(rules::get_group).delete(rules::delete_group),
            )
            .route("/prometheus/api/v1/rules", get(rules::prom_rules))
            .route("/prometheus/api/v1/alerts", get(rules::prom_alerts))
            .route("/api/prom/api/v1/rules", get(rules::prom_rules))
            .route("/api/prom/api/v1/alerts", get(rules::prom_alerts));
    }
    r.layer(DefaultBodyLimit::max(MAX_BODY)).with_state(state)
}

/// The store's part in scalable mode, from the target and the bucket keys.
fn remote(
    config: &Config,
) -> Result<Option<lode_storage::Remote>, Box<dyn std::error::Error + Send + Sync>> {
    use config::scalable::Target;
    let Some(s3) = &config.loki.s3 else {
        return Ok(None);
    };
    let sc = &config.scalable;
    let bucket = Arc::new(lode_storage::Bucket::s3(
        &s3.to_bucket(sc.request_timeout.0),
        usize::try_from(sc.cache_size.0).unwrap_or(usize::MAX),
    )?);
    tracing::info!(
        bucket = bucket.name(),
        target = config.target.name(),
        "scalable mode"
    );
    Ok(Some(match config.target {
        // A single binary with a bucket keeps its local copy (its queries
        // read it); a writer keeps only what the bucket lacks.
        Target::All | Target::Write => lode_storage::Remote::Writer {
            bucket,
            evict_uploaded: config.target == Target::Write,
        },
        Target::Read | Target::Backend => lode_storage::Remote::Reader {
            bucket,
            feeds: Arc::new(feeds::HttpFeeds::new(
                sc.writers.clone(),
                sc.request_timeout.0,
            )),
            poll: sc.poll_interval.0,
            owns_deletes: config.target == Target::Backend,
        },
    }))
}

/// Opens the store and serves until `shutdown` resolves, then drains and
/// flushes.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = config.listen_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        format!(
            "cannot listen on {addr}: {e} (is another lode or Loki running there? choose another port with server.http_listen_port, -server.http-listen-port or --listen)"
        )
    })?;
    serve_on(config, listener, shutdown).await
}

/// Like `serve`, on an already bound listener (tests bind port 0).
pub async fn serve_on(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut opts = config.store_options();
    opts.remote = remote(&config)?;
    let limits = config.limits();
    lode_logql::context::set_inflight_limit(config.querier.max_inflight_response_bytes.0);
    lode_proto::set_push_budget(
        usize::try_from(config.distributor.max_inflight_push_bytes.0).unwrap_or(usize::MAX),
    );
    let store = tokio::task::spawn_blocking(move || Store::open(opts, limits)).await??;
    let store: Arc<dyn lode_storage::LogStore> = Arc::new(store);
    // One active backend per bucket: a standby waits here, before its
    // ruler exists (docs/deploy.md, "Scalable mode").
    let lease = match (config.target, store.bucket()) {
        (config::scalable::Target::Backend, Some(bucket)) => {
            let lease = Arc::new(lease::BackendLease::new(bucket));
            let l = lease.clone();
            tokio::task::spawn_blocking(move || l.acquire()).await?;
            lease.clone().keep();
            Some(lease)
        }
        _ => None,
    };
    let ruler = if config.target.rules() {
        let ruler_opts = config
            .ruler
            .options(&config.storage.data_dir, &config.listen_addr());
        let evaluator = Arc::new(ruler::StoreEvaluator {
            store: store.clone(),
        });
        let ruler =
            tokio::task::spawn_blocking(move || lode_ruler::Ruler::start(ruler_opts, evaluator))
                .await?;
        for e in ruler.load_errors() {
            tracing::error!(error = %e, "rule file refused");
        }
        Some(Arc::new(ruler))
    } else {
        None
    };
    let state = Arc::new(AppState {
        store,
        config: Arc::new(config),
        metrics: metrics::Metrics::new(),
        ready: Default::default(),
        ruler,
    });
    overrides::start(state.config.clone(), state.store.clone())?;
    state.ready.store(true, Ordering::Release);
    tracing::info!(addr = %listener.local_addr()?, "lode is ready");
    let app = router(state.clone());
    let st = state.clone();
    let stopping = Arc::new(tokio::sync::Notify::new());
    let notify = stopping.clone();
    let policy = conn::ConnPolicy::from_config(&state.config.server);
    tracing::info!(
        conn_limit = policy.limit,
        read_timeout = ?policy.read_timeout,
        idle_timeout = ?policy.idle_timeout,
        "serving HTTP"
    );
    let server = conn::serve(listener, app, policy, async move {
        shutdown.await;
        st.ready.store(false, Ordering::Release);
        tracing::info!("shutting down: draining requests and flushing");
        notify.notify_one();
    });
    // A client that never finishes its request must not hold the shutdown
    // (and the flush after it) forever.
    let grace = state.config.server.graceful_shutdown_timeout.0;
    tokio::select! {
        r = server => r?,
        _ = async {
            stopping.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(
                timeout = %state.config.server.graceful_shutdown_timeout,
                "requests still open after server.graceful_shutdown_timeout; closing them"
            );
        }
    }
    if let Some(r) = state.ruler.clone() {
        tokio::task::spawn_blocking(move || r.stop()).await?;
    }
    if let Some(l) = lease {
        tokio::task::spawn_blocking(move || l.release()).await?;
    }
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.shutdown()).await??;
    tracing::info!("shutdown complete");
    Ok(())
}
