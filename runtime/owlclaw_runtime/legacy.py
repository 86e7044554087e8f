"""Run a crontab command exactly as the legacy cron daemon would.

What cron does for a job (cronie ``do_command.c``/``security.c``, Debian's Vixie cron 3.0pl1
``do_command.c``/``entry.c``, busybox ``miscutils/crond.c``; reference/cron-semantics.md 1.6-1.7):

- the command runs as ``$SHELL -c COMMAND`` (``execle(shell, shell, "-c", cmd, NULL, envp)``),
  ``SHELL`` defaulting to ``/bin/sh``;
- the environment is built from scratch, not inherited: the crontab's assignments, then the
  daemon's defaults for what they left unset, then the identity variables forced from passwd
  (cronie: ``LOGNAME`` and ``USER``; Debian: ``LOGNAME``; busybox: ``LOGNAME``, ``USER`` and
  ``HOME``). cronie also copies ``LANG`` and ``LC_*`` from its own environment;
- after switching to the crontab's user (setgid, initgroups, setuid) it changes to ``$HOME``;
  cronie and Debian give up on the job when that fails ("chdir(HOME) failed"), busybox falls
  back to its spool directory;
- the text after the first unescaped ``%`` (already split by the crontab parser) is written to
  the job's stdin, which is then closed; with no ``%`` the job sees an empty stdin;
- stdout and stderr go to one pipe (the mail cron would send); here its last ``output_limit``
  bytes are kept, redacted, for the ledger;
- the daemon logs the start to syslog and mails non-empty output (``syslog=`` and ``mail=``,
  see ``owlclaw_runtime.cronlog`` and ``owlclaw_runtime.cronmail``): the whole raw output, as
  the daemon mails it, not the redacted tail.

Beyond cron: a timeout. The job runs in a new session (its own process group), and on timeout
or cancellation the whole group gets SIGTERM, then SIGKILL after a grace period, so a shell's
grandchildren die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import selectors
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from owlclaw_runtime.cronlog import CronSyslog
from owlclaw_runtime.cronmail import (
    CronMail,
    DeliveryFailed,
    Envelope,
    MailTransport,
    build_message,
    decide,
    transport_from_env,
)
from owlclaw_runtime.daemons import daemon_family
from owlclaw_runtime.errors import ConfigurationError, OwlClawError
from owlclaw_runtime.redact import redact

DEFAULT_OUTPUT_LIMIT = 65536
DEFAULT_KILL_GRACE = 5.0
# Output kept for the mail is spooled to a temporary file past this size, as cron's tmpfile.
_MAIL_SPOOL_MEMORY = 1 << 20
# After the shell exits, output still in the pipe is read; a background grandchild that keeps
# the pipe open is not waited for longer than this.
_DRAIN_SECONDS = 0.2
_log = logging.getLogger("owlclaw.legacy")
_BUSYBOX_SPOOL = "/var/spool/cron"
# _PATH_STDPATH in cronie, _PATH_DEFPATH in Debian's Vixie cron
_DEFAULT_PATH = {"cronie": "/usr/bin:/bin:/usr/sbin:/sbin", "debian": "/usr/bin:/bin"}
_BUSYBOX_FALLBACK_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class LegacyResult:
    """How one run of the legacy command ended.

    ``exit_code`` follows the shell convention: the exit status, or 128 + N when the process
    was killed by signal N (``signal`` then says N).
    """

    exit_code: int
    timed_out: bool
    duration_seconds: float
    output_tail: str
    pid: int
    signal: int | None = None
    timeout_seconds: float | None = None  # the limit that was applied

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class LegacyJobFailed(OwlClawError):
    """The legacy command exited non-zero or timed out. ``result`` has the details, and
    ``exit_code`` is the job's own exit code, so retries and the ledger see what cron saw."""

    def __init__(self, result: LegacyResult, command: str = "") -> None:
        if result.timed_out:
            limit = result.timeout_seconds or result.duration_seconds
            what = f"timed out after {limit:g}s and was killed"
        elif result.signal is not None:
            what = f"was killed by signal {result.signal}"
        else:
            what = f"exited with status {result.exit_code}"
        last = next((ln for ln in reversed(result.output_tail.splitlines()) if ln.strip()), "")
        message = f"legacy job {what}"
        if last:
            message += f": {last[-200:]}"
        super().__init__(message)
        self.result = result
        self.command = command
        self.exit_code = result.exit_code

    def __reduce__(self) -> tuple[Any, ...]:
        # picklable (process pools, task queues) although __init__ takes the result
        return (type(self), (self.result, self.command))


def _dialect(name: str) -> str:
    try:
        return daemon_family(name)
    except ValueError as exc:
        raise ConfigurationError(f"{exc} (a legacy command)", field="dialect") from None


def cron_environment(
    account: pwd.struct_passwd,
    env: Mapping[str, str] | None,
    dialect: str,
    *,
    daemon_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment the dialect's daemon gives a job of ``account`` with the crontab
    assignments ``env`` (in file order; a later one wins, as in the crontab)."""
    family = _dialect(dialect)
    daemon_env = os.environ if daemon_env is None else daemon_env
    assignments = dict(env or {})
    name, home = account.pw_name, account.pw_dir
    if family == "busybox":
        # busybox load_crontab only recognises SHELL= and PATH= (and MAILTO=, used for mail);
        # set_env_vars() forces LOGNAME, USER, HOME and SHELL; PATH is crond's own unless set.
        result = {
            "LOGNAME": name,
            "USER": name,
            "HOME": home,
            "SHELL": assignments.get("SHELL") or "/bin/sh",
            "PATH": assignments.get("PATH") or daemon_env.get("PATH") or _BUSYBOX_FALLBACK_PATH,
        }
        return result
    result = dict(assignments)
    result.setdefault("SHELL", "/bin/sh")
    result.setdefault("HOME", home)
    result.setdefault("PATH", _DEFAULT_PATH[family])
    result["LOGNAME"] = name  # "LOGNAME is always set from the passwd entry" (both)
    if family == "cronie":
        result["USER"] = name
        for key, value in daemon_env.items():  # cronie build_env(): locale from crond
            if (key == "LANG" or key.startswith("LC_")) and key not in assignments:
                result[key] = value
    return result


def _can_enter(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether ``uid`` may chdir into ``path`` (search permission on it and every parent)."""
    if uid == 0:
        return path.is_dir()
    try:
        if not path.is_dir():
            return False
        for part in (path, *path.parents):
            st = part.stat()
            if st.st_uid == uid:
                bit = stat.S_IXUSR
            elif st.st_gid in gids:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not st.st_mode & bit:
                return False
    except OSError:
        return False
    return True


class _Tail:
    """The last ``limit`` bytes of the merged output; twice that is kept until the end so a
    secret straddling the cut is still recognised by ``redact``. With ``keep_all`` every byte
    is also spooled (the mail cron sends holds the whole output)."""

    def __init__(self, limit: int, *, keep_all: bool = False) -> None:
        self.limit = max(1, limit)
        self.buf = bytearray()
        self.spool: Any = (
            # closed by everything(), or with the object
            tempfile.SpooledTemporaryFile(max_size=_MAIL_SPOOL_MEMORY)  # noqa: SIM115
            if keep_all
            else None
        )

    def add(self, data: bytes) -> None:
        if self.spool is not None:
            self.spool.write(data)
        self.buf += data
        excess = len(self.buf) - 2 * self.limit
        if excess > 0:
            del self.buf[:excess]

    def everything(self) -> bytes:
        """The whole output (``keep_all``), and the spool is closed."""
        if self.spool is None:
            return b""
        self.spool.seek(0)
        data: bytes = self.spool.read()
        self.spool.close()
        self.spool = None
        return data

    def text(self) -> str:
        decoded = bytes(self.buf).decode("utf-8", errors="replace")
        red = redact(decoded)
        kept = red.encode("utf-8")[-self.limit :]
        return kept.decode("utf-8", errors="replace")


def _exec_failed(shell: str, exc: OSError, started: float) -> LegacyResult:
    """cron's child when execle() fails: two lines on the job's output and ERROR_EXIT (1)."""
    reason = exc.strerror or str(exc)
    output = f"execl: couldn't exec `{shell}'\nexecl: {reason}\n"
    return LegacyResult(1, False, time.monotonic() - started, output, 0)


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Wait for the shell to exit. Not ``proc.wait()``: asyncio's wait also waits for every
    pipe to close, which a background grandchild (``cmd &``) can hold open for hours; cron
    considers the job done when its shell exits."""
    while proc.returncode is None:
        await asyncio.sleep(0.02)


def _drain_in_background(fd: int) -> None:
    """Read a pipe to EOF in a daemon thread, discarding the data, through a duplicate of ``fd``
    (the caller closes its own). Used when the job's shell has exited but a background
    grandchild still writes to the shared output pipe."""
    try:
        dup = os.dup(fd)
    except OSError:
        return
    os.set_blocking(dup, True)

    def drain() -> None:
        try:
            while os.read(dup, 65536):
                pass
        except OSError:
            pass
        finally:
            os.close(dup)

    threading.Thread(target=drain, name="legacy-output-drain", daemon=True).start()


def _stdout_fileno(proc: asyncio.subprocess.Process) -> int | None:
    transport = getattr(proc, "_transport", None)
    pipe = transport.get_pipe_transport(1) if transport is not None else None
    handle = pipe.get_extra_info("pipe") if pipe is not None else None
    return handle.fileno() if handle is not None else None


def _close_transport(proc: asyncio.subprocess.Process) -> None:
    """Close our pipe ends even if a background grandchild still holds the other end
    (``Process`` has no public close; its transport's ``close()`` is what releases them)."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


def _exit_code(returncode: int) -> tuple[int, int | None]:
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


def _result(
    returncode: int, timed_out: bool, started: float, tail: _Tail, pid: int, limit: float | None
) -> LegacyResult:
    """The result of a shell that ran and exited (``returncode`` as ``Popen`` reports it)."""
    code, sig = _exit_code(returncode)
    return LegacyResult(code, timed_out, time.monotonic() - started, tail.text(), pid, sig, limit)


# util-linux setpriv(1): switches uid, gid and groups after a plain (vfork-able) spawn
_SETPRIV = "/usr/bin/setpriv"
_IDENTITY = ("user", "group", "extra_groups")


def _exec_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The Popen options that start the job: a job of another user is started through
    ``setpriv`` (gid, groups, then uid, as cron does) instead of Popen's ``user=``, because
    CPython cannot vfork() when it has to switch users itself and a full fork() of a large
    worker costs milliseconds per job on the event loop (benchmarks/legacy_start.py: about
    12 ms for a 600 MB worker). Without setpriv, or with a shell that cannot be executed (cron's
    own exec error must be reported), the switch stays with Popen."""
    out = dict(options)
    if "user" not in out or not os.access(_SETPRIV, os.X_OK):
        return out
    shell = out["executable"]
    if not (os.path.isfile(shell) and os.access(shell, os.X_OK)):
        return out
    groups = ",".join(str(g) for g in out.pop("extra_groups"))
    uid, gid = out.pop("user"), out.pop("group")
    out["args"] = [
        "setpriv",
        f"--regid={gid}",
        f"--groups={groups}" if groups else "--clear-groups",
        f"--reuid={uid}",
        "--",
        *out["args"],
    ]
    out["executable"] = _SETPRIV
    return out


class LegacyCommand:
    """A crontab command with what cron gives it: dialect, user, environment and ``%`` stdin.

    ``run`` (blocking) and ``arun`` (asyncio) return a ``LegacyResult`` on exit status 0 and
    raise ``LegacyJobFailed`` otherwise (non-zero exit, death by signal, timeout), so the
    pipeline's retries and failure handling see the failure.

    ``user``: the crontab's user (None: the runtime's own). Switching users needs root; a
    non-root runtime may only run jobs of its own user (``ConfigurationError`` otherwise).

    ``mail``: where the daemon mailed the job's output (``CronMail``, or a mapping of its
    fields, from the crontab's ``MAILTO``/``MAILFROM``; None: never). The mail is sent after
    the run, before the result is returned or raised, through ``mail_transport`` (default
    from ``OWLCLAW_CRON_MAIL``: the host's sendmail). ``syslog``: log the start (and the
    dialect's end line) to syslog as the daemon does (True, or a configured ``CronSyslog``).
    ``hostname``: the name in the mail's subject (default ``gethostname()``).
    """

    def __init__(
        self,
        command: str,
        *,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        dialect: str = "debian",
        timeout: float | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        kill_grace: float = DEFAULT_KILL_GRACE,
        mail: CronMail | Mapping[str, Any] | None = None,
        syslog: bool | CronSyslog = False,
        mail_transport: MailTransport | None = None,
        hostname: str | None = None,
    ) -> None:
        if not command.strip():
            raise ConfigurationError("a legacy command must not be empty", field="command")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, got {timeout!r}", field="timeout")
        self.command = command
        self.stdin = stdin
        self.env = dict(env or {})
        self.user = user
        self.dialect = dialect
        self.family = _dialect(dialect)
        self.timeout = timeout
        self.output_limit = output_limit
        self.kill_grace = kill_grace
        if isinstance(mail, Mapping):
            try:
                mail = CronMail(**mail)
            except TypeError as exc:
                raise ConfigurationError(
                    f"bad mail settings {mail!r}: {exc}", field="mail"
                ) from None
        self.mail: CronMail | None = mail
        if isinstance(syslog, CronSyslog):
            self.syslog: CronSyslog | None = syslog
        else:
            self.syslog = CronSyslog(dialect) if syslog else None
        self.mail_transport = mail_transport
        self.hostname = hostname
        self.last_mail_error: str | None = None  # the last refused delivery (None: none)

    def __repr__(self) -> str:
        return (
            f"LegacyCommand({redact(self.command)!r}, user={self.user!r}, "
            f"dialect={self.dialect!r}, timeout={self.timeout!r})"
        )

    # -- preparation ------------------------------------------------------------------------

    def _account(self) -> pwd.struct_passwd:
        if self.user is None:
            try:
                return pwd.getpwuid(os.geteuid())
            except KeyError:
                raise ConfigurationError(
                    f"the runtime's user id {os.geteuid()} has no passwd entry; cron needs one "
                    "(HOME, LOGNAME): name the crontab's user",
                    field="user",
                ) from None
        try:
            return pwd.getpwnam(self.user)
        except KeyError:
            raise ConfigurationError(
                f"cannot run the legacy job as {self.user!r}: no such user on this host "
                "(cron would log 'getpwnam() failed' and not run it)",
                field="user",
            ) from None

    def _spawn_options(self) -> tuple[dict[str, Any], dict[str, str], str | None]:
        """Popen keyword arguments, the environment, and a chdir error (job must not run)."""
        account = self._account()
        euid = os.geteuid()
        identity: dict[str, Any] = {}
        if account.pw_uid != euid:
            if euid != 0:
                try:
                    me = pwd.getpwuid(euid).pw_name
                except KeyError:
                    me = f"uid {euid}"
                raise ConfigurationError(
                    f"cannot run the legacy job as {account.pw_name!r}: the runtime runs as "
                    f"{me!r} and is not root; run the worker as root or as {account.pw_name!r}",
                    field="user",
                )
            # setgid, initgroups, setuid: the order cron uses ("set gid first, since once we
            # set uid, we've lost root privileges")
            identity = {
                "user": account.pw_uid,
                "group": account.pw_gid,
                "extra_groups": os.getgrouplist(account.pw_name, account.pw_gid),
            }
        env = cron_environment(account, self.env, self.dialect)
        home = Path(env["HOME"] if self.family != "busybox" else account.pw_dir)
        gids = set(os.getgrouplist(account.pw_name, account.pw_gid))
        cwd: str | None = str(home)
        chdir_error = None
        if not _can_enter(home, account.pw_uid, gids):
            if self.family == "busybox" and os.path.isdir(_BUSYBOX_SPOOL):
                cwd = _BUSYBOX_SPOOL  # busybox change_user(): "can't change directory to ..."
            else:
                cwd = None
                chdir_error = f"chdir(HOME) failed: {home}: not an accessible directory\n"
        options = {
            "args": [env["SHELL"], "-c", self.command],
            "executable": env["SHELL"],
            "env": env,
            "cwd": cwd,
            "start_new_session": True,
            "close_fds": True,
            **identity,
        }
        return options, env, chdir_error

    def _stdin_bytes(self) -> bytes:
        return (self.stdin or "").encode("utf-8", errors="surrogateescape")

    def _finish(self, result: LegacyResult) -> LegacyResult:
        if not result.succeeded:
            raise LegacyJobFailed(result, self.command)
        return result

    # -- what the daemon does around a run: syslog and mail ----------------------------------

    def _log_start(self, env: Mapping[str, str], pid: int) -> None:
        if self.syslog is not None:
            self.syslog.job_started(env["LOGNAME"], pid, self.command)

    def _report(
        self,
        result: LegacyResult,
        output: bytes,
        options: Mapping[str, Any],
        env: Mapping[str, str],
    ) -> None:
        """After a run: the daemon's end line, then its mail (never raises: a refused mail is
        logged, as cron logs it, and kept in ``last_mail_error``)."""
        owner = env["LOGNAME"]
        if self.syslog is not None and result.pid:
            self.syslog.job_finished(
                owner, result.pid, self.command, result.exit_code, result.signal
            )
        self.last_mail_error = None
        if self.mail is None or not output:
            return
        if self.mail.on_failure_only and result.succeeded:
            return  # cronie "-n": the mail is aborted when the job exits 0
        decision = decide(self.mail, self.dialect, owner)
        if not decision.mails:
            return
        message = build_message(
            dialect=self.dialect,
            mail=self.mail,
            decision=decision,
            owner=owner,
            command=self.command,
            cron_env=env,
            output=output,
            failed=not result.succeeded,
            hostname=self.hostname,
        )
        spawn = {k: options[k] for k in ("user", "group", "extra_groups") if k in options}
        spawn["env"] = dict(env)
        spawn["cwd"] = options.get("cwd") or "/"
        try:
            transport = self.mail_transport or transport_from_env()
            if transport is not None:
                transport.send(message, Envelope(self.dialect, decision, owner, spawn))
        except (DeliveryFailed, ValueError) as exc:
            self.last_mail_error = str(exc)
            if self.syslog is not None:
                self.syslog.mail_failed(owner, str(exc))
            _log.warning("legacy job mail not delivered: %s", exc)

    @staticmethod
    def _killpg(pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    # -- blocking ---------------------------------------------------------------------------------

    def run(self, timeout: float | None = None) -> LegacyResult:
        """Run the command and wait; raises ``LegacyJobFailed`` unless it exits 0 in time."""
        limit = timeout if timeout is not None else self.timeout
        options, env, chdir_error = self._spawn_options()
        started = time.monotonic()
        if chdir_error is not None:
            failed = LegacyResult(1, False, 0.0, chdir_error, 0)
            self._report(failed, chdir_error.encode(), options, env)
            return self._finish(failed)
        try:
            proc = subprocess.Popen(
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                **_exec_options(options),
            )
        except OSError as exc:
            failed = _exec_failed(options["executable"], exc, started)
            self._report(failed, failed.output_tail.encode(), options, env)
            return self._finish(failed)
        self._log_start(env, proc.pid)
        tail = _Tail(self.output_limit, keep_all=self.mail is not None)
        timed_out = False
        try:
            timed_out = self._pump(proc, tail, started, limit)
        finally:
            if proc.returncode is None:  # interrupted (KeyboardInterrupt, …): leave nothing
                self._terminate_sync(proc)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        result = _result(proc.returncode, timed_out, started, tail, proc.pid, limit)
        self._report(result, tail.everything(), options, env)
        return self._finish(result)

    def _pump(
        self, proc: subprocess.Popen[bytes], tail: _Tail, started: float, limit: float | None
    ) -> bool:
        """Feed stdin, collect output and enforce the timeout; returns whether it timed out."""
        assert proc.stdin is not None and proc.stdout is not None
        pending = memoryview(self._stdin_bytes())
        sel = selectors.DefaultSelector()
        os.set_blocking(proc.stdout.fileno(), False)
        sel.register(proc.stdout, selectors.EVENT_READ)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        exited_at: float | None = None
        timed_out = False
        try:
            while sel.get_map():
                now = time.monotonic()
                if proc.poll() is not None:
                    exited_at = exited_at or now
                    if now - exited_at > _DRAIN_SECONDS:
                        # A background grandchild holds the pipe: do not wait for it, but keep
                        # its output flowing (cron reads to EOF; a closed pipe would SIGPIPE it).
                        _drain_in_background(proc.stdout.fileno())
                        break
                elif limit is not None and now - started >= limit:
                    timed_out = True
                    self._terminate_sync(proc)
                    continue
                wait = 0.05 if limit is None else max(0.0, min(0.05, started + limit - now))
                for key, _ in sel.select(wait):
                    if key.fileobj is proc.stdout:
                        try:
                            chunk = os.read(proc.stdout.fileno(), 65536)
                        except BlockingIOError:
                            continue
                        if chunk:
                            tail.add(chunk)
                        else:
                            sel.unregister(proc.stdout)
                    else:
                        try:
                            written = os.write(proc.stdin.fileno(), pending[:65536])
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:  # the job did not read its stdin: fine
                            written = len(pending)
                        pending = pending[written:]
                        if not pending:
                            sel.unregister(proc.stdin)
                            proc.stdin.close()
            if proc.returncode is None:
                remaining = None if limit is None else max(0.0, started + limit - time.monotonic())
                try:
                    proc.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    self._terminate_sync(proc)
        finally:
            sel.close()
        return timed_out

    def _terminate_sync(self, proc: subprocess.Popen[bytes]) -> None:
        self._killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=self.kill_grace)
        self._killpg(proc.pid, signal.SIGKILL)  # the group: grandchildren that ignored TERM
        proc.wait()

    # -- asyncio -----------------------------------------------------------------------------------

    async def arun(self, timeout: float | None = None) -> LegacyResult:
        """``run`` for the event loop: an asyncio subprocess; cancelling the awaiting task kills
        the job's whole process group."""
        limit = timeout if timeout is not None else self.timeout
        options, env, chdir_error = self._spawn_options()
        started = time.monotonic()
        if chdir_error is not None:
            failed = LegacyResult(1, False, 0.0, chdir_error, 0)
            await asyncio.to_thread(self._report, failed, chdir_error.encode(), options, env)
            return self._finish(failed)
        spawn_options = _exec_options(options)
        args = spawn_options.pop("args")
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                **spawn_options,
            )
        )
        try:
            # Shielded: cancelled mid-creation, asyncio would kill only the shell and then wait
            # for pipes that a grandchild may hold open forever.
            proc = await asyncio.shield(spawn)
        except OSError as exc:
            failed = _exec_failed(options["executable"], exc, started)
            await asyncio.to_thread(self._report, failed, failed.output_tail.encode(), options, env)
            return self._finish(failed)
        except asyncio.CancelledError:
            try:
                late = await spawn
            except OSError:
                late = None
            if late is not None:
                await self._terminate_async(late)
                _close_transport(late)
            raise
        self._log_start(env, proc.pid)
        tail = _Tail(self.output_limit, keep_all=self.mail is not None)
        reader = asyncio.ensure_future(self._read(proc, tail))
        writer = asyncio.ensure_future(self._write(proc))
        timed_out = False
        try:
            try:
                await asyncio.wait_for(_exited(proc), timeout=limit)
            except TimeoutError:
                timed_out = True
                await self._terminate_async(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), timeout=_DRAIN_SECONDS)
        finally:
            if proc.returncode is None:  # cancelled: kill the group before giving up
                await asyncio.shield(self._terminate_async(proc))
            lingering = not reader.done()  # a background grandchild still holds the pipe
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            pipe = _stdout_fileno(proc) if lingering else None
            if pipe is not None:
                # keep its output flowing, as cron does (a closed pipe would SIGPIPE it)
                _drain_in_background(pipe)
            _close_transport(proc)
        assert proc.returncode is not None
        result = _result(proc.returncode, timed_out, started, tail, proc.pid, limit)
        await asyncio.to_thread(self._report, result, tail.everything(), options, env)
        return self._finish(result)

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process, tail: _Tail) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            tail.add(chunk)

    async def _write(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        data = self._stdin_bytes()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if data:
                proc.stdin.write(data)
                await proc.stdin.drain()
            proc.stdin.close()

    async def _terminate_async(self, proc: asyncio.subprocess.Process) -> None:
        self._killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_exited(proc), timeout=self.kill_grace)
        self._killpg(proc.pid, signal.SIGKILL)
        await _exited(proc)
