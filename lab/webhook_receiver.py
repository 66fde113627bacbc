"""The ghostlab's webhook receiver: records every POSTed body with its path and time.

Endpoints (any POST path is recorded, e.g. /deployments and /incidents):
    POST /<path>       record the JSON body (a body that is not JSON is kept as text); answers 200
    GET  /events       every recorded event as a JSON list (?path=/incidents keeps one path)
    DELETE /events     forget every event
    GET  /health       200 {"status": "ok"}

Events are appended, one JSON object a line, to the --events file, so they survive a restart.
Run: python3 lab/webhook_receiver.py --bind 127.0.0.15 --port 8080 --events /var/lib/ghostlab/webhook/events.jsonl
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1 << 20


class EventLog:
    """A JSONL file of events, safe to use from several handler threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def append(self, event: dict) -> None:
        line = json.dumps(event, sort_keys=True) + "\n"
        with self.lock, self.path.open("a") as handle:
            handle.write(line)

    def read(self, path: str | None = None) -> list[dict]:
        with self.lock:
            lines = self.path.read_text().splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        return [event for event in events if path is None or event["path"] == path]

    def clear(self) -> None:
        with self.lock:
            self.path.write_text("")


def make_event(path: str, raw: bytes, content_type: str) -> dict:
    """One recorded event: path, time, and the body (parsed JSON, or the text with json=false)."""
    now = time.time()
    event = {
        "path": path,
        "time": datetime.fromtimestamp(now, UTC).isoformat(),
        "ts": now,
        "content_type": content_type,
    }
    try:
        event["body"], event["json"] = json.loads(raw or b"null"), True
    except ValueError:
        event["body"], event["json"] = raw.decode(errors="replace"), False
    return event


class Handler(BaseHTTPRequestHandler):
    """Records POSTs; serves and clears /events."""

    server: Receiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"error": "body too large"})
            return
        raw = self.rfile.read(length)
        path = urlsplit(self.path).path
        self.server.events.append(make_event(path, raw, self.headers.get("Content-Type", "")))
        self._reply(200, {"ok": True})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/events":
            only = parse_qs(url.query).get("path", [None])[0]
            self._reply(200, self.server.events.read(only))
        elif url.path == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": "not found"})

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/events":
            self.server.events.clear()
            self._reply(200, {"ok": True})
        else:
            self._reply(404, {"error": "not found"})

    def _reply(self, code: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the events file is the record."""


class Receiver(ThreadingHTTPServer):
    """The HTTP server with its event log."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], events: EventLog) -> None:
        self.events = events
        super().__init__(address, Handler)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.15", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--events", type=Path, required=True, help="JSONL file the events are appended to")
    args = parser.parse_args(argv)
    server = Receiver((args.bind, args.port), EventLog(args.events))
    server.serve_forever()


if __name__ == "__main__":
    main()
