"""The switch over two LBs as it runs: phase one reads both before touching either, both flags flip, each LB is
verified through its own address, and any failure sends the others back with one line per LB. Also the emergency
rollback's flip, traffic.status's agreement and traffic.install on every LB."""

from __future__ import annotations

import pytest
import yaml

from ghosttasks.commands import nginx, render
from ghosttasks.config.inventory import load_inventory
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.flows.status import read_selector
from ghosttasks.flows.steps.switching import emergency_flip, switch_traffic, verify_or_switch_back
from ghosttasks.testing import SHIPPED_INVENTORY, ScriptedExecutor, a_run

LB2 = {"name": "lb2", "address": "lb2.internal.ghostworks.dev", "roles": ["lb"]}
FLAG = "/var/lib/ghosttasks/ghostworks-active-green"


def two_lbs(tmp_path, **lb):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    prod = data["environments"]["prod"]
    prod["hosts"].insert(1, dict(LB2))
    prod["lb"].update(lb)
    path = tmp_path / "hosts-two-lbs.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_inventory(path).env("prod")


def live(env, color: str) -> str:
    """What an LB whose config is current and whose flag selects `color` answers to the phase-one read."""
    return (
        "".join(f"{text}{nginx.CONFIG_MARK}\n" for text in (render.upstream(env), render.selector(env))) + f"{color}\n"
    )


def executor(env, before=("blue", "blue")) -> ScriptedExecutor:
    scripted = ScriptedExecutor(env, unscripted="empty")
    for name, color in zip(("lb1", "lb2"), before, strict=True):
        scripted.on(nginx.CONFIG_MARK, live(env, color), host=name)
    return scripted


def flag_commands(scripted: ScriptedExecutor) -> list[tuple[str, str]]:
    return [(c.host, c.command) for c in scripted.commands if FLAG in c.command and "if [ -e" not in c.command]


def test_the_inventory_accepts_two_lbs_and_keeps_state_on_one(tmp_path):
    env = two_lbs(tmp_path)
    assert [host.name for host in env.lb_hosts] == ["lb1", "lb2"] and env.lb_host.name == "lb1"
    assert two_lbs(tmp_path, state_host="lb2").lb_host.name == "lb2"
    assert env.lb_own_health_url(env.lb_hosts[1]) == "https://lb2.internal.ghostworks.dev/api/v1/health"


def test_both_flags_flip_after_both_lbs_were_read(tmp_path):
    env = two_lbs(tmp_path)
    scripted = executor(env)
    before = switch_traffic(a_run(scripted, task="traffic.switch"), "green", "v1.1.0")
    assert before == {"lb1": "blue", "lb2": "blue"}
    reads = [i for i, c in enumerate(scripted.commands) if nginx.CONFIG_MARK in c.command]
    flips = [i for i, c in enumerate(scripted.commands) if c.command.endswith(f"touch {FLAG}")]
    assert len(reads) == 2 and len(flips) == 2 and max(reads) < min(flips)
    assert {scripted.commands[i].host for i in flips} == {"lb1", "lb2"}


def test_an_unreachable_lb_refuses_the_switch_before_either_is_touched(tmp_path):
    env = two_lbs(tmp_path)
    scripted = ScriptedExecutor(env).on(
        nginx.CONFIG_MARK, stderr="ssh: connect: Connection refused", exit_code=255, host="lb2"
    )
    scripted.on(nginx.CONFIG_MARK, live(env, "blue"), host="lb1")
    with pytest.raises(OperationFailed) as caught:
        switch_traffic(a_run(scripted, task="traffic.switch"), "green", "v1.1.0")
    assert str(caught.value) == (
        "no LB was touched:\nlb2: unreachable over SSH ([lb2] exit 255: ssh: connect: Connection refused)"
    )
    assert caught.value.hint == "a switch needs every LB: make lb2 reachable over SSH, then retry"
    assert flag_commands(scripted) == []


def test_a_never_set_up_lb_refuses_naming_traffic_install(tmp_path):
    env = two_lbs(tmp_path)
    scripted = ScriptedExecutor(env).on(nginx.CONFIG_MARK, live(env, "blue"), host="lb1")
    scripted.on(nginx.CONFIG_MARK, f"{nginx.CONFIG_MARK}\n{nginx.CONFIG_MARK}\nblue\n", host="lb2")
    with pytest.raises(OperationFailed, match="lb2: never set up by ghosttasks") as caught:
        switch_traffic(a_run(scripted, task="traffic.switch"), "green", "v1.1.0")
    assert "inv traffic.install --env prod" in caught.value.hint
    assert flag_commands(scripted) == []


def test_a_flag_that_cannot_move_sends_the_other_lb_back_one_line_each(tmp_path):
    env = two_lbs(tmp_path)
    scripted = executor(env).on(f"touch {FLAG}", stderr="touch: Read-only file system", exit_code=1, host="lb2")
    with pytest.raises(OperationFailed) as caught:
        switch_traffic(a_run(scripted, task="traffic.switch"), "green", "v1.1.0")
    assert str(caught.value) == (
        "the switch failed, one line per LB:\n"
        "lb1: flipped to green; switched back with the others\n"
        "lb2: flag not moved to green: [lb2] exit 1: touch: Read-only file system"
    )
    assert ("lb1", f"rm -f {FLAG}") == flag_commands(scripted)[-1]


def test_an_lb_that_fails_its_flip_back_is_named_with_the_repair(tmp_path):
    env = two_lbs(tmp_path)
    scripted = executor(env).on(f"touch {FLAG}", stderr="touch: Read-only file system", exit_code=1, host="lb2")
    scripted.on(f"rm -f {FLAG}", stderr="Connection reset", exit_code=255, host="lb1")
    with pytest.raises(OperationFailed) as caught:
        switch_traffic(a_run(scripted, task="traffic.switch"), "green", "v1.1.0")
    assert str(caught.value).splitlines()[-1] == (
        "lb1: could not be switched back to blue: it still serves green; repair: inv traffic.switch blue"
    )


def test_each_lb_flips_back_to_what_it_served(tmp_path):
    """A split repaired by a switch: lb1 already served green; a failure sends lb1 to green (as it was), not blue."""
    env = two_lbs(tmp_path)
    scripted = executor(env, before=("green", "blue"))
    scripted.on(f"touch {FLAG}", stderr="touch: Read-only file system", exit_code=1, host="lb2")
    with pytest.raises(OperationFailed):
        switch_traffic(a_run(scripted, task="traffic.switch"), "green", "v1.1.0")
    touch = f"mkdir -p /var/lib/ghosttasks && touch {FLAG}"
    assert sorted(flag_commands(scripted)) == [("lb1", touch), ("lb1", touch), ("lb2", touch)]


def sample(url: str, color: str, version: str) -> probes.TrafficSample:
    found = probes.TrafficSample(url, color_header="X-Served-Color")
    found.answers[(color, version)] = 10
    return found


def test_each_lb_is_verified_through_its_own_address_and_a_failure_sends_both_back(tmp_path):
    env = two_lbs(tmp_path)
    scripted = executor(env)
    lb2_url = "https://lb2.internal.ghostworks.dev/api/v1/health"
    scripted.on_probe(lb2_url, lambda check: sample(lb2_url, "blue", "v1.0.0"))
    run = a_run(scripted, task="traffic.switch")
    with pytest.raises(OperationFailed) as caught:
        verify_or_switch_back(run, "green", "v1.1.0", "blue", "v1.0.0")
    assert str(caught.value) == (
        "the switch failed, one line per LB:\n"
        "lb1: flipped to green; switched back with the others\n"
        f"lb2: flipped to green but its own address does not answer green only: traffic check failed: 10 requests to "
        f"{lb2_url}: 10x blue v1.0.0"
    )
    assert sorted(flag_commands(scripted)) == [("lb1", f"rm -f {FLAG}"), ("lb2", f"rm -f {FLAG}")]
    probed = [line for line in scripted.entries if line.startswith("probe GET")]
    assert any("https://lb1.internal.ghostworks.dev/api/v1/health" in line for line in probed)
    assert any(lb2_url in line for line in probed)


def test_the_emergency_flip_flips_what_it_reaches_and_names_the_rest(tmp_path):
    env = two_lbs(tmp_path)
    scripted = ScriptedExecutor(env).on(
        f"rm -f {FLAG}", stderr="ssh: connect: Connection refused", exit_code=255, host="lb2"
    )
    code, lines, flipped = emergency_flip(a_run(scripted, task="deploy.emergency-rollback"), "blue")
    assert code == 1 and [host.name for host in flipped] == ["lb1"]
    assert lines == [
        "lb1: now sends traffic to blue",
        "lb2: NOT flipped: [lb2] exit 255: ssh: connect: Connection refused",
        "flip lb2 by hand, or once reachable: inv traffic.switch blue",
    ]


def test_status_reports_a_split_with_the_command_that_repairs_it(tmp_path):
    env = two_lbs(tmp_path)
    report = read_selector(a_run(executor(env, before=("green", "blue")), task="traffic.status"))
    assert report["color"] is None and report["hosts"]["lb1"]["color"] == "green"
    assert report["problem"] == (
        "the LBs disagree (lb1 green, lb2 blue): traffic is split; repair with inv traffic.switch <colour> --env prod"
    )
    agreed = read_selector(a_run(executor(env, before=("green", "green")), task="traffic.status"))
    assert agreed["color"] == "green" and "problem" not in agreed


def test_the_preflight_names_an_unreachable_lb_before_anything_is_fetched(tmp_path):
    from ghosttasks.flows.steps.switching import require_installed

    env = two_lbs(tmp_path)
    scripted = ScriptedExecutor(env).on("[ -e ", stderr="ssh: connect: Connection refused", exit_code=255, host="lb2")
    with pytest.raises(OperationFailed) as caught:
        require_installed(a_run(scripted, task="deploy.prod"))
    assert str(caught.value) == (
        "no LB was touched:\nlb2: unreachable over SSH ([lb2] exit 255: ssh: connect: Connection refused)"
    )


def test_the_emergency_rollback_with_one_lb_unreachable_still_freezes_and_records_then_exits_non_zero(tmp_path):
    from ghosttasks.flows.emergency import emergency_rollback

    env = two_lbs(tmp_path)
    scripted = ScriptedExecutor(env, dry_run=True, unscripted="assume")
    scripted.on(f"rm -f {FLAG}", stderr="ssh: connect: Connection refused", exit_code=255, host="lb2")
    run = a_run(scripted, task="deploy.emergency-rollback")
    with pytest.raises(OperationFailed) as caught:
        emergency_rollback(run, reason="p95 over 5 s")
    assert str(caught.value) == (
        "the emergency rollback could not flip every LB:\n"
        "lb1: now sends traffic to blue\n"
        "lb2: NOT flipped: [lb2] exit 255: ssh: connect: Connection refused\n"
        "flip lb2 by hand, or once reachable: inv traffic.switch blue"
    )
    ran = [(c.host, c.command) for c in scripted.commands]
    assert ("lb1", f"rm -f {FLAG}") in ran
    assert any(host == "lb1" and '"frozen": true' in command for host, command in ran)  # deploys frozen
    assert any(upload.path.endswith("state.json") for upload in scripted.uploads)  # the state LB's record
    probed = [line for line in scripted.entries if line.startswith("probe GET https://lb")]
    assert [line.split()[2] for line in probed] == ["https://lb1.internal.ghostworks.dev/api/v1/health"]
