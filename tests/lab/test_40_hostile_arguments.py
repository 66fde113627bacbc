"""Hostile argument values against the real lab: refused or carried as data, never run; canaries untouched.

A lock reason is read back from the LB's lock file itself; the refusals need no lab state (refused before any
connection), so each value's three commands run at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghosttasks.domain import validate
from ghosttasks.domain.errors import BadInput

PWNED = Path("/tmp/ghosttasks-pwned")
PAYLOADS = [
    f"$(touch {PWNED})",
    f"`touch {PWNED}`",
    f"'; touch {PWNED}; echo '",
    f'"; touch {PWNED}; echo "',
    f"x && touch {PWNED}",
    f"x | touch {PWNED}",
    "$(rm -rf /var/lib/ghostlab/*/canary)",
]
# No NUL: an argv cannot carry one (execve's strings end there; Popen refuses it), so no operator can type it.
hostile = st.one_of(
    st.sampled_from(PAYLOADS), st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=40)
)


@pytest.fixture(scope="module")
def canaries(lab):
    files = {}
    for host in ("lb", "app1", "app2", "db"):
        path = lab.host_dir(host) / "canary"
        path.write_text(secrets.token_hex(16))
        files[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    PWNED.unlink(missing_ok=True)
    yield files
    for path in files:
        path.unlink(missing_ok=True)


def assert_untouched(canaries) -> None:
    assert not PWNED.exists()
    for path, digest in canaries.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=hostile)
def test_hostile_lock_reason_is_data(lab, inv, canaries, reason):
    result = inv("deploy.lock", f"--reason={reason}")
    if result.returncode == 2:
        assert result.stderr.startswith("error: --reason")
    else:
        assert result.returncode == 0, result.stderr
        assert json.loads((lab.lb_state_dir / "lock" / "info.json").read_text())["reason"] == reason
        inv.ok("deploy.unlock")
        assert not (lab.lb_state_dir / "lock").exists()
    assert_untouched(canaries)


def _accepted_anywhere(value: str) -> bool:
    """Valid values (a real colour, version or revision) would run for real: they are not hostile."""
    for check in (validate.version, validate.color, validate.revision):
        try:
            check(value)
            return True
        except BadInput:
            pass
    return False


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile.filter(lambda value: not _accepted_anywhere(value)))
def test_hostile_version_colour_revision_are_refused_before_any_connection(lab, inv, canaries, value):
    commands = (
        ("deploy.prod", f"--version={value}", "--yes"),
        ("traffic.switch", f"--color={value}", "--yes"),
        ("db.downgrade", f"--revision={value}", "--yes"),
    )
    for argv, result in zip(commands, inv.together(*commands), strict=True):
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
    assert_untouched(canaries)


def _with_known_hosts(tmp_path, lab, edit) -> dict:
    import yaml

    from tests.lab.conftest import ROOT

    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(edit(lab.known_hosts.read_text()))
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    data["environments"]["prod"]["ssh"]["known_hosts"] = str(known_hosts)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(data))
    return {"GHOST_INVENTORY": str(inventory)}


def test_unknown_host_key_is_refused_with_how_to_trust_it(lab, inv, tmp_path):
    env = _with_known_hosts(
        tmp_path,
        lab,
        lambda text: "".join(line for line in text.splitlines(True) if not line.startswith("[127.0.0.10]")),
    )
    result = inv("deploy.status", env=env)
    assert result.returncode == 1
    assert "lb (127.0.0.10:2222) is not in" in result.stderr and "refusing an unknown host key" in result.stderr
    assert "next: to trust it: ssh-keyscan -p 2222 127.0.0.10 >>" in result.stderr


def test_changed_host_key_is_refused(lab, inv, tmp_path):
    other_key = (lab.host_dir("app1") / "ssh_host_ed25519_key.pub").read_text().split()[:2]

    def swap(text: str) -> str:
        lines = [line for line in text.splitlines() if not line.startswith("[127.0.0.10]")]
        return "\n".join([*lines, f"[127.0.0.10]:2222 {' '.join(other_key)}"]) + "\n"

    result = inv("deploy.status", env=_with_known_hosts(tmp_path, lab, swap))
    assert result.returncode == 1
    assert "host key of lb (127.0.0.10:2222) does not match" in result.stderr
