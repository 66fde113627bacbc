"""PURE: read an app's log lines as `logs:` describes them (JSON with configurable keys, or text read by a regex),
count the errors, group them by pattern, collect the request ids.

A pattern is a message with what varies between occurrences replaced: UUIDs, IP addresses (with a port),
long hex ids, quoted strings and numbers, so "user 42 not found" and "user 7 not found" count as one
pattern, `user <n> not found`.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ghosttasks.config.settings import LogSettings

#: Ghostworks' log lines: JSON with `level`, `msg` and `request_id` (logs: as hosts.yml leaves it).
DEFAULTS = LogSettings()
_REPLACEMENTS = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"), "<str>"),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?"), "<n>"),
)


def normalise(message: str) -> str:
    """The message with its variable parts replaced by placeholders, whitespace collapsed."""
    for pattern, placeholder in _REPLACEMENTS:
        message = pattern.sub(placeholder, message)
    return " ".join(message.split())


@dataclass(frozen=True)
class LogLine:
    level: str | None  # upper case; None: a line whose level cannot be read
    message: str
    fields: dict[str, Any] = field(default_factory=dict, compare=False)
    request_id: str | None = None
    is_error: bool = False

    def pattern(self) -> str:
        """`LEVEL logger: message` normalised, plus the exception's last line when there is one."""
        logger = self.fields.get("logger")
        text = f"{self.level} {logger}: {self.message}" if logger else f"{self.level} {self.message}"
        exc = str(self.fields.get("exc") or "").strip().splitlines()
        return normalise(f"{text} ({exc[-1]})" if exc else text)


def parse_line(line: str, settings: LogSettings = DEFAULTS) -> LogLine:
    """One log line as `settings` (logs:) describe it: JSON with its keys, or text matched by its pattern.

    A JSON app's line that is not a JSON object counts by the first error level it names as a word.
    """
    text = line.strip()
    errors = [level.upper() for level in settings.error_levels]
    if settings.format == "text":
        match = _compiled(settings.pattern or "").search(text)
        if match is None:
            return LogLine(None, text)
        groups = match.groupdict()
        level = (groups.get("level") or "").upper() or None
        request_id = groups.get("request_id") or None
        return LogLine(level, groups.get("message") or "", {}, request_id, level in errors)
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            level = str(data.get(settings.level_key) or "").upper() or None
            request_id = data.get(settings.request_id_key)
            message = str(data.get(settings.message_key, ""))
            return LogLine(level, message, data, str(request_id) if request_id else None, level in errors)
    found = _plain_level(tuple(errors)).search(text)
    return LogLine(found[1] if found else None, text, is_error=found is not None)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.cache
def _plain_level(levels: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(level) for level in levels) + r")\b")


@dataclass
class LogSummary:
    """One host's log lines: how many, the errors among them by pattern, the request ids seen."""

    lines: int = 0
    errors: Counter = field(default_factory=Counter)
    request_ids: set[str] = field(default_factory=set)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def summarise(text: str, settings: LogSettings = DEFAULTS) -> LogSummary:
    """Count the lines, the error-level ones by pattern, and collect every request id."""
    summary = LogSummary()
    for raw in text.splitlines():
        if not raw.strip():
            continue
        summary.lines += 1
        line = parse_line(raw, settings)
        if line.is_error:
            summary.errors[line.pattern()] += 1
        if line.request_id:
            summary.request_ids.add(line.request_id)
    return summary


def top_patterns(counts: Counter, limit: int = 5) -> list[str]:
    """`12x pattern` for the most frequent patterns, most frequent first (ties in name order)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [f"{count}x {pattern}" for pattern, count in ranked]
