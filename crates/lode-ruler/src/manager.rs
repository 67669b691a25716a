//! The ruler's schedule. One thread polls the rules directory every
//! `poll_interval` (or at once after an API write) and evaluates each
//! group when it is due, at its *scheduled* timestamp: group evaluations
//! sit on a grid of `interval` steps, so a late wake-up does not shift
//! what `[5m]` covers. A group that fell more than one interval behind
//! skips the missed steps (counted) rather than catching up in a burst.

use crate::alerts::{AlertSet, AlertState, Element};
use crate::metrics::RulerMetrics;
use crate::notifier::Notifier;
use crate::remote_write::{Client, Point, RemoteWriter};
use crate::rules::{parse_file, Group, LabelValue, RuleError, RuleKind};
use crate::state::{SavedAlert, StateStore};
use crate::store::RuleStore;
use crate::templates::{expand, AlertData};
use lode_logql::ast::MetricExpr;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One element of an instant query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Runs a rule's query. The server implements it over the store, with the
/// tenant's limits and query timeout.
pub trait Evaluator: Send + Sync + 'static {
    /// `expr` as an instant query for `tenant` at `ts` (ns).
    fn instant(&self, tenant: &str, expr: &MetricExpr, ts: i64) -> Result<Vec<Sample>, String>;
}

#[derive(Debug, Clone)]
pub struct RulerOptions {
    /// `ruler.storage.local.directory`.
    pub rules_dir: PathBuf,
    /// `ruler.storage.local.read_only_directory`: rule files from git.
    pub read_only_rules_dir: Option<PathBuf>,
    /// `ruler.rule_path`: where the alert state is kept.
    pub state_dir: PathBuf,
    pub evaluation_interval: Duration,
    pub poll_interval: Duration,
    pub alertmanager_urls: Vec<String>,
    pub external_url: String,
    pub external_labels: Vec<(String, String)>,
    /// Prometheus' `rules.alert.resend-delay`.
    pub resend_delay: Duration,
    pub notification_queue_capacity: usize,
    pub notification_timeout: Duration,
    pub remote_write: Vec<Client>,
    pub remote_write_queue_capacity: usize,
}

impl Default for RulerOptions {
    fn default() -> Self {
        RulerOptions {
            rules_dir: PathBuf::from("./data/rules"),
            read_only_rules_dir: None,
            state_dir: PathBuf::from("./data/ruler"),
            evaluation_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(60),
            alertmanager_urls: Vec::new(),
            external_url: String::new(),
            external_labels: Vec::new(),
            resend_delay: Duration::from_secs(60),
            notification_queue_capacity: 10_000,
            notification_timeout: Duration::from_secs(10),
            remote_write: Vec::new(),
            remote_write_queue_capacity: 100_000,
        }
    }
}

/// A rule's last evaluation, for the API.
#[derive(Debug, Clone, Default)]
pub struct RuleHealth {
    pub last_error: Option<String>,
    pub last_evaluation: Option<i64>,
    pub evaluation_seconds: f64,
}

pub(crate) struct RuleRuntime {
    pub rule: Arc<crate::rules::Rule>,
    pub alerts: AlertSet,
    pub health: RuleHealth,
}

pub(crate) struct GroupRuntime {
    pub group: Arc<Group>,
    pub rules: Vec<RuleRuntime>,
    /// Next scheduled evaluation (ns, wall clock).
    pub next_eval: i64,
    pub last_evaluation: Option<i64>,
    pub evaluation_seconds: f64,
}

type Key = (String, String, String);

struct Loaded {
    /// Contents each file was last loaded from.
    files: HashMap<PathBuf, String>,
    /// Contents each refused file had, and why: logged once, not at every poll.
    failed: HashMap<PathBuf, (String, Vec<RuleError>)>,
    errors: Vec<RuleError>,
}

pub(crate) struct Inner {
    pub opts: RulerOptions,
    pub store: RuleStore,
    evaluator: Arc<dyn Evaluator>,
    pub groups: Mutex<BTreeMap<Key, Arc<Mutex<GroupRuntime>>>>,
    loaded: Mutex<Loaded>,
    pub metrics: Arc<RulerMetrics>,
    notifier: Notifier,
    remote: RemoteWriter,
    state: StateStore,
    restored: Mutex<crate::state::Restored>,
    stop: AtomicBool,
    wake: (Mutex<bool>, Condvar),
}

/// The running ruler.
pub struct Ruler {
    pub(crate) inner: Arc<Inner>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Ruler {
    /// Loads the rules (errors are logged and kept for the API) and starts
    /// the evaluation, notification and remote-write threads.
    pub fn start(opts: RulerOptions, evaluator: Arc<dyn Evaluator>) -> Ruler {
        let metrics = Arc::new(RulerMetrics::default());
        let mut threads = Vec::new();
        let (notifier, h) = Notifier::start(
            opts.alertmanager_urls.clone(),
            opts.notification_queue_capacity,
            opts.notification_timeout,
            metrics.clone(),
        );
        threads.extend(h);
        let (remote, h) = RemoteWriter::start(
            opts.remote_write.clone(),
            opts.remote_write_queue_capacity,
            metrics.clone(),
        );
        threads.extend(h);
        let state = StateStore::new(&opts.state_dir);
        let restored = state.load();
        let inner = Arc::new(Inner {
            store: RuleStore::new(opts.rules_dir.clone(), opts.read_only_rules_dir.clone()),
            opts,
            evaluator,
            groups: Mutex::new(BTreeMap::new()),
            loaded: Mutex::new(Loaded {
                files: HashMap::new(),
                failed: HashMap::new(),
                errors: Vec::new(),
            }),
            metrics,
            notifier,
            remote,
            state,
            restored: Mutex::new(restored),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(false), Condvar::new()),
        });
        inner.reload();
        let i = inner.clone();
        if let Ok(h) = std::thread::Builder::new()
            .name("lode-ruler".into())
            .spawn(move || i.run())
        {
            threads.push(h);
        }
        Ruler {
            inner,
            threads: Mutex::new(threads),
        }
    }

    pub fn store(&self) -> &RuleStore {
        &self.inner.store
    }

    pub fn metrics(&self) -> &RulerMetrics {
        &self.inner.metrics
    }

    /// Re-reads the rules now (after an API write) and waits for it.
    pub fn reload_now(&self) {
        self.inner.reload();
        self.inner.poke();
    }

    /// The errors of the last load.
    pub fn load_errors(&self) -> Vec<RuleError> {
        self.inner.loaded.lock().errors.clone()
    }

    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.poke();
        self.inner.notifier.stop();
        self.inner.remote.stop();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Ruler {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    /// Every group, taken out of the map so its lock is not held.
    pub(crate) fn group_list(&self) -> Vec<Arc<Mutex<GroupRuntime>>> {
        self.groups.lock().values().cloned().collect()
    }

    fn poke(&self) {
        *self.wake.0.lock() = true;
        self.wake.1.notify_all();
    }

    fn run(self: Arc<Self>) {
        let poll = ns(self.opts.poll_interval).max(1_000_000);
        let mut next_poll = now_ns().saturating_add(poll);
        while !self.stop.load(Ordering::Acquire) {
            let now = now_ns();
            if now >= next_poll {
                self.reload();
                next_poll = now.saturating_add(poll);
            }
            let due: Vec<Arc<Mutex<GroupRuntime>>> = self
                .groups
                .lock()
                .values()
                .filter(|g| g.lock().next_eval <= now)
                .cloned()
                .collect();
            for g in due {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                self.evaluate(&g);
            }
            let next_eval = self
                .groups
                .lock()
                .values()
                .map(|g| g.lock().next_eval)
                .min()
                .unwrap_or(i64::MAX);
            let wait_ns = next_eval.min(next_poll).saturating_sub(now_ns()).max(0);
            let mut woken = self.wake.0.lock();
            if !*woken {
                let wait = Duration::from_nanos(u64::try_from(wait_ns).unwrap_or(0));
                self.wake
                    .1
                    .wait_for(&mut woken, wait.min(Duration::from_secs(3600)));
            }
            *woken = false;
        }
    }

    /// Re-reads every rule file. A file that changed and validates
    /// replaces its groups (alert state carried over rule by rule); one
    /// that does not validate keeps its previous groups evaluating.
    pub(crate) fn reload(&self) {
        let files = match self.store.scan() {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the rules directory; rules unchanged");
                return;
            }
        };
        let default_interval = ns(self.opts.evaluation_interval);
        let mut loaded = self.loaded.lock();
        let mut errors = Vec::new();
        let mut keep: std::collections::HashSet<(String, String)> = Default::default();
        let mut replaced: Vec<((String, String), Vec<Group>)> = Vec::new();
        let mut seen_paths = std::collections::HashSet::new();
        for f in &files {
            seen_paths.insert(f.path.clone());
            let text = match RuleStore::read(&f.path) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(RuleError {
                        file: f.path.display().to_string(),
                        group: None,
                        rule: None,
                        msg: e.to_string(),
                    });
                    keep.insert((f.tenant.clone(), f.namespace.clone()));
                    continue;
                }
            };
            if loaded.files.get(&f.path) == Some(&text) {
                keep.insert((f.tenant.clone(), f.namespace.clone()));
                continue;
            }
            if let Some((t, errs)) = loaded.failed.get(&f.path) {
                if *t == text {
                    errors.extend(errs.iter().cloned());
                    keep.insert((f.tenant.clone(), f.namespace.clone()));
                    continue;
                }
            }
            let name = format!("{}/{}", f.tenant, f.namespace);
            match parse_file(&name, &f.tenant, &f.namespace, &text, default_interval) {
                Ok(groups) => {
                    loaded.failed.remove(&f.path);
                    loaded.files.insert(f.path.clone(), text);
                    replaced.push(((f.tenant.clone(), f.namespace.clone()), groups));
                }
                Err(errs) => {
                    for e in &errs {
                        tracing::error!(error = %e, "rule file refused; its previous version keeps evaluating");
                    }
                    errors.extend(errs.iter().cloned());
                    loaded.failed.insert(f.path.clone(), (text, errs));
                    keep.insert((f.tenant.clone(), f.namespace.clone()));
                }
            }
        }
        loaded.files.retain(|p, _| seen_paths.contains(p));
        loaded.failed.retain(|p, _| seen_paths.contains(p));
        loaded.errors = errors;
        self.metrics
            .rule_file_errors
            .store(loaded.errors.len() as u64, Ordering::Relaxed);
        drop(loaded);

        let mut groups = self.groups.lock();
        let replaced_ns: std::collections::HashSet<(String, String)> =
            replaced.iter().map(|(k, _)| k.clone()).collect();
        // Namespaces whose file is gone lose their groups.
        groups.retain(|k, _| {
            let ns = (k.0.clone(), k.1.clone());
            keep.contains(&ns) || replaced_ns.contains(&ns)
        });
        let now = now_ns();
        for (ns_key, new_groups) in replaced {
            let mut old: BTreeMap<Key, Arc<Mutex<GroupRuntime>>> = BTreeMap::new();
            let keys: Vec<Key> = groups
                .keys()
                .filter(|k| k.0 == ns_key.0 && k.1 == ns_key.1)
                .cloned()
                .collect();
            for k in keys {
                if let Some(v) = groups.remove(&k) {
                    old.insert(k, v);
                }
            }
            for g in new_groups {
                let key = g.key();
                let rt = match old.remove(&key) {
                    Some(prev) => carry_over(&prev.lock(), g),
                    None => self.fresh(g, now),
                };
                groups.insert(key, Arc::new(Mutex::new(rt)));
            }
        }
        self.metrics
            .rule_groups
            .store(groups.len() as u64, Ordering::Relaxed);
    }

    fn fresh(&self, g: Group, now: i64) -> GroupRuntime {
        let mut restored = self.restored.lock();
        let rules = g
            .rules
            .iter()
            .map(|r| {
                let mut alerts = AlertSet::default();
                let key = (
                    g.tenant.clone(),
                    g.namespace.clone(),
                    g.name.clone(),
                    r.name().to_string(),
                );
                if let (RuleKind::Alert { .. }, Some(saved)) = (&r.kind, restored.remove(&key)) {
                    for s in saved {
                        alerts.alerts.insert(
                            s.labels.clone(),
                            crate::alerts::Alert {
                                labels: s.labels,
                                annotations: Vec::new(),
                                state: s.state,
                                value: 0.0,
                                active_at: s.active_at,
                                fired_at: s.fired_at,
                                resolved_at: None,
                                last_sent_at: None,
                                valid_until: 0,
                                keep_firing_since: None,
                            },
                        );
                    }
                }
                RuleRuntime {
                    rule: r.clone(),
                    alerts,
                    health: RuleHealth::default(),
                }
            })
            .collect();
        GroupRuntime {
            // The first evaluation is at once, on the group's grid.
            next_eval: now - now.rem_euclid(g.interval_ns.max(1)),
            group: Arc::new(g),
            rules,
            last_evaluation: None,
            evaluation_seconds: 0.0,
        }
    }

    fn evaluate(&self, g: &Arc<Mutex<GroupRuntime>>) {
        let mut rt = g.lock();
        let group = rt.group.clone();
        let interval = group.interval_ns.max(1);
        let ts = rt.next_eval;
        let now = now_ns();
        let behind = now.saturating_sub(ts) / interval;
        if behind > 0 {
            RulerMetrics::add(&self.metrics.missed_iterations, behind as u64);
        }
        // The newest step not in the future.
        let ts = ts.saturating_add(behind.saturating_mul(interval));
        rt.next_eval = ts.saturating_add(interval);
        let started = Instant::now();
        let mut changed = false;
        let resend = ns(self.opts.resend_delay);
        for r in rt.rules.iter_mut() {
            let t0 = Instant::now();
            RulerMetrics::add(&self.metrics.evaluations, 1);
            let res = self.evaluator.instant(&group.tenant, &r.rule.expr, ts);
            let outcome = match res {
                Err(e) => Err(e),
                Ok(samples) => match &r.rule.kind {
                    RuleKind::Record { name } => {
                        self.record(&group, &r.rule, name, samples, ts);
                        Ok(())
                    }
                    RuleKind::Alert {
                        name,
                        for_ns,
                        keep_firing_for_ns,
                        annotations,
                    } => {
                        let had_alerts = !r.alerts.alerts.is_empty();
                        let elements = self.elements(&r.rule, name, annotations, samples);
                        let res = r.alerts.update(
                            ts,
                            *for_ns,
                            *keep_firing_for_ns,
                            group.limit,
                            elements,
                        );
                        // A result over the limit dropped every alert.
                        changed |= res.as_ref().map_or(had_alerts, |c| *c);
                        let due = r.alerts.due(ts, resend, interval);
                        self.notify(&group, &r.rule.expr_src, due);
                        res.map(|_| ())
                    }
                },
            };
            if let Err(e) = &outcome {
                RulerMetrics::add(&self.metrics.evaluation_failures, 1);
                tracing::warn!(tenant = %group.tenant, namespace = %group.namespace, group = %group.name, rule = %r.rule.name(), error = %e, "rule evaluation failed");
            }
            r.health = RuleHealth {
                last_error: outcome.err(),
                last_evaluation: Some(ts),
                evaluation_seconds: t0.elapsed().as_secs_f64(),
            };
        }
        let took = started.elapsed();
        RulerMetrics::add(
            &self.metrics.evaluation_micros,
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        );
        rt.last_evaluation = Some(ts);
        rt.evaluation_seconds = took.as_secs_f64();
        drop(rt);
        if changed {
            self.save_state();
        }
    }

    fn elements(
        &self,
        rule: &crate::rules::Rule,
        name: &str,
        annotations: &[(String, lode_go::template::Template)],
        samples: Vec<Sample>,
    ) -> Vec<Element> {
        let ext = &self.opts.external_labels;
        samples
            .into_iter()
            .map(|s| {
                let base: Vec<(String, String)> = s
                    .labels
                    .into_iter()
                    .filter(|(k, _)| k != "__name__")
                    .collect();
                let data = AlertData {
                    labels: &base,
                    value: s.value,
                    external_labels: ext,
                    external_url: &self.opts.external_url,
                };
                let mut labels: BTreeMap<String, String> = base.iter().cloned().collect();
                for (k, v) in &rule.labels {
                    let v = match v {
                        LabelValue::Template(t) => expand(t, &data),
                        LabelValue::Plain(p) => p.clone(),
                    };
                    if v.is_empty() {
                        labels.remove(k);
                    } else {
                        labels.insert(k.clone(), v);
                    }
                }
                labels.insert("alertname".into(), name.to_string());
                let annotations = annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), expand(t, &data)))
                    .collect();
                Element {
                    labels: labels.into_iter().collect(),
                    annotations,
                    value: s.value,
                }
            })
            .collect()
    }

    fn record(
        &self,
        group: &Group,
        rule: &crate::rules::Rule,
        name: &str,
        samples: Vec<Sample>,
        ts: i64,
    ) {
        let points = samples
            .into_iter()
            .map(|s| {
                let mut labels: BTreeMap<String, String> = s.labels.into_iter().collect();
                for (k, v) in &rule.labels {
                    if let LabelValue::Plain(v) = v {
                        labels.insert(k.clone(), v.clone());
                    }
                }
                labels.insert("__name__".into(), name.to_string());
                Point {
                    tenant: group.tenant.clone(),
                    labels: labels.into_iter().collect(),
                    value: s.value,
                    ts_ms: ts.div_euclid(1_000_000),
                }
            })
            .collect();
        self.remote.write(points);
    }

    fn notify(&self, group: &Group, expr: &str, alerts: Vec<crate::alerts::Alert>) {
        if alerts.is_empty() || !self.notifier.enabled() {
            return;
        }
        let generator = generator_url(&self.opts.external_url, expr);
        let out = alerts
            .into_iter()
            .map(|a| {
                let mut labels: BTreeMap<String, String> = a.labels.into_iter().collect();
                for (k, v) in &self.opts.external_labels {
                    labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
                let ends = a.resolved_at.unwrap_or(a.valid_until);
                let starts = a.fired_at.unwrap_or(a.active_at);
                serde_json::json!({
                    "labels": labels,
                    "annotations": a.annotations.into_iter().collect::<BTreeMap<_, _>>(),
                    "startsAt": rfc3339(starts),
                    "endsAt": rfc3339(ends),
                    "generatorURL": generator,
                })
            })
            .collect();
        tracing::debug!(tenant = %group.tenant, group = %group.name, "sending alerts");
        self.notifier.send(out);
    }

    fn save_state(&self) {
        let groups = self.group_list();
        let mut saved = Vec::new();
        for g in groups {
            let g = g.lock();
            for r in &g.rules {
                for a in r.alerts.alerts.values() {
                    if a.state == AlertState::Inactive {
                        continue;
                    }
                    saved.push(SavedAlert {
                        tenant: g.group.tenant.clone(),
                        namespace: g.group.namespace.clone(),
                        group: g.group.name.clone(),
                        rule: r.rule.name().to_string(),
                        labels: a.labels.clone(),
                        state: a.state,
                        active_at: a.active_at,
                        fired_at: a.fired_at,
                    });
                }
            }
        }
        if let Err(e) = self.state.save(saved) {
            tracing::error!(error = %e, "cannot save the alert state; a restart would restart pending alerts");
        }
    }
}

/// A changed group keeps the alerts of every rule that is still the same
/// (name and expression).
fn carry_over(prev: &GroupRuntime, g: Group) -> GroupRuntime {
    let rules = g
        .rules
        .iter()
        .map(|r| {
            let old = prev
                .rules
                .iter()
                .find(|o| o.rule.name() == r.name() && o.rule.expr_src == r.expr_src);
            RuleRuntime {
                rule: r.clone(),
                alerts: old.map(|o| o.alerts.clone()).unwrap_or_default(),
                health: old.map(|o| o.health.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let interval = g.interval_ns.max(1);
    let next = match prev.last_evaluation {
        Some(t) => t.saturating_add(interval),
        None => prev.next_eval,
    };
    GroupRuntime {
        group: Arc::new(g),
        rules,
        next_eval: next,
        last_evaluation: prev.last_evaluation,
        evaluation_seconds: prev.evaluation_seconds,
    }
}

pub(crate) fn rfc3339(ns: i64) -> String {
    lode_go::time::format_rfc3339_nanos(ns)
}

/// Where an alert links back to: Lode's UI with the rule's query.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let q = serde_urlencoded::to_string([("query", expr), ("range", "1h")]).unwrap_or_default();
    format!("{}/ui/?{q}", external_url.trim_end_matches('/'))
}
