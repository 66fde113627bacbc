#!/bin/sh
# Regenerates the alembic fixtures beside this file from a real alembic (pip install alembic; 1.20.1 made them):
# scratch projects made with `alembic init` + `alembic revision --rev-id ...` + `alembic merge`, then read two ways:
# `alembic history` (the text db.history shows) and ghosttasks' revision reader (commands/alembic.READER, the JSON the
# planner reads). Run it from the repository root: sh tests/unit/alembic_fixtures/make_fixtures.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
reader() {  # the program deploys run inside the container, here with this machine's python
    PYTHONPATH="$root" python3 -c 'from ghosttasks.commands.alembic import READER; print(READER)' > "$scratch/reader.py"
    (cd "$1" && python3 "$scratch/reader.py" "" alembic)
}
project() {
    mkdir -p "$scratch/$1" && cd "$scratch/$1" && alembic init --template generic alembic > /dev/null
}
rev() {  # rev ID MESSAGE [DOWN]: a revision with that id, on DOWN (default: the head)
    if [ $# -ge 3 ]; then alembic revision --rev-id "$1" -m "$2" --head "$3" --splice > /dev/null
    else alembic revision --rev-id "$1" -m "$2" > /dev/null; fi
}

# Sequential ids with a branch point (0001) and a merge point (0004), then a revision after the merge.
project merged
rev 0001_init "init"
rev 0002_orders "orders"
rev 0003_customers "customers" 0001_init
alembic merge -m "merge orders and customers" --rev-id 0004_merge 0002_orders 0003_customers > /dev/null
rev 0005_status "orders status"
alembic history > "$here/merged.history.txt"
reader . > "$here/merged.graph.txt"

# The same up to the merge: the release before it (two heads, not merged yet) is refused.
project two_heads
rev 0001_init "init"
rev 0002_orders "orders"
rev 0003_customers "customers" 0001_init
alembic history > "$here/two_heads.history.txt"
reader . > "$here/two_heads.graph.txt"

# No revision at all: alembic's own model says so (an empty list), which is "ships no migrations".
project empty
alembic history > "$here/empty.history.txt"
reader . > "$here/empty.graph.txt"

# The demo app's own script directory (hex ids, linear), as shipped in lab/app.
reader "$root/lab/app" > "$here/demo.graph.txt"
(cd "$root/lab/app" && alembic history) > "$here/demo.history.txt"

# What alembic does to a database (sqlite here) on a merge: a downgrade to one side of the merge leaves the
# other side applied as a second head (two rows in alembic_version); -1 from the merge is "Ambiguous walk".
cd "$scratch/merged"
sed -i 's#^sqlalchemy.url.*#sqlalchemy.url = sqlite:///scratch.db#' alembic.ini
rows() { python3 -c "import sqlite3;print(*sorted(r[0] for r in sqlite3.connect('scratch.db').execute('SELECT version_num FROM alembic_version')))"; }
{
    alembic upgrade head 2>/dev/null; echo "upgrade head: $(rows)"
    alembic downgrade 0002_orders 2>/dev/null; echo "downgrade 0002_orders: $(rows)"
    alembic upgrade 0004_merge 2>/dev/null; echo "upgrade 0004_merge: $(rows)"
    echo "downgrade -1: $(alembic downgrade -1 2>&1 | tail -1) $(rows)"
    alembic downgrade 0001_init 2>/dev/null; echo "downgrade 0001_init: $(rows)"
} > "$here/merged.database.txt"

# The offline SQL across the merge (what the review step lints): sections name both sides of the merge.
alembic upgrade 0002_orders:0005_status --sql 2>/dev/null > "$here/merged.upgrade.sql"
alembic downgrade 0005_status:0001_init --sql 2>/dev/null > "$here/merged.downgrade.sql"
