//! The `ruler` section, with Loki's key names, and its mapping onto
//! `lode_ruler::RulerOptions`.

use super::{ConfigError, Dur};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RulerConfig {
    /// Serves the rules API (`/loki/api/v1/rules`, `/prometheus/api/v1/rules`, ...).
    pub enable_api: bool,
    pub evaluation_interval: Dur,
    /// How often the rules directory is re-read.
    pub poll_interval: Dur,
    /// Where the ruler keeps its own files (the alert state). Empty:
    /// `<data_dir>/ruler`.
    pub rule_path: String,
    pub storage: RulerStorage,
    /// Alertmanager base URLs, comma-separated.
    pub alertmanager_url: String,
    /// Base of the links alerts carry (`generatorURL`). Empty: this
    /// server's listen address.
    pub external_url: String,
    pub external_labels: BTreeMap<String, String>,
    /// Only Alertmanager's v2 API is spoken (v1 was removed in Alertmanager 0.27).
    pub enable_alertmanager_v2: bool,
    pub resend_delay: Dur,
    pub notification_queue_capacity: usize,
    pub notification_timeout: Dur,
    pub remote_write: RemoteWrite,
}

impl Default for RulerConfig {
    fn default() -> Self {
        RulerConfig {
            enable_api: true,
            evaluation_interval: Dur::secs(60),
            poll_interval: Dur::secs(60),
            rule_path: String::new(),
            storage: RulerStorage::default(),
            alertmanager_url: String::new(),
            external_url: String::new(),
            external_labels: BTreeMap::new(),
            enable_alertmanager_v2: true,
            resend_delay: Dur::secs(60),
            notification_queue_capacity: 10_000,
            notification_timeout: Dur::secs(10),
            remote_write: RemoteWrite::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RulerStorage {
    #[serde(rename = "type")]
    pub kind: String,
    pub local: LocalRuleStorage,
}

impl Default for RulerStorage {
    fn default() -> Self {
        RulerStorage {
            kind: "local".into(),
            local: LocalRuleStorage::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LocalRuleStorage {
    /// One folder per tenant, one rule file per namespace. Empty:
    /// `<data_dir>/rules`.
    pub directory: String,
    /// Lode's key: rule files from git (a mounted ConfigMap), same layout,
    /// read but never written; the API refuses to change its namespaces.
    pub read_only_directory: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWrite {
    pub enabled: bool,
    pub clients: BTreeMap<String, RemoteWriteClient>,
    /// Lode's key: samples waiting to be written before the oldest are dropped.
    pub queue_capacity: usize,
}

impl Default for RemoteWrite {
    fn default() -> Self {
        RemoteWrite {
            enabled: false,
            clients: BTreeMap::new(),
            queue_capacity: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteClient {
    pub url: String,
    pub remote_timeout: Dur,
    pub headers: BTreeMap<String, String>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: String,
}

impl Default for RemoteWriteClient {
    fn default() -> Self {
        RemoteWriteClient {
            url: String::new(),
            remote_timeout: Dur::secs(30),
            headers: BTreeMap::new(),
            basic_auth: None,
            authorization: None,
            bearer_token: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials: String,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            kind: "Bearer".into(),
            credentials: String::new(),
        }
    }
}

fn bad(key: &'static str, msg: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key,
        msg: msg.into(),
    })
}

fn plain_http(u: &str) -> bool {
    u.strip_prefix("http://")
        .is_some_and(|rest| !rest.is_empty())
}

impl RulerConfig {
    pub fn alertmanager_urls(&self) -> Vec<String> {
        self.alertmanager_url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.evaluation_interval.0 < Duration::from_secs(1) {
            return bad("ruler.evaluation_interval", "must be at least 1s");
        }
        if self.poll_interval.0 < Duration::from_secs(1) {
            return bad("ruler.poll_interval", "must be at least 1s");
        }
        if self.storage.kind != "local" {
            return bad(
                "ruler.storage.type",
                format!(
                    "{:?} is not supported: rules live in a local directory (type: local)",
                    self.storage.kind
                ),
            );
        }
        if !self.enable_alertmanager_v2 {
            return bad(
                "ruler.enable_alertmanager_v2",
                "only Alertmanager's v2 API is supported",
            );
        }
        for u in self.alertmanager_urls() {
            if !plain_http(&u) {
                return bad(
                    "ruler.alertmanager_url",
                    format!("{u:?}: an http:// URL is needed (https is not supported; DNS SRV names neither)"),
                );
            }
        }
        if self.notification_queue_capacity == 0 {
            return bad("ruler.notification_queue_capacity", "must be at least 1");
        }
        for k in self.external_labels.keys() {
            if !lode_go::model::is_valid_label_name(k) {
                return bad("ruler.external_labels", format!("invalid label name {k:?}"));
            }
        }
        if self.remote_write.enabled {
            if self.remote_write.clients.is_empty() {
                return bad(
                    "ruler.remote_write.clients",
                    "remote_write is enabled without a client",
                );
            }
            for (name, c) in &self.remote_write.clients {
                if !plain_http(&c.url) {
                    return bad(
                        "ruler.remote_write.clients",
                        format!("client {name:?}: url {:?} must be an http:// URL", c.url),
                    );
                }
            }
        }
        Ok(())
    }

    pub fn options(&self, data_dir: &Path, listen: &str) -> lode_ruler::RulerOptions {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                data_dir.join(d)
            } else {
                Path::new(s).to_path_buf()
            }
        };
        let external_url = if self.external_url.is_empty() {
            let host = listen.replace("0.0.0.0", "localhost");
            format!("http://{host}")
        } else {
            self.external_url.clone()
        };
        let remote_write = if self.remote_write.enabled {
            self.remote_write
                .clients
                .iter()
                .map(|(name, c)| lode_ruler::remote_write::Client {
                    name: name.clone(),
                    url: c.url.clone(),
                    headers: client_headers(c),
                    timeout: c.remote_timeout.0,
                })
                .collect()
        } else {
            Vec::new()
        };
        lode_ruler::RulerOptions {
            rules_dir: or(&self.storage.local.directory, "rules"),
            read_only_rules_dir: (!self.storage.local.read_only_directory.is_empty())
                .then(|| Path::new(&self.storage.local.read_only_directory).to_path_buf()),
            state_dir: or(&self.rule_path, "ruler"),
            evaluation_interval: self.evaluation_interval.0,
            poll_interval: self.poll_interval.0,
            alertmanager_urls: self.alertmanager_urls(),
            external_url,
            external_labels: self
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            resend_delay: self.resend_delay.0,
            notification_queue_capacity: self.notification_queue_capacity,
            notification_timeout: self.notification_timeout.0,
            remote_write,
            remote_write_queue_capacity: self.remote_write.queue_capacity.max(1),
        }
    }
}

fn client_headers(c: &RemoteWriteClient) -> Vec<(String, String)> {
    use base64::Engine;
    let mut h: Vec<(String, String)> = c
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(b) = &c.basic_auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", b.username, b.password));
        h.push(("Authorization".into(), format!("Basic {token}")));
    } else if let Some(a) = &c.authorization {
        h.push((
            "Authorization".into(),
            format!("{} {}", a.kind, a.credentials),
        ));
    } else if !c.bearer_token.is_empty() {
        h.push(("Authorization".into(), format!("Bearer {}", c.bearer_token)));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> RulerConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn loki_keys_map_onto_the_ruler() {
        let c = cfg(r#"
alertmanager_url: "http://am-0:9093, http://am-1:9093/prefix/"
external_labels: {cluster: home}
remote_write:
  enabled: true
  clients:
    a: {url: "http://prom:9090/api/v1/write", basic_auth: {username: u, password: p}, headers: {X-Extra: "1"}}
    b: {url: "http://prom:9090/api/v1/write", authorization: {credentials: tok}}
    c: {url: "http://prom:9090/api/v1/write", bearer_token: old}
"#);
        c.validate().unwrap();
        let o = c.options(Path::new("/data"), "0.0.0.0:3100");
        assert_eq!(
            o.alertmanager_urls,
            ["http://am-0:9093", "http://am-1:9093/prefix/"]
        );
        assert_eq!(o.rules_dir, Path::new("/data/rules"));
        assert_eq!(o.state_dir, Path::new("/data/ruler"));
        assert_eq!(o.external_url, "http://localhost:3100");
        let h = |i: usize| o.remote_write[i].headers.clone();
        assert_eq!(
            h(0),
            [
                ("X-Extra".to_string(), "1".to_string()),
                ("Authorization".to_string(), "Basic dTpw".to_string())
            ]
        );
        assert_eq!(
            h(1),
            [("Authorization".to_string(), "Bearer tok".to_string())]
        );
        assert_eq!(
            h(2),
            [("Authorization".to_string(), "Bearer old".to_string())]
        );
    }

    #[test]
    fn what_lode_cannot_do_is_refused_by_key() {
        for (yaml, key) in [
            (
                "alertmanager_url: https://am:9093",
                "ruler.alertmanager_url",
            ),
            (
                "alertmanager_url: dnssrv+_http._tcp.am",
                "ruler.alertmanager_url",
            ),
            ("storage: {type: s3}", "ruler.storage.type"),
            ("evaluation_interval: 100ms", "ruler.evaluation_interval"),
            (
                "enable_alertmanager_v2: false",
                "ruler.enable_alertmanager_v2",
            ),
            (
                "remote_write: {enabled: true}",
                "ruler.remote_write.clients",
            ),
            ("external_labels: {'a-b': x}", "ruler.external_labels"),
        ] {
            match cfg(yaml).validate() {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{yaml}"),
                other => panic!("{yaml}: {other:?}"),
            }
        }
    }
}
