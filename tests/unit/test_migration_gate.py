"""deploy.prod's migration review and bounded migrations, over a plan recorder whose alembic answers as scripted."""

import pytest

from ghosttasks.domain.errors import BadInput, OperationFailed
from ghosttasks.flows.blue_green import deploy
from ghosttasks.flows.steps import migrate
from ghosttasks.testing import Answer, ScriptedExecutor, a_run, prod

DROP_SQL = (
    "BEGIN;\n\n-- Running upgrade b2b2b2b2b2b2 -> c3c3c3c3c3c3\n\nALTER TABLE items DROP COLUMN note;\n\n"
    "UPDATE alembic_version SET version_num='c3c3c3c3c3c3' WHERE alembic_version.version_num = 'b2b2b2b2b2b2';\n\n"
    "COMMIT;\n"
)
LOCK_TIMEOUT = (
    "sqlalchemy.exc.OperationalError: (psycopg2.errors.LockNotAvailable) canceling statement due to lock timeout\n"
)


def scripted(answers, *, dry_run=True):
    """A plan recorder (by default) whose commands containing a fragment answer (stdout, stderr, exit) as given."""
    executor = ScriptedExecutor(prod(), dry_run=dry_run, unscripted="assume")
    for fragment, (stdout, stderr, code) in answers.items():
        executor.on(fragment, stdout, stderr, code)
    return a_run(executor)


def test_a_breaking_migration_is_refused_before_the_backup():
    run = scripted({"--sql": (DROP_SQL, "", 0)})
    with pytest.raises(OperationFailed) as refused:
        deploy(run, "v1.2.0", monitor_minutes=0)
    assert str(refused.value) == (
        "step 'review migration' failed: the migration would break green (v1.1.0), which keeps serving on the new "
        "schema (1 breaking finding); nothing was changed:\n"
        "  c3c3c3c3c3c3: breaking (ban-drop-column): ALTER TABLE items DROP COLUMN note; — Dropping a column may "
        "break existing clients. Instead: stop reading the column in one release, drop it in a later one "
        "(expand/contract)"
    )
    ran = "\n".join(run.executor.entries)
    assert "pg_dump" not in ran and "up -d" not in ran and "alembic upgrade c3c3c3c3c3c3" not in ran
    assert '"migration_lint": "squawk: 1 breaking"' in ran and '"failed_step": "review migration"' in ran


def test_allowed_the_breaking_migration_runs_and_is_recorded():
    run = scripted({"--sql": (DROP_SQL, "", 0)})
    deploy(run, "v1.2.0", monitor_minutes=0, allow_breaking_migration=True)
    ran = "\n".join(run.executor.entries)
    assert ran.index("--sql") < ran.index("pg_dump") < ran.index("api alembic upgrade c3c3c3c3c3c3")
    assert '"allow_breaking_migration": true' in ran


def test_a_lock_timeout_is_retried_then_fails_naming_the_backup(monkeypatch):
    monkeypatch.setattr(migrate, "LOCK_RETRY_WAIT_SECONDS", 0)
    run = scripted({"api alembic upgrade c3c3c3c3c3c3": ("", LOCK_TIMEOUT, 1)})
    with pytest.raises(OperationFailed) as failed:
        deploy(run, "v1.2.0", monitor_minutes=0)
    message = str(failed.value)
    assert message.startswith(
        "step 'migrate database' failed: alembic upgrade stopped at its lock_timeout (5 s) in each of 3 attempts: "
        "the migration's transaction was rolled back and traffic was not moved; the verified backup from before it "
        "is /var/backups/ghostworks/prod-v1.2.0-"
    )
    attempts = [line for line in run.executor.entries if "api alembic upgrade c3c3c3c3c3c3" in line]
    assert len(attempts) == 3
    assert all("-e 'PGOPTIONS=-c lock_timeout=5000 -c statement_timeout=600000'" in line for line in attempts)
    assert not [line for line in run.executor.entries if "ghostworks-active" in line and "rm -f" in line]


def test_a_statement_timeout_is_not_retried():
    run = scripted({"api alembic upgrade c3c3c3c3c3c3": ("", "canceling statement due to statement timeout", 1)})
    with pytest.raises(OperationFailed, match=r"stopped at its statement_timeout \(600 s\): the migration's"):
        deploy(run, "v1.2.0", monitor_minutes=0)
    assert len([line for line in run.executor.entries if "api alembic upgrade c3c3c3c3c3c3" in line]) == 1


def test_a_first_deploy_has_no_running_colour_to_break():
    executor = ScriptedExecutor(prod(), dry_run=True, unscripted="assume")

    def revision(call):  # empty until the upgrade ran, then at its target, as the database would be
        upgrade = [c for c in executor.commands if "api alembic upgrade c3c3c3c3c3c3" in c.command]
        return Answer("c3c3c3c3c3c3" if any("--sql" not in c.command for c in upgrade) else "")

    executor.on("--sql", DROP_SQL).on("cat /var/lib/ghosttasks/state.json").on("alembic_version'", reply=revision)
    executor.on("docker ps --filter label=com.docker.compose.project")  # nothing runs yet
    run = a_run(executor)
    deploy(run, "v1.2.0", monitor_minutes=0)
    ran = "\n".join(run.executor.entries)
    assert "# nothing serves yet: no running colour for these findings to break or stall" in ran
    assert "api alembic upgrade c3c3c3c3c3c3 --sql" in ran and "pg_dump" in ran
    assert "-p ghostworks-blue" in ran.split("exec -T -e 'PGOPTIONS=")[0].rsplit("\n", 1)[1]  # blue's own api


INDEX_SQL = DROP_SQL.replace("ALTER TABLE items DROP COLUMN note;", "CREATE INDEX ix_items_note ON items (note);")


def test_locking_findings_need_yes_without_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setenv("GHOSTWORKS_REGISTRY_PASSWORD", "not-a-real-password")  # a real run reads it
    run = scripted({"--sql": (INDEX_SQL, "", 0)}, dry_run=False)  # a real run asks for its confirmations
    with pytest.raises(BadInput) as refused:
        deploy(run, "v1.2.0", monitor_minutes=0)
    assert str(refused.value) == (
        "step 'review migration' failed: the migration has 1 locking finding(s) and stdin is not a terminal: "
        "nothing was changed"
    )
    assert refused.value.hint == "review them above; add --yes to run it anyway"
    assert "pg_dump" not in "\n".join(run.executor.entries)


def test_locking_findings_go_ahead_with_yes():
    run = scripted({"--sql": (INDEX_SQL, "", 0)})
    deploy(run, "v1.2.0", monitor_minutes=0, yes=True)
    ran = "\n".join(run.executor.entries)
    assert (
        "# c3c3c3c3c3c3: locking (require-concurrent-index-creation): CREATE INDEX ix_items_note ON items (note);"
        in ran
    )
    assert '"migration_lint": "squawk: 1 locking"' in ran


def test_a_deploy_that_migrated_then_failed_records_the_revision_it_left():
    """The schema moved on before the deploy failed (here: its flip): state.json says so after the run settles."""
    run = scripted({"rm -f /var/lib/ghosttasks/ghostworks-active-green": ("", "rm: Permission denied", 1)})
    with pytest.raises(OperationFailed, match="step 'switch traffic' failed"):
        deploy(run, "v1.2.0", monitor_minutes=0)
    uploads = [line for line in run.executor.entries if "upload /var/lib/ghosttasks/state.json" in line]
    ran = "\n".join(run.executor.entries)
    assert ran.index("api alembic upgrade c3c3c3c3c3c3") < ran.rindex("upload /var/lib/ghosttasks/state.json")
    last_state = ran[ran.rindex("upload /var/lib/ghosttasks/state.json") :]
    assert uploads and '"database_revision": "c3c3c3c3c3c3"' in last_state.split("\n[", 1)[0]
