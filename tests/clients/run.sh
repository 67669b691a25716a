#!/usr/bin/env bash
# End to end with two real push clients installed from the package
# registries: winston-loki (npm; protobuf + snappy) and python-logging-loki
# (PyPI; JSON). Each pushes to a running `lode` ($LODE_BIN), then the lines
# must be queryable by their service_name. Installs into a cache directory
# ($LODE_CLIENTS_CACHE, default ~/.cache/lode-clients). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")" || exit 1
HERE=$PWD
LODE_BIN=${LODE_BIN:?set LODE_BIN to the lode binary}
CACHE=${LODE_CLIENTS_CACHE:-$HOME/.cache/lode-clients}
mkdir -p "$CACHE"
passed=0; failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; }
command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }

if [ ! -x "$CACHE/venv/bin/python" ] || ! "$CACHE/venv/bin/python" -c 'import logging_loki' 2>/dev/null; then
  python3 -m venv "$CACHE/venv" && "$CACHE/venv/bin/pip" install -q 'python-logging-loki==0.3.1'
fi
if [ ! -d "$CACHE/node/node_modules/winston-loki" ]; then
  mkdir -p "$CACHE/node"
  (cd "$CACHE/node" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund --silent 'winston@3' 'winston-loki@6.1.7')
fi

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$LODE_BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/lode.log" 2>&1 &
LODE_PID=$!
trap 'kill "$LODE_PID" 2>/dev/null; wait "$LODE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
python3 - "$URL" <<'PY' || { echo "lode did not become ready"; cat "$WORK/lode.log"; exit 1; }
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1] + "/ready", timeout=1); break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit(1)
PY
RUN=$(date +%s%N)

if NODE_PATH="$CACHE/node/node_modules" node "$HERE/push_node.js" "$URL" clients-node "$RUN" &&
   python3 "$HERE/check.py" "$URL" clients-node "$RUN" "winston protobuf line one $RUN" "winston protobuf line two $RUN"; then
  pass "winston-loki (protobuf+snappy) push is queryable"
else
  fail "winston-loki (protobuf+snappy) push is queryable"
fi

if "$CACHE/venv/bin/python" "$HERE/push_python.py" "$URL" clients-python "$RUN" &&
   python3 "$HERE/check.py" "$URL" clients-python "$RUN" "python json line one $RUN" "python json line two $RUN"; then
  pass "python-logging-loki (JSON) push is queryable"
else
  fail "python-logging-loki (JSON) push is queryable"
fi

[ "$failed" -eq 0 ] || tail -20 "$WORK/lode.log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
