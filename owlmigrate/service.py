"""The worker as a host service: a systemd unit per app directory (``owlmigrate service``).

A legacy job runs on its own host as its own user, so its worker runs there too, started at boot
and restarted like the cron daemon it replaces. The unit runs ``owlmigrate run --app DIR`` as
root (the runtime switches to each job's user as cron does) with:

- ``Type=notify``: the worker sends ``READY=1`` once its scheduler runs, ``WATCHDOG=1`` while
  the scheduler reports healthy, ``STOPPING=1`` when it stops (``owlclaw_runtime.sdnotify``);
- ``Restart=on-failure`` (a crash or a missed watchdog restarts it, as ``cron.service`` does);
- ``KillMode=mixed`` and a long ``TimeoutStopSec``: SIGTERM goes to the worker alone, which stops
  firing and waits for the runs in flight (``schedulers/runner.py``, ``app.stop``); only what is
  still running when the timeout expires is killed;
- ``After=network-online.target`` and, for a PostgreSQL ledger on this host,
  ``postgresql.service``;
- the configuration of the installing shell (``OWLCLAW_*``, ``HATCHET_*`` and the resolved
  ledger URL) in an environment file readable by root only (it may hold passwords), so the
  service uses the same ledger as the commands that cut jobs over.

Library functions return what they did (or would do); the CLI prints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from owlmigrate.atomic import atomic_write
from owlmigrate.errors import FindingError, UsageError

UNIT_DIR = "etc/systemd/system"
ENV_DIR = "etc/default"
DEFAULT_STOP_TIMEOUT = 3600  # seconds: legacy jobs have no timeout of their own
DEFAULT_WATCHDOG = 120  # seconds; the worker pings every half of it
_ENV_PREFIXES = ("OWLCLAW_", "HATCHET_")
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
MARKER = "# Written by `owlmigrate service install`; `owlmigrate service uninstall` removes it."


class ServiceError(FindingError):
    """The unit cannot be installed or removed (not ours, systemctl refused)."""


@dataclass
class ServiceResult:
    """What install or uninstall did (or, with ``dry_run``, would do)."""

    name: str
    unit: str
    unit_path: Path
    env_path: Path
    unit_text: str = ""
    env_text: str = ""
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)  # systemctl calls (run or to run)
    ran: bool = False
    notes: list[str] = field(default_factory=list)


def service_name(app_dir: Path, name: str | None = None) -> str:
    """A unit-safe name: ``--name``, else the app directory's name."""
    raw = name if name is not None else app_dir.name
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-.")
    if not clean:
        raise UsageError(f"cannot make a systemd unit name from {raw!r}: give --name")
    return clean


def unit_name(name: str) -> str:
    return f"owlmigrate-worker-{name}.service"


def _quote(arg: str) -> str:
    """One ExecStart argument: ``%`` and ``$`` are specifiers there, blanks split words."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./$-]+", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ledger_is_local_postgres(url: str | None) -> bool:
    """Whether the ledger is a PostgreSQL on this host (then the unit orders after it)."""
    if not url:
        return False
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return False
    return (parts.hostname or "") in _LOCAL_HOSTS


def ledger_is_postgres(url: str | None) -> bool:
    return bool(url) and urlsplit(str(url)).scheme.startswith("postgres")


def render_unit(
    app_dir: Path,
    *,
    name: str,
    owlmigrate: str,
    env_path: Path,
    ledger_url: str | None = None,
    stop_timeout: int = DEFAULT_STOP_TIMEOUT,
    watchdog: int = DEFAULT_WATCHDOG,
) -> str:
    """The unit file for the worker of ``app_dir``."""
    after = ["network-online.target"]
    wants = ["network-online.target"]
    if ledger_is_local_postgres(ledger_url):
        after.append("postgresql.service")
    elif ledger_is_postgres(ledger_url):
        after.append("nss-lookup.target")
    exec_start = " ".join(_quote(a) for a in (owlmigrate, "run", "--app", str(app_dir)))
    return "\n".join(
        [
            MARKER,
            "[Unit]",
            f"Description=owlmigrate worker for {name} (legacy cron jobs as OwlClaw triggers)",
            f"After={' '.join(after)}",
            f"Wants={' '.join(wants)}",
            "",
            "[Service]",
            "Type=notify",
            "NotifyAccess=main",
            # root, as cron: the runtime switches to each job's user (setgid, initgroups, setuid)
            "User=root",
            f"WorkingDirectory={_quote(str(app_dir))}",
            f"EnvironmentFile=-{env_path}",
            "Environment=PYTHONUNBUFFERED=1",
            f"ExecStart={exec_start}",
            "Restart=on-failure",
            "RestartSec=5",
            "TimeoutStartSec=120",
            f"WatchdogSec={watchdog}",
            # SIGTERM to the worker only: it stops firing and waits for the runs in flight;
            # whatever still runs after TimeoutStopSec is killed with the whole cgroup.
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={stop_timeout}",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _env_text(env: Mapping[str, str], ledger_url: str | None) -> str:
    values = {k: v for k, v in sorted(env.items()) if k.startswith(_ENV_PREFIXES)}
    if ledger_url:
        values["OWLCLAW_LEDGER_URL"] = ledger_url
    lines = ["# owlmigrate worker configuration (root only: it may hold passwords)"]
    for key, value in sorted(values.items()):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + "\n"


def _systemd_running(root: Path) -> bool:
    return root == Path("/") and Path("/run/systemd/system").is_dir()


def _systemctl(commands: list[list[str]]) -> None:
    for argv in commands:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServiceError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")


def owlmigrate_executable() -> str:
    """The ``owlmigrate`` console script of this installation (beside its Python first)."""
    beside = Path(sys.executable).with_name("owlmigrate")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("owlmigrate")
    if found is None:
        raise UsageError("the owlmigrate command is not installed on PATH: give --executable")
    return str(Path(found).resolve())


def _resolve_app(app_dir: str | Path) -> Path:
    path = Path(app_dir).resolve()
    if not path.is_dir():
        raise UsageError(f"--app {app_dir}: not a directory (an app directory from generate)")
    return path


def install(
    app_dir: str | Path,
    *,
    name: str | None = None,
    root: str | Path = "/",
    ledger_url: str | None = None,
    env: Mapping[str, str] | None = None,
    owlmigrate: str | None = None,
    stop_timeout: int = DEFAULT_STOP_TIMEOUT,
    watchdog: int = DEFAULT_WATCHDOG,
    dry_run: bool = False,
    systemctl: bool = True,
) -> ServiceResult:
    """Write (or show) the unit and environment file for ``app_dir``'s worker, then
    ``systemctl daemon-reload`` and ``enable --now`` it when systemd runs this host.

    ``ledger_url``: the ledger the worker must use (default: the configuration, as ``owlmigrate
    run`` would resolve it). Rerunning replaces both files; a unit at that path that this
    command did not write is refused."""
    app = _resolve_app(app_dir)
    env = os.environ if env is None else env
    if ledger_url is None:
        from owlclaw_runtime.config import load_settings

        ledger_url = load_settings(environ=env).ledger_url
    label = service_name(app, name)
    unit = unit_name(label)
    base = Path(root)
    unit_path = base / UNIT_DIR / unit
    env_path = base / ENV_DIR / f"owlmigrate-worker-{label}"
    result = ServiceResult(label, unit, unit_path, env_path)
    if unit_path.exists() and MARKER not in unit_path.read_text(errors="replace"):
        raise ServiceError(f"{unit_path} exists and was not written by owlmigrate: not replaced")
    result.unit_text = render_unit(
        app,
        name=label,
        owlmigrate=owlmigrate or owlmigrate_executable(),
        env_path=Path("/") / ENV_DIR / env_path.name,
        ledger_url=ledger_url,
        stop_timeout=stop_timeout,
        watchdog=watchdog,
    )
    result.env_text = _env_text(env, ledger_url)
    result.commands = [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", unit]]
    if ledger_is_postgres(ledger_url) and not ledger_is_local_postgres(ledger_url):
        result.notes.append(
            "the PostgreSQL ledger is on another host: the unit waits for the network only"
        )
    if dry_run:
        return result
    atomic_write(env_path, result.env_text.encode(), mode=0o600)
    os.chmod(env_path, 0o600)
    atomic_write(unit_path, result.unit_text.encode(), mode=0o644)
    result.written = [str(env_path), str(unit_path)]
    if systemctl and _systemd_running(base) and shutil.which("systemctl"):
        _systemctl(result.commands)
        result.ran = True
    else:
        result.notes.append(
            "systemd is not running this host (or --no-systemctl): run "
            + " && ".join(" ".join(c) for c in result.commands)
        )
    return result


def uninstall(
    app_dir: str | Path,
    *,
    name: str | None = None,
    root: str | Path = "/",
    dry_run: bool = False,
    systemctl: bool = True,
) -> ServiceResult:
    """Stop and disable the worker's unit, then remove the unit and its environment file.
    Nothing there: nothing to do (rerunning is safe)."""
    app = Path(app_dir).resolve()
    label = service_name(app, name)
    unit = unit_name(label)
    base = Path(root)
    unit_path = base / UNIT_DIR / unit
    env_path = base / ENV_DIR / f"owlmigrate-worker-{label}"
    result = ServiceResult(label, unit, unit_path, env_path)
    if unit_path.exists() and MARKER not in unit_path.read_text(errors="replace"):
        raise ServiceError(f"{unit_path} was not written by owlmigrate: not removed")
    present = [p for p in (unit_path, env_path) if p.exists()]
    if not present:
        result.notes.append(f"{unit} is not installed")
        return result
    result.commands = [["systemctl", "disable", "--now", unit]]
    if dry_run:
        result.removed = [str(p) for p in present]
        return result
    live = systemctl and _systemd_running(base) and shutil.which("systemctl")
    if live and unit_path.exists():
        # stopped first: the worker finishes its runs before its unit disappears
        _systemctl(result.commands)
        result.ran = True
    for path in present:
        path.unlink()
        result.removed.append(str(path))
    if live:
        _systemctl([["systemctl", "daemon-reload"]])
    return result


__all__ = [
    "ServiceError",
    "ServiceResult",
    "install",
    "ledger_is_local_postgres",
    "render_unit",
    "service_name",
    "uninstall",
    "unit_name",
]
