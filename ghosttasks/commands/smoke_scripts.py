"""An app's own smoke scripts (smoke.scripts), as the runbook runs them: `./scripts/smoke-tests.sh` in the release.

The command runs the script from its directory with the GHOST_* variables set, under coreutils `timeout` (the
remote process is stopped at the limit, exit 124, and killed 10 s later if it ignores TERM).
"""

from __future__ import annotations

import shlex

from ghosttasks.commands import join, qpath

#: What `timeout` exits with when it stopped the script.
TIMED_OUT = 124
#: Seconds between TERM and KILL for a script that outlives its limit.
KILL_AFTER_SECONDS = 10


def variables(base_url: str, color: str | None, version: str | None, env: str) -> dict[str, str]:
    """The environment a smoke script gets: where the new colour answers, which colour, version and environment."""
    return {"GHOST_BASE_URL": base_url, "GHOST_COLOR": color or "", "GHOST_VERSION": version or "", "GHOST_ENV": env}


def run_script(directory: str, line: str, env: dict[str, str], timeout: float) -> str:
    """`cd DIR && NAME=value ... timeout -k 10 T ./script args`: one script line, its words quoted."""
    assigned = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    limit = f"timeout -k {KILL_AFTER_SECONDS} {max(1, round(timeout))}"
    return f"cd {qpath(directory)} && {assigned} {limit} {join(shlex.split(line))}"
