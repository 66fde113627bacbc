"""The deploy lock in the LB host's state dir: acquire, freeze, read and release.

The lock is a directory, lock/, that appears by an atomic rename with its holder,
lock/info.json, already in it.
"""

from __future__ import annotations

import shlex

from ghosttasks.commands import qpath
from ghosttasks.commands.facts import Fact, stdout


def acquire(state_dir: str, info_json: str) -> str:
    """Exit 0 and write the holder when the lock was free; exit 1 (and print the holder) when held;
    exit 2 when the lock cannot be made at all (the state dir is not writable by the login user).

    The lock appears with its holder in it: info.json is written into a new directory that is then renamed
    to lock/ (`mv -T`: rename(2), which fails on a lock that exists), so a run refused at the same moment
    always reads whom it was refused by.
    """
    lock = f"{state_dir}/lock"
    return (
        f"mkdir -p {qpath(state_dir)} || exit 2; "
        f"t=$(mktemp -d {qpath(state_dir + '/.lock.XXXXXX')} 2>/dev/null) || {{ {_unwritable(state_dir)}; }}; "
        f'printf \'%s\\n\' {shlex.quote(info_json)} > "$t/info.json" || {{ rm -rf "$t"; exit 2; }}; '
        f'if mv -T "$t" {qpath(lock)} 2>/dev/null; then exit 0; fi; rm -rf "$t"; '
        f"if [ -d {qpath(lock)} ]; then cat {qpath(lock + '/info.json')} 2>/dev/null; exit 1; fi; "
        f"{_unwritable(state_dir)}"
    )


def _unwritable(state_dir: str) -> str:
    """Say the login user may not write the state dir, and exit 2."""
    return (
        f"printf 'cannot create %s: %s may not write %s\\n' {qpath(state_dir + '/lock')} \"$(id -un)\" "
        f"{qpath(state_dir)} >&2; exit 2"
    )


def force_acquire(state_dir: str, info_json: str) -> str:
    """Replace any lock with this holder (emergency freeze): the holder is written first, then the old lock
    removed and the new one renamed in its place (again should a run take the lock in between)."""
    lock = f"{state_dir}/lock"
    return (
        f"mkdir -p {qpath(state_dir)} && t=$(mktemp -d {qpath(state_dir + '/.lock.XXXXXX')}) "
        f"&& printf '%s\\n' {shlex.quote(info_json)} > \"$t/info.json\" && {{ for attempt in 1 2 3 4 5; do "
        f'rm -rf {qpath(lock)}; mv -T "$t" {qpath(lock)} 2>/dev/null && break; done; '
        '[ ! -e "$t" ] || { rm -rf "$t"; echo \'could not replace the lock\' >&2; false; }; }'
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
