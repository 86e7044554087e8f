"""The worker's HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

OwlClaw served no metrics endpoint for cron at all (reference/owlclaw.md section 3.9, item 13).
This is a small threaded ``http.server`` so it keeps answering while the event loop is busy with
runs; health checks that need the backend are sent to the app's loop.

- ``GET /metrics``: the app's registry in the Prometheus text format;
- ``GET /healthz``: :func:`check_health` as JSON; 200 when healthy or degraded, 503 unhealthy
  (the Kubernetes liveness probe);
- ``GET /readyz``: the same JSON; 200 only when ready (ledger and backend reachable and the
  scheduler running), else 503 (the readiness probe).
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from owlclaw_runtime.observability.health import UNHEALTHY, check_health
from owlclaw_runtime.observability.metrics import CONTENT_TYPE, CronMetrics

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
ROUTES = (METRICS_PATH, HEALTH_PATH, READY_PATH)


def find_metrics(app: Any) -> CronMetrics | None:
    """The :class:`CronMetrics` observing ``app`` (``app.metrics`` or one of ``app.observers``)."""
    metrics = getattr(app, "metrics", None)
    if isinstance(metrics, CronMetrics):
        return metrics
    for observer in getattr(app, "observers", None) or ():
        if isinstance(observer, CronMetrics):
            return observer
    return None


class ServerHandle:
    """A running endpoint: ``host``, ``port`` (the bound one, also when 0 was asked), ``url``."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        address = server.server_address
        self.host: str = str(address[0])
        self.port: int = int(address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_class(
    app: Any, metrics: CronMetrics, loop: asyncio.AbstractEventLoop | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "owlmigrate"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == METRICS_PATH:
                metrics.refresh_breakers(app)
                self._reply(200, CONTENT_TYPE, metrics.render())
            elif path in (HEALTH_PATH, READY_PATH):
                report = check_health(app, loop=loop)
                ok = report["status"] != UNHEALTHY if path == HEALTH_PATH else bool(report["ready"])
                body = json.dumps(report, sort_keys=True, default=str).encode("utf-8")
                self._reply(200 if ok else 503, "application/json", body)
            else:
                body = json.dumps({"error": "not found", "routes": list(ROUTES)}).encode()
                self._reply(404, "application/json", body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Scrapes every few seconds would flood the worker's log; stay quiet.
            return

    return Handler


def serve(
    app: Any,
    port: int,
    host: str = "127.0.0.1",
    *,
    metrics: CronMetrics | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> ServerHandle:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` for ``app`` on a background thread.

    ``metrics`` defaults to the app's :class:`CronMetrics`; when the app has none, one is
    created and attached with ``app.add_observer`` so the endpoint has something to show.
    ``loop`` defaults to the running event loop when called from a coroutine (the one the
    backend lives on). Port 0 binds a free port (see ``handle.port``).
    """
    if metrics is None:
        metrics = find_metrics(app)
    if metrics is None:
        metrics = CronMetrics()
        add = getattr(app, "add_observer", None)
        if callable(add):
            add(metrics)
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
    server = ThreadingHTTPServer((host, port), _handler_class(app, metrics, loop))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.2},
        name="owlclaw-http",
        daemon=True,
    )
    thread.start()
    return ServerHandle(server, thread)


__all__ = [
    "HEALTH_PATH",
    "METRICS_PATH",
    "READY_PATH",
    "ROUTES",
    "ServerHandle",
    "find_metrics",
    "serve",
]
