"""The classification of squawk's findings for blue-green, over SQL run through the real squawk binary."""

import pytest

from ghosttasks.decisions.migration_lint import RULES, Verdict, gate, judge, revisions
from ghosttasks.observability import squawk

# alembic's offline SQL (`alembic upgrade A:B --sql`, one transaction per migration) around one statement
WRAP = """BEGIN;

-- Running upgrade 0003c3d4e5f6 -> 0006f6a7b8c9

{statement}

UPDATE alembic_version SET version_num='0006f6a7b8c9' WHERE alembic_version.version_num = '0003c3d4e5f6';

COMMIT;
"""

CASES = [
    ("ALTER TABLE artifacts DROP COLUMN tags;", {("breaking", "ban-drop-column")}),
    ("ALTER TABLE artifacts RENAME COLUMN name TO title;", {("breaking", "renaming-column")}),
    ("ALTER TABLE artifacts RENAME TO items;", {("breaking", "renaming-table")}),
    ("DROP TABLE artifacts;", {("breaking", "ban-drop-table")}),
    ("ALTER TABLE artifacts ALTER COLUMN name TYPE TEXT;", {("breaking", "changing-column-type")}),
    ("ALTER TABLE artifacts ADD COLUMN size BIGINT NOT NULL;", {("breaking", "adding-required-field")}),
    ("ALTER TABLE artifacts ALTER COLUMN name SET NOT NULL;", {("breaking", "adding-not-nullable-field")}),
    ("ALTER TABLE artifacts ALTER COLUMN name DROP NOT NULL;", {("breaking", "ban-drop-not-null")}),
    (
        "CREATE INDEX ix_artifacts_name ON artifacts (name);",
        {("locking", "require-concurrent-index-creation")},
    ),
    ("DROP INDEX ix_artifacts_name;", {("locking", "require-concurrent-index-deletion")}),
    (
        "ALTER TABLE artifacts ADD CONSTRAINT fk_owner FOREIGN KEY (owner_id) REFERENCES users (id);",
        {("locking", "constraint-missing-not-valid"), ("locking", "adding-foreign-key-constraint")},
    ),
    (
        "ALTER TABLE artifacts ADD CONSTRAINT uq_name UNIQUE (name);",
        {("locking", "constraint-missing-not-valid"), ("locking", "disallowed-unique-constraint")},
    ),
    ("ALTER TABLE artifacts ADD COLUMN note TEXT;", set()),
    ("ALTER TABLE artifacts ADD COLUMN archived BOOLEAN DEFAULT false NOT NULL;", set()),
    ("ALTER TABLE artifacts ADD COLUMN title VARCHAR(200);", {("advice", "prefer-text-field")}),
    ("ALTER TABLE artifacts ADD COLUMN n INTEGER;", {("advice", "prefer-bigint-over-int")}),
    (
        "ALTER TABLE artifacts ADD CONSTRAINT ck_name CHECK (name <> '') NOT VALID;",
        set(),
    ),
]


@pytest.mark.parametrize(("statement", "expected"), CASES, ids=[case[0][:60] for case in CASES])
def test_classification_of_real_squawk_findings(statement, expected):
    sql = WRAP.format(statement=statement)
    verdict = judge(sql, squawk.lint(sql))
    assert {(finding.kind, finding.rule) for finding in verdict.findings} == expected
    for finding in verdict.findings:
        assert (finding.revision, finding.statement) == ("0006f6a7b8c9", statement)


def test_alembic_version_noise_is_dropped():
    """From base alembic creates its own table with VARCHAR(32): squawk's prefer-text-field on it is noise."""
    sql = (
        "BEGIN;\n\nCREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n"
        "    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n);\n\n"
        "-- Running upgrade  -> 0001a1b2c3d4\n\nCREATE TABLE tenants (id BIGINT PRIMARY KEY, name TEXT);\n\n"
        "INSERT INTO alembic_version (version_num) VALUES ('0001a1b2c3d4') RETURNING alembic_version.version_num;\n\n"
        "COMMIT;\n"
    )
    assert [item["rule_name"] for item in squawk.lint(sql)] == ["prefer-text-field"]
    assert judge(sql, squawk.lint(sql)) == Verdict(())


def test_each_finding_names_the_revision_whose_migration_holds_it():
    sql = (
        "BEGIN;\n\n-- Running upgrade 0003c3d4e5f6 -> 0004d4e5f6a7\n\nCREATE INDEX ix_a ON artifacts (name);\n\n"
        "COMMIT;\n\nBEGIN;\n\n-- Running upgrade 0004d4e5f6a7 -> 0005e5f6a7b8\n\n"
        "ALTER TABLE artifacts\n    DROP COLUMN tags;\n\nCOMMIT;\n"
    )
    verdict = judge(sql, squawk.lint(sql))
    assert [(f.revision, f.kind, f.statement) for f in verdict.findings] == [
        ("0004d4e5f6a7", "locking", "CREATE INDEX ix_a ON artifacts (name);"),
        ("0005e5f6a7b8", "breaking", "ALTER TABLE artifacts DROP COLUMN tags;"),
    ]
    assert verdict.summary() == "squawk: 1 breaking, 1 locking"
    assert revisions(sql) == [("upgrade", "0004d4e5f6a7"), ("upgrade", "0005e5f6a7b8")]


def test_a_downgrade_section_is_the_migration_it_runs_down():
    sql = (
        "BEGIN;\n\n-- Running downgrade 0005e5f6a7b8 -> 0003c3d4e5f6\n\n"
        "ALTER TABLE artifacts DROP COLUMN d;\n\nCOMMIT;\n"
    )
    (finding,) = judge(sql, squawk.lint(sql)).findings
    assert (finding.revision, finding.rule) == ("0005e5f6a7b8", "ban-drop-column")
    assert finding.line() == (
        "0005e5f6a7b8: breaking (ban-drop-column): ALTER TABLE artifacts DROP COLUMN d; — Dropping a column may "
        "break existing clients. Instead: stop reading the column in one release, drop it in a later one "
        "(expand/contract)"
    )


def test_unknown_rules_are_advice_and_squawk_syntax_errors_break():
    verdict = judge("SELECT 1;", [{"line": 0, "column": 0, "rule_name": "some-future-rule", "message": "m"}])
    assert [f.kind for f in verdict.findings] == ["advice"]
    sql = "ALTER TABL artifacts;"
    assert {f.kind for f in judge(sql, squawk.lint(sql)).findings} == {"breaking"}


@pytest.mark.parametrize(
    ("kinds", "allow", "expected"),
    [
        ((), False, "go"),
        (("advice",), False, "go"),
        (("locking", "advice"), False, "confirm"),
        (("breaking",), False, "refuse"),
        (("breaking", "locking"), False, "refuse"),
        (("breaking",), True, "go"),
        (("breaking", "locking"), True, "confirm"),
    ],
)
def test_gate(kinds, allow, expected):
    rules = {kind: next(rule for rule, (k, _) in RULES.items() if k == kind) for kind in ("breaking", "locking")}
    rules["advice"] = "prefer-bigint-over-int"
    raw = [{"line": 0, "column": 0, "rule_name": rules[kind], "message": ""} for kind in kinds]
    assert gate(judge("SELECT 1;", raw), allow_breaking=allow) == expected
    assert gate(judge("SELECT 1;", raw), allow_breaking=allow, serving=False) == "go"  # a first deploy


def test_the_dry_run_plan_shows_the_migration_and_its_lint_verdict(inv):
    code, plan, err = inv("deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes")
    assert code == 0, err
    review = plan.split("== review migration")[1].split("== backup database")[0]
    assert "run --rm --no-deps -T api alembic upgrade b2b2b2b2b2b2:c3c3c3c3c3c3 --sql" in review
    assert "# upgrade c3c3c3c3c3c3: newest" in review
    assert "# lint of the upgrade SQL: squawk: no findings" in review
    assert "exec -T -e 'PGOPTIONS=-c lock_timeout=5000 -c statement_timeout=600000' api alembic upgrade" in plan


@pytest.mark.parametrize("good", ["0003c3d4e5f6:0006f6a7b8c9", ":head", "base:", ":", "0003:head"])
def test_revision_range_accepts_from_to(good):
    from ghosttasks.domain import validate

    assert validate.revision_range(good) == good


@pytest.mark.parametrize("bad", ["0003c3d4e5f6", "a:b;c", "$(reboot):head", "head:x y"])
def test_revision_range_refuses_anything_else(bad):
    from ghosttasks.domain import validate
    from ghosttasks.domain.errors import BadInput

    with pytest.raises(BadInput, match="is not FROM:TO"):
        validate.revision_range(bad)


def test_db_lint_refuses_a_bad_range_before_anything_runs(inv):
    code, out, err = inv("db.lint", "--version", "v1.2.0", "-r", "x;y", "--dry-run")
    assert (code, out) == (2, "")
    assert (
        err.strip()
        == "error: --revisions 'x;y' is not FROM:TO (alembic revision ids, head or base; either may be empty)"
    )


def test_sections_across_a_merge_point_are_read_from_alembics_own_offline_sql():
    """Real `alembic upgrade/downgrade A:B --sql` output (tests/unit/alembic_fixtures/make_fixtures.sh)."""
    from pathlib import Path

    from ghosttasks.decisions.migration_lint import revisions

    fixtures = Path(__file__).parent / "alembic_fixtures"
    assert revisions((fixtures / "merged.upgrade.sql").read_text()) == [
        ("upgrade", "0003_customers"),
        ("upgrade", "0004_merge"),
        ("upgrade", "0005_status"),
    ]
    assert revisions((fixtures / "merged.downgrade.sql").read_text()) == [
        ("downgrade", "0005_status"),
        ("downgrade", "0004_merge"),
        ("downgrade", "0002_orders"),
        ("downgrade", "0003_customers"),
    ]
