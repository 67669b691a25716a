#!/usr/bin/env bash
# End-to-end tests of the web UI in a real headless Chromium (Debian's
# `chromium`) driven by Playwright (`playwright-core` from npm, pointed at
# that browser) against two release `lode`s ($LODE_BIN): one as installed
# (no auth) and one with auth_enabled for the tenant checks. Installs what it
# needs; playwright-core goes into $LODE_UI_CACHE (default ~/.cache/lode-ui-tools).
# LODE_UI_SCREENSHOTS=docs/ui writes the screenshots docs/ui.md shows.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
LODE_BIN=${LODE_BIN:?set LODE_BIN to the lode binary}
CACHE=${LODE_UI_CACHE:-$HOME/.cache/lode-ui-tools}
PLAYWRIGHT_VERSION=1.65.1

if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
if [ "$(cat "$CACHE/node_modules/playwright-core/package.json" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION")
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {
  python3 - "$1" <<'PY' || { echo "lode did not become ready"; cat "$2"; exit 1; }
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1] + "/ready", timeout=1); break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit(1)
PY
}

PORT=$(free_port)
"$LODE_BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/lode.log" 2>&1 &
PIDS+=($!)
AUTH_PORT=$(free_port)
printf 'auth_enabled: true\n' >"$WORK/auth.yaml"
"$LODE_BIN" --config "$WORK/auth.yaml" --listen "127.0.0.1:$AUTH_PORT" --data-dir "$WORK/auth-data" >"$WORK/lode-auth.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$PORT" "$WORK/lode.log"
wait_ready "http://127.0.0.1:$AUTH_PORT" "$WORK/lode-auth.log"

SHOTS=${LODE_UI_SCREENSHOTS:-$WORK/shots}
case "$SHOTS" in /*) ;; *) SHOTS="$HERE/../../$SHOTS" ;; esac
mkdir -p "$SHOTS"
LODE_URL="http://127.0.0.1:$PORT" LODE_AUTH_URL="http://127.0.0.1:$AUTH_PORT" \
  PLAYWRIGHT_CORE="$CACHE/node_modules/playwright-core/index.mjs" CHROMIUM="$(command -v chromium)" \
  SHOTS_DIR="$SHOTS" node "$HERE/ui.test.mjs"
