#!/usr/bin/env bash
# Run the three benchmarks one after another (never in parallel: they would time each other).
#   bash bench/run_all.sh           defaults: startup 15 runs, 100 commands x 3, fan-out N=1..40 x 5 (~15 min on 2 CPUs)
#   bash bench/run_all.sh --quick   tiny sizes, no installs (tools that are missing are skipped): < 1 minute
# Needs root (the sshd hosts take key-only root logins). Tables go to stdout, JSON to bench/results/.
# Issue 26's targets (start-up, switch, emergency rollback, deploy; needs the lab): python3 bench/targets.py
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

case "${1:-}" in
  --quick)
    "$PYTHON" bench/startup.py --repeat 3
    "$PYTHON" bench/per_command.py --commands 20 --repeat 1
    "$PYTHON" bench/fanout.py --sizes 1 5 --repeat 1 --no-install \
      --tools ghosttasks fabric ghosttasks-proc fabric-proc ansible ansible-raw pssh
    ;;
  "")
    "$PYTHON" bench/startup.py
    "$PYTHON" bench/per_command.py
    "$PYTHON" bench/fanout.py
    ;;
  *)
    echo "usage: bash bench/run_all.sh [--quick]" >&2
    exit 2
    ;;
esac
