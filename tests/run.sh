#!/usr/bin/env bash
# The test command: everything CI checks, from a fresh clone. It installs what
# it needs itself. Set LODE_COMPAT_CASES to narrow the conformance run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

step "toolchain"
for comp in rustfmt clippy; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$comp"
  fi
done
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "release build"
cargo build --release --locked -p lode
LODE_BIN="$TARGET_DIR/release/lode"
export LODE_BIN

step "unit, property and end-to-end tests"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$TARGET_DIR/test-output.txt" | grep -E '^(test result|running|error|failures|---- |thread )' || true
if grep -qE '^test result: FAILED|^error' "$TARGET_DIR/test-output.txt"; then
  echo "cargo test failed; full output in $TARGET_DIR/test-output.txt"; tail -80 "$TARGET_DIR/test-output.txt"; exit 1
fi
awk '/^test result:/ {p+=$4; f+=$6; i+=$8} END {printf "cargo test: %d passed, %d failed, %d ignored\n", p, f, i}' "$TARGET_DIR/test-output.txt"

step "real push clients (npm winston-loki: protobuf+snappy; PyPI python-logging-loki: JSON)"
bash tests/clients/run.sh

step "conformance against Loki's recorded answers (../shared/compat)"
COMPAT="$ROOT/../shared/compat"
CASES=${LODE_COMPAT_CASES:-}
WORK=$(mktemp -d)
# Only ever kill the server we started (an empty PID must not become `kill 0`).
cleanup() {
  if [ -n "${LODE_PID:-}" ]; then kill "$LODE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$LODE_BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/lode.log" 2>&1 &
LODE_PID=$!
python3 - "$PORT" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/ready" % sys.argv[1], timeout=1); break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("lode did not become ready")
PY
export COMPAT_STATE_DIR="$WORK/state"
python3 "$COMPAT/run.py" push --url "http://127.0.0.1:$PORT" --settle 60
python3 "$COMPAT/run.py" check --url "http://127.0.0.1:$PORT" --goldens "$COMPAT/goldens-public.json" \
  ${CASES:+--filter "$CASES"} --retries 0
kill -TERM "$LODE_PID"; wait "$LODE_PID" || true; LODE_PID=

step "scalable mode: writers and readers on a real S3 server (Garage from crates.io)"
bash tests/scalable/run.sh

step "web UI in headless Chromium (Playwright, playwright-core from npm)"
bash tests/ui/run.sh

step "ruler against a real Alertmanager and Prometheus (Debian packages)"
bash tests/ruler/run.sh

step "charts: offline validation"
bash tests/charts/validate.sh
python3 tests/charts/test_planted_faults.py
bash tests/charts/smoke_rendered.sh

step "container image and release workflow: hadolint, actionlint, chart consistency"
bash tests/image/lint.sh

step "all green"
exit 0
