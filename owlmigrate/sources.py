"""Discovery: which crontab sources a host has, and the host facts that decide how they run.

Everything is read under a root directory (``/`` for the live host, or a copied host tree), so
paths in the results are relative to that root. Nothing here raises for a bad file: problems are
recorded on the source (:class:`Candidate.notes`) and the scan goes on.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from owlmigrate.crontab import LineKind, parse_crontab

# Reading more than this from one file is refused (the daemons' own limits are far lower).
MAX_FILE_BYTES = 64 * 1024 * 1024

# Debian cron database.c valid_name(): "^[a-zA-Z0-9_-]+$" for /etc/cron.d; run-parts(8) without
# --lsbsysinit uses the same rule for the periodic directories.
DEBIAN_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# cronie database.c not_a_crontab(): skipped names.
_CRONIE_SKIP_SUFFIXES = (".rpmsave", ".rpmorig", ".rpmnew")
# cronie's run-parts (crontabs package) skips these backup/packaging leftovers.
_CRONIE_RUNPARTS_SKIP = re.compile(
    r"(~|,|\.rpm(save|orig|new)|\.swp|\.cfsaved|\.dpkg-(old|dist|new|tmp))$"
)

_OS_TO_DIALECT = {
    "debian": "debian",
    "ubuntu": "debian",
    "raspbian": "debian",
    "linuxmint": "debian",
    "fedora": "cronie",
    "rhel": "cronie",
    "centos": "cronie",
    "rocky": "cronie",
    "almalinux": "cronie",
    "ol": "cronie",
    "amzn": "cronie",
    "alpine": "busybox",
}


@dataclass(frozen=True, slots=True)
class PasswdEntry:
    """One line of etc/passwd (the fields a cron daemon uses)."""

    name: str
    uid: int
    home: str
    shell: str


@dataclass(slots=True)
class HostFacts:
    """What the scan needs to know about the host; ``detected`` says where each fact came from."""

    root: Path | None
    dialect: str
    timezone: str
    systemd: bool
    users: dict[str, PasswdEntry]
    os_id: str | None = None
    os_name: str | None = None
    detected: dict[str, str] = field(default_factory=dict)
    live: bool = False

    def path(self, host_path: str) -> Path:
        """Where a host path (``/etc/crontab``) is under the root."""
        rel = host_path.lstrip("/")
        return (self.root or Path("/")) / rel


@dataclass(slots=True)
class Candidate:
    """A file the daemon may read: host path, kind, owner, and whether the daemon would load it."""

    rel: str
    abspath: Path
    kind: str  # user | system | anacrontab | file
    user: str | None
    runs: bool = True
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    system_format: bool = False


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of os-release(5) with shell quoting removed."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def parse_passwd(text: str) -> dict[str, PasswdEntry]:
    """User entries of an etc/passwd file (malformed lines are skipped)."""
    users: dict[str, PasswdEntry] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 7 or not parts[0] or parts[0].startswith("#"):
            continue
        try:
            uid = int(parts[2])
        except ValueError:
            continue
        users.setdefault(parts[0], PasswdEntry(parts[0], uid, parts[5], parts[6]))
    return users


def dialect_for_os(os_release: dict[str, str]) -> str | None:
    """The cron dialect a distribution ships, from ID then ID_LIKE; None when unknown."""
    ids = [os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()]
    for os_id in ids:
        found = _OS_TO_DIALECT.get(os_id.lower())
        if found:
            return found
    return None


def _timezone(root: Path) -> tuple[str, str] | None:
    tz_file = root / "etc" / "timezone"
    text = _read_text(tz_file)
    if text and text.strip():
        return text.strip().splitlines()[0].strip(), "etc/timezone"
    localtime = root / "etc" / "localtime"
    try:
        target = os.readlink(localtime)
    except OSError:
        return None
    marker = "zoneinfo/"
    if marker in target:
        return target.split(marker, 1)[1], "etc/localtime"
    return None


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _has_systemd(root: Path) -> tuple[bool, str]:
    if (root / "run" / "systemd" / "system").is_dir():
        return True, "run/systemd/system"
    if root.resolve() == Path("/"):
        # On the live host only a running systemd counts (sd_booted() checks this directory);
        # an installed but idle systemd (a container) does not make guards skip jobs.
        return False, "run/systemd/system is absent"
    init = root / "sbin" / "init"
    try:
        if "systemd" in os.readlink(init):
            return True, "sbin/init -> systemd"
    except OSError:
        pass
    for p in ("lib/systemd/systemd", "usr/lib/systemd/systemd"):
        if (root / p).exists():
            return True, p
    return False, "no systemd found under the root"


def detect_host(
    root: Path | None,
    *,
    dialect: str | None = None,
    timezone: str | None = None,
    systemd: bool | None = None,
) -> HostFacts:
    """Host facts detected under ``root``; each keyword overrides detection.

    dialect: from etc/os-release (Debian/Ubuntu -> debian, Fedora/RHEL family -> cronie,
    Alpine -> busybox; debian when unknown); timezone: etc/timezone or the etc/localtime link
    (UTC when unknown); systemd: run/systemd/system, sbin/init or the systemd binary.
    """
    detected: dict[str, str] = {}
    os_release: dict[str, str] = {}
    users: dict[str, PasswdEntry] = {}
    if root is not None:
        for candidate in ("etc/os-release", "usr/lib/os-release"):
            text = _read_text(root / candidate)
            if text:
                os_release = parse_os_release(text)
                detected["os"] = candidate
                break
        text = _read_text(root / "etc" / "passwd")
        if text:
            users = parse_passwd(text)
            detected["users"] = "etc/passwd"
    if dialect is None:
        found = dialect_for_os(os_release)
        dialect = found or "debian"
        detected["dialect"] = (
            detected.get("os", "") if found else "default (no known etc/os-release)"
        )
    else:
        detected["dialect"] = "option"
    if timezone is None:
        tz = _timezone(root) if root is not None else None
        timezone, detected["timezone"] = tz if tz else ("UTC", "default (none found)")
        if not _known_zone(timezone):
            detected["timezone"] = f"default (unknown zone {timezone!r} in {detected['timezone']})"
            timezone = "UTC"
    else:
        detected["timezone"] = "option"
    if systemd is None:
        if root is not None:
            systemd, detected["systemd"] = _has_systemd(root)
        else:
            systemd, detected["systemd"] = False, "default (no root)"
    else:
        detected["systemd"] = "option"
    return HostFacts(
        root=root,
        dialect=dialect,
        timezone=timezone,
        systemd=systemd,
        users=users,
        os_id=os_release.get("ID"),
        os_name=os_release.get("PRETTY_NAME") or os_release.get("NAME"),
        detected=detected,
        live=root is not None and root.resolve() == Path("/"),
    )


def crond_skips(name: str, dialect: str) -> str | None:
    """Why the daemon skips a file of /etc/cron.d (or a spool) by its name, or None."""
    if dialect == "debian":
        if not DEBIAN_VALID_NAME.match(name):
            return "Debian cron ignores names that are not ^[A-Za-z0-9_-]+$ (valid_name)"
        return None
    if dialect == "busybox":
        if "." in name:
            return "busybox crond ignores names containing a dot"
        return None
    if name.startswith((".", "#")) or name.endswith("~") or name.endswith(_CRONIE_SKIP_SUFFIXES):
        return "cronie skips names starting with . or #, ending in ~ or .rpm* (not_a_crontab)"
    return None


def run_parts_skips(name: str, dialect: str) -> str | None:
    """Why run-parts skips a script by its name, or None (Debian run-parts(8); cronie's
    run-parts shell script)."""
    if dialect == "debian":
        if not DEBIAN_VALID_NAME.match(name):
            return "run-parts ignores names that are not ^[A-Za-z0-9_-]+$"
        return None
    if dialect == "busybox":
        # busybox run-parts uses the same rule as Debian's (invalid_name()).
        if not DEBIAN_VALID_NAME.match(name):
            return "busybox run-parts ignores names that are not ^[A-Za-z0-9_-]+$"
        return None
    if name.startswith(".") or _CRONIE_RUNPARTS_SKIP.search(name):
        return "cronie's run-parts skips backup and package leftovers"
    return None


def _mode_problem(
    st: os.stat_result, dialect: str, kind: str, owner: PasswdEntry | None
) -> str | None:
    """Ownership/mode rules the daemons enforce (only binding on a live host): cronie
    check_open() (mode & 07533 == 0400, owner root or the crontab's user, one link), Debian
    (spool files 0600; cron.d root-owned, not group/other writable), busybox (owned by root)."""
    if kind not in ("system", "user"):
        return None
    mode = stat.S_IMODE(st.st_mode)
    if kind == "system" and st.st_uid != 0:
        return "not owned by root"
    if dialect.startswith("cronie"):
        if (st.st_mode & 0o7533) != 0o400:
            return f"mode {mode:04o}: cronie requires (mode & 07533) == 0400 (BAD FILE MODE)"
        if kind == "user" and st.st_uid != 0 and (owner is None or st.st_uid != owner.uid):
            return "WRONG FILE OWNER: neither root nor the crontab's user"
        if st.st_nlink != 1:
            return "BAD LINK COUNT: the file has more than one hard link"
    if dialect == "debian" and kind == "system" and st.st_mode & 0o022:
        return f"mode {mode:04o}: writable by group or other"
    if dialect == "debian" and kind == "user" and mode != 0o600:
        return f"mode {mode:04o}: Debian requires 0600 for spool files"
    if dialect == "busybox" and kind == "user" and st.st_uid != 0:
        return "busybox crond only loads crontabs owned by root"
    return None


def _listdir(path: Path) -> list[str] | str:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    except OSError as exc:
        return f"cannot list directory: {exc.strerror or exc}"


def discover(host: HostFacts, *, enforce_modes: bool | None = None) -> list[Candidate]:
    """Every crontab source under the host root, with whether the daemon loads it.

    ``enforce_modes`` (default: only on the live host) turns ownership and mode problems into
    ``runs: false``; otherwise they are notes, because a copied tree has the copier's owners.
    """
    assert host.root is not None
    root = host.root
    enforce = host.live if enforce_modes is None else enforce_modes
    d = host.dialect
    out: list[Candidate] = []
    listing_errors: list[Candidate] = []

    def add(rel: str, kind: str, user: str | None, *, system: bool) -> Candidate:
        c = Candidate(rel, root / rel, kind, user, system_format=system)
        out.append(c)
        return c

    spools: list[str]
    if d == "debian":
        spools = ["var/spool/cron/crontabs"]
    elif d == "busybox":
        spools = ["var/spool/cron/crontabs", "etc/crontabs"]
    else:
        spools = ["var/spool/cron"]
    seen_real: dict[str, str] = {}
    for spool in spools:
        names = _listdir(root / spool)
        if isinstance(names, str):
            c = Candidate(spool, root / spool, "user", None, runs=False, reason=names)
            listing_errors.append(c)
            continue
        for name in names:
            p = root / spool / name
            if p.is_dir():
                continue  # e.g. cronie's spool holding Debian's "crontabs" directory
            rel = f"{spool}/{name}"
            real = str(p.resolve())
            if real in seen_real:
                continue  # /var/spool/cron/crontabs -> /etc/crontabs on Alpine
            seen_real[real] = rel
            c = add(rel, "user", name, system=False)
            skip = crond_skips(name, d) if d == "busybox" else None
            if d != "busybox" and name.startswith("."):
                skip = "hidden files in the spool are not crontabs"
            if d.startswith("cronie") and skip is None:
                skip = crond_skips(name, d)
            if skip:
                c.runs, c.reason = False, skip
            elif host.users and name not in host.users:
                c.runs, c.reason = False, f"no such user {name!r} in etc/passwd (ORPHAN)"
    etc_crontab = root / "etc" / "crontab"
    if etc_crontab.exists() or etc_crontab.is_symlink():
        c = add("etc/crontab", "system", None, system=True)
        if d == "busybox":
            c.runs, c.reason = False, "busybox crond has no system crontab"
    names = _listdir(root / "etc" / "cron.d")
    if isinstance(names, str):
        listing_errors.append(
            Candidate("etc/cron.d", root / "etc/cron.d", "system", None, runs=False, reason=names)
        )
        names = []
    for name in names:
        p = root / "etc" / "cron.d" / name
        if p.is_dir():
            continue
        c = add(f"etc/cron.d/{name}", "system", None, system=True)
        if d == "busybox":
            c.runs, c.reason = False, "busybox crond does not read /etc/cron.d"
            continue
        skip = crond_skips(name, d)
        if skip:
            c.runs, c.reason = False, skip
    anacrontab = root / "etc" / "anacrontab"
    if anacrontab.exists():
        add("etc/anacrontab", "anacrontab", "root", system=True)
    for c in out:
        try:
            st = c.abspath.stat()
        except OSError:
            continue
        problem = _mode_problem(st, d, c.kind, host.users.get(c.user or ""))
        if problem and c.runs:
            if enforce:
                c.runs, c.reason = False, f"the daemon refuses this file: {problem}"
            else:
                c.notes.append(f"on a live host the daemon would refuse this file: {problem}")
    return listing_errors + out


def periodic_scripts(host: HostFacts, directory: str) -> list[tuple[str, bool, str | None]]:
    """The entries of a run-parts directory: ``(rel path, runs, reason)`` in run order.

    run-parts runs executable regular files whose names pass its rule, in lexical order.
    """
    assert host.root is not None
    rel_dir = str(PurePosixPath(directory.lstrip("/")))
    names = _listdir(host.root / rel_dir)
    if isinstance(names, str):
        return [(rel_dir, False, names)]
    out: list[tuple[str, bool, str | None]] = []
    for name in names:
        p = host.root / rel_dir / name
        rel = f"{rel_dir}/{name}"
        if p.is_dir():
            continue
        skip = run_parts_skips(name, host.dialect)
        if skip:
            out.append((rel, False, skip))
            continue
        try:
            executable = os.access(p, os.X_OK) and p.is_file()
        except OSError:
            executable = False
        if not executable:
            out.append((rel, False, "not executable: run-parts skips it"))
            continue
        out.append((rel, True, None))
    return out


def read_source(path: Path) -> tuple[bytes | None, str | None]:
    """The bytes of a file, or None and why not (never raises for I/O problems)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None, "the file vanished or is a dangling link"
    except OSError as exc:
        return None, f"cannot stat: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file"
    if st.st_size > MAX_FILE_BYTES:
        return None, f"file is {st.st_size} bytes, over the {MAX_FILE_BYTES}-byte limit"
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1), None
    except PermissionError:
        return None, "permission denied"
    except FileNotFoundError:
        return None, "the file vanished while being read"
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"


# First words of a command that are not a user name in the sixth field.
_NOT_USERS = frozenset(
    {
        "cd",
        "test",
        "[",
        "echo",
        "sh",
        "bash",
        "php",
        "python",
        "python3",
        "perl",
        "ruby",
        "node",
        "curl",
        "wget",
        "find",
        "rm",
        "run-parts",
        "flock",
        "nice",
        "sleep",
        "true",
        "env",
        "exec",
        "docker",
        "git",
        "tar",
        "rsync",
        "cp",
        "mv",
        "make",
        "java",
        "sudo",
        "su",
        "timeout",
        "if",
        "for",
        "while",
        "/usr/bin/env",
    }
)
_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$")
COMMON_USERS = frozenset(
    {
        "root",
        "www-data",
        "nobody",
        "daemon",
        "postgres",
        "mysql",
        "backup",
        "nginx",
        "apache",
        "mail",
        "news",
        "proxy",
        "deploy",
        "ubuntu",
        "admin",
        "app",
        "web",
        "git",
        "redis",
        "smmsp",
        "munin",
        "zabbix",
        "nagios",
        "centos",
        "ec2-user",
        "jenkins",
        "odoo",
        "mailman",
        "list",
        "bin",
        "sys",
        "man",
        "lp",
        "uucp",
        "games",
        "operator",
        "adm",
        "node",
        "user",
    }
)


def detect_format(data: bytes, dialect: str, users: Sequence[str] = ()) -> tuple[bool, str]:
    """Whether a lone crontab has a user column (``/etc/crontab`` format), and why.

    It does when every job line parsed as a system crontab has a sixth field that names a
    known user (or a common service account, or looks like one and is not a command).
    """
    if dialect == "busybox":
        return False, "busybox has no system crontab format"
    as_system = parse_crontab(data, path="-", dialect=dialect, system=True)
    jobs = [ln for ln in as_system.lines if ln.kind is LineKind.JOB]
    if not jobs:
        return False, "no job lines: user format assumed"
    known = set(users)
    for ln in jobs:
        u = ln.user or ""
        if u in known or u in COMMON_USERS:
            continue
        if _USER_RE.match(u) and u not in _NOT_USERS and not known:
            continue
        return False, f"line {ln.number}: {u!r} is not a user name, so there is no user column"
    return True, f"every job line ({len(jobs)}) has a user name in the sixth field"
