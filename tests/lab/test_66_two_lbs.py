"""Two LBs, against the lab's real nginx pair: lb (127.0.0.10) and lb2 (127.0.0.21, its own sshd and nginx, the same
paths with its own files: lab/labctl/hosts.py), both declared as `lb` hosts of prod, the public URL on https (the
lab CA as probes.ca_file: every LB is verified over TLS through its own address).

Checked against reality by this module itself: each LB's flag file (lb's at Layout.lb_state_dir, lb2's under
Layout.lb2_view) and each LB's answers (its colour header and version, over https with the lab CA, or plain http
for the load loops). Proven: traffic.install sets up both; traffic.status reports a split with its repair; switch,
deploy, rollback and emergency rollback flip both; with lb2's sshd stopped a switch refuses before touching either
and an emergency rollback flips lb and names lb2 (exit non-zero); with lb2's flag made unwritable after the check
(a wrapper on lb2's PATH remounts its state dir read-only when the flip runs), the switch sends lb back and fails;
ten switches under load on both LBs fail no request. Switch and emergency timings with two LBs and with one are
printed (`-s`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time

import httpx
import pytest
import yaml

from lab.labctl.processes import is_alive
from tests.lab.conftest import ROOT, Inv
from tests.lab.world import COLOR_HEADER, NO_MONITOR, LoadLoop, Start, bring_to

LB1, LB2 = "127.0.0.10", "127.0.0.21"
FLAG = "ghostworks-active-green"
NEXT = "v1.2.0-nocolor"  # a healthy release on v1.1.0's schema: a deploy and a rollback without migrations
TIMINGS: dict[str, list[float]] = {}


def https_inv(lab, inv, *, two: bool) -> Inv:
    """`inv` against prod (declaring lb alone, or lb and lb2), its public URL on https with the lab CA trusted."""
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    prod = data["environments"]["prod"]
    hosts = prod["hosts"]
    if two:
        at = next(index for index, host in enumerate(hosts) if "lb" in host["roles"]) + 1
        hosts.insert(at, {"name": "lb2", "address": LB2, "roles": ["lb"]})
    prod["lb"]["public_url"] = f"https://{LB1}"
    prod.setdefault("probes", {})["ca_file"] = str(lab.lab_ca)
    path = inv.log_dir / f"hosts-{'two-lbs' if two else 'one-lb'}-https.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return Inv(inv.log_dir, path)


@pytest.fixture(scope="module")
def inv2(lab, inv) -> Inv:
    return https_inv(lab, inv, two=True)


@pytest.fixture(scope="module")
def inv1(lab, inv) -> Inv:
    return https_inv(lab, inv, two=False)


@pytest.fixture(scope="module", autouse=True)
def start(lab, inv, inv2):
    """Blue serves v1.0.0 on lb, green holds v1.1.0; lb2 as the lab left it (its own files)."""
    remove_wrappers(lab)
    bring_to(lab, inv, Start("v1.0.0", "v1.1.0", color="blue"))
    yield
    remove_wrappers(lab)
    for name, seconds in TIMINGS.items():
        print(
            f"timing {name}: " + ", ".join(f"{value:.2f}" for value in seconds) + f" s (median {median(seconds):.2f})"
        )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def flags(lab) -> dict[str, str]:
    """The colour each LB's selector reads from its own flag file (this machine's view of both machines)."""
    lb1 = lab.lb_state_dir / FLAG
    lb2 = lab.in_lb2_view(lb1)
    return {"lb": "green" if lb1.exists() else "blue", "lb2": "green" if lb2.exists() else "blue"}


def answers(lab, address: str, count: int = 8) -> set[tuple[str | None, str | None]]:
    """(colour header, version) of `count` answers of one LB over https (the lab CA), on new connections."""
    context = ssl.create_default_context(cafile=str(lab.lab_ca))
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(verify=context, timeout=5, limits=limits) as client:
        found = set()
        for _ in range(count):
            answer = client.get(f"https://{address}/api/v1/health")
            found.add((answer.headers.get(COLOR_HEADER), answer.json().get("version")))
    return found


def both(lab, color: str, version: str) -> None:
    """Reality: both flags select `color` and both LBs answer only from it."""
    assert flags(lab) == {"lb": color, "lb2": color}
    assert answers(lab, LB1) == {(color, version)}
    assert answers(lab, LB2) == {(color, version)}


#: the steps that move traffic, as the run's own history line times them (the rest of a run does not depend on
#: how many LBs there are)
TRAFFIC_STEPS = ("switch traffic", "verify traffic", "switch to the previous colour")


def timed(name: str, call, *args, **kwargs):
    """Run `call`; record the whole command's seconds and those of its traffic steps (from history.jsonl)."""
    started = time.monotonic()
    result = call(*args, **kwargs)
    TIMINGS.setdefault(f"{name} (whole command)", []).append(time.monotonic() - started)
    history = (lab_layout().lb_state_dir / "history.jsonl").read_text().splitlines()
    steps = json.loads(history[-1]).get("steps") or []
    seconds = sum(step["seconds"] for step in steps if step["name"] in TRAFFIC_STEPS)
    TIMINGS.setdefault(f"{name} (traffic steps)", []).append(seconds)
    return result


def lab_layout():
    from lab import labctl

    return labctl.layout()


def said(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def test_install_sets_up_both_lbs_with_the_same_rendered_files(lab, inv2):
    inv2.ok("traffic.install", "--yes")
    for path in (lab.upstream_path, lab.selector_path):
        assert lab.in_lb2_view(path).read_text() == path.read_text()
    assert "upstream ghostworks_api_blue" in lab.in_lb2_view(lab.upstream_path).read_text()
    # lb2's own nginx now selects by its own flag, through the rendered selector (its colour header), over TLS
    assert {color for color, _ in answers(lab, LB2)} == {flags(lab)["lb2"]}


def test_status_reports_a_split_with_the_command_that_repairs_it(lab, inv2):
    lab.in_lb2_view(lab.lb_state_dir / FLAG).touch()  # lb2 alone sends traffic to green
    assert flags(lab) == {"lb": "blue", "lb2": "green"}
    assert answers(lab, LB1) == {("blue", "v1.0.0")} and answers(lab, LB2) == {("green", "v1.1.0")}
    result = inv2("traffic.status")
    assert result.returncode == 1
    assert "the LBs disagree (lb blue, lb2 green): traffic is split" in said(result)
    assert "repair with ghost traffic.switch <colour> --env prod" in said(result)
    report = inv2.json("deploy.status")
    assert report["lb"]["hosts"]["lb"]["color"] == "blue" and report["lb"]["hosts"]["lb2"]["color"] == "green"


def test_a_switch_flips_both_lbs(lab, inv2):
    timed("switch, two LBs", inv2.ok, "traffic.switch", "blue", "--yes")  # repairs the split
    both(lab, "blue", "v1.0.0")
    result = timed("switch, two LBs", inv2.ok, "traffic.switch", "green", "--yes")
    assert f"https://{LB2}/api/v1/health" in result.stdout and "lb2 verified" in result.stdout
    both(lab, "green", "v1.1.0")
    assert "LBs select: green" in inv2.ok("traffic.status").stdout


def test_a_deploy_and_a_rollback_flip_both_lbs(lab, inv2):
    # into blue, the idle colour: v1.2.0-nocolor (v1.1.0's schema; its answers name no colour, the LBs' header does)
    inv2.ok("deploy.prod", "--version", NEXT, *NO_MONITOR)
    both(lab, "blue", NEXT)
    inv2.ok("deploy.rollback", "--yes")
    both(lab, "green", "v1.1.0")


def test_the_emergency_rollback_flips_both_lbs(lab, inv2):
    timed("emergency rollback, two LBs", inv2.ok, "deploy.emergency-rollback", "--reason", "two-LB drill")
    both(lab, "blue", NEXT)
    inv2.ok("deploy.unlock", "--force")


def stop_lb2_sshd(lab) -> None:
    """lb2 unreachable over SSH: its sshd and every session under it killed (its nginx keeps serving)."""
    listener = int(lab.pid_file("sshd-lb2").read_text())
    children = subprocess.run(["pgrep", "-P", str(listener)], capture_output=True, text=True).stdout.split()
    for pid in [listener, *map(int, children)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and is_alive(listener):
        time.sleep(0.1)


def start_lb2_sshd(lab) -> None:
    from lab.labctl.daemons import lab_daemons
    from lab.labctl.supervisor import start_daemon, wait_ready

    daemon = next(daemon for daemon in lab_daemons(lab) if daemon.name == "sshd-lb2")
    start_daemon(lab, daemon)
    wait_ready(lab, [daemon])


def test_with_lb2_unreachable_a_switch_refuses_before_touching_either(lab, inv2):
    assert flags(lab) == {"lb": "blue", "lb2": "blue"}
    stop_lb2_sshd(lab)
    try:
        result = inv2("traffic.switch", "green", "--yes")
        assert result.returncode == 1
        assert "no LB was touched" in said(result) and "lb2: unreachable over SSH" in said(result)
        assert flags(lab) == {"lb": "blue", "lb2": "blue"}
        assert answers(lab, LB1) == {("blue", NEXT)} and answers(lab, LB2) == {("blue", NEXT)}

        # the emergency rollback flips what it reaches (lb, to green: the previous colour) and names lb2
        result = timed(
            "emergency rollback, two LBs, lb2 unreachable", inv2, "deploy.emergency-rollback", "--reason", "x"
        )
        assert result.returncode == 1
        assert "lb: now sends traffic to green" in said(result)
        assert "lb2: NOT flipped" in said(result)
        assert "flip lb2 by hand, or once reachable: ghost traffic.switch green" in said(result)
        assert flags(lab) == {"lb": "green", "lb2": "blue"}
        assert answers(lab, LB1) == {("green", "v1.1.0")} and answers(lab, LB2) == {("blue", NEXT)}
    finally:
        start_lb2_sshd(lab)
    split = inv2("traffic.status")
    assert split.returncode == 1 and "the LBs disagree (lb green, lb2 blue)" in said(split)
    inv2.ok("deploy.unlock", "--force")
    inv2.ok("traffic.switch", "green", "--yes")  # the repair it named
    both(lab, "green", "v1.1.0")


WRAPPER = """#!/bin/sh
# lb2's flag made unwritable between the check and the flip: when the flip runs, lb2's state dir is remounted
# read-only (in lb2's own mount namespace, where this session runs), then the real command meets it.
case "$*" in *{flag}*)
    mount --bind {state} {state} && mount -o remount,bind,ro {state} ;;
esac
exec /usr/bin/{tool} "$@"
"""


def install_wrappers(lab) -> None:
    lab.lb2_bin.mkdir(parents=True, exist_ok=True)
    for tool in ("touch", "rm"):
        path = lab.lb2_bin / tool
        path.write_text(WRAPPER.format(flag=FLAG, state=lab.lb_state_dir, tool=tool))
        path.chmod(0o755)


def remove_wrappers(lab) -> None:
    """No wrapper on lb2's PATH and lb2's state dir writable again (unmounted in lb2's sshd's namespace)."""
    for tool in ("touch", "rm"):
        (lab.lb2_bin / tool).unlink(missing_ok=True)
    pid_file = lab.pid_file("sshd-lb2")
    if pid_file.exists():
        pid = pid_file.read_text().strip()
        while (
            subprocess.run(
                ["nsenter", "-t", pid, "-m", "umount", str(lab.lb_state_dir)], capture_output=True
            ).returncode
            == 0
        ):
            pass


def test_with_lb2_flag_unwritable_after_the_check_the_switch_sends_lb_back_and_fails(lab, inv2):
    assert flags(lab) == {"lb": "green", "lb2": "green"}
    install_wrappers(lab)
    try:
        result = inv2("traffic.switch", "blue", "--yes")
    finally:
        remove_wrappers(lab)
    assert result.returncode == 1
    text = said(result)
    assert "lb: flipped to blue; switched back with the others" in text
    assert "lb2: flag not moved to blue" in text and "Read-only file system" in text
    assert "switching lb back to green" in text
    both(lab, "green", "v1.1.0")
    status = inv2.json("deploy.status")
    assert status["active"] == "green" and not status["disagreements"] and status["lock"] is None


def test_ten_switches_under_load_on_both_lbs_fail_no_request(lab, inv2):
    loops = [LoadLoop(url=f"http://{address}/api/v1/health", max_seconds=240) for address in (LB1, LB2)]
    for loop in loops:
        loop.__enter__()
    try:
        for index in range(10):
            color = "blue" if index % 2 == 0 else "green"
            timed("switch, two LBs", inv2.ok, "traffic.switch", color, "--yes")
            assert flags(lab) == {"lb": color, "lb2": color}
    finally:
        for loop in loops:
            loop.__exit__()
    for loop in loops:
        print(f"{loop.url}: {loop.requests} requests, {len(loop.failures)} failed, answers {loop.answers}")
        assert loop.failures == []
        assert {version for _, version in loop.answers} == {"v1.1.0", NEXT}  # green's and blue's
    both(lab, "green", "v1.1.0")


def test_timings_with_one_lb_beside_two(lab, inv1, inv2):
    """The same switch and emergency rollback through prod declaring lb alone (also https, the lab CA): the figures
    beside the two-LB ones. lb2 is then brought back in line by a two-LB switch."""
    for color in ("blue", "green"):  # an informational figure: two beside the twelve two-LB switches
        timed("switch, one LB", inv1.ok, "traffic.switch", color, "--yes")
    timed("emergency rollback, one LB", inv1.ok, "deploy.emergency-rollback", "--reason", "one-LB timing")
    inv1.ok("deploy.unlock", "--force")
    assert flags(lab) == {"lb": "blue", "lb2": "green"}
    inv2.ok("traffic.switch", "green", "--yes")
    both(lab, "green", "v1.1.0")
