"""Writing the lab's files: rendered from lab/templates (ghosttasks' Jinja environment), written only when changed."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lab.labctl.paths import LAB_DIR

TEMPLATES = LAB_DIR / "templates"


def yaml_scalar(value: object) -> str:
    """A YAML scalar for a string: plain when it reads back unchanged, else double-quoted."""
    text = str(value)
    try:
        if re.fullmatch(r"[A-Za-z0-9_/.@:-]+", text) and yaml.safe_load(text) == text:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text)


@cache
def _templates() -> Any:
    import jinja2

    from ghosttasks.commands.render import jinja_environment

    env = jinja_environment(jinja2.FileSystemLoader(TEMPLATES))
    env.filters["q"] = yaml_scalar
    return env


def render(template: str, **context: object) -> str:
    """Render one of lab/templates/ (StrictUndefined)."""
    return _templates().get_template(template).render(**context)


def write_file(path: Path, content: str, mode: int = 0o644) -> bool:
    """Write a file if its content changed; return whether it did. The mode is always applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    changed = not path.exists() or path.read_text() != content
    if changed:
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, path)
    os.chmod(path, mode)
    return changed
