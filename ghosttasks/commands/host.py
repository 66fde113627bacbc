"""Read-only facts about a host: prerequisites and which env vars an env file defines."""

from __future__ import annotations

from ghosttasks.commands import qpath


def reachable() -> str:
    """A command every host answers: its node name."""
    return "uname -n"


def memory_kib() -> str:
    """Total memory in KiB."""
    return "awk '/^MemTotal:/ {print $2}' /proc/meminfo"


def free_disk_kib(path: str) -> str:
    """Free KiB on the filesystem holding path (or its nearest existing parent)."""
    quoted = qpath(path)
    return f'p={quoted}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | awk \'NR==2 {{print $4}}\''


def env_names(env_file: str) -> str:
    """The variable NAMES an env file defines, one per line; values never leave the host."""
    script = "s/^[[:space:]]*\\(export[[:space:]]\\+\\)\\?\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\2/p"
    return f"sed -n '{script}' {qpath(env_file)}"


def copy_if_missing(source: str, destination: str) -> str:
    """Runbook dev step 2: `cp .env.example .env` unless .env exists; the copy is mode 0600."""
    src, dst = qpath(source), qpath(destination)
    return f"[ -e {dst} ] || (umask 077 && cp {src} {dst})"


def docker_access() -> str:
    """Whether the login user can use the Docker daemon (without sudo): never fails by itself.

    Prints `docker ok USER`, or `docker failed USER SOCKET GROUP` (the socket DOCKER_HOST names, else the
    default, and its group) followed by what docker said. Judged by ghosttasks.decisions.access_verdicts.
    """
    return (
        "u=$(id -un); if e=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); "
        'then echo "docker ok $u"; else s=${DOCKER_HOST:-unix:///var/run/docker.sock}; s=${s#unix://}; '
        'echo "docker failed $u $s $(stat -c %G "$s" 2>/dev/null)"; printf \'%s\\n\' "$e"; fi'
    )
