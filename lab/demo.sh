#!/usr/bin/env bash
# The main job on the embedded default: bring the lab up and do a real blue-green deploy of the demo
# app (v1.0.0, then v1.1.0), then show the deploy state and a request through the LB.
set -euo pipefail
cd "$(dirname "$0")/.."
export GHOST_INVENTORY=lab/hosts.yml

say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }

say "bring the lab up (real sshd, dockerd, nginx, PostgreSQL, Redis, Prometheus on 127.0.0.x)"
inv lab.up
say "inv deploy.prod --version v1.0.0 --yes"
inv deploy.prod --version v1.0.0 --yes
say "inv deploy.prod --version v1.1.0 --yes"
inv deploy.prod --version v1.1.0 --yes
say "inv deploy.status"
inv deploy.status
say "curl http://127.0.0.10/api/v1/health (through the LB)"
curl -fsS http://127.0.0.10/api/v1/health
echo
say "done: try GHOST_INVENTORY=lab/hosts.yml inv traffic.switch blue --yes, or inv lab.down to stop the lab"
