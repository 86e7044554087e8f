"""Each legacy start is logged to a real syslog socket (a Unix datagram server on a temporary
``/dev/log``-like path) exactly as the dialect's cron daemon logs it, facility cron."""

from __future__ import annotations

import os
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from owlclaw_runtime.cronlog import LOG_JOBEND, LOG_JOBFAILED, LOG_JOBPID, CronSyslog, mkprints
from owlclaw_runtime.legacy import LegacyCommand, LegacyJobFailed

WHEN = 1_796_000_000.0  # a fixed clock: the stamp is then known


class _Log(socketserver.UnixDatagramServer):
    def __init__(self, path: str) -> None:
        self.records: list[bytes] = []
        super().__init__(path, _Handler)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.records.append(self.request[0])  # type: ignore[attr-defined]


@pytest.fixture
def syslog_socket(tmp_path: Path) -> Iterator[tuple[str, _Log]]:
    path = str(tmp_path / "dev-log")
    server = _Log(path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield path, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _records(server: _Log, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(server.records) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return [r.decode() for r in server.records]


def _stamp() -> str:
    t = time.localtime(WHEN)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{months[t.tm_mon - 1]} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)}"


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def test_debian_logs_cron_cmd_with_the_jobs_pid(syslog_socket: tuple[str, _Log]) -> None:
    path, server = syslog_socket
    log = CronSyslog("debian", socket_path=path, clock=lambda: WHEN)
    result = LegacyCommand("echo hi >/dev/null", syslog=log).run()
    [line] = _records(server, 1)
    # <78>: facility cron (9) * 8 + info (6)
    assert line == f"<78>{_stamp()} CRON[{result.pid}]: ({_me()}) CMD (echo hi >/dev/null)"


def test_cronie_logs_crond_cmd_and_cmdend(syslog_socket: tuple[str, _Log]) -> None:
    path, server = syslog_socket
    log = CronSyslog("cronie-1.7", socket_path=path, clock=lambda: WHEN, daemon_pid=4242)
    result = LegacyCommand("true", dialect="cronie-1.7", syslog=log).run()
    lines = _records(server, 2)
    assert lines == [
        f"<78>{_stamp()} CROND[{result.pid}]: ({_me()}) CMD (true)",
        f"<78>{_stamp()} CROND[4242]: ({_me()}) CMDEND (true)",
    ]


async def test_busybox_logs_user_pid_cmd_from_the_daemon(syslog_socket: tuple[str, _Log]) -> None:
    path, server = syslog_socket
    log = CronSyslog("busybox", socket_path=path, clock=lambda: WHEN)
    result = await LegacyCommand("date >/dev/null", dialect="busybox", syslog=log).arun()
    [line] = _records(server, 1)
    expected = f"<78>{_stamp()} crond[{os.getpid()}]: USER {_me()} pid {result.pid:3d} "
    assert line == expected + "cmd date >/dev/null"


def test_debian_log_levels_end_failed_and_pid(syslog_socket: tuple[str, _Log]) -> None:
    path, server = syslog_socket
    level = 1 | LOG_JOBEND | LOG_JOBFAILED | LOG_JOBPID
    log = CronSyslog("debian", socket_path=path, clock=lambda: WHEN, log_level=level, daemon_pid=7)
    with pytest.raises(LegacyJobFailed) as failed:
        LegacyCommand("exit 5", syslog=log).run()
    pid = failed.value.result.pid
    me = _me()
    assert _records(server, 3) == [
        f"<78>{_stamp()} CRON[7]: ({me}) CMD ([{pid}] exit 5)",
        f"<78>{_stamp()} CRON[7]: (CRON) error (grandchild #{pid} failed with exit status 5)",
        f"<78>{_stamp()} CRON[{pid}]: ({me}) END ([{pid}] exit 5)",
    ]


def test_the_socket_path_comes_from_the_environment(
    syslog_socket: tuple[str, _Log], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, server = syslog_socket
    monkeypatch.setenv("OWLCLAW_SYSLOG_SOCKET", path)
    LegacyCommand("true", syslog=True).run()  # what generated apps pass
    [line] = _records(server, 1)
    assert " CRON[" in line and line.endswith(f"({_me()}) CMD (true)")


def test_no_syslog_socket_drops_the_line_and_the_job_runs(tmp_path: Path) -> None:
    log = CronSyslog("debian", socket_path=str(tmp_path / "absent"))
    assert LegacyCommand("true", syslog=log).run().succeeded


def test_mkprints_shows_controls_and_high_bytes_as_cron_does() -> None:
    assert mkprints("a\tb\x7fé") == "a^Ib^?\\303\\251"
    assert mkprints("plain % text") == "plain % text"
