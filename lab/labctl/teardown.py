"""Taking the lab down: stop what it started (by PID), its containers' stragglers, unmount, remove the root."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lab.labctl import netns, users
from lab.labctl.errors import LabError
from lab.labctl.hosts import BASTION, DOCKER_HOSTS
from lab.labctl.paths import Layout, cache_dir, layout
from lab.labctl.processes import descendants, is_alive
from lab.labctl.progress import Reporter
from lab.labctl.supervisor import running_pid
from lab.labctl.topology import recorded


def _lab_pids(lay: Layout) -> dict[str, int]:
    """The lab's daemons by their PID files, plus the open SSH sessions of its sshds and its bridges' forks."""
    pids = {}
    for pid_file in sorted(lay.run_dir.glob("*.pid")) if lay.run_dir.is_dir() else []:
        pid = running_pid(lay, pid_file.stem)
        if pid:
            pids[pid_file.stem] = pid
            if pid_file.stem.startswith(("sshd-", "bridge-")):
                pids |= {f"{pid_file.stem} session[{child}]": child for child in descendants(pid)}
    return pids


def _container_ids(lay: Layout) -> set[str]:
    return {
        entry.name
        for host in DOCKER_HOSTS
        if (lay.docker_dir(host.name) / "data" / "containers").is_dir()
        for entry in (lay.docker_dir(host.name) / "data" / "containers").iterdir()
    }


def _stragglers(lay: Layout) -> dict[str, int]:
    """Processes the lab's dockerds started that outlived them: containerd, shims, container processes."""
    ids = _container_ids(lay)
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            exe = Path(os.readlink(entry / "exe")).name
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        ours = exe.startswith("containerd") and is_alive(int(entry.name), str(lay.root))
        if ours or any(container_id in cgroup for container_id in ids):
            found[f"{exe}[{entry.name}]"] = int(entry.name)
    return found


def _terminate(pids: dict[str, int], timeout: float) -> list[str]:
    """SIGTERM each PID, wait for all, SIGKILL what is left; return what was stopped."""
    for pid in pids.values():
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    stopped = []
    for name, pid in pids.items():
        if is_alive(pid):
            _signal(pid, signal.SIGKILL)
            stopped.append(f"{name} (pid {pid}, killed)")
        else:
            stopped.append(f"{name} (pid {pid})")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    return stopped


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def lab_mounts(root: Path) -> list[str]:
    """Mount points under the lab root (dockerd's netns and overlay mounts), deepest first."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(root) or point.startswith(f"{root}/"):
            mounts.append(point)
    return sorted(set(mounts), key=len, reverse=True)


def unmount_all(root: Path) -> None:
    """Unmount everything under the lab root; refuse to go on if something stays mounted."""
    for point in lab_mounts(root):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    left = lab_mounts(root)
    if left:
        raise LabError(f"down: still mounted under the lab root, not removing it: {left[0]}")


def _leftovers(lay: Layout) -> list[str]:
    """What a bastion topology of this root left outside it after its root was removed by other means."""
    if users.owning_root() != lay.root:
        return []
    removed = [str(users.SUDOERS)] if users.remove_sudoers() else []
    if netns.delete(BASTION.namespace):
        removed.append(f"network namespace {BASTION.namespace}")
    return removed + users.remove_accounts()


def down(quiet: bool = False) -> list[str]:
    """Stop every lab daemon by its PID, unmount dockerd's mounts, remove the lab root.

    A bastion topology also loses what it made outside the lab root: the sudoers drop-in first (nothing
    of the lab may keep root rights), then, once its processes are gone, the network namespace and the
    deploy user and Docker group.
    """
    lay = layout()
    report = Reporter(quiet)
    if not lay.root.exists():
        for line in _leftovers(lay):
            report.say(f"  removed {line}")
        report.say(f"ghostlab: nothing at {lay.root}")
        return []
    topo = recorded(lay)
    # The namespace, sudoers drop-in and accounts are this machine's: only the root whose deploy user they
    # serve (or a bastion up that failed before it made one) may remove them.
    machine_wide = topo is not None and topo.namespace is not None and users.owning_root() in (lay.root, None)
    if machine_wide and users.remove_sudoers():
        report.say(f"  removed {users.SUDOERS}")
    stopped = _terminate(_lab_pids(lay), timeout=40)
    stopped += _terminate(_stragglers(lay), timeout=10)
    for line in stopped:
        report.say(f"  stopped {line}")
    unmount_all(lay.root)
    if machine_wide:
        if netns.delete(topo.namespace):
            report.say(f"  deleted network namespace {topo.namespace}")
        for account in users.remove_accounts():
            report.say(f"  removed {account}")
    shutil.rmtree(lay.root)
    report.say(f"ghostlab down in {report.elapsed:.1f} s: removed {lay.root} (kept {cache_dir()})")
    return stopped
