//! Runtime configuration: per-tenant limit overrides read from
//! `runtime_config.file` at start-up and re-read every
//! `runtime_config.period`, so limits change without a restart. A file that
//! fails to parse is logged and ignored: the last good overrides stay.

use crate::config::{parse_overrides, Config, ConfigError};
use lode_storage::LogStore;
use std::collections::HashMap;
use std::sync::Arc;

/// Reads the runtime file and installs its overrides. Returns how many
/// tenants it names.
pub fn apply(config: &Config, store: &dyn LogStore) -> Result<usize, ConfigError> {
    let path = &config.runtime_config.file;
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let parsed = parse_overrides(&text, &config.limits_config)?;
    let n = parsed.len();
    let limits: HashMap<String, lode_storage::Limits> = parsed
        .into_iter()
        .map(|(t, l)| (t, l.to_storage()))
        .collect();
    store.set_tenant_limits(limits);
    Ok(n)
}

/// Loads the overrides once (an error stops start-up) and keeps reloading
/// them in the background when the file changes.
pub fn start(config: Arc<Config>, store: Arc<dyn LogStore>) -> Result<(), ConfigError> {
    if config.runtime_config.file.is_empty() {
        return Ok(());
    }
    apply(&config, store.as_ref())?;
    let mut last = std::fs::read(&config.runtime_config.file).ok();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.runtime_config.period.0);
        loop {
            tick.tick().await;
            let now = std::fs::read(&config.runtime_config.file).ok();
            if now == last {
                continue;
            }
            match apply(&config, store.as_ref()) {
                Ok(n) => {
                    tracing::info!(tenants = n, "runtime configuration reloaded");
                    last = now;
                }
                Err(e) => {
                    tracing::error!(error = %e, "runtime configuration not reloaded; keeping the previous overrides");
                    last = now;
                }
            }
        }
    });
    Ok(())
}
