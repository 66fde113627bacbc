"""The LB switch of before commit 87785e1 (upload the upstream, swap it in, `nginx -t`, `nginx -s reload`), and
`inv` run with it in place of the flag switch: lab_bench.py's "reload" phase, for the side-by-side comparison."""

from __future__ import annotations

import sys
from typing import Any


def reload_switch_traffic(run: Any, color: str, version: str) -> None:
    """The switch of before 87785e1, step for step: upload the upstream, swap it in, `nginx -t`, reload.

    The LB config of today defines both colours and the flag file selects one, so the old rewrite of the
    upstream becomes: upload and swap in the rendered upstream (the same content, as the old switch wrote a
    file every time), `nginx -t`, then flip the flag and `nginx -s reload -c <conf>` in one remote command.
    The LB moves to `color` at that command, where the old switch's reload moved it.
    """
    from ghosttasks.commands import nginx, render
    from ghosttasks.domain.errors import OperationFailed

    env = run.env
    lb = env.lb
    if lb is None:
        raise OperationFailed(f"environment {env.name} has no lb: there is no traffic to switch")
    content, sudo = render.upstream(env), lb.sudo
    if sudo:
        owner, group = lb.owner
        run.executor.put(env.lb_host, content, nginx.upload_path(lb.upstream_path), mode=0o600)
        stage = nginx.stage_as_root(lb.upstream_path, owner=owner, group=group)
        run.executor.run(env.lb_host, stage, what="stage the new upstream (sudo install)")
    else:
        run.executor.put(env.lb_host, content, nginx.staged_path(lb.upstream_path), mode=nginx.UPSTREAM_MODE)
    run.executor.run(env.lb_host, nginx.swap_in(lb.upstream_path, sudo=sudo), what="install the new upstream")
    tested = run.executor.run(env.lb_host, nginx.test(lb.nginx, lb.nginx_conf, sudo=sudo), check=False)
    if not tested.ok:
        run.executor.run(env.lb_host, nginx.restore_previous(lb.upstream_path, sudo=sudo), what="restore")
        raise OperationFailed(f"nginx -t rejected the upstream on {env.lb_host.name}: {tested.describe()}")
    flip_and_reload = f"{nginx.set_flag(env.flag_path, color)} && {nginx.reload(lb.nginx, lb.nginx_conf, sudo=sudo)}"
    run.executor.run(env.lb_host, flip_and_reload, what="nginx reload")
    run.out.ok(f"{env.lb_host.name}: nginx now sends traffic to {color} ({version}) (reload-based switch)")


def run_inv_with_reload_switch(args: list[str]) -> None:
    """`inv ARGS` with reload_switch_traffic in place of the flag switch, in every flow that switches.

    The flows bind `switch_traffic` when the task imports them (inside its body, after this), except
    ghosttasks.flows.steps.switching itself, whose attribute is replaced here; any module already holding
    the original is patched too.
    """
    from ghosttasks.flows.steps import switching

    original = switching.switch_traffic
    for module in list(sys.modules.values()):
        if module.__name__.startswith("ghosttasks") and getattr(module, "switch_traffic", None) is original:
            module.switch_traffic = reload_switch_traffic
    from invoke.main import program

    program.run(["inv", *args])
