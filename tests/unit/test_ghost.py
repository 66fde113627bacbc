"""The `ghost` command (ghosttasks.main): the bundled namespace, hosts.yml found as `inv` finds it, a fast list."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ghosttasks import namespace
from ghosttasks.main import Ghost
from ghosttasks.terminal.command_name import typed
from ghosttasks.testing import SHIPPED_INVENTORY

ROOT = Path(__file__).resolve().parents[2]
PROD_PLAN = (Path(__file__).parent / "plans" / "deploy-prod.txt").read_text()
PROD_ARGV = ["deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes"]
HEAVY = ("fabric", "paramiko", "httpx", "httpcore", "pydantic", "rich", "jinja2")
RUN_TIME_MODULES = (
    "ghosttasks.config",
    "ghosttasks.flows",
    "ghosttasks.execution",
    "ghosttasks.domain.deploy_state",
    "ghosttasks.domain.audit",
)


@pytest.fixture
def ghost(capsys):
    """Run `ghost ARGS...` in-process; (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = 0
        try:
            Ghost(namespace=namespace, name="ghosttasks", binary="ghost").run(["ghost", *argv])
        except SystemExit as exc:
            code = exc.code or 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def bare_dir(tmp_path, monkeypatch):
    """A working directory holding only a copy of the shipped hosts.yml, and no GHOST_INVENTORY."""
    shutil.copy(SHIPPED_INVENTORY, tmp_path / "hosts.yml")
    monkeypatch.delenv("GHOST_INVENTORY")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_hosts_yml_in_the_working_directory_is_enough(ghost, bare_dir):
    assert ghost(*PROD_ARGV) == (0, PROD_PLAN, "")


def test_the_invoke_config_names_the_inventory(ghost, bare_dir):
    (bare_dir / "hosts.yml").rename(bare_dir / "prod-hosts.yml")
    (bare_dir / "ghost.yaml").write_text("ghost:\n  inventory: prod-hosts.yml\n")
    assert ghost("-f", "ghost.yaml", *PROD_ARGV) == (0, PROD_PLAN, "")


def test_hints_name_ghost_and_bad_input_exits_2(ghost):
    code, out, err = ghost("deploy.prod", "--version", "v1.0.0", "--bogus")
    assert (code, out, err.splitlines()) == (
        2,
        "",
        ["error: deploy.prod has no option --bogus", "next: see its options: ghost --help deploy.prod"],
    )
    assert typed() == "inv"  # a program run in-process leaves the name as it found it


def test_the_version_is_the_package_metadata(ghost):
    assert ghost("--version") == (0, f"ghosttasks {importlib.metadata.version('ghosttasks')}\n", "")


@pytest.mark.parametrize("argv", [["--list"], ["--help", "deploy.prod"]])
def test_listing_and_help_import_no_ssh_http_or_terminal_library(argv, tmp_path):
    """Startup stays Invoke's: fabric, paramiko, httpx, pydantic, rich and jinja2 load only when a task runs, and
    neither the inventory (its model, its file: none here) nor the state and audit models are needed to list."""
    script = (
        "import sys\n"
        "from ghosttasks.main import program\n"
        f"program.run(['ghost', *{argv!r}], exit=False)\n"
        f"heavy = {{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}\n"
        f"models = {{m for m in sys.modules if m.startswith({RUN_TIME_MODULES!r})}}\n"
        "print(sorted(heavy | models), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "GHOST_INVENTORY": str(tmp_path / "absent.yml")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "[]"
    assert "deploy.prod" in result.stdout


@pytest.mark.parametrize("python_writes", [True, False])
def test_bytecode_is_written_as_python_decides(ghost, monkeypatch, python_writes):
    """Invoke turns bytecode off for a tasks.py; ghost has none and leaves Python's own choice (or --write-pyc)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", not python_writes)
    ghost("--list")
    assert sys.dont_write_bytecode is (not python_writes)
    ghost("--write-pyc", "--list")
    assert sys.dont_write_bytecode is False
