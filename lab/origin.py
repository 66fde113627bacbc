"""Build the lab's origins: bare git repositories of the demo app (lab/app) and of the second app (lab/app2,
`--app shop`) with their release and fault tags.

`build_origin(dest)` (or `python3 -m lab.origin DEST`) writes, reproducibly (fixed identity and dates,
so the same lab/app always gives the same commit ids), one annotated tag per release of lab/releases.py: good
releases as commits on branch main, fault drills as detached commits on top of their base tag.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from lab.releases import MAIN, RELEASES, Release

APP_DIR = Path(__file__).resolve().parent / "app"
SHOP_DIR = Path(__file__).resolve().parent / "app2"
EXECUTABLES = {
    "docker/bin/alembic",
    "docker/bin/python",
    "docker/postgres-entrypoint.sh",
    "scripts/seed_demo_data.py",
    "scripts/smoke-tests.sh",
}
SKIP_NAMES = {".env", ".git", "__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "Ghostworks Release Bot",
    "GIT_AUTHOR_EMAIL": "releases@ghostworks.dev",
    "GIT_COMMITTER_NAME": "Ghostworks Release Bot",
    "GIT_COMMITTER_EMAIL": "releases@ghostworks.dev",
}


def _git(repo: Path, *args: str, work: Path | None = None, date: str | None = None) -> str:
    """Run git on the repository `repo` (GIT_DIR), with work tree `work` if given, fixed identity and `date`."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo.parent),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_DIR": str(repo),
        **IDENTITY,
    }
    if work:
        env["GIT_WORK_TREE"] = str(work)
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    options = ["-c", "core.autocrlf=false", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"]
    cwd = work or repo.parent
    result = subprocess.run(["git", *options, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def _copy_app(work: Path, app_dir: Path = APP_DIR, executables: set[str] = EXECUTABLES) -> None:
    """Make the work tree an exact copy of the app (no caches, no .env) with normalised file modes."""
    for entry in work.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for source in sorted(app_dir.rglob("*")):
        relative = source.relative_to(app_dir)
        if any(part in SKIP_NAMES for part in relative.parts) or source.suffix == ".pyc" or not source.is_file():
            continue
        target = work / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755 if relative.as_posix() in executables else 0o644)


def _commit_and_tag(repo: Path, work: Path, release: Release) -> None:
    for edit in release.edits:
        edit.apply(work)
    _git(repo, "add", "--all", work=work)
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", release.message, work=work, date=release.date)
    message = f"{release.tag}: {release.message}"
    _git(repo, "tag", "--annotate", release.tag, "-m", message, work=work, date=release.date)


def _safe_to_replace(dest: Path) -> bool:
    """Only ever delete an empty directory or a bare git repository."""
    if not dest.exists():
        return True
    if not dest.is_dir():
        return False
    return not any(dest.iterdir()) or ((dest / "HEAD").is_file() and (dest / "objects").is_dir())


def build_origin(
    dest: Path,
    app_dir: Path = APP_DIR,
    releases: tuple[Release, ...] = RELEASES,
    executables: set[str] = EXECUTABLES,
) -> None:
    """(Re)build the bare repository at `dest` from `app_dir` (lab/app) with every tag of `releases` (RELEASES);
    branch main ends at the last release without a base (the app as it is on disk)."""
    dest = Path(dest).resolve()
    if not _safe_to_replace(dest):
        raise RuntimeError(f"{dest} exists and is not a bare git repository; refusing to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    repo = dest.with_name(f".{dest.name}.new")  # built beside dest, then renamed into place
    shutil.rmtree(repo, ignore_errors=True)
    _git(repo, "init", "--quiet", "--bare", "--initial-branch=main")
    with tempfile.TemporaryDirectory(prefix="ghostworks-origin-") as tmp:
        work = Path(tmp)
        detached = False  # good releases are commits on main; fault commits are detached on top of their base tag
        for release in releases:
            if release.base is None:
                if detached:
                    _git(repo, "checkout", "--quiet", "--force", "main", work=work)
                    detached = False
                _copy_app(work, app_dir, executables)
            else:
                _git(repo, "checkout", "--quiet", "--force", "--detach", release.base, work=work)
                detached = True
            _commit_and_tag(repo, work, release)
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    (repo / "index").unlink(missing_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    repo.rename(dest)


def build_shop_origin(dest: Path) -> None:
    """(Re)build the bare repository of the lab's second app (lab/app2) with the tags of lab/shop_releases.py."""
    from lab import shop_releases

    build_origin(dest, SHOP_DIR, shop_releases.RELEASES, shop_releases.EXECUTABLES)


def main(argv: list[str] | None = None) -> None:
    """CLI: `python3 -m lab.origin [--app shop] DEST`."""
    parser = argparse.ArgumentParser(prog="python3 -m lab.origin", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="where to write the bare repository (replaced if it is one)")
    parser.add_argument("--app", choices=("demo", "shop"), default="demo", help="lab/app (demo) or lab/app2 (shop)")
    args = parser.parse_args(argv)
    if args.app == "shop":
        from lab.shop_releases import MAIN as main_tag
        from lab.shop_releases import RELEASES as releases

        build_shop_origin(args.dest)
    else:
        main_tag, releases = MAIN, RELEASES
        build_origin(args.dest)
    for release in releases:
        commit = _git(args.dest.resolve(), "rev-parse", f"{release.tag}^{{commit}}")
        print(f"{release.tag:22} {commit[:12]}  alembic head {release.alembic_head}  {release.message}")
    print(f"main -> {main_tag}; bare repository at {args.dest.resolve()}")


if __name__ == "__main__":
    main()
