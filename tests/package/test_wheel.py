"""The package as a team installs it: sdist and wheel built with `python -m build` from a copy of the tree without
earlier build output (a stale *.egg-info/SOURCES.txt would ship files package-data forgets), the wheel installed into a
fresh venv with its dependencies from the package index, and run from a directory outside the checkout that
holds only hosts.yml (no PYTHONPATH), so nothing of the checkout can be imported.

`make test-package` (part of `make test`); needs the package index. Most of its time is pip's: the venv has no pip
of its own (this interpreter's pip installs into it) and nothing is byte-compiled ahead of the few imports ghost makes.
"""

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_PLAN = (ROOT / "tests" / "unit" / "plans" / "deploy-prod.txt").read_text()
PROD_ARGV = ["deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes"]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run(argv: list, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240) -> str:
    """Run a command; on a non-zero exit fail with the command, its exit code and everything it printed."""
    result = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} (in {cwd}) exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout


def build_output(directory: str, names: list[str]) -> set[str]:
    """What earlier builds (and git) leave in the tree: none of it may decide what the sdist holds."""
    top = {".git", "build", "dist"} if Path(directory) == ROOT else set()
    return {name for name in names if name in top or name.endswith(".egg-info") or name == "__pycache__"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source") / "ghosttasks"
    shutil.copytree(ROOT, source, ignore=build_output)
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", dist, source], cwd=source)
    [built] = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel and the dependencies pip resolves for it."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-compile"]
    run([*pip, "--disable-pip-version-check", wheel], cwd=venv)
    return venv / "bin"


@pytest.fixture
def outside(tmp_path, venv_bin) -> tuple[Path, dict[str, str]]:
    """A directory holding only a copy of the shipped hosts.yml, and an environment without the checkout."""
    shutil.copy(ROOT / "hosts.yml", tmp_path / "hosts.yml")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "GHOST_", "INVOKE_", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["GHOST_LOG_DIR"] = str(tmp_path / "runs")
    return tmp_path, env


def test_the_wheel_ships_the_templates_py_typed_and_ghost(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("nginx/upstream.conf.j2", "nginx/selector.conf.j2"):
        assert f"ghosttasks/templates/{name}" in names
    assert "ghosttasks/py.typed" in names
    entry_points = zipfile.ZipFile(wheel).read(f"ghosttasks-{VERSION}.dist-info/entry_points.txt").decode()
    assert "ghost = ghosttasks.main:program.run" in entry_points


def test_the_installed_package_is_imported_not_the_checkout(outside, venv_bin):
    cwd, env = outside
    location = run([venv_bin / "python", "-c", "import ghosttasks; print(ghosttasks.__file__)"], cwd, env)
    assert Path(location.strip()).is_relative_to(venv_bin.parent), location


def test_ghost_lists_the_tasks_and_tells_its_version(outside):
    cwd, env = outside
    assert "  deploy.prod " in run(["ghost", "--list"], cwd, env)
    assert run(["ghost", "--version"], cwd, env) == f"ghosttasks {VERSION}\n"


def test_ghost_prints_the_golden_prod_plan(outside):
    cwd, env = outside
    assert run(["ghost", *PROD_ARGV], cwd, env) == PROD_PLAN


def test_inv_over_a_tasks_py_that_imports_the_namespace(outside):
    """The issue's reproduction: an installed ghosttasks rendered no LB config (templates outside the package)."""
    cwd, env = outside
    (cwd / "tasks.py").write_text("from ghosttasks import namespace as ns\n")
    assert "  deploy.prod " in run(["inv", "--list"], cwd, env)
    assert run(["inv", *PROD_ARGV], cwd, env) == PROD_PLAN
