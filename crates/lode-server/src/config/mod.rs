//! Configuration: a YAML file with Loki's key names where the meaning is the
//! same, embedded defaults, and validation. Documented in
//! `docs/configuration.md`.

mod expand_env;
mod loki;
pub mod ruler;
pub mod scalable;

pub use expand_env::expand_env;
pub use loki::{take_loki_settings, LokiSettings};

use lode_storage::format::block::Compression;
use lode_storage::ingest::MIB;
use lode_storage::retention::{Retention, RetentionRule};
use lode_storage::{Limits, StoreOptions};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A duration written like Loki writes them: `12h`, `30d1h`, `90s`, `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }

    pub fn as_nanos_i64(self) -> i64 {
        i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// A setting's duration: Prometheus' syntax (`30d1h`, what Loki's
/// `model.Duration` settings take) or Go's (`1.5h`, `250ms`, what its
/// `time.Duration` settings take); never negative.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let ns = lode_go::model::parse_duration_or_go(s)?;
    u64::try_from(ns).ok().map(Duration::from_nanos)
}

/// Formats like Loki's `model.Duration`: `30d1h`, `12h`, `1m`, `0s`.
pub fn format_duration(d: Duration) -> String {
    lode_go::model::format_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Dur).ok_or_else(|| {
            D::Error::custom(format!(
                "invalid duration {s:?} (examples: 90s, 12h, 30d1h)"
            ))
        })
    }
}

/// A byte size: a number of bytes or `256KB`, `1MiB`...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size(pub u64);

/// A byte-size setting as Loki's `flagext.ByteSize` reads it (go-humanize:
/// `262144`, `256KB`, `1MiB`, `1.5 GB`).
pub fn parse_size(s: &str) -> Option<u64> {
    lode_go::bytes::parse(s.trim()).ok()
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => parse_size(&s).map(Size).ok_or_else(|| {
                D::Error::custom(format!(
                    "invalid size {s:?} (examples: 262144, 256KB, 1MiB)"
                ))
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What reading the file as a Loki config found (not a key).
    #[serde(skip)]
    pub loki: LokiSettings,
    /// Loki's `target`: which components this process runs.
    pub target: scalable::Target,
    pub auth_enabled: bool,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub limits_config: LimitsConfig,
    pub compactor: CompactorConfig,
    pub runtime_config: RuntimeConfig,
    pub ingester: IngesterConfig,
    pub querier: QuerierConfig,
    pub distributor: DistributorConfig,
    pub ruler: ruler::RulerConfig,
    /// Lode's keys for the `write`, `read` and `backend` targets.
    pub scalable: scalable::ScalableConfig,
}

/// Push-side settings that Loki does not have under these names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DistributorConfig {
    /// Decompressed bytes all pushes being decoded may hold at once (a
    /// push larger than this alone is refused with 413; one that does not
    /// fit while others hold the budget with 503, which shippers retry).
    /// `0` disables it.
    pub max_inflight_push_bytes: Size,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        DistributorConfig {
            max_inflight_push_bytes: Size(lode_proto::DEFAULT_PUSH_BUDGET_BYTES as u64),
        }
    }
}

/// Loki's `querier` keys that mean the same in Lode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuerierConfig {
    /// Live tails (`/loki/api/v1/tail`) open at once; more are refused with
    /// 400. `0` disables the limit.
    pub max_concurrent_tail_requests: usize,
    /// Bytes all queries in flight may hold together; a query that would
    /// go past it fails with 503 (retry).
    pub max_inflight_response_bytes: Size,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        QuerierConfig {
            max_concurrent_tail_requests: 10,
            max_inflight_response_bytes: Size(64 << 20),
        }
    }
}

/// Loki's `ingester` keys that mean the same in Lode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngesterConfig {
    /// A stream that received no entry for this long is idle: its head is
    /// flushed with the next flush and it stops counting against
    /// `max_streams_per_user` / `max_global_streams_per_user`.
    pub chunk_idle_period: Dur,
    /// The longest a stream's head stays in memory before it is sealed and
    /// flushed (heads are flushed at least every `storage.flush_interval`,
    /// whichever is shorter).
    pub max_chunk_age: Dur,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            chunk_idle_period: Dur::secs(30 * 60),
            max_chunk_age: Dur::secs(2 * 3600),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub http_listen_address: String,
    pub http_listen_port: u16,
    pub log_level: String,
    pub graceful_shutdown_timeout: Dur,
    /// Whole request (headers and body) must arrive within this.
    pub http_server_read_timeout: Dur,
    /// Request headers must arrive within this; 0 means the read timeout.
    pub http_server_read_header_timeout: Dur,
    /// A response write that makes no progress for this long closes the
    /// connection (Loki's is a deadline on the whole response instead).
    pub http_server_write_timeout: Dur,
    /// A keep-alive connection with no request for this long is closed.
    pub http_server_idle_timeout: Dur,
    /// Most connections served at once; 0 picks one from the process's
    /// file-descriptor limit. At the limit the longest-idle connection is
    /// closed to make room, and only when every connection is busy does a
    /// new one wait.
    pub http_listen_conn_limit: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Acknowledge a push only after the WAL is fsynced (group commit).
    Always,
    /// Never fsync the WAL (a machine crash may lose acknowledged pushes).
    Never,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CompressionKind {
    Zstd,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub wal_fsync: FsyncPolicy,
    pub block_target_bytes: Size,
    pub flush_interval: Dur,
    pub max_unflushed_bytes: Size,
    pub compression: CompressionKind,
    pub zstd_level: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionStream {
    pub selector: String,
    pub priority: i32,
    pub period: Dur,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_query_length: Dur,
    pub max_query_lookback: Dur,
    pub max_query_series: usize,
    pub max_entries_limit_per_query: usize,
    pub query_timeout: Dur,
    /// Bytes one query may hold for its answer (kept log lines, points);
    /// past it the query fails with 400. 0: no per-query limit.
    pub max_query_response_bytes: Size,
    pub max_streams_per_user: usize,
    pub max_global_streams_per_user: usize,
    pub ingestion_rate_mb: f64,
    pub ingestion_burst_size_mb: f64,
    pub max_line_size: Size,
    pub max_line_size_truncate: bool,
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    pub reject_old_samples: bool,
    pub reject_old_samples_max_age: Dur,
    pub creation_grace_period: Dur,
    pub retention_period: Dur,
    pub retention_stream: Vec<RetentionStream>,
    /// Entries older than their stream's newest entry minus this are refused
    /// (Loki: `max_chunk_age / 2`). `0s` accepts any order.
    pub out_of_order_time_window: Dur,
    /// Loki's list of aggregations allowed to run sharded; Lode reads only
    /// whether `approx_topk` is in it (without it, approx_topk is refused
    /// as Loki refuses it). Lode answers approx_topk exactly.
    pub shard_aggregations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CompactorConfig {
    pub retention_enabled: bool,
    pub compaction_interval: Dur,
    /// How long a delete request can be cancelled before it is carried out.
    pub delete_request_cancel_period: Dur,
    /// Lode's key: blocks whose newest entry is older than this are
    /// rewritten at `recompress_zstd_level` by the next compaction
    /// (`0s`: never).
    pub recompress_after: Dur,
    /// Lode's key: the zstd level of that rewrite (1-22).
    pub recompress_zstd_level: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// A YAML file with per-tenant `overrides`, reloaded every `period`.
    pub file: String,
    pub period: Dur,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            file: String::new(),
            period: Dur::secs(10),
        }
    }
}

impl LimitsConfig {
    /// Checks the limits (the defaults and every tenant override).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, msg: &str| {
            Err(ConfigError::Invalid {
                key,
                msg: msg.to_string(),
            })
        };
        let l = self;
        if l.max_entries_limit_per_query == 0 {
            return bad(
                "limits_config.max_entries_limit_per_query",
                "must be positive",
            );
        }
        if l.max_query_series == 0 {
            return bad("limits_config.max_query_series", "must be positive");
        }
        if l.query_timeout.0.is_zero() {
            return bad("limits_config.query_timeout", "must be positive");
        }
        if !(l.ingestion_rate_mb >= 0.0 && l.ingestion_burst_size_mb >= 0.0) {
            return bad("limits_config.ingestion_rate_mb", "must not be negative");
        }
        if !l.retention_period.0.is_zero() && l.retention_period.0 < Duration::from_secs(86_400) {
            return bad(
                "limits_config.retention_period",
                "must be 0 (keep forever) or at least 24h",
            );
        }
        for r in &l.retention_stream {
            if lode_logql::parse(&r.selector).is_err() {
                return bad(
                    "limits_config.retention_stream.selector",
                    &format!("invalid selector {:?}", r.selector),
                );
            }
            if r.period.0 < Duration::from_secs(86_400) {
                return bad(
                    "limits_config.retention_stream.period",
                    "must be at least 24h",
                );
            }
        }
        Ok(())
    }

    /// The storage view of these limits.
    pub fn to_storage(&self) -> Limits {
        let l = self;
        let rules = l
            .retention_stream
            .iter()
            .filter_map(|r| {
                RetentionRule::new(&r.selector, r.priority, r.period.as_nanos_i64()).ok()
            })
            .collect();
        // One node holds every stream: the global limit applies as is.
        let streams = match (l.max_streams_per_user, l.max_global_streams_per_user) {
            (0, g) => g,
            (u, 0) => u,
            (u, g) => u.min(g),
        };
        Limits {
            max_line_size: l.max_line_size.0 as usize,
            max_line_size_truncate: l.max_line_size_truncate,
            max_label_names_per_series: l.max_label_names_per_series,
            max_label_name_length: l.max_label_name_length,
            max_label_value_length: l.max_label_value_length,
            reject_old_samples: l.reject_old_samples,
            reject_old_samples_max_age: l.reject_old_samples_max_age.as_nanos_i64(),
            creation_grace_period: l.creation_grace_period.as_nanos_i64(),
            max_streams_per_user: streams,
            ingestion_rate_bytes: l.ingestion_rate_mb * MIB,
            ingestion_burst_bytes: l.ingestion_burst_size_mb * MIB,
            out_of_order_window: l.out_of_order_time_window.as_nanos_i64(),
            retention: Arc::new(Retention {
                period: l.retention_period.as_nanos_i64(),
                rules,
            }),
            max_query_length: l.max_query_length.0,
            max_query_lookback: l.max_query_lookback.0,
            max_query_series: l.max_query_series,
            max_entries_limit_per_query: l.max_entries_limit_per_query,
            query_timeout: l.query_timeout.0,
            max_query_response_bytes: l.max_query_response_bytes.0,
        }
    }
}

/// Per-tenant limits from the runtime configuration file: Loki's
/// `overrides: {<tenant>: {<limits_config keys>...}}`. Keys a tenant does not
/// set keep the value of `base` (the `limits_config` section).
pub fn parse_overrides(
    text: &str,
    base: &LimitsConfig,
) -> Result<HashMap<String, LimitsConfig>, ConfigError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct RuntimeFile {
        overrides: Option<HashMap<String, serde_yaml_ng::Value>>,
    }
    if text.trim().is_empty() {
        return Ok(HashMap::new());
    }
    let f: RuntimeFile =
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let base_v = serde_yaml_ng::to_value(base).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let mut out = HashMap::new();
    for (tenant, v) in f.overrides.unwrap_or_default() {
        let mut merged = base_v.clone();
        match (&mut merged, v) {
            (serde_yaml_ng::Value::Mapping(m), serde_yaml_ng::Value::Mapping(o)) => {
                for (k, v) in o {
                    m.insert(k, v);
                }
            }
            (_, serde_yaml_ng::Value::Null) => {}
            _ => {
                return Err(ConfigError::Parse(format!(
                    "overrides.{tenant}: expected a mapping of limits"
                )))
            }
        }
        let l: LimitsConfig = serde_yaml_ng::from_value(merged)
            .map_err(|e| ConfigError::Parse(format!("overrides.{tenant}: {e}")))?;
        l.validate()?;
        out.insert(tenant, l);
    }
    Ok(out)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 3100,
            log_level: "info".into(),
            graceful_shutdown_timeout: Dur::secs(30),
            http_server_read_timeout: Dur::secs(30),
            http_server_read_header_timeout: Dur::secs(0),
            http_server_write_timeout: Dur::secs(30),
            http_server_idle_timeout: Dur::secs(120),
            http_listen_conn_limit: 0,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
            wal_fsync: FsyncPolicy::Always,
            block_target_bytes: Size(256 * 1024),
            flush_interval: Dur::secs(60),
            max_unflushed_bytes: Size(48 << 20),
            compression: CompressionKind::Zstd,
            zstd_level: 1,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_query_length: Dur::secs(12 * 3600),
            max_query_lookback: Dur::secs(0),
            max_query_series: 500,
            max_entries_limit_per_query: 5000,
            query_timeout: Dur::secs(60),
            max_query_response_bytes: Size(32 << 20),
            max_streams_per_user: 10_000,
            max_global_streams_per_user: 10_000,
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 6.0,
            max_line_size: Size(256 * 1024),
            max_line_size_truncate: false,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            reject_old_samples: true,
            reject_old_samples_max_age: Dur::secs(168 * 3600),
            creation_grace_period: Dur::secs(600),
            retention_period: Dur::secs(720 * 3600),
            retention_stream: Vec::new(),
            out_of_order_time_window: Dur::secs(3600),
            shard_aggregations: Vec::new(),
        }
    }
}

/// Defaults of the compactor's recompression, chosen by measurement on the
/// homelab mix (`docs/performance.md`, "Long-term storage").
const RECOMPRESS_AFTER_SECS: u64 = 24 * 3600;
const RECOMPRESS_LEVEL: i32 = 9;

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            retention_enabled: true,
            compaction_interval: Dur::secs(600),
            delete_request_cancel_period: Dur::secs(24 * 3600),
            recompress_after: Dur::secs(RECOMPRESS_AFTER_SECS),
            recompress_zstd_level: RECOMPRESS_LEVEL,
        }
    }
}

/// A config problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config: {0}")]
    Parse(String),
    #[error("invalid config: {key}: {msg}")]
    Invalid { key: &'static str, msg: String },
    /// An error in a config file, naming the file.
    #[error("{path}: {source}")]
    InFile {
        path: String,
        source: Box<ConfigError>,
    },
    /// `${VAR:?message}` with `VAR` unset (`-config.expand-env`).
    #[error("{0}")]
    Env(String),
}

impl Config {
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let mut value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let loki = take_loki_settings(&mut value)?;
        let data_dir_given = value
            .get("storage")
            .and_then(|s| s.get("data_dir"))
            .is_some();
        let mut c: Config = match &value {
            serde_yaml_ng::Value::Null => Config::default(),
            _ => serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                ConfigError::Parse(format!("{path}: {}", e.into_inner()))
            })?,
        };
        if !data_dir_given {
            if let Some(p) = &loki.path_prefix {
                c.storage.data_dir = PathBuf::from(p);
            }
        }
        c.loki = loki;
        c.validate()?;
        Ok(c)
    }

    /// Reads a config file, expanding environment variables first when
    /// `expand_env` (Loki's `-config.expand-env=true`). Errors name the file.
    pub fn from_file(path: &str, expand_env: bool) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_string(),
            source,
        })?;
        let in_file = |e| ConfigError::InFile {
            path: path.to_string(),
            source: Box::new(e),
        };
        let text = if expand_env {
            self::expand_env(&text, |k| std::env::var(k).ok())
                .map_err(|e| in_file(ConfigError::Env(e)))?
        } else {
            text
        };
        Config::from_yaml(&text).map_err(in_file)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, msg: &str| {
            Err(ConfigError::Invalid {
                key,
                msg: msg.to_string(),
            })
        };
        self.limits_config.validate()?;
        self.ruler.validate()?;
        let srv = &self.server;
        for (key, d) in [
            (
                "server.http_server_read_timeout",
                srv.http_server_read_timeout,
            ),
            (
                "server.http_server_write_timeout",
                srv.http_server_write_timeout,
            ),
            (
                "server.http_server_idle_timeout",
                srv.http_server_idle_timeout,
            ),
        ] {
            if d.0 < Duration::from_millis(100) {
                return bad(key, "must be at least 100ms");
            }
        }
        if self.compactor.compaction_interval.0 < Duration::from_secs(1) {
            return bad("compactor.compaction_interval", "must be at least 1s");
        }
        if self.runtime_config.period.0 < Duration::from_millis(100) {
            return bad("runtime_config.period", "must be at least 100ms");
        }
        let s = &self.storage;
        if s.block_target_bytes.0 < 1024 || s.block_target_bytes.0 > 64 << 20 {
            return bad(
                "storage.block_target_bytes",
                "must be between 1KiB and 64MiB",
            );
        }
        if s.flush_interval.0 < Duration::from_secs(1) {
            return bad("storage.flush_interval", "must be at least 1s");
        }
        let b = self.distributor.max_inflight_push_bytes.0;
        if b != 0 && b < 1 << 20 {
            return bad(
                "distributor.max_inflight_push_bytes",
                "must be 0 (off) or at least 1MiB",
            );
        }
        if self.ingester.chunk_idle_period.0 < Duration::from_secs(1) {
            return bad("ingester.chunk_idle_period", "must be at least 1s");
        }
        if self.ingester.max_chunk_age.0 < Duration::from_secs(1) {
            return bad("ingester.max_chunk_age", "must be at least 1s");
        }
        if !(1..=22).contains(&s.zstd_level) {
            return bad("storage.zstd_level", "must be between 1 and 22");
        }
        if !(1..=22).contains(&self.compactor.recompress_zstd_level) {
            return bad(
                "compactor.recompress_zstd_level",
                "must be between 1 and 22",
            );
        }
        if s.data_dir.as_os_str().is_empty() {
            return bad("storage.data_dir", "must not be empty");
        }
        let bucket = self.loki.s3.as_ref().map(|s| s.to_bucket(Duration::ZERO));
        if self.target != scalable::Target::All
            && bucket.as_ref().is_none_or(|b| b.bucket.is_empty())
        {
            return bad(
                "target",
                "targets write, read and backend share a bucket: set common.storage.s3.bucketnames (and endpoint, credentials)",
            );
        }
        if matches!(
            self.target,
            scalable::Target::Read | scalable::Target::Backend
        ) && self.scalable.writers.is_empty()
        {
            return bad(
                "scalable.writers",
                "targets read and backend need the writers' addresses (a headless Service URL such as http://lode-write-headless:3100, or a list)",
            );
        }
        for w in &self.scalable.writers {
            if !(w.starts_with("http://") || w.starts_with("https://")) {
                return bad("scalable.writers", "each writer is an http:// URL");
            }
        }
        if self.scalable.poll_interval.0 < Duration::from_millis(50) {
            return bad("scalable.poll_interval", "must be at least 50ms");
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.server.log_level.as_str()) {
            return bad(
                "server.log_level",
                "must be one of error, warn, info, debug, trace",
            );
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> String {
        format!(
            "{}:{}",
            self.server.http_listen_address, self.server.http_listen_port
        )
    }

    pub fn store_options(&self) -> StoreOptions {
        let s = &self.storage;
        StoreOptions {
            data_dir: s.data_dir.clone(),
            fsync: s.wal_fsync == FsyncPolicy::Always,
            block_target_bytes: s.block_target_bytes.0 as usize,
            flush_interval: s.flush_interval.0.min(self.ingester.max_chunk_age.0),
            chunk_idle_period: self.ingester.chunk_idle_period.0,
            max_unflushed_bytes: s.max_unflushed_bytes.0 as usize,
            compression: match s.compression {
                CompressionKind::Zstd => Compression::Zstd(s.zstd_level),
                CompressionKind::None => Compression::None,
            },
            compaction_interval: self.compactor.compaction_interval.0,
            retention_enabled: self.compactor.retention_enabled,
            delete_cancel_period: self.compactor.delete_request_cancel_period.0,
            recompress_after: (!self.compactor.recompress_after.0.is_zero())
                .then_some(self.compactor.recompress_after.0),
            recompress_level: self.compactor.recompress_zstd_level,
            ..StoreOptions::default()
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits_config.to_storage()
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loki_like() {
        let c = Config::from_yaml("").unwrap();
        assert_eq!(c.server.http_listen_port, 3100);
        assert_eq!(c.limits_config.max_query_length.to_string(), "12h");
        assert_eq!(c.limits_config.retention_period.to_string(), "30d");
        assert_eq!(c.limits_config.max_entries_limit_per_query, 5000);
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(
            parse_duration("30d1h"),
            Some(Duration::from_secs(30 * 86400 + 3600))
        );
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(format_duration(Duration::from_secs(721 * 3600)), "30d1h");
        assert_eq!(parse_size("256KB"), Some(256_000));
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected_with_the_key() {
        let e = Config::from_yaml("limits_config:\n  max_query_lenght: 12h\n").unwrap_err();
        assert!(e.to_string().contains("max_query_lenght"), "{e}");
        let e = Config::from_yaml("limits_config:\n  max_query_length: twelve\n").unwrap_err();
        assert!(e.to_string().contains("invalid duration"), "{e}");
        let e = Config::from_yaml("storage:\n  zstd_level: 99\n").unwrap_err();
        assert!(e.to_string().contains("storage.zstd_level"), "{e}");
    }

    #[test]
    fn overrides_inherit_unset_keys_and_are_validated() {
        let base = LimitsConfig::default();
        let o = parse_overrides(
            "overrides:\n  t1:\n    max_entries_limit_per_query: 10\n    retention_period: 48h\n  t2: {}\n",
            &base,
        )
        .unwrap();
        assert_eq!(o["t1"].max_entries_limit_per_query, 10);
        assert_eq!(o["t1"].max_query_series, 500);
        assert_eq!(
            o["t1"].to_storage().retention.period,
            48 * 3600 * 1_000_000_000
        );
        assert_eq!(o["t2"], base);
        let e = parse_overrides("overrides:\n  t1:\n    max_entries_limt: 1\n", &base).unwrap_err();
        assert!(e.to_string().contains("max_entries_limt"), "{e}");
        let e =
            parse_overrides("overrides:\n  t1:\n    retention_period: 1h\n", &base).unwrap_err();
        assert!(e.to_string().contains("retention_period"), "{e}");
        assert!(parse_overrides("", &base).unwrap().is_empty());
    }

    #[test]
    fn storage_limits_follow_the_config() {
        let c = Config::from_yaml(
            "limits_config:\n  ingestion_rate_mb: 1\n  max_global_streams_per_user: 5\n  out_of_order_time_window: 0s\n  retention_stream:\n  - selector: '{app=\"a\"}'\n    priority: 1\n    period: 24h\n",
        )
        .unwrap();
        let l = c.limits();
        assert_eq!(l.ingestion_rate_bytes, 1024.0 * 1024.0);
        assert_eq!(l.max_streams_per_user, 5);
        assert_eq!(l.out_of_order_window, 0);
        assert_eq!(l.retention.rules.len(), 1);
    }

    #[test]
    fn yaml_round_trip() {
        let c = Config::default();
        assert_eq!(Config::from_yaml(&c.to_yaml()).unwrap(), c);
    }
}
