"""PURE: may the login user do what a run needs on a host — `sudo -n` on the LB (lb.sudo), the Docker
socket on app and db hosts — judged from the preflight check's output (ghosttasks.commands.sudo.check,
ghosttasks.commands.host.docker_access). Each problem is one line naming the host and the fix.
"""

from __future__ import annotations

import re

SUDOERS_FILE = "/etc/sudoers.d/ghosttasks"
README = "see README, 'sudo on the LB'"

_VERDICT = re.compile(r"^(?P<check>sudo|docker) (?P<verdict>ok|failed|not-allowed)(?: (?P<rest>.*))?$")
_SOCKET = re.compile(r"unix://(\S+?)[.:]?(?:\s|$)")


def verdicts(output: str, check: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The verdict lines of one check (`sudo` or `docker`) as (verdict, rest), and the lines that follow a
    `failed` verdict up to the next verdict (what the tool said)."""
    found: list[tuple[str, str]] = []
    said: list[str] = []
    current = None
    for line in output.splitlines():
        match = _VERDICT.match(line.strip())
        if match:
            current = match["check"]
            if current == check:
                found.append((match["verdict"], match["rest"] or ""))
        elif current == check and found and found[-1][0] == "failed" and line.strip():
            said.append(line.strip())
    return found, said


def sudo_problem(host: str, env: str, output: str) -> str | None:
    """None when sudo -n ran without a password and allows every command; else the one-line problem."""
    found, said = verdicts(output, "sudo")
    fix = f"python3 -m ghosttasks.commands.sudoers --env {env} prints it; {README}"
    refused = [rest for verdict, rest in found if verdict == "not-allowed"]
    user = next((rest for verdict, rest in found if verdict in ("ok", "failed")), "") or "the login user"
    if any(verdict == "ok" for verdict, _ in found) and not refused:
        return None
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        return f"{host}: sudo -n does not allow `{refused[0]}`{more} for {user}: update {SUDOERS_FILE} ({fix})"
    text = " | ".join(said)
    lowered = text.lower()
    if not found:
        return f"{host}: the sudo check printed nothing we understand ({output.strip()[:200] or 'no output'})"
    if "password is required" in lowered or "a terminal is required" in lowered:
        return f"{host}: sudo -n needs a password for {user}: add {SUDOERS_FILE} ({fix})"
    if "not found" in lowered or "no such file" in lowered:
        return f"{host}: sudo is not installed but lb.sudo is set: install it and add {SUDOERS_FILE} ({fix})"
    if "tty" in lowered:
        return (
            f"{host}: sudo wants a terminal for {user} (Defaults requiretty): add "
            f"'Defaults:{user} !requiretty' to {SUDOERS_FILE} ({README})"
        )
    return f"{host}: sudo -n failed for {user}: {text or 'no output'} ({README})"


def docker_problem(host: str, output: str) -> str | None:
    """None when the login user reached the Docker daemon; else the one-line problem and its fix."""
    found, said = verdicts(output, "docker")
    if any(verdict == "ok" for verdict, _ in found):
        return None
    if not found:
        return f"{host}: the Docker check printed nothing we understand ({output.strip()[:200] or 'no output'})"
    user, socket, group = ([*found[0][1].split(), "", "", ""])[:3]
    user = user or "the login user"
    text = " | ".join(said)
    named = _SOCKET.search(text)
    socket = named.group(1) if named else socket or "/var/run/docker.sock"
    lowered = text.lower()
    if "permission denied" in lowered and group == "root":
        return (
            f"{host}: {user} cannot use {socket} (group root): give the socket a group (dockerd --group docker), "
            f"add {user} to it (sudo usermod -aG docker {user}) and log in again"
        )
    if "permission denied" in lowered:
        group = group or "docker"
        return (
            f"{host}: {user} cannot use {socket}: add it to the {group} group "
            f"(sudo usermod -aG {group} {user}) and log in again"
        )
    if "cannot connect to the docker daemon" in lowered or "is the docker daemon running" in lowered:
        return f"{host}: the Docker daemon does not answer at {socket}: start it, or set DOCKER_HOST for {user}"
    if "not found" in lowered:
        return f"{host}: docker is not installed or not on {user}'s PATH"
    return f"{host}: docker version failed for {user}: {said[-1] if said else 'no output'}"
