//! A Loki single-binary config file, read as it is. Before the file is
//! matched against Lode's own keys, this takes out what only Loki's
//! internals use (rings, gRPC, schemas, caches, object-store clients...)
//! and remembers each for one startup warning, and maps the Loki keys whose
//! meaning Lode shares under another place (`common.path_prefix`,
//! `target`). What is left must be a Lode key: a typo, or a key in neither
//! Loki nor Lode, is still an error that names it.

use serde_yaml_ng::{Mapping, Value};

use super::ConfigError;

/// Loki settings with no meaning in Lode, as dotted paths. A path covers
/// everything under it; a trailing `*` matches any key with that prefix.
const IGNORED: &[&str] = &[
    // Whole sections: clustering, schema and object-store plumbing, caches,
    // the query frontend and scheduler, components Lode does not have.
    "memberlist",
    "schema_config",
    "storage_config",
    "chunk_store_config",
    "table_manager",
    "query_range",
    "frontend",
    "frontend_worker",
    "query_scheduler",
    "index_gateway",
    "ingester_client",
    "pattern_ingester",
    "bloom_*",
    // `ruler`: rings, sharding, its WAL and Alertmanager discovery.
    "ruler.ring",
    "ruler.wal",
    "ruler.wal_cleaner",
    "ruler.enable_sharding",
    "ruler.sharding_*",
    "ruler.search_pending_for",
    "ruler.flush_period",
    "ruler.alertmanager_client",
    "ruler.alertmanager_refresh_interval",
    "ruler.enable_alertmanager_discovery",
    "ruler.for_outage_tolerance",
    "ruler.for_grace_period",
    "ruler.query_stats_enabled",
    "ruler.disabled_rule_groups",
    "ruler.evaluation",
    "ruler.datasource_uid",
    "analytics",
    "tracing",
    "operational_config",
    "kafka_config",
    "ingest_limits",
    "ingest_limits_frontend",
    "block_builder",
    "block_scheduler",
    "dataobj",
    "profiling",
    "overrides_exporter",
    "ui",
    // `common`: only `path_prefix` means something to Lode.
    "common.storage",
    "common.ring",
    "common.replication_factor",
    "common.instance_addr",
    "common.instance_interface_names",
    "common.instance_enable_ipv6",
    "common.compactor_address",
    "common.compactor_grpc_address",
    // `server`: gRPC and log formatting.
    "server.grpc_*",
    "server.log_format",
    "server.log_request_headers",
    "server.log_request_exclude_headers_list",
    "server.log_request_at_info_level_enabled",
    "server.log_source_ips_enabled",
    "server.register_instrumentation",
    // `compactor`: its working files and ring (Lode compacts in place).
    "compactor.working_directory",
    "compactor.delete_request_store",
    "compactor.delete_request_store_*",
    "compactor.retention_delete_delay",
    "compactor.retention_delete_worker_count",
    "compactor.retention_table_timeout",
    "compactor.compactor_ring",
    "compactor.shared_store",
    "compactor.delete_max_interval",
    "compactor.delete_batch_size",
    "compactor.max_compaction_parallelism",
    "compactor.upload_parallelism",
    "compactor.apply_retention_interval",
    // `ingester`: its ring, WAL and chunk format (Lode has its own).
    "ingester.lifecycler",
    "ingester.wal",
    "ingester.chunk_encoding",
    "ingester.chunk_target_size",
    "ingester.chunk_block_size",
    "ingester.chunk_retain_period",
    "ingester.flush_check_period",
    "ingester.flush_op_timeout",
    "ingester.concurrent_flushes",
    "ingester.max_transfer_retries",
    "ingester.autoforget_unhealthy",
    "ingester.sync_period",
    "ingester.sync_min_utilization",
    "ingester.query_store_max_look_back_period",
    "ingester.index_shards",
    "ingester.shutdown_marker_path",
    "ingester.owned_streams_check_interval",
    // `querier` and `distributor`: scheduling and rings.
    "querier.max_concurrent",
    "querier.query_ingesters_within",
    "querier.engine",
    "querier.multi_tenant_queries_enabled",
    "querier.tail_max_duration",
    "querier.extra_query_delay",
    "querier.query_ingester_only",
    "querier.query_store_only",
    "querier.per_request_limits_enabled",
    "distributor.ring",
    "distributor.rate_store",
    "distributor.write_failures_logging",
    "distributor.otlp_config",
    // `limits_config`: query splitting, sharding and caching, rings, and
    // what Lode always does (structured metadata, volume, service names).
    "limits_config.allow_structured_metadata",
    "limits_config.volume_enabled",
    "limits_config.split_*",
    "limits_config.metric_aggregation_enabled",
    "limits_config.max_cache_freshness_per_query",
    "limits_config.max_query_parallelism",
    "limits_config.tsdb_max_query_parallelism",
    "limits_config.tsdb_max_bytes_per_shard",
    "limits_config.cardinality_limit",
    "limits_config.max_streams_matchers_per_query",
    "limits_config.max_concurrent_tail_requests",
    "limits_config.deletion_mode",
    "limits_config.allow_deletes",
    "limits_config.shard_streams",
    "limits_config.discover_service_name",
    "limits_config.discover_log_levels",
    "limits_config.log_level_fields",
    "limits_config.otlp_config",
    "limits_config.ingestion_rate_strategy",
    "limits_config.unordered_writes",
    "limits_config.max_chunks_per_query",
    "limits_config.max_query_bytes_read",
    "limits_config.max_querier_bytes_read",
    "limits_config.increment_duplicate_timestamp",
    "limits_config.per_stream_rate_limit",
    "limits_config.per_stream_rate_limit_burst",
    "limits_config.query_ready_index_num_days",
    "limits_config.max_structured_metadata_size",
    "limits_config.max_structured_metadata_entries_count",
    "limits_config.use_owned_stream_count",
    "limits_config.bloom_*",
    "limits_config.pattern_*",
    "limits_config.query_sharding_*",
    "limits_config.results_cache_*",
    "limits_config.query_timeout_*",
];

/// What reading a file as a Loki file found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LokiSettings {
    /// Loki settings Lode ignores, as dotted paths, in file order.
    pub ignored: Vec<String>,
    /// `common.path_prefix`: the data directory when `storage.data_dir` is
    /// not given.
    pub path_prefix: Option<String>,
    /// `common.storage.s3` / `storage_config.aws`: the bucket of scalable
    /// mode (and of a single binary that keeps a copy there).
    pub s3: Option<super::scalable::S3Config>,
}

fn ignored(path: &str) -> bool {
    IGNORED.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p,
    })
}

/// Takes the Loki-only keys out of the file's top mapping, and the keys
/// Lode reads elsewhere.
pub fn take_loki_settings(root: &mut Value) -> Result<LokiSettings, ConfigError> {
    let mut found = LokiSettings::default();
    let Value::Mapping(top) = root else {
        return Ok(found);
    };
    found.s3 = super::scalable::take_s3(top)?;
    // Used, so not named among the ignored keys.
    if let Some(Value::Mapping(common)) = top.get_mut("common") {
        if let Some(Value::Mapping(st)) = common.get_mut("storage") {
            st.shift_remove("s3");
            if st.is_empty() {
                common.shift_remove("storage");
            }
        }
    }
    if let Some(Value::Mapping(sc)) = top.get_mut("storage_config") {
        sc.shift_remove("aws");
        if sc.is_empty() {
            top.shift_remove("storage_config");
        }
    }
    strip(top, "", &mut found.ignored);
    if let Some(Value::Mapping(common)) = top.get_mut("common") {
        if let Some(p) = common.shift_remove("path_prefix") {
            found.path_prefix = p.as_str().map(str::to_string);
        }
        if common.is_empty() {
            top.shift_remove("common");
        }
    }
    // Sections left empty by the stripping are dropped, so that a Lode
    // section with nothing of Lode's in it does not become an error.
    top.retain(|_, v| !matches!(v, Value::Mapping(m) if m.is_empty()));
    Ok(found)
}

fn strip(map: &mut Mapping, prefix: &str, out: &mut Vec<String>) {
    map.retain(|k, v| {
        let Some(key) = k.as_str() else { return true };
        let path = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        if ignored(&path) {
            out.push(path);
            return false;
        }
        // Ignored keys sit at the top or one level down, in the sections
        // Lode and Loki share.
        if let (true, Value::Mapping(inner)) = (prefix.is_empty(), v) {
            strip(inner, &path, out);
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn loki_internals_are_taken_out_and_named() {
        let mut v = yaml(
            "target: all\nserver:\n  http_listen_port: 3100\n  grpc_listen_port: 9096\ncommon:\n  path_prefix: /loki\n  ring:\n    kvstore:\n      store: inmemory\nschema_config:\n  configs: []\nlimits_config:\n  max_query_length: 12h\n  split_queries_by_interval: 15m\n",
        );
        let s = take_loki_settings(&mut v).unwrap();
        assert_eq!(
            s.ignored,
            [
                "server.grpc_listen_port",
                "common.ring",
                "schema_config",
                "limits_config.split_queries_by_interval"
            ]
        );
        assert_eq!(s.path_prefix.as_deref(), Some("/loki"));
        assert_eq!(
            v,
            yaml("target: all\nserver:\n  http_listen_port: 3100\nlimits_config:\n  max_query_length: 12h\n")
        );
    }

    #[test]
    fn anything_else_is_left_for_the_strict_parse() {
        let mut v = yaml(
            "limits_config:\n  max_query_lenght: 12h\nserver:\n  grcp_listen_port: 1\nnope: 1\n",
        );
        let s = take_loki_settings(&mut v).unwrap();
        assert!(s.ignored.is_empty());
        assert_eq!(v.as_mapping().unwrap().len(), 3);
    }

    #[test]
    fn s3_keys_are_read_with_storage_config_winning_key_by_key() {
        let mut v = yaml(
            "common:\n  storage:\n    s3:\n      endpoint: garage:3900\n      bucketnames: logs\n      region: garage\n      s3forcepathstyle: true\n    filesystem:\n      chunks_directory: /x\nstorage_config:\n  aws:\n    bucketnames: other\n    insecure: true\n",
        );
        let s = take_loki_settings(&mut v).unwrap();
        let s3 = s.s3.unwrap();
        assert_eq!(s3.endpoint, "garage:3900");
        assert_eq!(s3.bucketnames, "other");
        assert_eq!(s3.region, "garage");
        assert!(s3.s3forcepathstyle && s3.insecure);
        // What is left of them is named; storage_config held only `aws`.
        assert_eq!(s.ignored, ["common.storage"]);
    }
}
