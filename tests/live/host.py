"""The live host's moving parts, each undone by whoever set it up: test users, their crontabs
(installed with the real ``crontab -u``), ``/etc/cron.d`` files, ``/etc/cron.deny``, the real
cron daemon (``cron -f``, a subprocess we own and stop by pid), the owlmigrate CLI and workers
(``owlmigrate run --app DIR``) as real subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CRON_D = Path("/etc/cron.d")
CRON_DENY = Path("/etc/cron.deny")
CRON_PIDFILE = Path("/run/crond.pid")
DAEMON_NAMES = ("cron", "crond", "busybox-crond", "cronie", "fcron", "anacron")


def why_not_live() -> str | None:
    """The reason the live tests cannot run here, or None."""
    if os.environ.get("OWLMIGRATE_LIVE_TESTS", "").lower() in ("0", "off", "no", "false"):
        return "OWLMIGRATE_LIVE_TESTS is off"
    if os.geteuid() != 0:
        return "the live-host tests need root (test users, crontab -u, the cron daemon)"
    for tool in ("cron", "crontab", "useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH (install Debian's cron package: apt-get install cron)"
    running = running_cron_daemons()
    if running:
        pid, name = running[0]
        return (
            f"another cron daemon is already running ({name}, pid {pid}); the live tests must "
            "own the only daemon on the host"
        )
    return None


DAEMON_LOCK = Path("/run/lock/owlmigrate-live-daemon.lock")
DAEMON_WAIT_ENV = "OWLMIGRATE_LIVE_LOCK_WAIT"


@contextlib.contextmanager
def daemon_turn(wait: float | None = None) -> Iterator[bool]:
    """Hold the machine-wide lock of the live runs (one real cron daemon at a time): yields
    False when another run kept it for ``wait`` seconds (default 1200,
    ``$OWLMIGRATE_LIVE_LOCK_WAIT``)."""
    from filelock import FileLock, Timeout

    if wait is None:
        wait = float(os.environ.get(DAEMON_WAIT_ENV) or 1200)
    DAEMON_LOCK.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(DAEMON_LOCK), timeout=wait, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def running_cron_daemons() -> list[tuple[int, str]]:
    """(pid, comm) of every cron-like daemon running on the host."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in DAEMON_NAMES:
            found.append((int(entry.name), comm))
    return found


# ---------------------------------------------------------------------------------------------
# Users and their crontabs


def ensure_user(name: str) -> pwd.struct_passwd:
    """``useradd -m NAME`` unless it exists (a crashed earlier run may have left it)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True, capture_output=True)
    return pwd.getpwnam(name)


def remove_user(name: str) -> None:
    """Remove the user, their crontab and home; quiet when already gone."""
    subprocess.run(["crontab", "-u", name, "-r"], capture_output=True, check=False)
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["userdel", "-r", name], capture_output=True, check=False)


def install_crontab(user: str, content: str, scratch: Path) -> None:
    """``crontab -u USER FILE``, the way an admin installs a user crontab."""
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"crontab-{user}"
    path.write_text(content)
    done = subprocess.run(["crontab", "-u", user, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"crontab -u {user} {path}: {done.stderr.strip()}")


def list_crontab(user: str) -> str | None:
    """``crontab -u USER -l`` (Debian hides its own header), or None when refused/absent."""
    done = subprocess.run(["crontab", "-u", user, "-l"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def spool_path(user: str) -> Path:
    return Path("/var/spool/cron/crontabs") / user


@dataclass(frozen=True)
class FileState:
    """A file's bytes, mode and owner (None bytes: absent)."""

    data: bytes | None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def of(cls, path: Path) -> FileState:
        try:
            st = path.stat()
            return cls(path.read_bytes(), st.st_mode & 0o7777, st.st_uid, st.st_gid)
        except FileNotFoundError:
            return cls(None)

    def restore(self, path: Path) -> None:
        """Put the file back exactly (or remove it when it was absent)."""
        if self.data is None:
            path.unlink(missing_ok=True)
            return
        path.write_bytes(self.data)
        assert self.mode is not None and self.uid is not None and self.gid is not None
        os.chown(path, self.uid, self.gid)
        os.chmod(path, self.mode)


def write_cron_d(name: str, content: str) -> Path:
    """An ``/etc/cron.d`` file Debian loads: no dots in the name, root-owned, mode 0644."""
    if "." in name:
        raise ValueError(f"Debian's cron ignores /etc/cron.d names with dots: {name!r}")
    path = CRON_D / name
    path.write_text(content)
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)
    return path


def deny_user(user: str) -> None:
    """Add USER to ``/etc/cron.deny`` (crontab(1) then refuses to change their crontab)."""
    old = CRON_DENY.read_text() if CRON_DENY.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    CRON_DENY.write_text(old + user + "\n")
    os.chmod(CRON_DENY, 0o644)


# ---------------------------------------------------------------------------------------------
# The cron daemon


def _as_init_starts_it() -> None:
    """In the daemon's child before exec: no blocked signals, as init starts a service. The
    test process may have signals blocked in the calling thread (libraries' threads do), and a
    daemon's jobs inherit its mask."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def start_daemon(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a cron daemon in the foreground, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_as_init_starts_it
        )


def terminate(proc: subprocess.Popen[Any], *, grace: float) -> None:
    """SIGTERM (a graceful stop: in-flight runs finish), then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


class CronDaemon:
    """Debian's cron in the foreground (``cron -f``), started and stopped by pid."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._pidfile = FileState.of(CRON_PIDFILE)

    def start(self) -> None:
        others = running_cron_daemons()
        if others:
            raise RuntimeError(f"another cron daemon is running: {others}")
        self.proc = start_daemon(["cron", "-f", "-L", "15"], self.log)
        self.started_at = time.time()
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise RuntimeError(f"cron -f exited at once ({self.proc.returncode}): {self.log}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate(self.proc, grace=15)
        self.proc = None
        # Debian's cron leaves its pid file behind; put back what was there.
        self._pidfile.restore(CRON_PIDFILE)


# ---------------------------------------------------------------------------------------------
# The owlmigrate CLI and its workers


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell would give owlmigrate: this tree first on the path, no
    test overrides (the switch window stays on), the default ledger in the app directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OWLCLAW_", "OWLMIGRATE_", "HATCHET_", "PYTEST_", "COV_CORE"))
    }
    paths = [str(REPO), str(REPO / "runtime")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra or {})
    return env


def cli_argv(*args: str) -> list[str]:
    """``owlmigrate ARGS`` with this interpreter (owlmigrate/cli.py's ``main``)."""
    return [sys.executable, "-c", "from owlmigrate.cli import main; main()", *args]


@dataclass
class Result:
    """One finished command: what ran, when it ended, what it said."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    started: float
    ended: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        shown = (
            " ".join(self.argv[3:]) if self.argv[:1] == [sys.executable] else " ".join(self.argv)
        )
        ended = time.strftime("%H:%M:%S", time.gmtime(self.ended))
        out = f"$ {shown}\n  exit {self.returncode} at {ended}"
        # scan's stdout is the whole host's inventory table: its stderr says what it wrote
        if self.stdout.strip() and "scan" not in self.argv:
            out += "\n  stdout: " + self.stdout.strip()[:1500].replace("\n", "\n          ")
        if self.stderr.strip():
            out += "\n  stderr: " + self.stderr.strip()[-1500:].replace("\n", "\n          ")
        return out


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 150) -> Result:
    """Run ``owlmigrate ARGS`` to completion (a hang is a failed command, not a hung suite)."""
    argv = cli_argv(*args)
    return run_argv(argv, env=cli_env(env), timeout=timeout)


def run_argv(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 150) -> Result:
    started = time.time()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")) + (
            f"\n(killed after {timeout:.0f}s)"
        )
    return Result(argv, code, out, err, started, time.time())


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``owlmigrate ARGS`` without waiting (two cutovers at the same moment)."""
    return subprocess.Popen(
        cli_argv(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cli_env(env),
    )


def finish(
    proc: subprocess.Popen[str], argv: list[str], started: float, timeout: float = 150
) -> Result:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n(killed after {timeout:.0f}s)"
    return Result(argv, proc.returncode, out, err, started, time.time())


@dataclass
class Worker:
    """``owlmigrate run --app DIR [--http-port 0]`` in the background, ready once it says
    ``running N trigger(s)``; stopped with SIGTERM (graceful) by pid."""

    app: Path
    log_dir: Path
    http: bool = False
    proc: subprocess.Popen[bytes] | None = None
    url: str | None = None
    generation: int = 0
    stopped_at: list[float] = field(default_factory=list)
    ready_at: list[float] = field(default_factory=list)

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"worker-{self.app.name}-{self.generation}.err"

    def start(self, timeout: float = 90) -> None:
        self.generation += 1
        args = ["run", "--app", str(self.app)]
        if self.http:
            args += ["--http-port", "0"]
        err_path = self.stderr_path
        with err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                cli_argv(*args),
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=cli_env(),
            )
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = err_path.read_text(errors="replace")
            for line in text.splitlines():
                if line.startswith("owlmigrate: running "):
                    if " on http" in line:
                        self.url = line.rsplit(" on ", 1)[1].strip()
                    self.ready_at.append(time.time())
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"worker for {self.app} exited ({self.proc.returncode}):\n{text}"
                )
            time.sleep(0.2)
        raise RuntimeError(f"worker for {self.app} not ready after {timeout:.0f}s:\n{text}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate(self.proc, grace=30)
        self.proc = None
        self.url = None
        self.stopped_at.append(time.time())

    def restart(self) -> None:
        self.stop()
        self.start()

    def healthz(self) -> tuple[int, Any]:
        """(HTTP status, JSON body) of the worker's ``/healthz``."""
        if self.url is None:
            raise RuntimeError("this worker serves no HTTP endpoint")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
