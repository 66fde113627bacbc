"""The deploy lock in the LB host's state dir: acquire, freeze, read and release.

The lock is a directory made with mkdir (atomic on every POSIX filesystem);
its holder is described in lock/info.json.
"""

from __future__ import annotations

import shlex

from ghosttasks.commands import qpath
from ghosttasks.commands.facts import Fact, stdout


def acquire(state_dir: str, info_json: str) -> str:
    """Exit 0 and write the holder when the lock was free; exit 1 (and print the holder) when held;
    exit 2 when the lock cannot be made at all (the state dir is not writable by the login user)."""
    lock = f"{state_dir}/lock"
    return (
        f"mkdir -p {qpath(state_dir)} || exit 2; if mkdir {qpath(lock)} 2>/dev/null; then "
        f"printf '%s\\n' {shlex.quote(info_json)} > {qpath(lock + '/info.json')}; "
        f"elif [ -d {qpath(lock)} ]; then cat {qpath(lock + '/info.json')} 2>/dev/null; exit 1; "
        f"else printf 'cannot create %s: %s may not write %s\\n' {qpath(lock)} \"$(id -un)\" {qpath(state_dir)} >&2; "
        "exit 2; fi"
    )


def force_acquire(state_dir: str, info_json: str) -> str:
    """Replace any lock with this holder (emergency freeze)."""
    lock = f"{state_dir}/lock"
    return (
        f"mkdir -p {qpath(state_dir)} && rm -rf {qpath(lock)} && mkdir {qpath(lock)} "
        f"&& printf '%s\\n' {shlex.quote(info_json)} > {qpath(lock + '/info.json')}"
    )


def read(state_dir: str) -> str:
    """Print the lock holder, or nothing when the lock is free."""
    return f"cat {qpath(state_dir + '/lock/info.json')} 2>/dev/null || true"


def release(state_dir: str, run_id: str) -> str:
    """Remove the lock only when this run holds it."""
    lock = f"{state_dir}/lock"
    return (
        f"if grep -qF -- {shlex.quote(run_id)} {qpath(lock + '/info.json')} 2>/dev/null; then rm -rf {qpath(lock)}; fi"
    )


def force_release(state_dir: str) -> str:
    """Remove the lock whoever holds it."""
    return f"rm -rf {qpath(state_dir + '/lock')}"


def holder(state_dir: str) -> Fact[str]:
    """lock/info.json as printed (empty: the lock is free, as a dry run assumes)."""
    return Fact("read the deploy lock", read(state_dir), stdout, "")
