"""images: settings (ghosttasks.config.settings.ImageSettings) and where the registry password comes from."""

import pytest
from pydantic import ValidationError

from ghosttasks.config.settings import ImageSettings


def test_the_default_keeps_todays_behaviour():
    settings = ImageSettings()
    assert (settings.build, settings.registry, settings.keep, settings.password()) == ("on-hosts", None, 5, None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"build": "once"}, "registry: required with build: once"),
        ({"build": "once", "registry": "r:5000", "username": "u"}, "password_env or password_file: required"),
        ({"username": "u", "password_env": "A", "password_file": "/f"}, "give one, not both"),
        ({"registry": "http://r:5000"}, "String should match pattern"),
        ({"registry": "r:5000/a b"}, "String should match pattern"),
        ({"keep": 0}, "greater than or equal to 1"),
        ({"build": "twice"}, "Input should be 'on-hosts' or 'once'"),
    ],
)
def test_bad_settings_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        ImageSettings(**fields)


def test_the_login_server_is_the_registry_without_its_path():
    assert ImageSettings(registry="registry.example.com:5000/team/app").login_server == "registry.example.com:5000"


def test_the_password_comes_from_the_named_variable_or_the_first_line_of_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_PW", "from-env")
    assert ImageSettings(username="u", password_env="REGISTRY_PW").password() == "from-env"
    monkeypatch.setenv("REGISTRY_PW", "")
    assert ImageSettings(username="u", password_env="REGISTRY_PW").password() is None
    secret = tmp_path / "pw"
    secret.write_text("from-file\nignored\n")
    assert ImageSettings(username="u", password_file=str(secret)).password() == "from-file"
    assert ImageSettings(username="u", password_file=str(tmp_path / "missing")).password() is None
