"""The Ghostworks web front: a tiny page and `GET /api/health` (`python3 -m ghostworks.web`)."""

from __future__ import annotations

import html

from . import logs
from .config import settings
from .health import web_health
from .server import Request, Response, error, json_response, serve

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Ghostworks {version}</title></head>
<body style="font-family: sans-serif; border-top: 8px solid {css_color}; padding: 1em">
<h1>Ghostworks</h1>
<p>Version <strong id="version">{version}</strong>, colour <strong id="color">{color}</strong>.</p>
</body>
</html>
"""


def app(req: Request) -> Response:
    """Answer `/` and `/api/health`."""
    path = req.path.split("?", 1)[0]
    if req.method not in ("GET", "HEAD"):
        return error(405, "method not allowed")
    if path == "/api/health":
        return json_response(*web_health(settings.version, settings.color))
    if path == "/":
        color = html.escape(settings.color)
        css_color = color if color in ("blue", "green") else "gray"
        page = PAGE.format(version=html.escape(settings.version), color=color, css_color=css_color)
        return Response(200, page.encode(), "text/html; charset=utf-8")
    return error(404, "not found")


def main() -> None:
    """Run the web front on BIND_ADDR:WEB_PORT."""
    log = logs.setup("web", settings.version, settings.color, settings.log_level)
    serve(app, settings.bind_addr, settings.web_port, log)


if __name__ == "__main__":
    main()
