"""The decision (agent or fallback, by ``migration_weight``) and one attempt of a run: call
the agent or the fallback (or both, as ``fallback_strategy`` says) and turn what they return
or raise into an :class:`ExecutionStatus`, or into an exception the pipeline's retry loop
understands.

What it does differently from OwlClaw's ``_run_cron`` (reference/owlclaw.md section 3.9): an
agent result with status ``failed`` is a failure and ``skipped`` is a skip (bug 3); a missing
fallback never turns a failure into a skip, and ``always`` really runs both (bug 5); cost and
``max_duration`` are enforced (bug 6); a legacy job the agent already ran through its tool is
never run a second time by the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.agent.loading import normalize_agent_result
from owlclaw_runtime.execution import EffectiveState
from owlclaw_runtime.redact import redact
from owlclaw_runtime.retry import NonRetryableError
from owlclaw_runtime.triggers.models import CronExecution, CronTriggerConfig, ExecutionStatus

if TYPE_CHECKING:
    from owlclaw_runtime.app import OwlClawApp

log = logging.getLogger("owlclaw_runtime.pipeline")

_TRACEBACK_LIMIT = 8000
_OUTPUT_TAIL_LIMIT = 4000


class AgentRunFailed(Exception):
    """The agent reported a failed run (a result with status ``failed``)."""

    def __init__(self, result: AgentResult) -> None:
        super().__init__(result.error or "agent run failed")
        self.result = result


class CostLimitExceeded(NonRetryableError):
    """An agent run cost more than the trigger's ``max_cost_per_run``."""


class ExecutionTimeout(Exception):
    """A call ran longer than the trigger's ``max_duration``."""


class AgentSkipped(Exception):
    """The agent chose to skip the run (a result with status ``skipped``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: (wants context, is async) per fallback: inspect.signature costs ~50 us, a run's whole start
#: budget with 1,000 runs due together. Weak keys: a fallback dropped with its trigger goes too.
_CALL_SHAPES: weakref.WeakKeyDictionary[Any, tuple[bool, bool]] = weakref.WeakKeyDictionary()


def call_shape(fn: Callable[..., Any]) -> tuple[bool, bool]:
    """``(wants context, is async)`` for a fallback, cached per function."""
    try:
        return _CALL_SHAPES[fn]
    except (KeyError, TypeError):  # TypeError: unhashable or not weakly referenceable
        pass
    shape = (_wants_context(fn), _is_async(fn))
    with contextlib.suppress(TypeError):
        _CALL_SHAPES[fn] = shape
    return shape


def _wants_context(fn: Callable[..., Any]) -> bool:
    """A fallback taking a positional parameter receives the context; one taking none does not."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        for p in sig.parameters.values()
    )


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return inspect.iscoroutinefunction(call)


async def with_timeout(awaitable: Any, config: CronTriggerConfig) -> Any:
    """Await ``awaitable`` within the trigger's ``max_duration`` (none: no limit)."""
    if config.max_duration is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, timeout=config.max_duration)
    except TimeoutError as exc:
        raise ExecutionTimeout(f"timed out after {config.max_duration:g}s (max_duration)") from exc


def copy_legacy_result(execution: CronExecution, result: Any) -> None:
    """LegacyCommand results (and LegacyJobFailed.result) carry exit code and output."""
    if result is None:
        return
    exit_code = getattr(result, "exit_code", None)
    if isinstance(exit_code, int):
        execution.exit_code = exit_code
    tail = getattr(result, "output_tail", None)
    if isinstance(tail, str):
        execution.output_tail = redact(tail)[-_OUTPUT_TAIL_LIMIT:]


def set_failure(execution: CronExecution, exc: BaseException) -> None:
    """Record ``exc`` on the execution: a redacted message and a bounded, redacted traceback."""
    execution.error_message = redact(describe(exc))
    tb = "".join(traceback.format_exception(exc))
    execution.error_traceback = redact(tb)[-_TRACEBACK_LIMIT:]


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class _LegacyOutcome:
    exit_code: int | None
    output_tail: str | None

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> _LegacyOutcome:
        code, tail = details.get("exit_code"), details.get("output_tail")
        return cls(code if isinstance(code, int) else None, tail if isinstance(tail, str) else None)


def _legacy_job_done(exc: BaseException) -> bool:
    """Whether a failed agent run had already run the legacy job successfully."""
    result = getattr(exc, "result", None)
    details = getattr(result, "details", None)
    return isinstance(details, dict) and details.get("legacy_job_succeeded") is True


class Attempts:
    """Calls the agent and the fallback of ``app``'s triggers. ``run_sync(fn, *args)`` submits
    a synchronous fallback to a job thread at once and returns its future."""

    def __init__(self, app: OwlClawApp, run_sync: Callable[..., asyncio.Future[Any]]) -> None:
        self._app = app
        self._run_sync = run_sync
        self._warned_no_agent: set[str] = set()

    def decide(
        self, config: CronTriggerConfig, execution: CronExecution, state: EffectiveState
    ) -> bool:
        """Agent or fallback: ``random() < migration_weight`` (seedable), kept on the record."""
        app = self._app
        agent = app.agent
        has_fallback = config.fallback_handler is not None
        draw = app.random()
        if agent is None:
            use_agent = False
            if state.migration_weight > 0 and config.event_name not in self._warned_no_agent:
                # start() refuses this; it happens when `owlmigrate step` raises the weight of
                # a worker started without an agent. The fallback keeps doing the job.
                self._warned_no_agent.add(config.event_name)
                log.warning(
                    "%s: migration_weight is %g but no agent is configured; running the fallback",
                    config.event_name,
                    state.migration_weight,
                )
        elif not has_fallback:
            use_agent = True  # agent-only trigger (fallback=None): nothing else could run
        else:
            use_agent = draw < state.migration_weight
        execution.decision_mode = "agent" if use_agent else "fallback"
        execution.governance_checks["decision"] = {
            "mode": execution.decision_mode,
            "weight": state.migration_weight,
            "draw": round(draw, 6),
            "agent_configured": agent is not None,
            "fallback_configured": has_fallback,
        }
        return use_agent

    async def attempt(
        self,
        config: CronTriggerConfig,
        execution: CronExecution,
        use_agent: bool,
    ) -> ExecutionStatus:
        """One try of the chosen path; raises on failure so the retry loop sees it."""
        execution.error_message = None
        execution.error_traceback = None
        has_fallback = config.fallback_handler is not None
        if not use_agent:
            if not has_fallback:
                raise RuntimeError("no agent is configured and the trigger has no fallback")
            await self.call_fallback(config, execution)
            return ExecutionStatus.FALLBACK
        try:
            result = await self.call_agent(config, execution)
        except AgentSkipped:
            if config.fallback_strategy == "always" and has_fallback:
                await self.call_fallback(config, execution)
                return ExecutionStatus.FALLBACK
            raise
        except Exception as agent_error:
            if _legacy_job_done(agent_error):
                # The agent ran the legacy job through its tool and it succeeded before the
                # agent run failed: running the fallback now would run the job twice.
                execution.error_message = redact(
                    f"agent failed after running the legacy job: {describe(agent_error)}"
                )
                return ExecutionStatus.FALLBACK
            if config.fallback_strategy == "never" or not has_fallback:
                raise
            log.warning(
                "%s: agent failed (%s), running the fallback", config.event_name, agent_error
            )
            try:
                await self.call_fallback(config, execution)
            except Exception as fallback_error:
                raise fallback_error from agent_error
            # The fallback did the job; keep what went wrong with the agent visible.
            execution.error_message = redact(f"agent failed: {describe(agent_error)}")
            return ExecutionStatus.FALLBACK
        # "always" runs the fallback after the agent too, unless the agent already ran the
        # legacy job through its tool (never run a job twice).
        if (
            config.fallback_strategy == "always"
            and has_fallback
            and result.details.get("legacy_job_succeeded") is not True
        ):
            await self.call_fallback(config, execution)
        return ExecutionStatus.SUCCESS

    async def call_agent(self, config: CronTriggerConfig, execution: CronExecution) -> AgentResult:
        agent = self._app.agent
        assert agent is not None
        call = agent.trigger_event(
            config.event_name,
            focus=config.focus,
            payload=dict(execution.context),
            tenant_id=self._app.tenant_id,
        )
        raw = await with_timeout(call, config)
        result = normalize_agent_result(raw)
        execution.agent_run_id = result.run_id or execution.agent_run_id
        if result.details.get("legacy_job_ran"):
            # The agent ran the legacy job (OpenAIAgent's run_legacy_job tool): keep its exit
            # code and output like a fallback's.
            copy_legacy_result(execution, _LegacyOutcome.from_details(result.details))
        # Every attempt costs money, retries included: accumulate.
        execution.llm_calls += result.llm_calls
        execution.tokens_in += result.tokens_in
        execution.tokens_out += result.tokens_out
        execution.cost_usd += result.cost_usd
        if result.status == "failed":
            raise AgentRunFailed(result)
        if result.status == "skipped":
            raise AgentSkipped(result.error or "agent skipped the run")
        if config.max_cost_per_run is not None:
            passed = result.cost_usd <= config.max_cost_per_run
            execution.governance_checks["cost_per_run"] = {
                "passed": passed,
                "cost_usd": result.cost_usd,
                "limit_usd": config.max_cost_per_run,
            }
            if not passed:
                raise CostLimitExceeded(
                    f"agent run cost ${result.cost_usd:.4f} > max_cost_per_run "
                    f"${config.max_cost_per_run:.4f}"
                )
        return result

    async def call_fallback(self, config: CronTriggerConfig, execution: CronExecution) -> None:
        """Run the fallback within ``max_duration``: an async one on the loop (its first line
        runs at once, in the run's own task), a sync one in a job thread (so the loop keeps
        firing other triggers; on timeout the thread cannot be killed, which is why
        LegacyCommand enforces its own timeout on the child process)."""
        fn = config.fallback_handler
        assert fn is not None
        wants_context, is_async = call_shape(fn)
        args: tuple[Any, ...] = (dict(execution.context),) if wants_context else ()
        try:
            if is_async:
                result = await with_timeout(fn(*args), config)
            else:
                result = await with_timeout(self._run_sync(fn, *args), config)
                if inspect.isawaitable(result):  # a sync callable that returned a coroutine
                    result = await with_timeout(result, config)
        except Exception as exc:
            copy_legacy_result(execution, getattr(exc, "result", None))
            raise
        copy_legacy_result(execution, result)
