"""deploy.*: tag, dev, staging, prod (blue-green), rollback, emergency-rollback, status, history, lock."""

from __future__ import annotations

from invoke import Collection

from ghosttasks import validate
from ghosttasks.tasks.common import DRY_HELP, ENV_HELP, JSON_HELP, YES_HELP, execute, ghost_task


@ghost_task(
    help={
        "version": "the release version to tag, vMAJOR.MINOR.PATCH[-pre]",
        "message": "tag message",
        "repo": "the application's git checkout (default: the current directory)",
        "dry_run": DRY_HELP,
    }
)
def tag(c, version, message=None, repo=".", dry_run=False):
    """Create the annotated release tag and push it to origin (runbook prod step 1)."""
    from ghosttasks.flows import release
    from ghosttasks.output import Output

    version = validate.version(version)
    message = validate.free_text(message or f"Production release {version}", "--message")
    release.create_tag(Output(), version=version, message=message, repo=repo, dry_run=dry_run or c.config.run.dry)


@ghost_task(help={"env": "environment (default: dev)", "dry_run": DRY_HELP})
def dev(c, env="dev", dry_run=False):
    """Development environment: checkout, .env from .env.example, up, migrate, seed, verify health."""
    from ghosttasks.flows import single

    execute(c, "deploy.dev", env, single.deploy_dev, dry_run=dry_run)


@ghost_task(
    help={
        "ref": "branch or tag to deploy (default: main)",
        "env": "environment (default: staging)",
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
def staging(c, ref="main", env="staging", dry_run=False, yes=False):
    """Staging environment: pull, build, migrate, up, smoke tests, health."""
    from ghosttasks.flows import single

    ref = validate.git_ref(ref)
    execute(
        c,
        "deploy.staging",
        env,
        lambda run: single.deploy_staging(run, ref),
        dry_run=dry_run,
        confirm_summary=f"Deploy {ref}",
        yes=yes,
    )


@ghost_task(
    help={
        "version": "release tag to deploy, vMAJOR.MINOR.PATCH[-pre] (must exist in origin)",
        "monitor_minutes": "watch error rate, p95 and health after the switch for N minutes and roll back "
        "automatically on a trigger (default: thresholds.monitor_minutes, 15 in prod; 0 to skip)",
        "health_timeout": "seconds the new colour has to become healthy on every host (default 180)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
def prod(c, version, monitor_minutes=None, health_timeout=180, env=None, dry_run=False, yes=False):
    """Blue-green production deploy of a release tag, with automatic rollback.

    Checks, build, verified backup, idle colour up, migrate, health, smoke, switch, verify,
    monitor (rolling back on the runbook's triggers), record.
    """
    from ghosttasks.flows import blue_green

    version = validate.version(version)
    minutes = (
        None
        if monitor_minutes is None
        else validate.positive_number(monitor_minutes, "--monitor-minutes", allow_zero=True)
    )
    deadline = validate.positive_number(health_timeout, "--health-timeout")

    def body(run):
        chosen = run.env.thresholds.monitor_minutes if minutes is None else minutes
        return blue_green.deploy(run, version, monitor_minutes=chosen, health_deadline=deadline)

    execute(c, "deploy.prod", env, body, dry_run=dry_run, confirm_summary=f"Deploy {version}", yes=yes)


@ghost_task(
    help={
        "to": "version to roll back to (default: the one the idle colour runs)",
        "db_rev": "alembic revision to downgrade to (default: the head that version shipped)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
def rollback(c, to=None, db_rev=None, env=None, dry_run=False, yes=False):
    """Roll back to the previous version: switch (or redeploy), then downgrade the database if needed."""
    from ghosttasks.flows import rollback as flow

    to = validate.version(to) if to is not None else None
    db_rev = validate.revision(db_rev, "--db-rev") if db_rev is not None else None
    execute(
        c,
        "deploy.rollback",
        env,
        lambda run: flow.rollback(run, to=to, db_rev=db_rev),
        dry_run=dry_run,
        confirm_summary=f"Roll back{' to ' + to if to else ''}",
        yes=yes,
    )


@ghost_task(
    name="emergency-rollback",
    help={
        "reason": "why (goes into the freeze lock, the alert and the incident)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
    },
)
def emergency_rollback(c, reason="emergency rollback", env=None, dry_run=False):
    """Switch the LB to the previous colour now, freeze deploys, alert on-call, open an incident (no prompt)."""
    from ghosttasks.flows import rollback as flow

    reason = validate.free_text(reason, "--reason")
    execute(c, "deploy.emergency-rollback", env, lambda run: flow.emergency(run, reason=reason), dry_run=dry_run)


@ghost_task(help={"env": ENV_HELP, "json": JSON_HELP})
def status(c, env=None, json=False):
    """Active colour, version and alembic head per colour, the LB's live upstream and the lock holder."""
    from ghosttasks.flows.status import status as read_status

    def body(run):
        report = read_status(run)
        if json:
            run.out.json(report)
            return report
        colors = report["colors"]
        rows = [
            [
                color,
                "active" if report["active"] == color else "idle",
                info["version"],
                info["alembic_head"],
                info["deployed_at"],
            ]
            for color, info in colors.items()
        ]
        run.out.table(f"{run.env.name}: deploy state", ["colour", "role", "version", "alembic head", "deployed"], rows)
        if "lb" in report:
            lb = report["lb"]
            run.out.info(f"LB upstream: {lb['color']} {lb['version']} (rendered {lb['rendered']})")
        lock = report["lock"]
        run.out.info(
            "lock: free"
            if not lock
            else f"lock: held by {lock.get('user')} ({lock.get('reason')}), "
            f"since {lock.get('since')}{', FROZEN' if lock.get('frozen') else ''}"
        )
        return report

    return execute(c, "deploy.status", env, body, quiet=json)


@ghost_task(help={"limit": "how many runs to show, newest last (default 20)", "env": ENV_HELP, "json": JSON_HELP})
def history(c, limit=20, env=None, json=False):
    """The audit trail: one line per run with who, what, result, failing step and duration."""
    from ghosttasks.state import Store

    count = int(validate.positive_number(limit, "--limit"))

    def body(run):
        entries = Store(run).history(count)
        if json:
            run.out.json(entries)
            return entries
        rows = [
            [
                e.get("start"),
                e.get("task"),
                e.get("version"),
                e.get("user"),
                e.get("result"),
                e.get("failed_step") or "",
                e.get("seconds"),
            ]
            for e in entries
        ]
        run.out.table(
            f"{run.env.name}: last {count} runs",
            ["start", "task", "version", "user", "result", "failed step", "seconds"],
            rows,
        )
        return entries

    return execute(c, "deploy.history", env, body, quiet=json)


@ghost_task(help={"reason": "why deploys are held (shown to anyone who tries)", "env": ENV_HELP})
def lock(c, reason, env=None):
    """Hold the deploy lock by hand so nobody deploys (release with deploy.unlock)."""
    from ghosttasks.state import Store

    reason = validate.free_text(reason, "--reason")

    def body(run):
        Store(run).acquire(version=None, reason=reason)
        run.out.ok(f"{run.env.name} locked by {run.user}: {reason} (release: inv deploy.unlock --env {run.env.name})")

    execute(c, "deploy.lock", env, body)


@ghost_task(help={"force": "also release someone else's lock or an emergency freeze", "env": ENV_HELP})
def unlock(c, force=False, env=None):
    """Release the deploy lock (your own; --force for another's or a freeze)."""
    from ghosttasks.errors import DeployLocked
    from ghosttasks.state import Store

    def body(run):
        store = Store(run)
        holder = store.holder()
        if holder is None:
            run.out.ok(f"{run.env.name} is not locked")
            return
        mine = holder.get("user") == run.user and holder.get("origin") == run.origin and not holder.get("frozen")
        if not (mine or force):
            raise DeployLocked(
                f"the lock is held by {holder.get('user')}@{holder.get('origin')} "
                f"({holder.get('reason')}); use --force to release it anyway"
            )
        store.force_release()
        run.out.ok(f"{run.env.name} unlocked (was: {holder.get('reason')})")

    execute(c, "deploy.unlock", env, body)


namespace = Collection("deploy", tag, dev, staging, prod, rollback, emergency_rollback, status, history, lock, unlock)
