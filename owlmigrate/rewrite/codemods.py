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


class SetCronKeyword(cst.CSTTransformer):
    """Set ``keyword=<value_code>`` on the ``@<app>.cron(...)`` decorator of ``event_name``.

    ``value_code`` None removes the keyword. After the visit, ``matches`` counts the matching
    decorators and ``old_code`` holds the previous value's source (None when it was absent).
    """

    DESCRIPTION = "Set one keyword argument of the @app.cron decorator of one trigger."

    def __init__(self, event_name: str, keyword: str, value_code: str | None) -> None:
        super().__init__()
        self.event_name = event_name
        self.keyword = keyword
        self.value_code = value_code
        self.matches = 0
        self.old_code: str | None = None
        self._module = cst.Module(body=[])

    def visit_Module(self, node: cst.Module) -> bool:
        self._module = node
        return True

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        decorators = list(updated_node.decorators)
        changed = False
        for index, decorator in enumerate(original_node.decorators):
            call = _cron_call(decorator)
            if call is None or _event_name(call, original_node) != self.event_name:
                continue
            self.matches += 1
            decorators[index] = decorator.with_changes(decorator=self._rewrite(call))
            changed = True
        return updated_node.with_changes(decorators=decorators) if changed else updated_node

    def _rewrite(self, call: cst.Call) -> cst.Call:
        args = list(call.args)
        for index, arg in enumerate(args):
            if arg.keyword is not None and arg.keyword.value == self.keyword:
                self.old_code = self._module.code_for_node(arg.value)
                if self.value_code is None:
                    return call.with_changes(args=_remove(args, index))
                if self.old_code == self.value_code:
                    return call  # no-op: keep the node (and its exact bytes)
                args[index] = arg.with_changes(value=cst.parse_expression(self.value_code))
                return call.with_changes(args=args)
        if self.value_code is None:
            return call
        new_arg = cst.Arg(
            keyword=cst.Name(self.keyword),
            value=cst.parse_expression(self.value_code),
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


@dataclass(frozen=True)
class CodemodResult:
    """New module source and the replaced value's source text (None when it was absent)."""

    source: str
    old_code: str | None
    changed: bool


def set_cron_keyword(
    source: str, event_name: str, keyword: str, value_code: str | None, *, path: str = "<module>"
) -> CodemodResult:
    """Apply :class:`SetCronKeyword` to ``source``; refuse when the trigger is not exactly once."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise CodemodError(
            f"not valid Python: {exc.message}", path=path, line=exc.raw_line
        ) from exc
    transformer = SetCronKeyword(event_name, keyword, value_code)
    new_module = module.visit(transformer)
    if transformer.matches == 0:
        raise CodemodError(f"no @app.cron decorator with event_name={event_name!r}", path=path)
    if transformer.matches > 1:
        raise CodemodError(
            f"{transformer.matches} decorators with event_name={event_name!r}", path=path
        )
    return CodemodResult(new_module.code, transformer.old_code, new_module.code != source)


def read_cron_keyword(
    source: str, event_name: str, keyword: str, *, path: str = "<module>"
) -> str | None:
    """The source text of ``keyword``'s value on ``event_name``'s decorator (None when absent)."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise CodemodError(
            f"not valid Python: {exc.message}", path=path, line=exc.raw_line
        ) from exc
    found: list[str | None] = []
    for statement in module.body:
        node = statement
        if isinstance(node, cst.FunctionDef):
            for decorator in node.decorators:
                call = _cron_call(decorator)
                if call is None or _event_name(call, node) != event_name:
                    continue
                value = None
                for arg in call.args:
                    if arg.keyword is not None and arg.keyword.value == keyword:
                        value = module.code_for_node(arg.value)
                found.append(value)
    if len(found) != 1:
        raise CodemodError(
            f"{len(found)} top-level @app.cron decorators with event_name={event_name!r}", path=path
        )
    return found[0]


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
