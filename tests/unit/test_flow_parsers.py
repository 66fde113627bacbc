"""Pure parsers inside the flows: the LB's upstream header and the backup verification."""

from pathlib import Path

import pytest

from ghosttasks.flows.backup import parse_verification
from ghosttasks.flows.status import parse_upstream_header

PLANS = Path(__file__).parent / "plans"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


# -- flows/status.py parse_upstream_header -----------------------------------------------------


def test_the_header_of_a_rendered_upstream_file():
    text = (PLANS / "upstream-blue.conf").read_text()
    assert parse_upstream_header(text) == {"color": "blue", "version": "v1.0.0", "rendered": "2026-11-28T20:00:00Z"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {"color": None, "version": None, "rendered": None}),
        ("upstream ghostworks_api {\n}\n", {"color": None, "version": None, "rendered": None}),
        ("# color: green\n", {"color": "green", "version": None, "rendered": None}),
        (
            "# version: v1.1.0\n# color: green\n# rendered: 2026-12-01T10:00:00Z\n",
            {"color": "green", "version": "v1.1.0", "rendered": "2026-12-01T10:00:00Z"},
        ),
        # Windows line endings, a value holding ": ", the last of two lines with the same key
        ("# color: blue\r\n# version: v1.0.0\r\n", {"color": "blue", "version": "v1.0.0", "rendered": None}),
        ("# rendered: at: noon\n", {"color": None, "version": None, "rendered": "at: noon"}),
        ("# color: blue\n# color: green\n", {"color": "green", "version": None, "rendered": None}),
        # not header lines: no space after '#', no ': ', indented, or a trailing comment on a directive
        ("#color: green\n", {"color": None, "version": None, "rendered": None}),
        ("# color:green\n", {"color": None, "version": None, "rendered": None}),
        ("  # color: green\n", {"color": None, "version": None, "rendered": None}),
        ("server a:1; # color: green\n", {"color": None, "version": None, "rendered": None}),
        ("# Managed by ghosttasks: do not edit by hand\n", {"color": None, "version": None, "rendered": None}),
    ],
)
def test_parse_upstream_header(header, expected):
    assert parse_upstream_header(header) == expected


def test_other_header_keys_are_not_reported():
    assert set(parse_upstream_header("# environment: prod\n# color: blue\n")) == {"color", "version", "rendered"}


# -- flows/backup.py parse_verification --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"size=52428800\n{SHA}  prod-predeploy-20261201.dump\n", (52428800, SHA)),
        (f"{SHA}  prod.dump\nsize=7\n", (7, SHA)),  # either order
        (f"size=52428800\n{SHA}\n", (52428800, SHA)),
        (f"\n\nsize=1\n\n{SHA}  x.dump\n\n", (1, SHA)),
        ("", (0, "")),
        ("size=\n", (0, "")),
        ("size=0\n", (0, "")),
        (f"{SHA}  x.dump\n", (0, SHA)),
        ("size=12\n", (12, "")),
    ],
)
def test_parse_verification(text, expected):
    assert parse_verification(text) == expected


@pytest.mark.parametrize("text", ["size=abc\n", "size=12 bytes\n"])
def test_an_unreadable_size_raises_value_error(text):
    with pytest.raises(ValueError):
        parse_verification(text)
