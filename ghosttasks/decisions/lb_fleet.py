"""PURE: a switch over several LBs (every host with role `lb`), decided in two phases from what each LB said.

1. `ready`: before any LB is touched, every LB was checked (reachable, set up, access). One LB that is not ready
   refuses the whole switch: one line per LB, nothing flipped.
2. `after_flip`: every LB was flipped (in parallel) and then verified through its own address. All flipped (and,
   once verified, all verified): done. Otherwise every LB that flipped goes back (flip_back), and the switch fails
   with one line per LB.
3. `after_flip_back`: the LBs that could not be flipped back leave a split: the lines name each with the command
   that repairs it.

`emergency`: the emergency rollback flips every LB it can reach; the ones it could not are named and the exit is
non-zero. `agreement`: traffic.status reads every LB's flag; disagreement is an error with its repair command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COLORS = ("blue", "green")


@dataclass(frozen=True)
class Readiness:
    """What the phase-one check found on one LB."""

    name: str
    reachable: bool = True
    access: str | None = None  # the access problem (sudo), None: ok
    config_current: bool = True
    installed: bool = True
    detail: str | None = None  # why it was unreachable

    def problem(self) -> str | None:
        if not self.reachable:
            return f"{self.name}: unreachable over SSH" + (f" ({self.detail})" if self.detail else "")
        if not self.installed:
            return f"{self.name}: never set up by ghosttasks (run inv traffic.install)"
        if self.access:
            return f"{self.name}: {self.access}"
        return None  # a config that is not current is installed (nginx -t, reload) before any flag moves


def ready(checks: list[Readiness]) -> list[str]:
    """Phase one: the lines that refuse the switch (empty: every LB may be flipped)."""
    return [line for check in checks if (line := check.problem())]


@dataclass(frozen=True)
class Flip:
    """One LB after phase two: whether its flag moved, and (once checked) whether its own address then answered
    the target (None: not verified yet, or not at all because it did not flip)."""

    name: str
    flipped: bool
    verified: bool | None = None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What to do after a phase: flip these back, and the lines to fail with (none: success)."""

    flip_back: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    split: dict[str, str] = field(default_factory=dict)  # LB -> colour it was left on, when the LBs disagree

    @property
    def ok(self) -> bool:
        return not self.failures


def after_flip(target: str, flips: list[Flip]) -> Outcome:
    """Phase two's verdict: every LB flipped (and none failed its verification), done; else every flipped LB goes
    back, one line per LB."""
    if all(flip.flipped and flip.verified is not False for flip in flips):
        return Outcome()
    lines = []
    for flip in flips:
        if not flip.flipped:
            lines.append(f"{flip.name}: flag not moved to {target}: {flip.error or 'unknown error'}")
        elif flip.verified is False:
            lines.append(
                f"{flip.name}: flipped to {target} but its own address does not answer {target} only: "
                f"{flip.error or 'unverified'}"
            )
        else:
            lines.append(f"{flip.name}: flipped to {target}; switched back with the others")
    return Outcome(flip_back=tuple(flip.name for flip in flips if flip.flipped), failures=tuple(lines))


def after_flip_back(back_to: dict[str, str], target: str, outcome: Outcome, back: dict[str, bool]) -> Outcome:
    """After flipping back (each LB to `back_to[name]`): an LB whose flip back failed stays on `target` and the
    LBs are split; its line names the command that repairs it."""
    stuck = sorted(name for name in outcome.flip_back if not back.get(name, False))
    if not stuck:
        return outcome
    lines = (
        *outcome.failures,
        *(
            f"{name}: could not be switched back to {back_to[name]}: it still serves {target}; "
            f"repair: inv traffic.switch {back_to[name]}"
            for name in stuck
        ),
    )
    return Outcome(flip_back=outcome.flip_back, failures=lines, split={name: target for name in stuck})


def emergency(target: str, reached: dict[str, str | None]) -> tuple[int, list[str]]:
    """The emergency rollback's exit code and lines from each LB's flip (None: flipped, else why not): every LB
    it flipped is named ok; any other is named with why, what to do, and the exit is non-zero."""
    lines = []
    for name, error in sorted(reached.items()):
        lines.append(f"{name}: {'now sends traffic to ' + target if error is None else 'NOT flipped: ' + error}")
    missed = sorted(name for name, error in reached.items() if error is not None)
    if missed:
        lines.append(f"flip {', '.join(missed)} by hand, or once reachable: inv traffic.switch {target}")
    return (1 if missed else 0), lines


def agreement(flags: dict[str, str | None]) -> tuple[str | None, str | None]:
    """(the colour every LB serves, None) or (None, the error line with the command that repairs the split)."""
    unread = sorted(name for name, color in flags.items() if color not in COLORS)
    colors = {color for color in flags.values() if color in COLORS}
    if not unread and len(colors) == 1:
        return colors.pop(), None
    detail = ", ".join(f"{name} {flags[name] or 'unreadable'}" for name in sorted(flags))
    if unread:
        return None, f"cannot read every LB's flag ({detail}); check them, then: inv traffic.status"
    return None, f"the LBs disagree ({detail}): traffic is split; repair with inv traffic.switch <colour>"
