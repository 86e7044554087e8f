"""The same jobs run by the real Debian cron daemon and by owlmigrate, side by side, once per
test session (both live test modules read the one result).

One user crontab holds a probe job twice (identical lines): the first stays with cron, the
second is cut over (``scan --root /``, ``generate``, ``owlmigrate run --app``, ``cutover``) so
the worker's ``LegacyCommand`` runs it. The probe records, as its first act, the process
environment it was given. A second user's crontab holds three jobs that print to stdout and
stderr (default ``MAILTO``, ``MAILTO=""``, ``MAILTO=`` another user): the daemon mails their
output through exim4 into ``/var/mail``; after the daemon is stopped the generated app's own
``LegacyCommand`` objects run the same jobs and mail through the same sendmail. A datagram
server bound at ``/dev/log`` (when the host has none) catches the syslog lines of both.

The real daemon runs only while this module holds ``host.daemon_turn()``, after checking no
other cron daemon runs; every user, crontab, process and socket it made is undone before the
result is returned.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import host
from .world import RUNNER_SH, keep_sources, minute_of

PROBE_USER = "owlm-ed-probe"
MAIL_USER = "owlm-ed-mail"
OTHER_USER = "owlm-ed-other"
SYSLOG_SOCKET = Path("/dev/log")
PROBE_STDIN = "%first line%  second line %%"  # crontab text after the command: % is a newline

# Every fact the probe records, before it runs anything else (its shell's own /proc entry:
# the process cron or the worker exec'd). The descriptors are listed from a subshell, whose
# redirection leaves the probe's own descriptors as they were given.
PROBE_SCRIPT = (
    r"""#!/bin/sh
# owlmigrate live probe: what the runner gave this process
self=$$
d={out}/run-$self
mkdir "$d" || exit 1
(find /proc/$self/fd -mindepth 1 -maxdepth 1 -printf '%f %l\n') > "$d/fds"
cat /proc/$self/status > "$d/status"
cat /proc/$self/stat > "$d/stat"
cat /proc/$self/environ > "$d/environ"
cat /proc/$self/limits > "$d/limits"
cat /proc/$self/loginuid > "$d/loginuid" 2>/dev/null
cat /proc/$self/oom_score_adj > "$d/oom_score_adj"
readlink /proc/$self/cwd > "$d/cwd"
cat > "$d/stdin"
"""
    + RUNNER_SH
    + r"""echo "$runner" > "$d/runner"
date +%s > "$d/done"
"""
)

MAIL_JOBS = {
    # key: (the assignments before the line, the command)
    "owner": "echo hello; echo world >&2",
    "none": "echo quiet; echo quieter >&2",
    "other": "echo other; echo elsewhere >&2",
}


def mail_crontab() -> str:
    return (
        "# owlmigrate live test: mail side by side with the daemon\n"
        "PATH=/usr/bin:/bin\n"
        f"* * * * * {MAIL_JOBS['owner']}\n"
        'MAILTO=""\n'
        f"* * * * * {MAIL_JOBS['none']}\n"
        f"MAILTO={OTHER_USER}\n"
        f"* * * * * {MAIL_JOBS['other']}\n"
    )


def probe_crontab(probe: Path) -> str:
    line = f"* * * * * {probe}{PROBE_STDIN}\n"
    return (
        "# owlmigrate live test: one probe with cron, its twin cut over to the worker\n"
        'MAILTO=""\n'
        "OWLM_ASSIGNED=set in the crontab\n" + line + line
    )


# -- what the probe recorded ------------------------------------------------------------------


def _status_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = " ".join(value.split())
    return out


def _fd_kinds(text: str) -> dict[str, str]:
    """fd -> what it is, with pipes and sockets numbered by first appearance (``pipe#1``),
    so which descriptors share one pipe shows, not the inode."""
    seen: dict[str, str] = {}
    out: dict[str, str] = {}
    for line in sorted(text.splitlines(), key=lambda s: int(s.split()[0])):
        fd, _, target = line.partition(" ")
        # tmpfile(3): Debian's cron spools the job's output to an unlinked file in /tmp
        target = re.sub(r"^/tmp/#\d+ \(deleted\)$", "/tmp/#N (deleted)", target)
        m = re.fullmatch(r"(pipe|socket):\[(\d+)\]", target)
        if m:
            kind = m.group(1)
            target = seen.setdefault(target, f"{kind}#{sum(1 for v in seen if kind in v) + 1}")
        out[fd] = target
    return out


def read_facts(run: Path) -> dict[str, str]:
    """The probe's record as fact -> value (``env:NAME`` one fact per variable)."""
    status = _status_fields((run / "status").read_text())
    stat = (run / "stat").read_text()
    pid = int(stat.split()[0])
    rest = stat.rsplit(")", 1)[1].split()  # fields after comm: state ppid pgrp session tty ...
    pgrp, session, tty_nr, tpgid, nice = (
        int(rest[2]),
        int(rest[3]),
        int(rest[4]),
        int(rest[5]),
        int(rest[16]),
    )
    facts: dict[str, str] = {}
    environ = (run / "environ").read_bytes().split(b"\0")
    for entry in environ:
        if entry:
            name, _, value = entry.decode("utf-8", "surrogateescape").partition("=")
            facts[f"env:{name}"] = value
    facts["cwd"] = (run / "cwd").read_text().strip()
    for key, name in (("Uid", "uid"), ("Gid", "gid"), ("Groups", "groups"), ("Umask", "umask")):
        facts[name] = status.get(key, "")
    for key in ("SigIgn", "SigBlk", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        facts[key] = status.get(key, "")
    facts["NoNewPrivs"] = status.get("NoNewPrivs", "")
    facts["Seccomp"] = status.get("Seccomp", "")
    facts["stdin"] = repr((run / "stdin").read_bytes())
    for fd, kind in _fd_kinds((run / "fds").read_text()).items():
        facts[f"fd:{fd}"] = kind
    facts["session_leader"] = str(session == pid)
    facts["group_leader"] = str(pgrp == pid)
    facts["group_is_session"] = str(pgrp == session)
    facts["controlling_tty"] = str(tty_nr)
    facts["terminal_foreground_group"] = str(tpgid)
    facts["nice"] = str(nice)
    for line in (run / "limits").read_text().splitlines()[1:]:
        name = line[:26].strip()
        facts[f"limit:{name}"] = " ".join(line[26:].split())
    loginuid = run / "loginuid"
    facts["loginuid"] = loginuid.read_text().strip() if loginuid.exists() else ""
    facts["oom_score_adj"] = (run / "oom_score_adj").read_text().strip()
    return facts


def differences(cron: dict[str, str], ours: dict[str, str]) -> dict[str, tuple[str, str]]:
    """fact -> (cron's value, ours) for every fact that differs (absent: ``(absent)``)."""
    out = {}
    for key in sorted(set(cron) | set(ours)):
        a, b = cron.get(key, "(absent)"), ours.get(key, "(absent)")
        if a != b:
            out[key] = (a, b)
    return out


# -- a syslog socket for the run --------------------------------------------------------------


class SyslogCatcher:
    """A datagram server at ``/dev/log`` collecting every record, when the host has none."""

    def __init__(self, path: Path = SYSLOG_SOCKET) -> None:
        self.path = path
        self.records: list[bytes] = []
        self.server: socketserver.UnixDatagramServer | None = None
        self.thread: threading.Thread | None = None
        self.unavailable: str | None = None

    def start(self) -> None:
        if self.path.exists() or self.path.is_symlink():
            self.unavailable = f"{self.path} already exists (a syslog daemon runs here)"
            return
        records = self.records

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                records.append(self.request[0])

        self.server = socketserver.UnixDatagramServer(str(self.path), Handler)
        os.chmod(self.path, 0o666)  # jobs and sendmail of other users log here too
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.path.unlink(missing_ok=True)
        self.server = None


# -- the daemon, with its default log level ---------------------------------------------------


class Daemon(host.CronDaemon):
    """``cron -f`` with Debian's default ``-L 1`` (the suite's daemon logs with ``-L 15``):
    the start line a default daemon writes is the one compared."""

    def start(self) -> None:
        others = host.running_cron_daemons()
        if others:
            raise RuntimeError(f"another cron daemon is running: {others}")
        self.proc = host.start_daemon(["cron", "-f"], self.log)
        self.started_at = time.time()
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise RuntimeError(f"cron -f exited at once ({self.proc.returncode}): {self.log}")


# -- the session ------------------------------------------------------------------------------


@dataclass
class SideBySide:
    """What the run saw. ``skipped``: why it could not run (then nothing else is set)."""

    skipped: str | None = None
    cron_facts: dict[str, str] = field(default_factory=dict)
    worker_facts: dict[str, str] = field(default_factory=dict)
    daemon_mail: dict[str, list[bytes]] = field(default_factory=dict)  # mailbox user -> msgs
    our_mail: dict[str, list[bytes]] = field(default_factory=dict)
    mail_errors: dict[str, str | None] = field(default_factory=dict)
    syslog: list[bytes] = field(default_factory=list)
    syslog_unavailable: str | None = None
    syslog_ours_from: int = 0  # records before this index were sent before our runs
    daemon_pid: int = 0
    our_pid: int = 0
    mail_name: str = ""
    homes: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def report(self) -> str:
        return "\n".join(self.problems + self.log)


_RESULT: list[SideBySide] = []
_LOCK = threading.Lock()


def side_by_side() -> SideBySide:
    """Run the whole session once per process (both test modules share it)."""
    with _LOCK:
        if not _RESULT:
            _RESULT.append(_run())
            _write_summary(_RESULT[0])
        return _RESULT[0]


SUMMARY = Path(tempfile.gettempdir()) / "owlmigrate-side-by-side.json"


def _write_summary(result: SideBySide) -> None:
    """Everything the run saw, for the reader of a failure (mail and syslog as text)."""

    def text(items: list[bytes]) -> list[str]:
        return [m.decode("utf-8", "replace") for m in items]

    data = {
        "skipped": result.skipped,
        "problems": result.problems,
        "differences": differences(result.cron_facts, result.worker_facts),
        "cron_facts": result.cron_facts,
        "worker_facts": result.worker_facts,
        "daemon_mail": {u: text(m) for u, m in result.daemon_mail.items()},
        "our_mail": {u: text(m) for u, m in result.our_mail.items()},
        "mail_errors": result.mail_errors,
        "syslog": text(result.syslog),
        "syslog_ours_from": result.syslog_ours_from,
        "log": result.log,
    }
    SUMMARY.write_text(json.dumps(data, indent=2) + "\n")


def _mailbox(user: str) -> list[bytes]:
    from owlclaw_runtime.cronmail import mbox_messages

    path = Path("/var/mail") / user
    return mbox_messages(path.read_bytes()) if path.exists() else []


def _wait(predicate: Any, deadline: float, step: float = 0.2) -> bool:
    while True:
        if predicate():
            return True
        if time.time() > deadline:
            return False
        time.sleep(step)


def _probe_runs(out: Path) -> dict[str, list[Path]]:
    runs: dict[str, list[Path]] = {"cron": [], "worker": [], "unknown": []}
    for run in sorted(out.glob("run-*")):
        if (run / "done").exists() and (run / "runner").exists():
            runs.setdefault((run / "runner").read_text().strip(), []).append(run)
    return runs


def _load_app(app: Path) -> Any:
    spec = importlib.util.spec_from_file_location("owlm_side_by_side_app", app / "owlclaw_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run() -> SideBySide:
    with host.daemon_turn() as turn:
        if not turn:
            return SideBySide(skipped="another live run has held the cron daemon lock too long")
        reason = host.why_not_live()
        if reason:
            return SideBySide(skipped=reason)
        return _run_owned()


def _run_owned() -> SideBySide:
    result = SideBySide()
    base = Path(tempfile.mkdtemp(prefix="owlmigrate-side-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    users = [PROBE_USER, MAIL_USER, OTHER_USER]
    daemon = Daemon(base / "cron.log")
    worker: host.Worker | None = None
    catcher = SyslogCatcher()
    mailboxes = {u: host.FileState.of(Path("/var/mail") / u) for u in users}
    try:
        for name in users:
            host.remove_user(name)  # a crashed earlier run
            account = host.ensure_user(name)
            result.homes[name] = account.pw_dir
        for name in users:  # a mailbox left from an earlier run would confuse the count
            (Path("/var/mail") / name).unlink(missing_ok=True)
        out = base / "probe-out"
        out.mkdir()
        probe_account = host.ensure_user(PROBE_USER)
        os.chown(out, probe_account.pw_uid, probe_account.pw_gid)
        probe = base / "probe.sh"
        probe.write_text(PROBE_SCRIPT.replace("{out}", str(out)))
        os.chmod(probe, 0o755)
        scratch = base / "scratch"
        host.install_crontab(PROBE_USER, probe_crontab(probe), scratch)
        host.install_crontab(MAIL_USER, mail_crontab(), scratch)
        result.mail_name = _mail_name()

        plan, app = base / "plan.json", base / "app"
        done = host.run_cli("scan", "--root", "/", "-o", str(plan))
        result.log.append(done.describe())
        if not done.ok:
            result.problems.append("scan failed")
            return result
        sources = {f"var/spool/cron/crontabs/{u}" for u in (PROBE_USER, MAIL_USER)}
        keep_sources(plan, sources)
        jobs = json.loads(plan.read_text())["jobs"]
        probes = sorted(
            (j for j in jobs if j["source"].endswith(PROBE_USER)), key=lambda j: j["line"]
        )
        if len(probes) != 2:
            result.problems.append(f"scan found {len(probes)} probe jobs, not 2: {probes}")
            return result
        done = host.run_cli("generate", str(plan), "-o", str(app))
        result.log.append(done.describe())
        if not done.ok:
            result.problems.append("generate failed")
            return result
        worker = host.Worker(app, base)
        worker.start()

        catcher.start()
        result.syslog_unavailable = catcher.unavailable
        daemon.start()
        assert daemon.proc is not None
        result.daemon_pid = daemon.proc.pid
        done = host.run_cli("cutover", probes[1]["id"], "--app", str(app), "--json")
        result.log.append(done.describe())
        if not done.ok:
            result.problems.append("cutover of the probe's twin failed")
            return result
        first = minute_of(done.ended) + 1  # the first minute the worker owns the twin

        def since_first(kind: str) -> list[Path]:
            return [
                r
                for r in _probe_runs(out).get(kind, [])
                if int((r / "done").read_text()) >= first * 60
            ]

        got = _wait(lambda: since_first("cron") and since_first("worker"), first * 60 + 40)
        runs = _probe_runs(out)
        if not got:
            result.problems.append(f"the probe did not run for both in minute {first}: {runs}")
        if runs["unknown"]:
            result.problems.append(f"probe runs with no cron/python ancestor: {runs['unknown']}")
        if since_first("cron"):
            result.cron_facts = read_facts(since_first("cron")[0])
        if since_first("worker"):
            result.worker_facts = read_facts(since_first("worker")[0])
        # the daemon's mail for the minute it ran the mail jobs (exim delivers in seconds)
        _wait(lambda: _mailbox(MAIL_USER) and _mailbox(OTHER_USER), time.time() + 30)
        worker.stop()
        daemon.stop()
        time.sleep(1.0)  # a delivery still being written
        result.daemon_mail = {u: _mailbox(u) for u in (MAIL_USER, OTHER_USER)}
        before = {u: len(m) for u, m in result.daemon_mail.items()}

        result.our_pid = os.getpid()
        result.syslog_ours_from = len(catcher.records)
        module = _load_app(app)
        result.mail_errors = _run_mail_jobs(module)
        _wait(
            lambda: (
                len(_mailbox(MAIL_USER)) > before[MAIL_USER]
                and len(_mailbox(OTHER_USER)) > before[OTHER_USER]
            ),
            time.time() + 30,
        )
        time.sleep(1.0)
        for user in (MAIL_USER, OTHER_USER):
            result.our_mail[user] = _mailbox(user)[before[user] :]
        result.syslog = list(catcher.records)
        return result
    except Exception as exc:  # the tests report it; the clean-up below still runs
        import traceback

        result.problems.append(f"side by side run raised: {exc}\n{traceback.format_exc()}")
        return result
    finally:
        if worker is not None:
            worker.stop()
        daemon.stop()
        catcher.stop()
        for name in users:
            host.remove_user(name)
        for name, state in mailboxes.items():
            state.restore(Path("/var/mail") / name)
        result.problems += _leftovers(users, daemon, catcher)
        if os.environ.get("OWLMIGRATE_LIVE_KEEP", "").lower() in ("1", "yes", "on", "true"):
            result.log.append(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def _run_mail_jobs(module: Any) -> dict[str, str | None]:
    """Run the generated app's LegacyCommand of each mail job (as the worker would), with the
    host's sendmail and the Debian syslog line; returns each one's mail error (None: sent)."""
    from owlclaw_runtime.cronlog import CronSyslog
    from owlclaw_runtime.cronmail import SendmailTransport
    from owlclaw_runtime.legacy import LegacyCommand

    commands = {obj.command: obj for obj in vars(module).values() if isinstance(obj, LegacyCommand)}
    errors: dict[str, str | None] = {}
    for key, text in MAIL_JOBS.items():
        command = commands.get(text)
        if command is None:
            errors[key] = f"generate made no LegacyCommand for {text!r}"
            continue
        command.mail_transport = SendmailTransport()
        if not isinstance(command.syslog, CronSyslog):
            errors[key] = f"generate made {text!r} log nothing to syslog"
            continue
        # the test suite points OWLCLAW_SYSLOG_SOCKET away from /dev/log; the run's socket is it
        command.syslog.socket_path = str(SYSLOG_SOCKET)
        command.run()
        errors[key] = command.last_mail_error
    return errors


def _mail_name() -> str:
    path = Path("/etc/mailname")
    return path.read_text().strip() if path.exists() else socket.getfqdn()


def _leftovers(users: list[str], daemon: host.CronDaemon, catcher: SyslogCatcher) -> list[str]:
    import pwd

    out = []
    for name in users:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            out.append(f"user {name} still exists")
        if host.spool_path(name).exists():
            out.append(f"{host.spool_path(name)} still exists")
    if daemon.alive():
        out.append("the cron daemon is still running")
    if catcher.unavailable is None and catcher.path.exists():
        out.append(f"{catcher.path} (our syslog socket) left behind")
    return out


__all__ = ["SideBySide", "differences", "read_facts", "side_by_side"]
