"""deploy.recover against the real lab: a state.json that lies about what it caches (the serving colour, the version
the serving colour runs, the database revision) is repaired from the LB's flag, the app hosts' containers and the
database, each repair said with both values, and traffic never moves; a second recover finds nothing to repair and
leaves the file as it is; while another run holds the deploy lock, recover refuses and changes nothing.

Reality is read here, not through ghosttasks: the flag file in the LB's state dir, `docker ps` on each app host
(the release directory each colour's containers run from) and `alembic_version` through psql.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.walk_model import other
from tests.lab.world import bring_to_serving, docker, lb_answers, psql

APP_HOSTS = ("app1", "app2")
LIE_REVISION = "0000_never_applied"
LIE_VERSION = "v0.0.1"  # never built: what state.json claims the serving colour runs


@pytest.fixture(scope="module")
def live(lab, inv) -> Iterator[tuple[str, str]]:
    """A good release serving, whatever the other colour holds (no command when the lab is so already): (colour,
    version). Whatever a test left (a lying state.json, its hold), the module ends with the lock free and the record
    repaired, for the modules after it."""
    yield bring_to_serving(lab, inv)
    if inv.json("deploy.status")["lock"]:
        inv.ok("deploy.unlock", "--force")
    inv.ok("deploy.recover")


def flag_colour(lab) -> str:
    """The colour the LB's selector reads from its flag file."""
    return "green" if (lab.lb_state_dir / "ghostworks-active-green").exists() else "blue"


def versions_running(lab, colour: str) -> dict[str, set[str]]:
    """Per app host, the release directories (versions) `colour`'s running containers were started from."""
    found = {}
    for host in APP_HOSTS:
        listed = docker(
            lab,
            host,
            "ps",
            "--filter",
            f"label=com.docker.compose.project=ghostworks-{colour}",
            "--format",
            '{{.Label "com.docker.compose.project.working_dir"}}',
        )
        found[host] = {Path(line).name for line in listed.stdout.split()}
    return found


def state_path(lab) -> Path:
    return lab.lb_state_dir / "state.json"


def said(result) -> str:
    return result.stdout + result.stderr


def test_a_lying_state_is_repaired_from_the_lb_the_containers_and_the_database(lab, inv, live):
    serving, version = live
    idle = other(serving)
    revision = psql(lab, "SELECT version_num FROM alembic_version")
    assert flag_colour(lab) == serving
    assert versions_running(lab, serving) == {host: {version} for host in APP_HOSTS}
    truth = json.loads(state_path(lab).read_text())
    lie = json.loads(json.dumps(truth))
    lie["active"], lie["previous"] = idle, serving
    lie["colors"][serving]["version"] = LIE_VERSION
    lie["database_revision"] = LIE_REVISION
    state_path(lab).write_text(json.dumps(lie))

    result = inv.ok("deploy.recover")

    out = said(result)
    assert f"serving colour: state.json said {idle}, the LB sends traffic to {serving}" in out
    assert (
        f"{serving} (serving): state.json said {serving} runs {LIE_VERSION}, its containers run {version} on app1, app2"
        in out
    )
    assert f"database revision: state.json said {LIE_REVISION}, the database is at {revision}" in out
    assert "state.json repaired: it agrees with the LB, the containers and the database" in out
    repaired = json.loads(state_path(lab).read_text())
    assert (repaired["active"], repaired["previous"]) == (serving, idle)
    assert repaired["colors"][serving]["version"] == version and not repaired["colors"][serving]["failed_version"]
    assert repaired["colors"][idle] == truth["colors"][idle]  # told the truth about the idle colour: kept
    assert repaired["database_revision"] == revision == truth["database_revision"]
    assert repaired["intent"] is None
    # nothing real moved: the flag, the containers, the schema, the LB's answers
    assert flag_colour(lab) == serving
    assert versions_running(lab, serving) == {host: {version} for host in APP_HOSTS}
    assert psql(lab, "SELECT version_num FROM alembic_version") == revision
    assert set(lb_answers(10)) == {(serving, version)}
    status = inv.json("deploy.status")
    assert status["active"] == serving and not status["disagreements"] and not status["lock"]


def test_a_second_recover_finds_nothing_and_leaves_the_file_as_it_is(lab, inv, live):
    inv.ok("deploy.recover")  # the first: whatever the record was, it agrees after it
    before = state_path(lab).read_bytes()
    result = inv.ok("deploy.recover")
    assert "state.json agrees with the LB, the containers and the database: nothing to repair" in said(result)
    assert "state repaired" not in said(result)
    assert state_path(lab).read_bytes() == before


def test_recover_under_another_runs_lock_refuses_and_changes_nothing(lab, inv, live):
    serving, _ = live
    inv.ok("deploy.lock", "--reason", "db maintenance by hand")
    try:
        lie = json.loads(state_path(lab).read_text())
        lie["database_revision"] = LIE_REVISION
        state_path(lab).write_text(json.dumps(lie))
        before = state_path(lab).read_bytes()
        result = inv("deploy.recover")
        assert result.returncode == 3, said(result)
        assert "db maintenance by hand" in said(result)
        assert state_path(lab).read_bytes() == before
        assert flag_colour(lab) == serving
    finally:
        inv.ok("deploy.unlock")
    inv.ok("deploy.recover")  # the lie repaired once the lock is free
    assert json.loads(state_path(lab).read_text())["database_revision"] == psql(
        lab, "SELECT version_num FROM alembic_version"
    )
