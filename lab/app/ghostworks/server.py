"""Tiny HTTP plumbing over http.server: requests in, responses out, JSON access logs, fast SIGTERM.

Every request gets a request id: the caller's `X-Request-ID` when it is a plain id, else a new one. It is
answered in the `X-Request-ID` response header and logged with the request, so a client, nginx and the
access log can name the same request.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain (a UUID, nginx's $request_id, a trace id): nothing that
# could forge a log line or smuggle a bearer token (a JWT is longer) into the logs.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
_QUERY_VALUE = re.compile(r"(?<=[?&])([^=&\s'\"]+)=[^&\s'\"]*")


def request_id(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is 1 to 64 of `A-Za-z0-9._:-`, else a new random id (32 hex digits)."""
    candidate = (incoming or "").strip()
    return candidate if _PLAIN_ID.fullmatch(candidate) else uuid.uuid4().hex


def log_path(raw: str) -> str:
    """The request target as it may be logged: query parameter names are kept, their values never (tokens)."""
    path, sep, query = raw.partition("?")
    if not sep:
        return path
    names = [part.split("=", 1)[0] for part in query.split("&") if part]
    return f"{path}?{'&'.join(f'{name}=***' for name in names)}"


@dataclass
class Request:
    """What a handler sees of an HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    request_id: str = ""

    def json(self) -> object:
        """The body parsed as JSON (ValueError when it is not)."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """Status, body bytes, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: object) -> Response:
    """A JSON response."""
    return Response(status, json.dumps(payload).encode() + b"\n")


def error(status: int, message: str) -> Response:
    """A JSON error response `{"error": message}`."""
    return json_response(status, {"error": message})


App = Callable[[Request], Response]


def make_handler(app: App, log: logging.Logger) -> type[BaseHTTPRequestHandler]:
    """A request handler class that feeds every request to `app` and logs one JSON line per request (with its id)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # idle keep-alive connections are closed after this

        def _handle(self) -> None:
            start = time.perf_counter()
            rid = request_id(self.headers.get(REQUEST_ID_HEADER))
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                response = error(413, "request body too large")
            else:
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, self.path, headers, body, rid)
                try:
                    response = app(request)
                except Exception:
                    where = {"method": self.command, "path": log_path(self.path), "request_id": rid}
                    log.exception("unhandled error", extra=where)
                    response = error(500, "internal server error")
            response.headers[REQUEST_ID_HEADER] = rid
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            extra = {
                "method": self.command,
                "path": log_path(self.path),
                "status": response.status,
                "client": self.client_address[0],
                "request_id": rid,
            }
            log.info("request", extra={**extra, "duration_ms": round((time.perf_counter() - start) * 1000, 1)})

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        def version_string(self) -> str:
            return "ghostworks"

        def log_request(self, code: object = "-", size: object = "-") -> None:
            pass  # _handle logs every request as JSON

        def log_message(self, format: str, *args: object) -> None:
            log.debug(_QUERY_VALUE.sub(r"\1=***", format % args))  # http.server's own notes quote request lines

    return Handler


class Server(ThreadingHTTPServer):
    """A thread per request, and the listen backlog of a production server: http.server's default of 5 drops
    connections beyond it under a burst (their SYNs are retried after 1 s, then 3 s...), which nginx and the
    probes see as a slow or failed answer of a healthy app."""

    request_queue_size = 128
    daemon_threads = True
    block_on_close = False


def serve(app: App, host: str, port: int, log: logging.Logger) -> None:
    """Serve `app` on host:port until SIGTERM or SIGINT, then stop at once (in-flight requests are abandoned)."""
    server = Server((host, port), make_handler(app, log))

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening", extra={"addr": f"{host}:{port}"})
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    log.info("stopped")
