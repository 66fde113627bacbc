"""The lab's one exception: every failed step raises LabError with a one-line message."""


class LabError(RuntimeError):
    """A lab step failed; the message is one line saying which step and why."""
