//! The rules directory, laid out as Loki's local rule storage:
//! `<directory>/<tenant>/<namespace>`, one rule file per namespace. Files
//! in git (a ConfigMap) and groups written through the API live side by
//! side; every write is a whole-file replace (temporary file, fsync,
//! rename), so the poller never reads half a file.

use crate::error::{Result, RulerError};
use crate::rules::{RuleFile, RuleGroupDesc};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A rule file found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    pub tenant: String,
    pub namespace: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct RuleStore {
    dir: PathBuf,
}

/// Largest rule file read (a rule file is text a person wrote).
const MAX_FILE_BYTES: u64 = 8 << 20;

/// A namespace is a file name: nothing that could leave the tenant's folder.
pub fn validate_namespace(ns: &str) -> Result<()> {
    let bad = ns.is_empty()
        || ns.len() > 200
        || ns.starts_with('.')
        || ns.contains(['/', '\\', '\0'])
        || ns.chars().any(char::is_control);
    if bad {
        return Err(RulerError::Invalid(format!(
            "invalid namespace {ns:?}: it names a file, so it must be 1-200 characters without '/', '\\\\' or a leading '.'"
        )));
    }
    Ok(())
}

fn tenant_ok(t: &str) -> bool {
    !t.is_empty() && !t.starts_with('.') && !t.contains(['/', '\\', '\0'])
}

impl RuleStore {
    pub fn new(dir: impl Into<PathBuf>) -> RuleStore {
        RuleStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every rule file of every tenant, sorted. Hidden entries (a
    /// ConfigMap's `..data` links, editors' swap files) are skipped.
    pub fn scan(&self) -> Result<Vec<FoundFile>> {
        let mut out = Vec::new();
        let tenants = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(RulerError::io(format!("reading {}", self.dir.display()))(e)),
        };
        for t in tenants.flatten() {
            let tenant = t.file_name().to_string_lossy().into_owned();
            if !tenant_ok(&tenant) || !t.path().is_dir() {
                continue;
            }
            let Ok(files) = fs::read_dir(t.path()) else {
                continue;
            };
            for f in files.flatten() {
                let namespace = f.file_name().to_string_lossy().into_owned();
                if validate_namespace(&namespace).is_err() || namespace.ends_with(".tmp") {
                    continue;
                }
                if f.path().is_file() {
                    out.push(FoundFile {
                        tenant: tenant.clone(),
                        namespace,
                        path: f.path(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.tenant, &a.namespace).cmp(&(&b.tenant, &b.namespace)));
        Ok(out)
    }

    /// Reads a rule file, bounded.
    pub fn read(path: &Path) -> Result<String> {
        let ctx = || format!("reading {}", path.display());
        let len = fs::metadata(path).map_err(RulerError::io(ctx()))?.len();
        if len > MAX_FILE_BYTES {
            return Err(RulerError::Invalid(format!(
                "{}: {len} bytes, more than the {MAX_FILE_BYTES} a rule file may have",
                path.display()
            )));
        }
        fs::read_to_string(path).map_err(RulerError::io(ctx()))
    }

    fn path(&self, tenant: &str, ns: &str) -> PathBuf {
        self.dir.join(tenant).join(ns)
    }

    fn load(&self, tenant: &str, ns: &str) -> Result<Option<RuleFile>> {
        let p = self.path(tenant, ns);
        if !p.is_file() {
            return Ok(None);
        }
        let text = Self::read(&p)?;
        serde_yaml_ng::from_str(&text)
            .map(Some)
            .map_err(|e| RulerError::Invalid(format!("{}: invalid YAML: {e}", p.display())))
    }

    /// The groups of a tenant, by namespace (one namespace, or all).
    pub fn list(
        &self,
        tenant: &str,
        ns: Option<&str>,
    ) -> Result<BTreeMap<String, Vec<RuleGroupDesc>>> {
        let mut out = BTreeMap::new();
        let names: Vec<String> = match ns {
            Some(ns) => {
                validate_namespace(ns)?;
                vec![ns.to_string()]
            }
            None => self
                .scan()?
                .into_iter()
                .filter(|f| f.tenant == tenant)
                .map(|f| f.namespace)
                .collect(),
        };
        for name in names {
            // A file that does not parse is left out of listings (its
            // error is in the rules API and the log).
            if let Ok(Some(f)) = self.load(tenant, &name) {
                if !f.groups.is_empty() {
                    out.insert(name, f.groups);
                }
            }
        }
        Ok(out)
    }

    /// Adds a group to a namespace, or replaces the group of that name.
    pub fn set_group(&self, tenant: &str, ns: &str, group: RuleGroupDesc) -> Result<()> {
        validate_namespace(ns)?;
        let mut f = self
            .load(tenant, ns)?
            .unwrap_or(RuleFile { groups: Vec::new() });
        match f.groups.iter_mut().find(|g| g.name == group.name) {
            Some(g) => *g = group,
            None => f.groups.push(group),
        }
        self.write(tenant, ns, &f)
    }

    pub fn delete_group(&self, tenant: &str, ns: &str, group: &str) -> Result<()> {
        validate_namespace(ns)?;
        let mut f = self
            .load(tenant, ns)?
            .ok_or_else(|| RulerError::NotFound("group does not exist".into()))?;
        let before = f.groups.len();
        f.groups.retain(|g| g.name != group);
        if f.groups.len() == before {
            return Err(RulerError::NotFound("group does not exist".into()));
        }
        if f.groups.is_empty() {
            return self.delete_namespace(tenant, ns);
        }
        self.write(tenant, ns, &f)
    }

    pub fn delete_namespace(&self, tenant: &str, ns: &str) -> Result<()> {
        validate_namespace(ns)?;
        let p = self.path(tenant, ns);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RulerError::NotFound(
                "group namespace does not exist".into(),
            )),
            Err(e) => Err(RulerError::io(format!("removing {}", p.display()))(e)),
        }
    }

    fn write(&self, tenant: &str, ns: &str, f: &RuleFile) -> Result<()> {
        let dir = self.dir.join(tenant);
        fs::create_dir_all(&dir).map_err(RulerError::io(format!("creating {}", dir.display())))?;
        let text = serde_yaml_ng::to_string(f)
            .map_err(|e| RulerError::Invalid(format!("cannot write the group: {e}")))?;
        let p = self.path(tenant, ns);
        let tmp = dir.join(format!(".{ns}.tmp"));
        let ctx = || format!("writing {}", p.display());
        let mut file = fs::File::create(&tmp).map_err(RulerError::io(ctx()))?;
        file.write_all(text.as_bytes())
            .map_err(RulerError::io(ctx()))?;
        file.sync_all().map_err(RulerError::io(ctx()))?;
        fs::rename(&tmp, &p).map_err(RulerError::io(ctx()))?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
