"""A tiny router over http.server: handlers return (status, body, content type); text access log lines;
the caller's X-Correlation-ID (or a new one) is echoed and logged as rid."""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from shop import metrics

CORRELATION_HEADER = "X-Correlation-ID"
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Reply = tuple[int, bytes, str]
Handler = Callable[[str, bytes, str], Reply]  # (method, body, rid) -> reply


def as_json(status: int, payload: object) -> Reply:
    return status, json.dumps(payload).encode() + b"\n", "application/json"


def as_text(status: int, text: str) -> Reply:
    return status, text.encode(), "text/plain; charset=utf-8"


class Server(ThreadingHTTPServer):
    """A thread per request, and a production server's listen backlog (http.server's 5 drops a burst's connections,
    retried by the client's SYN after 1 s, then 3 s)."""

    request_queue_size = 128
    daemon_threads = True


def serve(routes: dict[str, Handler], host: str, port: int, log: logging.Logger, measured: bool = True) -> None:
    """Serve `routes` (exact paths) until SIGTERM; /metrics is added when `measured`."""

    class Request(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def _handle(self) -> None:
            started = time.perf_counter()
            incoming = (self.headers.get(CORRELATION_HEADER) or "").strip()
            rid = incoming if _PLAIN.fullmatch(incoming) else uuid.uuid4().hex[:16]
            path = self.path.split("?", 1)[0]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if measured and path == "/metrics":
                text, ctype = metrics.exposition()
                status, payload, content_type = 200, text, ctype
            elif path in routes:
                try:
                    status, payload, content_type = routes[path](self.command, body, rid)
                except Exception as exc:
                    log.error("%s %s failed: %s", self.command, path, exc, extra={"rid": rid})
                    status, payload, content_type = as_json(500, {"error": "internal"})
            else:
                status, payload, content_type = as_text(404, "not found\n")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header(CORRELATION_HEADER, rid)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            seconds = time.perf_counter() - started
            if path != "/metrics":
                handler = path if path in routes else "other"
                if measured:
                    metrics.observe(self.command, handler, status, seconds)
                log.info("%s %s %d %.1fms", self.command, path, status, seconds * 1000, extra={"rid": rid})

        do_GET = do_POST = do_HEAD = _handle

        def version_string(self) -> str:
            return "shop"

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = Server((host, port), Request)

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on %s:%d", host, port)
    server.serve_forever(poll_interval=0.2)
