"""The canary against the lab: the split by hand measured through the LB and by the app's own counters, a good
release promoted through its steps under load with no failed request, and the errors release aborted at 10 %
with the failures only in the canary's share, state.json and history.jsonl on the LB read directly.

Order matters: each test starts where the last ended (test_1 brings the lab to a known start).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from bench.lab_load import Load
from tests.lab.world import COLOR_HEADER, Start, bring_to, lb_answers

LB_ADDRESS, LB_PORT = "127.0.0.10", 80
HEALTH = "/api/v1/health"
POST_PATH, POST_BODY = "/api/v1/auth/refresh", b'{"refresh_token": "ghosttasks-canary-not-a-token"}'
APP_HOSTS = ("127.0.0.11", "127.0.0.12")
API_PORTS = {"blue": 8001, "green": 8002}
COOKIE = "ghost_canary"
INTERVAL = 2.0  # the lab's monitoring.interval_seconds (and Prometheus' scrape interval)
CANARY_LINK = "ghostworks-canary"
ROOT = Path(__file__).resolve().parents[2]


def other(color: str) -> str:
    return "green" if color == "blue" else "blue"


def variant(tmp_path, **canary) -> dict:
    """lab/hosts.yml with these canary settings (short steps for the lab; a p95 margin that the lab's shared two
    cores cannot cross by noise alone, its health answers taking milliseconds); the env that selects it."""
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    data["environments"]["prod"]["canary"] = {"p95_margin_seconds": 0.3, **canary}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return {"GHOST_INVENTORY": str(path)}


#: Clients `ask` runs in parallel, each on its own keep-alive connection: the LB and the four api processes answer
#: them side by side (2,000 requests one after another took about 45 s on the lab's two cores).
CLIENTS = 8


def ask(count: int, cookies: list[str] | None = None) -> list[tuple[str, str | None]]:
    """`count` GETs through the LB, each with its own canary cookie (or the given ones), spread over CLIENTS
    keep-alive connections in parallel: (cookie, the colour header of the answer), in the cookies' order."""
    cookies = cookies or [uuid.uuid4().hex for _ in range(count)]

    def one_client(part: list[str]) -> list[tuple[str, str | None]]:
        answers = []
        with httpx.Client(base_url=f"http://{LB_ADDRESS}", timeout=5) as client:
            for cookie in part:
                response = client.get(HEALTH, headers={"Cookie": f"{COOKIE}={cookie}"})
                assert response.status_code == 200, response.text
                answers.append((cookie, response.headers.get(COLOR_HEADER)))
        return answers

    size = -(-len(cookies) // CLIENTS)
    parts = [cookies[start : start + size] for start in range(0, len(cookies), size)]
    with ThreadPoolExecutor(len(parts)) as pool:
        return [answer for part in pool.map(one_client, parts) for answer in part]


def seeded_cookies(count: int, seed: int) -> list[str]:
    """`count` canary cookies drawn from random.Random(seed): the same clients on every run, so a share measured
    over them is the same on every run. New uuid4 clients made the issue's ±3 points a bound of 2.7 standard
    deviations at 50 %: about one run in 140 would fail by chance."""
    draw = random.Random(seed)
    return [f"{draw.getrandbits(128):032x}" for _ in range(count)]


def app_requests(color: str) -> float:
    """The requests the api of `color` counted itself (ghostworks_http_requests_total, every app host)."""
    total = 0.0
    for host in APP_HOSTS:
        text = httpx.get(f"http://{host}:{API_PORTS[color]}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith("ghostworks_http_requests_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def read_state(lab) -> dict:
    return json.loads((lab.lb_state_dir / "state.json").read_text())


def last_history(lab) -> dict:
    return json.loads((lab.lb_state_dir / "history.jsonl").read_text().splitlines()[-1])


@dataclass
class CookieLoad:
    """Clients with distinct canary cookies through the LB, one thread per kind: new connection per GET, keep-alive
    GET and keep-alive POST (http.client, never retried). Every answer: time, kind, cookie, colour header, failure."""

    clients: int = 300
    pause: float = 0.01
    max_seconds: float = 240
    answers: list[tuple[float, str, str, str | None, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        kinds = ("new_get", "keepalive_get", "keepalive_post")
        self._threads = [threading.Thread(target=self._loop, args=(kind,), daemon=True) for kind in kinds]

    def __enter__(self) -> CookieLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _loop(self, kind: str) -> None:
        deadline = time.monotonic() + self.max_seconds
        post = kind == "keepalive_post"
        connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=5)
        number = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            cookie = f"{kind}-{number % self.clients}"
            number += 1
            headers = {"Cookie": f"{COOKIE}={cookie}"}
            if post:
                headers["Content-Type"] = "application/json"
            colour = failure = None
            try:
                if kind == "new_get":
                    connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=5)
                connection.request(
                    "POST" if post else "GET", POST_PATH if post else HEALTH, POST_BODY if post else None, headers
                )
                response = connection.getresponse()
                response.read()
                colour = response.getheader(COLOR_HEADER)
                if response.status >= 500:
                    failure = f"HTTP {response.status}"
                if kind == "new_get":
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                failure = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=5)
            self.answers.append((time.monotonic(), kind, cookie, colour, failure))
            time.sleep(self.pause)
        connection.close()

    def failures(self) -> list[tuple[float, str, str, str | None, str | None]]:
        return [answer for answer in self.answers if answer[4]]


class LinkWatch:
    """When the LB's canary link appears and disappears (polled every 20 ms from the LB's own files)."""

    def __init__(self, lab) -> None:
        self.path = lab.lb_state_dir / CANARY_LINK
        self.appeared: float | None = None
        self.gone: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> LinkWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            present = os.path.lexists(self.path)
            now = time.monotonic()
            if present and self.appeared is None:
                self.appeared = now
            if not present and self.appeared is not None and self.gone is None:
                self.gone = now
            time.sleep(0.02)


@pytest.fixture(scope="module")
def serving(lab, inv) -> str:
    """v1.0.0 serves on one colour, the other holds v1.1.0: the next deploy goes into the other. The LB config
    with the canary's buckets is installed by bring_to when it is not, not under the test's load; a canary left
    by an interrupted run of this module is ended."""
    if os.path.lexists(lab.lb_state_dir / CANARY_LINK):
        inv.ok("traffic.canary", "0", "--yes")
    return bring_to(lab, inv, Start("v1.0.0", "v1.1.0", color=None))


def test_1_a_good_release_promotes_through_its_steps_with_no_failed_request(lab, inv, serving, tmp_path):
    target = other(serving)
    # one reading per step when it is conclusive (a step holds on an inconclusive one): the steps are judged as with
    # longer ones, the load sees the split, each step's change and the full switch
    env = variant(tmp_path, step_seconds=INTERVAL, min_requests=10, max_inconclusive_readings=10)
    with Load(max_seconds=240) as bench, CookieLoad() as load, LinkWatch(lab) as link:
        result = inv(
            "deploy.prod", "--version", "v1.1.0", "--canary", "10,50", "--monitor-minutes", "0", "--yes", env=env
        )
    assert result.returncode == 0, result.stderr
    assert "canary 10%: promoted" in result.stdout and "canary 50%: promoted" in result.stdout
    # every client kind of the zero-downtime benchmark, and every cookie client: not one failed request
    assert {kind: stats.failed for kind, stats in bench.stats.items()} == dict.fromkeys(bench.stats, 0)
    assert load.failures() == []
    assert all(stats.requests > 50 for stats in bench.stats.values())
    # the canary really split: during it, both colours answered the cookie clients; at the end only the new one
    assert link.appeared is not None and link.gone is not None
    during = Counter(colour for t, _, _, colour, _ in load.answers if link.appeared < t < link.gone)
    assert during[target] and during[serving], during
    assert not os.path.lexists(lab.lb_state_dir / CANARY_LINK)
    assert set(lb_answers(10)) == {(target, "v1.1.0")}
    entry = last_history(lab)
    assert entry["result"] == "ok" and entry["task"] == "deploy.prod"
    assert [(step["percent"], step["result"]) for step in entry["canary"]] == [(10, "promote"), (50, "promote")]
    assert read_state(lab)["active"] == target
    print(
        f"good canary: {len(load.answers)} cookie requests, {sum(s.requests for s in bench.stats.values())} bench "
        f"requests, 0 failed; canary on the LB for {link.gone - link.appeared:.1f} s"
    )


def test_2_the_split_by_hand_is_sticky_and_measured_by_the_lb_and_the_apps(lab, inv):
    state = read_state(lab)
    stable, canary = state["active"], other(state["active"])
    figures = {}
    for percent in (5, 25, 50):
        inv.ok("traffic.canary", str(percent), "--yes")
        before = {color: app_requests(color) for color in ("blue", "green")}
        # 2,000 clients new to the LB, the same 2,000 on every run: one standard deviation of a share measured over
        # random clients is sqrt(p(1-p)/2000), 0.49 points at 5 %, 0.97 at 25 %, 1.12 at 50 %; the issue's ±3 points
        # is 6.1, 3.1 and 2.7 of them, so the clients are drawn once (seeded), not anew on each run
        answers = ask(0, seeded_cookies(2000, seed=percent))
        after = {color: app_requests(color) for color in ("blue", "green")}
        counted = Counter(colour for _, colour in answers)
        share = 100 * counted[canary] / len(answers)
        assert abs(share - percent) <= 3, (percent, counted)
        # the apps' own counters agree with the LB's answers (each health answer counted once by its colour)
        assert after[canary] - before[canary] == counted[canary], (before, after, counted)
        assert after[stable] - before[stable] == counted[stable], (before, after, counted)
        # the same cookie never changes colour within a step: 300 clients asked again, on other connections
        again = ask(0, [cookie for cookie, _ in reversed(answers[:300])])
        first = dict(answers[:300])
        assert all(first[cookie] == colour for cookie, colour in again)
        figures[percent] = round(share, 2)
        if percent == 25:
            # traffic.status measures with random clients of its own: over 800 of them ±7 points is 4.6 standard
            # deviations (over 400 it was 3.2: one run in 700 would fail by chance)
            shares = inv.json("traffic.status", "--share-requests", "800")["shares"]
            assert shares["set"] == {canary: 25, stable: 75}
            assert abs(shares["measured"][canary] - 25) <= 7 and shares["failures"] == 0, shares
            testers = Counter(
                httpx.get(f"http://{LB_ADDRESS}{HEALTH}", headers={"X-Canary": "1"}, timeout=5).headers[COLOR_HEADER]
                for _ in range(20)
            )
            assert testers == {canary: 20}
    inv.ok("traffic.canary", "0", "--yes")
    assert Counter(colour for _, colour in ask(400)) == {stable: 400}
    assert not os.path.lexists(lab.lb_state_dir / CANARY_LINK)
    print(f"canary share measured over 2000 new clients per step: {figures}")


def test_3_the_errors_release_aborts_at_ten_percent_with_failures_only_in_the_canary(lab, inv, tmp_path):
    state = read_state(lab)
    stable, canary = state["active"], other(state["active"])
    stable_version = state["colors"][stable]["version"]
    env = variant(tmp_path, step_seconds=120, min_requests=10, max_inconclusive_readings=10)
    with CookieLoad() as load, LinkWatch(lab) as link:
        result = inv(
            "deploy.prod", "--version", "v1.2.0-errors", "--canary", "10", "--monitor-minutes", "0", "--yes", env=env
        )
        time.sleep(2)  # the clients go on after the abort: every one of them is back on the stable colour
    assert result.returncode == 1
    assert "canary aborted: step 10%: error rate" in result.stderr
    failures = load.failures()
    assert failures and {colour for _, _, _, colour, _ in failures} == {canary}
    first_failure = min(t for t, *_ in failures)
    assert link.appeared is not None and link.gone is not None
    took = link.gone - first_failure
    # the trigger needs one reading; Prometheus needs two scrapes of the new 5xx series before rate() sees it
    bound = INTERVAL * 1 + INTERVAL + 2 * INTERVAL + 1.0
    assert took <= bound, (took, bound)
    after = [answer for answer in load.answers if answer[0] > link.gone + 0.5]
    assert after and {colour for *_, colour, _ in after} == {stable} and not [a for a in after if a[4]]
    during = [answer for answer in load.answers if link.appeared < answer[0] < link.gone]
    share = 100 * sum(1 for answer in during if answer[3] == canary) / len(during)
    # reality on the LB: the flag still on the stable colour, the failed release marked in state.json, history true
    assert set(lb_answers(10)) == {(stable, stable_version)}
    state = read_state(lab)
    assert state["active"] == stable
    assert state["colors"][canary]["failed_version"] == "v1.2.0-errors"
    entry = last_history(lab)
    assert entry["result"] == "canary_aborted" and entry["version"] == "v1.2.0-errors"
    assert re.match(
        rf"step 10%: error rate \d+\.\d% on {canary} v1\.2\.0-errors vs 0\.0% on {stable} ", entry["trigger"]
    )
    assert entry["canary"][-1]["metric"] == "error rate"
    print(
        f"errors canary: aborted {took:.2f} s after the first failed request (bound {bound:g} s); "
        f"{len(failures)} failed of {len(load.answers)}, all on {canary}; canary share while split {share:.1f}%"
    )


def wait_until(condition, seconds: float) -> float:
    """Poll `condition` every 20 ms until true; the monotonic time it became true (AssertionError after `seconds`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"not true within {seconds} s")


def drained(process) -> list[str]:
    """The process's output, read in a thread (a long deploy must not block on a full pipe)."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return lines


def test_4_sigterm_and_a_killed_run_leave_no_client_on_the_canary(lab, inv, tmp_path):
    stable = read_state(lab)["active"]
    link = lab.lb_state_dir / CANARY_LINK
    env = variant(tmp_path, step_seconds=120, min_requests=10, max_inconclusive_readings=100)
    argv = ("deploy.prod", "--version", "v1.1.0", "--canary", "50", "--monitor-minutes", "0", "--yes")

    process = inv.background(*argv, env=env, merge_stderr=True)
    output = drained(process)
    wait_until(lambda: os.path.lexists(link), 240)
    assert Counter(colour for _, colour in ask(200)).keys() == {"blue", "green"}  # the canary really splits
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130, "".join(output)
    assert not os.path.lexists(link)
    assert Counter(colour for _, colour in ask(200)) == {stable: 200}
    assert last_history(lab)["result"] == "interrupted"

    process = inv.background(*argv, env=env, merge_stderr=True)
    output = drained(process)
    wait_until(lambda: os.path.lexists(link), 240)
    time.sleep(INTERVAL * 2)  # the run renews the lease every reading
    process.kill()
    process.wait(timeout=10)
    killed = time.monotonic()
    inv.ok("deploy.unlock", "--force")  # the dead run's lock, released while the LB's watchdog counts (no canary)
    took = wait_until(lambda: not os.path.lexists(link), 40) - killed
    assert took <= 15 + 2 + 1, took  # the lease (15 s in the lab), the watchdog's poll, stat's whole seconds
    assert Counter(colour for _, colour in ask(200)) == {stable: 200}
    inv.ok("deploy.recover")
    print(f"killed mid-canary: the LB's watchdog cleared the canary {took:.1f} s after the kill")
