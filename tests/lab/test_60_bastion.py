"""The production runbook on the bastion topology: hosts in a network namespace, entered as deploy through a bastion.

The topology (lab/labctl/hosts.py, `inv lab.up --topology bastion`): lb, app1, app2, db and Prometheus live in
the network namespace ghostlab-prod (127.0.0.31-35 inside it); this machine reaches only the bastion's sshd
(127.0.0.40:2222) and the LB's public port (http://127.0.0.41), each through a socat pair. Every host is
entered as the non-root user deploy; the LB's nginx and its upstream file are root's, changed with sudo -n
under a sudoers drop-in that allows exactly the commands ghosttasks runs.

The tests run in order, each from where the last one ended (like test_10): boundaries -> first deploy into
blue -> second into green under load -> switches under load -> emergency rollback -> rollback green->blue ->
rollback blue->green -> db.downgrade after a switch back -> sudo that asks for a password -> host keys ->
every probe went through the bastion. Reality is read directly, never through ghosttasks: psql in the
postgres container through the namespace's dockerd socket, the LB's files with stat, the sshd logs, and
HTTP from inside the namespace.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from lab.labctl import netns, users
from lab.labctl.hosts import BASTION, BASTION_PUBLIC_ADDR, COLOR_PORTS, DOCKER_GROUP, REGISTRY_PORT, SSH_PORT
from lab.labctl.processes import descendants
from lab.releases import ALEMBIC_HEADS
from tests.lab.world import BASTION_LB_HEALTH, LoadLoop, docker, forwarded_channels, lb_answers, psql

NS = BASTION.namespace
HOSTS = {host.name: host.address for host in BASTION.hosts}
APP = {host.name: host.address for host in BASTION.app_hosts}
MONITORING = BASTION.monitoring_addr
PUBLIC = BASTION.public_url
NO_MONITOR = ("--monitor-minutes", "0", "--yes")
ALERTING = {(BASTION.alertmanager_addr, 9093), (BASTION.pushgateway_addr, 9091)}  # test alert, deploy markers
#: the registry's HTTP API: build once reads a version's manifests from the operator's side, through the bastion
REGISTRY = (BASTION.registry_addr, REGISTRY_PORT)
INTERNAL_PORTS = {port for ports in COLOR_PORTS.values() for port in ports.values()} | {9090, 9093, 9091, REGISTRY_PORT}
TIMINGS: dict[str, float] = {}
VERIFIES = ("health", "smoke", "monitoring", "db", "redis")


@pytest.fixture(scope="module")
def lab(bastion_lab):
    """The bastion topology's Layout, under the name world.py's helpers expect."""
    return bastion_lab


@pytest.fixture(scope="module")
def inv(bastion_inv):
    return bastion_inv


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    lines = [f"  {name:<40} {seconds:6.1f} s" for name, seconds in TIMINGS.items()]
    print("\nbastion topology timings:\n" + "\n".join(lines))
    target = os.environ.get("GHOSTLAB_TIMINGS")
    if target:
        Path(target).write_text(json.dumps(TIMINGS, indent=2) + "\n")


def timed(name: str, inv, *args: str, ok: bool = True, **kwargs) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = inv.ok(*args, **kwargs) if ok else inv(*args, **kwargs)
    TIMINGS[name] = time.monotonic() - started
    return result


def side_by_side(function, items) -> dict:
    """{item: function(item)} with every call in its own thread: for reads that wait on SSH and change nothing."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return dict(zip(items, pool.map(function, items), strict=True))


def answers(count: int = 20) -> set:
    return set(lb_answers(count, url=BASTION_LB_HEALTH))


def load_loop(**kwargs) -> LoadLoop:
    return LoadLoop(url=BASTION_LB_HEALTH, **kwargs)


def alembic_version(lab) -> str:
    return psql(lab, "SELECT version_num FROM alembic_version")


def ssh(lab, host: str, command: str, check: bool = True, user: str | None = None) -> subprocess.CompletedProcess:
    """Run a command on a lab host as deploy (or `user`), through the bastion, with the lab's ssh config."""
    argv = lab.ssh_host_argv(host)
    if user:
        argv[1:1] = ["-l", user]
    result = subprocess.run([*argv, command], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, f"ssh {host} {command}: {result.returncode} {result.stderr}"
    return result


def inside(url: str) -> dict:
    """GET url from inside the namespace (as a host there would), JSON."""
    with netns.inside(NS):
        return httpx.get(url, timeout=5).json()


def owner(path: Path) -> tuple[str, str, str]:
    import grp
    import pwd

    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name, f"{stat.S_IMODE(info.st_mode):o}"


def assert_upstream_files_root_owned(lab) -> None:
    """The LB's nginx files (upstream, selector, and their staged and previous copies) stay root's 0644."""
    live = [lab.upstream_path, lab.selector_path]
    copies = [copy for file in live for copy in file.parent.glob(file.name + ".ghosttasks-*")]
    for path in [*live, *copies]:
        assert owner(path)[:2] == ("root", "root"), (path, owner(path))
    for path in live:
        assert owner(path) == ("root", "root", "644"), (path, owner(path))
    assert owner(lab.upstream_path.parent)[:2] == ("root", "root")
    assert not list(lab.home("deploy").glob(".*ghosttasks-new*")), "an upload was left in deploy's home"


def variant(tmp_path: Path, change) -> dict:
    """A copy of lab/hosts-bastion.yml changed by `change(prod)`; the env that selects it."""
    from lab import labctl

    data = yaml.safe_load(labctl.inventory_path(labctl.BASTION).read_text())
    change(data["environments"]["prod"])
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return {"GHOST_INVENTORY": str(path)}


def lb_snapshot(lab) -> dict:
    """Everything a refused run must leave as it was: the LB's files, the state, the database, the containers."""
    containers = {
        host: sorted(docker(lab, host, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}} {{.State}}").stdout)
        for host in APP
    }
    return {
        "upstream": (lab.upstream_path.read_bytes(), lab.upstream_path.stat().st_mtime_ns, owner(lab.upstream_path)),
        "state": (lab.lb_state_dir / "state.json").read_bytes(),
        "lock": (lab.lb_state_dir / "lock").exists(),
        "alembic": alembic_version(lab),
        "backups": sorted(path.name for path in lab.backup_dir("db").glob("*.dump")),
        "containers": containers,
        "answers": answers(10),
    }


# --------------------------------------------------------------------------- the topology itself


def test_operator_side_reaches_only_the_bastion_ssh_port_and_the_public_lb(lab):
    internal = [(BASTION.bastion.address, SSH_PORT), (MONITORING, 9090), (HOSTS["lb"], 80)]
    internal += [(address, SSH_PORT) for address in HOSTS.values()]
    for address, port in internal:
        assert not netns.tcp_open(None, address, port), f"{address}:{port} answers from the operator's side"
        assert netns.tcp_open(NS, address, port), f"{address}:{port} does not answer inside {NS}"
    with socket.create_connection((BASTION_PUBLIC_ADDR, SSH_PORT), timeout=5) as bastion:
        assert bastion.recv(64).startswith(b"SSH-2.0-OpenSSH")
    assert httpx.get(f"{PUBLIC}/", timeout=5).headers.get("server", "").startswith("nginx")
    links = subprocess.run(["ip", "-n", NS, "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"], links  # no veth, no bridge
    addresses = subprocess.run(["ip", "-n", NS, "-o", "-4", "addr"], capture_output=True, text=True).stdout
    assert re.findall(r"inet (\S+)", addresses) == ["127.0.0.1/8"], addresses

    # SSH straight to a host, not through the bastion: refused (nothing of the namespace listens here).
    options = ["-F", "none", "-i", str(lab.key_file), "-o", f"UserKnownHostsFile={lab.known_hosts}"]
    options += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", str(SSH_PORT)]
    direct = subprocess.run(
        ["ssh", *options, f"deploy@{APP['app1']}", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert direct.returncode == 255 and "Connection refused" in direct.stderr, direct.stderr
    # Through the bastion, as deploy: fine.
    assert ssh(lab, "app1", "id -un").stdout.strip() == "deploy"


def test_every_host_is_entered_as_deploy_with_docker_and_no_root(lab):
    def entered(name: str) -> tuple[str, list[str], subprocess.CompletedProcess, str | None]:
        """As deploy: who, which groups; as root: the refusal; the Docker server version (app and db hosts)."""
        user, groups = ssh(lab, name, "id -un; id -Gn").stdout.splitlines()
        refused = ssh(lab, name, "true", check=False, user="root")
        docker = None if name == "lb" else ssh(lab, name, "docker version --format '{{.Server.Version}}'").stdout
        return user, groups.split(), refused, docker

    for name, (user, groups, refused, version) in side_by_side(entered, HOSTS).items():  # one host per thread
        assert user == "deploy"
        if name != "lb":
            assert DOCKER_GROUP in groups
        assert refused.returncode == 255 and "Permission denied" in refused.stderr
        if version is not None:
            assert re.fullmatch(r"\d+\.\d+.*", version.strip()), version
    for name in APP | {"db": HOSTS["db"]}:
        sock = lab.docker_sock(name)
        assert owner(sock) == ("root", DOCKER_GROUP, "660"), owner(sock)
        # each host's dockerd runs inside the namespace (so does every host-network container)
        pid = int(lab.pid_file(f"dockerd-{name}").read_text())
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == netns.path(NS).stat().st_ino


def test_the_lb_is_roots_and_deploy_has_exactly_the_sudo_rules_the_tool_needs(lab):
    assert_upstream_files_root_owned(lab)
    assert owner(lab.nginx_conf)[:2] == ("root", "root")
    assert owner(lab.lb_state_dir)[0] == "deploy"
    denied = ssh(lab, "lb", f"touch {shlex.quote(str(lab.upstream_path))}", check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    denied = ssh(lab, "lb", f"touch {shlex.quote(str(lab.lb_dir / 'deploy-was-here'))}", check=False)
    assert denied.returncode != 0
    nginx = int(lab.pid_file("nginx-lb").read_text())
    for pid in [nginx, *descendants(nginx)]:
        uid = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]
        assert uid == "0", f"nginx pid {pid} runs as uid {uid}"

    assert owner(users.SUDOERS) == ("root", "root", "440")
    assert subprocess.run(["visudo", "-c", "-q", "-f", str(users.SUDOERS)]).returncode == 0
    listed = ssh(lab, "lb", "sudo -n -l").stdout
    assert "NOPASSWD" in listed and "/usr/sbin/nginx" in listed
    assert str(lab.upstream_path) in listed and str(lab.selector_path) in listed
    assert "ALL" not in listed.split("NOPASSWD:")[-1], listed  # no blanket rule
    other = ssh(lab, "lb", "sudo -n /usr/bin/id -u", check=False)
    assert other.returncode != 0, "sudo lets deploy run a command the tool does not need"


# --------------------------------------------------------------------------- the runbook through the bastion


def test_dry_run_opens_no_connection_and_says_probes_go_through_ssh(lab, inv):
    before = forwarded_channels(lab), lab.sshd_log("bastion").read_text().count("Accepted publickey")
    result = inv.ok("deploy.prod", "--version", "v1.0.0", "--dry-run", "--yes")
    assert "# plan for deploy.prod on prod" in result.stdout
    assert "via SSH" in result.stdout
    health = [line for line in result.stdout.splitlines() if f"{APP['app1']}:8001" in line and "GET" in line]
    assert health and all("via SSH" in line for line in health), health
    assert (forwarded_channels(lab), lab.sshd_log("bastion").read_text().count("Accepted publickey")) == before
    assert not (lab.lb_state_dir / "state.json").exists()


def test_first_deploy_goes_into_blue_through_the_bastion(lab, inv):
    timed("deploy.prod v1.0.0 (first, builds)", inv, "deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    assert answers() == {("blue", "v1.0.0")}
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.0.0"]
    for address in APP.values():
        url = f"http://{address}:{COLOR_PORTS['blue']['api']}/api/v1/health"
        assert inside(url)["version"] == "v1.0.0"  # it serves inside the namespace ...
        with pytest.raises(httpx.ConnectError):  # ... and cannot be probed from the operator's side
            httpx.get(url, timeout=3)
    assert_upstream_files_root_owned(lab)
    state = lab.lb_state_dir / "state.json"
    assert json.loads(state.read_text())["active"] == "blue" and owner(state)[0] == "deploy"
    # built once, pulled from the registry inside the namespace: one image on both app hosts
    pinned = json.loads(state.read_text())["colors"]["blue"]["images"]["api"]
    assert pinned.startswith("127.0.0.38:5000/ghostlab/ghostworks-api@sha256:"), pinned
    ids = {docker(lab, name, "inspect", "--format", "{{.Image}}", "ghostworks-blue-api-1").stdout for name in APP}
    assert len(ids) == 1, ids
    channels = forwarded_channels(lab)
    for address in APP.values():
        assert channels[(address, COLOR_PORTS["blue"]["api"])] > 0, channels
        assert channels[(address, COLOR_PORTS["blue"]["web"])] > 0, channels


def test_second_deploy_goes_into_green_under_load_with_monitoring_through_ssh(lab, inv):
    prometheus_before = forwarded_channels(lab)[(MONITORING, 9090)]
    with load_loop() as load:
        result = timed(
            "deploy.prod v1.1.0 (+0.1 min monitoring)",
            inv,
            "deploy.prod",
            "--version",
            "v1.1.0",
            "--monitor-minutes",
            "0.1",  # three readings (interval_seconds 2): enough to prove Prometheus is read through the bastion
            "--yes",
        )
    assert "no rollback trigger fired" in result.stdout
    assert load.failures == [], load.failures[:5]
    assert load.requests > 50 and set(load.answers) <= {("blue", "v1.0.0"), ("green", "v1.1.0")}
    assert answers() == {("green", "v1.1.0")}
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.1.0"]
    assert forwarded_channels(lab)[(MONITORING, 9090)] > prometheus_before  # Prometheus, read through the bastion
    upstream = lab.upstream_path.read_text()  # both colours, always; the flag file picks green per request
    assert all(f"{address}:{port}" in upstream for address in APP.values() for port in (8001, 8002))
    flag = lab.lb_state_dir / "ghostworks-active-green"
    assert flag.exists() and owner(flag)[0] == "deploy"  # a switch is a flag in deploy's state dir: no sudo
    assert_upstream_files_root_owned(lab)
    last = inv.json("deploy.history", "--limit", "1")[-1]
    for step in last["steps"]:
        TIMINGS[f"  v1.1.0 step: {step['name']}"] = step["seconds"]
    assert (last["result"], last["color"]) == ("ok", "green")


def test_traffic_switch_both_ways_under_load(lab, inv):
    with load_loop() as load:
        timed("traffic.switch blue", inv, "traffic.switch", "blue", "--yes")
        assert answers() == {("blue", "v1.0.0")}
        assert_upstream_files_root_owned(lab)
        inv.ok("traffic.verify", "--color", "blue")
        timed("traffic.switch green", inv, "traffic.switch", "green", "--yes")
        inv.ok("traffic.verify")
    assert load.requests > 50
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {("blue", "v1.0.0"), ("green", "v1.1.0")}
    assert answers() == {("green", "v1.1.0")}
    assert_upstream_files_root_owned(lab)
    # five independent read-only checks, side by side (each is mostly waiting on SSH through the bastion)
    for name, result in side_by_side(lambda name: inv.ok(f"verify.{name}"), VERIFIES).items():
        assert "FAIL" not in result.stdout, (name, result.stdout)


def test_emergency_rollback_switches_freezes_and_is_lifted(lab, inv):
    httpx.delete("http://127.0.0.15:8080/events", timeout=5)
    result = timed("deploy.emergency-rollback", inv, "deploy.emergency-rollback", "--reason", "bastion drill")
    assert result.returncode == 0
    assert answers() == {("blue", "v1.0.0")}
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.1.0"]  # an emergency rollback never migrates
    assert_upstream_files_root_owned(lab)
    frozen = inv("deploy.prod", "--version", "v1.1.0", *NO_MONITOR)
    assert frozen.returncode == 3 and "frozen (emergency rollback)" in frozen.stderr
    events = httpx.get("http://127.0.0.15:8080/events", timeout=5).json()
    kinds = {(event["path"], event["body"].get("event")) for event in events}
    assert ("/deployments", "rollback.emergency") in kinds and ("/incidents", "incident.open") in kinds
    inv.ok("deploy.unlock", "--force")
    inv.ok("traffic.switch", "green", "--yes")
    assert answers() == {("green", "v1.1.0")}


def test_rollback_from_green_to_blue_takes_the_schema_back(lab, inv):
    timed("deploy.rollback green->blue", inv, "deploy.rollback", "--yes")
    assert answers() == {("blue", "v1.0.0")}
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.0.0"]
    assert list(lab.backup_dir("db").glob("prod-rollback-v1.0.0-*.dump"))
    assert_upstream_files_root_owned(lab)


def test_rollback_from_blue_to_green(lab, inv):
    # green (v1.1.0) is ahead of the database: the switch upgrades it first.
    inv.ok("traffic.switch", "green", "--yes")
    assert answers() == {("green", "v1.1.0")} and alembic_version(lab) == ALEMBIC_HEADS["v1.1.0"]
    timed("deploy.prod v1.3.0", inv, "deploy.prod", "--version", "v1.3.0", *NO_MONITOR)
    assert answers() == {("blue", "v1.3.0")} and alembic_version(lab) == ALEMBIC_HEADS["v1.3.0"]
    timed("deploy.rollback blue->green", inv, "deploy.rollback", "--yes")
    assert answers() == {("green", "v1.1.0")}
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.1.0"]
    assert_upstream_files_root_owned(lab)


def test_db_downgrade_after_a_switch_back(lab, inv):
    inv.ok("traffic.switch", "blue", "--yes")  # v1.3.0 again: the database is upgraded first
    assert answers() == {("blue", "v1.3.0")} and alembic_version(lab) == ALEMBIC_HEADS["v1.3.0"]
    inv.ok("traffic.switch", "green", "--yes")  # the switch back leaves the newer schema in place
    assert answers() == {("green", "v1.1.0")} and alembic_version(lab) == ALEMBIC_HEADS["v1.3.0"]
    backups = set(lab.backup_dir("db").glob("*.dump"))
    refused = inv("db.downgrade", "-r", ALEMBIC_HEADS["v1.0.0"], "--yes")  # below what v1.1.0 needs
    assert refused.returncode == 1 and "v1.1.0 serves on green" in refused.stderr
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.3.0"] and set(lab.backup_dir("db").glob("*.dump")) == backups
    timed("db.downgrade", inv, "db.downgrade", "-r", ALEMBIC_HEADS["v1.1.0"], "--yes")
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.1.0"]
    assert list(lab.backup_dir("db").glob("prod-before-downgrade-*.dump"))
    assert answers() == {("green", "v1.1.0")}
    status = inv.json("deploy.status")
    assert status["active"] == "green" and status["lock"] is None


def test_sudo_that_asks_for_a_password_fails_at_preflight_and_changes_nothing(lab, inv):
    allowed = f"sudo -n /usr/sbin/nginx -c {lab.nginx_conf} -t -q"  # word for word as the drop-in allows it
    assert ssh(lab, "lb", allowed).returncode == 0
    before = lb_snapshot(lab)
    with users.sudo_needs_password(lab):
        assert "password is required" in ssh(lab, "lb", allowed, check=False).stderr
        for args in (("traffic.switch", "blue", "--yes"), ("deploy.prod", "--version", "v1.3.0", *NO_MONITOR)):
            result = inv(*args)
            assert result.returncode in (1, 2), result.returncode
            first = result.stderr.strip().splitlines()[0]
            assert "lb" in first and "sudo" in first and "password" in first, result.stderr
            assert "Traceback" not in result.stderr + result.stdout
            assert lb_snapshot(lab) == before
    assert ssh(lab, "lb", allowed).returncode == 0
    last = inv.json("deploy.history", "--limit", "1")[-1]
    assert last["result"] != "ok" and last["task"] == "deploy.prod"


def _hint(stderr: str) -> str:
    match = re.search(r"to trust it: (.*?) \(after checking the fingerprint\)", stderr)
    assert match, stderr
    return match[1]


@pytest.mark.parametrize("name", ["lb", "bastion"])
def test_unknown_host_key_is_refused_and_the_hint_works_through_the_bastion(lab, inv, tmp_path, name):
    known = tmp_path / "known_hosts"
    address = BASTION_PUBLIC_ADDR if name == "bastion" else HOSTS[name]
    kept = [line for line in lab.known_hosts.read_text().splitlines(True) if not line.startswith(f"[{address}]")]
    known.write_text("".join(kept))
    env = variant(tmp_path, lambda prod: prod["ssh"].update(known_hosts=str(known)))
    refused = inv("deploy.status", env=env)
    assert refused.returncode == 1
    assert f"{address}:{SSH_PORT}" in refused.stderr and "refusing an unknown host key" in refused.stderr
    if name == "bastion":
        assert "bastion" in refused.stderr
    hint = _hint(refused.stderr)
    if name != "bastion":
        assert BASTION_PUBLIC_ADDR in hint, f"the hint does not go through the bastion: {hint}"
    subprocess.run(hint, shell=True, check=True, timeout=60, stdin=subprocess.DEVNULL, capture_output=True)
    assert f"[{address}]:{SSH_PORT} ssh-ed25519" in known.read_text()
    inv.ok("deploy.status", env=env)


def test_ssh_config_alone_takes_every_host_and_probe_through_the_bastion(lab, inv, tmp_path):
    """The team's OpenSSH config (ssh.config_file) instead of hosts.yml's ssh keys: User, Port, IdentityFile and
    ProxyJump come from lab/ssh/config, probes are left at their default."""

    def from_ssh_config(prod: dict) -> None:
        prod["ssh"] = {"config_file": str(lab.ssh_config), "known_hosts": str(lab.known_hosts), "connect_timeout": 5}
        prod.pop("probes", None)

    env = variant(tmp_path, from_ssh_config)
    before = forwarded_channels(lab)
    tasks = (("deploy.status", "--json"), ("verify.health",), ("stack.ps",), ("verify.monitoring",))
    said = side_by_side(lambda args: inv.ok(*args, env=env).stdout, tasks)  # read-only: side by side
    assert json.loads(said[tasks[0]])["active"] == "green"
    assert "FAIL" not in said[("verify.health",)]
    assert "ghostworks-green-api-1" in said[("stack.ps",)]
    assert "FAIL" not in said[("verify.monitoring",)]
    new = forwarded_channels(lab) - before
    assert {address for address, port in new if port == SSH_PORT} == set(HOSTS.values()), new
    assert any(port in INTERNAL_PORTS for _, port in new), f"no probe went through the bastion: {new}"


def test_every_probe_went_through_the_bastion(lab, inv):
    channels = forwarded_channels(lab)
    probes = {target: count for target, count in channels.items() if target[1] in INTERNAL_PORTS}
    hops = {target: count for target, count in channels.items() if target[1] == SSH_PORT}
    print(f"bastion channels: {sum(probes.values())} probes {probes}, {sum(hops.values())} SSH hops {hops}")
    TIMINGS["(count) probe channels through the bastion"] = sum(probes.values())
    assert set(probes) | set(hops) == set(channels), f"channels to unexpected targets: {channels}"
    internal = set(HOSTS.values()) | {MONITORING, REGISTRY[0]} | {address for address, _ in ALERTING}
    assert {address for address, _ in channels} <= internal
    assert {address for address, _ in hops} == set(HOSTS.values())
    for address in APP.values():
        for color in COLOR_PORTS.values():
            assert probes.get((address, color["api"]), 0) > 0, (address, color, probes)
    assert probes.get((MONITORING, 9090), 0) > 0
    assert all(probes.get(target, 0) > 0 for target in ALERTING), probes  # Alertmanager and Pushgateway too
    assert probes.get(REGISTRY, 0) > 0, probes  # the deploys asked the registry for their manifests
    # The hosts' own sshds opened no channel: no probe took another way in.
    for name in HOSTS:
        assert not forwarded_channels(lab, name), name
    assert_upstream_files_root_owned(lab)


def test_db_activity_and_db_slow_run_through_the_bastion(lab, inv):
    """db.activity and db.slow through the bastion (issue 25): their connection counts and call counts are the
    ones psql reads in the database container itself, and the reads went over an SSH hop to the db host."""
    sleeper = "ghostlab-bastion-sleeper"
    argv = ["docker", "exec", "-e", f"PGAPPNAME={sleeper}", "ghostworks-postgres-1", "psql", "-U", "postgres"]
    argv += ["-d", "ghostworks", "-c", "SELECT pg_sleep(30)"]
    session = subprocess.Popen(
        argv, env={**os.environ, **lab.docker_env("db")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    grouped = (
        "SELECT coalesce(application_name, '') || '|' || coalesce(host(client_addr), '') || '|' || count(*) "
        "FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND coalesce(application_name, '') NOT IN "
        "('ghosttasks', 'psql') GROUP BY application_name, client_addr"
    )

    def truth() -> dict[tuple[str, str], int]:
        rows = (line.rsplit("|", 2) for line in psql(lab, grouped).splitlines())
        return {(application, client): int(count) for application, client, count in rows}

    try:
        deadline = time.monotonic() + 20
        while (sleeper, "") not in truth():
            assert time.monotonic() < deadline, "the sleeping session never showed in pg_stat_activity"
            time.sleep(0.2)
        time.sleep(1.5)  # it has run longer than the threshold below
        before = forwarded_channels(lab)
        counted = truth()
        report = json.loads(inv.ok("db.activity", "--threshold", "1", "--json").stdout)
        recounted = truth()
    finally:
        psql(lab, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{sleeper}'")
        session.wait(timeout=30)
    assert (HOSTS["db"], SSH_PORT) in forwarded_channels(lab) - before  # db.activity's read went through the bastion
    theirs = {
        (group["application"], group["client"] or ""): group["count"]
        for group in report["groups"]
        if group["application"] not in ("ghosttasks", "psql")
    }
    assert theirs in (counted, recounted), (theirs, counted, recounted)
    assert any("pg_sleep(30)" in row["query"] for row in report["long_running"]), report["long_running"]
    assert report["max_connections"] == int(psql(lab, "SHOW max_connections"))

    marker = "ghostlab_bastion_marker"
    psql(lab, "SELECT pg_stat_statements_reset()")
    for _ in range(30):  # one `docker exec` each: a stdin attached through the namespace's engine never ended
        psql(lab, f"SELECT count(*) AS {marker} FROM pg_class WHERE relpages >= 0")
    calls = psql(lab, f"SELECT sum(calls) FROM pg_stat_statements WHERE query LIKE '%{marker}%'")
    assert calls == "30", calls
    found = json.loads(inv.ok("db.slow", "--limit", "50", "--json").stdout)
    rows = [row for row in found if marker in row["query"]]
    assert [row["calls"] for row in rows] == [30], rows
