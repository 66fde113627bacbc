"""traffic.install: first-time setup of an LB (and a repair of one): the two files ghosttasks renders, installed
and included by the live nginx configuration, then one reload."""

from __future__ import annotations

from ghosttasks.commands import nginx, render
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.access_check import check_access
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.switching import stage_and_test
from ghosttasks.records.state_store import Store


def site_config_lines(project: str, upstream_path: str, selector_path: str, missing: list[str]) -> str:
    """Exactly what the site config must gain for the files in `missing` (the README's example, as lines)."""
    lines = []
    if upstream_path in missing:
        lines.append(f"at http level (outside every server block): include {upstream_path};")
    if selector_path in missing:
        lines.append(
            f"inside the server block that proxies to the app: include {selector_path}; "
            f"and proxy_pass to http://{project}_api_${project}_color and http://{project}_web_${project}_color"
        )
    if len(lines) == 1:
        return lines[0]
    return " ".join(f"({number}) {line}" for number, line in enumerate(lines, 1))


def install(run: Run) -> None:
    """On every LB: render both files, install them where they differ (`nginx -t` first, restored on failure),
    check with `nginx -T` that the configuration nginx loads includes both, then reload each once.

    The flags are not touched: with no flag file the selector sends traffic to blue. When the site config of an
    LB does not include a file, no LB is reloaded and the failure says, per LB, which lines to add; run it again
    after adding them.
    """
    env = run.env
    lb = env.lb
    if lb is None:
        raise OperationFailed(f"environment {env.name} has no lb: there is nothing to install")
    hosts = env.lb_hosts
    with guarded(run, Store(run), version=None, reason="install the LB config"):
        check_access(run, hosts, docker=False)
        paths = [lb.upstream_path, env.selector_path]
        wanted = [render.upstream(env), render.selector(env)]
        with run.step("install the LB config"):
            current = nginx.lb_config(paths, env.flag_path, assumed=["", ""], selected="blue")
            for host in hosts:
                live = run.executor.read(host, current)
                # the selector's access log and the flag live in the state dir: nginx -t opens the log
                run.executor.run(host, nginx.make_dir(lb.state_dir), what="create the LB state dir")
                if live == wanted:
                    run.out.ok(f"{host.name}: {', '.join(paths)} already as the inventory renders them")
                else:
                    stage_and_test(run, host, paths, wanted)
                    run.out.ok(f"{host.name}: installed {', '.join(paths)}; nginx -t accepts the configuration")
        with run.step("check the site config includes them"):
            lacking = []
            for host in hosts:
                found = run.executor.read(host, nginx.included(lb.nginx, lb.nginx_conf, paths, sudo=lb.sudo))
                missing = [path for path in paths if path not in found]
                if missing:
                    lines = site_config_lines(env.app.project, paths[0], paths[1], missing)
                    lacking.append(
                        f"the nginx configuration on {host.name} (nginx -T) does not include {', '.join(missing)}: "
                        f"add to the site config {lines}"
                    )
                else:
                    run.out.ok(f"nginx -T on {host.name} includes {', '.join(paths)}")
            if lacking:
                raise OperationFailed(
                    "\n".join(lacking)
                    + f". The files are installed; {'nginx was' if len(hosts) == 1 else 'no LB was'} "
                    "not reloaded",
                    hint=f"edit the site config, then run `inv traffic.install --env {env.name}` again",
                )
        with run.step("reload nginx"):
            for host in hosts:
                run.executor.run(host, nginx.reload(lb.nginx, lb.nginx_conf, sudo=lb.sudo), what="nginx reload")
                run.out.ok(f"{host.name}: nginx reloaded once; the selector reads {env.flag_path} per request")
