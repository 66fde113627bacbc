"""The README's hosts.yml reference is the one generated from the model, and every field says what it means."""

import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

from ghosttasks.config import inventory, settings
from ghosttasks.config.reference import (
    BEGIN,
    END,
    NOT_KEYS,
    REGENERATE,
    current_reference,
    main,
    reference_markdown,
    replace_reference,
    rows,
)

ROOT = Path(__file__).resolve().parents[2]


def _models() -> list[type[BaseModel]]:
    """Every pydantic model class of config/inventory.py and config/settings.py (reachable from Inventory or not)."""
    return [
        cls
        for module in (inventory, settings)
        for _name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == module.__name__ and cls.model_fields
    ]


def test_readme_reference_matches_the_model():
    readme = (ROOT / "README.md").read_text()
    assert current_reference(readme) == reference_markdown(), (
        f"README.md's hosts.yml reference and ghosttasks/config/inventory.py disagree; regenerate it with: {REGENERATE}"
    )


@pytest.mark.parametrize(
    ("model", "field"),
    [(model, field) for model in _models() for field in model.model_fields],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_every_field_has_a_description(model, field):
    description = model.model_fields[field].description
    assert description and description.strip(), (
        f"{model.__name__}.{field} has no description: add Field(..., description='what it means, its unit'), "
        f"then run {REGENERATE}"
    )


def test_the_models_cover_the_whole_inventory():
    names = [model.__name__ for model in _models()]
    assert len(names) == len(set(names))
    assert set(names) >= {
        "Inventory",
        "Environment",
        "Host",
        "SSHSettings",
        "AppSettings",
        "SmokeUser",
        "SmokeSettings",
        "DatabaseSettings",
        "LBSettings",
        "MonitoringSettings",
        "Thresholds",
        "NotifySettings",
        "Prerequisites",
    }


def test_keys_that_are_not_in_hosts_yml_are_real_fields():
    for model_name, field in NOT_KEYS:
        fields = getattr(inventory, model_name).model_fields
        assert field in fields, f"NOT_KEYS names {model_name}.{field}: no such field"


def test_one_row_per_key_with_nested_lists_and_maps():
    keys = [row.key for row in rows()]
    assert len(keys) == len(set(keys))
    assert "environments.<name>.ssh.port" in keys
    assert "environments.<name>.hosts[].roles" in keys
    assert "environments.<name>.smoke.users[].password_env" in keys
    assert "path" not in keys and "environments.<name>.name" not in keys
    by_key = {row.key: row for row in rows()}
    assert by_key["default_env"].default == "required"
    assert by_key["environments.<name>.ssh.port"].type == "integer, 1 to 65535"
    assert by_key["environments.<name>.ssh.port"].default == "`22`"
    assert by_key["environments.<name>.ssh.jump_host"].default == "none"
    assert by_key["environments.<name>.app.color_services"].default == "`api`, `web`"
    assert by_key["environments.<name>.app.required_env"].default == "the runbook list (below)"
    assert by_key["environments.<name>.app.color_ports"].type == "map `blue`/`green` → map name → integer"


def test_write_replaces_only_the_text_between_the_markers(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nparagraph above\n\n{BEGIN}\nstale table\n{END}\n\n## next\n")
    assert main(["--check", str(readme)]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert main(["--write", str(readme)]) == 0
    text = readme.read_text()
    assert text == f"# title\n\nparagraph above\n\n{BEGIN}\n{reference_markdown()}{END}\n\n## next\n"
    assert main(["--check", str(readme)]) == 0
    assert main(["--write", str(readme)]) == 0
    assert readme.read_text() == text


def test_missing_markers_are_an_error(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert main(["--write", str(readme)]) == 2
    assert "markers" in capsys.readouterr().err
    assert readme.read_text() == "no markers here\n"
    with pytest.raises(ValueError):
        replace_reference(f"{END}\n{BEGIN}\n", "x")
