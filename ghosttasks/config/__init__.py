"""hosts.yml's model: the inventory, each environment's settings, where SSH connections go, the README reference.

Imports only ghosttasks.domain.
"""
