#!/bin/sh
# Start Debian's PostgreSQL server in the ghostlab-base image (compose service `postgres`).
# First start: initdb into $PGDATA with superuser $POSTGRES_USER / $POSTGRES_PASSWORD and create $POSTGRES_DB.
# Socket connections inside the container are trusted; TCP needs the password (scram-sha-256).
# Runs as root only to fix ownership, then execs the server as the postgres user.
set -eu

: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
: "${DB_BIND_ADDR:=127.0.0.1}"
: "${POSTGRES_PORT:=5432}"
: "${PG_SOCKET_DIR:=/var/run/postgresql}"
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

mkdir -p "$PGDATA" "$PG_SOCKET_DIR"
chown postgres:postgres "$PGDATA" "$PG_SOCKET_DIR"
chmod 0700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "postgres-entrypoint: initialising $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    as_postgres "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != "postgres" ]; then
        echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" |
            as_postgres "$BIN/postgres" --single -D "$PGDATA" -j postgres >/dev/null
    fi
    echo "postgres-entrypoint: initialised"
fi

# pg_stat_statements (db.slow): loaded at start below, created in $POSTGRES_DB once the server answers.
# Double fork: the waiter belongs to init, never to the postmaster (which treats an unknown child's exit as a crash).
( (
    for _ in $(seq 60); do
        if as_postgres "$BIN/psql" -h "$PG_SOCKET_DIR" -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Xq \
            -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null 2>&1; then exit 0; fi
        sleep 1
    done
    echo "postgres-entrypoint: could not create pg_stat_statements" >&2
) & )

exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$BIN/postgres" -D "$PGDATA" \
    -c listen_addresses="$DB_BIND_ADDR" -c port="$POSTGRES_PORT" -c unix_socket_directories="$PG_SOCKET_DIR" \
    -c shared_preload_libraries=pg_stat_statements
