import os
from pathlib import Path

import pytest

from ghosttasks import testing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _shipped_inventory(monkeypatch, tmp_path):
    """Unit tests run against the shipped hosts.yml, write run logs to a temp dir, touch no network."""
    monkeypatch.setenv("GHOST_INVENTORY", str(testing.SHIPPED_INVENTORY))
    monkeypatch.setenv("GHOST_LOG_DIR", str(tmp_path / "runs"))
    for name in [n for n in os.environ if n.startswith("GHOST_SMOKE")]:
        monkeypatch.delenv(name)


@pytest.fixture
def prod():
    """The shipped prod environment (ghosttasks.testing.prod)."""
    return testing.prod()


@pytest.fixture
def inv(capsys):
    """Run `inv ARGS...` in-process (as tasks.py makes `inv` run: a GhostProgram); (exit code, stdout, stderr)."""
    from ghosttasks import namespace
    from ghosttasks.cli import GhostProgram

    def run(*argv: str) -> tuple[int, str, str]:
        program = GhostProgram(namespace=namespace, name="ghosttasks", binary="inv")
        code = 0
        try:
            program.run(["inv", *argv], exit=True)
        except SystemExit as exc:
            code = exc.code or 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
