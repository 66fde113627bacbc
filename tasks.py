"""`inv` entry point: the ghosttasks namespaces, plus the local lab when this is a checkout."""

import sys

from ghosttasks import namespace
from ghosttasks.cli import adopt

try:
    from lab.tasks import ns as lab_namespace
except ImportError:  # an installed ghosttasks without the lab folder
    lab_namespace = None

if lab_namespace is not None:
    namespace.add_collection(lab_namespace)

ns = namespace

# `inv` (Invoke's own Program, invoke.main.program) is importing this file and has yet to parse the
# tasks' flags: from here on it exits 2, not 1, on bad input. Why this way: ghosttasks/cli.py.
if "invoke.main" in sys.modules:
    adopt(sys.modules["invoke.main"].program)
