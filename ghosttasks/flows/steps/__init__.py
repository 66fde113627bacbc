"""The procedures' building blocks: the guard, preflight, release, backup, migrate, health, switching, monitoring...

May import records, observability and everything below them; never a procedure of ghosttasks.flows.
"""
