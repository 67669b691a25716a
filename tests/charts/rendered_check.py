#!/usr/bin/env python3
"""Checks on the manifests the Lode bundle renders to (after Fleet's kustomize step).

* Grafana provisioning: the datasource ConfigMap holds a valid provisioning
  file for one Loki datasource (fixed uid, isDefault false, maxLines, a derived
  field whose regex compiles); each dashboard JSON parses, has a unique uid,
  refers to Loki only by that uid and to Prometheus only through a declared
  datasource variable, and uses only metric names Lode exports.
* The StatefulSet keeps the deployment's promises: one replica, data_dir on the
  claim mount, Retain on delete and scale-down, probes on /ready, non-root with
  a read-only root filesystem, and a grace period longer than Lode's own
  graceful_shutdown_timeout.
* --extract-config OUT writes the Lode config from the ConfigMap the
  StatefulSet mounts, for `lode --check-config`.

Usage: rendered_check.py RENDERED.yaml [--extract-config OUT] [--no-grafana]
"""

from __future__ import annotations

import json
import re
import sys

import yaml

# Series Lode exports on /metrics (histograms also as _bucket/_sum/_count).
LODE_METRICS = {
    "lode_ingested_lines_total",
    "lode_ingested_bytes_total",
    "lode_active_streams",
    "lode_wal_syncs_total",
    "lode_query_duration_seconds",
    "lode_disk_bytes",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def parse_duration(text: str) -> float:
    """Prometheus-style duration (1h30m, 30s, 500ms) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")


def labelled(docs: list[dict], label: str) -> list[dict]:
    return [
        d for d in docs
        if d.get("kind") == "ConfigMap" and (d.get("metadata", {}).get("labels") or {}).get(label) == "1"
    ]


def walk(node, path=""):
    """Yields (path, dict) for every dict inside a JSON document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def check_datasource(docs: list[dict], rep: Report) -> str | None:
    cms = labelled(docs, "grafana_datasource")
    if len(cms) != 1:
        rep.fail("datasource", f"expected one ConfigMap labelled grafana_datasource=\"1\", found {len(cms)}")
        return None
    cm = cms[0]
    name = cm["metadata"]["name"]
    uid = None
    for key, payload in (cm.get("data") or {}).items():
        where = f"ConfigMap {name} key {key}"
        try:
            prov = yaml.safe_load(payload)
        except yaml.YAMLError as e:
            rep.fail(where, f"not YAML: {e}")
            continue
        if not isinstance(prov, dict) or prov.get("apiVersion") != 1:
            rep.fail(where, "provisioning file needs apiVersion: 1")
            continue
        for ds in prov.get("datasources") or []:
            if ds.get("type") != "loki":
                rep.fail(where, f"datasource {ds.get('name')!r} has type {ds.get('type')!r}, want loki")
            if not ds.get("uid"):
                rep.fail(where, "datasource has no fixed uid")
            uid = ds.get("uid")
            if ds.get("isDefault") is not False:
                rep.fail(where, "isDefault must be false (kube-prometheus-stack's Prometheus is the default)")
            url = str(ds.get("url", ""))
            if not re.fullmatch(r"http://[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local:\d+", url):
                rep.fail(where, f"url {url!r} is not an in-cluster Service URL")
            jd = ds.get("jsonData") or {}
            if not str(jd.get("maxLines", "")).isdigit():
                rep.fail(where, "jsonData.maxLines must be a number")
            fields = jd.get("derivedFields") or []
            if not fields:
                rep.fail(where, "jsonData.derivedFields has no trace-ID field")
            for f in fields:
                try:
                    rx = re.compile(f.get("matcherRegex", ""))
                    if rx.groups < 1:
                        rep.fail(where, f"derived field {f.get('name')!r} regex captures nothing")
                except re.error as e:
                    rep.fail(where, f"derived field {f.get('name')!r} regex: {e}")
                if not f.get("name") or "url" not in f:
                    rep.fail(where, "derived field needs name and url")
    if uid is None:
        rep.fail("datasource", "no datasource entry found")
    return uid


def check_dashboards(docs: list[dict], loki_uid: str | None, rep: Report) -> None:
    cms = labelled(docs, "grafana_dashboard")
    if not cms:
        rep.fail("dashboards", "no ConfigMap labelled grafana_dashboard=\"1\"")
    seen_uids: dict[str, str] = {}
    for cm in cms:
        for key, payload in (cm.get("data") or {}).items():
            where = f"dashboard {cm['metadata']['name']}/{key}"
            if not key.endswith(".json"):
                rep.fail(where, "dashboard keys must end in .json for the sidecar")
            try:
                dash = json.loads(payload)
            except json.JSONDecodeError as e:
                rep.fail(where, f"not JSON: {e}")
                continue
            duid = dash.get("uid")
            if not duid or not dash.get("title") or not dash.get("panels"):
                rep.fail(where, "dashboard needs uid, title and panels")
            elif duid in seen_uids:
                rep.fail(where, f"uid {duid!r} also used by {seen_uids[duid]}")
            else:
                seen_uids[duid] = where
            ds_vars = {
                v.get("name") for v in (dash.get("templating") or {}).get("list", [])
                if v.get("type") == "datasource"
            }
            for path, node in walk(dash):
                ds = node.get("datasource")
                if not isinstance(ds, dict):
                    continue
                kind, uid = ds.get("type"), str(ds.get("uid", ""))
                if kind == "loki" and uid != loki_uid:
                    rep.fail(where, f"{path}: Loki datasource uid {uid!r}, want {loki_uid!r}")
                elif kind == "prometheus":
                    m = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", uid)
                    if not m or (m.group(1) or m.group(2)) not in ds_vars:
                        rep.fail(where, f"{path}: Prometheus uid {uid!r} is not a declared datasource variable")
                elif kind not in ("loki", "prometheus", "datasource", "grafana"):
                    rep.fail(where, f"{path}: unexpected datasource type {kind!r}")
            for name in set(re.findall(r"\blode_[a-z_]+", payload)):
                base = name
                for suffix in HISTOGRAM_SUFFIXES:
                    if name.endswith(suffix) and name[: -len(suffix)] in LODE_METRICS:
                        base = name[: -len(suffix)]
                if base not in LODE_METRICS:
                    rep.fail(where, f"metric {name!r} is not exported by Lode")
            if "${LODE_DS_UID}" in payload:
                rep.fail(where, "datasource uid placeholder was not substituted")


def find(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def check_statefulset(docs: list[dict], rep: Report) -> str | None:
    """Returns the Lode config text the StatefulSet mounts, verbatim."""
    sts_list = find(docs, "StatefulSet")
    if len(sts_list) != 1:
        rep.fail("StatefulSet", f"expected exactly one, found {len(sts_list)}")
        return None
    sts = sts_list[0]
    where = f"StatefulSet {sts['metadata']['name']}"
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    if spec.get("replicas") != 1:
        rep.fail(where, "Lode is single-node: replicas must be 1")
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    if retention.get("whenDeleted") != "Retain" or retention.get("whenScaled") != "Retain":
        rep.fail(where, "persistentVolumeClaimRetentionPolicy must Retain on delete and scale")
    claims = {c["metadata"]["name"]: c for c in spec.get("volumeClaimTemplates") or []}
    if not claims:
        rep.fail(where, "no volumeClaimTemplates")
    psc = pod.get("securityContext") or {}
    containers = pod.get("containers") or []
    lode = next((c for c in containers if c.get("name") == "lode"), None)
    if lode is None:
        rep.fail(where, "no container named lode")
        return None
    csc = lode.get("securityContext") or {}
    if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
        rep.fail(where, "must run as non-root")
    if csc.get("readOnlyRootFilesystem") is not True:
        rep.fail(where, "root filesystem must be read-only")
    for probe in ("readinessProbe", "livenessProbe"):
        path = ((lode.get(probe) or {}).get("httpGet") or {}).get("path")
        if path != "/ready":
            rep.fail(where, f"{probe} must GET /ready, has {path!r}")

    mounts = {m["name"]: m["mountPath"] for m in lode.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    args = lode.get("args") or []
    cfg_path = None
    for i, a in enumerate(args):
        if a in ("--config", "-config.file") and i + 1 < len(args):
            cfg_path = args[i + 1]
        elif a.startswith(("--config=", "-config.file=")):
            cfg_path = a.split("=", 1)[1]
    if cfg_path is None:
        rep.fail(where, "container args do not pass --config")
        return None
    cfg_dir, cfg_file = cfg_path.rsplit("/", 1)
    vol_name = next((n for n, p in mounts.items() if p == cfg_dir), None)
    cm_name = ((volumes.get(vol_name) or {}).get("configMap") or {}).get("name")
    cms = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"] == cm_name]
    if not cms or cfg_file not in (cms[0].get("data") or {}):
        rep.fail(where, f"--config {cfg_path} is not backed by a rendered ConfigMap key")
        return None
    raw = cms[0]["data"][cfg_file]
    config = yaml.safe_load(raw) or {}

    data_dir = str((config.get("storage") or {}).get("data_dir", ""))
    if not any(data_dir == mounts.get(c) or data_dir.startswith(mounts.get(c, "\0") + "/") for c in claims):
        rep.fail(where, f"storage.data_dir {data_dir!r} is not on a claim mount ({mounts})")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    shutdown = (config.get("server") or {}).get("graceful_shutdown_timeout", "30s")
    try:
        if grace <= parse_duration(shutdown):
            rep.fail(where, f"terminationGracePeriodSeconds {grace} must exceed graceful_shutdown_timeout {shutdown}")
    except ValueError as e:
        rep.fail(where, str(e))
    port = (config.get("server") or {}).get("http_listen_port", 3100)
    ports = {p.get("name"): p.get("containerPort") for p in lode.get("ports") or []}
    if ports.get("http-metrics") != port:
        rep.fail(where, f"containerPort http-metrics {ports.get('http-metrics')} != http_listen_port {port}")
    return raw


def selects(selector: dict, labels: dict) -> bool:
    """matchLabels plus the Exists/DoesNotExist/In/NotIn expressions."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
    return True


def check_wiring(docs: list[dict], rep: Report) -> None:
    """Ingress backends and ServiceMonitor endpoints must hit real Service ports."""
    services = {d["metadata"]["name"]: d for d in find(docs, "Service")}
    sts = find(docs, "StatefulSet")
    pod_labels = sts[0]["spec"]["template"]["metadata"].get("labels", {}) if sts else {}
    for name, svc in services.items():
        sel = svc["spec"].get("selector") or {}
        if not sel or any(pod_labels.get(k) != v for k, v in sel.items()):
            rep.fail(f"Service {name}", "selector does not match the Lode pods")
    ingresses = find(docs, "Ingress")
    # The ingress host is also the "direct Loki UI": /ui/ must reach Lode.
    ui_routed = False
    for ing in ingresses:
        for rule in ing["spec"].get("rules") or []:
            for p in (rule.get("http") or {}).get("paths") or []:
                path = p.get("path") or "/"
                prefix = p.get("pathType") in ("Prefix", "ImplementationSpecific")
                if path == "/ui/" or (prefix and "/ui/".startswith(path.rstrip("/") + "/")):
                    ui_routed = ui_routed or ((p.get("backend") or {}).get("service") or {}).get("name") in services
    if ingresses and not ui_routed:
        rep.fail("Ingress", "no path routes /ui/ (Lode's web UI) to the Lode Service")
    for ing in ingresses:
        where = f"Ingress {ing['metadata']['name']}"
        for rule in ing["spec"].get("rules") or []:
            for p in (rule.get("http") or {}).get("paths") or []:
                be = (p.get("backend") or {}).get("service") or {}
                svc = services.get(be.get("name"))
                port = be.get("port") or {}
                if svc is None:
                    rep.fail(where, f"backend Service {be.get('name')!r} is not in the bundle")
                    continue
                names = {sp.get("name") for sp in svc["spec"]["ports"]}
                numbers = {sp.get("port") for sp in svc["spec"]["ports"]}
                if port.get("name") not in names and port.get("number") not in numbers:
                    rep.fail(where, f"backend port {port} is not a port of Service {be.get('name')}")
    for sm in find(docs, "ServiceMonitor"):
        where = f"ServiceMonitor {sm['metadata']['name']}"
        matched = [s for s in services.values() if selects(sm["spec"].get("selector") or {}, s["metadata"].get("labels") or {})]
        if len(matched) != 1:
            rep.fail(where, f"selects {len(matched)} Services, want exactly 1 (no double scrape)")
        for ep in sm["spec"].get("endpoints") or []:
            for svc in matched:
                if ep.get("port") not in {sp.get("name") for sp in svc["spec"]["ports"]}:
                    rep.fail(where, f"endpoint port {ep.get('port')!r} is not a named port of {svc['metadata']['name']}")


def main(argv: list[str]) -> int:
    args = argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    rendered = args.pop(0)
    out = None
    grafana = True
    while args:
        a = args.pop(0)
        if a == "--extract-config" and args:
            out = args.pop(0)
        elif a == "--no-grafana":
            grafana = False
        else:
            print(f"unknown argument {a}", file=sys.stderr)
            return 2
    with open(rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    rep = Report()
    if grafana:
        uid = check_datasource(docs, rep)
        check_dashboards(docs, uid, rep)
    config = check_statefulset(docs, rep)
    check_wiring(docs, rep)
    if out and config is not None:
        with open(out, "w", encoding="utf-8") as f:
            f.write(config)
    for p in rep.problems:
        print(f"{rendered}: {p}")
    if not rep.problems:
        print(f"rendered manifests OK ({len(docs)} objects)")
    return 1 if rep.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
