"""Validation of every value that can reach a shell."""

import pytest

from ghosttasks.domain import validate
from ghosttasks.domain.errors import BadInput


@pytest.mark.parametrize("good", ["v1.0.0", "v10.20.30", "v1.2.0-rc1", "v1.2.0-unhealthy", "v2.0.0-beta.2"])
def test_versions_accepted(good):
    assert validate.version(good) == good


@pytest.mark.parametrize("bad", ["1.0.0", "v1.0", "v01.0.0", "v1.0.0;id", "v1.0.0 ", "", "v1.0.0-", "v1.0.0-a..b"])
def test_versions_refused(bad):
    with pytest.raises(BadInput):
        validate.version(bad)


@pytest.mark.parametrize(
    "good",
    [
        *("head", "base", "-1", "+2", "ae1027a6acf", "0002b7c4e9a1", "ae10-1", "heads"),
        *("0003_orders_status", "0003_orders_status-1", "20240115_1200", "xyz", "0004_merge+2"),
    ],
)
def test_revisions_accepted(good):
    assert validate.revision(good) == good


@pytest.mark.parametrize(
    "bad", ["-0", "HEAD;", "$(id)", "ae1027a6acf; rm", "--sql", "-", "a@head", "0003-orders", "_x", "x" * 65]
)
def test_revisions_refused(bad):
    with pytest.raises(BadInput, match="is not an alembic revision"):
        validate.revision(bad)


def test_colour_and_texts():
    assert validate.color("green") == "green"
    with pytest.raises(BadInput, match="'purple' is not blue or green"):
        validate.color("purple")
    with pytest.raises(BadInput, match="one line of printable text"):
        validate.free_text("a\nb", "--reason")
    with pytest.raises(BadInput, match="must not be empty"):
        validate.free_text("  ", "--reason")
    assert validate.free_text("db on fire; rolling back", "--reason") == "db on fire; rolling back"
    with pytest.raises(BadInput):
        validate.backup_name("../../etc/passwd.dump")
    with pytest.raises(BadInput):
        validate.git_ref("--upload-pack=evil")
    assert validate.git_ref("release/2026-11") == "release/2026-11"
    with pytest.raises(BadInput):
        validate.positive_number("nan", "--minutes")
