"""PURE: container memory over time — parse `docker stats`/`docker inspect` samples, judge "only grows".

A container is flagged when, over at least MIN_SAMPLES samples, its memory never went down by more than
the noise allowance (NOISE_BYTES, or NOISE_SHARE of the usage) between two samples, and it grew faster than
the threshold (MiB per minute) from the first sample to the last. A container that restarted in between is
not judged on growth (its memory starts again from nothing): its restarts are reported instead.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

MIB = 1024 * 1024
MIN_SAMPLES = 3
NOISE_BYTES = 512 * 1024
NOISE_SHARE = 0.01
DEFAULT_THRESHOLD_MIB_PER_MINUTE = 1.0
SPARK = "▁▂▃▄▅▆▇█"
_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9.]+)\s*([A-Za-z]+)\s*$")


def parse_size(text: str) -> int:
    """`12.5MiB`, `1.2GB`, `0B` -> bytes."""
    found = _SIZE.match(text)
    if not found or found[2].lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r}")
    return int(float(found[1]) * _UNITS[found[2].lower()])


@dataclass(frozen=True)
class Reading:
    """One container at one moment on one host."""

    name: str
    used: int
    restarts: int
    started: str


SEPARATOR = "--- inspect"


def parse_sample(text: str) -> dict[str, Reading]:
    """One host's sample: `docker stats` lines `NAME<TAB>USED / LIMIT`, then SEPARATOR, then `docker inspect`
    lines `/NAME<TAB>RESTART_COUNT<TAB>STARTED_AT`. A container in only one of the two is skipped (it came or
    went between the two commands)."""
    stats_part, _, inspect_part = text.partition(SEPARATOR)
    used: dict[str, int] = {}
    for line in stats_part.splitlines():
        parts = line.strip().split("\t")
        if len(parts) != 2 or "/" not in parts[1]:
            continue
        try:
            used[parts[0].lstrip("/")] = parse_size(parts[1].split("/")[0])
        except ValueError:
            continue
    readings: dict[str, Reading] = {}
    for line in inspect_part.splitlines():
        parts = line.strip().split("\t")
        if len(parts) != 3:
            continue
        name = parts[0].lstrip("/")
        if name in used:
            readings[name] = Reading(name, used[name], int(parts[1] or 0), parts[2])
    return readings


@dataclass(frozen=True)
class Verdict:
    """One container's judgement over the window."""

    host: str
    name: str
    first: int
    last: int
    peak: int
    per_minute: float  # bytes per minute, first to last
    restarts: int  # restarts seen during the window (RestartCount and StartedAt changes)
    only_grows: bool
    flagged: bool
    samples: int
    sparkline: str

    @property
    def reason(self) -> str:
        if self.restarts:
            return f"restarted {self.restarts}x during the window"
        if self.flagged:
            return f"only grows: +{self.per_minute / MIB:.1f} MiB/min over {self.samples} samples"
        if self.samples < MIN_SAMPLES:
            return f"not judged: {self.samples} samples (at least {MIN_SAMPLES})"
        grew = self.last - self.first > max(NOISE_BYTES, int(self.first * NOISE_SHARE))
        return "grows slowly (under the threshold)" if self.only_grows and grew else "steady"


def sparkline(values: list[int]) -> str:
    """One block character per value, scaled from the series' lowest to its highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[0] * len(values)
    return "".join(SPARK[round((value - low) / (high - low) * (len(SPARK) - 1))] for value in values)


def judge(
    host: str,
    name: str,
    series: list[tuple[float, Reading]],
    threshold_mib_per_minute: float = DEFAULT_THRESHOLD_MIB_PER_MINUTE,
) -> Verdict:
    """Judge one container's series of (seconds since the start, reading)."""
    values = [reading.used for _, reading in series]
    restarts = 0
    for (_, before), (_, after) in itertools.pairwise(series):
        if after.restarts > before.restarts:
            restarts += after.restarts - before.restarts
        elif after.started != before.started:
            restarts += 1
    only_grows = all(
        after >= before - max(NOISE_BYTES, int(before * NOISE_SHARE)) for before, after in itertools.pairwise(values)
    )
    minutes = (series[-1][0] - series[0][0]) / 60 if len(series) > 1 else 0
    per_minute = (values[-1] - values[0]) / minutes if minutes > 0 else 0.0
    flagged = len(series) >= MIN_SAMPLES and not restarts and only_grows and per_minute > threshold_mib_per_minute * MIB
    return Verdict(
        host=host,
        name=name,
        first=values[0] if values else 0,
        last=values[-1] if values else 0,
        peak=max(values) if values else 0,
        per_minute=per_minute,
        restarts=restarts,
        only_grows=only_grows,
        flagged=flagged,
        samples=len(series),
        sparkline=sparkline(values),
    )


def mib(value: float) -> str:
    """`12.3 MiB`."""
    return f"{value / MIB:.1f} MiB"
