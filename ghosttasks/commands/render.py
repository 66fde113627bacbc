"""Jinja over templates/: StrictUndefined, so a missing value is an error, never an empty line."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ghosttasks.domain.colors import COLORS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


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


def upstream_prefix(project: str) -> str:
    """The nginx name prefix of a project's upstreams and colour variable (`ghostworks`)."""
    return project.replace("-", "_")


def upstream(env: Any) -> str:
    """The nginx upstream blocks of both colours for every per-colour service (http-level include)."""
    servers = {
        service: {color: [f"{host.address}:{env.port(service, color)}" for host in env.app_hosts] for color in COLORS}
        for service in env.app.color_services
    }
    return render(
        "nginx/upstream.conf.j2",
        environment=env.name,
        prefix=upstream_prefix(env.app.project),
        servers=servers,
        selector_path=env.selector_path,
        flag_path=env.flag_path,
    )


def selector(env: Any) -> str:
    """The server-level snippet that picks the colour per request from the flag file."""
    prefix = upstream_prefix(env.app.project)
    return render(
        "nginx/selector.conf.j2",
        prefix=prefix,
        variable=f"{prefix}_color",
        services=env.app.color_services,
        flag_path=env.flag_path,
    )
