"""Secrets never reach the terminal, logs, plans or history: every line goes through mask()."""

from __future__ import annotations

import re
import threading

MASK = "********"
SECRET_NAME = r"[A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)[A-Za-z0-9_]*"

_ASSIGNMENT = re.compile(rf"(?i)\b({SECRET_NAME})(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;}}]+)")
_JSON_FIELD = re.compile(rf"(?i)(\"{SECRET_NAME}\"\s*:\s*)(\"(?:[^\"\\]|\\.)*\")")
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)")
_BEARER = re.compile(r"(?i)(\bBearer\s+)([A-Za-z0-9._~+/=-]+)")


class Masker:
    """Replaces known secret values and anything that looks like a secret assignment."""

    def __init__(self) -> None:
        self._literals: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Mask this exact value wherever it appears (ignored when too short to be meaningful)."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._literals.add(secret)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for literal in sorted(self._literals, key=len, reverse=True):
            text = text.replace(literal, MASK)
        text = _JSON_FIELD.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
        text = _ASSIGNMENT.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
        return _BEARER.sub(lambda m: m.group(1) + MASK, text)


mask = Masker()
