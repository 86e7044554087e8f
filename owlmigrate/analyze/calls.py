"""Turn a parsed command into the plan's ``calls``: executables and scripts resolved under the
host root (with what each script does), wrappers, guards and working directories."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlclaw_runtime.redact import redact

from owlmigrate.analyze.scripts import DEFAULT_PATH, analyze_script_file, interpreter_kind
from owlmigrate.analyze.shell import BUILTINS, TEST_COMMANDS, ShellAnalysis, SimpleCommand
from owlmigrate.plan import Call

# Interpreter options that take a value (python -W x, -X x; sh -o x); -m/-c end the options.
_OPTS_WITH_VALUE = {"-W", "-X", "-o", "-O", "-d", "-I"}
_PY_OPTS_WITH_VALUE = {"-W", "-X"}


@dataclass(slots=True)
class Resolver:
    """Finds host paths under ``root`` the way the job's shell would (cwd, HOME, PATH)."""

    root: Path | None
    dialect: str
    home: str | None
    env: dict[str, str]
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def host_path(self, word: str, cwd: str | None) -> tuple[str | None, bool]:
        """``(absolute host path or None, relative?)`` for a command or script word."""
        if word.startswith("~/") and self.home:
            word = posixpath.join(self.home, word[2:])
        elif word.startswith("$HOME/") and self.home:
            word = posixpath.join(self.home, word[6:])
        if word.startswith("/"):
            return posixpath.normpath(word), False
        if "/" in word:
            base = cwd if cwd and cwd.startswith("/") else self.home
            if base is None:
                return None, True
            return posixpath.normpath(posixpath.join(base, word)), cwd is None
        if self.root is None:
            return None, False
        path = self.env.get("PATH") or DEFAULT_PATH.get(self.dialect.split("-")[0], "/usr/bin:/bin")
        for d in path.split(":"):
            if d.startswith("/"):
                candidate = posixpath.join(d, word)
                if self._file(candidate) is not None:
                    return candidate, False
        return None, False

    def _file(self, host: str) -> Path | None:
        if self.root is None:
            return None
        p = self.root / host.lstrip("/")
        try:
            return p if p.is_file() else None
        except OSError:
            return None

    def details(self, host: str) -> dict[str, Any] | None:
        """Script analysis of a host path under the root (cached), or None when absent."""
        if host in self.cache:
            return self.cache[host]
        p = self._file(host)
        result = analyze_script_file(p) if p is not None else None
        if result is not None:
            self.cache[host] = result
        return result


def _script_arg(words: list[str], language: str) -> tuple[int | None, str | None]:
    """Index of the script argument of an interpreter command, and a ``-m`` module if any."""
    i = 1
    while i < len(words):
        w = words[i]
        if w == "-m" and language == "python" and i + 1 < len(words):
            return None, words[i + 1]
        if w == "-c":
            return None, None
        if w.startswith("-") and w != "-":
            opts = _PY_OPTS_WITH_VALUE if language == "python" else _OPTS_WITH_VALUE
            i += 2 if w in opts else 1
            continue
        return i, None
    return None, None


def build_calls(
    sh: ShellAnalysis, resolver: Resolver
) -> tuple[list[Call], list[str], list[dict[str, Any]]]:
    """``(calls, relative paths, script details)`` for one analysed command."""
    calls: list[Call] = []
    relative: list[str] = []
    scripts: list[dict[str, Any]] = []
    seen_wrappers: set[tuple[str, str]] = set()
    for cmd in sh.commands:
        for name, args in cmd.wrappers:
            key = (name, " ".join(args))
            if key not in seen_wrappers:
                seen_wrappers.add(key)
                calls.append(Call(kind="wrapper", name=name, args=[redact(a) for a in args]))
        if not cmd.words or cmd.in_substitution:
            continue
        if cmd.base in TEST_COMMANDS:
            calls.append(Call(kind="guard", name=cmd.base, args=[redact(a) for a in cmd.words[1:]]))
            continue
        if cmd.base in BUILTINS:
            calls.append(
                Call(kind="builtin", name=cmd.base, args=[redact(a) for a in cmd.words[1:]])
            )
            continue
        calls.append(_call_for(cmd, resolver, relative, scripts))
    return calls, relative, scripts


def _call_for(
    cmd: SimpleCommand, resolver: Resolver, relative: list[str], scripts: list[dict[str, Any]]
) -> Call:
    words = cmd.words
    language = interpreter_kind(cmd.base) if "/" not in cmd.base else None
    if language is not None:
        idx, module = _script_arg(words, language)
        if module is not None:
            return Call(
                kind="executable",
                name=cmd.base,
                path=words[0],
                args=[redact(a) for a in words[1:]],
                details={"module": module},
            )
        if idx is not None:
            script = words[idx]
            host, rel = resolver.host_path(script, cmd.cwd)
            if rel or (cmd.cwd is not None and not cmd.cwd.startswith("/")):
                relative.append(script)
            details = dict(resolver.details(host) or {}) if host else {}
            if details:
                scripts.append(details)
            details["interpreter"] = words[0]
            if cmd.cwd:
                details["cwd"] = cmd.cwd
            redirects = _redirect_texts(cmd)
            if redirects:
                details["redirects"] = redirects
            lang = language if language in ("python", "shell") else "opaque"
            return Call(
                kind="script",
                name=posixpath.basename(script),
                path=host or script,
                resolved=_rel(host, resolver) if host and resolver.details(host) else None,
                language=lang,  # type: ignore[arg-type]
                args=[redact(a) for a in words[idx + 1 :]],
                details=details,
            )
    host, rel = resolver.host_path(words[0], cmd.cwd)
    if rel or ("/" in words[0] and cmd.cwd is not None and not cmd.cwd.startswith("/")):
        relative.append(words[0])
    details = resolver.details(host) if host else None
    call_details: dict[str, Any] = {}
    if cmd.base == "run-parts":
        dirs = [w for w in words[1:] if not w.startswith("-")]
        if dirs:
            call_details["directory"] = dirs[-1]
    if cmd.cwd:
        call_details["cwd"] = cmd.cwd
    redirects = _redirect_texts(cmd)
    if redirects:
        call_details["redirects"] = redirects
    if details is not None and details.get("language") in ("python", "shell"):
        scripts.append(details)
        return Call(
            kind="script",
            name=cmd.base,
            path=host,
            resolved=_rel(host, resolver),
            language=details["language"],
            args=[redact(a) for a in words[1:]],
            details={**details, **call_details},
        )
    return Call(
        kind="executable",
        name=cmd.base,
        path=host or words[0],
        resolved=_rel(host, resolver) if details is not None and host else None,
        language="opaque" if details is not None else None,
        args=[redact(a) for a in words[1:]],
        details={**(details or {}), **call_details},
    )


def _rel(host: str | None, resolver: Resolver) -> str | None:
    if host is None or resolver.root is None:
        return None
    return host.lstrip("/")


def _redirect_texts(cmd: SimpleCommand) -> list[str]:
    """Redirections as shell text (``>/dev/null``, ``2>&1``, ``| next``)."""
    out = []
    for op, fd, target in cmd.redirects:
        if op == "|":
            out.append("| (pipe)")
            continue
        prefix = "" if fd is None else str(fd)
        out.append(f"{prefix}{op}{target}")
    return out
