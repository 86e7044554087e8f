"""Builders and loopback servers shared by the operations tests."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def config(name: str = "backup_db", **kwargs: Any) -> CronTriggerConfig:
    return CronTriggerConfig(event_name=name, expression="0 2 * * *", **kwargs)


def execution(
    status: ExecutionStatus = ExecutionStatus.SUCCESS,
    name: str = "backup_db",
    *,
    delay: float = 0.25,
    duration: float = 1.5,
    **kwargs: Any,
) -> CronExecution:
    triggered = T0 + timedelta(seconds=delay)
    done = triggered + timedelta(seconds=duration)
    return CronExecution(
        event_name=name,
        status=status,
        scheduled_at=T0,
        triggered_at=triggered,
        started_at=triggered,
        completed_at=done,
        duration_seconds=duration,
        **kwargs,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Recorder:
    """What a loopback webhook server received."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    arrived: threading.Event = field(default_factory=threading.Event)

    def bodies(self) -> list[Any]:
        return [json.loads(r["body"]) for r in self.requests]


@contextmanager
def webhook_server(status: int = 200, delay: float = 0.0) -> Iterator[tuple[str, Recorder]]:
    """A real HTTP server on loopback recording every POST."""
    recorder = Recorder(status=status, delay=delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            if recorder.delay:
                threading.Event().wait(recorder.delay)
            recorder.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body}
            )
            recorder.arrived.set()
            try:
                self.send_response(recorder.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up (the timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
