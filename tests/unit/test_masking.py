"""Secrets never reach output: assignments, JSON fields, URL passwords, bearer tokens, known literals."""

import pytest

from ghosttasks.domain.masking import MASK, Masker


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("POSTGRES_PASSWORD=hunter22", f"POSTGRES_PASSWORD={MASK}"),
        ("JWT_SECRET_KEY: 'abc def'", f"JWT_SECRET_KEY: {MASK}"),
        ("DATABASE_URL=postgresql://gw:s3cr3t@db:5432/gw", f"DATABASE_URL=postgresql://gw:{MASK}@db:5432/gw"),
        ('{"password": "p\\"w", "user": "a"}', f'{{"password": "{MASK}", "user": "a"}}'),
        ("Authorization: Bearer eyJhbGciOi.abc", f"Authorization: Bearer {MASK}"),
        ("redis://:pw@redis:6379/0", f"redis://:{MASK}@redis:6379/0"),
        ("LOG_LEVEL=INFO DEBUG=false", "LOG_LEVEL=INFO DEBUG=false"),
        ("GITHUB_TOKEN=ghp_xxx AWS_SECRET_ACCESS_KEY=zzz", f"GITHUB_TOKEN={MASK} AWS_SECRET_ACCESS_KEY={MASK}"),
    ],
)
def test_patterns(text, expected):
    assert Masker()(text) == expected


def test_known_literals_are_masked_anywhere():
    masker = Masker()
    masker.add("marker-secret-42")
    masker.add("abc")  # too short to mask meaningfully
    assert masker("echo marker-secret-42 and abc") == f"echo {MASK} and abc"
