"""Shared pytest options: --regen-plans rewrites the golden dry-run plans (review them in the diff)."""


def pytest_addoption(parser):
    parser.addoption("--regen-plans", action="store_true", help="rewrite tests/unit/plans/*.txt from current output")
