"""What squawk's findings on a pending migration mean for a blue-green deploy (pure).

In blue-green the old colour keeps serving on the new schema until the switch, and again after any rollback.
So each squawk rule is one of:
- *breaking*: the running colour's queries fail on the new schema (a dropped or renamed column or table, a
  changed type, a NOT NULL it does not fill). Refused unless --allow-breaking-migration; the way to do it is
  expand/contract over two releases.
- *locking*: correct, but it holds a lock that stalls the live colour's writes or reads while it runs (an index
  built without CONCURRENTLY, a constraint validated in place). Printed; needs a confirmation.
- *advice*: everything else squawk says (types, robustness). Printed.
A rule squawk adds later and this table does not know yet is advice. Findings on alembic's own
`alembic_version` table are noise and dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["breaking", "locking", "advice"]
KINDS: tuple[Kind, ...] = ("breaking", "locking", "advice")

#: squawk rule -> (kind, the way to do it without hurting the running colour)
RULES: dict[str, tuple[Kind, str]] = {
    "ban-drop-column": (
        "breaking",
        "stop reading the column in one release, drop it in a later one (expand/contract)",
    ),
    "renaming-column": (
        "breaking",
        "add the new column, write both and backfill, move the reads, drop the old one in a later release",
    ),
    "ban-drop-table": ("breaking", "stop using the table in one release, drop it in a later one"),
    "renaming-table": (
        "breaking",
        "create the new table (or a view with the new name), move the readers, drop the old name in a later release",
    ),
    "changing-column-type": (
        "breaking",
        "add a column of the new type, write both and backfill, move the reads, drop the old one in a later release",
    ),
    "adding-required-field": (
        "breaking",
        "add the column nullable or with a default; make it NOT NULL in a later release once every writer fills it",
    ),
    "adding-not-nullable-field": (
        "breaking",
        "once every running version fills the column: ADD CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then "
        "SET NOT NULL, in a later release",
    ),
    "ban-drop-not-null": (
        "breaking",
        "ship code that copes with NULL first, drop the NOT NULL in a later release",
    ),
    "ban-drop-database": ("breaking", "never from a deploy: drop a database by hand, after its last reader is gone"),
    "ban-truncate-cascade": ("breaking", "delete the rows you mean from each table explicitly"),
    "syntax-error": ("breaking", "squawk cannot parse this statement: review it by hand"),
    "require-concurrent-index-creation": (
        "locking",
        "CREATE INDEX CONCURRENTLY, in a migration of its own outside a transaction (alembic: autocommit_block())",
    ),
    "require-concurrent-index-deletion": (
        "locking",
        "DROP INDEX CONCURRENTLY, in a migration of its own outside a transaction (alembic: autocommit_block())",
    ),
    "ban-concurrent-index-creation-in-transaction": (
        "locking",
        "CONCURRENTLY cannot run in a transaction: put it in alembic's autocommit_block()",
    ),
    "constraint-missing-not-valid": (
        "locking",
        "add the constraint NOT VALID, then VALIDATE CONSTRAINT in a separate migration",
    ),
    "adding-foreign-key-constraint": (
        "locking",
        "add the foreign key NOT VALID, then VALIDATE CONSTRAINT in a separate migration",
    ),
    "disallowed-unique-constraint": (
        "locking",
        "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX",
    ),
    "adding-serial-primary-key-field": (
        "locking",
        "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD PRIMARY KEY USING INDEX",
    ),
    "adding-field-with-default": (
        "locking",
        "add the column without a volatile default, backfill in batches, then set the default",
    ),
    "ban-alter-domain-with-add-constraint": ("locking", "add the constraint on the columns, NOT VALID, then VALIDATE"),
    "ban-create-domain-with-constraint": ("locking", "put the constraint on the columns, NOT VALID, then VALIDATE"),
}

NOISE_TABLE = "alembic_version"
#: A section of alembic's offline SQL; a merge point's upgrade starts at (and its downgrade ends at) `a, b`.
SECTION_RE = re.compile(
    r"^-- Running (?P<direction>upgrade|downgrade) (?P<start>\S+(?:, \S+)*) -> (?P<end>\S+(?:, \S+)*)\s*$"
)


@dataclass(frozen=True)
class Finding:
    """One squawk finding, placed in the revision whose migration holds the statement."""

    revision: str | None  # None: outside any revision's section
    rule: str
    kind: Kind
    statement: str
    message: str
    way: str

    def line(self) -> str:
        """One line: revision, kind, statement, squawk's words, and the safe way."""
        where = self.revision or "migration"
        return f"{where}: {self.kind} ({self.rule}): {self.statement} — {self.message} Instead: {self.way}"


@dataclass(frozen=True)
class Verdict:
    """squawk's findings on a migration's SQL, classified for blue-green."""

    findings: tuple[Finding, ...]

    def of(self, kind: Kind) -> tuple[Finding, ...]:
        """The findings of one kind."""
        return tuple(finding for finding in self.findings if finding.kind == kind)

    def summary(self) -> str:
        """One line: clean, or how many findings of each kind."""
        if not self.findings:
            return "squawk: no findings"
        counts = ", ".join(f"{len(self.of(kind))} {kind}" for kind in KINDS if self.of(kind))
        return f"squawk: {counts}"


def classify(rule: str) -> tuple[Kind, str]:
    """The kind of a squawk rule for blue-green, and the safe way (unknown rules are advice)."""
    return RULES.get(rule, ("advice", "see squawk's documentation of the rule"))


def judge(sql: str, raw: list[dict]) -> Verdict:
    """Classify squawk's JSON findings on `sql`, naming each finding's revision and whole statement."""
    lines = sql.splitlines()
    statements = _statements(sql)
    starts = _line_starts(sql)
    findings = []
    for item in raw:
        line = int(item.get("line", 0))
        offset = starts[min(line, len(starts) - 1)] + int(item.get("column", 0))
        statement = next((text for begin, end, text in statements if begin <= offset < end), "")
        if NOISE_TABLE in statement:
            continue
        rule = str(item.get("rule_name", "unknown"))
        kind, way = classify(rule)
        message = str(item.get("message", "")).strip()
        findings.append(Finding(_revision_at(lines, line), rule, kind, statement, message, way))
    return Verdict(tuple(findings))


def revisions(sql: str) -> list[tuple[str, str]]:
    """The (direction, revision) sections of alembic's offline SQL, in order."""
    found = []
    for line in sql.splitlines():
        match = SECTION_RE.match(line)
        if match:
            found.append((match.group("direction"), _running(match)))
    return found


def _running(match: re.Match) -> str:
    """The revision whose migration a section runs: the upgrade's target, the downgrade's start."""
    return match.group("end") if match.group("direction") == "upgrade" else match.group("start")


def _revision_at(lines: list[str], line: int) -> str | None:
    for text in reversed(lines[: line + 1]):
        match = SECTION_RE.match(text)
        if match:
            return _running(match)
    return None


def _line_starts(sql: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(sql):
        if char == "\n":
            starts.append(index + 1)
    return starts


def _statements(sql: str) -> list[tuple[int, int, str]]:
    """(start offset, end offset, text on one line) of each `;`-terminated statement, quotes respected."""
    found = []
    begin, quoted = 0, False
    for index, char in enumerate(sql):
        if char == "'":
            quoted = not quoted
        elif char == ";" and not quoted:
            found.append((begin, index + 1, _one_line(sql[begin : index + 1])))
            begin = index + 1
    if sql[begin:].strip():
        found.append((begin, len(sql), _one_line(sql[begin:])))
    return found


def _one_line(text: str) -> str:
    kept = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return " ".join(" ".join(kept).split())


Gate = Literal["refuse", "confirm", "go"]


def gate(verdict: Verdict, *, allow_breaking: bool, serving: bool = True) -> Gate:
    """Breaking findings refuse (unless allowed), locking ones need a confirmation, the rest go ahead.

    serving False (nothing serves yet: a first deploy): there is no running colour to break or to stall."""
    if not serving:
        return "go"
    if verdict.of("breaking") and not allow_breaking:
        return "refuse"
    if verdict.of("locking"):
        return "confirm"
    return "go"
