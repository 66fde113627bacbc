"""Golden rendered LB config (both colours' upstreams, the selector); StrictUndefined refuses missing values."""

from pathlib import Path

import jinja2
import pytest

from ghosttasks.commands import render
from ghosttasks.testing import prod

GOLDEN = Path(__file__).parent / "plans"


@pytest.mark.parametrize("name", ["upstream", "selector"])
def test_lb_config_golden(request, name):
    """Both colours' upstreams (http level) and the per-request selector (server level), as rendered for prod."""
    env = prod()
    text = getattr(render, name)(env)
    golden = GOLDEN / f"lb-{name}.conf"
    if request.config.getoption("--regen-plans"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_the_lb_config_does_not_depend_on_the_colour_or_the_time():
    """It changes only when hosts or ports change, so a switch never needs to reload nginx."""
    env = prod()
    text = render.upstream(env)
    for color in ("blue", "green"):
        assert f"upstream ghostworks_api_{color} {{" in text and f"upstream ghostworks_web_{color} {{" in text
    assert "rendered" not in text and "version" not in text


def test_missing_value_is_an_error_not_an_empty_line():
    with pytest.raises(jinja2.UndefinedError):
        render.render("nginx/upstream.conf.j2", environment="prod", color="blue", version="v1", servers={})
