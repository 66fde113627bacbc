"""Ghostworks: the demo multi-tenant artifact service that ghosttasks deploys in the lab."""
