"""Checks the chart's SimpleScalable rendering (docs/deploy.md, "Scalable
mode"): one writer StatefulSet on Longhorn, a stateless reader Deployment,
one backend, the headless Service readers find writers through, the
bucket's credentials from a Secret, and the Service Grafana and the ingress
use pointing at the readers. Writes each component's config to OUTDIR for
`lode --check-config`."""
import os, sys, yaml

path, outdir = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
fails = []


def need(cond, msg):
    if not cond:
        fails.append(msg)


def find(kind, suffix):
    hits = [d for (k, n), d in by.items() if k == kind and n.endswith(suffix)]
    need(len(hits) == 1, f"one {kind} named *{suffix}, found {len(hits)}")
    return hits[0] if hits else {}


write, read, backend = find("StatefulSet", "-write"), find("Deployment", "-read"), find("StatefulSet", "-backend")
need(not any(k == "StatefulSet" and not n.endswith(("-write", "-backend")) for k, n in by), "no single-binary StatefulSet")
need(write.get("spec", {}).get("volumeClaimTemplates"), "writers keep their WAL on a PVC")
need(backend.get("spec", {}).get("replicas") == 1, "exactly one backend")
for d, comp in ((write, "write"), (read, "read"), (backend, "backend")):
    spec = d.get("spec", {}).get("template", {}).get("spec", {})
    c = (spec.get("containers") or [{}])[0]
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") for e in c.get("env", [])}
    need(env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"), f"{comp}: S3 credentials from a Secret")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    cm = vols.get("config", {}).get("configMap", {}).get("name")
    cfgmap = by.get(("ConfigMap", cm), {})
    text = cfgmap.get("data", {}).get("config.yaml", "")
    cfg = yaml.safe_load(text) or {}
    need(cfg.get("target") == comp, f"{comp}: config target is {cfg.get('target')!r}")
    need(cfg.get("common", {}).get("storage", {}).get("s3", {}).get("bucketnames"), f"{comp}: bucket named")
    if comp != "write":
        need("data" in vols and "emptyDir" in vols["data"], f"{comp}: nothing on a PVC")
        writers = cfg.get("scalable", {}).get("writers", [])
        host = writers[0].split("//")[1].split(".")[0] if writers else ""
        svc = by.get(("Service", host), {})
        need(svc.get("spec", {}).get("clusterIP") == "None", f"{comp}: writers URL {writers} names a headless Service")
        need(svc.get("spec", {}).get("selector", {}).get("app.kubernetes.io/component") == "write",
             f"{comp}: that Service selects the writers")
    need(("ruler" in cfg) == (comp == "backend"), f"{comp}: the ruler runs on the backend only")
    with open(os.path.join(outdir, f"{comp}.yaml"), "w") as f:
        f.write(text)
main = [d for (k, n), d in by.items() if k == "Service" and not n.endswith(("-write", "-backend", "-headless"))]
need(len(main) == 1 and main[0]["spec"]["selector"].get("app.kubernetes.io/component") == "read",
     "the release's Service (Grafana, ingress) selects the readers")
if fails:
    print("\n".join("FAIL: " + f for f in fails))
    sys.exit(1)
print(f"scalable rendering: {len(docs)} objects, write/read/backend wired")
