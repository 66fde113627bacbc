"""The `ghost` command: the ghosttasks namespace bundled into a GhostProgram, the way Fabric ships `fab`.

It needs no tasks.py: `pip install ghosttasks`, a hosts.yml, then `ghost deploy.prod --version v1.0.0`.
Configuration is Invoke's (the same files and INVOKE_* variables as `inv`), so `ghost.inventory` works alike.
"""

from __future__ import annotations

from ghosttasks import namespace
from ghosttasks.cli import GhostProgram


class Ghost(GhostProgram):
    """GhostProgram whose hints name `ghost` and whose version is read from the package metadata when asked."""

    command = "ghost"

    def print_version(self) -> None:
        from importlib.metadata import version

        print(f"{self.name} {version('ghosttasks')}")


program = Ghost(namespace=namespace, name="ghosttasks", binary="ghost")
