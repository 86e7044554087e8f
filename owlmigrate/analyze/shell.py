"""What a crontab command runs, read with a real shell parser (bashlex), never a regex.

The result lists every simple command in order, with the wrappers cron users put in front of
the real work (``flock``, ``run-one``, ``nice``, ``timeout``, ``sudo``/``su``, ``sh -c``)
unwrapped, the ``cd X &&`` working directory, ``test``/``[`` guards (including the systemd guard
Debian packages use), variables read, and where the output goes (cron mails what reaches it).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from typing import Any

import bashlex
import bashlex.ast

TEST_COMMANDS = frozenset({"test", "[", "[["})
# Commands that do no work of their own for the purposes of a migration.
BUILTINS = frozenset(
    {
        "cd",
        ":",
        "true",
        "false",
        "exit",
        "export",
        "set",
        "unset",
        "umask",
        "ulimit",
        "source",
        ".",
        "shift",
        "return",
        "trap",
        "wait",
        "read",
        "eval",
        "alias",
        "local",
        "break",
        "continue",
    }
)
LOCK_TOOLS = frozenset(
    {
        "flock",
        "run-one",
        "run-this-one",
        "run-one-constantly",
        "setlock",
        "lockrun",
        "solo",
        "lckdo",
        "chpst",
    }
)
USER_SWITCH = frozenset({"su", "sudo", "runuser", "setpriv", "doas"})
# Wrappers that run their remaining arguments as the command, with how many option arguments
# each option takes.
_PLAIN_WRAPPERS: dict[str, dict[str, int]] = {
    "nice": {"-n": 1, "--adjustment": 1},
    "ionice": {"-c": 1, "-n": 1, "-p": 1, "-t": 0, "--class": 1, "--classdata": 1},
    "nohup": {},
    "time": {"-p": 0},
    "exec": {"-a": 1, "-c": 0, "-l": 0},
    "chronic": {"-e": 0, "-v": 0},
    "stdbuf": {"-i": 1, "-o": 1, "-e": 1},
    "run-one": {},
    "run-this-one": {},
    "run-one-constantly": {},
    "cronic": {},
    "command": {"-p": 0},
    "builtin": {},
    "xargs": {"-0": 0, "-n": 1, "-P": 1, "-I": 1, "-r": 0},
}
INTERPRETERS = {
    "python": "python",
    "python2": "python",
    "python3": "python",
    "sh": "shell",
    "bash": "shell",
    "dash": "shell",
    "ksh": "shell",
    "zsh": "shell",
    "busybox": "shell",
    "php": "opaque",
    "perl": "opaque",
    "ruby": "opaque",
    "node": "opaque",
}
SYSTEMD_MARKER = "/run/systemd/system"


@dataclass(slots=True)
class SimpleCommand:
    """One simple command of the line, after wrappers are unwrapped."""

    words: list[str]
    assignments: list[str] = field(default_factory=list)
    redirects: list[tuple[str, int | None, str]] = field(default_factory=list)
    cwd: str | None = None
    wrappers: list[tuple[str, list[str]]] = field(default_factory=list)
    guarded_by: list[list[str]] = field(default_factory=list)
    in_substitution: bool = False

    @property
    def name(self) -> str:
        """The command name as written (``./x.sh``, ``/usr/bin/python3``, ``cd``)."""
        return self.words[0] if self.words else ""

    @property
    def base(self) -> str:
        """The command's basename (``python3`` for ``/usr/bin/python3``)."""
        return posixpath.basename(self.name)


@dataclass(slots=True)
class ShellAnalysis:
    """Everything the scan needs from one command line."""

    commands: list[SimpleCommand] = field(default_factory=list)
    tests: list[list[str]] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    cwd: list[str] = field(default_factory=list)
    locks: list[tuple[str, str | None]] = field(default_factory=list)
    user_switches: list[tuple[str, str | None]] = field(default_factory=list)
    systemd_guard: bool = False
    anacron_guard: bool = False
    run_parts: list[str] = field(default_factory=list)
    stdout: str = "cron"  # where the final output goes: cron | discarded | captured
    stderr: str = "cron"
    parse_error: str | None = None

    @property
    def main(self) -> list[SimpleCommand]:
        """Commands that do the job's work (not tests, builtins or substitutions)."""
        return [
            c
            for c in self.commands
            if c.words
            and not c.in_substitution
            and c.base not in TEST_COMMANDS
            and c.base not in BUILTINS
        ]


def _word(node: Any) -> str:
    return str(getattr(node, "word", ""))


def _strip_option_args(words: list[str], spec: dict[str, int]) -> list[str]:
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        if words[i] == "--":
            return words[i + 1 :]
        opt = words[i].split("=", 1)[0]
        i += 1 + (spec.get(opt, 0) if "=" not in words[i] else 0)
    return words[i:]


class _Walker:
    def __init__(self, result: ShellAnalysis, depth: int) -> None:
        self.r = result
        self.depth = depth

    def visit_list(self, parts: list[Any], cwd: str | None, guards: list[list[str]]) -> None:
        guards = list(guards)
        pending_test: list[str] | None = None
        for part in parts:
            kind = part.kind
            if kind == "operator":
                if part.op in ("&&", "||") and pending_test is not None:
                    guards.append([part.op, *pending_test])
                pending_test = None
                continue
            last = self.visit(part, cwd, guards)
            if last is not None and last.base in TEST_COMMANDS and not last.in_substitution:
                pending_test = last.words
            if last is not None and last.base == "cd" and len(last.words) >= 2:
                cwd = posixpath.join(cwd or "", last.words[1]) if cwd else last.words[1]
                self.r.cwd.append(last.words[1])

    def visit(
        self, node: Any, cwd: str | None, guards: list[list[str]], subst: bool = False
    ) -> SimpleCommand | None:
        kind = node.kind
        if kind == "list":
            self.visit_list(node.parts, cwd, guards)
            return None
        if kind == "pipeline":
            cmds = [p for p in node.parts if p.kind != "pipe"]
            last: SimpleCommand | None = None
            for i, part in enumerate(cmds):
                last = self.visit(part, cwd, guards, subst)
                if i < len(cmds) - 1 and last is not None and not subst:
                    # The pipe is set up before the command's own redirections (2>&1 follows it).
                    last.redirects.insert(0, ("|", 1, "pipe"))
            return last
        if kind == "compound":
            for part in node.list:
                if part.kind not in ("reservedword",):
                    self.visit(part, cwd, guards, subst)
            self._redirects_only(node, subst)
            return None
        if kind in ("if", "while", "until", "for"):
            cond_guard: list[list[str]] = list(guards)
            parts = node.parts
            for idx, part in enumerate(parts):
                if part.kind == "reservedword":
                    continue
                prev = parts[idx - 1] if idx else None
                if prev is not None and _word(prev) in ("if", "elif", "while", "until"):
                    before = len(self.r.tests)
                    self.visit(part, cwd, guards, subst)
                    for test in self.r.tests[before:]:
                        cond_guard.append(["if", *test])
                else:
                    self.visit(part, cwd, cond_guard, subst)
            return None
        if kind == "function":
            return None
        if kind == "command":
            return self._command(node, cwd, guards, subst)
        return None

    def _redirects_only(self, node: Any, subst: bool) -> None:
        for r in getattr(node, "redirects", []) or []:
            self._note_redirect(r, None)

    def _note_redirect(self, r: Any, cmd: SimpleCommand | None) -> None:
        target = r.output
        text = _word(target) if hasattr(target, "kind") else str(target)
        entry = (str(r.type), r.input if isinstance(r.input, int) else None, text)
        if cmd is not None:
            cmd.redirects.append(entry)

    def _command(
        self, node: Any, cwd: str | None, guards: list[list[str]], subst: bool
    ) -> SimpleCommand:
        cmd = SimpleCommand(words=[], cwd=cwd, guarded_by=list(guards), in_substitution=subst)
        for part in node.parts:
            k = part.kind
            if k == "word":
                cmd.words.append(part.word)
                self._word_parts(part, cwd, guards)
            elif k == "assignment":
                cmd.assignments.append(part.word)
                self._word_parts(part, cwd, guards)
            elif k == "redirect":
                self._note_redirect(part, cmd)
                out = part.output
                if hasattr(out, "kind"):
                    self._word_parts(out, cwd, guards)
        self._unwrap(cmd, cwd, guards, subst)
        return cmd

    def _word_parts(self, word: Any, cwd: str | None, guards: list[list[str]]) -> None:
        for p in getattr(word, "parts", []) or []:
            if p.kind == "parameter":
                name = _param_name(p.value)
                if name and name not in self.r.variables:
                    self.r.variables.append(name)
            elif p.kind in ("commandsubstitution", "processsubstitution"):
                self.visit(p.command, cwd, guards, subst=True)

    def _unwrap(
        self, cmd: SimpleCommand, cwd: str | None, guards: list[list[str]], subst: bool
    ) -> None:
        """Peel wrappers off ``cmd.words`` in place and record them; append the command."""
        for _ in range(10):
            if not cmd.words:
                break
            base = posixpath.basename(cmd.words[0])
            rest = cmd.words[1:]
            if base == "env":
                args = _strip_option_args(rest, {"-u": 1, "-C": 1, "-S": 1})
                while args and "=" in args[0] and not args[0].startswith("="):
                    cmd.assignments.append(args.pop(0))
                cmd.wrappers.append((base, rest[: len(rest) - len(args)]))
                cmd.words = args
                continue
            if base in ("flock", "setlock", "lckdo"):
                args = _strip_option_args(
                    rest, {"-w": 1, "--wait": 1, "--timeout": 1, "-E": 1, "--conflict-exit-code": 1}
                )
                lockfile = args[0] if args else None
                self.r.locks.append((base, lockfile))
                after = args[1:]
                cmd.wrappers.append((base, rest[: len(rest) - len(after)]))
                if after and after[0] in ("-c", "--command") and len(after) > 1:
                    self._nested(after[1], cmd, cwd, guards, subst)
                    cmd.words = []
                    break
                cmd.words = after
                continue
            if base == "lockrun":
                args = list(rest)
                lock = next((w.split("=", 1)[1] for w in args if w.startswith("--lockfile=")), None)
                self.r.locks.append((base, lock))
                cmd.wrappers.append((base, rest))
                cmd.words = args[args.index("--") + 1 :] if "--" in args else []
                continue
            if base in ("run-one", "run-this-one", "run-one-constantly", "solo"):
                self.r.locks.append((base, None))
            if base == "timeout":
                args = _strip_option_args(
                    rest, {"-s": 1, "--signal": 1, "-k": 1, "--kill-after": 1}
                )
                cmd.wrappers.append((base, rest[: len(rest) - len(args) + 1]))
                cmd.words = args[1:]
                continue
            if base in _PLAIN_WRAPPERS:
                args = _strip_option_args(rest, _PLAIN_WRAPPERS[base])
                cmd.wrappers.append((base, rest[: len(rest) - len(args)]))
                cmd.words = args
                continue
            if base == "sudo":
                args = rest
                user = None
                i = 0
                while i < len(args) and args[i].startswith("-"):
                    if args[i] in ("-u", "-g", "-C", "-p", "-r", "-t", "-U", "-h"):
                        if args[i] == "-u" and i + 1 < len(args):
                            user = args[i + 1]
                        i += 2
                        continue
                    if args[i] == "--":
                        i += 1
                        break
                    i += 1
                self.r.user_switches.append(("sudo", user or "root"))
                cmd.wrappers.append((base, args[:i]))
                cmd.words = args[i:]
                continue
            if base in ("su", "runuser"):
                user = None
                inner = None
                i = 0
                while i < len(rest):
                    w = rest[i]
                    if w in ("-c", "--command") and i + 1 < len(rest):
                        inner = rest[i + 1]
                        i += 2
                        continue
                    if w == "-u" and i + 1 < len(rest):
                        user = rest[i + 1]
                        i += 2
                        continue
                    if w in ("-s", "--shell", "-g", "-G") and i + 1 < len(rest):
                        i += 2
                        continue
                    if w == "--":
                        i += 1
                        if base == "runuser" and user is not None:
                            break
                        continue
                    if not w.startswith("-") and user is None:
                        user = w
                    elif not w.startswith("-") and base == "runuser":
                        break
                    i += 1
                self.r.user_switches.append((base, user or "root"))
                cmd.wrappers.append((base, rest))
                if inner is not None:
                    self._nested(inner, cmd, cwd, guards, subst)
                    cmd.words = []
                else:
                    cmd.words = rest[i:] if base == "runuser" else []
                break
            if base in ("sh", "bash", "dash", "ksh", "zsh") and len(rest) >= 2 and "-c" in rest[:3]:
                inner = rest[rest.index("-c") + 1] if rest.index("-c") + 1 < len(rest) else ""
                cmd.wrappers.append((base, rest[: rest.index("-c") + 1]))
                self._nested(inner, cmd, cwd, guards, subst)
                cmd.words = []
                break
            break
        if cmd.words and cmd.base == "run-parts":
            dirs = [w for w in cmd.words[1:] if not w.startswith("-")]
            if dirs:
                self.r.run_parts.append(dirs[-1])
        if cmd.words and cmd.base in TEST_COMMANDS and not subst:
            self.r.tests.append(cmd.words)
            if SYSTEMD_MARKER in " ".join(cmd.words):
                self.r.systemd_guard = True
            if any(w.endswith("/anacron") for w in cmd.words):
                self.r.anacron_guard = True
        if cmd.words or cmd.wrappers:
            self.r.commands.append(cmd)

    def _nested(
        self, text: str, outer: SimpleCommand, cwd: str | None, guards: list[list[str]], subst: bool
    ) -> None:
        if self.depth > 4:
            return
        try:
            parts = bashlex.parse(text)
        except Exception as exc:  # bashlex raises several error types on odd input
            self.r.parse_error = self.r.parse_error or f"inner command: {exc}"
            return
        inner = _Walker(self.r, self.depth + 1)
        start = len(self.r.commands)
        for p in parts:
            inner.visit(p, cwd, guards, subst)
        for c in self.r.commands[start:]:
            c.wrappers[:0] = outer.wrappers
            if not c.redirects:
                c.redirects = list(outer.redirects)


def _param_name(value: str) -> str | None:
    name = []
    for ch in value:
        if ch.isalnum() or ch == "_":
            name.append(ch)
        else:
            break
    text = "".join(name)
    if text and not text[0].isdigit():
        return text
    return None


def _final_streams(result: ShellAnalysis, top: list[Any]) -> None:
    """Where stdout and stderr of the whole line end up; anything reaching cron is mailed."""
    # Builtins and tests print nothing in normal operation; what they would say is not output.
    last = [
        c
        for c in result.commands
        if not c.in_substitution and c.base not in BUILTINS and c.base not in TEST_COMMANDS
    ]
    if not last:
        return
    out_states: list[str] = []
    err_states: list[str] = []
    for cmd in last:
        stdout, stderr = "cron", "cron"
        for op, fd, target in cmd.redirects:
            dest = "discarded" if target == "/dev/null" else "captured"
            if op == "|":
                stdout = "captured"
            elif op in (">", ">>", ">|") and fd in (None, 1):
                stdout = dest
            elif op in (">", ">>", ">|") and fd == 2:
                stderr = dest
            elif op in ("&>", "&>>", ">&") and fd is None and target not in ("1", "2"):
                stdout = stderr = dest
            elif op == ">&" and fd == 2 and target == "1":
                stderr = stdout
            elif op == ">&" and fd in (None, 1) and target == "2":
                stdout = stderr
        if cmd.base == "logger":
            # logger sends its input to syslog and prints nothing itself.
            stdout = "captured" if stdout == "cron" else stdout
            stderr = "captured" if stderr == "cron" else stderr
        out_states.append(stdout)
        err_states.append(stderr)
    result.stdout = _worst(out_states)
    result.stderr = _worst(err_states)


def _worst(states: list[str]) -> str:
    for s in ("cron", "captured", "discarded"):
        if s in states:
            return s
    return "cron"


def analyze_command(command: str) -> ShellAnalysis:
    """Parse one crontab command (after cron's ``%`` processing) and describe what it runs.

    Never raises: a command bashlex cannot parse is split with ``shlex`` (or on blanks) and
    ``parse_error`` says why.
    """
    result = ShellAnalysis()
    text = command.rstrip("\r")
    if not text.strip():
        return result
    try:
        parts = bashlex.parse(text)
    except Exception as exc:  # bashlex.errors.ParsingError, NotImplementedError, IndexError...
        result.parse_error = str(exc) or exc.__class__.__name__
        try:
            words = shlex.split(text, comments=False)
        except ValueError:
            words = text.split()
        cmd = SimpleCommand(words=words)
        _Walker(result, 0)._unwrap(cmd, None, [], False)
        return result
    walker = _Walker(result, 0)
    for p in parts:
        walker.visit(p, None, [])
    _final_streams(result, parts)
    return result
