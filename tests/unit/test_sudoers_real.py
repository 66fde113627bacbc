"""The generated drop-in against the real sudo: it allows exactly what a switch runs, and the preflight's
verdicts are what sudo says. Run as `nobody` in a private mount namespace whose /etc/sudoers.d is a temp
dir (nothing outside this test sees it); skipped unless root with sudo, unshare, setpriv and nginx."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ghosttasks.commands import nginx, sudo
from ghosttasks.decisions import access_verdicts

NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin") or "/usr/sbin/nginx"
NEEDED = ("sudo", "unshare", "setpriv", "visudo")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in NEEDED) or not os.path.exists(NGINX),
    reason="needs root, sudo, unshare, setpriv, visudo and nginx",
)


@pytest.fixture
def lb():
    """A root-owned 'conf.d' with a live upstream, an nginx.conf including it, and nobody's home."""
    root = Path(tempfile.mkdtemp(prefix="gt-sudo-", dir="/tmp"))
    root.chmod(0o755)
    (root / "conf.d").mkdir(mode=0o755)
    (root / "sudoers.d").mkdir(mode=0o755)
    home = root / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    (root / "nginx.conf").write_text(
        f"pid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; include {root}/conf.d/up.conf; }}\n"
    )
    (root / "conf.d/up.conf").write_text("# the old upstream\n")
    yield root
    shutil.rmtree(root)


def as_nobody(root: Path, rule: str, script: str) -> subprocess.CompletedProcess:
    """Run `script` as nobody (HOME=root/home) with `rule` as the only sudoers drop-in."""
    drop_in = root / "sudoers.d/ghosttasks"
    drop_in.write_text(rule)
    drop_in.chmod(0o440)
    checked = subprocess.run(["visudo", "-cf", str(drop_in)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (root / "script.sh").write_text(script)
    inner = (
        f"mount --bind {root}/sudoers.d /etc/sudoers.d && cd / && exec env -i PATH=/usr/bin:/bin HOME={root}/home "
        f"setpriv --reuid=65534 --regid=65534 --clear-groups sh {root}/script.sh"
    )
    return subprocess.run(["unshare", "--mount", "sh", "-c", inner], capture_output=True, text=True, timeout=60)


def commands(root: Path) -> list[list[str]]:
    paths = [f"{root}/conf.d/up.conf", f"{root}/conf.d/sel.inc"]
    return nginx.root_commands(paths, NGINX, f"{root}/nginx.conf", owner="root", group="root")


def test_the_drop_in_allows_a_whole_switch_and_the_file_stays_root_owned(lb):
    upstream = f"{lb}/conf.d/up.conf"
    rule = sudo.sudoers("nobody", "GHOSTTASKS_TEST", [list(sudo.PROBE), *commands(lb)])
    steps = [
        "set -e",
        "printf 'upstream x { server 127.0.0.1:1; }\\n' > \"$HOME\"/.up.conf.ghosttasks-new",
        f"sh -c {nginx.stage_as_root(upstream, owner='root', group='root')!r}",
        nginx.swap_in(upstream, sudo=True),
        nginx.test(NGINX, f"{lb}/nginx.conf", sudo=True),
        f"ls -n {upstream}",
        nginx.restore_previous(upstream, sudo=True),
        f"cat {upstream}",
        sudo.check(commands(lb)),
        f"{sudo.as_root(['/usr/bin/rm', '-rf', upstream], True)} 2>&1 || echo refused",
    ]
    result = as_nobody(lb, rule, "\n".join(steps) + "\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("-rw-r--r-- 1 0 0 ")  # root:root 0644, installed by sudo
    assert lines[1] == "# the old upstream"  # restored
    assert access_verdicts.sudo_problem("lb", "test", "\n".join(lines[2:3])) is None and lines[2] == "sudo ok nobody"
    assert lines[-1] == "refused" and not list((lb / "home").iterdir())  # rm -rf not allowed; upload removed


def test_a_rule_without_nopasswd_fails_the_check_in_one_line(lb):
    rule = sudo.sudoers("nobody", "GHOSTTASKS_TEST", [list(sudo.PROBE), *commands(lb)]).replace("NOPASSWD: ", "")
    result = as_nobody(lb, rule, sudo.check(commands(lb)) + "\n")
    assert access_verdicts.sudo_problem("lb", "test", result.stdout) == (
        "lb: sudo -n needs a password for nobody: add /etc/sudoers.d/ghosttasks "
        "(python3 -m ghosttasks.commands.sudoers --env test prints it; see README, 'sudo on the LB')"
    )


def test_a_rule_missing_one_command_is_named(lb):
    allowed = [argv for argv in commands(lb) if argv[-1] != "reload"]
    result = as_nobody(lb, sudo.sudoers("nobody", "T", [list(sudo.PROBE), *allowed]), sudo.check(commands(lb)) + "\n")
    assert access_verdicts.sudo_problem("lb", "test", result.stdout) == (
        f"lb: sudo -n does not allow `{NGINX} -c {lb}/nginx.conf -s reload` for nobody: update "
        "/etc/sudoers.d/ghosttasks (python3 -m ghosttasks.commands.sudoers --env test prints it; "
        "see README, 'sudo on the LB')"
    )
