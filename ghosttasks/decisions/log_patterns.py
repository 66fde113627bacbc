"""PURE: read the api's log lines (one JSON object a line, or plain text), count the errors, group them by pattern.

A pattern is a message with what varies between occurrences replaced: UUIDs, IP addresses (with a port),
long hex ids, quoted strings and numbers, so "user 42 not found" and "user 7 not found" count as one
pattern, `user <n> not found`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ERROR_LEVELS = ("ERROR", "CRITICAL")
_REPLACEMENTS = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"), "<str>"),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?"), "<n>"),
)
_PLAIN_LEVEL = re.compile(r"\b(ERROR|CRITICAL)\b")


def normalise(message: str) -> str:
    """The message with its variable parts replaced by placeholders, whitespace collapsed."""
    for pattern, placeholder in _REPLACEMENTS:
        message = pattern.sub(placeholder, message)
    return " ".join(message.split())


@dataclass(frozen=True)
class LogLine:
    level: str | None  # None: a line that is neither JSON nor marked ERROR/CRITICAL
    message: str
    fields: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS

    def pattern(self) -> str:
        """`LEVEL logger: message` normalised, plus the exception's last line when there is one."""
        logger = self.fields.get("logger")
        text = f"{self.level} {logger}: {self.message}" if logger else f"{self.level} {self.message}"
        exc = str(self.fields.get("exc") or "").strip().splitlines()
        return normalise(f"{text} ({exc[-1]})" if exc else text)


def parse_line(line: str) -> LogLine:
    """One log line: the app's JSON (level, msg and its fields), else plain text with its level if it names one."""
    text = line.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            level = str(data.get("level") or "").upper() or None
            return LogLine(level, str(data.get("msg", "")), data)
    found = _PLAIN_LEVEL.search(text)
    return LogLine(found[1] if found else None, text)


@dataclass
class LogSummary:
    """One host's log lines: how many, the errors among them by pattern, the request ids seen."""

    lines: int = 0
    errors: Counter = field(default_factory=Counter)
    request_ids: set[str] = field(default_factory=set)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def summarise(text: str) -> LogSummary:
    """Count the lines, the ERROR/CRITICAL ones by pattern, and collect every `request_id`."""
    summary = LogSummary()
    for raw in text.splitlines():
        if not raw.strip():
            continue
        summary.lines += 1
        line = parse_line(raw)
        if line.is_error:
            summary.errors[line.pattern()] += 1
        request_id = line.fields.get("request_id")
        if request_id:
            summary.request_ids.add(str(request_id))
    return summary


def top_patterns(counts: Counter, limit: int = 5) -> list[str]:
    """`12x pattern` for the most frequent patterns, most frequent first (ties in name order)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [f"{count}x {pattern}" for pattern, count in ranked]
