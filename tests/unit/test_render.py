"""Golden rendered upstream files for blue and green; StrictUndefined refuses missing values."""

from pathlib import Path

import jinja2
import pytest

from ghosttasks import render
from ghosttasks.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "plans"


@pytest.mark.parametrize(("color", "version"), [("blue", "v1.0.0"), ("green", "v1.1.0")])
def test_upstream_golden(request, color, version):
    env = load_inventory(ROOT / "hosts.yml").env("prod")
    text = render.upstream(env, color=color, version=version, rendered_at="2026-11-28T20:00:00Z")
    golden = GOLDEN / f"upstream-{color}.conf"
    if request.config.getoption("--regen-plans"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_missing_value_is_an_error_not_an_empty_line():
    with pytest.raises(jinja2.UndefinedError):
        render.render("nginx/upstream.conf.j2", environment="prod", color="blue", version="v1", servers={})
