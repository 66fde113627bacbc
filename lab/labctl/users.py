"""The bastion topology's non-root login: the deploy user, the group of the Docker sockets, sudo on the LB.

- `deploy`: one system user of this machine (the lab's hosts share /etc), home under the lab root
  (<root>/home/deploy, with the operator's public key in ~/.ssh/authorized_keys). Its password field is
  `*`: no password login, and not "locked" (`!`), which sshd would refuse without PAM.
- `ghostlab-docker`: the group every namespaced dockerd gives its socket (`dockerd --group`, mode 0660);
  deploy is in it, so Docker needs no sudo.
- sudo on the LB: a drop-in in /etc/sudoers.d with exactly the commands ghosttasks runs there, checked with
  `visudo -c` before it is put in place; removed by `lab.down`.

Both accounts carry the GECOS marker below: down() removes only accounts that carry it, and up() refuses
to adopt a `deploy` user that is not the lab's.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

from lab.labctl.commands import run, system_env
from lab.labctl.errors import LabError
from lab.labctl.files import write_file
from lab.labctl.hosts import DEPLOY_USER, DOCKER_GROUP
from lab.labctl.paths import Layout

MARKER = "ghostlab deploy user"
SUDOERS = Path("/etc/sudoers.d/ghostlab-deploy")  # no '.' or '~' in the name: sudo would skip the file


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def ensure_group() -> str:
    """The group of the namespaced Docker sockets (made before the dockerds start: `--group` needs it)."""
    if _group(DOCKER_GROUP) is None:
        run("users", ["groupadd", "--system", DOCKER_GROUP], env=system_env())
        return f"created group {DOCKER_GROUP}"
    return f"group {DOCKER_GROUP} present"


def owning_root() -> Path | None:
    """The lab root whose bastion topology made the deploy user (its home is <root>/home/deploy), else None."""
    found = _user(DEPLOY_USER)
    if found is None or found.pw_gecos != MARKER:
        return None
    return Path(found.pw_dir).parent.parent


def ensure_user(lay: Layout, public_key: str) -> str:
    """The deploy user (home under the lab root, in the Docker group), its authorized key and git config."""
    home = lay.home(DEPLOY_USER)
    found = _user(DEPLOY_USER)
    if found is not None and found.pw_gecos != MARKER:
        raise LabError(
            f"users: a user {DEPLOY_USER!r} exists that the lab did not create (home {found.pw_dir}); "
            "the bastion topology needs that name for its own non-root login"
        )
    other = owning_root()
    if other is not None and other != lay.root and (other / "topology").is_file():
        raise LabError(
            f"users: the bastion topology of the lab root {other} is up (its deploy user, namespace and sudoers "
            f"are this machine's): take it down first (GHOSTLAB_ROOT={other} inv lab.down)"
        )
    if found is None:
        argv = ["useradd", "--system", "--user-group", "--no-create-home", "--no-log-init"]
        argv += ["--home-dir", str(home), "--shell", "/bin/bash", "--comment", MARKER, "--groups", DOCKER_GROUP]
        run("users", [*argv, DEPLOY_USER], env=system_env())
    else:
        argv = ["usermod", "--home", str(home), "--append", "--groups", DOCKER_GROUP, DEPLOY_USER]
        run("users", argv, env=system_env())
    run("users", ["usermod", "--password", "*", DEPLOY_USER], env=system_env())
    account = pwd.getpwnam(DEPLOY_USER)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    write_file(ssh_dir / "authorized_keys", public_key.strip() + "\n", 0o600)
    # The origin and the clones are this machine's paths; git's ownership check must not stop a fetch.
    write_file(home / ".gitconfig", "[safe]\n\tdirectory = *\n[advice]\n\tdetachedHead = false\n", 0o644)
    for path in (home, ssh_dir, ssh_dir / "authorized_keys", home / ".gitconfig"):
        os.chown(path, account.pw_uid, account.pw_gid)
    home.chmod(0o755)
    ssh_dir.chmod(0o700)
    return f"{DEPLOY_USER} (uid {account.pw_uid}, groups {DEPLOY_USER},{DOCKER_GROUP}), home {home}"


def hand_over(paths: list[Path]) -> str:
    """Make these trees the deploy user's (chown -R): what the tool writes as deploy on the hosts."""
    account = pwd.getpwnam(DEPLOY_USER)
    existing = [str(path) for path in paths if path.exists()]
    if existing:
        run("users", ["chown", "-R", f"{account.pw_uid}:{account.pw_gid}", *existing], env=system_env())
    return f"{len(existing)} trees owned by {DEPLOY_USER}"


def remove_accounts() -> list[str]:
    """Remove the lab's deploy user and Docker group (only if the lab made them)."""
    removed = []
    found = _user(DEPLOY_USER)
    if found is not None and found.pw_gecos == MARKER:
        result = subprocess.run(["userdel", DEPLOY_USER], capture_output=True, text=True, env=system_env())
        if result.returncode != 0:
            raise LabError(f"down: userdel {DEPLOY_USER} failed: {result.stderr.strip()[:300]}")
        removed.append(f"user {DEPLOY_USER}")
    if _group(DOCKER_GROUP) is not None:
        subprocess.run(["groupdel", DOCKER_GROUP], capture_output=True, env=system_env())
        removed.append(f"group {DOCKER_GROUP}")
    return removed


# --------------------------------------------------------------------------- sudo on the LB


def check_sudoers(text: str, scratch: Path) -> None:
    """`visudo -c` on the drop-in's text (in a scratch file); a rejected rule raises LabError."""
    scratch.parent.mkdir(parents=True, exist_ok=True)
    write_file(scratch, text, 0o440)
    result = subprocess.run(["visudo", "-c", "-q", "-f", str(scratch)], capture_output=True, text=True)
    scratch.unlink(missing_ok=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LabError(f"sudoers: visudo rejected the drop-in: {detail[-1] if detail else 'no output'}")


def install_sudoers(lay: Layout, text: str) -> str:
    """Check the drop-in with visudo, then put it in place (root:root 0440)."""
    check_sudoers(text, lay.run_dir / "sudoers.check")
    write_file(SUDOERS, text, 0o440)
    os.chown(SUDOERS, 0, 0)
    result = subprocess.run(["visudo", "-c", "-q"], capture_output=True, text=True)
    if result.returncode != 0:
        SUDOERS.unlink(missing_ok=True)
        raise LabError(f"sudoers: visudo -c failed with the drop-in in place, removed it: {result.stderr.strip()}")
    commands = sum(1 for line in text.splitlines() if line[:1].isspace() and line.strip())  # Cmnd_Alias members
    return f"{SUDOERS} ({commands} commands, visudo -c ok)"


def remove_sudoers() -> bool:
    """Remove the lab's sudoers drop-in; returns whether there was one."""
    if SUDOERS.exists():
        SUDOERS.unlink()
        return True
    return False


def without_nopasswd(text: str) -> str:
    """The same rules, each asking for a password (what a host whose sudo is not set up for the tool has)."""
    return text.replace("NOPASSWD:", "PASSWD:")


@contextlib.contextmanager
def sudo_needs_password(lay: Layout) -> Iterator[str]:
    """For a test: the LB's sudo rules ask for a password until the block ends; then the drop-in is restored."""
    original = SUDOERS.read_text()
    changed = without_nopasswd(original)
    if changed == original:
        raise LabError(f"sudoers: {SUDOERS} has no NOPASSWD rule to take away")
    install_sudoers(lay, changed)
    try:
        yield changed
    finally:
        install_sudoers(lay, original)
