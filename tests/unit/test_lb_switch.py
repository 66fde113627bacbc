"""The LB switch as a plan: a flag flip when the LB config is current; install, test and reload only when
it differs (hosts or ports changed, or the first switch), restoring files and flag when nginx -t refuses."""

from __future__ import annotations

import pytest

from ghosttasks.commands import nginx, sudo, sudoers
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.flows.steps.switching import switch_traffic
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, a_run, prod


def plan(live: str, *, nginx_ok: bool = True, color="green") -> tuple[list[str], Exception | None]:
    """The plan of a switch whose LB answers with the config `live` and whose nginx -t may fail."""
    recorder = ScriptedExecutor(prod(), dry_run=True, unscripted="assume").on(nginx.CONFIG_MARK, live)
    if not nginx_ok:
        recorder.on("nginx -t", stderr="duplicate upstream", exit_code=1)
    run = a_run(recorder, task="traffic.switch", out=Output(silent=True))
    error = None
    try:
        switch_traffic(run, color, "v1.1.0")
    except OperationFailed as exc:
        error = exc
    return [line for line in recorder.entries if line.startswith("[")], error


OLD = f"# an old upstream\n{nginx.CONFIG_MARK}\n{nginx.CONFIG_MARK}\nblue\n"
CURRENT_FORMAT = f"# hosts changed\n{nginx.CONFIG_MARK}\nset $ghostworks_color blue;\n{nginx.CONFIG_MARK}\nblue\n"


def test_a_changed_config_is_installed_tested_and_reloaded_after_the_flag():
    lines, error = plan(OLD)
    assert error is None
    commands = [line.split("$ ", 1)[-1] for line in lines]
    flag = next(i for i, c in enumerate(commands) if "touch /var/lib/ghosttasks/ghostworks-active-green" in c)
    reload = next(i for i, c in enumerate(commands) if "nginx -s reload" in c)
    test = next(i for i, c in enumerate(commands) if "nginx -t -q" in c)
    assert flag < test < reload
    uploads = [line for line in lines if " upload " in line]
    assert [u.split()[2] for u in uploads] == [
        "~/.ghostworks-upstream.conf.ghosttasks-new",
        "~/.ghostworks-selector.inc.ghosttasks-new",
    ]


def test_every_sudo_command_of_a_config_change_is_in_the_rule():
    allowed = {" ".join(argv) for argv in [list(sudo.PROBE), *sudoers.root_commands(prod())]}
    lines, _ = plan(OLD)
    failed_lines, _ = plan(OLD, nginx_ok=False)
    ran = set()
    for line in lines + failed_lines:
        for part in line.split("sudo -n ")[1:]:
            words = part.split(" <")[0].split(";")[0].split(" && ")[0].strip().split()
            if words and words[0].startswith("/"):
                ran.add(" ".join(words))
    assert "/usr/sbin/nginx -s reload" in ran and ran <= allowed, ran - allowed


def test_nginx_t_refusing_restores_both_files_and_never_moves_the_flag():
    """With a selector in place, the flag moves only after nginx accepted the new config."""
    lines, error = plan(CURRENT_FORMAT, nginx_ok=False)
    assert error is not None and "nginx -t rejected the new LB config" in str(error)
    commands = [line.split("$ ", 1)[-1] for line in lines]
    assert not [c for c in commands if "nginx -s reload" in c or ("active-green" in c and "cat " not in c)]
    restore = next(c for c in commands if "ghosttasks-prev /etc/nginx/conf.d/ghostworks-upstream.conf" in c)
    assert "ghostworks-selector.inc.ghosttasks-prev" in restore


def test_a_config_without_a_selector_gets_the_flag_before_it_is_installed():
    """The first switch (or a config from before the flag): the old config ignores the flag, so it is set
    first and the new config comes up on the right colour."""
    lines, error = plan(OLD)
    commands = [line.split("$ ", 1)[-1] for line in lines]
    flag = commands.index("mkdir -p /var/lib/ghosttasks && touch /var/lib/ghosttasks/ghostworks-active-green")
    assert error is None and flag < next(i for i, c in enumerate(commands) if "nginx -t" in c)


@pytest.mark.parametrize("color", ["blue", "green"])
def test_a_current_config_only_flips_the_flag_and_clears_the_canary(color):
    from ghosttasks.commands import render

    env = prod()
    live = f"{render.upstream(env)}{nginx.CONFIG_MARK}\n{render.selector(env)}{nginx.CONFIG_MARK}\nblue\n"
    lines, error = plan(live, color=color)
    assert error is None
    assert [line.split("$ ", 1)[-1] for line in lines][1:] == [
        nginx.set_flag(env.flag_path, color),
        nginx.clear_buckets(env.canary_path),
    ]
