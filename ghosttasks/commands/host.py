"""Read-only facts about a host: prerequisites, which env vars an env file defines, access."""

from __future__ import annotations

from ghosttasks.commands import compose, qpath
from ghosttasks.commands.facts import Answer, Fact, Unread
from ghosttasks.domain.errors import OperationFailed


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


#: What env_from_example found and did: the env file was there, was created from the example, or there is no example.
ENV_EXISTS, ENV_CREATED, ENV_NO_EXAMPLE = "exists", "created", "no-example"


def env_from_example(source: str, destination: str) -> Fact[str]:
    """Runbook dev step 2: `cp .env.example .env` unless .env exists, and only when the example exists (the copy is
    mode 0600); answers ENV_EXISTS, ENV_CREATED or ENV_NO_EXAMPLE."""
    src, dst = qpath(source), qpath(destination)
    command = (
        f"if [ -e {dst} ]; then echo {ENV_EXISTS}; elif [ -e {src} ]; then (umask 077 && cp {src} {dst}) && "
        f"echo {ENV_CREATED}; else echo {ENV_NO_EXAMPLE}; fi"
    )

    def parse(answer: Answer) -> str:
        said = answer.stdout.strip()
        if said not in (ENV_EXISTS, ENV_CREATED, ENV_NO_EXAMPLE):
            raise OperationFailed(f"creating {destination} from {source} answered {said!r}: {answer.describe()}")
        return said

    return Fact("the env file", command, parse, ENV_CREATED)


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


def _unread(answer: Answer) -> Unread:
    """Why a host's read gave no answer: the connect error of an unreachable host, else its exit and output."""
    unreachable = answer.exit_code == 255 and answer.stderr.strip()
    return Unread(unreachable or answer.describe(), answer.hint)


def prerequisites(disk_path: str) -> Fact[str | Unread]:
    """Docker and Compose versions, MemTotal and free disk (KiB) at `disk_path`, one per line, for
    ghosttasks.decisions.prerequisites to judge; a dry run assumes a host that has all it needs."""

    def parse(answer: Answer) -> str | Unread:
        return answer.stdout if answer.ok else _unread(answer)

    command = " && ".join([compose.versions(), memory_kib(), free_disk_kib(disk_path)])
    return Fact("read prerequisites", command, parse, "28.2.2\n2.40.3\n25165824\n83886080", check=False)


def defined_names(env_file: str, assumed: list[str]) -> Fact[frozenset[str] | Unread]:
    """The variable names the env file defines (a dry run assumes `assumed`), or why it cannot be read."""

    def parse(answer: Answer) -> frozenset[str] | Unread:
        return frozenset(answer.stdout.split()) if answer.ok else _unread(answer)

    return Fact("read env var names", env_names(env_file), parse, "\n".join(assumed), check=False)


def access(command: str) -> Fact[str | Unread]:
    """What the access checks in `command` (sudo.check, docker_access) printed, for
    ghosttasks.decisions.access_verdicts; a dry run assumes every check passed."""

    def parse(answer: Answer) -> str | Unread:
        if answer.exit_code == 255 or not answer.stdout.strip():
            return Unread(answer.stderr.strip() or answer.describe(), answer.hint)
        return answer.stdout

    return Fact("check access", command, parse, "sudo ok USER\ndocker ok USER", check=False)
