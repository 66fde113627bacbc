"""traffic.install, the first-time setup of an LB, as a plan: both files installed (nginx -t first), nginx -T
proving the site config includes them, one reload; what to add when it does not. A switch or a deploy on an LB
that never had the files names traffic.install instead of failing in nginx -t."""

from __future__ import annotations

import pytest

from ghosttasks.commands import nginx, render, sudo, sudoers
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.flows.lb_setup import install, site_config_lines
from ghosttasks.flows.steps.switching import require_installed, switch_traffic
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, a_run, prod

UPSTREAM = "/etc/nginx/conf.d/ghostworks-upstream.conf"
SELECTOR = "/etc/nginx/conf.d/ghostworks-selector.inc"
FRESH = f"{nginx.CONFIG_MARK}\n{nginx.CONFIG_MARK}\nblue\n"


def dump(*paths: str) -> str:
    return "".join(f"# configuration file {path}:\nserver {{}}\n\n" for path in ["/etc/nginx/nginx.conf", *paths])


def planned(live: str, *, dumped: str, nginx_ok: bool = True, task="traffic.install", flow=install):
    recorder = ScriptedExecutor(prod(), dry_run=True, unscripted="assume").on(nginx.CONFIG_MARK, live)
    recorder.on("nginx -T", dumped)
    if not nginx_ok:
        recorder.on("sudo -n /usr/sbin/nginx -t", stderr="unknown directive", exit_code=1)
    run = a_run(recorder, task=task, out=Output(silent=True))
    error = None
    try:
        flow(run)
    except OperationFailed as exc:
        error = exc
    commands = [line.split("$ ", 1)[-1] for line in recorder.entries if line.startswith("[")]
    return [c for c in commands if "sudo -n -l" not in c], error  # not the access check's list of commands


def current() -> str:
    env = prod()
    return f"{render.upstream(env)}{nginx.CONFIG_MARK}\n{render.selector(env)}{nginx.CONFIG_MARK}\nblue\n"


def test_dump_argv_and_the_files_it_names():
    assert nginx.dump_argv("nginx", None, sudo=True) == ["/usr/sbin/nginx", "-T"]
    assert nginx.dump_argv("nginx", "/lab/nginx.conf") == ["nginx", "-c", "/lab/nginx.conf", "-T"]
    assert nginx.dumped_files(dump(UPSTREAM)) == ["/etc/nginx/nginx.conf", UPSTREAM]
    assert nginx.dumped_files("nginx: configuration file /etc/nginx/nginx.conf test is successful\n") == []


def test_missing_files_builder():
    fact = nginx.missing_files([UPSTREAM])
    assert fact.command == f"[ -e {UPSTREAM} ] || echo {UPSTREAM}; true"


def test_a_fresh_lb_gets_both_files_tested_then_one_reload_after_nginx_T():
    commands, error = planned(FRESH, dumped=dump(UPSTREAM, SELECTOR))
    assert error is None
    test = next(i for i, c in enumerate(commands) if c == "sudo -n /usr/sbin/nginx -t -q")
    dumped = next(i for i, c in enumerate(commands) if c == "sudo -n /usr/sbin/nginx -T 2>&1")
    reloads = [i for i, c in enumerate(commands) if c == "sudo -n /usr/sbin/nginx -s reload"]
    swap = next(i for i, c in enumerate(commands) if f"mv -f {UPSTREAM}.ghosttasks-new {UPSTREAM}" in c)
    assert swap < test < dumped < reloads[0] and len(reloads) == 1
    assert "mkdir -p /var/lib/ghosttasks && chmod 0755 /var/lib/ghosttasks" in commands
    assert not [c for c in commands if "active-green" in c and "cat " not in c]  # the flag is not touched


def test_a_site_config_without_the_includes_says_what_to_add_and_reloads_nothing():
    commands, error = planned(FRESH, dumped=dump(UPSTREAM))
    assert error is not None
    assert str(error).endswith(
        f"the nginx configuration on lb1 (nginx -T) does not include {SELECTOR}: add to the site config inside the "
        f"server block that proxies to the app: include {SELECTOR}; and proxy_pass to "
        "http://ghostworks_api_$ghostworks_color and http://ghostworks_web_$ghostworks_color. The files are "
        "installed; nginx was not reloaded"
    )
    assert error.hint == "edit the site config, then run `inv traffic.install --env prod` again"
    assert not [c for c in commands if "nginx -s reload" in c]


def test_the_lines_to_add_name_each_missing_file():
    both = site_config_lines("ghostworks", UPSTREAM, SELECTOR, [UPSTREAM, SELECTOR])
    assert both.startswith(f"(1) at http level (outside every server block): include {UPSTREAM}; (2) inside the server")
    assert site_config_lines("ghostworks", UPSTREAM, SELECTOR, []) == ""


def test_a_current_lb_uploads_nothing_and_still_reloads_once():
    """After the operator added the includes, the second run makes the site config live: one reload."""
    commands, error = planned(current(), dumped=dump(UPSTREAM, SELECTOR))
    assert error is None
    assert not [c for c in commands if ("ghosttasks-new" in c or "nginx -t" in c) and "sudo -n -l" not in c]
    assert [c for c in commands if "nginx -s reload" in c] == ["sudo -n /usr/sbin/nginx -s reload"]


def test_nginx_t_refusing_restores_and_stops_before_nginx_T():
    commands, error = planned(FRESH, dumped=dump(UPSTREAM, SELECTOR), nginx_ok=False)
    assert error is not None and "nginx -t rejected the new LB config" in str(error)
    assert not [c for c in commands if "nginx -T" in c or "nginx -s reload" in c]
    assert any(f"rm -f {UPSTREAM}" in c for c in commands)  # no previous file: the new one is removed


def test_nginx_T_failing_is_one_line_with_nginx_words():
    recorder = ScriptedExecutor(prod(), dry_run=True, unscripted="assume").on(nginx.CONFIG_MARK, current())
    recorder.on("nginx -T", "nginx: [emerg] open() failed", exit_code=1)
    run = a_run(recorder, task="traffic.install", out=Output(silent=True))
    with pytest.raises(OperationFailed, match=r"nginx -T failed on lb1: .*open\(\) failed"):
        install(run)


def test_every_sudo_command_of_install_is_in_the_rule():
    allowed = {" ".join(argv) for argv in [list(sudo.PROBE), *sudoers.root_commands(prod())]}
    allowed |= {" ".join(argv) for argv in sudoers.setup_commands(prod())}
    commands, _ = planned(FRESH, dumped=dump(UPSTREAM, SELECTOR))
    ran = set()
    for command in commands:
        for part in command.split("sudo -n ")[1:]:
            words = part.split(" <")[0].split(";")[0].split(" && ")[0].split(" 2>&1")[0].strip().split()
            if words and words[0].startswith("/"):
                ran.add(" ".join(words))
    assert "/usr/sbin/nginx -T" in ran and ran <= allowed, ran - allowed
    assert "/usr/sbin/nginx -T" in sudoers.snippet(prod(), "deploy")


def test_a_switch_on_an_lb_that_never_had_the_files_names_traffic_install():
    recorder = ScriptedExecutor(prod(), dry_run=True, unscripted="assume").on(nginx.CONFIG_MARK, FRESH)
    recorder.on(f"[ -e {UPSTREAM} ]", f"{UPSTREAM}\n")
    run = a_run(recorder, task="traffic.switch", out=Output(silent=True))
    with pytest.raises(OperationFailed) as caught:
        switch_traffic(run, "green", "v1.1.0")
    assert str(caught.value) == (
        f"lb1 has never been set up by ghosttasks: {UPSTREAM} (lb.upstream_path) does not exist"
    )
    assert caught.value.hint.startswith("run `inv traffic.install --env prod` first")
    ran = [line for line in recorder.entries if line.startswith("[")]
    assert not [line for line in ran if "nginx -t" in line or "active-green" in line.split("cat ")[0]]


def test_an_installed_lb_passes_the_check():
    recorder = ScriptedExecutor(prod(), dry_run=True, unscripted="assume").on(f"[ -e {UPSTREAM} ]", "")
    require_installed(a_run(recorder, task="deploy.prod", out=Output(silent=True)))
