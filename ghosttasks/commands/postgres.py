"""PostgreSQL reads with psql and pg_isready, run where the database's client says (ghosttasks.commands.pg_client)."""

from __future__ import annotations

from ghosttasks.commands import assumptions
from ghosttasks.commands.facts import Answer, Fact, Unread
from ghosttasks.commands.pg_client import Client
from ghosttasks.domain.errors import OperationFailed

ALEMBIC_VERSION_SQL = "SELECT version_num FROM alembic_version"
NO_VERSION_TABLE = 'relation "alembic_version" does not exist'


def schema_revision(client: Client, *, user: str, database: str) -> str:
    """psql printing the alembic_version row(s): read with psql, not alembic, so it answers whatever
    revision the database is at (an empty database fails with 'relation "alembic_version" does not exist')."""
    argv = ["psql", "-U", user, "-d", database, "-X", "-q", "-tA", "-c", ALEMBIC_VERSION_SQL]
    return client.read_command(argv)


def revision(
    client: Client,
    *,
    user: str,
    database: str,
    assumed: str | None = assumptions.STATE.database_revision,
) -> Fact[tuple[str, ...]]:
    """The database's alembic revisions, every row of alembic_version, sorted (empty: an empty database, no
    alembic_version table). One row is the usual; several are heads of separate branches (a downgrade to one
    side of a merge leaves the other side applied): the caller decides what that allows."""

    def parse(answer: Answer) -> tuple[str, ...]:
        if answer.ok:
            return tuple(sorted(answer.stdout.split()))
        if NO_VERSION_TABLE in answer.stdout + answer.stderr:
            return ()
        raise OperationFailed(f"cannot read the database's revision: {answer.describe()}")

    command = schema_revision(client, user=user, database=database)
    return Fact("read the database revision", command, parse, assumed or "", check=False)


def ready(client: Client, *, user: str) -> Fact[str | Unread]:
    """pg_isready where the client runs: its answer when it accepts connections, else why not."""

    def parse(answer: Answer) -> str | Unread:
        line = answer.stdout.strip() or answer.describe()
        return line if answer.ok else Unread(line)

    command = client.command(["pg_isready", "-U", user])
    return Fact("pg_isready", command, parse, "accepting connections", check=False)


def select_one(client: Client, *, user: str, database: str) -> Fact[str | Unread]:
    """`psql -c 'SELECT 1'` where the client runs: the database accepts a session and answers a query."""

    def parse(answer: Answer) -> str | Unread:
        if answer.ok and answer.stdout.strip() == "1":
            return f"Database OK (SELECT 1 as {user} on {database})"
        return Unread(answer.describe())

    command = client.command(["psql", "-U", user, "-d", database, "-X", "-q", "-tA", "-c", "SELECT 1"])
    return Fact("database check", command, parse, "1\n", check=False)


# -- troubleshooting reads (db.activity, db.slow) ------------------------------------------------------------
#: The application name of ghosttasks' own psql sessions (shown as such in pg_stat_activity).
APPLICATION_NAME = "ghosttasks"
#: No troubleshooting read may itself hang on a busy database.
READ_TIMEOUT = "10s"
_UNQUOTE = "regexp_replace({0}, '''(?:[^'']|'''')*''', '''?''', 'g')"  # string literals never leave the server


def psql(client: Client, *, user: str, database: str, sql: str) -> str:
    """psql running `sql` and printing bare rows (`-tA`), as ghosttasks and with a statement timeout.

    Where it runs is the client's business: the database's compose service, or a one-off container reaching a
    managed server (ghosttasks.commands.pg_client).
    """
    argv = ["psql", "-U", user, "-d", database, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]
    env = {"PGAPPNAME": APPLICATION_NAME, "PGOPTIONS": f"-c statement_timeout={READ_TIMEOUT}"}
    return client.command(argv, env)


ACTIVITY_SQL = " ".join(
    f"""
SELECT json_build_object(
  'max_connections', current_setting('max_connections')::int,
  'sessions', coalesce((SELECT json_agg(json_build_object(
    'pid', a.pid, 'application', a.application_name, 'client', host(a.client_addr), 'backend', a.backend_type,
    'state', a.state, 'wait_type', a.wait_event_type, 'wait', a.wait_event,
    'query_seconds', extract(epoch FROM clock_timestamp() - a.query_start),
    'xact_seconds', extract(epoch FROM clock_timestamp() - a.xact_start),
    'query', left({_UNQUOTE.format("a.query")}, 2000),
    'blocked_by', pg_blocking_pids(a.pid),
    'waiting_for', (SELECT string_agg(l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype), ', ')
                    FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted),
    'database', a.datname, 'user', a.usename) ORDER BY a.pid)
    FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid()), '[]'::json))
""".split()
)

ASSUMED_ACTIVITY = (
    '{"max_connections": 100, "sessions": [{"pid": 101, "application": "ghostworks-blue", "client": "10.0.1.11", '
    '"backend": "client backend", "state": "idle"}]}'
)


def activity(client: Client, *, user: str, database: str) -> Fact[str]:
    """pg_stat_activity and the locks each session waits for, as one JSON document (parsed by
    ghosttasks.decisions.db_activity); query texts leave the server with their string literals replaced."""
    command = psql(client, user=user, database=database, sql=ACTIVITY_SQL)
    return Fact("read pg_stat_activity and pg_locks", command, _json_or_fail("pg_stat_activity"), ASSUMED_ACTIVITY)


STATEMENTS_PRESENT_SQL = (
    "SELECT json_build_object('installed', EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'),"
    " 'preloaded', 'pg_stat_statements' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'),"
    " ' ', ''), ',')))"
)


def statements_present(client: Client, *, user: str, database: str) -> Fact[str]:
    """Whether pg_stat_statements is loaded (shared_preload_libraries) and created in the database."""
    command = psql(client, user=user, database=database, sql=STATEMENTS_PRESENT_SQL)
    return Fact(
        "is pg_stat_statements there",
        command,
        _json_or_fail("pg_stat_statements"),
        '{"installed": true, "preloaded": true}',
    )


def statements_sql(limit: int) -> str:
    """The top `limit` statements of this database by total time, and by mean time, as one JSON array."""
    columns = (
        "queryid::text AS id, calls, round(total_exec_time::numeric, 1) AS total_ms, "
        "round(mean_exec_time::numeric, 2) AS mean_ms, rows, "
        f"left({_UNQUOTE.format('query')}, 2000) AS query"
    )
    mine = "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    n = int(limit)
    return (
        f"SELECT coalesce(json_agg(t), '[]'::json) FROM ("
        f"(SELECT {columns} FROM pg_stat_statements WHERE {mine} ORDER BY total_exec_time DESC LIMIT {n}) UNION "
        f"(SELECT {columns} FROM pg_stat_statements WHERE {mine} ORDER BY mean_exec_time DESC LIMIT {n})) t"
    )


def statements(client: Client, *, user: str, database: str, limit: int) -> Fact[str]:
    """The top statements from pg_stat_statements (parsed by ghosttasks.decisions.db_activity.parse_statements)."""
    command = psql(client, user=user, database=database, sql=statements_sql(limit))
    assumed = '[{"id": "1", "calls": 100, "total_ms": 50.0, "mean_ms": 0.5, "rows": 100, "query": "SELECT $1"}]'
    return Fact("read pg_stat_statements", command, _json_or_fail("pg_stat_statements"), assumed)


def _json_or_fail(what: str):
    def parse(answer: Answer) -> str:
        if not answer.ok:
            raise OperationFailed(f"cannot read {what}: {answer.describe()}")
        return answer.stdout.strip()

    return parse
