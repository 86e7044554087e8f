"""An agent for any OpenAI-compatible chat-completions endpoint (FR-4, FR-5, FR-9).

One run is a function-calling loop against ``POST {base_url}/chat/completions``:

- the prompt carries the trigger context (event, schedule, scheduled instant, previous run) and
  states the focus, as OwlClaw's ``build_agent_prompt`` does ("Current focus: X / You should
  prioritize actions related to X.");
- the skills of that focus (``SKILL.md`` files under the skills directory, the ones generated per
  job included) are put into the system prompt; with no focus every skill is offered (OwlClaw
  ``FocusManager.load_skills_for_focus``);
- the legacy job is offered as the tool ``run_legacy_job``, so an agent at weight 1.0 can still
  run the proven command when it decides to; ``report_failure`` lets it say the job failed;
- usage is priced with the configured per-token prices, so ``max_cost_per_run`` is enforced
  while the run goes on (OwlClaw never set a cost, reference/owlclaw.md section 3.9 item 6);
- a refusal, a content filter, an HTTP or protocol error, a tool-round overrun, a timeout or an
  exceeded cost limit all end the run with ``status="failed"``, so the pipeline's fallback
  strategy applies (OwlClaw recorded such runs as successes, section 3.9 item 3).

The HTTP client is the standard library's, run in a worker thread, so the runtime gains no
dependency. The API key comes from configuration or ``OWLCLAW_AGENT_API_KEY`` and is never
logged, put in a result or shown in a ``repr``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlclaw_runtime.agent.base import AgentResult
from owlclaw_runtime.agent.skills import Skill, focus_list, load_skills, parse_skill
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.redact import redact

__all__ = [
    "ENV_API_KEY",
    "FAILURE_TOOL",
    "LEGACY_TOOL",
    "OpenAIAgent",
    "OpenAIAgentConfig",
    "Skill",
    "agent_from_env",
    "load_skills",
    "parse_skill",
]

logger = logging.getLogger(__name__)

ENV_PREFIX = "OWLCLAW_AGENT_"
ENV_API_KEY = "OWLCLAW_AGENT_API_KEY"
LEGACY_TOOL = "run_legacy_job"
FAILURE_TOOL = "report_failure"
_TOOL_OUTPUT_CHARS = 4000
_ERROR_BODY_CHARS = 500
_MAX_DURATION_SHARE = 0.95
ALREADY_RAN = "the legacy job already ran in this run; it runs at most once per fire"

LegacyCallable = Callable[..., Any]


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAIAgentConfig:
    """Where the endpoint is and what a run may spend.

    ``price_per_1k_input`` / ``price_per_1k_output`` are USD per 1,000 prompt / completion
    tokens; the cost of a run is its summed usage times these prices. ``timeout_seconds`` bounds
    a whole run (every model call and tool call in it); ``max_tool_rounds`` bounds how many
    model answers that request tools one run may have. ``max_cost_per_run`` is a default; a
    trigger's own ``max_cost_per_run`` is applied too (the lower wins).
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    price_per_1k_input: float = 0.0
    price_per_1k_output: float = 0.0
    timeout_seconds: float = 300.0
    max_tool_rounds: int = 8
    max_cost_per_run: float | None = None
    skills_dir: Path | None = None
    temperature: float | None = None
    max_skill_chars: int = 8000

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"agent base_url must be an http(s) URL, got {self.base_url!r}", field="base_url"
            )
        if not self.model.strip():
            raise ConfigurationError("agent model must not be empty", field="model")
        for name in ("price_per_1k_input", "price_per_1k_output"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"agent {name} must be >= 0", field=name)
        if self.timeout_seconds <= 0:
            raise ConfigurationError("agent timeout_seconds must be > 0", field="timeout_seconds")
        if self.max_tool_rounds < 0:
            raise ConfigurationError("agent max_tool_rounds must be >= 0", field="max_tool_rounds")
        if self.max_cost_per_run is not None and self.max_cost_per_run < 0:
            raise ConfigurationError(
                "agent max_cost_per_run must be >= 0", field="max_cost_per_run"
            )

    @property
    def endpoint(self) -> str:
        """The chat-completions URL."""
        return self.base_url.rstrip("/") + "/chat/completions"

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """USD for that usage at the configured prices."""
        return (
            tokens_in * self.price_per_1k_input / 1000.0
            + tokens_out * self.price_per_1k_output / 1000.0
        )

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, source: str = "configuration"
    ) -> OpenAIAgentConfig:
        """Build from plain keys (``base_url``, ``model``, ``api_key``, prices, ...).

        A missing ``api_key`` is read from ``OWLCLAW_AGENT_API_KEY``. Bad values raise
        ``ConfigurationError`` naming the key and ``source``."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown agent setting(s) {', '.join(unknown)} in {source}", field=unknown[0]
            )
        for required in ("base_url", "model"):
            if not values.get(required):
                raise ConfigurationError(
                    f"agent setting {required!r} is missing in {source}", field=required
                )
        kwargs: dict[str, Any] = {}
        converters: dict[str, Callable[[Any], Any]] = {
            "price_per_1k_input": float,
            "price_per_1k_output": float,
            "timeout_seconds": float,
            "max_tool_rounds": int,
            "max_cost_per_run": float,
            "temperature": float,
            "max_skill_chars": int,
            "skills_dir": Path,
        }
        for key, value in values.items():
            if value is None or value == "":
                continue
            convert = converters.get(key, str)
            try:
                kwargs[key] = convert(value)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(
                    f"agent setting {key!r} in {source} is not valid: {value!r}", field=key
                ) from exc
        if not kwargs.get("api_key"):
            kwargs["api_key"] = os.environ.get(ENV_API_KEY) or None
        try:
            return cls(**kwargs)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc.message} ({source})", field=exc.field) from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAIAgentConfig:
        """Build from ``OWLCLAW_AGENT_BASE_URL``, ``OWLCLAW_AGENT_MODEL``,
        ``OWLCLAW_AGENT_API_KEY``, ``OWLCLAW_AGENT_PRICE_PER_1K_INPUT``, ... (one variable per
        field, upper-cased, with the ``OWLCLAW_AGENT_`` prefix)."""
        env = os.environ if environ is None else environ
        values = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.__dataclass_fields__
            if env.get(ENV_PREFIX + name.upper())
        }
        return cls.from_mapping(values, source="environment (OWLCLAW_AGENT_*)")

    @classmethod
    def from_settings(cls, settings: Any) -> OpenAIAgentConfig:
        """Build from a settings object or mapping: either its ``agent`` section or the
        ``agent_*`` attributes of a flat settings object (``agent_base_url``, ...)."""
        section = settings.get("agent") if isinstance(settings, Mapping) else None
        if section is None and not isinstance(settings, Mapping):
            section = getattr(settings, "agent", None)
        if section is not None and not isinstance(section, Mapping):
            section = (
                section.model_dump() if hasattr(section, "model_dump") else vars(section).copy()
            )
        if section is None:
            flat = settings if isinstance(settings, Mapping) else vars(settings)
            section = {
                key[len("agent_") :]: value
                for key, value in flat.items()
                if key.startswith("agent_") and key[len("agent_") :] in cls.__dataclass_fields__
            }
        values = {k: v for k, v in dict(section).items() if k in cls.__dataclass_fields__}
        if hasattr(values.get("api_key"), "get_secret_value"):
            values["api_key"] = values["api_key"].get_secret_value()
        return cls.from_mapping(values, source="settings")


# --------------------------------------------------------------------------------------------
# the agent
# --------------------------------------------------------------------------------------------


class AgentRunError(Exception):
    """Ends a run as failed; ``str()`` is the recorded error."""


@dataclass
class _Run:
    run_id: str
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    tool_rounds: int = 0
    legacy_calls: list[dict[str, Any]] = field(default_factory=list)  # at most one
    legacy_requests: int = 0
    failure_reported: str | None = None
    finish_reason: str | None = None
    usage_missing: bool = False


class OpenAIAgent:
    """``AgentRuntime`` over an OpenAI-compatible endpoint.

    The legacy job offered as a tool is, for an event, ``tools[event_name]`` when given, else
    the fallback handler of the trigger of that name in the app passed to :meth:`bind`
    (``OwlClawApp`` calls ``agent.bind(app)`` when an agent with a ``bind`` method is attached).
    The skills directory is ``config.skills_dir``, else ``skills_dir``, else ``skills/`` in the
    bound app's directory.
    """

    def __init__(
        self,
        config: OpenAIAgentConfig,
        *,
        tools: Mapping[str, LegacyCallable] | None = None,
        skills_dir: Path | str | None = None,
    ) -> None:
        self.config = config
        self._tools = dict(tools or {})
        self._skills_dir = Path(skills_dir) if skills_dir is not None else config.skills_dir
        self._app: Any = None

    def __repr__(self) -> str:
        return f"OpenAIAgent(model={self.config.model!r}, base_url={self.config.base_url!r})"

    def bind(self, app: Any) -> None:
        """Attach the app whose triggers supply the legacy-job tool, focus limits and skills."""
        self._app = app

    # -- lookups ---------------------------------------------------------------------------

    def _trigger(self, event_name: str) -> Any:
        app = self._app
        if app is None:
            return None
        registry = getattr(app, "cron_registry", None)
        for owner in (registry, app):
            getter = getattr(owner, "get_trigger", None)
            if callable(getter):
                try:
                    found = getter(event_name)
                except (KeyError, LookupError):
                    found = None
                if found is not None:
                    return found
        return None

    def _legacy_callable(self, event_name: str) -> LegacyCallable | None:
        if event_name in self._tools:
            return self._tools[event_name]
        trigger = self._trigger(event_name)
        handler = getattr(trigger, "fallback_handler", None)
        return handler if callable(handler) else None

    def skills_dir(self) -> Path | None:
        """Where this agent looks for ``SKILL.md`` files."""
        if self._skills_dir is not None:
            return self._skills_dir
        for attr in ("app_dir", "root", "directory"):
            base = getattr(self._app, attr, None)
            if base is not None:
                return Path(base) / "skills"
        return None

    def _limits(self, event_name: str, payload: Mapping[str, Any]) -> tuple[float, float | None]:
        trigger = self._trigger(event_name)
        timeout = self.config.timeout_seconds
        max_duration = getattr(trigger, "max_duration", None)
        if max_duration:
            # The pipeline cancels the agent call at max_duration; stopping a little earlier
            # lets this run return a failed result that still carries its usage and cost.
            timeout = min(timeout, float(max_duration) * _MAX_DURATION_SHARE)
        caps = [
            c
            for c in (
                self.config.max_cost_per_run,
                getattr(trigger, "max_cost_per_run", None),
                payload.get("max_cost_per_run"),
            )
            if c is not None
        ]
        return timeout, (min(float(c) for c in caps) if caps else None)

    # -- the run ----------------------------------------------------------------------------

    async def trigger_event(
        self,
        event_name: str,
        *,
        focus: str | list[str] | None = None,
        payload: dict[str, Any] | None = None,
        tenant_id: str = "default",
    ) -> AgentResult:
        """Run the agent for one trigger; never raises for a failed run (returns ``failed``)."""
        if not isinstance(event_name, str) or not event_name.strip():
            raise ValueError("event_name must be a non-empty string")
        context = dict(payload or {})
        run = _Run(run_id=uuid.uuid4().hex)
        timeout, cost_cap = self._limits(event_name, context)
        legacy = self._legacy_callable(event_name)
        status: str = "completed"
        error: str | None = None
        output: str | None = None
        skills: list[Skill] = []
        started = time.monotonic()
        try:
            skills = load_skills(self.skills_dir(), focus)
            messages = self._messages(event_name, focus, context, skills, tenant_id)
            tools = self._tool_specs(legacy is not None)
            output = await asyncio.wait_for(
                self._loop(run, messages, tools, legacy, context, cost_cap, started + timeout),
                timeout=timeout,
            )
        except TimeoutError:
            status, error = "failed", f"agent run timed out after {timeout:g}s"
        except AgentRunError as exc:
            status, error = "failed", str(exc)
        except ConfigurationError as exc:
            status, error = "failed", f"skills: {exc}"
        if status == "completed":
            error = self._outcome_error(run)
            if error is not None:
                status = "failed"
        logger.info(
            "agent run %s event=%s status=%s llm_calls=%d cost=%.6f",
            run.run_id,
            event_name,
            status,
            run.llm_calls,
            run.cost_usd,
        )
        return AgentResult(
            run_id=run.run_id,
            status="completed" if status == "completed" else "failed",
            llm_calls=run.llm_calls,
            tokens_in=run.tokens_in,
            tokens_out=run.tokens_out,
            cost_usd=run.cost_usd,
            output=redact(output) if output is not None else None,
            error=redact(error) if error is not None else None,
            details=self._details(run, skills, cost_cap, timeout),
        )

    @staticmethod
    def _outcome_error(run: _Run) -> str | None:
        if run.failure_reported is not None:
            return f"agent reported failure: {run.failure_reported}"
        if run.legacy_calls and not run.legacy_calls[-1]["ok"]:
            # The agent ran the proven command and it failed: the job's work was not done.
            return f"legacy job failed: {run.legacy_calls[-1]['error']}"
        return None

    def _details(
        self, run: _Run, skills: list[Skill], cost_cap: float | None, timeout: float
    ) -> dict[str, Any]:
        last = run.legacy_calls[-1] if run.legacy_calls else None
        return {
            "model": self.config.model,
            "tool_rounds": run.tool_rounds,
            "finish_reason": run.finish_reason,
            "skills": [s.name for s in skills],
            "legacy_job_calls": run.legacy_requests,
            # Whether the legacy job ran inside this agent run: the pipeline must not run the
            # fallback again when it already succeeded here (never run a job twice).
            "legacy_job_ran": bool(run.legacy_calls),
            "legacy_job_succeeded": None if last is None else bool(last["ok"]),
            "exit_code": None if last is None else last.get("exit_code"),
            "output_tail": None if last is None else last.get("output"),
            "max_cost_per_run": cost_cap,
            "timeout_seconds": timeout,
            "usage_missing": run.usage_missing,
        }

    async def _loop(
        self,
        run: _Run,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        legacy: LegacyCallable | None,
        context: dict[str, Any],
        cost_cap: float | None,
        deadline: float,
    ) -> str:
        while True:
            body: dict[str, Any] = {"model": self.config.model, "messages": messages}
            if tools:
                body["tools"] = tools
                body["tool_choice"] = "auto"
            if self.config.temperature is not None:
                body["temperature"] = self.config.temperature
            remaining = max(0.05, deadline - time.monotonic())
            response = await asyncio.to_thread(self._post, body, remaining)
            run.llm_calls += 1
            self._account(run, response)
            if cost_cap is not None and run.cost_usd > cost_cap:
                raise AgentRunError(
                    f"cost ${run.cost_usd:.6f} exceeded max_cost_per_run ${cost_cap:g}"
                )
            message, finish_reason = self._choice(response)
            run.finish_reason = finish_reason
            refusal = message.get("refusal")
            if refusal:
                raise AgentRunError(f"agent refused: {refusal}")
            if finish_reason == "content_filter":
                raise AgentRunError("agent answer stopped by the provider's content filter")
            calls = message.get("tool_calls") or []
            if not calls:
                if finish_reason == "length":
                    raise AgentRunError("agent answer truncated (finish_reason=length)")
                return _text(message.get("content"))
            run.tool_rounds += 1
            if run.tool_rounds > self.config.max_tool_rounds:
                raise AgentRunError(
                    f"agent exceeded max_tool_rounds ({self.config.max_tool_rounds})"
                )
            messages.append(
                {"role": "assistant", "content": message.get("content"), "tool_calls": calls}
            )
            for call in calls:
                result = await self._call_tool(run, call, legacy, context)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": str(call.get("id", "")),
                        "content": json.dumps(result),
                    }
                )

    def _account(self, run: _Run, response: dict[str, Any]) -> None:
        usage = response.get("usage")
        if not isinstance(usage, dict):
            run.usage_missing = True
            return
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        run.tokens_in += tokens_in
        run.tokens_out += tokens_out
        run.cost_usd += self.config.cost(tokens_in, tokens_out)

    @staticmethod
    def _choice(response: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        choices = response.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise AgentRunError("invalid response from the agent endpoint: no choices")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise AgentRunError("invalid response from the agent endpoint: no message")
        finish = choices[0].get("finish_reason")
        return message, str(finish) if finish is not None else None

    async def _call_tool(
        self,
        run: _Run,
        call: dict[str, Any],
        legacy: LegacyCallable | None,
        context: dict[str, Any],
    ) -> dict[str, Any]:
        function = call.get("function") or {}
        name = function.get("name")
        raw_arguments = function.get("arguments") or "{}"
        try:
            arguments = (
                raw_arguments if isinstance(raw_arguments, dict) else json.loads(raw_arguments)
            )
        except (TypeError, json.JSONDecodeError):
            arguments = {}
        if not isinstance(arguments, dict):
            arguments = {}
        if name == FAILURE_TOOL:
            run.failure_reported = str(arguments.get("reason") or "no reason given")
            return {"ok": True, "recorded": True}
        if name == LEGACY_TOOL and legacy is not None:
            run.legacy_requests += 1
            if run.legacy_calls:
                # One fire runs the job at most once, as cron would: a second call (a model
                # retrying, or looping) gets the first outcome back without running anything.
                return {**run.legacy_calls[0], "note": ALREADY_RAN}
            outcome = await _run_legacy(legacy, context)
            run.legacy_calls.append(outcome)
            return outcome
        return {"ok": False, "error": f"unknown tool {name!r}"}

    def _post(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One blocking chat-completions request (called in a worker thread)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        request = urllib.request.Request(
            self.config.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:_ERROR_BODY_CHARS].decode("utf-8", "replace")
            raise AgentRunError(
                f"agent endpoint answered HTTP {exc.code}: {self._scrub(detail)}"
            ) from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise AgentRunError(f"agent endpoint timed out after {timeout:.1f}s") from None
            raise AgentRunError(f"agent endpoint unreachable: {self._scrub(str(reason))}") from None
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise AgentRunError("invalid response from the agent endpoint: not JSON") from None
        if not isinstance(decoded, dict):
            raise AgentRunError("invalid response from the agent endpoint: not an object")
        return decoded

    def _scrub(self, text: str) -> str:
        key = self.config.api_key
        if key:
            text = text.replace(key, "***")
        return redact(text)

    # -- prompt ----------------------------------------------------------------------------

    def _tool_specs(self, has_legacy: bool) -> list[dict[str, Any]]:
        specs = []
        if has_legacy:
            specs.append(
                {
                    "type": "function",
                    "function": {
                        "name": LEGACY_TOOL,
                        "description": (
                            "Run the legacy cron job exactly as cron would (same shell, "
                            "environment, stdin, user and working directory) and return its "
                            "exit code and output tail. Calling it does the job's work."
                        ),
                        "parameters": {"type": "object", "properties": {}},
                    },
                }
            )
        specs.append(
            {
                "type": "function",
                "function": {
                    "name": FAILURE_TOOL,
                    "description": "Declare that this run could not do the job, and why.",
                    "parameters": {
                        "type": "object",
                        "properties": {"reason": {"type": "string"}},
                        "required": ["reason"],
                    },
                },
            }
        )
        return specs

    def _messages(
        self,
        event_name: str,
        focus: str | Sequence[str] | None,
        context: Mapping[str, Any],
        skills: list[Skill],
        tenant_id: str,
    ) -> list[dict[str, Any]]:
        system = [
            "You run a scheduled job that used to be a cron job. Decide what to do, act with "
            "the tools, then answer with a short summary of what was done.",
            f"Call {LEGACY_TOOL} to run the original command when running it is the right "
            f"action; call {FAILURE_TOOL} when the job cannot be done.",
        ]
        wanted = focus_list(focus)
        if wanted:
            joined = ", ".join(wanted)
            system.append(
                f"Current focus: {joined}\nYou should prioritize actions related to {joined}."
            )
        if skills:
            system.append("Skills:")
            budget = self.config.max_skill_chars
            for skill in skills:
                text = skill.body[:budget] if budget > 0 else ""
                budget -= len(text)
                head = f"## {skill.name}" + (f": {skill.description}" if skill.description else "")
                # skills quote crontab commands: secrets in them never reach the provider
                system.append(redact(head + ("\n" + text if text else "")))
        user = [f"Trigger: {event_name}", f"Tenant: {tenant_id}"]
        if wanted:
            user.append(f"Focus: {', '.join(wanted)}")
        schedule = context.get("cron_expression") or context.get("expression")
        if schedule:
            tz = context.get("timezone")
            user.append(f"Schedule: {schedule}" + (f" ({tz})" if tz else ""))
        for key, label in (
            ("trigger_type", "Trigger type"),
            ("scheduled_at", "Scheduled instant"),
            ("triggered_at", "Triggered at"),
        ):
            if context.get(key):
                user.append(f"{label}: {context[key]}")
        previous = context.get("previous_run")
        if isinstance(previous, Mapping):
            user.append(
                "Previous run: "
                + ", ".join(f"{k}={previous[k]}" for k in sorted(previous) if previous[k])
            )
        elif previous is None and "previous_run" in context:
            user.append("Previous run: none")
        user.append("Context: " + redact(json.dumps(context, default=str, sort_keys=True)))
        return [
            {"role": "system", "content": "\n\n".join(system)},
            {"role": "user", "content": "\n".join(user)},
        ]


def _wants_context(fn: LegacyCallable) -> bool:
    # The pipeline's rule for fallbacks: a positional parameter receives the run context.
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return any(p.kind in kinds for p in parameters)


def _is_async(fn: LegacyCallable) -> bool:
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


async def _run_legacy(legacy: LegacyCallable, context: dict[str, Any]) -> dict[str, Any]:
    """Run the legacy job the way the pipeline runs a fallback: with the run context when the
    callable takes a positional parameter, without arguments otherwise; sync callables in a
    thread. Exit code and output come from the returned value or, on failure, from the error
    or its ``result`` (``LegacyJobFailed.result``)."""
    args = (dict(context),) if _wants_context(legacy) else ()
    try:
        if _is_async(legacy):
            value = await legacy(*args)
        else:
            value = await asyncio.to_thread(legacy, *args)
            if inspect.isawaitable(value):
                value = await value
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        carried = getattr(exc, "result", None)
        return {
            "ok": False,
            "exit_code": _attr(exc, "exit_code", carried),
            "error": redact(str(exc) or type(exc).__name__),
            "output": _tail(_attr(exc, "output_tail", carried) or _attr(exc, "output", carried)),
        }
    # A fallback that returns nothing (the generated ``await LEGACY.arun()``) leaves the exit
    # code unknown rather than a made-up 0, so the report compares like with like.
    exit_code = _attr(value, "exit_code", None)
    if exit_code is None:
        exit_code = getattr(value, "returncode", None)
    return {
        "ok": True,
        "exit_code": exit_code,
        "output": _tail(
            getattr(value, "output_tail", None)
            or getattr(value, "output", None)
            or (value if isinstance(value, str) else None)
        ),
    }


def _attr(obj: Any, name: str, carried: Any) -> Any:
    value = getattr(obj, name, None)
    return value if value is not None else getattr(carried, name, None)


def _text(content: Any) -> str:
    """Message content as text: a string, or a list of content parts (``{"type": "text",
    "text": ...}``) as some compatible servers send."""
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else str(content)


def _tail(text: Any) -> str | None:
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return redact(str(text)[-_TOOL_OUTPUT_CHARS:])


def agent_from_env() -> OpenAIAgent:
    """An :class:`OpenAIAgent` configured from ``OWLCLAW_AGENT_*`` variables: the factory to
    name in ``OwlClawApp(agent="owlclaw_runtime.agent.openai:agent_from_env")``."""
    return OpenAIAgent(OpenAIAgentConfig.from_env())
