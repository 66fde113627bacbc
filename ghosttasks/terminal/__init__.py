"""What the user sees: output, step events and their views, the monitor view, folding, the summary, the run log.

May import decisions, commands, config and domain.
"""
