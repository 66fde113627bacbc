"""PURE: is a health answer healthy, what version does it name, what does it say of the database.

The app contract's health part (hosts.yml `health:`, ghosttasks.config.settings.HealthSettings): an answer
(HTTP status, headers, body text) is healthy when its status is one of `status_codes` and every JSON check
holds (`checks`: dotted path -> accepted values; none: the status alone decides and the body may be
anything). The version is read from a JSON field, a header, or not at all (`version_from: none`: the deploy
checks the containers' images instead), written as the tag (`{tag}` = v3.1.0) or its number (`{number}` =
3.1.0). Nothing that cannot be read passes as ok: a missing field is said as missing, an unset setting as
"not configured".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ghosttasks.config.settings import HealthSettings

NOT_CONFIGURED = "not configured"
#: The Ghostworks contract (hosts.yml without a `health:` section).
DEFAULT = HealthSettings()


@dataclass(frozen=True)
class Judged:
    """One answer judged: healthy or why not, the version it names (a release tag) and how that was read."""

    ok: bool
    reason: str = ""
    version: str | None = None
    version_said: str = "not read"
    status: str | None = None  # the first check as answered (`status ok`), for summaries

    def describe(self) -> str:
        """`status ok version v1.1.0` (what the answer said), for one line of output."""
        parts = [self.status] if self.status else []
        if self.version is not None:
            parts.append(f"version {self.version}")
        elif self.version_said != "not read":
            parts.append(f"version {self.version_said}")
        return " ".join(parts)


@dataclass(frozen=True)
class DatabaseSaid:
    """What a health answer says of the database: ok True/False, or None when it cannot be said (and why)."""

    ok: bool | None
    said: str


def parse_body(text: str) -> Any:
    """The body as JSON; None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def text_of(value: Any) -> str:
    """A JSON value as compared and shown: strings as they are, everything else as JSON (`true`, `1`, `null`)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def read_path(body: Any, path: str) -> list[tuple[str, Any]]:
    """The (concrete path, value) pairs a dotted path names in a JSON body; `*` stands for every entry of an
    object or list. Empty: the path names nothing there."""
    found: list[tuple[str, Any]] = [("", body)]
    for part in path.split("."):
        following: list[tuple[str, Any]] = []
        for where, value in found:
            prefix = f"{where}." if where else ""
            if part == "*" and isinstance(value, dict):
                following += [(f"{prefix}{key}", item) for key, item in value.items()]
            elif part == "*" and isinstance(value, list):
                following += [(f"{prefix}{index}", item) for index, item in enumerate(value)]
            elif isinstance(value, dict) and part in value:
                following.append((f"{prefix}{part}", value[part]))
        found = following
    return found


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A response header's value, the name compared case-insensitively; None when absent."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def written_as(tag: str, version_format: str) -> str:
    """How an app with this version_format writes a release tag (`v3.1.0`, `{number}` -> `3.1.0`)."""
    number = tag[1:] if tag.startswith("v") else tag
    return version_format.replace("{tag}", tag).replace("{number}", number)


def tag_from(written: str, version_format: str) -> str | None:
    """The release tag an app's version text stands for (`3.1.0` with `{number}` -> `v3.1.0`); None when the
    text is not in that form."""
    placeholder = "{tag}" if "{tag}" in version_format else "{number}"
    before, _, after = version_format.partition(placeholder)
    if not (written.startswith(before) and written.endswith(after)) or len(written) <= len(before) + len(after):
        return None
    middle = written[len(before) : len(written) - len(after)]
    if placeholder == "{number}":
        return None if middle.startswith("v") else f"v{middle}"
    return middle


def accepts(value: Any, accepted: list[Any]) -> bool:
    """The value is one of the accepted ones, compared as text (`true` matches YAML true and "true")."""
    return text_of(value) in {text_of(item) for item in accepted}


def _expected(path: str, accepted: list[Any]) -> str:
    return f"{path} " + " or ".join(repr(text_of(item)) for item in accepted)


def _first_status(settings: HealthSettings, body: Any) -> str | None:
    """The first check as the answer has it (`status ok`), when that is one plain value: what summaries show."""
    for path in settings.checks:
        found = read_path(body, path) if "*" not in path.split(".") else []
        if len(found) == 1 and not isinstance(found[0][1], dict | list):
            return f"{path} {text_of(found[0][1])}"
        return None
    return None


def version_source(settings: HealthSettings) -> str:
    """Where the version is read, in words (`JSON field version`, `header X-App-Version`, `not configured`)."""
    if settings.version_from == "json":
        return f"JSON field {settings.version_field}"
    if settings.version_from == "header":
        return f"header {settings.version_field}"
    return NOT_CONFIGURED


def _version(settings: HealthSettings, headers: Mapping[str, str], body: Any) -> tuple[str | None, str | None]:
    """(the version text as the app wrote it, None when absent; a problem with it)."""
    if settings.version_from == "header":
        return header(headers, settings.version_field), None
    found = read_path(body, settings.version_field)
    if not found:
        return None, None
    if len(found) > 1 or isinstance(found[0][1], dict | list):
        return None, f"{settings.version_field} names more than one value"
    return text_of(found[0][1]), None


def judge(
    settings: HealthSettings,
    status_code: int,
    headers: Mapping[str, str],
    text: str,
    *,
    expect_version: str | None = None,
) -> Judged:
    """Judge one answer against the health settings; with expect_version the answer must also name that release
    (not checked here with `version_from: none`: the caller checks the images)."""
    body = parse_body(text) if (settings.checks or settings.version_from == "json") else None
    status = _first_status(settings, body)
    if status_code not in settings.status_codes:
        return Judged(False, f"HTTP {status_code}" + (f" {status}" if status else ""), status=status)
    for path, accepted in settings.checks.items():
        if not isinstance(body, dict | list):
            return Judged(False, f"the answer is not JSON, expected {_expected(path, accepted)}", status=status)
        found = read_path(body, path)
        if not found:
            return Judged(False, f"{path} missing, expected {_expected(path, accepted)}", status=status)
        for where, value in found:
            if not accepts(value, accepted):
                shown = repr(value) if isinstance(value, str) else text_of(value)
                return Judged(False, f"{where} {shown}, expected {_expected(where, accepted)}", status=status)
    if settings.version_from == "none":
        return Judged(True, version_said=NOT_CONFIGURED, status=status)
    written, problem = _version(settings, headers, body)
    tag = tag_from(written, settings.version_format) if written is not None else None
    said = tag or (repr(written) if written is not None else "missing")
    if problem:
        return Judged(not expect_version, problem if expect_version else "", None, problem, status)
    if expect_version is None:
        return Judged(True, version=tag, version_said=said, status=status)
    wanted = written_as(expect_version, settings.version_format)
    if written is None:
        reason = f"no version in the answer ({version_source(settings)}), expected {wanted!r}"
        return Judged(False, reason, None, said, status)
    if tag != expect_version:
        return Judged(False, f"answers version {written!r}, expected {wanted!r}", tag, said, status)
    return Judged(True, version=tag, version_said=said, status=status)


def expectation(settings: HealthSettings, version: str | None) -> str:
    """What a healthy answer must be, for a plan line: `HTTP 200, status ok, version v1.1.0`."""
    parts = ["HTTP " + "/".join(str(code) for code in settings.status_codes)]
    parts += [
        f"{path} " + " or ".join(text_of(item) for item in accepted) for path, accepted in settings.checks.items()
    ]
    if version and settings.version_from == "none":
        parts.append(f"version {NOT_CONFIGURED} (then the containers' images are checked)")
    elif version and settings.version_from == "header":
        parts.append(f"version {written_as(version, settings.version_format)} (header {settings.version_field})")
    elif version:
        parts.append(f"{settings.version_field} {written_as(version, settings.version_format)}")
    return ", ".join(parts)


def database(settings: HealthSettings, body: Any) -> DatabaseSaid:
    """The database's state as the health answer says it (health.database_field / database_ok); `body` None: no
    answer came. When it cannot be said, `said` is why (`not configured`, `checks.database missing from the
    answer`); when it is not ok, what the answer says (`checks.database down`)."""
    field = settings.database_field
    if field is None:
        return DatabaseSaid(None, NOT_CONFIGURED)
    if body is None:
        return DatabaseSaid(None, "no health answer")
    found = read_path(body, field) if isinstance(body, dict | list) else []
    if not found:
        return DatabaseSaid(None, f"{field} missing from the answer")
    for where, value in found:
        if not accepts(value, settings.database_ok):
            return DatabaseSaid(False, f"{where} {text_of(value)}")
    return DatabaseSaid(True, "ok")
