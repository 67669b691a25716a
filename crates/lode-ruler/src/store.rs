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
    /// Rule files from git (a ConfigMap), same layout: read, never
    /// written. A namespace there cannot be changed through the API.
    read_only: Option<PathBuf>,
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
    pub fn new(dir: impl Into<PathBuf>, read_only: Option<PathBuf>) -> RuleStore {
        RuleStore {
            dir: dir.into(),
            read_only,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every rule file of every tenant, sorted. Hidden entries (a
    /// ConfigMap's `..data` links, editors' swap files) are skipped. A
    /// namespace in both directories is read from the read-only one.
    pub fn scan(&self) -> Result<Vec<FoundFile>> {
        let mut out = match &self.read_only {
            Some(ro) => scan_dir(ro)?,
            None => Vec::new(),
        };
        for f in scan_dir(&self.dir)? {
            if !out
                .iter()
                .any(|o| o.tenant == f.tenant && o.namespace == f.namespace)
            {
                out.push(f);
            }
        }
        out.sort_by(|a, b| (&a.tenant, &a.namespace).cmp(&(&b.tenant, &b.namespace)));
        Ok(out)
    }

    /// Refuses a change to a namespace that comes from git.
    fn writable(&self, tenant: &str, ns: &str) -> Result<()> {
        if let Some(ro) = &self.read_only {
            if ro.join(tenant).join(ns).is_file() {
                return Err(RulerError::Invalid(format!(
                    "namespace {ns:?} comes from the read-only rules directory (ruler.storage.local.read_only_directory, rule files from git): change it there"
                )));
            }
        }
        Ok(())
    }
}

fn scan_dir(dir: &Path) -> Result<Vec<FoundFile>> {
    let mut out = Vec::new();
    let tenants = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(RulerError::io(format!("reading {}", dir.display()))(e)),
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
    Ok(out)
}

impl RuleStore {
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
        let p = match &self.read_only {
            Some(ro) if ro.join(tenant).join(ns).is_file() => ro.join(tenant).join(ns),
            _ => self.path(tenant, ns),
        };
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
        self.writable(tenant, ns)?;
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
        self.writable(tenant, ns)?;
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
        self.writable(tenant, ns)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> RuleGroupDesc {
        serde_yaml_ng::from_str(&format!(
            "name: {name}\nrules:\n  - record: a:b\n    expr: sum(count_over_time({{a=\"b\"}}[1m]))\n"
        ))
        .unwrap()
    }

    #[test]
    fn api_groups_persist_and_git_namespaces_stay_untouched() {
        let rw = tempfile::tempdir().unwrap();
        let ro = tempfile::tempdir().unwrap();
        fs::create_dir_all(ro.path().join("fake")).unwrap();
        let git = "groups:\n  - name: from-git\n    rules:\n      - record: g:c\n        expr: sum(count_over_time({a=\"b\"}[1m]))\n";
        fs::write(ro.path().join("fake/homelab.yaml"), git).unwrap();
        // A ConfigMap mount's hidden entries are not namespaces.
        fs::create_dir_all(ro.path().join("fake/..data")).unwrap();
        let s = RuleStore::new(rw.path(), Some(ro.path().to_path_buf()));

        s.set_group("fake", "api", group("one")).unwrap();
        s.set_group("fake", "api", group("two")).unwrap();
        s.set_group("fake", "api", group("one")).unwrap();
        let all = s.list("fake", None).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["api", "homelab.yaml"]);
        let names: Vec<&str> = all["api"].iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["one", "two"], "replaced in place, not duplicated");
        assert!(rw.path().join("fake/api").is_file());

        let e = s.set_group("fake", "homelab.yaml", group("x")).unwrap_err();
        assert!(e.to_string().contains("read-only rules directory"), "{e}");
        assert!(s.delete_namespace("fake", "homelab.yaml").is_err());
        assert_eq!(
            fs::read_to_string(ro.path().join("fake/homelab.yaml")).unwrap(),
            git
        );

        let found: Vec<String> = s.scan().unwrap().into_iter().map(|f| f.namespace).collect();
        assert_eq!(found, ["api", "homelab.yaml"]);

        s.delete_group("fake", "api", "one").unwrap();
        assert!(matches!(
            s.delete_group("fake", "api", "one"),
            Err(RulerError::NotFound(_))
        ));
        s.delete_group("fake", "api", "two").unwrap();
        assert!(
            !rw.path().join("fake/api").exists(),
            "the last group takes the file"
        );
        for bad in ["", "..", ".hidden", "a/b", "a\\b"] {
            assert!(validate_namespace(bad).is_err(), "{bad:?}");
        }
    }
}
