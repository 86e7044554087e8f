"""Log each legacy run to syslog exactly as the dialect's cron daemon does, so log monitoring
that greps for cron's lines keeps working after cutover.

What the daemons write (facility ``cron``, priority ``info``):

- Debian (``log_it``; ``cron -L``, default 1): ``CRON[jobpid]: (user) CMD (command)``; with
  ``-L`` 2 also ``CRON[jobpid]: (user) END (command)`` at the end.
- cronie (``log_it``): ``CROND[jobpid]: (user) CMD (command)``, and (1.5.6 and later)
  ``CROND[pid]: (user) CMDEND (command)`` at the end.
- busybox (``log8``): ``crond[crondpid]: USER user pid jobpid cmd command`` (pid as ``%3d``).

Debian ``-L`` 4 adds ``CRON[pid]: (CRON) error (grandchild #jobpid failed with exit status N)``
and 8 logs the start from the parent as ``(user) CMD ([jobpid] command)``. Debian and cronie pass
the command through ``mkprints`` (controls as ``^X``, DEL as ``^?``, bytes above 127 as ``\\ooo``);
busybox logs it raw. Where the daemon logs from its intermediate process we use the worker's pid.

The lines go to the syslog socket (``/dev/log``; ``OWLCLAW_SYSLOG_SOCKET`` or ``socket_path``
moves it) in the format glibc's ``syslog(3)`` sends there: ``<PRI>Mmm dd hh:mm:ss IDENT[PID]:
MESSAGE`` in local time, one datagram per line. No socket (no syslog daemon) means no line, as
for the daemons.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from owlclaw_runtime.daemons import daemon_family

LOG_CRON = 9
LOG_ERR = 3
LOG_INFO = 6
DEFAULT_SOCKET = "/dev/log"
# Debian cron -L bits (cron.8)
LOG_JOBSTART, LOG_JOBEND, LOG_JOBFAILED, LOG_JOBPID = 1, 2, 4, 8
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def mkprints(text: str) -> str:
    """Vixie cron's ``mkprints``: the command as it appears in the daemon's log line."""
    out: list[str] = []
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte < 0x20:
            out.append("^" + chr(byte + 0x40))
        elif byte < 0x7F:
            out.append(chr(byte))
        elif byte == 0x7F:
            out.append("^?")
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


def syslog_datagram(ident: str, pid: int, message: str, *, priority: int, when: float) -> bytes:
    """One record as glibc ``syslog(3)`` writes it to ``/dev/log`` (no hostname)."""
    t = time.localtime(when)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"<{priority}>{stamp} {ident}[{pid}]: {message}".encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class LogLine:
    """One line the daemon would log: its tag, pid, message and syslog severity."""

    ident: str
    pid: int
    message: str
    severity: int = LOG_INFO


class CronSyslog:
    """Writes the dialect's start and end lines for legacy runs.

    ``log_level``: Debian's ``cron -L`` value (default 1, start only). ``socket_path``: the
    syslog socket (default ``$OWLCLAW_SYSLOG_SOCKET`` or ``/dev/log``). ``daemon_pid``: the pid
    for lines the daemon writes from its own process (default this process).
    """

    def __init__(
        self,
        dialect: str = "debian",
        *,
        socket_path: str | None = None,
        log_level: int = LOG_JOBSTART,
        daemon_pid: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.family = daemon_family(dialect)
        self.dialect = dialect
        self.socket_path = socket_path
        self.log_level = log_level
        self.daemon_pid = daemon_pid
        self.clock = clock

    def _pid(self) -> int:
        return self.daemon_pid if self.daemon_pid is not None else os.getpid()

    # -- what the daemon logs ------------------------------------------------------------------

    def start_lines(self, user: str, job_pid: int, command: str) -> list[LogLine]:
        if self.family == "busybox":
            return [LogLine("crond", self._pid(), f"USER {user} pid {job_pid:3d} cmd {command}")]
        if self.family == "cronie":
            return [LogLine("CROND", job_pid, f"({user}) CMD ({mkprints(command)})")]
        if not self.log_level & LOG_JOBSTART:
            return []
        if self.log_level & LOG_JOBPID:
            return [
                LogLine("CRON", self._pid(), f"({user}) CMD ({mkprints(f'[{job_pid}] {command}')})")
            ]
        return [LogLine("CRON", job_pid, f"({user}) CMD ({mkprints(command)})")]

    def end_lines(
        self, user: str, job_pid: int, command: str, exit_code: int, signal: int | None = None
    ) -> list[LogLine]:
        if self.family == "busybox":
            return []
        if self.family == "cronie":
            return [LogLine("CROND", self._pid(), f"({user}) CMDEND ({mkprints(command)})")]
        lines: list[LogLine] = []
        if self.log_level & LOG_JOBFAILED:
            if signal is not None:
                detail = f"grandchild #{job_pid} terminated by signal {signal}"
                lines.append(LogLine("CRON", self._pid(), f"(CRON) error ({detail})"))
            elif exit_code:
                detail = f"grandchild #{job_pid} failed with exit status {exit_code}"
                lines.append(LogLine("CRON", self._pid(), f"(CRON) error ({detail})"))
        if self.log_level & LOG_JOBEND:
            shown = f"[{job_pid}] {command}" if self.log_level & LOG_JOBPID else command
            lines.append(LogLine("CRON", job_pid, f"({user}) END ({mkprints(shown)})"))
        return lines

    def mail_lines(self, user: str, problem: str) -> list[LogLine]:
        """A mail the MTA refused: Debian/cronie ``(user) MAIL (...)``, busybox nothing."""
        if self.family == "busybox":
            return []
        ident = "CROND" if self.family == "cronie" else "CRON"
        return [LogLine(ident, self._pid(), f"({user}) MAIL ({problem})")]

    # -- sending ---------------------------------------------------------------------------------

    def job_started(self, user: str, job_pid: int, command: str) -> None:
        self.emit(self.start_lines(user, job_pid, command))

    def job_finished(
        self, user: str, job_pid: int, command: str, exit_code: int, signal: int | None = None
    ) -> None:
        self.emit(self.end_lines(user, job_pid, command, exit_code, signal))

    def mail_failed(self, user: str, problem: str) -> None:
        self.emit(self.mail_lines(user, problem))

    def emit(self, lines: list[LogLine]) -> None:
        """Send ``lines``; a missing or full syslog socket drops them (never fails a run)."""
        if not lines:
            return
        path = self.socket_path or os.environ.get("OWLCLAW_SYSLOG_SOCKET") or DEFAULT_SOCKET
        now = self.clock()
        records = [
            syslog_datagram(
                line.ident, line.pid, line.message, priority=LOG_CRON * 8 + line.severity, when=now
            )
            for line in lines
        ]
        with contextlib.suppress(OSError):
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.settimeout(1.0)
                for record in records:
                    sock.sendto(record, path)
            return
        # rsyslog without imuxsock datagrams: a stream socket takes NUL-terminated records
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
        ):
            sock.settimeout(1.0)
            sock.connect(path)
            for record in records:
                sock.sendall(record + b"\0")


__all__ = [
    "LOG_JOBEND",
    "LOG_JOBFAILED",
    "LOG_JOBPID",
    "LOG_JOBSTART",
    "CronSyslog",
    "LogLine",
    "mkprints",
    "syslog_datagram",
]
