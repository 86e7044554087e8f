"""One renderer for every command's output: plain-text tables for people, JSON for machines.

Tables fit a width (long cells are shortened with an ellipsis, never wrapped) so a terminal or a
CI log reads them; JSON is the full data, sorted keys off (field order is the model's order).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

ELLIPSIS = "…"


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis when longer."""
    text = " ".join(str(text).split()) if "\n" in str(text) or "\t" in str(text) else str(text)
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + ELLIPSIS


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    max_width: int | None = None,
    flexible: Sequence[str] = (),
) -> str:
    """Rows under headers, columns padded, the ``flexible`` columns shortened so the table fits
    ``max_width`` (default: the terminal's width, at least 80; 400 when stdout is not a tty)."""
    if max_width is None:
        # A terminal gets a table that fits; a pipe or a file gets whole cells.
        max_width = (
            max(80, shutil.get_terminal_size((120, 24)).columns) if sys.stdout.isatty() else 400
        )
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(" ".join(c.split()) if "\n" in c else c))
    flex = [i for i, h in enumerate(headers) if h in flexible]
    total = sum(widths) + 2 * (len(headers) - 1)
    while total > max_width and flex:
        i = max(flex, key=lambda k: widths[k])
        floor = max(len(headers[i]), 8)
        if widths[i] <= floor:
            flex.remove(i)
            continue
        cut = min(widths[i] - floor, total - max_width)
        widths[i] -= cut
        total -= cut
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in cells:
        lines.append(
            "  ".join(shorten(c, widths[i]).ljust(widths[i]) for i, c in enumerate(row)).rstrip()
        )
    return "\n".join(lines)


def to_jsonable(data: Any) -> Any:
    """Pydantic models (and lists/dicts of them) as plain JSON data."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, Mapping):
        return {str(k): to_jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [to_jsonable(v) for v in data]
    return data


def to_json(data: Any) -> str:
    """Indented JSON text of ``data`` (models included)."""
    return json.dumps(to_jsonable(data), indent=2, ensure_ascii=False, default=str)
