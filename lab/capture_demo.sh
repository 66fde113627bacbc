#!/usr/bin/env bash
# Run `make demo` on a real terminal (a detached tmux session, 120x50, its own tmux server) and save what
# the terminal shows, scrollback included (`tmux capture-pane -p -S -`): the operator's view as text.
#   lab/capture_demo.sh [OUTPUT]        default OUTPUT: docs/demo-screen.txt
#   DEMO_COMMAND='bash lab/demo.sh' lab/capture_demo.sh   (skip `make demo`'s pip install)
# It brings the lab up (take the lab mutex first on a shared machine) and leaves it up, as make demo does.
set -euo pipefail
cd "$(dirname "$0")/.."
output=${1:-docs/demo-screen.txt}
command=${DEMO_COMMAND:-make demo}
timeout=${DEMO_TIMEOUT:-900}
server=ghost-demo-$$
work=$(mktemp -d)
trap 'tmux -L "$server" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT

printf 'set -g history-limit 100000\nset -g remain-on-exit on\nset -g status off\n' > "$work/tmux.conf"
printf '%s\n' "$command" > "$work/command"
tmux -L "$server" -f "$work/tmux.conf" new-session -d -x 120 -y 50 \
    "bash -c 'bash $work/command; echo \$? > $work/exit'"
for _ in $(seq "$timeout"); do
    [[ -s "$work/exit" ]] && break
    sleep 1
done
[[ -s "$work/exit" ]] || { echo "capture_demo: '$command' still running after $timeout s" >&2; exit 1; }
tmux -L "$server" capture-pane -p -S - -E - | grep -v '^Pane is dead' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' > "$output"
echo "capture_demo: '$command' exited $(cat "$work/exit"); the screen is in $output"
exit "$(cat "$work/exit")"
