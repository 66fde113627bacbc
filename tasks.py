"""`inv` entry point: the ghosttasks namespaces, plus the local lab when this is a checkout."""

from ghosttasks import namespace

try:
    from lab.tasks import ns as lab_namespace
except ImportError:  # an installed ghosttasks without the lab folder
    lab_namespace = None

if lab_namespace is not None:
    namespace.add_collection(lab_namespace)

ns = namespace
