"""The bastion topology's network namespace: create it, start processes in it, look into it from here.

Daemons are started with `nsenter --net=/run/netns/NAME` (it execs the daemon: the PID stays the daemon's),
not `ip netns exec`: that one also remounts /sys for the namespace, which hides the cgroup mounts, and
dockerd then refuses to start ("Devices cgroup isn't mounted"). Only the network namespace differs; the
filesystem (the lab root, the unix sockets of the bridges and of each dockerd) is the same on both sides.

The lab itself (readiness checks, tests) looks into the namespace from one thread with setns(2): a socket
belongs to the namespace its thread was in when it was created.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from lab.labctl.commands import run, system_env
from lab.labctl.errors import LabError

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")


def path(name: str) -> Path:
    """The bind mount that names the namespace (what `ip netns add` makes)."""
    return NETNS_DIR / name


def exists(name: str) -> bool:
    """Whether the named namespace exists."""
    return path(name).exists()


def ensure(name: str) -> str:
    """Create the namespace (unless it exists) and bring up its loopback interface: 127.0.0.0/8 inside it."""
    created = not exists(name)
    if created:
        run("network namespace", ["ip", "netns", "add", name], env=system_env())
    run("network namespace", ["ip", "-n", name, "link", "set", "lo", "up"], env=system_env())
    return f"{'created' if created else 'present'} {name} (lo up, only loopback inside)"


def delete(name: str) -> bool:
    """Delete the namespace; whatever still runs in it keeps it alive until it exits. Returns whether it existed."""
    if not exists(name):
        return False
    result = subprocess.run(["ip", "netns", "delete", name], capture_output=True, text=True, env=system_env())
    if result.returncode != 0:
        raise LabError(f"down: ip netns delete {name} failed: {result.stderr.strip()[:300]}")
    return True


def prefix(name: str | None) -> tuple[str, ...]:
    """The argv prefix that runs a command inside the namespace (nothing for this machine's own)."""
    return () if name is None else ("nsenter", f"--net={path(name)}", "--")


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def inside(name: str | None) -> Iterator[None]:
    """Run the block's socket work inside the namespace (this thread only); back to ours afterwards."""
    if name is None:
        yield
        return
    if not exists(name):
        raise LabError(f"network namespace {name} does not exist (is the bastion topology up?)")
    ours = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path(name), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(ours)
    finally:
        os.close(ours)


def tcp_open(namespace: str | None, address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at address:port in the namespace."""
    with inside(namespace):
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return True
        except OSError:
            return False
