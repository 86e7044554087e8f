"""Environment assignment lines, read exactly as each daemon's ``load_env`` reads them."""

from __future__ import annotations

# load_env() states (cronie src/env.c, Debian env.c): the order matters, ``state += 1`` moves on.
_NAMEI, _NAME, _EQ1, _EQ2, _VALUEI, _VALUE, _FINI, _ERROR = range(8)

# Fields of a busybox crontab line that crond takes as a setting (miscutils/crond.c
# load_crontab: ``is_prefixed_with(tokens[0], "MAILTO=")`` and friends).
BUSYBOX_ENV_NAMES = ("MAILTO", "SHELL", "PATH")


def _isspace(ch: str) -> bool:
    # C isspace() in the C locale.
    return ch in " \t\n\r\f\v"


def parse_env_line(text: str, dialect: str) -> tuple[str, str] | None:
    """``(name, value)`` when ``text`` (one line, without its newline) is an environment
    assignment for a Vixie-family daemon (``debian`` or ``cronie``), else None.

    This is the ``load_env`` state machine: ``NAME = VALUE`` with optional blanks around ``=``,
    NAME or VALUE optionally in matching quotes, an unquoted VALUE trimmed at the end, nothing but
    blanks after a closing quote. cronie >= 1.5.2 (commit 207f622) also accepts an empty unquoted
    value (``NAME=``); Debian needs ``NAME=""`` and parses ``NAME=`` as a (bad) job line.
    Leading blanks are skipped first (``skip_comments``).
    """
    if "=" not in text:
        return None  # fast path: every accepted form has an "=" (EQ1 -> EQ2)
    i = 0
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    name: list[str] = []
    val: list[str] = []
    out = name
    state = _NAMEI
    quote = ""
    while state != _ERROR and i < n:
        ch = text[i]
        if state in (_NAMEI, _VALUEI):
            if ch in "'\"":
                quote = ch
                i += 1
            state += 1
            if i >= n:
                break
            ch = text[i]
        if state in (_NAME, _VALUE):
            if quote:
                if ch == quote:
                    state += 1
                    i += 1
                    continue
                if state == _NAME and ch == "=":
                    state = _ERROR
                    continue
            elif state == _NAME:
                if _isspace(ch):
                    i += 1
                    state += 1
                    continue
                if ch == "=":
                    state += 1
                    continue
            out.append(ch)
            i += 1
        elif state == _EQ1:
            if ch == "=":
                state += 1
                quote = ""
                out = val
            elif not _isspace(ch):
                state = _ERROR
            i += 1
        elif state in (_EQ2, _FINI):
            if _isspace(ch):
                i += 1
            else:
                state += 1
    accepted = state == _FINI or (state == _VALUE and not quote)
    if dialect != "debian" and state == _EQ2:
        accepted = True  # cronie commit 207f622: "NAME=" sets an empty value
    if not accepted:
        return None
    value = "".join(val)
    if state == _VALUE:
        value = value.rstrip(" \t\n\r\f\v")
    # An empty name ("=x") is accepted too: cron glues it into the string "=x".
    return "".join(name), value


def parse_busybox_env(first_token: str) -> tuple[str, str] | None:
    """busybox only takes ``MAILTO=``, ``SHELL=`` and ``PATH=`` as the first field (no blanks
    around ``=``, no quotes); every other assignment line is silently ignored by crond."""
    for name in BUSYBOX_ENV_NAMES:
        prefix = name + "="
        if first_token.startswith(prefix):
            return name, first_token[len(prefix) :]
    return None
