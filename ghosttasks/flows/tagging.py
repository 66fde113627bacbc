"""Runbook production step 1: create the annotated release tag locally and push it to origin."""

from __future__ import annotations

from ghosttasks.commands import git
from ghosttasks.config.inventory import Host
from ghosttasks.domain.errors import BadInput
from ghosttasks.execution.run import Run

GIT_TIMEOUT = 120
#: This machine, where the application's checkout is.
LOCAL = Host(name="local", address="localhost", roles=["app"], local=True)


def create_tag(run: Run, *, version: str, message: str, repo: str) -> None:
    """Refuse a dirty tree or an existing tag; then `git tag -a` and `git push origin <tag>`."""
    if run.executor.read(LOCAL, git.local_changes(repo)):
        raise BadInput(f"the working tree in {repo} has uncommitted changes: commit or stash them before tagging")
    if run.executor.read(LOCAL, git.local_tag(repo, version)):
        raise BadInput(f"tag {version} already exists: releases are immutable, choose a new version")
    for what, command in (
        (f"create tag {version}", git.local_create_tag(repo, version, message)),
        (f"push tag {version}", git.local_push_tag(repo, version)),
    ):
        run.executor.run(LOCAL, command, what=what, timeout=GIT_TIMEOUT)
        run.out.ok(what)
