//! Scalable mode (`docs/deploy.md`, "Scalable mode"): Loki's `target`, its
//! S3 keys (`common.storage.s3.*`, `storage_config.aws.*`) and Lode's
//! `scalable` section (how readers find writers, the bucket cache).

use super::{ConfigError, Dur, Size};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use std::time::Duration;

/// Loki's targets; Lode runs these four.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Everything in one process on one data directory (the default).
    #[default]
    All,
    /// Push API, WAL and chunk files on its volume, uploaded to the bucket.
    Write,
    /// Every query endpoint, from the bucket and the writers' feeds.
    Read,
    /// The ruler, reading like `read`.
    Backend,
}

impl Target {
    pub fn parse(s: &str) -> Option<Target> {
        match s {
            "all" => Some(Target::All),
            "write" => Some(Target::Write),
            "read" => Some(Target::Read),
            "backend" => Some(Target::Backend),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Write => "write",
            Target::Read => "read",
            Target::Backend => "backend",
        }
    }

    /// Takes pushes (and so owns a WAL).
    pub fn writes(self) -> bool {
        matches!(self, Target::All | Target::Write)
    }

    /// Serves LogQL queries.
    pub fn queries(self) -> bool {
        matches!(self, Target::All | Target::Read | Target::Backend)
    }

    /// Runs the ruler.
    pub fn rules(self) -> bool {
        matches!(self, Target::All | Target::Backend)
    }
}

/// Loki's S3 keys, as `common.storage.s3` and `storage_config.aws` hold them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct S3Config {
    pub endpoint: String,
    pub bucketnames: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub s3forcepathstyle: bool,
    pub insecure: bool,
}

impl S3Config {
    /// `over`'s keys that are set win over `self`'s.
    fn merged(mut self, over: S3Config) -> S3Config {
        let pick = |a: &mut String, b: String| {
            if !b.is_empty() {
                *a = b;
            }
        };
        pick(&mut self.endpoint, over.endpoint);
        pick(&mut self.bucketnames, over.bucketnames);
        pick(&mut self.region, over.region);
        pick(&mut self.access_key_id, over.access_key_id);
        pick(&mut self.secret_access_key, over.secret_access_key);
        self.s3forcepathstyle |= over.s3forcepathstyle;
        self.insecure |= over.insecure;
        self
    }

    pub fn to_bucket(&self, timeout: Duration) -> lode_storage::BucketConfig {
        lode_storage::BucketConfig {
            endpoint: self.endpoint.clone(),
            // Loki takes a comma-separated list and spreads chunks over the
            // buckets; Lode uses the first.
            bucket: self
                .bucketnames
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            force_path_style: self.s3forcepathstyle,
            insecure: self.insecure,
            request_timeout: timeout,
        }
    }
}

/// Reads the S3 keys out of a Loki file before its `common.storage` and
/// `storage_config` sections are set aside: `storage_config.aws` wins key
/// by key over `common.storage.s3`, as in Loki.
pub fn take_s3(top: &serde_yaml_ng::Mapping) -> Result<Option<S3Config>, ConfigError> {
    let at = |path: &[&str]| -> Option<Value> {
        let mut v = top.get(path[0])?;
        for k in &path[1..] {
            v = v.get(*k)?;
        }
        Some(v.clone())
    };
    let parse = |key: &'static str, v: Value| -> Result<S3Config, ConfigError> {
        serde_yaml_ng::from_value(v).map_err(|e| ConfigError::Invalid {
            key,
            msg: e.to_string(),
        })
    };
    let common = at(&["common", "storage", "s3"])
        .map(|v| parse("common.storage.s3", v))
        .transpose()?;
    let aws = at(&["storage_config", "aws"])
        .map(|v| parse("storage_config.aws", v))
        .transpose()?;
    Ok(match (common, aws) {
        (None, None) => None,
        (Some(c), None) => Some(c),
        (None, Some(a)) => Some(a),
        (Some(c), Some(a)) => Some(c.merged(a)),
    })
}

/// Lode's keys for scalable mode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScalableConfig {
    /// Where readers find writers: base URLs (`http://host:port`). A host
    /// that resolves to several addresses (a Kubernetes headless Service)
    /// names every one of them; names resolve again on every poll.
    pub writers: Vec<String>,
    /// How often readers ask the writers' feeds for new entries (the
    /// bucket's manifests are read at most every 2s).
    pub poll_interval: Dur,
    /// Bytes of block data readers keep from the bucket.
    pub cache_size: Size,
    /// Longest a request to the bucket may take.
    pub request_timeout: Dur,
}

impl Default for ScalableConfig {
    fn default() -> Self {
        ScalableConfig {
            writers: Vec::new(),
            poll_interval: Dur(Duration::from_millis(500)),
            cache_size: Size(256 << 20),
            request_timeout: Dur::secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const S3: &str = "common:\n  storage:\n    s3:\n      bucketnames: logs,spare\n      endpoint: garage:3900\n";

    #[test]
    fn scalable_targets_need_a_bucket_and_readers_their_writers() {
        let e = Config::from_yaml("target: write\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bucketnames"), "{e}");
        let e = Config::from_yaml(&format!("target: read\n{S3}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("scalable.writers"), "{e}");
        let e = Config::from_yaml(&format!(
            "target: read\n{S3}scalable:\n  writers: [lode-write:3100]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("http://"), "{e}");
        let e = Config::from_yaml("target: querier\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("target"), "{e}");
        let c = Config::from_yaml(&format!(
            "target: backend\n{S3}scalable:\n  writers: [http://lode-write:3100]\n"
        ))
        .unwrap();
        assert_eq!(c.target, super::Target::Backend);
        let b = c.loki.s3.unwrap().to_bucket(std::time::Duration::ZERO);
        assert_eq!(b.bucket, "logs", "the first of Loki's bucket list");
        assert!(
            Config::from_yaml("target: all\n").is_ok(),
            "all needs no bucket"
        );
    }
}
