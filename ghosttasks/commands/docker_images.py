"""docker image commands for build once: registry login in a per-run config, tag, push, pull, digests, removal.

A registry password never appears here: `login` reads it from stdin (the executor sends it), and every
command that needs the login runs inside `session`, whose DOCKER_CONFIG is a fresh directory removed
when the command ends (also on HUP, INT, TERM), so no credential is left on the host.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from ghosttasks.commands import join, qpath
from ghosttasks.commands.compose import running_ids
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.domain.errors import OperationFailed

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kKMGT]?B)$")
#: The digest a dry run assumes every pushed image has.
ASSUMED_DIGEST = "sha256:" + "0" * 64
_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}


def tagged(repository: str, version: str) -> str:
    """`repository:version`."""
    return f"{repository}:{version}"


def pinned(repository: str, digest: str) -> str:
    """`repository@sha256:...`: the image by its manifest digest."""
    return f"{repository}@{digest}"


def session(commands: list[str]) -> str:
    """The commands in one shell with a DOCKER_CONFIG of their own, removed afterwards whatever happens."""
    return (
        'd=$(mktemp -d "${TMPDIR:-/tmp}/ghosttasks-docker.XXXXXXXX") && trap \'rm -rf -- "$d"\' EXIT && '
        "trap 'exit 129' HUP INT TERM && export DOCKER_CONFIG=\"$d\" && " + " && ".join(commands)
    )


def login(server: str, username: str) -> str:
    """docker login with the password read from stdin (never in argv)."""
    return f"docker login --username {shlex.quote(username)} --password-stdin {shlex.quote(server)} >/dev/null"


def tag(source: str, target: str) -> str:
    """Another name for the same image."""
    return f"docker tag {shlex.quote(source)} {shlex.quote(target)}"


def push(reference: str) -> str:
    """Push one tag (quiet: one line, the reference)."""
    return f"docker push --quiet {shlex.quote(reference)}"


def pull(reference: str) -> str:
    """Pull one image (by digest: exactly those bytes, or an error)."""
    return f"docker pull --quiet {shlex.quote(reference)}"


def pull_missing(reference: str) -> str:
    """Pull one image by digest unless this engine has it by that digest already (then it has those bytes)."""
    return f"{{ docker image inspect {shlex.quote(reference)} >/dev/null 2>&1 || {pull(reference)}; }}"


def at_once(commands: list[str]) -> str:
    """The commands in the background at once (in a subshell), then waited for, every one: fails when any failed,
    none is left running."""
    if len(commands) <= 1:
        return " && ".join(commands) or "true"
    started = " ".join(f"{{ {command}; }} & p{index}=$!;" for index, command in enumerate(commands))
    waited = " ".join(f"wait $p{index} || s=1;" for index in range(len(commands)))
    return f"( s=0; {started} {waited} exit $s )"


def repo_digests(reference: str) -> str:
    """The image's `repository@digest` names as a JSON list."""
    return f"docker image inspect --format '{{{{json .RepoDigests}}}}' {shlex.quote(reference)}"


def parse_digest(output: str, repository: str) -> str:
    """The manifest digest of `repository` among an image's RepoDigests (repo_digests' output)."""
    try:
        names = json.loads(output.strip() or "null") or []
    except ValueError:
        raise ValueError(f"not a list of image digests: {output.strip()[:120]!r}") from None
    for name in names:
        found, _, digest = str(name).partition("@")
        if found == repository and DIGEST_RE.match(digest):
            return digest
    raise ValueError(f"no digest of {repository} among {names}")


def running_digests(project: str, service: str) -> str:
    """The RepoDigests (JSON) of the image the service's running container of this compose project runs."""
    return (
        f"c=$({running_ids(project, service)}) && [ -n \"$c\" ] || {{ echo 'no running container' >&2; exit 3; }}; "
        "i=$(docker inspect --format '{{.Image}}' $c) && "
        "docker image inspect --format '{{json .RepoDigests}}' \"$i\""
    )


def list_references() -> str:
    """Every local image name with its digest: `REPOSITORY TAG DIGEST` per line."""
    return "docker image ls --digests --format '{{.Repository}} {{.Tag}} {{.Digest}}'"


def parse_references(output: str, repositories: set[str]) -> tuple[set[str], set[str]]:
    """list_references' output, for these repositories only: (`repository:tag`, `repository@digest`) names."""
    tags, digests = set(), set()
    for line in output.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] not in repositories:
            continue
        repository, version, digest = parts
        if version != "<none>":
            tags.add(tagged(repository, version))
        if DIGEST_RE.match(digest):
            digests.add(pinned(repository, digest))
    return tags, digests


def remove(references: list[str]) -> str:
    """Remove these names one by one, digest pins first (an image goes when its last name goes, taking the
    names it still had: those are then gone already, which is not an error; any other error is)."""
    if not references:
        return "true"
    ordered = sorted(references, key=lambda name: ("@" not in name, name))
    return (
        f'for n in {join(ordered)}; do o=$(docker image rm "$n" 2>&1) || case $o in '
        "*'No such image'*) ;; *) echo \"$o\" >&2; exit 1;; esac; done"
    )


def images_size() -> str:
    """The space images take on this engine (layers shared between images counted once)."""
    return "docker system df --format '{{.Type}} {{.Size}}'"


def parse_images_size(output: str) -> int:
    """Bytes the images take, from images_size' output (`Images 1.2GB`)."""
    for line in output.splitlines():
        kind, _, size = line.partition(" ")
        if kind == "Images":
            match = _SIZE_RE.match(size.strip())
            if match:
                return round(float(match[1]) * _UNITS[match[2]])
    raise ValueError(f"no image size in {output.strip()[:120]!r}")


def release_sizes(directories: list[str]) -> str:
    """Kibibytes each directory takes (`du -sk`), one `SIZE\\tPATH` line each; missing ones are skipped."""
    return f"du -sk -- {' '.join(qpath(d) for d in directories)} 2>/dev/null || true" if directories else "true"


def pushed(command: str, repositories: list[str], version: str) -> Fact[list[str]]:
    """`command` (a session that tags, pushes and prints each repository's repo_digests, in order): each
    image as `repository@digest`; fewer digests than repositories fail."""

    def parse(answer: Answer) -> list[str]:
        digests = [line for line in answer.stdout.splitlines() if line.startswith("[")]
        if len(digests) != len(repositories):
            raise OperationFailed(
                f"push {version}: expected {len(repositories)} digests, read: {answer.stdout.strip()!r}"
            )
        return [pinned(name, parse_digest(line, name)) for name, line in zip(repositories, digests, strict=True)]

    assumed = "\n".join(f'["{name}@{ASSUMED_DIGEST}"]' for name in repositories)
    return Fact(f"push {version} images", command, parse, assumed)


def running_image(project: str, service: str) -> Fact[list[str]]:
    """The RepoDigests of the image the project's service runs (empty: no container, or unreadable)."""

    def parse(answer: Answer) -> list[str]:
        if not answer.ok:
            return []
        try:
            return [str(name) for name in json.loads(answer.stdout.strip() or "null") or []]
        except ValueError:
            return []

    return Fact("image of a container", running_digests(project, service), parse, "[]", check=False)


def references(repositories: set[str]) -> Fact[tuple[set[str], set[str]]]:
    """The local names of these repositories: (`repository:tag`, `repository@digest`); a dry run assumes none."""
    return Fact("list images", list_references(), lambda answer: parse_references(answer.stdout, repositories), "")


def space() -> Fact[int]:
    """Bytes the images take on the host's engine; a dry run assumes none."""
    return Fact("images' disk use", images_size(), lambda answer: parse_images_size(answer.stdout), "Images 0B")


def release_kib(directories: list[str]) -> Fact[int]:
    """KiB the release directories take together (missing ones count nothing); a dry run assumes none."""

    def parse(answer: Answer) -> int:
        sizes = [line.split()[0] for line in answer.stdout.splitlines() if line.split()]
        return sum(int(size) for size in sizes if size.isdigit())

    return Fact("release dirs' disk use", release_sizes(directories), parse, "")


@dataclass(frozen=True)
class ContainerImages:
    """The images a compose service's running containers run (image ids), and the id `expected` names now."""

    running: tuple[str, ...]
    expected_id: str | None
    problem: str | None = None

    def matches(self) -> bool:
        """Every running container runs exactly the image the expected tag names (and at least one runs)."""
        return bool(self.running) and self.expected_id is not None and set(self.running) == {self.expected_id}


EXPECTED_MARK = "expected-image"


def container_image_ids(project: str, service: str, expected: str) -> str:
    """The image id of each running container of the project's service (one line each), then
    `expected-image <id>` of the local image `expected` (`none` when there is no such image)."""
    return (
        f"c=$({running_ids(project, service)}) && [ -n \"$c\" ] || {{ echo 'no running container' >&2; exit 3; }}; "
        "for k in $c; do docker inspect --format '{{.Image}}' \"$k\" || exit 1; done; "
        f"e=$(docker image inspect --format '{{{{.Id}}}}' {shlex.quote(expected)} 2>/dev/null) || e=none; "
        f'echo "{EXPECTED_MARK} $e"'
    )


def parse_container_image_ids(answer: Answer) -> ContainerImages:
    """container_image_ids' answer; a failed read is a problem (no container runs, docker failed)."""
    if not answer.ok:
        return ContainerImages((), None, answer.describe())
    running, expected = [], None
    for line in answer.stdout.split("\n"):
        word = line.strip()
        if word.startswith(EXPECTED_MARK + " "):
            found = word.removeprefix(EXPECTED_MARK + " ").strip()
            expected = None if found == "none" else found
        elif word:
            running.append(word)
    return ContainerImages(tuple(running), expected)


def container_images(project: str, service: str, expected: str) -> Fact[ContainerImages]:
    """Which image the service's containers run against the one `expected` (`name:version`) names; a dry run
    assumes they match."""
    assumed = f"sha256:{'0' * 64}\n{EXPECTED_MARK} sha256:{'0' * 64}\n"
    return Fact(
        f"image of {service}'s containers",
        container_image_ids(project, service, expected),
        parse_container_image_ids,
        assumed,
        check=False,
    )
