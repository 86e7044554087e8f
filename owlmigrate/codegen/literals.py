"""Safe rendering of data into generated Python and Markdown.

Nothing from a crontab is ever interpolated raw: Python values go through ``repr`` (so quotes,
newlines, ``%``, ``{{ }}`` and Python syntax in a command stay data), comments through ``repr``
with the quotes cut, Markdown through fences longer than any backtick run in the text. Every
renderer returns :class:`Code`; the template environment refuses to print anything else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

LINE_WIDTH = 100


class Code(str):
    """Text that has already been rendered safely for its target (Python or Markdown)."""

    __slots__ = ()


def _str_literal(value: str) -> str:
    literal = repr(value)
    # Prefer double quotes (the repository's format) when that needs no escaping: repr chose
    # single quotes and the text holds no double quote, so swapping the delimiters is exact.
    if literal.startswith("'") and '"' not in value:
        literal = '"' + literal[1:-1] + '"'
    return literal


def _chunks(value: str, budget: int) -> list[str]:
    """Split ``value`` into pieces whose literals fit ``budget``, preferring to cut after blanks."""
    pieces: list[str] = []
    current = ""
    for char in value:
        candidate = current + char
        if current and len(_str_literal(candidate)) > budget:
            cut = max(current.rfind(" "), current.rfind("\t"))
            if cut >= len(current) // 2:
                pieces.append(current[: cut + 1])
                current = current[cut + 1 :] + char
            else:
                pieces.append(current)
                current = char
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def py_literal(value: object, indent: int = 0, *, prefix_width: int = 0) -> Code:
    """A Python expression for ``value`` (None, bool, int, float, str, list, dict of those).

    ``indent`` is the column the expression's continuation lines align to; ``prefix_width`` is how
    many columns precede it on its first line. Long strings become parenthesised implicit
    concatenations so every line stays within the line width (ruff E501).
    """
    pad = " " * indent
    inner = " " * (indent + 4)
    if value is None or isinstance(value, bool):
        return Code(repr(value))
    if isinstance(value, int):
        return Code(repr(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot render a non-finite number: {value!r}")
        return Code(repr(value))
    if isinstance(value, str):
        literal = _str_literal(value)
        if indent + prefix_width + len(literal) + 1 <= LINE_WIDTH:
            return Code(literal)
        budget = LINE_WIDTH - len(inner) - 1
        parts = [_str_literal(piece) for piece in _chunks(value, budget)]
        return Code("(\n" + "".join(f"{inner}{p}\n" for p in parts) + f"{pad})")
    if isinstance(value, Mapping):
        if not value:
            return Code("{}")
        lines = []
        for key, item in value.items():
            key_code = py_literal(str(key), indent + 4)
            item_code = py_literal(item, indent + 4, prefix_width=len(key_code) + 2)
            lines.append(f"{inner}{key_code}: {item_code},\n")
        return Code("{\n" + "".join(lines) + f"{pad}}}")
    if isinstance(value, Sequence):
        items = [py_literal(item, indent + 4) for item in value]
        flat = "[" + ", ".join(items) + "]"
        if "\n" not in flat and indent + prefix_width + len(flat) + 1 <= LINE_WIDTH:
            return Code(flat)
        return Code("[\n" + "".join(f"{inner}{item},\n" for item in items) + f"{pad}]")
    raise TypeError(f"cannot render {type(value).__name__} into generated code")


def py_kwarg(name: str, value: object, indent: int = 4) -> Code:
    """``name=<literal>`` for a keyword argument placed at column ``indent``."""
    if not name.isidentifier():
        raise ValueError(f"not a keyword name: {name!r}")
    return Code(f"{name}={py_literal(value, indent, prefix_width=len(name) + 1)}")


def py_comment(text: str, width: int = LINE_WIDTH - 2) -> Code:
    """Text safe inside a ``#`` comment: escapes (newlines, controls) as repr shows them, cut to
    fit the line."""
    body = repr(str(text))[1:-1]
    if len(body) > width:
        body = body[: width - 3] + "..."
    return Code(body)


_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lower-case ASCII letters, digits and underscores only; never empty."""
    return _SLUG.sub("_", str(text).lower()).strip("_") or "job"


def md_text(text: object) -> Code:
    """One line of Markdown prose: control characters and newlines become spaces."""
    cleaned = "".join(c if c.isprintable() else " " for c in str(text))
    return Code(" ".join(cleaned.split()).replace("|", "\\|"))


def md_fence(text: str, info: str = "") -> Code:
    """A fenced code block that no backtick run inside ``text`` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return Code(f"{fence}{info}\n{body}{fence}")
