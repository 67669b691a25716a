#!/usr/bin/env bash
# The ruler end to end against a real Alertmanager (Debian's
# prometheus-alertmanager) and a real Prometheus with its remote-write
# receiver (Debian's prometheus), all on loopback. Installs both when
# missing. Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"
LODE_BIN=${LODE_BIN:?set LODE_BIN to the lode binary}
if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
  apt-get update -qq
  # The packages' services are not started here: the test starts its own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi
exec python3 ruler_test.py
