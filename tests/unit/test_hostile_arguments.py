"""hypothesis: no value passed as version, colour, revision or reason adds shell syntax to a plan."""

import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghosttasks.domain.revisions import release_key

OPERATORS = set(";&|()<>")

hostile_text = st.one_of(
    st.text(min_size=1, max_size=40),
    st.text(alphabet="v0123456789.-;&|$`'\"\\ ()<>{}*?!#~\n", min_size=1, max_size=30),
    st.sampled_from(["v1.0.0;reboot", "$(reboot)", "`id`", "head && rm -rf /", "'; rm -rf / #", "-1|id"]),
)


def operators(plan: str) -> list[list[str]]:
    """The shell operator tokens of every command in a plan (quoted text is never an operator)."""
    result = []
    for line in plan.splitlines():
        if " $ " in line and line.startswith("["):
            command = line.split(" $ ", 1)[1]
            lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            result.append([token for token in lexer if token and set(token) <= OPERATORS])
    return result


CASES = {
    "version": (["deploy.prod", "--version", "{}", "--dry-run", "--yes"], "v1.2.0"),
    "colour": (["traffic.switch", "{}", "--dry-run", "--yes"], "blue"),
    "revision": (["db.downgrade", "-r", "{}", "--dry-run", "--yes"], "-1"),
    "db revision": (["deploy.rollback", "--db-rev", "{}", "--dry-run", "--yes"], "a1a1a1a1a1a1"),
    "reason": (["deploy.emergency-rollback", "--reason", "{}", "--dry-run"], "benign reason"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile_text)
def test_hostile_values_are_refused_or_stay_quoted(inv, case, value):
    template, benign = CASES[case]
    if value.startswith("-") and case not in ("revision", "db revision"):
        value = "x" + value  # a leading dash is an option to the parser, not a value
    code, plan, err = inv(*[part.format(value) if part == "{}" else part for part in template])
    if code == 2:  # refused by validation: nothing was planned
        assert err.startswith("error: ") and plan == ""
        return
    if case == "version" and release_key(value) <= release_key("v1.1.0"):
        benign = "v0.9.0"  # an older version's plan takes the other branch (no migration): compare like with like
    _, benign_plan, _ = inv(*[part.format(benign) if part == "{}" else part for part in template])
    if code == 1:  # a well-formed revision the migration planner refuses: the plan stops there
        assert err.startswith("error: ") and operators(plan) <= operators(benign_plan)
        return
    assert code == 0 and operators(plan) == operators(benign_plan)
