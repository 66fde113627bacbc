"""The runbook's procedures, one per task (deploy.prod, traffic.switch, verify.*, ...), as readable step lists.

May import flows.steps and everything below it; never tasks.
"""
