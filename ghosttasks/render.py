"""Jinja over templates/: StrictUndefined, so a missing value is an error, never an empty line."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def jinja_environment(templates: Path) -> Any:
    """A new Jinja environment over a templates directory: StrictUndefined, trimmed blocks, no autoescape."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


@cache
def _environment() -> Any:
    return jinja_environment(TEMPLATES)


def render(name: str, **values: Any) -> str:
    """Render one template of templates/ with these values."""
    return _environment().get_template(name).render(**values)


def upstream(env: Any, *, color: str, version: str, rendered_at: str) -> str:
    """The nginx upstream blocks sending api and web traffic to `color` on every app host."""
    servers = {
        service: [f"{host.address}:{env.port(service, color)}" for host in env.app_hosts]
        for service in env.app.color_services
    }
    return render(
        "nginx/upstream.conf.j2",
        environment=env.name,
        color=color,
        version=version,
        rendered_at=rendered_at,
        project=env.app.project,
        servers=servers,
    )
