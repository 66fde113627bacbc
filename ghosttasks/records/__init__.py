"""What is kept on the state host: state.json, the audit log (history.jsonl), the deploy lock.

May import execution and everything below it.
"""
