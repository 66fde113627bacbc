"""The runbook's system requirements judged from the facts a host reports (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from ghosttasks.config.settings import Prerequisites

KIB_PER_GB = 1024 * 1024
LEADING_VERSION_RE = re.compile(r"v?(\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class Check:
    """One requirement on one host: what was measured, what is wanted, and whether it passes."""

    host: str
    name: str
    measured: str
    wanted: str
    ok: bool

    def line(self) -> str:
        """The check as one line: host, what, measured, wanted."""
        return f"{self.host}: {self.name} {self.measured} ({self.wanted})"


def parse_version(text: str) -> Version | None:
    """The leading release number of a version string (`28.2.2`, `v2.40.3`, `20.10.24+dfsg1`), or None."""
    match = LEADING_VERSION_RE.match(text.strip())
    if not match:
        return None
    try:
        return Version(match.group(1))
    except InvalidVersion:
        return None


def at_least(measured: str, minimum: str) -> bool:
    """`measured` is a version not older than `minimum` (an unreadable one never is)."""
    found, wanted = parse_version(measured), parse_version(minimum)
    return found is not None and wanted is not None and found >= wanted


def judge(host: str, facts: str, need: Prerequisites) -> list[Check] | None:
    """Docker, Compose, RAM and free disk from the facts command's output; None when it is unreadable.

    The facts are four words: docker version, compose version, MemTotal KiB, free disk KiB.
    """
    words = facts.split()
    if len(words) < 4 or not words[2].isdigit() or not words[3].isdigit():
        return None
    docker_version, compose_version, mem_kib, disk_kib = words[:4]
    ram, disk = int(mem_kib) / KIB_PER_GB, int(disk_kib) / KIB_PER_GB
    return [
        Check(host, "Docker", docker_version, f">= {need.docker_min}", at_least(docker_version, need.docker_min)),
        Check(host, "Compose", compose_version, f">= {need.compose_min}", at_least(compose_version, need.compose_min)),
        Check(host, "RAM", f"{ram:.1f} GB", f">= {need.ram_min_gb} GB", ram >= need.ram_min_gb),
        Check(host, "free disk", f"{disk:.1f} GB", f">= {need.disk_min_gb} GB", disk >= need.disk_min_gb),
    ]
