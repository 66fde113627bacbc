"""The development and staging procedures: one compose project with every service."""

from __future__ import annotations

from ghosttasks.commands import alembic, compose, git, host, pg_client, postgres
from ghosttasks.commands.facts import Unread
from ghosttasks.config.inventory import Host
from ghosttasks.config.settings import command_words
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import build_once
from ghosttasks.flows.steps.access_check import check_access
from ghosttasks.flows.steps.database_access import DatabaseAccess, check_password, database_access
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.flows.steps.migrate import alembic_in
from ghosttasks.flows.steps.preflight import check_reachable, require_env
from ghosttasks.flows.steps.projects import ApiTarget, single_project
from ghosttasks.flows.steps.smoke import smoke
from ghosttasks.records.state_store import Store

DATABASE_WAIT_SECONDS = 90
#: The example env file deploy.dev copies to the env file (app.env_file) when there is none yet.
ENV_EXAMPLE = ".env.example"


def wait_for_database(run: Run, target_host: Host, project: compose.Project) -> None:
    """pg_isready inside the project's postgres container (a managed server: where its client runs), retried until
    it answers (a fresh cluster initialises)."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    db = run.env.database
    if db.managed:
        access = database_access(run)
    else:
        access = DatabaseAccess(target_host, pg_client.ServiceClient(project, db.service))
    fact = postgres.ready(access.client, user=db.user)
    retrying = Retrying(
        stop=stop_after_delay(DATABASE_WAIT_SECONDS),
        wait=wait_fixed(1),
        retry=retry_if_result(lambda answer: isinstance(answer, Unread)),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    answer = retrying(lambda: access.read(run, fact))
    if isinstance(answer, Unread):
        raise OperationFailed(f"PostgreSQL did not become ready in {DATABASE_WAIT_SECONDS} s: {answer.reason}")
    run.out.ok(f"{access.host.name}: PostgreSQL accepting connections")


def deploy_dev(run: Run) -> None:
    """Runbook "Development Environment": checkout, .env (from .env.example when the checkout has one), up, migrate,
    seed (unless app.seed_command is null), verify both health URLs."""
    env = run.env
    target = env.app_hosts[0]
    directory = env.app_dir(target)
    project = single_project(run, target)
    with guarded(run, Store(run), version=None, reason="deploy dev"):
        with run.step("prepare checkout and .env"):
            run.executor.run(target, git.clone_if_missing(env.app.repo_url, directory), what="git clone")
            env_file = f"{directory}/{env.app.env_file}"
            example = f"{directory}/{ENV_EXAMPLE}"
            said = run.executor.read(target, host.env_from_example(example, env_file))
            if said == host.ENV_EXISTS:
                run.out.ok(f"{target.name}: {env.app.env_file} exists, left as it is")
            elif said == host.ENV_CREATED:
                run.out.ok(f"{target.name}: {env.app.env_file} created from {ENV_EXAMPLE} (mode 0600)")
            else:
                run.out.warn(f"{target.name}: {env.app.env_file} not created: the checkout has no {ENV_EXAMPLE}")
        with run.step("start services"):
            run.executor.run(target, compose.up(project), what="docker compose up", stream=True)
        with run.step("migrate database"):
            wait_for_database(run, target, project)
            api = ApiTarget(target, project, None)
            alembic_in(run, api, alembic.upgrade(env.app.alembic), what="alembic upgrade head")
        with run.step("seed demo data"):
            if env.app.seed_command is None:
                run.note("seed: not configured (app.seed_command)")
            else:
                seed = compose.exec_(project, env.app.roles.migrations, command_words(env.app.seed_command))
                run.executor.run(target, seed, what="seed demo data", stream=True)
        with run.step("verify deployment"):
            wait_for_color(run, None, None, deadline=60)


def staging_version(ref: str, commit: str) -> str:
    """The image tag for a staging deploy: the ref itself when it is a version, else ref-commit."""
    from ghosttasks.domain.validate import VERSION_RE

    if VERSION_RE.fullmatch(ref):
        return ref
    return f"{ref.replace('/', '-')}-{commit}"[:120]


def deploy_staging(run: Run, ref: str) -> str:
    """Runbook "Staging Environment": pull, build, migrate, up, smoke tests, health."""
    env = run.env
    hosts = env.app_hosts
    first = hosts[0]
    with guarded(run, Store(run), version=ref, reason=f"deploy staging {ref}") as entry:
        with run.step("preflight"):
            build_once.preflight(run)
            check_password(run)
            check_reachable(run, env.hosts)
            check_access(run, env.hosts)
            require_env(run, hosts)
        with run.step(f"pull {ref}"):
            commit = run.executor.read_parallel(hosts, lambda target: git.checked_out(env.app_dir(target), ref))[0]
            version = staging_version(ref, commit)
            entry.version = version
            run.note(f"{ref} is commit {commit}: images are tagged {version}")
        with run.step("build images"):
            entry.images = build_once.ship(run, version, lambda target: single_project(run, target, version))
        with run.step("migrate database"):
            project = single_project(run, first, version)
            if env.app.shared_services:
                run.executor.run(first, compose.up(project, env.app.shared_services), what="start shared services")
            wait_for_database(run, first, project)
            migrate = compose.run_rm(project, env.app.roles.migrations, alembic.upgrade(env.app.alembic))
            run.executor.run(first, migrate, what="alembic upgrade head", stream=True)
        with run.step("deploy services"):
            run.executor.run_parallel(
                hosts,
                lambda target: compose.up(single_project(run, target, version), env.app.color_services, recreate=True),
                what="docker compose up",
                stream=True,
            )
        with run.step("health check"):
            wait_for_color(run, None, version, deadline=120)
        with run.step("smoke tests"):
            smoke(run, None, version)
        run.out.ok(f"staging runs {version}")
        return version
