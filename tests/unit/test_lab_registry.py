"""The lab registry's htpasswd (lab/labctl/registry.py) on a made-up lab root: no lab."""

from __future__ import annotations

import bcrypt

from lab.labctl.hosts import FLAT, REGISTRY_USER
from lab.labctl.paths import Layout
from lab.labctl.registry import BCRYPT_ROUNDS, registry_password, write_registry_config


def test_the_password_is_hashed_at_bcrypts_least_cost_and_rewritten_only_when_it_must_be(tmp_path):
    lay = Layout(tmp_path)
    htpasswd = lay.registry_dir / "htpasswd"
    assert write_registry_config(lay, FLAT) is True  # new: the registry must (re)start
    user, hashed = htpasswd.read_text().strip().split(":", 1)
    password = registry_password(lay).encode()
    assert (user, hashed[:7], bcrypt.checkpw(password, hashed.encode())) == (REGISTRY_USER, "$2b$04$", True)
    assert BCRYPT_ROUNDS == 4
    assert write_registry_config(lay, FLAT) is False  # as it was: left alone
    assert htpasswd.read_text().strip() == f"{user}:{hashed}"
    # a lab made before (cost 10: 80 ms of the registry's CPU per request) gets the cheap hash
    htpasswd.write_text(f"{REGISTRY_USER}:{bcrypt.hashpw(password, bcrypt.gensalt(rounds=10)).decode()}\n")
    assert write_registry_config(lay, FLAT) is True
    assert htpasswd.read_text().split(":", 1)[1].startswith("$2b$04$")
