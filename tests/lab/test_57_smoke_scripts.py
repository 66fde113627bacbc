"""The app's own smoke scripts (smoke.scripts), run on the real app host against the new colour before the switch.

The lab's prod runs the demo app's `./scripts/smoke-tests.sh` (lab/app/scripts): it sends its requests with the
X-Request-ID `smoke-script-COLOUR-VERSION`. Oracles are the world: the api containers' own logs on each app
host's engine (read with the docker CLI), the flag file on the LB, the LB's answers under load, state.json and
the run log ghosttasks wrote.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

import pytest
import yaml

from tests.lab.world import NO_MONITOR, bring_to_serving, docker, lb_answers

FLAG = "ghostworks-active-green"


def serving(lab) -> tuple[str, str]:
    state = json.loads((lab.lb_state_dir / "state.json").read_text())
    return state["active"], state["colors"][state["active"]]["version"]


def logged_ids(lab, host: str, color: str) -> list[tuple[datetime, str]]:
    """(time, request id) of every api log line of `color` on `host` that names a request id."""
    lines = docker(lab, host, "logs", f"ghostworks-{color}-api-1").stdout.splitlines()
    found = []
    for line in lines:
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("request_id"):
                stamp = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
                found.append((stamp, record["request_id"]))
    return found


def run_logs(inv) -> str:
    return "\n".join(path.read_text() for path in inv.log_dir.glob("*.log"))


def origin_has_the_script(layout) -> bool:
    """The lab's origin was built from a checkout whose demo app has scripts/smoke-tests.sh (the origin is built
    once per lab: a lab left up from an older checkout has none)."""
    found = subprocess.run(
        ["git", "--git-dir", str(layout.origin), "cat-file", "-e", "v1.0.0:scripts/smoke-tests.sh"],
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


@pytest.fixture(scope="module")
def lab(labs):
    """The flat lab, with an origin whose releases ship the smoke script (brought down and up again if not)."""
    from lab import labctl

    layout = labs.ensure("flat")
    if not origin_has_the_script(layout):
        labctl.down(quiet=True)
        labs.current = None
        layout = labs.ensure("flat")
    return layout


@pytest.fixture(scope="module", autouse=True)
def start(lab, inv):
    """A good release serves (the lab as the module before left it when one does); each test deploys another."""
    bring_to_serving(lab, inv)


def test_the_apps_smoke_script_runs_on_app1_against_the_new_colour_before_the_switch(lab, inv):
    old_color, old_version = serving(lab)
    color = "blue" if old_color == "green" else "green"
    version = "v1.0.0" if old_version == "v1.1.0" else "v1.1.0"
    result = inv.ok("deploy.prod", "--version", version, *NO_MONITOR)
    assert set(lb_answers(5)) == {(color, version)}
    assert f"smoke script ./scripts/smoke-tests.sh: passed against {color}" in result.stdout

    script_id = f"smoke-script-{color}-{version}"
    on_app1 = [stamp for stamp, request_id in logged_ids(lab, "app1", color) if request_id == script_id]
    assert len(on_app1) == 2, on_app1  # its health request and its anonymous artifacts request
    # only the first app host, only the new colour
    assert script_id not in {request_id for _, request_id in logged_ids(lab, "app2", color)}
    assert script_id not in {request_id for _, request_id in logged_ids(lab, "app1", old_color)}
    # before the switch: the flag file the switch created or removed is newer than the script's requests
    flag = lab.lb_state_dir / FLAG
    if color == "green":
        switched = datetime.fromtimestamp(flag.stat().st_mtime).astimezone()
        assert max(on_app1) < switched, (on_app1, switched)
    # the script's own output is in the run log (folded: not streamed to the terminal)
    assert f"smoke: ok (prod, {color}, {version})" in run_logs(inv)
    assert f"smoke: ok (prod, {color}, {version})" not in result.stdout


def test_a_failing_smoke_script_refuses_the_switch_and_the_old_colour_keeps_serving(lab, inv, tmp_path, load_loop):
    old_color, old_version = serving(lab)
    color = "blue" if old_color == "green" else "green"
    version = "v1.0.0" if old_version == "v1.1.0" else "v1.1.0"
    inventory = yaml.safe_load(inv.inventory.read_text())
    failing = "sh -c 'echo smoke: checking orders; echo smoke: FAIL POST /orders answered 500 >&2; exit 3'"
    inventory["environments"]["prod"]["smoke"]["scripts"] = ["./scripts/smoke-tests.sh", failing]
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    with load_loop() as load:
        result = inv("deploy.prod", "--version", version, *NO_MONITOR, env={"GHOST_INVENTORY": str(path)})
    assert result.returncode == 1
    assert f"smoke script {failing} failed against {color}" in result.stderr
    last = result.stderr.split("exit 3; last lines: ", 1)[1].splitlines()[0].split(" | ")
    # stdout and stderr come over SSH as two streams: their lines keep no order between them
    assert sorted(last) == ["smoke: FAIL POST /orders answered 500", "smoke: checking orders"]
    assert "last 2 lines of app1's output:" in result.stderr
    assert load.failures == [] and set(load.answers) == {(old_color, old_version)}
    assert set(lb_answers(5)) == {(old_color, old_version)}
    assert (lab.lb_state_dir / FLAG).exists() == (old_color == "green")
    state = json.loads((lab.lb_state_dir / "state.json").read_text())
    assert state["active"] == old_color and state["intent"] is None
    history = [json.loads(line) for line in (lab.lb_state_dir / "history.jsonl").read_text().splitlines()]
    assert (history[-1]["result"], history[-1]["failed_step"]) == ("failed", f"smoke test {color}")
    # the first script passed against the new colour before the second failed
    assert f"smoke-script-{color}-{version}" in {request_id for _, request_id in logged_ids(lab, "app1", color)}
