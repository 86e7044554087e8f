"""LibCST codemods on generated app modules: set one keyword of one ``@app.cron(...)`` decorator.

``step`` rewrites ``migration_weight=`` and ``cutover`` rewrites ``shadow=`` with
:class:`SetCronKeyword`. Only the value expression of the matching keyword changes, so comments,
blank lines, quotes and the rest of the formatting survive. The transformer matches on the
original node and returns every other node unchanged (the LibCST codemod model); a module where
the trigger is absent is refused with a reason rather than silently left alone.

The old value's source text is returned, so the journal can put exactly those bytes back on
rollback: stepping up and rolling back gives the original module byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from owlmigrate.errors import FindingError


class CodemodError(FindingError):
    """The module cannot be rewritten as asked (trigger absent, not Python, ambiguous)."""


def _cron_call(decorator: cst.Decorator) -> cst.Call | None:
    node = decorator.decorator
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "cron"
    ):
        return node
    return None


def _event_name(call: cst.Call, function: cst.FunctionDef) -> str | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "event_name":
            value = arg.value
            if isinstance(value, (cst.SimpleString, cst.ConcatenatedString)):
                evaluated = value.evaluated_value
                return evaluated if isinstance(evaluated, str) else None
            return None
    # OwlClaw's decorator defaults the event name to the function name.
    return function.name.value


Change = tuple[str, str]  # (event_name, keyword)


class SetCronKeywords(cst.CSTTransformer):
    """Set ``keyword=<value_code>`` on the ``@<app>.cron(...)`` decorators of some triggers.

    ``changes`` maps ``(event_name, keyword)`` to the new value's source (None removes the
    keyword). After the visit, ``matches`` counts the matching decorators per event and
    ``old_code`` holds each previous value's source (None when it was absent). One parse and one
    visit for any number of triggers: statements other than function definitions are not
    entered, and function bodies are skipped.
    """

    DESCRIPTION = "Set keyword arguments of the @app.cron decorators of some triggers."

    def __init__(self, changes: Mapping[Change, str | None]) -> None:
        super().__init__()
        self.changes = dict(changes)
        self.events = {event for event, _ in self.changes}
        self.matches: dict[str, int] = dict.fromkeys(self.events, 0)
        self.old_code: dict[Change, str | None] = {}
        self._module = cst.Module(body=[])

    def visit_Module(self, node: cst.Module) -> bool:
        self._module = node
        return True

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        return False  # assignments and imports hold no decorators

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # decorators are handled in leave_FunctionDef; bodies are never touched

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        decorators = list(updated_node.decorators)
        changed = False
        for index, decorator in enumerate(original_node.decorators):
            call = _cron_call(decorator)
            event = _event_name(call, original_node) if call is not None else None
            if call is None or event not in self.events:
                continue
            self.matches[event] += 1
            for (name, keyword), value in self.changes.items():
                if name == event:
                    call = self._rewrite(call, event, keyword, value)
            decorators[index] = decorator.with_changes(decorator=call)
            changed = True
        return updated_node.with_changes(decorators=decorators) if changed else updated_node

    def _rewrite(self, call: cst.Call, event: str, keyword: str, value: str | None) -> cst.Call:
        args = list(call.args)
        for index, arg in enumerate(args):
            if arg.keyword is not None and arg.keyword.value == keyword:
                old = self._module.code_for_node(arg.value)
                self.old_code[(event, keyword)] = old
                if value is None:
                    return call.with_changes(args=_remove(args, index))
                if old == value:
                    return call  # no-op: keep the node (and its exact bytes)
                args[index] = arg.with_changes(value=cst.parse_expression(value))
                return call.with_changes(args=args)
        self.old_code[(event, keyword)] = None
        if value is None:
            return call
        new_arg = cst.Arg(
            keyword=cst.Name(keyword),
            value=cst.parse_expression(value),
            equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(""),
            ),
        )
        if args:
            last = args[-1]
            # Keep the layout: the new argument takes the old last argument's comma style.
            comma = last.comma
            if isinstance(comma, cst.MaybeSentinel):
                args[-1] = last.with_changes(
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                )
                args.append(new_arg)
            else:
                args.append(new_arg.with_changes(comma=comma))
        else:
            args.append(new_arg)
        return call.with_changes(args=args)


def _remove(args: list[cst.Arg], index: int) -> list[cst.Arg]:
    removed = args.pop(index)
    if args and index == len(args):
        # The removed argument was last: the new last one takes its comma style.
        args[-1] = args[-1].with_changes(comma=removed.comma)
    return args


def _parse(source: str, path: str) -> cst.Module:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise CodemodError(
            f"not valid Python: {exc.message}", path=path, line=exc.raw_line
        ) from exc


@dataclass(frozen=True)
class BatchResult:
    """New module source and each replaced value's source text (None when it was absent)."""

    source: str
    old_code: dict[Change, str | None]
    changed: bool


@dataclass(frozen=True)
class CodemodResult:
    """New module source and the replaced value's source text (None when it was absent)."""

    source: str
    old_code: str | None
    changed: bool


def set_cron_keywords(
    source: str, changes: Mapping[Change, str | None], *, path: str = "<module>"
) -> BatchResult:
    """Apply :class:`SetCronKeywords`; refuse when a trigger is not there exactly once."""
    if not changes:
        return BatchResult(source, {}, False)
    module = _parse(source, path)
    transformer = SetCronKeywords(changes)
    new_module = module.visit(transformer)
    for event, count in sorted(transformer.matches.items()):
        if count == 0:
            raise CodemodError(f"no @app.cron decorator with event_name={event!r}", path=path)
        if count > 1:
            raise CodemodError(f"{count} decorators with event_name={event!r}", path=path)
    code = new_module.code
    return BatchResult(code, transformer.old_code, code != source)


def set_cron_keyword(
    source: str, event_name: str, keyword: str, value_code: str | None, *, path: str = "<module>"
) -> CodemodResult:
    """Set one keyword of one trigger (see :func:`set_cron_keywords`)."""
    result = set_cron_keywords(source, {(event_name, keyword): value_code}, path=path)
    return CodemodResult(result.source, result.old_code[(event_name, keyword)], result.changed)


def read_cron_keywords(
    source: str, keyword: str, *, path: str = "<module>"
) -> dict[str, str | None]:
    """Every top-level trigger's ``keyword`` value source (None when absent), by event name."""
    module = _parse(source, path)
    found: dict[str, list[str | None]] = {}
    for node in module.body:
        if not isinstance(node, cst.FunctionDef):
            continue
        for decorator in node.decorators:
            call = _cron_call(decorator)
            if call is None:
                continue
            event = _event_name(call, node)
            if event is None:
                continue
            value = None
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == keyword:
                    value = module.code_for_node(arg.value)
            found.setdefault(event, []).append(value)
    return {event: values[0] for event, values in found.items() if len(values) == 1}


def read_cron_keyword(
    source: str, event_name: str, keyword: str, *, path: str = "<module>"
) -> str | None:
    """The source text of ``keyword``'s value on ``event_name``'s decorator (None when absent)."""
    values = read_cron_keywords(source, keyword, path=path)
    if event_name not in values:
        raise CodemodError(
            f"no single top-level @app.cron decorator with event_name={event_name!r}", path=path
        )
    return values[event_name]


def weight_code(weight: float) -> str:
    """Canonical literal for a weight: ``0.0``, ``0.1``, ``0.25``, ``1.0``."""
    return repr(round(float(weight), 6) + 0.0)


def set_weight(
    source: str, event_name: str, weight: float, *, path: str = "<module>"
) -> CodemodResult:
    """Rewrite ``migration_weight=`` of ``event_name``'s trigger."""
    return set_cron_keyword(source, event_name, "migration_weight", weight_code(weight), path=path)


def set_shadow(
    source: str, event_name: str, shadow: bool, *, path: str = "<module>"
) -> CodemodResult:
    """Rewrite ``shadow=`` of ``event_name``'s trigger."""
    return set_cron_keyword(source, event_name, "shadow", repr(bool(shadow)), path=path)


def read_app_keyword(source: str, keyword: str, *, path: str = "<module>") -> str | None:
    """The source text of ``keyword=`` in the module's top-level ``app = OwlClawApp(...)``
    (None when absent), e.g. the ``agent=`` an operator added by hand."""
    module = _parse(source, path)
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for node in statement.body:
            if not isinstance(node, cst.Assign) or not isinstance(node.value, cst.Call):
                continue
            func = node.value.func
            name = (
                func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
            )
            if name != "OwlClawApp":
                continue
            for arg in node.value.args:
                if arg.keyword is not None and arg.keyword.value == keyword:
                    return module.code_for_node(arg.value)
    return None
