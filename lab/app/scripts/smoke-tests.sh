#!/bin/sh
# Ghostworks' own smoke test, run the way the runbook runs it: ./scripts/smoke-tests.sh
#
# ghosttasks (smoke.scripts) runs it from the release directory on the first app host, against the colour it is
# about to switch to, with GHOST_BASE_URL (that colour's api on this host), GHOST_COLOR, GHOST_VERSION and
# GHOST_ENV set. The exit status decides. Its requests carry the X-Request-ID smoke-script-COLOUR-VERSION, so
# they can be found in that colour's api log.
set -eu

: "${GHOST_BASE_URL:?GHOST_BASE_URL is not set (run by ghosttasks, or set it to http://host:port)}"
id="smoke-script-${GHOST_COLOR:-none}-${GHOST_VERSION:-none}"

echo "smoke: GET $GHOST_BASE_URL/api/v1/health (X-Request-ID: $id)"
health=$(curl -sS --max-time 10 -H "X-Request-ID: $id" "$GHOST_BASE_URL/api/v1/health")
echo "smoke: $health"
case "$health" in
    *'"status": "ok"'*) ;;
    *) echo "smoke: FAIL: the health answer is not ok" >&2; exit 1 ;;
esac
if [ -n "${GHOST_VERSION:-}" ]; then
    case "$health" in
        *"\"version\": \"$GHOST_VERSION\""*) ;;
        *) echo "smoke: FAIL: the api does not run $GHOST_VERSION" >&2; exit 1 ;;
    esac
fi

echo "smoke: GET $GHOST_BASE_URL/api/v1/artifacts without a token"
status=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "X-Request-ID: $id" "$GHOST_BASE_URL/api/v1/artifacts")
if [ "$status" != 401 ]; then
    echo "smoke: FAIL: an anonymous request answered $status, not 401" >&2
    exit 1
fi
echo "smoke: ok ($GHOST_ENV, ${GHOST_COLOR:-one stack}, ${GHOST_VERSION:-no version})"
