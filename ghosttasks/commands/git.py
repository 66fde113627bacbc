"""git on the app hosts (fetch a tag into a release worktree) and locally (create and push a tag)."""

from __future__ import annotations

import shlex

from ghosttasks.commands import join, qpath
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.domain.errors import BadInput


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


def worktrees(directory: str) -> Fact[list[str]]:
    """The checkout's worktree paths; a dry run assumes none."""
    return Fact("list worktrees", list_worktrees(directory), lambda answer: parse_worktrees(answer.stdout), "")


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


def local_create_tag(repo: str, version: str, message: str) -> str:
    """Create the annotated release tag in the local checkout at `repo`."""
    return join(["git", "-C", repo, "tag", "--annotate", version, "--message", message])


def local_push_tag(repo: str, version: str) -> str:
    """Push the tag from the local checkout at `repo` to origin."""
    return join(["git", "-C", repo, "push", "origin", f"refs/tags/{version}"])


def tag_in_origin(directory: str, version: str) -> Fact[bool]:
    """Whether origin has the tag (a dry run assumes it does)."""
    return Fact(
        f"tag {version} in origin", remote_tag_exists(directory, version), lambda answer: answer.ok, "", check=False
    )


def checked_out(directory: str, ref: str) -> Fact[str]:
    """checkout_ref, then the short commit it checked out (a dry run assumes an example one)."""
    return Fact(
        f"fetch {ref}", checkout_ref(directory, ref), lambda answer: answer.stdout.strip().splitlines()[-1], "abc1234"
    )


def local_changes(repo: str) -> Fact[str]:
    """The tracked files of the local checkout at `repo` with uncommitted changes (empty: clean, as a dry
    run assumes); no checkout there fails as bad input."""

    def parse(answer: Answer) -> str:
        if not answer.ok:
            raise BadInput(f"{repo} is not a git repository: {answer.stderr.strip()}")
        return answer.stdout.strip()

    command = join(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"])
    return Fact(f"git status in {repo}", command, parse, "", check=False)


def local_tag(repo: str, version: str) -> Fact[bool]:
    """Whether the local checkout at `repo` has the tag already (rev-parse prints it; a dry run assumes not)."""
    command = join(["git", "-C", repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{version}"])
    return Fact(f"tag {version} in {repo}", command, lambda answer: bool(answer.stdout.strip()), "", check=False)
