"""Generate docs/api.md from the runtime's docstrings and signatures.

    .venv/bin/python scripts/gen_api_docs.py          # rewrite docs/api.md
    .venv/bin/python scripts/gen_api_docs.py --check  # exit 1 when docs/api.md is stale

The page covers what an app author touches: ``OwlClawApp`` and ``@app.cron``, the trigger
registry, the trigger configuration and execution records, the configuration keys (with their
environment variable names) and the observability entry points. Output is deterministic (no
addresses, no dates), so a test can compare it with the committed file.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "api.md"

HEADER = """# API reference

Generated from docstrings by `scripts/gen_api_docs.py`; do not edit by hand
(`.venv/bin/python scripts/gen_api_docs.py`; `tests/ops/test_docs.py` checks it is current).
"""


def _clean_signature(obj: Any, name: str) -> str:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(...)"
    text = f"{name}{signature}"
    # default objects print with their address; keep the readable part only
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    # postponed annotations print as strings; show them as written in the source
    text = re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)
    return text.replace("<the decorated function>", "<decorated function>")


def _doc(obj: Any) -> str:
    """The docstring with reST roles and double backticks turned into Markdown code."""
    doc = inspect.getdoc(obj) or ""
    doc = re.sub(r":(?:class|func|meth|mod|attr|data|exc):`~?([^`]+)`", r"`\1`", doc)
    doc = re.sub(r"``([^`]+)``", r"`\1`", doc)
    doc = doc.replace("Example::", "Example:")
    return doc.strip()


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is None and isinstance(annotation, type):
        return annotation.__name__
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (list, tuple, set, frozenset, dict):
        inner = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    text = repr(annotation).replace("typing.", "")
    return re.sub(r"[a-z_]+\.([A-Z]\w*)", r"\1", text)


def _cell(text: str) -> str:
    """Table-safe: a pipe inside a cell (``int | None``) would end the cell."""
    return text.replace("|", "\\|")


def function_section(obj: Any, name: str, level: int = 3) -> str:
    out = [f"{'#' * level} `{name}`", "", "```python", _clean_signature(obj, name), "```", ""]
    doc = _doc(obj)
    if doc:
        out += [doc, ""]
    return "\n".join(out)


def class_section(cls: type, methods: list[str], *, title: str | None = None) -> str:
    name = title or cls.__name__
    out = [f"## `{name}`", ""]
    try:
        init_sig = _clean_signature(cls, cls.__name__)
    except Exception:
        init_sig = f"{cls.__name__}(...)"
    out += ["```python", init_sig, "```", ""]
    doc = _doc(cls)
    if doc:
        out += [doc, ""]
    for method in methods:
        member = inspect.getattr_static(cls, method)
        if isinstance(member, property):
            out += [f"### `{cls.__name__}.{method}` (property)", ""]
            if _doc(member):
                out += [_doc(member), ""]
            continue
        target = getattr(cls, method)
        out.append(function_section(target, f"{cls.__name__}.{method}"))
    return "\n".join(out)


def model_fields_table(model: type[BaseModel]) -> str:
    rows = ["| field | type | default |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        default = "required" if info.is_required() else _default_text(info)
        rows.append(f"| `{name}` | `{_cell(_type_name(info.annotation))}` | {_cell(default)} |")
    return "\n".join(rows)


def _default_text(info: Any) -> str:
    if info.default_factory is not None:
        try:
            value = info.default_factory()
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{value!r}`"
    return f"`{info.default!r}`"


def settings_table(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows: list[str] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += settings_table(annotation, key + ".")
            continue
        env = "OWLCLAW_" + key.upper().replace(".", "__")
        default = "required" if info.is_required() else _default_text(info)
        rows.append(f"| `{key}` | `{env}` | `{_cell(_type_name(annotation))}` | {_cell(default)} |")
    return rows


def enum_section(cls: type[enum.Enum]) -> str:
    out = [f"## `{cls.__name__}`", "", _doc(cls), "", "| member | value |", "|---|---|"]
    out += [f"| `{m.name}` | `{m.value}` |" for m in cls]
    return "\n".join(out) + "\n"


def render() -> str:
    from owlclaw_runtime import config as config_module
    from owlclaw_runtime.app import OwlClawApp
    from owlclaw_runtime.config import (
        EmailChannel,
        Settings,
        SlackChannel,
        WebhookChannel,
        apply_settings,
        load_settings,
    )
    from owlclaw_runtime.loader import load_app
    from owlclaw_runtime.observability.health import check_health
    from owlclaw_runtime.observability.hooks import RuntimeObserver
    from owlclaw_runtime.observability.http import serve
    from owlclaw_runtime.observability.logging import CronLogger, configure_logging
    from owlclaw_runtime.observability.metrics import CronMetrics
    from owlclaw_runtime.observability.notify import ErrorNotifier
    from owlclaw_runtime.observability.setup import install_observability
    from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus
    from owlclaw_runtime.triggers.registry import CronTriggerRegistry

    parts = [HEADER]
    parts.append("# Apps and triggers\n")
    parts.append(
        class_section(
            OwlClawApp,
            [
                "cron",
                "dispatch",
                "start",
                "stop",
                "serve",
                "run",
                "check_ready",
                "add_observer",
                "close",
                "ledger",
                "agent",
                "backend",
            ],
        )
    )
    parts.append(function_section(load_app, "load_app", level=2))
    registry_methods = [
        name
        for name in (
            "register",
            "get_trigger",
            "list_triggers",
            "pause_trigger",
            "resume_trigger",
            "trigger_now",
            "next_runs",
            "get_trigger_status",
            "get_execution_history",
        )
        if hasattr(CronTriggerRegistry, name)
    ]
    parts.append(class_section(CronTriggerRegistry, registry_methods, title="app.cron_registry"))
    parts.append(
        "\n".join(
            [
                "## `CronTriggerConfig`",
                "",
                _doc(CronTriggerConfig),
                "",
                "Every keyword of `@app.cron` other than `expression`, `event_name`, `focus`, "
                "`description` and `fallback` is one of these fields.",
                "",
                model_fields_table(CronTriggerConfig),
                "",
            ]
        )
    )
    execution_rows = ["| field | type | default |", "|---|---|---|"]
    for name, parameter in inspect.signature(CronExecution).parameters.items():
        default = "required" if parameter.default is inspect.Parameter.empty else "(default)"
        if parameter.default is not inspect.Parameter.empty and not callable(parameter.default):
            default = f"`{parameter.default!r}`"
        annotation = str(parameter.annotation).replace("'", "")
        execution_rows.append(f"| `{name}` | `{_cell(annotation)}` | {_cell(default)} |")
    parts.append(
        "\n".join(["## `CronExecution`", "", _doc(CronExecution), "", *execution_rows, ""])
    )
    parts.append(enum_section(ExecutionStatus))

    parts.append("# Configuration\n")
    parts.append(_doc(config_module) + "\n")
    parts.append(function_section(load_settings, "load_settings", level=2))
    parts.append(function_section(apply_settings, "apply_settings", level=2))
    parts.append(
        "\n".join(
            [
                "## Keys",
                "",
                "| key | environment | type | default |",
                "|---|---|---|---|",
                *settings_table(Settings),
                "",
                "Notification channels (`cron.notifications.channels`, YAML list items, "
                "chosen by `type`):",
                "",
            ]
        )
    )
    for channel in (SlackChannel, WebhookChannel, EmailChannel):
        parts.append(
            "\n".join(
                [
                    f"### `{channel.__name__}`",
                    "",
                    _doc(channel),
                    "",
                    model_fields_table(channel),
                    "",
                ]
            )
        )

    parts.append("# Observability\n")
    parts.append(
        class_section(
            RuntimeObserver,
            [
                "trigger_registered",
                "trigger_fired",
                "execution_started",
                "execution_finished",
                "breaker_changed",
                "active_changed",
            ],
        )
    )
    parts.append(class_section(CronMetrics, ["render"]))
    parts.append(class_section(CronLogger, []))
    parts.append(function_section(configure_logging, "configure_logging", level=2))
    parts.append(class_section(ErrorNotifier, ["notify", "flush", "close"]))
    parts.append(function_section(check_health, "check_health", level=2))
    parts.append(function_section(serve, "serve", level=2))
    parts.append(function_section(install_observability, "install_observability", level=2))
    text = "\n".join(p.rstrip() + "\n" for p in parts)
    return re.sub(r"\n{3,}", "\n\n", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when docs/api.md is stale")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run scripts/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    tmp = args.output.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.output)
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
