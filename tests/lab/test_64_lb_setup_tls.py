"""First-time setup of an LB, then TLS with a private CA, against the lab's real nginx.

First-time setup: an LB whose site config has never heard of ghosttasks
(no upstream, no selector, no includes, no state dir) is refused by deploy.prod with the task that sets it up;
traffic.install installs both files and says what the site config must include; once it does, a second
traffic.install reloads once and the first deploy works, with no hand-written stub anywhere.

TLS: the lab's LB also serves https (127.0.0.10:443) with a certificate of the lab CA (openssl,
lab/labctl/configs.py). Through an inventory whose public_url is https: without probes.ca_file a deploy refuses at
its first public probe with one line naming the issuer and the setting, and nothing moved; with the lab CA as
probes.ca_file the deploy verifies every probe and switches.

Checked against reality: the files on disk, `nginx -T` run here, nginx's own error log (one reload), the
flag file and the LB's answers. Runnable alone: `pytest tests/lab/test_64_lb_setup_tls.py` (it asks for prod
undeployed: conftest's undeployed_lab empties what the modules before it deployed, keeping the images the hosts' engines
and the registry hold, so the first deploy here does not push and pull the base image again). The lab's own site
config is written back at the end.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import httpx
import pytest
import yaml

from tests.lab.conftest import ROOT, Inv
from tests.lab.world import COLOR_HEADER, LB_HEALTH, lb_answers, nginx_dump

PUBLIC_TLS = "https://127.0.0.10"
NO_MONITOR = ("--monitor-minutes", "0", "--yes")


def reload_nginx(lab) -> None:
    subprocess.run(["nginx", "-c", str(lab.nginx_conf), "-s", "reload"], check=True, timeout=30)
    time.sleep(0.5)  # the old workers finish; the new ones answer


def reloads(lab) -> int:
    """How many reloads nginx's master has logged (`signal 1 (SIGHUP) received from PID, reconfiguring`, at notice
    level in the lab's error log; a second line says `reconfiguring` alone)."""
    return (lab.lb_dir / "error.log").read_text(errors="replace").count("(SIGHUP) received")


def includes(lab) -> tuple[str, str]:
    return f"include {lab.upstream_path};", f"include {lab.selector_path};"


def untouched_site_config(lab, text: str) -> str:
    """The lab's site config as a team had it before ghosttasks: no includes, nothing proxied by colour."""
    for line in includes(lab):
        assert line in text
        text = text.replace(line, "# (not yet: " + line + ")")
    return re.sub(r"proxy_pass http://ghostworks_\w+_\$ghostworks_color;", "return 503;", text)


@pytest.fixture(scope="module")
def lab(undeployed_lab):
    original = undeployed_lab.nginx_conf.read_text()
    yield undeployed_lab
    if undeployed_lab.upstream_path.exists() and undeployed_lab.selector_path.exists():
        undeployed_lab.nginx_conf.write_text(original)
        reload_nginx(undeployed_lab)
    else:  # the lab's placeholders are gone: the next lab.up writes them again
        from lab import labctl

        undeployed_lab.nginx_conf.write_text(original)
        labctl.down(quiet=True)


@pytest.fixture(scope="module")
def original_site_config(lab):
    return lab.nginx_conf.read_text()


def test_a_fresh_lb_refuses_the_deploy_naming_traffic_install(lab, inv, original_site_config):
    lab.nginx_conf.write_text(untouched_site_config(lab, original_site_config))
    lab.upstream_path.unlink()
    lab.selector_path.unlink()
    shutil.rmtree(lab.lb_state_dir)
    reload_nginx(lab)
    assert httpx.get(LB_HEALTH, timeout=5).status_code == 503  # the team's LB, before ghosttasks

    started = time.monotonic()
    result = inv("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    print(f"refused in {time.monotonic() - started:.1f} s")
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert "has never been set up by ghosttasks" in said and "ghost traffic.install --env prod" in said
    assert "nginx -t rejected" not in said
    # nothing happened: no files, no flag, no release fetched, no state
    assert not lab.upstream_path.exists() and not lab.selector_path.exists()
    assert not (lab.lb_state_dir / "ghostworks-active-green").exists()
    assert not (lab.lb_state_dir / "state.json").exists()
    assert not any(lab.releases_dir("app1").glob("*"))


def test_install_puts_both_files_and_names_the_lines_the_site_config_lacks(lab, inv):
    before = reloads(lab)
    result = inv("traffic.install", "--yes")
    assert result.returncode != 0
    said = " ".join((result.stdout + result.stderr).split())
    upstream_line, selector_line = includes(lab)
    assert upstream_line in said and selector_line in said and "nginx was not reloaded" in said
    assert "proxy_pass to http://ghostworks_api_$ghostworks_color" in said
    # reality: both files rendered by the tool are there, the state dir exists, nginx neither includes them nor
    # reloaded
    assert "upstream ghostworks_api_blue" in lab.upstream_path.read_text()
    assert "set $ghostworks_color blue;" in lab.selector_path.read_text()
    assert lab.lb_state_dir.is_dir()
    dump = nginx_dump(lab)
    assert f"# configuration file {lab.upstream_path}:" not in dump
    assert reloads(lab) == before


def test_with_the_includes_added_install_reloads_once_and_nginx_reads_both(lab, inv, original_site_config):
    # the operator adds exactly the two lines the message named (the lab's own site config is that config)
    lab.nginx_conf.write_text(original_site_config)
    before = reloads(lab)
    inv.ok("traffic.install", "--yes")
    time.sleep(0.5)
    assert reloads(lab) == before + 1
    dump = nginx_dump(lab)
    assert f"# configuration file {lab.upstream_path}:" in dump
    assert f"# configuration file {lab.selector_path}:" in dump
    answer = httpx.get(LB_HEALTH, timeout=5)
    assert answer.headers.get(COLOR_HEADER) == "blue"  # the selector answers; nothing runs yet (502)
    assert not (lab.lb_state_dir / "ghostworks-active-green").exists()


def test_the_first_deploy_then_works_without_any_stub(lab, inv):
    started = time.monotonic()
    inv.ok("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    print(f"first deploy in {time.monotonic() - started:.1f} s")
    assert not (lab.lb_state_dir / "ghostworks-active-green").exists()  # blue serves: no flag
    assert set(lb_answers()) == {("blue", "v1.0.0")}
    assert httpx.get(LB_HEALTH, timeout=5).headers.get(COLOR_HEADER) == "blue"


def tls_inv(lab, inv, *, ca: bool) -> Inv:
    """`inv` against the lab inventory with prod's public URL on https, with or without the lab CA trusted."""
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    prod = data["environments"]["prod"]
    prod["lb"]["public_url"] = PUBLIC_TLS
    probes = prod.setdefault("probes", {})
    probes.pop("ca_file", None)
    if ca:
        probes["ca_file"] = str(lab.lab_ca)
    path = inv.log_dir / f"hosts-tls-{'ca' if ca else 'system'}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return Inv(inv.log_dir, path)


def answers_over_tls(lab, count: int = 10) -> set[tuple[str | None, str | None]]:
    """(colour header, version) of `count` answers over https, verified with the lab CA, on new connections."""
    import ssl

    context = ssl.create_default_context(cafile=str(lab.lab_ca))
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(verify=context, timeout=5, limits=limits) as client:
        found = set()
        for _ in range(count):
            answer = client.get(f"{PUBLIC_TLS}/api/v1/health")
            found.add((answer.headers.get(COLOR_HEADER), answer.json().get("version")))
    return found


def test_the_lb_serves_https_with_a_certificate_only_the_lab_ca_verifies(lab):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{PUBLIC_TLS}/api/v1/health", timeout=5)  # the system trust store does not know the lab CA
    assert answers_over_tls(lab) == {("blue", "v1.0.0")}


def test_without_the_ca_the_deploy_refuses_at_the_first_public_probe_and_nothing_moves(lab, inv):
    started = time.monotonic()
    result = tls_inv(lab, inv, ca=False)("deploy.prod", "--version", "v1.1.0", *NO_MONITOR)
    print(f"refused in {time.monotonic() - started:.1f} s")
    assert result.returncode != 0
    said = result.stdout + result.stderr
    lines = [line for line in said.splitlines() if "TLS verification failed for" in line]
    assert lines, said
    line = lines[0]
    assert f"{PUBLIC_TLS}/api/v1/health" in line and "CN=Ghostlab Lab CA" in line
    assert "probes.ca_file is not set" in line
    assert "set probes.ca_file" in said
    # nothing moved: the flag (reality), the answers, no release fetched for v1.1.0
    assert not (lab.lb_state_dir / "ghostworks-active-green").exists()
    assert answers_over_tls(lab) == {("blue", "v1.0.0")}
    assert not list(lab.releases_dir("app1").glob("*v1.1.0*"))


def test_with_the_lab_ca_every_probe_verifies_and_the_deploy_switches(lab, inv):
    started = time.monotonic()
    result = tls_inv(lab, inv, ca=True).ok("deploy.prod", "--version", "v1.1.0", *NO_MONITOR)
    print(f"deploy over https in {time.monotonic() - started:.1f} s")
    assert f"TLS verified for {PUBLIC_TLS}/api/v1/health (probes.ca_file ({lab.lab_ca}))" in result.stdout
    assert "TLS verification failed" not in result.stdout + result.stderr
    assert (lab.lb_state_dir / "ghostworks-active-green").exists()
    assert answers_over_tls(lab) == {("green", "v1.1.0")}
