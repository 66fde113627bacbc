"""The demo app's releases: each tag of the lab's origin, what it changes in lab/app and its alembic head.

| tag (annotated)        | parent | what                                                              | alembic head |
|------------------------|--------|-------------------------------------------------------------------|--------------|
| v1.0.0                 | -      | lab/app without tags and descriptions: 0001a1b2c3d4, 0002b2c3d4e5 | 0002b2c3d4e5 |
| v1.1.0                 | v1.0.0 | lab/app without descriptions: + 0003c3d4e5f6 (artifacts.tags)     | 0003c3d4e5f6 |
| v1.2.0-unhealthy       | v1.1.0 | `FAULT = "unhealthy"`: api health always 503 "starting"           | 0003c3d4e5f6 |
| v1.2.0-badmigration    | v1.1.0 | + 0004d4e5f6a7, whose upgrade fails (nothing is applied)          | 0004d4e5f6a7 |
| v1.2.0-errors          | v1.1.0 | `FAULT = "errors"`: 30% HTTP 500 from 15 s after start            | 0003c3d4e5f6 |
| v1.2.0-slow            | v1.1.0 | `FAULT = "slow"`: every api request takes 2.5 s                   | 0003c3d4e5f6 |
| v1.2.0-leak            | v1.1.0 | `FAULT = "leak"`: every api request keeps 64 KiB for good         | 0003c3d4e5f6 |
| v1.2.0-dropcolumn      | v1.1.0 | + 0006f6a7b8c9 drops artifacts.tags, which v1.1.0 reads (breaking) | 0006f6a7b8c9 |
| v1.2.0-lockingindex    | v1.1.0 | + 0007a7b8c9d0: CREATE INDEX on artifacts.name, not CONCURRENTLY   | 0007a7b8c9d0 |
| v1.2.0-nocolor         | v1.1.0 | health answers name no colour (the LB's colour header must do)     | 0003c3d4e5f6 |
| v1.3.0 (= branch main) | v1.1.0 | lab/app as it is: + 0005e5f6a7b8 (artifacts.description)          | 0005e5f6a7b8 |

Each good release is a migration ahead of the one before and expand-only (new columns only, with a default or
nullable), so older code runs on a newer schema: blue-green's rule. The fault tags are drills of a v1.2.0
that never shipped (so the next good release is v1.3.0, and 0004d4e5f6a7 stays the failed one's); they are
built on v1.1.0. The fault behaviours are documented in lab/app/ghostworks/faults.py; the two migration-safety
drills (dropcolumn: refused by the lint, lockingindex: warned, and blocked by a held lock) in lab/app/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.drill_migrations import (
    BAD_MIGRATION,
    BAD_MIGRATION_SOURCE,
    DROP_COLUMN_MIGRATION,
    DROP_COLUMN_SOURCE,
    LOCKING_INDEX_MIGRATION,
    LOCKING_INDEX_SOURCE,
)

FAULTS_FILE = "ghostworks/faults.py"
MODELS_FILE = "ghostworks/models.py"
HEALTH_FILE = "ghostworks/health.py"
TAGS_MIGRATION = "alembic/versions/0003c3d4e5f6_artifact_tags.py"
TAGS_COLUMN = (
    """    tags = Column(ARRAY(Text), nullable=False, server_default=text("'{}'::text[]"))  # v1.1.0 (0003c3d4e5f6)\n"""
)
DESCRIPTIONS_MIGRATION = "alembic/versions/0005e5f6a7b8_artifact_descriptions.py"
DESCRIPTION_COLUMN = "    description = Column(String(500), nullable=True)  # v1.3.0 (0005e5f6a7b8)\n"
MAIN = "v1.3.0"  # the newest good release: branch main, and lab/app as it is on disk


@dataclass(frozen=True)
class Edit:
    """Change one file of the tree: replace `old` by `new` (exactly once), or write `new` when `old` is None."""

    path: str
    old: str | None
    new: str | None = None

    def apply(self, root: Path) -> None:
        """Apply to the work tree at `root`; `new=None` deletes the file."""
        target = root / self.path
        if self.old is None:
            if self.new is None:
                target.unlink()
            else:
                target.write_text(self.new)
                target.chmod(0o644)
            return
        text = target.read_text()
        if text.count(self.old) != 1:
            raise RuntimeError(f"{self.path}: expected exactly one {self.old!r} to replace (lab/app changed?)")
        target.write_text(text.replace(self.old, self.new or ""))


def _fault(name: str) -> Edit:
    return Edit(FAULTS_FILE, "\nFAULT = None\n", f'\nFAULT = "{name}"\n')


#: The api's and web's health answers without their `color` field (an app that does not say its colour).
WITHOUT_COLOR = (
    Edit(HEALTH_FILE, '"version": version, "color": color, "checks": checks}', '"version": version, "checks": checks}'),
    Edit(HEALTH_FILE, '        "color": color,\n', ""),
    Edit(HEALTH_FILE, '{"status": "ok", "version": version, "color": color}', '{"status": "ok", "version": version}'),
)

# lab/app is v1.3.0; the older releases are lab/app with the newer releases' schema taken out (the api shows and
# accepts only the columns its models have, so the models and the migrations are all there is to remove).
WITHOUT_DESCRIPTIONS = (Edit(DESCRIPTIONS_MIGRATION, None), Edit(MODELS_FILE, DESCRIPTION_COLUMN, ""))
WITHOUT_TAGS = (
    Edit(TAGS_MIGRATION, None),
    Edit(MODELS_FILE, "from sqlalchemy.dialects.postgresql import ARRAY\n", ""),
    Edit(MODELS_FILE, "UniqueConstraint, func, text\n", "UniqueConstraint, func\n"),
    Edit(MODELS_FILE, TAGS_COLUMN, ""),
)


@dataclass(frozen=True)
class Release:
    """One annotated tag: edits applied on top of lab/app (or of `base`), the commit date and its alembic head."""

    tag: str
    date: str
    message: str
    alembic_head: str
    edits: tuple[Edit, ...] = ()
    base: str | None = None  # None: a release on branch main; else the tag a fault commit is built on
    fault: str | None = None


RELEASES = (
    Release(
        "v1.0.0",
        "2024-01-15T10:00:00+00:00",
        "Ghostworks v1.0.0: tenants, users and artifacts",
        "0002b2c3d4e5",
        (*WITHOUT_DESCRIPTIONS, *WITHOUT_TAGS),
    ),
    Release(
        "v1.1.0",
        "2024-02-01T10:00:00+00:00",
        "Ghostworks v1.1.0: artifact tags",
        "0003c3d4e5f6",
        WITHOUT_DESCRIPTIONS,
    ),
    Release(
        "v1.2.0-unhealthy",
        "2024-03-01T10:00:00+00:00",
        "Fault drill: the api health check answers 503 'starting' forever",
        "0003c3d4e5f6",
        (_fault("unhealthy"),),
        base="v1.1.0",
        fault="unhealthy",
    ),
    Release(
        "v1.2.0-badmigration",
        "2024-03-01T10:10:00+00:00",
        "Fault drill: migration 0004d4e5f6a7 fails with a SQL error",
        "0004d4e5f6a7",
        (Edit(BAD_MIGRATION, None, BAD_MIGRATION_SOURCE),),
        base="v1.1.0",
        fault="badmigration",
    ),
    Release(
        "v1.2.0-errors",
        "2024-03-01T10:20:00+00:00",
        "Fault drill: 30% of api requests fail with HTTP 500 from 15 s after start",
        "0003c3d4e5f6",
        (_fault("errors"),),
        base="v1.1.0",
        fault="errors",
    ),
    Release(
        "v1.2.0-slow",
        "2024-03-01T10:30:00+00:00",
        "Fault drill: every api request takes 2.5 s",
        "0003c3d4e5f6",
        (_fault("slow"),),
        base="v1.1.0",
        fault="slow",
    ),
    Release(
        "v1.2.0-leak",
        "2024-03-01T10:35:00+00:00",
        "Fault drill: every api request keeps 64 KiB the process never frees (memory only grows)",
        "0003c3d4e5f6",
        (_fault("leak"),),
        base="v1.1.0",
        fault="leak",
    ),
    Release(
        "v1.2.0-dropcolumn",
        "2024-03-01T10:40:00+00:00",
        "Fault drill: migration 0006f6a7b8c9 drops artifacts.tags, which v1.1.0 still reads",
        "0006f6a7b8c9",
        (Edit(DROP_COLUMN_MIGRATION, None, DROP_COLUMN_SOURCE), *WITHOUT_TAGS[1:]),
        base="v1.1.0",
        fault="dropcolumn",
    ),
    Release(
        "v1.2.0-lockingindex",
        "2024-03-01T10:50:00+00:00",
        "Fault drill: migration 0007a7b8c9d0 builds an index without CONCURRENTLY",
        "0007a7b8c9d0",
        (Edit(LOCKING_INDEX_MIGRATION, None, LOCKING_INDEX_SOURCE),),
        base="v1.1.0",
        fault="lockingindex",
    ),
    Release(
        "v1.2.0-nocolor",
        "2024-03-01T11:00:00+00:00",
        "Contract drill: the health answers name no colour (traffic checks read the LB's colour header)",
        "0003c3d4e5f6",
        WITHOUT_COLOR,
        base="v1.1.0",
        fault="nocolor",
    ),
    Release(MAIN, "2024-04-01T10:00:00+00:00", "Ghostworks v1.3.0: artifact descriptions", "0005e5f6a7b8"),
)
#: tag -> the alembic head revision that tag ships.
ALEMBIC_HEADS = {release.tag: release.alembic_head for release in RELEASES}
