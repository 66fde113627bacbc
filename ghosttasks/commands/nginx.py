"""nginx on the LB host: the per-request colour flag; stage, swap and restore the config files, test, reload.

Every builder takes `sudo`: on an LB where the login user cannot write the upstream's directory or
signal nginx (lb.sudo), the same steps run as root with `sudo -n`, each tool by its absolute path,
and `root_commands` lists exactly those argvs (the preflight checks them, the sudoers drop-in allows
them, ghosttasks.commands.sudoers prints it).
"""

from __future__ import annotations

import posixpath
import re
import shlex

from ghosttasks.commands import assumptions, qpath
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.commands.sudo import as_root, install_argv, install_from_stdin, tool
from ghosttasks.domain.canary_buckets import FORCED, buckets_for
from ghosttasks.domain.errors import OperationFailed

NEW_SUFFIX = ".ghosttasks-new"
PREV_SUFFIX = ".ghosttasks-prev"
#: The upstream file's mode (it holds no secret; nginx's workers need not read it, the master does).
UPSTREAM_MODE = 0o644
#: nginx's path when it runs under sudo and lb.nginx names no path (Debian's package).
SUDO_NGINX = "/usr/sbin/nginx"


def nginx_argv(binary: str, conf: str | None, *args: str, sudo: bool = False) -> list[str]:
    words = shlex.split(binary)
    if sudo and "/" not in words[0]:
        words[0] = SUDO_NGINX
    return [*words, *(["-c", conf] if conf else []), *args]


def test(binary: str, conf: str | None, *, sudo: bool = False) -> str:
    return as_root(nginx_argv(binary, conf, "-t", "-q", sudo=sudo), sudo)


def reload(binary: str, conf: str | None, *, sudo: bool = False) -> str:
    return as_root(nginx_argv(binary, conf, "-s", "reload", sudo=sudo), sudo)


def dump_argv(binary: str, conf: str | None, *, sudo: bool = False) -> list[str]:
    """`nginx -T`: test the configuration and print every file it reads, each after a
    `# configuration file PATH:` line (traffic.install reads which files the site config includes)."""
    return nginx_argv(binary, conf, "-T", sudo=sudo)


#: The line `nginx -T` prints before each file it read.
DUMP_FILE = re.compile(r"^# configuration file (?P<path>.+):$", re.MULTILINE)


def dumped_files(text: str) -> list[str]:
    """The files an `nginx -T` output says the configuration reads, in its order."""
    return [match["path"] for match in DUMP_FILE.finditer(text)]


def included(binary: str, conf: str | None, paths: list[str], *, sudo: bool = False) -> Fact[list[str]]:
    """Which of `paths` the configuration nginx loads includes (`nginx -T`); a dry run assumes all of them.
    A configuration nginx rejects fails, with nginx's own words."""

    def parse(answer: Answer) -> list[str]:
        if not answer.ok:
            raise OperationFailed(f"nginx -T failed on {answer.host}: {answer.describe()}")
        files = set(dumped_files(answer.stdout))
        return [path for path in paths if path in files]

    command = as_root(dump_argv(binary, conf, sudo=sudo), sudo) + " 2>&1"
    dry = "".join(f"# configuration file {path}:\n" for path in paths)
    return Fact("read the live nginx config (nginx -T)", command, parse, dry, check=False)


def missing_files(paths: list[str]) -> Fact[list[str]]:
    """Which of `paths` do not exist on the host (a dry run assumes none is missing)."""
    checks = "; ".join(f"[ -e {qpath(path)} ] || echo {shlex.quote(path)}" for path in paths)

    def parse(answer: Answer) -> list[str]:
        return [line for line in answer.stdout.splitlines() if line in paths]

    return Fact("which LB config files exist", f"{checks}; true", parse, "")


def make_dir(path: str) -> str:
    """Create `path` (and its parents) readable by nginx's workers (0755)."""
    return f"mkdir -p {qpath(path)} && chmod 0755 {qpath(path)}"


def staged_path(upstream_path: str) -> str:
    return upstream_path + NEW_SUFFIX


def upload_path(upstream_path: str) -> str:
    """Where the new upstream is uploaded on an LB with sudo: a file of the login user, in its home."""
    return f"~/.{posixpath.basename(upstream_path)}{NEW_SUFFIX}"


def stage_as_root(upstream_path: str, *, owner: str, group: str) -> str:
    """Install the uploaded file as the staged one, root-owned (owner:group, 0644), and remove the upload."""
    return install_from_stdin(
        upload_path(upstream_path), staged_path(upstream_path), mode=_mode(), owner=owner, group=group
    )


def _keep_argv(path: str, sudo: bool) -> list[str]:
    return [tool("cp", sudo), "-p", path, path + PREV_SUFFIX]


def _drop_prev_argv(path: str, sudo: bool) -> list[str]:
    return [tool("rm", sudo), "-f", path + PREV_SUFFIX]


def _swap_argv(path: str, sudo: bool) -> list[str]:
    return [tool("mv", sudo), "-f", path + NEW_SUFFIX, path]


def _restore_argv(path: str, sudo: bool) -> list[str]:
    return [tool("mv", sudo), "-f", path + PREV_SUFFIX, path]


def _remove_argv(path: str, sudo: bool) -> list[str]:
    return [tool("rm", sudo), "-f", path]


def swap_in(upstream_path: str, *, sudo: bool = False) -> str:
    """Keep the live file as .prev (if any) and move the staged file into place."""
    live = qpath(upstream_path)
    keep, drop, swap = (as_root(argv(upstream_path, sudo), sudo) for argv in (_keep_argv, _drop_prev_argv, _swap_argv))
    return f"{{ if [ -f {live} ]; then {keep}; else {drop}; fi; }} && {swap}"


def restore_previous(upstream_path: str, *, sudo: bool = False) -> str:
    prev = qpath(upstream_path + PREV_SUFFIX)
    restore, remove = (as_root(argv(upstream_path, sudo), sudo) for argv in (_restore_argv, _remove_argv))
    return f"if [ -f {prev} ]; then {restore}; else {remove}; fi"


def root_commands(paths: list[str], binary: str, conf: str | None, *, owner: str, group: str) -> list[list[str]]:
    """Every argv a config change runs with sudo -n for these files (upstream, selector), in the order it may
    run them. A switch itself runs none: it only creates or removes the flag file in the state dir."""
    per_file = [
        argv
        for path in paths
        for argv in (
            install_argv(staged_path(path), mode=_mode(), owner=owner, group=group),
            _keep_argv(path, True),
            _drop_prev_argv(path, True),
            _swap_argv(path, True),
        )
    ]
    restore = [argv for path in paths for argv in (_restore_argv(path, True), _remove_argv(path, True))]
    test_argv = nginx_argv(binary, conf, "-t", "-q", sudo=True)
    reload_argv = nginx_argv(binary, conf, "-s", "reload", sudo=True)
    return [*per_file, test_argv, *restore, reload_argv]


CONFIG_MARK = "--- ghosttasks: end of file ---"


def read_config(paths: list[str], flag_path: str) -> str:
    """Print each file (nothing when missing) followed by CONFIG_MARK, then `green` or `blue` for the flag."""
    files = "; ".join(f"cat {qpath(path)} 2>/dev/null; echo {shlex.quote(CONFIG_MARK)}" for path in paths)
    return f"{files}; {read_flag(flag_path)}"


def read_flag(flag_path: str) -> str:
    """Print `green` when the flag file exists, else `blue`: the colour the selector sends traffic to."""
    flag = qpath(flag_path)
    return f"if [ -e {flag} ]; then echo green; else echo blue; fi"


def parse_flag(text: str) -> str | None:
    """The colour read_flag printed; None when the answer is anything else."""
    selected = text.strip()
    return selected if selected in ("blue", "green") else None


def parse_config(text: str, count: int) -> tuple[list[str], str | None]:
    """(the files' contents, the selected colour) from read_config's output; colour None when unreadable."""
    parts = text.split(CONFIG_MARK + "\n")
    if len(parts) != count + 1:
        return [], None
    return parts[:-1], parse_flag(parts[-1])


def set_flag(flag_path: str, color: str) -> str:
    """Send traffic to `color`: create the flag file (green) or remove it (blue). Each is one atomic step;
    nginx reads it per request, so nothing is reloaded and no connection is dropped."""
    flag = qpath(flag_path)
    if color == "green":
        return f"mkdir -p {qpath(flag_path.rsplit('/', 1)[0])} && touch {flag}"
    return f"rm -f {flag}"


CANARY_NEW_SUFFIX = ".ghosttasks-new"
LEASE_SUFFIX = ".lease"
#: How often the LB-side watchdog looks at a deploy canary's lease.
WATCHDOG_SECONDS = 2


def _canary_names(canary_path: str) -> tuple[str, str, str]:
    """(link, lease file, prefix of the bucket directories) of the canary at `canary_path`."""
    parent, name = posixpath.split(canary_path)
    return canary_path, canary_path + LEASE_SUFFIX, posixpath.join(parent, f".{name}.")


def set_buckets(canary_path: str, color: str, percent: int, *, lease_seconds: int | None = None) -> str:
    """Send `percent` % of clients (and every forced tester) to `color`: one file per bucket in a fresh directory,
    then the symlink `canary_path` is renamed onto it. That rename is the step's one atomic change: nginx sees
    either every bucket of the old step or every bucket of the new one, never a mix; no reload. The previous
    directory is removed afterwards.

    lease_seconds (a deploy's canary): the buckets hold only while their lease file is renewed (renew_lease);
    a watchdog on the LB (one per canary, flock) clears them once the lease is older, so a run that lost its
    connection or was killed leaves no client on the canary. None (by hand): no lease, the buckets stay.
    """
    link, lease, prefix = _canary_names(canary_path)
    link_new = qpath(canary_path + CANARY_NEW_SUFFIX)
    files = " ".join(f'"$new"/{color}-{bucket}' for bucket in [*buckets_for(percent), FORCED])
    if lease_seconds is None:
        leased = f"rm -f -- {qpath(lease)}"
    else:
        leased = f"touch {qpath(lease)} && {_watchdog(canary_path, lease_seconds)}"
    return (
        f'{leased} && new=$(mktemp -d {qpath(prefix + "XXXXXX")}) && chmod 755 "$new" && touch {files} && '
        f'old=$(readlink {qpath(link)} || true) && ln -sfn "$new" {link_new} && mv -T {link_new} {qpath(link)} && '
        f'case "$old" in {qpath(prefix)}*) rm -rf -- "$old";; esac'
    )


def _watchdog(canary_path: str, lease_seconds: int) -> str:
    """Start (detached, at most one: flock) the LB-side loop that clears the canary when its lease is older than
    `lease_seconds`; it ends when the lease file is gone (canary cleared, or set by hand)."""
    _, lease, _ = _canary_names(canary_path)
    loop = (
        f"while sleep {WATCHDOG_SECONDS}; do [ -e {qpath(lease)} ] || exit 0; "
        f"[ $(( $(date +%s) - $(stat -c %Y {qpath(lease)}) )) -le {int(lease_seconds)} ] && continue; "
        f"{clear_buckets(canary_path)}; exit 0; done"
    )
    lock = qpath(lease + ".lock")
    return f"{{ nohup flock -n {lock} sh -c {shlex.quote(loop)} >/dev/null 2>&1 </dev/null & }}"


def renew_lease(canary_path: str) -> str:
    """Renew a deploy canary's lease (the watchdog clears the buckets when it is not renewed in time)."""
    return f"touch -c {qpath(canary_path + LEASE_SUFFIX)}"  # -c: a cleared canary stays cleared


def clear_buckets(canary_path: str) -> str:
    """Every bucket back to the flag's colour: remove the symlink (one atomic unlink), then the lease and the
    bucket directories."""
    link, lease, prefix = _canary_names(canary_path)
    return f"rm -f -- {qpath(link)} {qpath(lease)} && rm -rf -- {qpath(prefix)}??????"


CANARY_MARK = "--- ghosttasks: canary buckets ---"


def read_buckets(canary_path: str) -> str:
    """Print the canary's bucket files (none when no canary runs), then CANARY_MARK."""
    return f"if [ -d {qpath(canary_path)} ]; then ls -1 {qpath(canary_path)}/; fi; echo {shlex.quote(CANARY_MARK)}"


def parse_buckets(text: str) -> dict[str, list[str]] | None:
    """{colour: its buckets} from read_buckets' output (empty: no canary); None when the answer is not one."""
    if CANARY_MARK not in text:
        return None
    found: dict[str, list[str]] = {}
    for line in text.split(CANARY_MARK)[0].split():
        color, _, bucket = line.partition("-")
        if color in ("blue", "green") and bucket:
            found.setdefault(color, []).append(bucket)
    return {color: sorted(buckets) for color, buckets in found.items()}


def lb_buckets(canary_path: str, *, assumed: dict[str, list[str]] | None = None) -> Fact[dict[str, list[str]]]:
    """The canary's buckets on the LB, by colour; an unreadable answer fails."""

    def parse(answer: Answer) -> dict[str, list[str]]:
        buckets = parse_buckets(answer.stdout)
        if buckets is None:
            raise OperationFailed(f"cannot read the canary buckets on {answer.host}: {answer.describe()}")
        return buckets

    shown = "".join(f"{color}-{bucket}\n" for color, buckets in (assumed or {}).items() for bucket in buckets)
    return Fact("read the canary buckets", read_buckets(canary_path), parse, f"{shown}{CANARY_MARK}\n")


def _mode() -> str:
    return f"{UPSTREAM_MODE:04o}"


def lb_flag(flag_path: str) -> Fact[str]:
    """The colour the LB's selector sends traffic to; an answer that names none fails."""

    def parse(answer: Answer) -> str:
        color = parse_flag(answer.stdout)
        if color is None:
            raise OperationFailed(f"cannot tell which colour {answer.host} serves: {answer.describe()}")
        return color

    return Fact("read the LB's flag", read_flag(flag_path), parse, f"{assumptions.STATE.active}\n")


def lb_config(paths: list[str], flag_path: str, *, assumed: list[str], selected: str) -> Fact[list[str]]:
    """The LB config files' contents (empty when unreadable); a dry run assumes `assumed` and the flag on
    `selected`."""
    answer = "".join(f"{content}{CONFIG_MARK}\n" for content in assumed) + f"{selected}\n"
    return Fact(
        "read the LB config",
        read_config(paths, flag_path),
        lambda result: parse_config(result.stdout, len(paths))[0],
        answer,
    )


def lb_view(
    paths: list[str], flag_path: str, *, assumed: list[str], selected: str
) -> Fact[tuple[list[str], str] | str]:
    """One LB among several: (its config files' contents, the colour its flag selects), or why it could not be
    read (its SSH connection failed, or it named no colour): a failure is part of the answer, not an error."""

    def parse(answer: Answer) -> tuple[list[str], str] | str:
        live, color = parse_config(answer.stdout, len(paths))
        if not answer.ok or color is None:
            return answer.describe()
        return live, color

    answer = "".join(f"{content}{CONFIG_MARK}\n" for content in assumed) + f"{selected}\n"
    return Fact("read the LB config and flag", read_config(paths, flag_path), parse, answer, check=False)
