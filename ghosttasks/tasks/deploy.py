"""deploy.*: tag, dev, staging, prod (blue-green), rollback, emergency-rollback, status, history, lock."""

from __future__ import annotations

from invoke import Collection

from ghosttasks.domain import validate
from ghosttasks.tasks.runtime import DRY_HELP, ENV_HELP, JSON_HELP, VERBOSE_HELP, YES_HELP, execute, ghost_task


@ghost_task(
    help={
        "version": "the release version to tag, vMAJOR.MINOR.PATCH[-pre]",
        "message": "tag message",
        "repo": "the application's git checkout (default: the current directory)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
    }
)
def tag(c, version, message=None, repo=".", env=None, dry_run=False):
    """Create the annotated release tag and push it to origin (runbook prod step 1)."""
    from ghosttasks.flows import tagging

    version = validate.version(version)
    message = validate.free_text(message or f"Production release {version}", "--message")
    execute(c, env, lambda run: tagging.create_tag(run, version=version, message=message, repo=repo), dry_run=dry_run)


@ghost_task(help={"env": "environment (default: dev)", "dry_run": DRY_HELP, "verbose": VERBOSE_HELP})
def dev(c, env="dev", dry_run=False, verbose=False):
    """Development environment: checkout, .env from .env.example, up, migrate, seed, verify health."""
    from ghosttasks.flows import single

    execute(c, env, single.deploy_dev, dry_run=dry_run, verbose=verbose)


@ghost_task(
    help={
        "ref": "branch or tag to deploy (default: main)",
        "env": "environment (default: staging)",
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
        "verbose": VERBOSE_HELP,
    }
)
def staging(c, ref="main", env="staging", dry_run=False, yes=False, verbose=False):
    """Staging environment: pull, build, migrate, up, smoke tests, health."""
    from ghosttasks.flows import single

    ref = validate.git_ref(ref)
    execute(
        c,
        env,
        lambda run: single.deploy_staging(run, ref),
        dry_run=dry_run,
        confirm_summary=f"Deploy {ref}",
        yes=yes,
        verbose=verbose,
    )


@ghost_task(
    short_flags={"health_timeout": "t", "verbose": None},  # -h is help; -v is --version
    help={
        "version": "release tag to deploy, vMAJOR.MINOR.PATCH[-pre] (must exist in origin)",
        "monitor_minutes": "watch error rate, p95 and health after the switch for N minutes and roll back "
        "automatically on a trigger (default: thresholds.monitor_minutes, 15 in prod; 0 to skip)",
        "health_timeout": "seconds the new colour has to become healthy on every host "
        "(default: thresholds.health_timeout_seconds, 180)",
        "allow_breaking_migration": "run a migration squawk finds breaking for the colour that keeps serving "
        "(dropped/renamed column or table, ...); recorded in the history",
        "canary": "before the full switch, send these rising shares of clients to the new colour, each judged "
        "against the serving colour, e.g. 5,25,50 (default: canary.steps; none: no canary)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": YES_HELP + "; also accepts the migration's locking findings",
        "verbose": VERBOSE_HELP,
    },
)
def prod(
    c,
    version,
    monitor_minutes=None,
    health_timeout=None,
    allow_breaking_migration=False,
    canary=None,
    env=None,
    dry_run=False,
    yes=False,
    verbose=False,
):
    """Blue-green production deploy of a release tag, with automatic rollback.

    Checks, build, the pending migration linted with squawk (breaking changes refused), verified backup,
    idle colour up, migrate, health, smoke, the canary steps (when asked: judged colour against colour, aborted
    back to the serving colour on a failed comparison), switch, verify,
    monitor (rolling back on the runbook's triggers), record.
    """
    from ghosttasks.flows import blue_green

    version = validate.version(version)
    minutes = (
        None
        if monitor_minutes is None
        else validate.positive_number(monitor_minutes, "--monitor-minutes", allow_zero=True)
    )
    deadline = None if health_timeout is None else validate.positive_number(health_timeout, "--health-timeout")
    steps = None if canary is None else validate.canary_steps(canary)

    execute(
        c,
        env,
        lambda run: blue_green.deploy(
            run,
            version,
            monitor_minutes=minutes,
            health_deadline=deadline,
            allow_breaking_migration=allow_breaking_migration,
            yes=yes,
            canary=steps,
        ),
        dry_run=dry_run,
        confirm_summary=f"Deploy {version}",
        yes=yes,
        verbose=verbose,
    )


@ghost_task(
    help={
        "to": "version to roll back to (default: the older of the two colours' versions)",
        "db_rev": "alembic revision to take the database to (default: the head that version shipped)",
        "force": "allow a --db-rev below the head the target version needs",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
        "verbose": VERBOSE_HELP,
    }
)
def rollback(c, to=None, db_rev=None, force=False, env=None, dry_run=False, yes=False, verbose=False):
    """Roll back to the previous version: switch (or redeploy), then take the database back if needed.

    Planned before anything changes; refused when no container knows both schema revisions. When
    traffic is already on the older version (after traffic.switch), only the schema goes back.
    """
    from ghosttasks.flows import rollback as flow

    to = validate.version(to) if to is not None else None
    db_rev = validate.revision(db_rev, "--db-rev") if db_rev is not None else None
    execute(
        c,
        env,
        lambda run: flow.rollback(run, to=to, db_rev=db_rev, force=force),
        dry_run=dry_run,
        confirm_summary=f"Roll back{' to ' + to if to else ''}",
        yes=yes,
        verbose=verbose,
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
    from ghosttasks.flows import emergency

    reason = validate.free_text(reason, "--reason")
    execute(c, env, lambda run: emergency.emergency_rollback(run, reason=reason), dry_run=dry_run)


@ghost_task(help={"env": ENV_HELP, "json": JSON_HELP})
def status(c, env=None, json=False):
    """Active colour, version and alembic head per colour, the LB's live upstream and the lock holder."""
    from ghosttasks.flows.status import status as read_status
    from ghosttasks.terminal import reporting

    execute(
        c, env, lambda run: reporting.show_status(run.out, run.env.name, read_status(run), as_json=json), quiet=json
    )


@ghost_task(help={"limit": "how many runs to show, newest last (default 20)", "env": ENV_HELP, "json": JSON_HELP})
def history(c, limit=20, env=None, json=False):
    """The audit trail: one line per run with who, what, result, failing step and duration."""
    from ghosttasks.records.history import History
    from ghosttasks.terminal import reporting

    count = int(validate.positive_number(limit, "--limit"))
    execute(
        c,
        env,
        lambda run: reporting.show_history(run.out, run.env.name, History(run).last(count), count, as_json=json),
        quiet=json,
    )


@ghost_task(
    help={
        "keep": "keep the last N deployed versions besides both colours' (default: images.keep, 5)",
        "dry_run": "only list what would be removed on each app host",
        "env": ENV_HELP,
        "json": JSON_HELP,
    }
)
def prune(c, keep=None, dry_run=False, env=None, json=False):
    """Remove old versions' release worktrees and images; both colours' and the last N always stay."""
    from ghosttasks.flows import prune
    from ghosttasks.terminal import reporting

    count = None if keep is None else int(validate.positive_number(keep, "--keep"))

    def flow(run):
        report = prune.prune_by_hand(run, keep=count, list_only=dry_run)
        reporting.show_prune(run.out, run.env.name, report, dry_run=dry_run, as_json=json)

    execute(c, env, flow, quiet=json)


@ghost_task(help={"reason": "why deploys are held (shown to anyone who tries)", "env": ENV_HELP})
def lock(c, reason, env=None):
    """Hold the deploy lock by hand so nobody deploys (release with deploy.unlock)."""
    from ghosttasks.flows import holds

    reason = validate.free_text(reason, "--reason")
    execute(c, env, lambda run: holds.hold(run, reason))


@ghost_task(help={"force": "also release someone else's lock or an emergency freeze", "env": ENV_HELP})
def unlock(c, force=False, env=None):
    """Release the deploy lock (your own; --force for another's or a freeze)."""
    from ghosttasks.flows import holds

    execute(c, env, lambda run: holds.unlock(run, force=force))


@ghost_task(help={"env": ENV_HELP})
def recover(c, env=None):
    """Check state.json against the LB, the containers and the database, and repair it (under the lock)."""
    from ghosttasks.flows.recover import recover as recover_state

    execute(c, env, recover_state)


namespace = Collection(
    "deploy", tag, dev, staging, prod, rollback, emergency_rollback, status, history, lock, unlock, recover, prune
)
