#!/usr/bin/env python3
"""Seed the demo tenants, users and artifacts; safe to run any number of times.

Run from the app directory after `alembic upgrade head`: `python3 scripts/seed_demo_data.py`.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from ghostworks import database, tokens
from ghostworks.models import Artifact, Tenant, User
from sqlalchemy import select

DEMO = [
    {
        "slug": "acme",
        "name": "Acme Corporation",
        "username": "admin",
        "password": "acme-demo-password",
        "artifacts": [("welcome.txt", "Welcome to Acme on Ghostworks."), ("runbook.md", "# Acme runbook\n")],
    },
    {
        "slug": "globex",
        "name": "Globex Corporation",
        "username": "admin",
        "password": "globex-demo-password",
        "artifacts": [("welcome.txt", "Welcome to Globex on Ghostworks."), ("plans.md", "# Globex plans\n")],
    },
]


def seed() -> list[str]:
    """Create whatever of DEMO is missing (and reset demo passwords that changed); return what was done."""
    done = []
    with database.session() as s:
        for spec in DEMO:
            tenant = s.scalars(select(Tenant).where(Tenant.slug == spec["slug"])).first()
            if tenant is None:
                tenant = Tenant(slug=spec["slug"], name=spec["name"])
                s.add(tenant)
                s.flush()
                done.append(f"tenant {spec['slug']}")
            user = s.scalars(select(User).where(User.tenant_id == tenant.id, User.username == spec["username"])).first()
            if user is None:
                s.add(
                    User(
                        tenant_id=tenant.id,
                        username=spec["username"],
                        password_hash=tokens.hash_password(spec["password"]),
                    )
                )
                done.append(f"user {spec['slug']}/{spec['username']}")
            elif not tokens.check_password(spec["password"], user.password_hash):
                user.password_hash = tokens.hash_password(spec["password"])
                done.append(f"password reset {spec['slug']}/{spec['username']}")
            names = set(s.scalars(select(Artifact.name).where(Artifact.tenant_id == tenant.id)))
            for name, content in spec["artifacts"]:
                if name not in names:
                    s.add(Artifact(tenant_id=tenant.id, name=name, content=content))
                    done.append(f"artifact {spec['slug']}/{name}")
        s.commit()
    return done


def main() -> None:
    """Seed and say what changed."""
    done = seed()
    print("seeded: " + ", ".join(done) if done else "seed: nothing to do, demo data already present")


if __name__ == "__main__":
    main()
