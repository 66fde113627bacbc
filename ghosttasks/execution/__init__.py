"""Running things: the Executor and its two kinds (SSH, the dry-run recorder), connections, tunnels, probes, the Run.

May import terminal and everything below it.
"""
