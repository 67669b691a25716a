#!/usr/bin/env bash
# Scalable mode against a real S3-compatible server: Garage, built from
# crates.io the first time (about 20 minutes on 2 cores) and cached outside
# the clone in ~/.cache/lode-s3 (LODE_S3_CACHE), so later runs start it in
# seconds. Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"
LODE_BIN=${LODE_BIN:?set LODE_BIN to the lode binary}
GARAGE_VERSION=2.5.0
CACHE=${LODE_S3_CACHE:-$HOME/.cache/lode-s3}
GARAGE_BIN="$CACHE/garage-$GARAGE_VERSION/bin/garage"
if [ ! -x "$GARAGE_BIN" ]; then
  echo "building Garage $GARAGE_VERSION from crates.io into $CACHE (first run only)"
  mkdir -p "$CACHE"
  # Its own target directory: Garage's dependency versions are not Lode's.
  cargo install garage --version "$GARAGE_VERSION" --locked --quiet \
    --root "$CACHE/garage-$GARAGE_VERSION" --target-dir "$CACHE/target"
  rm -rf "$CACHE/target"
fi
"$GARAGE_BIN" --version >/dev/null 2>&1 || "$GARAGE_BIN" --help >/dev/null
export LODE_BIN GARAGE_BIN
exec python3 scalable_test.py
