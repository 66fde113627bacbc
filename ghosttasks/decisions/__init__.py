"""PURE planners and classifiers: readings and the inventory in, verdicts and plans out.

Import only ghosttasks.domain and ghosttasks.config.
"""
