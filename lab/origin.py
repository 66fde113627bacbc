"""Build the lab's origin: a bare git repository of the demo app (lab/app) with its release and fault tags.

`build_origin(dest)` (or `python3 -m lab.origin DEST`) writes, reproducibly (fixed identity and dates,
so the same lab/app always gives the same commit ids):

| tag (annotated)        | parent | what                                                              | alembic head |
|------------------------|--------|-------------------------------------------------------------------|--------------|
| v1.0.0                 | -      | lab/app without tags and descriptions: 0001a1b2c3d4, 0002b2c3d4e5 | 0002b2c3d4e5 |
| v1.1.0                 | v1.0.0 | lab/app without descriptions: + 0003c3d4e5f6 (artifacts.tags)     | 0003c3d4e5f6 |
| v1.2.0-unhealthy       | v1.1.0 | `FAULT = "unhealthy"`: api health always 503 "starting"           | 0003c3d4e5f6 |
| v1.2.0-badmigration    | v1.1.0 | + 0004d4e5f6a7, whose upgrade fails (nothing is applied)          | 0004d4e5f6a7 |
| v1.2.0-errors          | v1.1.0 | `FAULT = "errors"`: 30% HTTP 500 from 15 s after start            | 0003c3d4e5f6 |
| v1.2.0-slow            | v1.1.0 | `FAULT = "slow"`: every api request takes 2.5 s                   | 0003c3d4e5f6 |
| v1.2.0-dropcolumn      | v1.1.0 | + 0006f6a7b8c9 drops artifacts.tags, which v1.1.0 reads (breaking) | 0006f6a7b8c9 |
| v1.2.0-lockingindex    | v1.1.0 | + 0007a7b8c9d0: CREATE INDEX on artifacts.name, not CONCURRENTLY   | 0007a7b8c9d0 |
| v1.3.0 (= branch main) | v1.1.0 | lab/app as it is: + 0005e5f6a7b8 (artifacts.description)          | 0005e5f6a7b8 |

Each good release is a migration ahead of the one before and expand-only (new columns only, with a default or
nullable), so older code runs on a newer schema: blue-green's rule. The fault tags are drills of a v1.2.0
that never shipped (so the next good release is v1.3.0, and 0004d4e5f6a7 stays the failed one's); they are
built on v1.1.0. The fault behaviours are documented in lab/app/ghostworks/faults.py; the two migration-safety
drills (dropcolumn: refused by the lint, lockingindex: warned, and blocked by a held lock) in lab/app/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent / "app"
EXECUTABLES = {"docker/bin/alembic", "docker/bin/python", "docker/postgres-entrypoint.sh", "scripts/seed_demo_data.py"}
SKIP_NAMES = {".env", ".git", "__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "Ghostworks Release Bot",
    "GIT_AUTHOR_EMAIL": "releases@ghostworks.dev",
    "GIT_COMMITTER_NAME": "Ghostworks Release Bot",
    "GIT_COMMITTER_EMAIL": "releases@ghostworks.dev",
}
FAULTS_FILE = "ghostworks/faults.py"
MODELS_FILE = "ghostworks/models.py"
TAGS_MIGRATION = "alembic/versions/0003c3d4e5f6_artifact_tags.py"
BAD_MIGRATION = "alembic/versions/0004d4e5f6a7_artifact_checksums.py"
TAGS_COLUMN = (
    """    tags = Column(ARRAY(Text), nullable=False, server_default=text("'{}'::text[]"))  # v1.1.0 (0003c3d4e5f6)\n"""
)
DESCRIPTIONS_MIGRATION = "alembic/versions/0005e5f6a7b8_artifact_descriptions.py"
DESCRIPTION_COLUMN = "    description = Column(String(500), nullable=True)  # v1.3.0 (0005e5f6a7b8)\n"
MAIN = "v1.3.0"  # the newest good release: branch main, and lab/app as it is on disk

BAD_MIGRATION_SOURCE = '''"""Artifact checksums.

Revision ID: 0004d4e5f6a7
Revises: 0003c3d4e5f6
Create Date: 2024-03-01 10:10:00

FAULT DRILL (tag v1.2.0-badmigration): the backfill names a column that does not exist (`body`; the
column is `content`), so PostgreSQL rejects the UPDATE with UndefinedColumn. Alembic runs the pending
revisions in one transaction: the new column is rolled back as well and alembic_version is unchanged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004d4e5f6a7"
down_revision = "0003c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifacts", sa.Column("checksum", sa.String(length=64), nullable=True))
    op.execute("UPDATE artifacts SET checksum = md5(body)")


def downgrade() -> None:
    op.drop_column("artifacts", "checksum")
'''


DROP_COLUMN_MIGRATION = "alembic/versions/0006f6a7b8c9_drop_artifact_tags.py"
DROP_COLUMN_SOURCE = '''"""Drop artifact tags.

Revision ID: 0006f6a7b8c9
Revises: 0003c3d4e5f6
Create Date: 2024-03-01 10:40:00

FAULT DRILL (tag v1.2.0-dropcolumn): a contract step shipped in the same release as the code that stops
reading the column. v1.1.0, still serving on the other colour until the switch (and again after a rollback),
selects artifacts.tags: its artifact endpoints answer 500 (UndefinedColumn) as soon as this runs. The
migration lint refuses it; the safe way is to ship the code first and drop the column a release later.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006f6a7b8c9"
down_revision = "0003c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("artifacts", "tags")


def downgrade() -> None:
    op.add_column(
        "artifacts",
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'::text[]")),
    )
'''
LOCKING_INDEX_MIGRATION = "alembic/versions/0007a7b8c9d0_artifact_name_index.py"
LOCKING_INDEX_SOURCE = '''"""Index artifact names.

Revision ID: 0007a7b8c9d0
Revises: 0003c3d4e5f6
Create Date: 2024-03-01 10:50:00

FAULT DRILL (tag v1.2.0-lockingindex): a plain CREATE INDEX (not CONCURRENTLY) takes a SHARE lock on
artifacts: while it waits for that lock or builds the index, every write to artifacts waits behind it. The
migration lint warns (locking); a transaction holding a conflicting lock makes it wait until lock_timeout.
"""

from alembic import op

revision = "0007a7b8c9d0"
down_revision = "0003c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_name", "artifacts", ["name"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_name", table_name="artifacts")
'''


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
    Release(MAIN, "2024-04-01T10:00:00+00:00", "Ghostworks v1.3.0: artifact descriptions", "0005e5f6a7b8"),
)
#: tag -> the alembic head revision that tag ships.
ALEMBIC_HEADS = {release.tag: release.alembic_head for release in RELEASES}


def _git(repo: Path, *args: str, work: Path | None = None, date: str | None = None) -> str:
    """Run git on the repository `repo` (GIT_DIR), with work tree `work` if given, fixed identity and `date`."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo.parent),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_DIR": str(repo),
        **IDENTITY,
    }
    if work:
        env["GIT_WORK_TREE"] = str(work)
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    options = ["-c", "core.autocrlf=false", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"]
    cwd = work or repo.parent
    result = subprocess.run(["git", *options, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def _copy_app(work: Path) -> None:
    """Make the work tree an exact copy of lab/app (no caches, no .env) with normalised file modes."""
    for entry in work.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for source in sorted(APP_DIR.rglob("*")):
        relative = source.relative_to(APP_DIR)
        if any(part in SKIP_NAMES for part in relative.parts) or source.suffix == ".pyc" or not source.is_file():
            continue
        target = work / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755 if relative.as_posix() in EXECUTABLES else 0o644)


def _commit_and_tag(repo: Path, work: Path, release: Release) -> None:
    for edit in release.edits:
        edit.apply(work)
    _git(repo, "add", "--all", work=work)
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", release.message, work=work, date=release.date)
    message = f"{release.tag}: {release.message}"
    _git(repo, "tag", "--annotate", release.tag, "-m", message, work=work, date=release.date)


def _safe_to_replace(dest: Path) -> bool:
    """Only ever delete an empty directory or a bare git repository."""
    if not dest.exists():
        return True
    if not dest.is_dir():
        return False
    return not any(dest.iterdir()) or ((dest / "HEAD").is_file() and (dest / "objects").is_dir())


def build_origin(dest: Path) -> None:
    """(Re)build the bare repository at `dest` from lab/app with every tag of RELEASES and branch main at MAIN."""
    dest = Path(dest).resolve()
    if not _safe_to_replace(dest):
        raise RuntimeError(f"{dest} exists and is not a bare git repository; refusing to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    repo = dest.with_name(f".{dest.name}.new")  # built beside dest, then renamed into place
    shutil.rmtree(repo, ignore_errors=True)
    _git(repo, "init", "--quiet", "--bare", "--initial-branch=main")
    with tempfile.TemporaryDirectory(prefix="ghostworks-origin-") as tmp:
        work = Path(tmp)
        detached = False  # good releases are commits on main; fault commits are detached on top of their base tag
        for release in RELEASES:
            if release.base is None:
                if detached:
                    _git(repo, "checkout", "--quiet", "--force", "main", work=work)
                    detached = False
                _copy_app(work)
            else:
                _git(repo, "checkout", "--quiet", "--force", "--detach", release.base, work=work)
                detached = True
            _commit_and_tag(repo, work, release)
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    (repo / "index").unlink(missing_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    repo.rename(dest)


def main(argv: list[str] | None = None) -> None:
    """CLI: `python3 -m lab.origin DEST`."""
    parser = argparse.ArgumentParser(prog="python3 -m lab.origin", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="where to write the bare repository (replaced if it is one)")
    args = parser.parse_args(argv)
    build_origin(args.dest)
    for release in RELEASES:
        commit = _git(args.dest.resolve(), "rev-parse", f"{release.tag}^{{commit}}")
        print(f"{release.tag:22} {commit[:12]}  alembic head {release.alembic_head}  {release.message}")
    print(f"main -> {MAIN}; bare repository at {args.dest.resolve()}")


if __name__ == "__main__":
    main()
