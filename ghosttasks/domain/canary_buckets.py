"""PURE the canary's buckets: 20 of 5 % each (nginx split_clients over a per-client key), and which a share uses.

A share of P % is the first P / 5 buckets, so every client on the canary at 5 % is still on it at 25 %: a step
up only adds clients, it never moves one back. `forced` is the bucket of a tester's request (the force header
or cookie): it is on the canary colour whenever a canary runs.
"""

from __future__ import annotations

import itertools

BUCKET_PERCENT = 5
CANARY_BUCKETS = tuple(f"b{number:02d}" for number in range(100 // BUCKET_PERCENT))
FORCED = "forced"


def percent_problem(percent: int) -> str | None:
    """Why `percent` cannot be a canary share by hand (0 clears it; 100 is a switch), or None."""
    if percent == 100:
        return "100 % is the full switch: inv traffic.switch COLOR"
    if not 0 <= percent <= 95 or percent % BUCKET_PERCENT:
        return f"a canary share is a multiple of {BUCKET_PERCENT} from 0 to 95, not {percent}"
    return None


def steps_problem(steps: list[int]) -> str | None:
    """What is wrong with a deploy's canary percentages (one line), or None: rising multiples of 5 from 5 to 95."""
    for step in steps:
        if not BUCKET_PERCENT <= step <= 100 - BUCKET_PERCENT or step % BUCKET_PERCENT:
            return f"a canary step is a multiple of {BUCKET_PERCENT} from 5 to 95, not {step}"
    if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        return f"canary steps must rise: {','.join(map(str, steps))}"
    return None


def buckets_for(percent: int) -> list[str]:
    """The buckets a share of `percent` (a multiple of 5, 0..95) sends to the canary colour, in order."""
    if percent_problem(percent):
        raise ValueError(percent_problem(percent))
    return list(CANARY_BUCKETS[: percent // BUCKET_PERCENT])


def percent_of(buckets: list[str]) -> int:
    """The share the hashed buckets among `buckets` stand for (the forced bucket is no share)."""
    return BUCKET_PERCENT * len([bucket for bucket in set(buckets) if bucket in CANARY_BUCKETS])
