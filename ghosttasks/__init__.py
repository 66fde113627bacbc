"""ghosttasks: the Ghostworks deployment runbook as Invoke tasks over Fabric."""

from ghosttasks.tasks import namespace

__all__ = ["namespace"]
