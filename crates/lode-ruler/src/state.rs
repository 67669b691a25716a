//! Alert state kept across restarts, in `<rule_path>/alerts.json`: for
//! every pending or firing alert, when it became active and when it fired.
//! A firing alert keeps its `activeAt` (and Alertmanager its `startsAt`)
//! after a restart, as Prometheus does with `ALERTS_FOR_STATE`. The file
//! is replaced whole (temporary file, fsync, rename).

use crate::alerts::{AlertState, Labels};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;
const MAX_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAlert {
    pub tenant: String,
    pub namespace: String,
    pub group: String,
    pub rule: String,
    pub labels: Labels,
    pub state: AlertState,
    pub active_at: i64,
    #[serde(default)]
    pub fired_at: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    alerts: Vec<SavedAlert>,
}

/// (tenant, namespace, group, rule) → its saved alerts.
pub type Restored = HashMap<(String, String, String, String), Vec<SavedAlert>>;

pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    pub fn new(dir: &Path) -> StateStore {
        StateStore {
            path: dir.join("alerts.json"),
        }
    }

    /// What the last run saved. A missing or unreadable file starts empty
    /// (logged): alerts then start pending again, which is safe.
    pub fn load(&self) -> Restored {
        let mut out = Restored::new();
        let text = match fs::metadata(&self.path) {
            Ok(m) if m.len() <= MAX_BYTES => fs::read_to_string(&self.path).unwrap_or_default(),
            Ok(_) => {
                tracing::warn!(path = %self.path.display(), "alert state file too large; ignored");
                return out;
            }
            Err(_) => return out,
        };
        match serde_json::from_str::<StateFile>(&text) {
            Ok(f) if f.version == VERSION => {
                for a in f.alerts {
                    let k = (
                        a.tenant.clone(),
                        a.namespace.clone(),
                        a.group.clone(),
                        a.rule.clone(),
                    );
                    out.entry(k).or_default().push(a);
                }
            }
            Ok(f) => tracing::warn!(
                version = f.version,
                "alert state of an unknown version; ignored"
            ),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "alert state unreadable; ignored")
            }
        }
        out
    }

    pub fn save(&self, alerts: Vec<SavedAlert>) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let body = serde_json::to_vec(&StateFile {
            version: VERSION,
            alerts,
        })
        .map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        fs::rename(&tmp, &self.path)
    }
}
