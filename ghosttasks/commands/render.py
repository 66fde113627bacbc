"""Jinja over ghosttasks/templates/: StrictUndefined, so a missing value is an error, never an empty line.

The templates are package data: an installed ghosttasks reads its own copy through Jinja's PackageLoader.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ghosttasks.domain.colors import COLORS
from ghosttasks.domain.metric_queries import ACCESS_LOG_TAG


def jinja_environment(loader: Any) -> Any:
    """A new Jinja environment over a template loader: StrictUndefined, trimmed blocks, no autoescape."""
    import jinja2

    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


@cache
def _environment() -> Any:
    import jinja2

    return jinja_environment(jinja2.PackageLoader("ghosttasks"))


def render(name: str, **values: Any) -> str:
    """Render one template of ghosttasks/templates/ with these values."""
    return _environment().get_template(name).render(**values)


def upstream_prefix(project: str) -> str:
    """The nginx name prefix of a project's upstreams and colour variable (`ghostworks`)."""
    return project.replace("-", "_")


def log_format_name(project: str) -> str:
    """The nginx log_format of a project's access log (`ghostworks_ghosttasks`)."""
    return f"{upstream_prefix(project)}_ghosttasks"


def upstream(env: Any) -> str:
    """The nginx upstream blocks of both colours for every web-facing per-colour service and the access log's
    format (http-level include)."""
    servers = {
        service: {color: [f"{host.address}:{env.port(service, color)}" for host in env.app_hosts] for color in COLORS}
        for service in env.app.web_services
    }
    prefix = upstream_prefix(env.app.project)
    return render(
        "nginx/upstream.conf.j2",
        environment=env.name,
        prefix=prefix,
        variable=f"{prefix}_color",
        log_format=log_format_name(env.app.project),
        log_tag=ACCESS_LOG_TAG,
        servers=servers,
        selector_path=env.selector_path,
        flag_path=env.flag_path,
    )


def selector(env: Any) -> str:
    """The server-level snippet that picks the colour per request from the flag file and logs each request."""
    prefix = upstream_prefix(env.app.project)
    return render(
        "nginx/selector.conf.j2",
        prefix=prefix,
        variable=f"{prefix}_color",
        services=env.app.web_services,
        flag_path=env.flag_path,
        color_header=env.lb.color_header,
        access_log=env.access_log_path,
        log_format=log_format_name(env.app.project),
    )
