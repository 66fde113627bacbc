"""PURE values every layer shares: colours, errors, masking, validation, the deploy state, alembic revisions.

Imports nothing else of ghosttasks.
"""
