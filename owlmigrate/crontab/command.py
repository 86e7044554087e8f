"""The command field: cron's ``%`` processing (cronie/Debian ``do_command.c child_process``)."""

from __future__ import annotations


def split_percent(command: str, dialect: str) -> tuple[str, str | None, int | None]:
    """Split a Vixie-family command at its first unescaped ``%``.

    Returns ``(command, stdin, cut)``: the command the shell runs (``\\%`` turned into ``%``, any
    other backslash kept), the bytes cron writes to the job's stdin (every later ``%`` becomes a
    newline, ``\\%`` a ``%``, and a final newline is added when the data does not end in one), or
    None when there is no unescaped ``%``; ``cut`` is the index of that ``%`` in the input.
    Debian additionally turns ``\\\\`` into ``\\`` in the input (patch Handle-escapes-in-job-input).
    busybox has no ``%`` processing: the command is returned untouched.
    """
    if dialect == "busybox" or "%" not in command:
        return command, None, None
    out: list[str] = []
    escaped = False
    cut: int | None = None
    for i, ch in enumerate(command):
        if escaped:
            if ch == "%":
                out[-1] = "%"  # the backslash is replaced by the percent sign
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            out.append(ch)
            continue
        if ch == "%":
            cut = i
            break
        out.append(ch)
    if cut is None:
        return "".join(out), None, None
    return "".join(out), _stdin(command[cut + 1 :], dialect), cut


def _stdin(data: str, dialect: str) -> str:
    # Transcribed from the parent's writer loop in child_process(); ``escaped`` is set by every
    # backslash that cronie has not printed yet.
    out: list[str] = []
    escaped = False
    need_newline = False
    for ch in data:
        if escaped:
            escaped = False
            if dialect == "debian" and ch == "\\":
                out.append("\\")  # Debian: "\\\\" is one backslash
                need_newline = True
                continue
            if ch != "%":
                out.append("\\")
        elif ch == "%":
            ch = "\n"
        if ch == "\\":
            escaped = True
            continue
        out.append(ch)
        need_newline = ch != "\n"
    if escaped:
        out.append("\\")  # need_newline is deliberately left as it was (cronie does the same)
    if need_newline:
        out.append("\n")
    return "".join(out)
