"""Validation of every value that can reach a shell, before any plan is made."""

from __future__ import annotations

import re

from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.domain.errors import BadInput

#: A revision id as alembic allows it (any text without `@`, `-` or `+`), limited to what is safe to show and quote:
#: hex (`a1b2c3d4e5f6`), sequential (`0003_orders_status`) and dated (`20240115_1200`) ids alike. Defined here, not
#: with the revision graph (ghosttasks.domain.revisions), so that loading the tasks loads no dataclass model.
REVISION_ID = r"[A-Za-z0-9][A-Za-z0-9_.]{0,63}"
VERSION_RE = re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?")
#: An alembic revision (ids as alembic allows them: no `@`, `-` or `+`), head, heads, base, or a relative step.
REVISION_RE = re.compile(rf"head|heads|base|(?:{REVISION_ID})?[+-][1-9]\d{{0,3}}|{REVISION_ID}")
HOST_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
GIT_REF_RE = re.compile(r"(?!-)(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}(?<![./])")
SERVICE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
BACKUP_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\.dump")
MAX_TEXT = 500


def version(value: object) -> str:
    """A release version: vMAJOR.MINOR.PATCH with an optional -prerelease."""
    text = _text("version", value)
    if not VERSION_RE.fullmatch(text):
        raise BadInput(f"--version {text!r} is not a version like v1.2.3 or v1.2.3-rc1")
    return text


def color(value: object, argument: str = "color") -> Color:
    """blue or green."""
    text = _text(argument, value)
    for known in COLORS:
        if text == known:
            return known
    raise BadInput(f"{argument} {text!r} is not blue or green")


def revision(value: object, argument: str = "--revision") -> str:
    """An alembic revision id, head/base, or a relative step like -1, +2 or REV-1."""
    text = _text(argument, value)
    if not REVISION_RE.fullmatch(text):
        raise BadInput(f"{argument} {text!r} is not an alembic revision (an id, head, base, -N, +N or REV-N)")
    return text


def revision_range(value: object, argument: str = "--revisions") -> str:
    """FROM:TO, each side an alembic revision id, head or base, or empty (the default for that side)."""
    text = _text(argument, value)
    start, colon, end = text.partition(":")
    if not colon or any(side and not REVISION_RE.fullmatch(side) for side in (start, end)):
        raise BadInput(f"{argument} {text!r} is not FROM:TO (alembic revision ids, head or base; either may be empty)")
    return text


def git_ref(value: object) -> str:
    """A branch or tag name that git accepts and that cannot be read as an option."""
    text = _text("--ref", value)
    if not GIT_REF_RE.fullmatch(text):
        raise BadInput(f"--ref {text!r} is not a branch or tag name")
    return text


def service(value: object) -> str:
    """A compose service name."""
    text = _text("service", value)
    if not SERVICE_RE.fullmatch(text):
        raise BadInput(f"service {text!r} is not a compose service name")
    return text


def backup_name(value: object) -> str:
    """The file name of a backup in the backup dir (no path)."""
    text = _text("--file", value)
    if not BACKUP_NAME_RE.fullmatch(text):
        raise BadInput(f"--file {text!r} is not a backup file name (see `inv db.backups`)")
    return text


def free_text(value: object, argument: str) -> str:
    """Free text (reasons, messages): any printable text, one line, bounded; quoted wherever used."""
    text = _text(argument, value)
    if not text.strip():
        raise BadInput(f"{argument} must not be empty")
    if len(text) > MAX_TEXT:
        raise BadInput(f"{argument} is longer than {MAX_TEXT} characters")
    if any(not char.isprintable() for char in text):
        raise BadInput(f"{argument} must be one line of printable text")
    return text


def positive_number(value: object, argument: str, *, allow_zero: bool = False) -> float:
    """A finite number above zero (or zero with allow_zero)."""
    if not isinstance(value, int | float | str):
        raise BadInput(f"{argument} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise BadInput(f"{argument} {value!r} is not a number") from None
    if number < 0 or (number == 0 and not allow_zero) or number != number or number == float("inf"):
        raise BadInput(f"{argument} {value!r} must be a positive number")
    return number


def _text(argument: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"{argument} is required")
    return value


_SINCE_RE = re.compile(
    r"^(?:\d+(?:\.\d+)?[smh]|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?)?)$"
)


def since(value: object, argument: str = "--since") -> str:
    """A docker `--since` value: a duration (`10m`, `2h`) or a date/time (`2026-12-07T10:00:00Z`)."""
    text = _text(argument, value)
    if not _SINCE_RE.match(text):
        raise BadInput(f"{argument}: {text!r} is not a duration (10m, 2h) or a time (2026-12-07T10:00:00Z)")
    return text
