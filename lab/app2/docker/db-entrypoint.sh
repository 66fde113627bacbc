#!/bin/sh
# Start Debian's PostgreSQL server in the ghostlab-base image (the shop's compose service `db`).
# First start: initdb into $PGDATA with superuser $DB_USER / $DB_PASSWORD and create $DB_NAME.
# Socket connections inside the container are trusted; TCP needs the password (scram-sha-256).
# Runs as root only to fix ownership, then execs the server as the postgres user.
set -eu

: "${DB_USER:?DB_USER is required}"
: "${DB_PASSWORD:?DB_PASSWORD is required}"
: "${DB_NAME:=$DB_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
: "${DB_HOST:=127.0.0.1}"
: "${DB_PORT:=5433}"
: "${PG_SOCKET_DIR:=/var/run/postgresql}"
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

mkdir -p "$PGDATA" "$PG_SOCKET_DIR"
chown postgres:postgres "$PGDATA" "$PG_SOCKET_DIR"
chmod 0700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "db-entrypoint: initialising $PGDATA (superuser $DB_USER, database $DB_NAME)"
    pwfile=$(mktemp)
    printf '%s\n' "$DB_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    as_postgres "$BIN/initdb" -D "$PGDATA" -U "$DB_USER" --pwfile="$pwfile" -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$DB_NAME" != "postgres" ]; then
        echo "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\";" |
            as_postgres "$BIN/postgres" --single -D "$PGDATA" -j postgres >/dev/null
    fi
    echo "db-entrypoint: initialised"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$BIN/postgres" -D "$PGDATA" \
    -c listen_addresses="$DB_HOST" -c port="$DB_PORT" -c unix_socket_directories="$PG_SOCKET_DIR"
