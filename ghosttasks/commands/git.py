"""git on the app hosts (fetch a tag into a release worktree) and locally (create and push a tag)."""

from __future__ import annotations

import shlex

from ghosttasks.commands import qpath


def clone_if_missing(repo_url: str, directory: str) -> str:
    """Clone the repository into the directory unless it is a checkout already."""
    return f"[ -e {qpath(directory)}/.git ] || git clone --quiet {shlex.quote(repo_url)} {qpath(directory)}"


def fetch_tags(directory: str) -> str:
    """Fetch every tag from origin (moved tags are updated)."""
    return f"git -C {qpath(directory)} fetch --quiet --force --tags origin"


def remote_tag_exists(directory: str, version: str) -> str:
    """Exit 0 when origin has the tag (no fetch needed)."""
    ref = f"refs/tags/{version}"
    return f"git -C {qpath(directory)} ls-remote --exit-code --tags origin {shlex.quote(ref)} > /dev/null"


def checkout_release(directory: str, release_dir: str, version: str, env_file: str) -> str:
    """A worktree of the tag in the release dir (made once, reset to the tag) with the shared .env linked."""
    repo, release = qpath(directory), qpath(release_dir)
    ref = shlex.quote(f"refs/tags/{version}^{{commit}}")
    return (
        f"git -C {repo} worktree prune && {{ [ -e {release}/.git ] || git -C {repo} worktree add --quiet --detach "
        f"{release} {ref}; }} && git -C {release} checkout --quiet --force --detach {ref} "
        f"&& ln -sfn {qpath(directory + '/' + env_file)} {qpath(release_dir + '/' + env_file)}"
    )


def list_worktrees(directory: str) -> str:
    """Every worktree of the checkout (`git worktree list --porcelain`)."""
    return f"git -C {qpath(directory)} worktree list --porcelain"


def parse_worktrees(output: str) -> list[str]:
    """The worktree paths in list_worktrees' output, in its order."""
    return [line.removeprefix("worktree ") for line in output.splitlines() if line.startswith("worktree ")]


def remove_release(directory: str, release_dir: str) -> str:
    """Remove one release worktree (its files and git's record of it)."""
    return f"git -C {qpath(directory)} worktree remove --force {qpath(release_dir)}"


def checkout_ref(directory: str, ref: str) -> str:
    """Fetch a branch or tag from origin and check it out detached (staging)."""
    repo = qpath(directory)
    return (
        f"git -C {repo} fetch --quiet --force --tags origin {shlex.quote(ref)} "
        f"&& git -C {repo} checkout --quiet --force --detach FETCH_HEAD && git -C {repo} rev-parse --short HEAD"
    )


def local_is_dirty() -> list[str]:
    """argv: the tracked files with uncommitted changes (empty output: clean)."""
    return ["git", "status", "--porcelain", "--untracked-files=no"]


def local_tag_exists(version: str) -> list[str]:
    """argv: exit 0 when the tag exists locally."""
    return ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{version}"]


def local_create_tag(version: str, message: str) -> list[str]:
    """argv: create the annotated release tag."""
    return ["git", "tag", "--annotate", version, "--message", message]


def local_push_tag(version: str) -> list[str]:
    """argv: push the tag to origin."""
    return ["git", "push", "origin", f"refs/tags/{version}"]
