"""Shared helpers for the benchmarks: sshd-only hosts on loopback, statistics, tables and result files.

No daemon is started on import; `SshdFarm` starts sshd processes of its own and stops them by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
SSHD = "/usr/sbin/sshd"
SSH_PORT = 2222
FARM_NET = "127.0.1."  # the lab owns 127.0.0.10-17; benchmark hosts live on 127.0.1.x


# -- statistics and formatting -------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float | None:
    """Median of the values, None for none."""
    values = list(values)
    return statistics.median(values) if values else None


def ratio(value: float | None, base: float | None) -> float | None:
    """value / base, None when either is missing or base is zero."""
    if value is None or not base:
        return None
    return value / base


def fmt_s(value: float | None, digits: int = 3) -> str:
    """Seconds with fixed decimals; '-' for missing."""
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_ms(value: float | None, digits: int = 1) -> str:
    """Seconds shown as milliseconds; '-' for missing."""
    return "-" if value is None else f"{value * 1000:.{digits}f}"


def fmt_x(value: float | None) -> str:
    """A ratio like '1.07x'; '-' for missing."""
    return "-" if value is None else f"{value:.2f}x"


def verdict(ok: bool | None) -> str:
    """'met', 'NOT met' or 'n/a' (not measured)."""
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table, columns padded so it also reads well in a terminal."""
    cells = [[str(column) for column in columns]] + [
        ["" if cell is None else str(cell) for cell in row] for row in rows
    ]
    for row in cells[1:]:
        if len(row) != len(columns):
            raise ValueError(f"row has {len(row)} cells, expected {len(columns)}: {row}")
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(cells[0]), separator, *(line(row) for row in cells[1:])])


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Print a titled Markdown table and return its text."""
    text = f"{title}\n\n{markdown_table(columns, rows)}\n"
    print(text, flush=True)
    return text


# -- run metadata and result files ---------------------------------------------------------------------------------


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def machine_info() -> dict[str, Any]:
    """Where and when a benchmark ran (noisy machines: keep the load next to the numbers)."""
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "fabric": _version("fabric"),
        "paramiko": _version("paramiko"),
        "invoke": _version("invoke"),
        "openssh": (ssh.stderr or ssh.stdout).strip(),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write bench/results/<name>-<UTC stamp>.json and <name>-latest.json; return the stamped path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS_DIR / f"{name}-latest.json").write_text(text)
    return path


def stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt so `finally` blocks stop what we started.

    SIGINT is set explicitly: a shell starting us in the background would otherwise leave it ignored.
    """

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def require_root() -> None:
    """The sshd hosts use key-only root login; exit 2 with a clear line when not root."""
    if os.geteuid() != 0:
        sys.exit("benchmarks that start sshd must run as root (they log in as root with a generated key)")


# -- sshd-only hosts -----------------------------------------------------------------------------------------------

SSHD_CONFIG = """\
# sshd of benchmark host {index} ({address}); written by bench/benchlib.py, removed at the end of the run.
ListenAddress {address}:{port}
AddressFamily inet
HostKey {host_key}
PidFile {pid_file}
LogLevel VERBOSE
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile {authorized_keys}
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 200
MaxSessions 200
# SHLVL=1 keeps bash from sourcing ~/.bashrc (pyenv init) for every remote command
SetEnv SHLVL=1
Subsystem sftp internal-sftp
"""


def _importable_lab() -> None:
    """Let `lab.labctl` be imported: lab/ is not an installed package and bench scripts run from bench/.

    Called where the lab's helpers are used, not on import: fanout.py's *-proc clients import benchlib and
    their start-up is timed.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


@dataclass
class FarmHost:
    """One sshd-only benchmark host."""

    index: int
    address: str
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        """bench01, bench02, ... (the inventory host name)."""
        return f"bench{self.index:02d}"

    @property
    def log(self) -> Path:
        """This host's sshd log (LogLevel VERBOSE)."""
        return self.directory / "sshd.log"

    def log_size(self) -> int:
        """The sshd log's size in bytes now: an offset for connections_since()."""
        return self.log.stat().st_size if self.log.exists() else 0

    def connections_since(self, offset: int) -> int:
        """'Connection from' lines (one per accepted TCP connection, LogLevel VERBOSE) after a byte offset."""
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return sum(1 for line in handle if b"Connection from" in line)


@dataclass
class SshdFarm:
    """N sshd processes on 127.0.1.<first>.. port 2222, with a generated client key and known_hosts.

    Use as a context manager: every sshd (and any session it still has) is stopped by PID on exit,
    also on Ctrl-C or SIGTERM (see stop_on_signals).
    """

    count: int
    first: int = 1
    port: int = SSH_PORT
    hosts: list[FarmHost] = field(default_factory=list)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ghosttasks-bench-")))

    @property
    def key_file(self) -> Path:
        """The client's private key (root on every farm host)."""
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Every farm host's key at its address and port."""
        return self.directory / "known_hosts"

    def __enter__(self) -> SshdFarm:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def start(self) -> None:
        """Generate the keys, write one sshd_config per host, start every sshd and wait until each listens."""
        require_root()
        if self.first < 1 or self.first + self.count - 1 > 254:
            raise ValueError("benchmark hosts must fit in 127.0.1.1-127.0.1.254")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        _importable_lab()
        from lab.labctl.configs import keygen
        from lab.labctl.daemons import tcp_open

        client_key = keygen(self.key_file, "ghosttasks-bench-client")
        (self.directory / "authorized_keys").write_text(client_key + "\n")
        known: list[str] = []
        for offset in range(self.count):
            index = self.first + offset
            address = f"{FARM_NET}{index}"
            if tcp_open(address, self.port, timeout=0.2):
                raise RuntimeError(f"{address}:{self.port} is already in use; is another benchmark running?")
            host = FarmHost(index, address, self.directory / f"host{index:02d}")
            host.directory.mkdir()
            host_key = host.directory / "ssh_host_ed25519_key"
            public = keygen(host_key, f"ghosttasks-bench-{index}")
            known.append(f"[{address}]:{self.port} {' '.join(public.split()[:2])}")
            config = host.directory / "sshd_config"
            config.write_text(
                SSHD_CONFIG.format(
                    index=index,
                    address=address,
                    port=self.port,
                    host_key=host_key,
                    pid_file=host.directory / "sshd.pid",
                    authorized_keys=self.directory / "authorized_keys",
                )
            )
            self.hosts.append(host)
        self.known_hosts.write_text("\n".join(known) + "\n")
        for host in self.hosts:
            config = host.directory / "sshd_config"
            host.process = subprocess.Popen(
                [SSHD, "-D", "-f", str(config), "-E", str(host.log)],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us, not sshd: we stop it ourselves
            )
        deadline = time.monotonic() + 15
        for host in self.hosts:
            while not tcp_open(host.address, self.port, timeout=0.2):
                assert host.process is not None
                if host.process.poll() is not None:
                    log = host.log.read_text() if host.log.exists() else ""
                    raise RuntimeError(f"sshd on {host.address} exited with {host.process.returncode}: {log[-500:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sshd on {host.address}:{self.port} did not listen within 15 s")
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop every sshd we started and any session process below it, by PID."""
        _importable_lab()
        from lab.labctl.processes import descendants

        for host in self.hosts:
            process = host.process
            if process is None or process.poll() is not None:
                continue
            sessions = list(reversed(descendants(process.pid)))  # deepest first
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            for pid in sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def spec(self) -> dict[str, Any]:
        """What a client needs: addresses, port, user, key and known_hosts."""
        return {
            "addresses": [host.address for host in self.hosts],
            "names": [host.name for host in self.hosts],
            "port": self.port,
            "user": "root",
            "key_file": str(self.key_file),
            "known_hosts": str(self.known_hosts),
        }


def ghost_environment(spec: dict[str, Any], *, command_timeout: float = 60) -> Any:
    """A ghosttasks inventory Environment over the farm hosts (host-key checking against the farm's known_hosts)."""
    from ghosttasks.config.inventory import Environment

    hosts = [
        {"name": name, "address": address, "roles": ["app", "db"] if i == 0 else ["app"]}
        for i, (name, address) in enumerate(zip(spec["names"], spec["addresses"], strict=True))
    ]
    return Environment.model_validate(
        {
            "name": "bench",
            "protected": False,
            "ssh": {
                "user": spec["user"],
                "port": spec["port"],
                "key_file": spec["key_file"],
                "known_hosts": spec["known_hosts"],
                "connect_timeout": 10,
                "command_timeout": command_timeout,
            },
            "hosts": hosts,
            "app": {
                "strategy": "single",
                "dir": "/nonexistent/bench-app",
                "repo_url": "file:///nonexistent/bench-app.git",
                "project": "bench",
                "compose_files": ["compose.yml"],
                "ports": {"api": 8000, "web": 3000},
            },
            "database": {"backup_dir": "/nonexistent/bench-backups"},
        }
    )
