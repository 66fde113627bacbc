"""Pure parsers: what the LB selects (its config files and flag) and the backup verification."""

import pytest

from ghosttasks.commands import nginx
from ghosttasks.commands.pg_dump import parse_verification

MARK = nginx.CONFIG_MARK
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


# -- commands/nginx.py read_config / parse_config -----------------------------------------------


def test_read_config_prints_each_file_then_the_selected_colour():
    assert nginx.read_config(["/etc/a.conf", "/etc/b.inc"], "/var/lib/g/x-active-green") == (
        f"cat /etc/a.conf 2>/dev/null; echo '{nginx.CONFIG_MARK}'; cat /etc/b.inc 2>/dev/null; "
        f"echo '{nginx.CONFIG_MARK}'; if [ -e /var/lib/g/x-active-green ]; then echo green; else echo blue; fi"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"up\n{MARK}\nsel\n{MARK}\ngreen\n", (["up\n", "sel\n"], "green")),
        (f"{MARK}\n{MARK}\nblue\n", (["", ""], "blue")),  # files missing: empty, still parsed
        (f"up\n{MARK}\nsel\n{MARK}\npurple\n", (["up\n", "sel\n"], None)),
        ("garbage", ([], None)),
        (f"up\n{MARK}\n", ([], None)),  # one file short: unreadable
    ],
)
def test_parse_config(text, expected):
    assert nginx.parse_config(text, 2) == expected


def test_the_flag_is_created_for_green_and_removed_for_blue():
    assert (
        nginx.set_flag("/var/lib/g/x-active-green", "green") == "mkdir -p /var/lib/g && touch /var/lib/g/x-active-green"
    )
    assert nginx.set_flag("/var/lib/g/x-active-green", "blue") == "rm -f /var/lib/g/x-active-green"


# -- commands/pg_dump.py parse_verification --------------------------------------------------------


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
