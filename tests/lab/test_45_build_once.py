"""Build once (images.build: once in the lab's prod): one build, the same bytes on both app hosts, the
registry password nowhere, retention that keeps every rollback target, and a rollback after pruning.

Oracles are the lab's own components: the registry's HTTP API, each app host's Docker engine, the
release dirs on disk, state.json and history.jsonl as files, /proc of this machine.
Starts from v1.1.0 serving (either colour) and v1.0.0 on the other, so that after v1.3.0 goes in, v1.0.0 is an
old release for retention to remove and v1.1.0 the rollback target.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.lab.world import Start, bring_to, docker, lb_answers

NO_MONITOR = ("--monitor-minutes", "0", "--yes")
APP_HOSTS = ("app1", "app2")
REGISTRY = "http://127.0.0.20:5000"
MANIFESTS = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


def password() -> str:
    from lab import labctl

    return labctl.secrets()["REGISTRY_PASSWORD"]


def state(lab) -> dict:
    return json.loads((lab.lb_state_dir / "state.json").read_text())


def registry_digest(repository: str, tag: str) -> str | None:
    """The manifest digest the registry holds for repository:tag (None: no such tag)."""
    answer = httpx.head(
        f"{REGISTRY}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MANIFESTS},
        auth=("ghostlab", password()),
        timeout=10,
    )
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def tag_written(lab, service: str, tag: str) -> int:
    """When the registry last wrote the tag (its storage's link file, rewritten by every push of the tag), in ns."""
    repository = lab.registry_dir / "data/docker/registry/v2/repositories/ghostlab" / f"ghostworks-{service}"
    return (repository / "_manifests/tags" / tag / "current/link").stat().st_mtime_ns


def running_image(lab, host: str, container: str) -> tuple[str, list[str]]:
    """(image ID, RepoDigests) of a running container, read from the host's own engine."""
    image = docker(lab, host, "inspect", "--format", "{{.Image}}", container).stdout.strip()
    digests = docker(lab, host, "image", "inspect", "--format", "{{json .RepoDigests}}", image).stdout
    return image, json.loads(digests) or []


def local_tags(lab, host: str) -> set[str]:
    out = docker(lab, host, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout
    return {line for line in out.split() if line.startswith("ghostworks-")}


class ArgvWatch:
    """Reads every process's argv and environment on this machine while a command runs: the password must not
    appear in any (the lab's hosts are processes of this machine)."""

    def __init__(self, secret: str) -> None:
        self.secret, self.seen, self.scans = secret.encode(), [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    try:
                        argv = (proc / "cmdline").read_bytes()
                    except OSError:
                        continue
                    if self.secret in argv:
                        self.seen.append(argv.replace(b"\0", b" ").decode(errors="replace"))
            self.scans += 1
            time.sleep(0.02)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def v110_serves(lab, inv):
    bring_to(lab, inv, Start("v1.1.0", "v1.0.0", color=None))


def test_without_the_password_a_deploy_is_refused_before_anything_changes(lab, inv, tmp_path):
    text = Path(inv.inventory).read_text()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(text.replace(str(lab.registry_password_file), str(tmp_path / "missing")))
    before = {host: sorted(p.name for p in lab.releases_dir(host).glob("*")) for host in APP_HOSTS}
    result = inv("deploy.prod", "--version", "v1.3.0", *NO_MONITOR, env={"GHOST_INVENTORY": str(inventory)})
    assert result.returncode == 1
    assert f"the registry password is missing: {tmp_path / 'missing'} is not set or empty" in result.stderr
    assert {host: sorted(p.name for p in lab.releases_dir(host).glob("*")) for host in APP_HOSTS} == before


def test_a_deploy_builds_once_and_both_hosts_run_the_registrys_bytes(lab, inv):
    in_registry = registry_digest("ghostlab/ghostworks-api", "v1.3.0")  # an earlier module may have pushed it
    with ArgvWatch(password()) as watch:
        result = inv.ok("deploy.prod", "--version", "v1.3.0", *NO_MONITOR)
    assert watch.scans > 10 and watch.seen == []
    if in_registry is None:
        assert "v1.3.0 built once on app1" in result.stdout
    else:
        assert "v1.3.0 is in the registry already: not built or pushed again" in result.stdout

    recorded = state(lab)
    color = recorded["active"]
    assert recorded["colors"][color]["version"] == "v1.3.0"
    pinned = recorded["version_images"]["v1.3.0"]
    assert recorded["colors"][color]["images"] == pinned
    for service in ("api", "web"):
        repository, digest = pinned[service].split("@")
        assert repository == f"127.0.0.20:5000/ghostlab/ghostworks-{service}"
        assert registry_digest(f"ghostlab/ghostworks-{service}", "v1.3.0") == digest
        images = {host: running_image(lab, host, f"ghostworks-{color}-{service}-1") for host in APP_HOSTS}
        assert images["app1"][0] == images["app2"][0]  # the same image ID: the same bytes on both hosts
        for _image, digests in images.values():
            assert pinned[service] in digests
    # app2 never built: it has the pinned image and the compose name, not the pushed tag of the build host
    assert "127.0.0.20:5000/ghostlab/ghostworks-api:v1.3.0" in {
        line.split()[0] + ":" + line.split()[1]
        for line in docker(lab, "app1", "image", "ls", "--format", "{{.Repository}} {{.Tag}}").stdout.splitlines()
    }
    assert "ghostworks-api:v1.3.0" in local_tags(lab, "app2")
    app2_names = docker(lab, "app2", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "127.0.0.20:5000/ghostlab/ghostworks-api:v1.3.0" not in app2_names

    assert inv.json("deploy.status")["colors"][color]["images"] == pinned
    assert "sha256:" in inv.ok("deploy.status").stdout
    checked = inv.ok("verify.images").stdout
    for host in APP_HOSTS:
        assert f"{host} {color} api: {pinned['api']}" in checked


def test_the_registry_password_is_nowhere(lab, inv):
    secret = password()
    texts = {str(path): path.read_text() for path in inv.log_dir.glob("*.log")}
    for name in ("state.json", "history.jsonl"):
        texts[name] = (lab.lb_state_dir / name).read_text()
    texts["deploy.status"] = inv.ok("deploy.status", "--json").stdout
    for host in APP_HOSTS:  # every file of the hosts outside the engines' image stores
        for top, dirs, files in os.walk(lab.host_dir(host)):
            if Path(top) == lab.docker_dir(host):
                dirs[:] = [name for name in dirs if name not in ("data", "exec")]  # the engine's stores
            for name in files:
                path = Path(top) / name
                if path.is_file() and not path.is_symlink():
                    texts[str(path)] = path.read_bytes().decode(errors="replace")
        config = lab.docker_config(host) / "config.json"
        assert not config.exists() or "127.0.0.20" not in config.read_text()  # no login left in the host's config
    leaks = [name for name, text in texts.items() if secret in text]
    assert leaks == []
    assert not list(Path("/tmp").glob("ghosttasks-docker.*"))  # every per-run DOCKER_CONFIG was removed


def test_a_wrong_digest_is_caught_by_verify_images(lab, inv):
    path = lab.lb_state_dir / "state.json"
    original = path.read_text()
    recorded = json.loads(original)
    active = recorded["active"]
    wrong = "127.0.0.20:5000/ghostlab/ghostworks-api@sha256:" + "0" * 64
    recorded["colors"][active]["images"]["api"] = wrong
    try:
        path.write_text(json.dumps(recorded))
        result = inv("verify.images")
        assert result.returncode == 1
        assert f"app1 {active} api: runs" in result.stderr and f"not {wrong}" in result.stderr
    finally:
        path.write_text(original)


def test_prune_keeps_both_colours_and_the_last_n_then_a_rollback_works(lab, inv):
    recorded = state(lab)
    colours = {info["version"] for info in recorded["colors"].values() if info["version"]}
    colours |= {info["failed_version"] for info in recorded["colors"].values() if info["failed_version"]}
    held = {host: {p.name for p in lab.releases_dir(host).glob("v*")} for host in APP_HOSTS}
    old = set().union(*held.values()) - colours
    assert old, f"nothing to prune: {held}"

    listed = inv.json("deploy.prune", "--keep", "1", "--dry-run")
    assert set().union(*(item["remove"] for item in listed["hosts"].values())) == old
    assert all(set(item["remove"]) <= old for item in listed["hosts"].values())
    assert {host: {p.name for p in lab.releases_dir(host).glob("v*")} for host in APP_HOSTS} == held

    pruned = inv.json("deploy.prune", "--keep", "1")
    for host in APP_HOSTS:
        left = {p.name for p in lab.releases_dir(host).glob("v*")}
        assert left == held[host] & colours, host
        tags = local_tags(lab, host)
        for version in colours:
            assert f"ghostworks-api:{version}" in tags and f"ghostworks-web:{version}" in tags
        for version in old:
            assert f"ghostworks-api:{version}" not in tags
        assert pruned["hosts"][host].get("freed_bytes", 0) > 0 or not pruned["hosts"][host]["remove"]
    assert any(item.get("freed_bytes", 0) > 0 for item in pruned["hosts"].values())

    # The older colour is the rollback target: it survived, and the rollback works (traffic moves to it).
    active = recorded["active"]
    idle = "green" if active == "blue" else "blue"
    target = recorded["colors"][idle]["version"]
    inv.ok("deploy.rollback", "--yes")
    assert set(lb_answers()) == {(idle, target)}
    inv.ok("verify.images")


def test_a_version_in_the_registry_is_not_built_or_pushed_again(lab, inv):
    """After the rollback v1.3.0 is in the registry and in the idle colour: deployed again, it is pulled by its
    recorded digests (present on both hosts already), never built or pushed (issue 26)."""
    pinned = state(lab)["version_images"]["v1.3.0"]
    written = {service: tag_written(lab, service, "v1.3.0") for service in ("api", "web")}
    result = inv.ok("deploy.prod", "--version", "v1.3.0", *NO_MONITOR)
    assert "v1.3.0 is in the registry already: not built or pushed again" in result.stdout
    assert "built once on" not in result.stdout
    assert {service: tag_written(lab, service, "v1.3.0") for service in ("api", "web")} == written  # no push

    recorded = state(lab)
    color = recorded["active"]
    assert recorded["colors"][color]["version"] == "v1.3.0"
    assert recorded["version_images"]["v1.3.0"] == recorded["colors"][color]["images"] == pinned
    for service in ("api", "web"):
        assert registry_digest(f"ghostlab/ghostworks-{service}", "v1.3.0") == pinned[service].split("@")[1]
        for host in APP_HOSTS:
            assert pinned[service] in running_image(lab, host, f"ghostworks-{color}-{service}-1")[1]
    assert set(lb_answers()) == {(color, "v1.3.0")}
