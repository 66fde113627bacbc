"""The runbook's host requirements (ghosttasks.decisions.prerequisites), judged from the facts line, by exact checks."""

import pytest
from packaging.version import Version

from ghosttasks.config.settings import Prerequisites
from ghosttasks.decisions.prerequisites import Check, at_least, judge, parse_version

GIB = 1024 * 1024  # KiB
DEFAULTS = Prerequisites()


# -- parse_version -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("28.2.2", Version("28.2.2")),
        ("v2.40.3", Version("2.40.3")),
        ("20.10.24+dfsg1", Version("20.10.24")),
        ("2.40.3-desktop.1", Version("2.40.3")),
        ("1.29.2", Version("1.29.2")),
        ("  28.2.2\n", Version("28.2.2")),
        ("28", Version("28")),
        ("2.0", Version("2.0")),
        ("28.", Version("28")),
    ],
)
def test_parse_version(text, version):
    assert parse_version(text) == version


@pytest.mark.parametrize("text", ["", "   ", "garbage", "v", "version 28.2.2", "unknown", "-", ".28", "V28.2.2"])
def test_an_unreadable_version_is_none(text):
    assert parse_version(text) is None


# -- at_least ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "minimum", "ok"),
    [
        ("28.2.2", "20.10", True),
        ("20.10", "20.10", True),
        ("20.10.0", "20.10", True),
        ("20.10.24+dfsg1", "20.10", True),
        ("20.9.9", "20.10", False),  # numeric, not string, comparison
        ("19.03.15", "20.10", False),
        ("v2.40.3", "2.0", True),
        ("1.29.2", "2.0", False),
        ("v2.0.0", "v2.0", True),
        ("garbage", "20.10", False),
        ("", "20.10", False),
        ("28.2.2", "garbage", False),
        ("28.2.2", "", False),
    ],
)
def test_at_least(measured, minimum, ok):
    assert at_least(measured, minimum) is ok


# -- judge -------------------------------------------------------------------------------------


def facts(docker="28.2.2", compose="2.40.3", ram_kib=8 * GIB, disk_kib=50 * GIB) -> str:
    return f"{docker} {compose} {ram_kib} {disk_kib}"


def test_everything_passes():
    assert judge("app1", facts(), DEFAULTS) == [
        Check("app1", "Docker", "28.2.2", ">= 20.10", True),
        Check("app1", "Compose", "2.40.3", ">= 2.0", True),
        Check("app1", "RAM", "8.0 GB", ">= 4 GB", True),
        Check("app1", "free disk", "50.0 GB", ">= 20 GB", True),
    ]


@pytest.mark.parametrize(
    ("line", "failing"),
    [
        (facts(docker="19.03.15"), Check("app1", "Docker", "19.03.15", ">= 20.10", False)),
        (facts(docker="unknown"), Check("app1", "Docker", "unknown", ">= 20.10", False)),
        (facts(compose="1.29.2"), Check("app1", "Compose", "1.29.2", ">= 2.0", False)),
        (facts(ram_kib=2 * GIB), Check("app1", "RAM", "2.0 GB", ">= 4 GB", False)),
        (facts(ram_kib=4 * GIB - 1), Check("app1", "RAM", "4.0 GB", ">= 4 GB", False)),
        (facts(disk_kib=10 * GIB), Check("app1", "free disk", "10.0 GB", ">= 20 GB", False)),
        (facts(disk_kib=0), Check("app1", "free disk", "0.0 GB", ">= 20 GB", False)),
    ],
)
def test_each_requirement_fails_on_its_own(line, failing):
    checks = judge("app1", line, DEFAULTS)
    assert checks is not None
    assert [check for check in checks if not check.ok] == [failing]


def test_exactly_the_minimum_passes():
    checks = judge("db1", facts(docker="20.10", compose="2.0", ram_kib=4 * GIB, disk_kib=20 * GIB), DEFAULTS)
    assert checks is not None
    assert [check.ok for check in checks] == [True, True, True, True]


def test_custom_minimums_are_judged_and_shown():
    need = Prerequisites(docker_min="29.0", compose_min="2.50", ram_min_gb=16, disk_min_gb=100)
    assert judge("app2", facts(), need) == [
        Check("app2", "Docker", "28.2.2", ">= 29.0", False),
        Check("app2", "Compose", "2.40.3", ">= 2.50", False),
        Check("app2", "RAM", "8.0 GB", ">= 16.0 GB", False),
        Check("app2", "free disk", "50.0 GB", ">= 100.0 GB", False),
    ]


def test_extra_words_are_ignored():
    assert judge("app1", facts() + " trailing noise", DEFAULTS) == judge("app1", facts(), DEFAULTS)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   \n",
        "28.2.2",
        "28.2.2 2.40.3 8388608",
        "28.2.2 2.40.3 8388608 -",
        "28.2.2 2.40.3 - 52428800",
        "28.2.2 2.40.3 8.0 52428800",
        "28.2.2 2.40.3 -1 52428800",
        "docker: command not found",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
    ],
)
def test_unreadable_facts_are_none(line):
    assert judge("app1", line, DEFAULTS) is None


def test_check_line():
    assert Check("app1", "RAM", "2.0 GB", ">= 4 GB", False).line() == "app1: RAM 2.0 GB (>= 4 GB)"
