"""PURE: build and push a version's images, or take the ones the registry already holds (build once, issue 26).

Before building, build once reads the manifest digest of each per-colour image's tag (`registry/name:version`)
from the registry. A version every image of which is there, with a digest, is not built or pushed again: its
images are those digests (an earlier deploy, a rollback target, another run that failed after pushing). It is
built and pushed as before when any image is missing, when a manifest could not be read (said, never skipped in
silence), or when the state recorded other digests for that version than the registry names now (the tag was
pushed again since: the build says what it is).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

#: Manifest media types asked for: Docker's schema 2 and OCI, single images and lists. The digest of the
#: manifest a registry answers with is the one `docker push` printed and `docker pull repo@digest` takes.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


@dataclass(frozen=True)
class Manifest:
    """What the registry answered for one `repository:tag`: its digest; absent (no digest, no problem); or
    unreadable (`problem` says why)."""

    digest: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Shipping:
    """The decision: `pinned` (service -> `repository@digest`) when the registry's images are taken as they are,
    empty when the version is built and pushed; `reason` says which and why."""

    pinned: dict[str, str]
    reason: str

    @property
    def push(self) -> bool:
        return not self.pinned


def manifest_url(registry: str, name: str, tag: str) -> str:
    """The registry API's URL of a tag's manifest. `registry` is `host[:port][/path]` (images.registry), `name`
    the image's name under it. Plain HTTP for a registry on a loopback address (Docker's own default: 127.0.0.0/8
    and localhost are insecure registries, spoken to in HTTP), HTTPS for every other."""
    return f"{_repository_url(registry, name)}/manifests/{tag}"


def tags_url(registry: str, name: str) -> str:
    """The registry API's URL of a repository's tag list (as manifest_url)."""
    return f"{_repository_url(registry, name)}/tags/list"


def _repository_url(registry: str, name: str) -> str:
    server, _, path = registry.partition("/")
    host = server.rsplit(":", 1)[0] if server.count(":") == 1 else server.strip("[]")
    scheme = "http" if _loopback(host) else "https"
    repository = f"{path}/{name}" if path else name
    return f"{scheme}://{server}/v2/{repository}"


def push_at_once(known: Mapping[str, bool | None]) -> bool:
    """Push the images at once only when the registry holds a tag of every repository already (service -> True;
    False: it holds none, None: not read). The images share their base layers: pushed at once into repositories
    that lack them, each push would compress and upload those layers itself; one after the other, the first
    uploads them and the next ones mount them."""
    return bool(known) and all(value is True for value in known.values())


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def decide(
    repositories: Mapping[str, str], tag: str, found: Mapping[str, Manifest], recorded: Mapping[str, str]
) -> Shipping:
    """repositories: service -> `registry/name`; found: service -> what the registry answered for `tag`;
    recorded: service -> the `repository@digest` the state recorded for this version (may be empty)."""
    pinned = {}
    for service, repository in repositories.items():
        manifest = found.get(service, Manifest(problem="not read"))
        if manifest.problem:
            return Shipping({}, f"{repository}:{tag}: the registry's manifest could not be read ({manifest.problem})")
        if manifest.digest is None:
            return Shipping({}, f"{repository}:{tag} is not in the registry")
        reference = f"{repository}@{manifest.digest}"
        if recorded.get(service, reference) != reference:
            return Shipping(
                {}, f"the registry's {repository}:{tag} is {manifest.digest}, the state recorded {recorded[service]}"
            )
        pinned[service] = reference
    if not pinned:
        return Shipping({}, "no per-colour image to look up")
    return Shipping(pinned, f"{tag} is in the registry already: not built or pushed again")
