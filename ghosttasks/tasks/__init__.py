"""The Invoke namespaces: db, deploy, traffic, verify, stack."""

from invoke import Collection

from ghosttasks.tasks import db, deploy, stack, traffic, verify

namespace = Collection()
for module in (db, deploy, traffic, verify, stack):
    namespace.add_collection(module.namespace)
namespace.configure({"ghost": {"inventory": None}})
