#!/bin/sh
# The shop's own smoke tests: run against the colour about to go live, before the switch.
# GHOST_BASE_URL: the orders service of that colour (e.g. http://127.0.0.11:8102). Exit non-zero on failure.
set -eu
base="${GHOST_BASE_URL:?GHOST_BASE_URL is not set}"
echo "smoke: ${GHOST_ENV:-?} ${GHOST_VERSION:-?} on ${GHOST_COLOR:-?} at $base"
check() {
    echo "smoke: $*"
    "$@" >/dev/null || { echo "smoke: FAILED: $*" >&2; exit 1; }
}
check curl -fsS --max-time 5 "$base/healthz"
check curl -fsS --max-time 5 "$base/orders"
check curl -fsS --max-time 5 -H 'Content-Type: application/json' -d '{"product": "smoke", "quantity": 1}' "$base/orders"
check curl -fsS --max-time 5 "$base/customers"
echo "smoke: all passed"
