"""What the operator sees, on the real lab: a deploy without a terminal prints plain lines (no control
characters, no BuildKit progress) while the run log keeps the whole build; on a terminal (a pty) the steps
show as a live list ending with the summary table; --verbose streams the build as before.

Named test_56 (beside test_55_observability) so that it runs on the flat lab the earlier modules left up (no
topology switch before test_60).
Starts from any good release serving (the lab as the module before left it when one does: world.bring_to_serving);
each deploy of v1.3.0 goes into whichever colour is idle.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.lab.conftest import ROOT, ghost_command
from tests.lab.world import bring_to_serving, forget_in_registry, lb_answers

DEPLOY = ("deploy.prod", "--version", "v1.3.0", "--monitor-minutes", "0", "--yes")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n
BUILDKIT_STREAMED = re.compile(r"^\[app\d\] #\d+ ", re.MULTILINE)  # a BuildKit line as --verbose prints it
DOCKERFILE = ROOT / "lab" / "app" / "Dockerfile"


def build_instructions() -> list[str]:
    """The Dockerfile's WORKDIR and COPY steps as BuildKit names them (`COPY . /app`), read from the file."""
    return [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.startswith(("WORKDIR", "COPY"))]


def run_log(stdout: str) -> list[dict]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("run log:")]
    return [json.loads(record) for record in Path(line.split(":", 1)[1].strip()).read_text().splitlines()]


@pytest.fixture(scope="module", autouse=True)
def deployable(lab, inv):
    bring_to_serving(lab, inv)


def test_a_deploy_without_a_terminal_is_plain_and_the_run_log_holds_the_build(lab, inv):
    forget_in_registry(lab, "v1.3.0")  # build once would take the registry's images: this test examines a build
    result = inv.ok(*DEPLOY)
    printed = result.stdout + result.stderr
    assert not CONTROL.search(printed), repr(CONTROL.search(printed))
    assert not BUILDKIT_STREAMED.search(printed)
    for host, phases in (("app1", ("build", "up")), ("app2", ("up",))):  # build once: on the build host only
        for phase in phases:
            assert f"[{host}] {phase}: running (output folded into the run log; --verbose shows it)" in printed
            done = rf"^\[{host}\] {phase} done in [\d.]+ s \(\d+ lines in the run log\)$"
            assert re.search(done, printed, re.MULTILINE), (host, phase)
    assert "[app2] build: running" not in printed
    assert "==> fetch and build" in printed and "deploy.prod on prod: ok in " in printed
    answers = set(lb_answers())
    assert len(answers) == 1 and next(iter(answers))[1] == "v1.3.0", answers
    assert "next:         ghost deploy." in printed

    records = run_log(result.stdout)
    for host in ("app1", "app2"):
        lines = [r["line"] for r in records if r["event"] == "output" and r["host"] == host]
        if host == "app1":  # the build host
            for instruction in build_instructions():  # every build step of the real Dockerfile, as BuildKit said it
                assert any(instruction in line and re.match(r"#\d+ \[", line) for line in lines), instruction
            assert any(line.startswith("#") and "naming to" in line for line in lines)  # the image was tagged
        assert any("Started" in line or "Running" in line for line in lines), host  # the `up` output on each


def on_terminal(inv, *args: str, timeout: float = 300) -> tuple[int, str]:
    """Run `ghost ARGS` with stdout and stderr on a pty of 120x40 (what an engineer's terminal is)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    environment = {
        **inv.environment(),
        "TERM": "xterm-256color",
        "COLUMNS": "120",
    }
    process = subprocess.Popen(
        ghost_command(*args),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env=environment,
    )
    os.close(child)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: every writer closed the pty
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    screen = b"".join(chunks).decode(errors="replace")
    print(screen)
    return code, screen


def test_a_deploy_on_a_terminal_shows_steps_live_no_buildkit_and_ends_with_the_summary(lab, inv):
    forget_in_registry(lab, "v1.3.0")  # build once would take the registry's images: this test examines a build
    code, screen = on_terminal(inv, *DEPLOY)
    assert code == 0
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "\x1b[" in screen  # a live view, redrawn in place
    assert not re.search(r"\[app\d\] #\d+ ", plain)
    for step in ("preflight", "fetch and build", "backup database", "migrate database", "switch traffic"):
        assert re.search(rf"✓ {step} +[\d.]+ s", plain), step
    status = r"build +[\d.]+ s  (\[(api|web) \d+/\d+\]|DONE|CACHED|naming to|\d+ lines in the run log)"
    assert re.search(status, plain)  # the build host's status line (a cached build is done in a blink)
    summary = plain[plain.rindex("deploy.prod on prod: ok in ") :]
    assert "┃ step" in summary and "│ fetch and build" in summary and "run log:" in summary
    answers = set(lb_answers())
    assert len(answers) == 1 and next(iter(answers))[1] == "v1.3.0", answers


def test_verbose_streams_the_build_as_before(lab, inv):
    forget_in_registry(lab, "v1.3.0")  # build once would take the registry's images: this test examines a build
    result = inv.ok(*DEPLOY, "--verbose")
    assert BUILDKIT_STREAMED.search(result.stdout + result.stderr)
    assert "build: running (output folded" not in result.stdout
