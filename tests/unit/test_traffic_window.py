"""The LB access log as the triggers' source: the bounded read's exact command, its answer, the window's numbers."""

import subprocess

import pytest

from ghosttasks.commands.access_log import LogWindow, parse_window, read_window
from ghosttasks.decisions.traffic_window import Traffic, traffic, window_seconds

NOW = 1_796_636_420.0


def line(at, status, took, color):
    return f"gt1 {NOW - at:.3f} {status} {took:.3f} {color}"


def test_the_read_command_is_bounded_and_filtered_on_the_lb():
    assert read_window("/var/lib/ghosttasks/ghostworks-access.log", 60) == (
        'if [ -r /var/lib/ghosttasks/ghostworks-access.log ]; then now=$(date +%s); echo "now $now"; '
        'tail -n 20000 /var/lib/ghosttasks/ghostworks-access.log | awk -v since="$((now - 60))" '
        "'$1 == \"gt1\" && $2 >= since'; "
        "elif [ -e /var/lib/ghosttasks/ghostworks-access.log ]; then echo unreadable; else echo missing; fi"
    )


def test_the_read_command_runs_in_a_real_shell(tmp_path):
    log = tmp_path / "access.log"
    sh = ["sh", "-c"]
    assert subprocess.run([*sh, read_window(str(log), 60)], capture_output=True, text=True).stdout == "missing\n"
    import time

    now = time.time()
    log.write_text(f"gt1 {now - 600:.3f} 200 0.010 blue\nother format\ngt1 {now:.3f} 502 0.200 green\n")
    found = parse_window(subprocess.run([*sh, read_window(str(log), 60)], capture_output=True, text=True).stdout)
    assert found.lines == [f"gt1 {now:.3f} 502 0.200 green"] and abs(found.now - now) < 2


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("missing\n", LogWindow(None, problem="missing")),
        ("unreadable\n", LogWindow(None, problem="unreadable")),
        ("now 1796636420\n", LogWindow(1796636420.0, [])),
        ("now 1796636420\ngt1 1.0 200 0.1 blue\n\n", LogWindow(1796636420.0, ["gt1 1.0 200 0.1 blue"])),
    ],
)
def test_the_answer_of_a_read(text, window):
    assert parse_window(text) == window


def test_an_answer_that_is_no_read_is_an_error():
    with pytest.raises(ValueError, match="not an access-log read"):
        parse_window("bash: tail: command not found\n")


def test_one_colours_requests_in_the_window():
    lines = [
        line(70, 500, 9.0, "green"),  # before the window
        line(50, 200, 0.1, "green"),
        line(40, 503, 0.3, "green"),
        line(30, 200, 0.2, "green"),
        line(20, 404, 0.1, "green"),  # 4xx: the client's, not an error of the app
        line(10, 502, 1.5, "blue"),  # the other colour
        "gt1 garbage 200 0.1 green",
        "gt2 1796636419.0 200 0.1 green",
    ]
    found = traffic(lines, "green", now=NOW, seconds=60)
    assert found == Traffic("green", 4, 1, pytest.approx(0.285), skipped=2)
    assert found.error_rate == 0.25
    assert found.summary() == "4 requests, 1 5xx (25.0%), p95 0.28 s"
    assert traffic(lines, "blue", now=NOW, seconds=60).error_rate == 1.0


def test_no_request_in_the_window_is_not_a_zero():
    found = traffic([line(90, 200, 0.1, "blue")], "blue", now=NOW, seconds=60)
    assert (found.requests, found.error_rate, found.p95) == (0, None, None)
    assert found.summary() == "no requests to blue"


@pytest.mark.parametrize(("window", "seconds"), [("20s", 20), ("1m", 60), ("2h", 7200)])
def test_window_seconds(window, seconds):
    assert window_seconds(window) == seconds


def test_a_window_that_is_no_duration():
    with pytest.raises(ValueError):
        window_seconds("1d")
