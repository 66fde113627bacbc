"""nginx on the LB host: stage, swap and restore the upstream file, test, reload.

Every builder takes `sudo`: on an LB where the login user cannot write the upstream's directory or
signal nginx (lb.sudo), the same steps run as root with `sudo -n`, each tool by its absolute path,
and `root_commands` lists exactly those argvs (the preflight checks them, the sudoers drop-in allows
them, ghosttasks.sudoers prints it).
"""

from __future__ import annotations

import posixpath
import shlex

from ghosttasks.commands import qpath
from ghosttasks.commands.sudo import as_root, install_argv, install_from_stdin, tool

NEW_SUFFIX = ".ghosttasks-new"
PREV_SUFFIX = ".ghosttasks-prev"
#: The upstream file's mode (it holds no secret; nginx's workers need not read it, the master does).
UPSTREAM_MODE = 0o644
#: nginx's path when it runs under sudo and lb.nginx names no path (Debian's package).
SUDO_NGINX = "/usr/sbin/nginx"


def nginx_argv(binary: str, conf: str | None, *args: str, sudo: bool = False) -> list[str]:
    words = shlex.split(binary)
    if sudo and "/" not in words[0]:
        words[0] = SUDO_NGINX
    return [*words, *(["-c", conf] if conf else []), *args]


def test(binary: str, conf: str | None, *, sudo: bool = False) -> str:
    return as_root(nginx_argv(binary, conf, "-t", "-q", sudo=sudo), sudo)


def reload(binary: str, conf: str | None, *, sudo: bool = False) -> str:
    return as_root(nginx_argv(binary, conf, "-s", "reload", sudo=sudo), sudo)


def staged_path(upstream_path: str) -> str:
    return upstream_path + NEW_SUFFIX


def upload_path(upstream_path: str) -> str:
    """Where the new upstream is uploaded on an LB with sudo: a file of the login user, in its home."""
    return f"~/.{posixpath.basename(upstream_path)}{NEW_SUFFIX}"


def stage_as_root(upstream_path: str, *, owner: str, group: str) -> str:
    """Install the uploaded file as the staged one, root-owned (owner:group, 0644), and remove the upload."""
    return install_from_stdin(
        upload_path(upstream_path), staged_path(upstream_path), mode=_mode(), owner=owner, group=group
    )


def _keep_argv(path: str, sudo: bool) -> list[str]:
    return [tool("cp", sudo), "-p", path, path + PREV_SUFFIX]


def _drop_prev_argv(path: str, sudo: bool) -> list[str]:
    return [tool("rm", sudo), "-f", path + PREV_SUFFIX]


def _swap_argv(path: str, sudo: bool) -> list[str]:
    return [tool("mv", sudo), "-f", path + NEW_SUFFIX, path]


def _restore_argv(path: str, sudo: bool) -> list[str]:
    return [tool("mv", sudo), "-f", path + PREV_SUFFIX, path]


def _remove_argv(path: str, sudo: bool) -> list[str]:
    return [tool("rm", sudo), "-f", path]


def swap_in(upstream_path: str, *, sudo: bool = False) -> str:
    """Keep the live file as .prev (if any) and move the staged file into place."""
    live = qpath(upstream_path)
    keep, drop, swap = (as_root(argv(upstream_path, sudo), sudo) for argv in (_keep_argv, _drop_prev_argv, _swap_argv))
    return f"{{ if [ -f {live} ]; then {keep}; else {drop}; fi; }} && {swap}"


def restore_previous(upstream_path: str, *, sudo: bool = False) -> str:
    prev = qpath(upstream_path + PREV_SUFFIX)
    restore, remove = (as_root(argv(upstream_path, sudo), sudo) for argv in (_restore_argv, _remove_argv))
    return f"if [ -f {prev} ]; then {restore}; else {remove}; fi"


def root_commands(upstream_path: str, binary: str, conf: str | None, *, owner: str, group: str) -> list[list[str]]:
    """Every argv a switch runs with sudo -n, in the order a switch may run them."""
    return [
        install_argv(staged_path(upstream_path), mode=_mode(), owner=owner, group=group),
        _keep_argv(upstream_path, True),
        _drop_prev_argv(upstream_path, True),
        _swap_argv(upstream_path, True),
        nginx_argv(binary, conf, "-t", "-q", sudo=True),
        _restore_argv(upstream_path, True),
        _remove_argv(upstream_path, True),
        nginx_argv(binary, conf, "-s", "reload", sudo=True),
    ]


def read_header(upstream_path: str) -> str:
    return f"head -n 5 {qpath(upstream_path)}"


def _mode() -> str:
    return f"{UPSTREAM_MODE:04o}"
