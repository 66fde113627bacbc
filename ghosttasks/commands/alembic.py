"""alembic command lines (argv), run inside the api container through compose exec."""

from __future__ import annotations

import json
import re
import shlex

from ghosttasks.commands import assumptions
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revisions import GRAPH_MARKER, History, parse_revision_graph, release_key

GENERATED_RE = re.compile(r"Generating (\S+\.py)")


def _alembic(program: str, *args: str) -> list[str]:
    return [*shlex.split(program), *args]


def upgrade(program: str, revision: str = "head") -> list[str]:
    """alembic upgrade to a revision (default head)."""
    return _alembic(program, "upgrade", revision)


def downgrade(program: str, revision: str) -> list[str]:
    """alembic downgrade to a revision."""
    return _alembic(program, "downgrade", revision)


def upgrade_sql(program: str, current: str | None, target: str) -> list[str]:
    """The SQL `alembic upgrade` would run from `current` (None: base) to `target`, printed offline (no database)."""
    return _alembic(program, "upgrade", f"{current}:{target}" if current else target, "--sql")


def downgrade_sql(program: str, current: str, target: str | None) -> list[str]:
    """The SQL `alembic downgrade` would run from `current` to `target` (None: base), printed offline."""
    return _alembic(program, "downgrade", f"{current}:{target or 'base'}", "--sql")


def session_env(lock_timeout: float, statement_timeout: float) -> dict[str, str]:
    """PGOPTIONS for a migration's database session (libpq reads it): bounded lock waits and statements, in ms."""
    lock, statement = round(lock_timeout * 1000), round(statement_timeout * 1000)
    return {"PGOPTIONS": f"-c lock_timeout={lock} -c statement_timeout={statement}"}


def history(program: str) -> list[str]:
    """The revision history the code ships (reads no database)."""
    return _alembic(program, "history")


def stamp(program: str, revision: str) -> list[str]:
    """Mark the database at `revision`; --purge first empties alembic_version, so it works from any revision."""
    return _alembic(program, "stamp", "--purge", revision)


def revision(program: str, message: str, *, autogenerate: bool) -> list[str]:
    """alembic revision -m MSG, compared with the database with autogenerate."""
    flags = ["--autogenerate"] if autogenerate else []
    return _alembic(program, "revision", *flags, "-m", message)


def revision_destination(app_dir: str, versions_dir: str) -> str:
    """Where db.revision copies a generated migration on the host: the app's versions directory
    (`app.alembic_versions_dir`, relative to the app dir), with a trailing slash."""
    return f"{app_dir.rstrip('/')}/{versions_dir.strip('/')}/"


#: The revision reader: alembic's own model of the script directory (alembic.script.ScriptDirectory, the one
#: `alembic history` walks), printed as one JSON line after GRAPH_MARKER. Run with the image's python inside the
#: version's container: `python3 -c READER CONFIG SECTION` (CONFIG "" is alembic's default: $ALEMBIC_CONFIG, else
#: alembic.ini in the working directory). It reads no database.
READER = (
    "import json,os,sys;from alembic.config import Config;from alembic.script import ScriptDirectory;"
    's=ScriptDirectory.from_config(Config(sys.argv[1] or os.environ.get("ALEMBIC_CONFIG","alembic.ini"),'
    "ini_section=sys.argv[2]));"
    "d=lambda x:[] if x is None else [x] if isinstance(x,str) else list(x);"
    f'print("{GRAPH_MARKER}",json.dumps({{"heads":list(s.get_heads()),"revisions":[{{"revision":r.revision,'
    '"down_revisions":d(r.down_revision),"is_head":r.is_head,"message":r.doc} for r in s.walk_revisions()]}))'
)


def config_of(program: str) -> tuple[str, str]:
    """The config file and ini section `program` (the `app.alembic` command line) names with -c/--config and
    -n/--name; ("", "alembic") when it names none (alembic's defaults)."""
    words = shlex.split(program)
    found = {"config": "", "name": "alembic"}
    for index, word in enumerate(words):
        for key, short in (("config", "-c"), ("name", "-n")):
            if word in (short, f"--{key}") and index + 1 < len(words):
                found[key] = words[index + 1]
            elif word.startswith(f"--{key}="):
                found[key] = word.split("=", 1)[1]
    return found["config"], found["name"]


def python_of(program: str, python: str | None) -> str:
    """The python that runs the reader: `python` when set, else the one `program` runs (`PYTHON -m alembic`),
    else python3."""
    if python:
        return python
    words = shlex.split(program)
    if "-m" in words and words[words.index("-m") + 1 : words.index("-m") + 2] == ["alembic"]:
        return shlex.join(words[: words.index("-m")]) or "python3"
    return "python3"


def graph_reader(program: str, python: str | None = None) -> list[str]:
    """The revision reader's command line for the config `program` uses."""
    config, section = config_of(program)
    return [*shlex.split(python_of(program, python)), "-c", READER, config, section]


def _assumed_revisions(version: str | None) -> list[tuple[str, str | None, str]]:
    """The revisions a version's code ships in a dry run, base first (revision, down, message): a version newer
    than the example's newer one ships one more, the newer one the two the example state records, any older one
    only the older one."""
    older, newer = assumptions.OLDER_HEAD, assumptions.NEWER_HEAD
    revisions = [(older, None, "older")]
    later = bool(version) and release_key(version or "") > release_key(assumptions.NEWER_VERSION)
    if later or version == assumptions.NEWER_VERSION:
        revisions.append((newer, older, "newer"))
    if later:
        revisions.append((assumptions.NEWEST_HEAD, newer, "newest"))
    return revisions


def _assumed_history(version: str | None) -> str:
    """`alembic history` of a version's code in a dry run."""
    lines = []
    for index, (revision, down, message) in enumerate(reversed(_assumed_revisions(version))):
        lines.append(f"{down or '<base>'} -> {revision}{' (head)' if index == 0 else ''}, {message}")
    return "\n".join(lines)


def _assumed_graph(version: str | None) -> str:
    """The revision reader's output for a version's code in a dry run."""
    revisions = _assumed_revisions(version)
    rows = [
        {"revision": r, "down_revisions": [d] if d else [], "is_head": r == revisions[-1][0], "message": m}
        for r, d, m in reversed(revisions)
    ]
    return f"{GRAPH_MARKER} " + json.dumps({"heads": [revisions[-1][0]], "revisions": rows})


def revisions(command: str, version: str | None) -> Fact[History]:
    """`command` (the revision reader in `version`'s code): its revision graph and each revision's message;
    output that is no graph, or a graph with several heads, fails naming the version."""

    def parse(answer: Answer) -> History:
        try:
            return parse_revision_graph(answer.stdout)
        except ValueError as exc:
            raise OperationFailed(f"{version}: {exc}", hint=_said(answer)) from None

    return Fact("alembic revisions", command, parse, _assumed_graph(version))


def _said(answer: Answer) -> str | None:
    """The last line of what the reader said on stderr (alembic's or python's own error), to be shown."""
    lines = [line for line in answer.stderr.strip().splitlines() if line.strip()]
    return f"the reader said: {lines[-1][:300]}" if lines else None


def history_text(command: str, version: str | None) -> Fact[str]:
    """`command` (an `alembic history` in `version`'s code) as alembic printed it, to be shown."""
    return Fact(
        "alembic history", command, lambda answer: (answer.stdout + answer.stderr).strip(), _assumed_history(version)
    )


def offline_sql(command: str, direction: str, current: str | None, target: str | None) -> Fact[str]:
    """The SQL `command` (alembic --sql) prints; a dry run assumes a backward-compatible new nullable column."""
    change = "ADD COLUMN note TEXT" if direction == "upgrade" else "DROP COLUMN note"
    assumed = (
        f"BEGIN;\n\n-- Running {direction} {current or ''} -> {target or ''}\n\n"
        f"ALTER TABLE items {change};\n\n"
        f"UPDATE alembic_version SET version_num='{target}' WHERE alembic_version.version_num = '{current}';\n\n"
        "COMMIT;\n"
    )
    return Fact(f"alembic {direction} --sql", command, lambda answer: answer.stdout, assumed)


def generated(command: str) -> Fact[str]:
    """The path of the migration file `command` (alembic revision) generated, from what it said."""

    def parse(answer: Answer) -> str:
        match = GENERATED_RE.search(answer.stdout + answer.stderr)
        if not match:
            raise OperationFailed(f"alembic did not say which file it generated: {answer.describe()}")
        return match.group(1)

    assumed = "Generating /app/alembic/versions/REVISION_message.py ...  done"
    return Fact("alembic revision", command, parse, assumed, stream=True)
