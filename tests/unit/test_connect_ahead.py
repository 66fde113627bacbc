"""Connections opened ahead (a switch opens every host's while it takes the lock): a failure is met once, by the
first command on that host, without a second connect timeout."""

import pytest

from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.connections import Connections
from ghosttasks.testing import prod


def test_a_failed_open_ahead_is_raised_by_the_next_get_which_does_not_connect_again(monkeypatch):
    env = prod()
    host = env.app_hosts[0]
    tries = []

    def unreachable(self, target):
        tries.append(target.name)
        raise OperationFailed(f"cannot connect to {target.name}: timed out after 10 s")

    monkeypatch.setattr(Connections, "_open", unreachable)
    connections = Connections(env)
    connections.open_ahead(host)
    with pytest.raises(OperationFailed, match=f"cannot connect to {host.name}: timed out"):
        connections.get(host)
    assert tries == [host.name]  # the get met the failure of the open ahead, it did not wait for another
    with pytest.raises(OperationFailed):
        connections.get(host)  # later commands try again, as they always did
    assert tries == [host.name, host.name]


def test_an_open_ahead_connection_is_the_one_get_returns(monkeypatch):
    class Opened:
        is_connected = True

    opened = Opened()
    monkeypatch.setattr(Connections, "_open", lambda self, target: opened)
    connections = Connections(prod())
    host = prod().lb_hosts[0]
    connections.open_ahead(host)
    assert connections.get(host) is opened
