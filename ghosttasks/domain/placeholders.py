"""The placeholders a dry-run plan prints for times, so that its plan is the same on every run."""

PLAN_STAMP = "YYYYMMDDTHHMMSSZ"
PLAN_TIME = "YYYY-MM-DDTHH:MM:SSZ"
