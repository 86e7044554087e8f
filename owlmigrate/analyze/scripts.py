"""Scripts a job calls: find them under the host root and say what they do."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from owlmigrate.analyze.python import analyze_python
from owlmigrate.analyze.shell import INTERPRETERS, SYSTEMD_MARKER, analyze_command

MAX_SCRIPT_BYTES = 2 * 1024 * 1024
# PATH the daemon gives a job when the crontab does not set one (cronie _PATH_STDPATH,
# Debian's compiled default; busybox inherits crond's, Alpine's profile default shown).
DEFAULT_PATH = {
    "debian": "/usr/bin:/bin",
    "cronie": "/usr/bin:/bin:/usr/sbin:/sbin",
    "busybox": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}


def interpreter_kind(name: str) -> str | None:
    """``python``/``shell``/``opaque`` for an interpreter name (``python3.11`` included)."""
    base = posixpath.basename(name).rstrip("0123456789.")
    if base == "python" or name.startswith("python"):
        return "python"
    return INTERPRETERS.get(base) or INTERPRETERS.get(posixpath.basename(name))


def language_of(data: bytes, name: str) -> tuple[str, str | None]:
    """The language of a script from its shebang (then its extension): ``(language, shebang)``."""
    if b"\0" in data[:4096]:
        return "opaque", None
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    if first.startswith("#!"):
        words = first[2:].split()
        prog = words[0] if words else ""
        if posixpath.basename(prog) == "env" and len(words) > 1:
            prog = words[1] if not words[1].startswith("-") else (words[2:3] or [""])[0]
        kind = interpreter_kind(prog)
        return (kind or "opaque"), first
    if name.endswith(".py"):
        return "python", None
    # No shebang: sh -c runs it with the shell (execve fails with ENOEXEC and sh retries).
    return "shell", None


def shell_script_details(text: str) -> dict[str, Any]:
    """Commands a shell script runs and whether it exits early on systemd hosts."""
    analysis = analyze_command(text)
    commands: list[str] = []
    for cmd in analysis.main:
        if cmd.base and cmd.base not in commands:
            commands.append(cmd.base)
    exits_on_systemd = False
    for cmd in analysis.commands:
        if cmd.base != "exit":
            continue
        for guard in cmd.guarded_by:
            op, words = guard[0], guard[1:]
            if SYSTEMD_MARKER not in words:
                continue
            negated = "!" in words or "\\!" in words
            # "if [ -d /run/systemd/system ]; then exit", "[ -d ... ] && exit",
            # "[ ! -d ... ] || exit": the script stops when systemd is running.
            if (op in ("if", "&&") and not negated) or (op == "||" and negated):
                exits_on_systemd = True
    details: dict[str, Any] = {
        "commands": commands[:40],
        "exits_on_systemd": exits_on_systemd,
        "runs_only_without_systemd": analysis.systemd_guard and not exits_on_systemd,
        "variables": analysis.variables[:40],
    }
    if analysis.parse_error:
        details["parse_error"] = analysis.parse_error
    return details


def analyze_script_file(path: Path) -> dict[str, Any]:
    """Details of a script file (language, shebang, and what it does); never raises."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        return {"language": "opaque", "error": f"cannot read: {exc.strerror or exc}"}
    language, shebang = language_of(data, path.name)
    details: dict[str, Any] = {"language": language}
    if shebang:
        details["shebang"] = shebang
    if len(data) > MAX_SCRIPT_BYTES:
        details["error"] = "too large to analyse"
        return details
    text = data.decode("utf-8", "replace")
    if language == "python":
        details.update(analyze_python(text).as_dict())
    elif language == "shell":
        details.update(shell_script_details(text))
    return details
