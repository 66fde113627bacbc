"""The `ghost` command: the ghosttasks namespace bundled into a GhostProgram, the way Fabric ships `fab`.

It needs no tasks.py: `pip install ghosttasks`, a hosts.yml, then `ghost deploy.prod --version v1.0.0`.
Configuration is Invoke's (the same files and INVOKE_* variables as `inv`), so `ghost.inventory` works alike.
"""

from __future__ import annotations

import sys

from ghosttasks import namespace
from ghosttasks.cli import GhostProgram
from ghosttasks.terminal.command_name import typed_as


class Ghost(GhostProgram):
    """GhostProgram whose hints name `ghost` and whose version is read from the package metadata when asked."""

    command = "ghost"

    def run(self, argv: list[str] | None = None, exit: bool = True) -> None:
        """Invoke's run, every line it prints naming `ghost` where it names a task to type."""
        with typed_as(self.command):
            super().run(argv, exit)

    def parse_core(self, argv: list[str] | None) -> None:
        """Invoke's core parsing, but bytecode is written as Python decides (PYTHONDONTWRITEBYTECODE, -B), or always
        with --write-pyc. Invoke turns it off by default so that a tasks.py leaves no .pyc beside it; `ghost` has no
        tasks.py, and without bytecode every run from a checkout or an editable install compiled the flows again
        (docs/performance.md, section 8)."""
        python_writes = not sys.dont_write_bytecode
        super().parse_core(argv)
        sys.dont_write_bytecode = not (python_writes or self.args["write-pyc"].value)

    def print_version(self) -> None:
        from importlib.metadata import version

        print(f"{self.name} {version('ghosttasks')}")


program = Ghost(namespace=namespace, name="ghosttasks", binary="ghost")
