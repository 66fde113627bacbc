"""A request that started on the old colour finishes there after the switch (no reload: nothing is cut off).

The client sends a POST's headers and half its body, the switch runs (a few seconds), then the client
sends the rest: nginx chose the colour when the request began, so the old colour answers it, on the
same connection, while new connections already reach the new colour.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.lab.world import Start, bring_to, lb_answers, served

LB = ("127.0.0.10", 80)
PORTS = {"blue": 8001, "green": 8002}


def start_slow_login() -> tuple[socket.socket, bytes]:
    """Open a connection to the LB and send a login POST's headers and the first half of its body."""
    body = json.dumps({"tenant": "acme", "username": "nobody", "password": "not-the-password"}).encode()
    head = (
        f"POST /api/v1/auth/login HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    conn = socket.create_connection(LB, timeout=30)
    conn.sendall(head + body[: len(body) // 2])
    return conn, body[len(body) // 2 :]


def finish(conn: socket.socket, rest: bytes) -> tuple[int, str]:
    """Send the rest of the body; (status, the upstream address nginx used) from the answer."""
    conn.sendall(rest)
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    conn.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode(errors="replace").splitlines()
    status = int(head[0].split()[1])
    upstream = next((line.split(":", 1)[1].strip() for line in head if line.lower().startswith("x-upstream:")), "")
    return status, upstream


@pytest.fixture(scope="module", autouse=True)
def both_colours_hold_a_version(lab, inv):
    """A switch needs a good version on each colour: v1.1.0 serves on either, the other holds v1.0.0."""
    bring_to(lab, inv, Start("v1.1.0", "v1.0.0", color=None))


def test_a_request_in_flight_finishes_on_the_old_colour_after_the_switch(lab, inv):
    [(old, _, _)] = served(1)  # the colour the LB sends new connections to, from its own header
    new = "blue" if old == "green" else "green"
    conn, rest = start_slow_login()
    started = time.monotonic()
    inv.ok("traffic.switch", new, "--yes")
    assert {color for color, _ in lb_answers(10)} == {new}, "new connections reach the new colour"
    code, upstream = finish(conn, rest)
    assert time.monotonic() - started > 1.0, "the request really was in flight across the switch"
    assert code == 401, "the wrong password is refused: an answer, not a reset"
    assert upstream.endswith(f":{PORTS[old]}"), f"answered by {upstream}, not the old colour {old}"
    inv.ok("traffic.switch", old, "--yes")  # leave the lab as the module found it
    assert {color for color, _ in lb_answers(10)} == {old}
