"""The runbook's pre-deployment checklist: hosts reachable, tag exists, prerequisites, env vars, monitoring."""

from __future__ import annotations

from collections.abc import Callable

from ghosttasks.commands import git, host
from ghosttasks.commands.facts import Unread
from ghosttasks.config.inventory import Host
from ghosttasks.decisions import prerequisites
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.access_check import check_access
from ghosttasks.flows.steps.switching import require_installed


def check_reachable(run: Run, hosts: list[Host]) -> None:
    """Every host answers over SSH (in parallel); unreachable ones fail the step together."""
    run.executor.run_parallel(hosts, host.reachable(), what="reach host", timeout=run.env.ssh.connect_timeout * 3)
    run.out.ok(f"{len(hosts)} hosts reachable: {', '.join(h.name for h in hosts)}")


def check_tag(run: Run, version: str) -> None:
    """The release tag exists in origin (asked from the first app host, no fetch needed)."""
    env = run.env
    first = env.app_hosts[0]
    if not run.executor.read(first, git.tag_in_origin(env.app_dir(first), version)):
        raise OperationFailed(
            f"tag {version} does not exist in origin ({env.app.repo_url})",
            hint=f"create and push it first: inv deploy.tag --version {version}",
        )
    run.out.ok(f"tag {version} exists in origin")


def check_prerequisites(run: Run, hosts: list[Host], *, disk_path_of: Callable[[Host], str]) -> list[str]:
    """The runbook's system requirements, each reported with its measured value; returns the failures."""

    answers = run.executor.read_parallel(hosts, lambda target: host.prerequisites(disk_path_of(target)))
    problems: list[str] = []
    for target, answer in zip(hosts, answers, strict=True):
        if isinstance(answer, Unread):
            problems.append(f"{target.name}: cannot read docker/compose/memory/disk ({answer.reason})")
            continue
        checks = prerequisites.judge(target.name, answer, run.env.prerequisites)
        if checks is None:
            problems.append(f"{target.name}: cannot read docker/compose/memory/disk ({answer.strip()!r})")
            continue
        for check in checks:
            (run.out.ok if check.ok else run.out.fail)(check.line())
            if not check.ok:
                problems.append(check.line())
    return problems


def missing_env(run: Run, hosts: list[Host]) -> dict[str, list[str]]:
    """Required variables absent from each host's env file (names only; values never leave the host)."""
    env = run.env
    required = env.app.required_env
    answers = run.executor.read_parallel(
        hosts, lambda target: host.defined_names(f"{env.app_dir(target)}/{env.app.env_file}", required)
    )
    missing: dict[str, list[str]] = {}
    for target, present in zip(hosts, answers, strict=True):
        if isinstance(present, Unread):
            missing[target.name] = [f"(cannot read {env.app.env_file}: {present.reason})"]
            continue
        absent = [name for name in required if name not in present]
        if absent:
            missing[target.name] = absent
    return missing


def require_env(run: Run, hosts: list[Host]) -> None:
    """Fail naming every host and variable that is missing from the env files."""
    missing = missing_env(run, hosts)
    if missing:
        detail = "; ".join(f"{name}: {', '.join(names)}" for name, names in sorted(missing.items()))
        raise OperationFailed(
            f"required environment variables are missing: {detail}",
            hint=f"add them to {run.env.app.env_file} in the app dir on those hosts (see .env.example)",
        )
    run.out.ok(f"all {len(run.env.app.required_env)} required variables present on {len(hosts)} hosts")


def check_prometheus(run: Run) -> None:
    """Prometheus answers /-/ready, so the deploy can be monitored."""
    url = (run.env.monitoring.prometheus_url or "").rstrip("/") + "/-/ready"
    client = run.executor.http_client(url)
    ready = run.executor.probe(
        f"GET {url} {way(run.env, url)}", lambda: probes.check_ready(url, client=client), assume=None
    )
    if ready:
        raise OperationFailed(
            f"Prometheus is not reachable ({ready}): the deploy could not be monitored",
            hint="fix monitoring, or deploy with --monitor-minutes 0 and watch by hand",
        )
    run.out.ok(f"Prometheus ready at {run.env.monitoring.prometheus_url}")


def public_urls(run: Run) -> list[str]:
    """The HTTPS URLs users reach that the run probes directly: the LB's health URL, app.public_health_url."""
    env = run.env
    urls = [env.lb_health_url] if env.lb is not None else []
    urls += [env.app.public_health_url] if env.app.public_health_url else []
    return [url for url in dict.fromkeys(urls) if url.lower().startswith("https://")]


def check_public_tls(run: Run) -> None:
    """Every public HTTPS URL's certificate verifies with the run's trust (probes.ca_file, else the system
    store) before anything changes; a failure is one line naming the URL, the issuer and the setting."""
    from ghosttasks.execution import trust

    urls = public_urls(run)
    for url in urls:
        run.executor.probe(
            f"TLS {url} direct (trust: {trust.setting()})", lambda url=url: probes.check_tls(url), assume=None
        )
    if urls:
        run.out.ok(f"TLS verified for {', '.join(urls)} ({trust.setting()})")


def deploy_checklist(run: Run, version: str, *, monitor_minutes: float) -> None:
    """The pre-deployment checklist as gates before a production deploy; each result is printed."""
    env = run.env
    check_reachable(run, env.hosts)
    check_access(run, env.hosts)
    require_installed(run)
    check_public_tls(run)
    check_tag(run, version)
    backups = env.database_client_host
    apps = run.executor.start(lambda: check_prerequisites(run, env.app_hosts, disk_path_of=env.releases_dir))
    if backups in env.app_hosts:  # one host: its reads one after the other
        apps.result()
    db = check_prerequisites(run, [backups], disk_path_of=lambda _host: env.database.backup_dir)
    problems = apps.result() + db
    if problems:
        raise OperationFailed(f"prerequisites not met: {'; '.join(problems)}")
    require_env(run, env.app_hosts)
    if monitor_minutes > 0 and env.monitoring.prometheus_url:
        check_prometheus(run)
