"""The pending migration, shown and gated before anything changes (issue: migration safety).

Its revisions with their messages, the SQL alembic would run (printed offline, `alembic upgrade A:B --sql`, in
a one-off container of the new version's image: no database is touched), and squawk's verdict on it, classified
for blue-green by ghosttasks.decisions.migration_lint. Breaking findings refuse unless allowed; locking ones need a
confirmation on a terminal, or --yes.
"""

from __future__ import annotations

import sys

from ghosttasks.commands import alembic
from ghosttasks.decisions import migration_lint
from ghosttasks.decisions.migration_lint import Verdict
from ghosttasks.decisions.migration_plan import Migration, Runner, plan_deploy_migration
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import BadInput, OperationFailed
from ghosttasks.domain.revisions import History, Knowledge, Refused, resolve_revision
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import build_once
from ghosttasks.flows.steps.migrate import database_revision, knowledge, runner_command
from ghosttasks.flows.steps.release import fetch_release
from ghosttasks.observability import squawk
from ghosttasks.records.state_store import Store


def read_history(run: Run, version: str) -> History:
    """The revision graph and each revision's message, from a one-off container of `version`."""
    argv = alembic.graph_reader(run.env.app.alembic, run.env.app.alembic_python)
    command = runner_command(run, Runner(version, None), argv)
    return run.executor.read(run.env.app_hosts[0], alembic.revisions(command, version))


def pending_sql(run: Run, migration: Migration, runner: Runner) -> str:
    """The SQL the migration would run, printed offline by alembic in `runner` (no database is touched)."""
    program = run.env.app.alembic
    if migration.direction == "upgrade":
        argv = alembic.upgrade_sql(program, migration.current, migration.target or "base")
    else:
        argv = alembic.downgrade_sql(program, migration.current or "base", migration.target)
    fact = alembic.offline_sql(
        runner_command(run, runner, argv), migration.direction, migration.current, migration.target
    )
    return run.executor.read(run.env.app_hosts[0], fact)


def lint(run: Run, migration: Migration, messages: dict[str, str], runner: Runner | None = None) -> Verdict:
    """Show the migration's revisions, lint its SQL with squawk, and print every finding by kind.

    runner None: the migration's own runner prints the SQL."""
    sql = pending_sql(run, migration, runner or migration.runner)
    sections = migration_lint.revisions(sql)
    for direction, revision in sections:
        message = messages.get(revision)
        run.note(f"{direction} {revision}: {message}" if message else f"{direction} {revision}")
    if not sections:
        run.out.warn("alembic printed no revision sections: nothing to lint")
    verdict = migration_lint.judge(sql, squawk.lint(sql))
    run.note(f"lint of the {migration.direction} SQL: {verdict.summary()}")
    for finding in verdict.findings:
        say = {"breaking": run.out.fail, "locking": run.out.warn, "advice": run.out.info}[finding.kind]
        say(finding.line())
        run.executor.note(finding.line())
    return verdict


def enforce(run: Run, verdict: Verdict, *, allow_breaking: bool, yes: bool, serving: str | None) -> None:
    """Refuse breaking findings (unless allowed), ask about locking ones (or --yes); nothing has changed yet.

    serving: the colour and version that keeps serving on the new schema (None: nothing serves yet)."""
    decision = migration_lint.gate(verdict, allow_breaking=allow_breaking, serving=serving is not None)
    if serving is None:
        if verdict.findings:
            run.note("nothing serves yet: no running colour for these findings to break or stall")
        return
    breaking = verdict.of("breaking")
    if decision == "refuse":
        lines = "\n".join(f"  {finding.line()}" for finding in breaking)
        raise Refused(
            f"the migration would break {serving}, which keeps serving on the new schema "
            f"({len(breaking)} breaking finding{'s' if len(breaking) > 1 else ''}); nothing was changed:\n{lines}",
            hint="do it in phases (expand now, contract in a later release), or add --allow-breaking-migration "
            "if the running colour is known not to use it (recorded in the history)",
        )
    if breaking:
        run.out.warn(f"--allow-breaking-migration: running {len(breaking)} breaking change(s) while {serving} serves")
    if decision == "confirm" and not (yes or run.dry_run):  # a plan asks nobody: it changes nothing
        count = len(verdict.of("locking"))
        if not sys.stdin.isatty():
            raise BadInput(
                f"the migration has {count} locking finding(s) and stdin is not a terminal: nothing was changed",
                hint="review them above; add --yes to run it anyway",
            )
        answer = input(f"The migration takes {count} blocking lock(s) while {serving} serves. Type yes to go on: ")
        if answer.strip() != "yes":
            raise BadInput("not confirmed: nothing was changed")


def review_for_deploy(
    run: Run, state: DeployState, color: Color, version: str, entry: HistoryEntry, *, allow_breaking: bool, yes: bool
) -> None:
    """deploy.prod: the upgrade the new version needs, shown and linted before the backup and before its colour
    starts; refused (breaking) or confirmed (locking) here."""
    reading = run.executor.start(lambda: read_history(run, version))  # app1's one-off container, beside the db read
    revision = database_revision(run)
    history = reading.result()
    state.learn_graph(version, history.graph)
    plan = plan_deploy_migration(knowledge(run, state), revision, version, color)
    run.note(plan.note)
    if plan.migration is None:
        return
    verdict = lint(run, plan.migration, history.messages, Runner(version, None))  # its colour is not up yet
    entry.migration_lint = verdict.summary()
    if allow_breaking:
        entry.allow_breaking_migration = True
    active = state.active
    serving = f"{active} ({state.colors[active].runs})" if active and state.colors[active].runs else None
    enforce(run, verdict, allow_breaking=allow_breaking, yes=yes, serving=serving)


def lint_downgrade(run: Run, migration: Migration) -> Verdict | None:
    """A downgrade the planner decided: its SQL linted and shown before it runs. Not gated: the planner has
    already refused one below the serving version's head (unless --force), so what it drops belongs to newer
    code; the findings say what goes, and what locks. An incident path: a lint that cannot run only warns."""
    try:
        verdict = lint(run, migration, {})
    except OperationFailed as exc:
        run.out.warn(f"the downgrade SQL could not be linted ({exc}); going on without it")
        return None
    if verdict.of("breaking"):
        run.out.warn("a downgrade drops what newer revisions added: the serving version does not use it (planner)")
    return verdict


def lint_release(run: Run, version: str, spec: str | None) -> Verdict:
    """db.lint: fetch and build `version` (nothing that serves changes), then lint FROM:TO (default: the
    database's revision to the version's head) in a one-off container of it; breaking findings fail."""
    with run.step("fetch and build"):
        state = Store(run).load()
        fetch_release(run, version)
        build_once.ship(
            run, version, build_once.colour_projects(run, state.idle, version)
        )  # not recorded: no lock held
    with run.step("lint migration"):
        history = read_history(run, version)
        known = Knowledge({version: history.graph})
        start_spec, _, end_spec = (spec or ":").partition(":")
        current = (
            database_revision(run) if not start_spec else resolve_revision(start_spec, None, known, head_of=version)
        )
        target = resolve_revision(end_spec or "head", current, known, head_of=version)
        relation = known.order(target, current)
        if relation is None:
            raise Refused(
                f"{current or 'base'} and {target or 'base'} are on separate branches of {version}: nothing to lint"
                if known.unrelated(current, target)
                else f"{version} does not ship both {current or 'base'} and {target or 'base'}: nothing to lint"
            )
        if relation == 0:
            run.out.ok(f"{current or 'base'} is {target or 'base'}: no pending migration")
            return Verdict(())
        direction = "upgrade" if relation > 0 else "downgrade"
        migration = Migration(direction, current, target, Runner(version, None))
        verdict = lint(run, migration, history.messages)
    if direction == "upgrade" and migration_lint.gate(verdict, allow_breaking=False) == "refuse":
        raise OperationFailed(
            f"{len(verdict.of('breaking'))} breaking finding(s): deploy.prod would refuse {version}",
            hint="do it in phases (expand now, contract in a later release), or deploy with --allow-breaking-migration",
        )
    run.out.ok(f"{version}: {verdict.summary()}")
    return verdict
