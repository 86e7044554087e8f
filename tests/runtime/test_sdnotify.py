"""sd_notify over a real datagram socket: the protocol helpers, and a real worker process
(``owlmigrate run``) that says READY=1 once its scheduler runs, WATCHDOG=1 while it is healthy
and STOPPING=1 when it stops, as ``Type=notify`` with ``WatchdogSec=`` expects."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from owlclaw_runtime.sdnotify import ServiceNotifier, notify, watchdog_interval

REPO = Path(__file__).resolve().parents[2]
OWLMIGRATE = str(Path(sys.executable).with_name("owlmigrate"))


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        yield path, sock
    finally:
        sock.close()


def _drain(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_notify_sends_one_datagram(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    assert notify("READY=1\nSTATUS=up", env={"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_abstract_socket_names_work() -> None:
    name = f"owlmigrate-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert notify("WATCHDOG=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"


def test_outside_systemd_nothing_is_sent(tmp_path: Path) -> None:
    assert not notify("READY=1", env={})
    assert not notify("READY=1", env={"NOTIFY_SOCKET": "relative/path"})
    assert not notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone")})


def test_watchdog_interval_reads_usec_and_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({}) is None


async def test_the_watchdog_pings_only_while_the_scheduler_is_healthy(
    notify_socket: tuple[str, socket.socket],
) -> None:
    path, sock = notify_socket
    healthy = {"ok": True}

    async def health() -> dict[str, Any]:
        return dict(healthy)

    service = ServiceNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    service.ready(health, status="2 triggers")
    while service.pings < 2:
        await asyncio.sleep(0.02)
    healthy["ok"] = False  # a crashed scheduler loop: systemd must see the pings stop
    await asyncio.sleep(0.05)
    stopped_at = service.pings
    await asyncio.sleep(0.3)
    assert service.pings == stopped_at
    await service.stopping()
    messages = _drain(sock)
    assert messages[0] == "READY=1\nSTATUS=2 triggers"
    assert messages[-1] == "STOPPING=1"
    assert messages.count("WATCHDOG=1") == stopped_at


APP = textwrap.dedent(
    '''
    from owlclaw_runtime import OwlClawApp

    app = OwlClawApp("notify-test")


    @app.cron("0 0 1 1 *", event_name="yearly", migration_weight=0.0)
    def yearly(context: dict) -> None:
        """Never due during the test."""
    '''
)


def test_a_real_worker_speaks_type_notify(
    tmp_path: Path, notify_socket: tuple[str, socket.socket]
) -> None:
    path, sock = notify_socket
    (tmp_path / "app.py").write_text(APP)
    messages: list[str] = []
    sock.settimeout(0.2)

    def read() -> None:  # as systemd does: read while the worker runs
        while not stop.is_set():
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                continue

    stop = threading.Event()
    reader = threading.Thread(target=read)
    reader.start()
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'runtime'}",
        "OWLCLAW_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "400000",
    }
    try:
        done = subprocess.run(
            [OWLMIGRATE, "run", "--app", str(tmp_path / "app.py"), "--max-runtime", "2.5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop.set()
        reader.join()
    messages += _drain(sock)  # whatever arrived after the reader's last look
    assert done.returncode == 0, done.stderr
    assert messages[0].startswith("READY=1")
    assert messages[-1] == "STOPPING=1"
    assert "WATCHDOG=1" in messages[1:-1]
    assert set(messages[1:-1]) == {"WATCHDOG=1"}
