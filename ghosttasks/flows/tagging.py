"""Runbook production step 1: create the annotated release tag locally and push it to origin."""

from __future__ import annotations

import subprocess

from ghosttasks.commands import git
from ghosttasks.domain.errors import BadInput, OperationFailed
from ghosttasks.terminal.output import Output

GIT_TIMEOUT = 120


def _git(argv: list[str], repo: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise OperationFailed(f"cannot run git in {repo}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"{' '.join(argv)} timed out after {GIT_TIMEOUT} s") from None


def create_tag(out: Output, *, version: str, message: str, repo: str, dry_run: bool) -> None:
    """Refuse a dirty tree or an existing tag; then `git tag -a` and `git push origin <tag>`."""
    steps = [git.local_create_tag(version, message), git.local_push_tag(version)]
    if dry_run:
        out.plain("\n".join(f"[local] $ {' '.join(step)}" for step in [git.local_is_dirty(), *steps]))
        return
    status = _git(git.local_is_dirty(), repo)
    if status.returncode != 0:
        raise BadInput(f"{repo} is not a git repository: {status.stderr.strip()}")
    if status.stdout.strip():
        raise BadInput(f"the working tree in {repo} has uncommitted changes: commit or stash them before tagging")
    if _git(git.local_tag_exists(version), repo).returncode == 0:
        raise BadInput(f"tag {version} already exists: releases are immutable, choose a new version")
    for argv in steps:
        result = _git(argv, repo)
        if result.returncode != 0:
            raise OperationFailed(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        out.ok(" ".join(argv))
