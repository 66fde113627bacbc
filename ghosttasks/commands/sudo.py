"""Running a command as root with `sudo -n`, checking beforehand that sudo allows it, and the sudoers rule.

A privileged command is an argv whose first word is an absolute path, so that what runs
(`sudo -n /usr/bin/mv -f A B`), what the preflight asks sudo about (`sudo -n -l /usr/bin/mv -f A B`)
and what the sudoers drop-in allows (`/usr/bin/mv -f A B`) are the same words; sudoers matches
commands by absolute path and exact arguments.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from ghosttasks.commands import qpath

SUDO = ("sudo", "-n")

#: Where the tools ghosttasks runs as root live (Debian 12, Ubuntu 20.04+ and every merged-/usr system).
BINARIES = {
    "install": "/usr/bin/install",
    "cp": "/usr/bin/cp",
    "mv": "/usr/bin/mv",
    "rm": "/usr/bin/rm",
    "true": "/usr/bin/true",
}

#: What the preflight runs first: proves sudo answers without a password (`sudo -n true`).
PROBE = (BINARIES["true"],)

#: A word that may appear in a sudoers command unescaped and in a shell command unquoted.
PLAIN_WORD = re.compile(r"[A-Za-z0-9_./+@%-]+")


def tool(name: str, sudo: bool) -> str:
    """A tool's name as run: its absolute path under sudo (sudoers needs it), else the bare name."""
    return BINARIES[name] if sudo else name


def as_root(argv: Sequence[str], sudo: bool) -> str:
    """The command line: `sudo -n argv...` when sudo, else argv itself."""
    return shlex.join([*SUDO, *argv] if sudo else list(argv))


def install_from_stdin(source: str, destination: str, *, mode: str, owner: str, group: str) -> str:
    """Copy a file the login user owns to a root-owned place with this mode and owner, then remove it.

    `install` reads /dev/stdin, which the login user's shell opened: root never opens a path the
    user controls (a symlink there cannot make root read another file).
    """
    argv = install_argv(destination, mode=mode, owner=owner, group=group)
    src = qpath(source)
    return f"{as_root(argv, True)} < {src}; status=$?; rm -f {src}; exit $status"


def install_argv(destination: str, *, mode: str, owner: str, group: str) -> list[str]:
    return [BINARIES["install"], "-m", mode, "-o", owner, "-g", group, "/dev/stdin", destination]


def check(commands: Sequence[Sequence[str]]) -> str:
    """Preflight: `sudo -n true` answers without a password, and sudo allows each of `commands` (`sudo -n -l`).

    Never fails by itself; prints `sudo ok USER` (after `sudo not-allowed COMMAND` for each command sudo
    would refuse), or `sudo failed USER` followed by what sudo said. Judged by ghosttasks.decisions.access_verdicts.
    """
    for argv in commands:
        for word in argv:
            sudoers_word(word)
    listed = "".join(f"c {shlex.join(argv)}; " for argv in commands)
    return (
        f"u=$(id -un); if e=$({shlex.join([*SUDO, *PROBE])} 2>&1); then "
        f'c() {{ {shlex.join([*SUDO, "-l"])} "$@" >/dev/null 2>&1 || echo "sudo not-allowed $*"; }}; '
        f'{listed}echo "sudo ok $u"; else echo "sudo failed $u"; printf \'%s\\n\' "$e"; fi'
    )


def sudoers_word(word: str) -> str:
    """A word of a sudoers command: only plain words are allowed (nothing to escape, no wildcard)."""
    if not PLAIN_WORD.fullmatch(word):
        raise ValueError(f"{word!r} cannot go into a sudoers rule: use letters, digits and . _ - + / @ % only")
    return word


def sudoers(user: str, alias: str, commands: Sequence[Sequence[str]], *, header: Sequence[str] = ()) -> str:
    """A sudoers drop-in that lets `user` run exactly `commands` as root without a password, nothing else."""
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", alias):
        raise ValueError(f"{alias!r} is not a sudoers alias name (A-Z, 0-9, _)")
    lines = [f"# {line}" if line else "#" for line in header]
    # A command without arguments gets "": sudoers then allows it without any (bare, it would allow all).
    specs = [
        " ".join([*(sudoers_word(word) for word in argv), *([] if len(argv) > 1 else ['""'])]) for argv in commands
    ]
    lines.append(f"Cmnd_Alias {alias} = \\")
    lines += [f"    {spec}, \\" for spec in specs[:-1]]
    lines.append(f"    {specs[-1]}")
    lines.append(f"{sudoers_word(user)} ALL=(root) NOPASSWD: {alias}")
    return "\n".join(lines) + "\n"
