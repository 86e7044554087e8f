"""The Hatchet backend: the engine fires, the time model decides.

Hatchet fires crons in UTC only (reference/hatchet.md section 2.3), so each trigger becomes one
task ``cron_<event_name>`` whose ``on_crons`` is the time model's UTC superset
(``Schedule.utc_superset()``: every exact instant is a tick). Each tick's handler reads the
instant from the run's ``hatchet__cron_scheduled_at`` metadata and asks the gate
(``Schedule.runs_due_at``) how many runs the legacy daemon would have started then: 0 (a
superset tick that is not a real instant), 1, or k (DST multiplicity). Those runs go through the
same pipeline as the embedded backend (``app.dispatch(..., raise_on_failure=True)``), with the
ledger on the shared PostgreSQL.

- Failures raise, so Hatchet retries with the trigger's ``max_retries``/backoff; a retried tick
  only re-runs what has not succeeded yet (the ledger is asked), so a tick delivered twice or a
  partially failed ``runs=2`` never runs a job twice.
- ``max_duration`` is the engine's execution timeout (times the tick's worst-case multiplicity,
  plus a margin for the ledger writes); ``schedule_timeout`` lets a tick wait out a short worker
  outage (a day for ``catch_up`` triggers) instead of failing with ``SCHEDULING_TIMED_OUT``.
- ``overlap_policy="skip"`` becomes one-run concurrency with ``CANCEL_NEWEST`` (what ``flock -n``
  did for the legacy job); ``"queue"`` queues behind the running one.
- Pause disables the trigger's crons in the engine (REST ``workflow_cron_update``); the pause
  is also saved in the ledger and re-applied whenever a worker starts, because a new workflow
  version re-creates its declared crons enabled.

The hatchet-sdk worker needs its own event loop, so it runs in a thread; each task forwards its
work to the app's loop, where the pipeline and its asyncio primitives live.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from owlclaw_runtime.errors import ConfigurationError, OwlClawError
from owlclaw_runtime.schedulers.base import SchedulerBackend
from owlclaw_runtime.triggers.models import CronTriggerConfig, ExecutionStatus

log = logging.getLogger("owlclaw_runtime.schedulers.hatchet")

NAME_RE = re.compile(r"^[a-zA-Z0-9.\-_]+$")
_MAX_NAME = 100
SCHEDULED_AT_KEY = "hatchet__cron_scheduled_at"
# A run still running when its worker died counts as not done: the retry re-runs it.
_DONE = {ExecutionStatus.SUCCESS, ExecutionStatus.FALLBACK, ExecutionStatus.SKIPPED}
DEFAULT_EXECUTION_TIMEOUT = timedelta(hours=24)  # legacy cron has no limit; free a stuck slot
DEFAULT_SCHEDULE_TIMEOUT = timedelta(minutes=15)
CATCH_UP_SCHEDULE_TIMEOUT = timedelta(hours=24)
_TIMEOUT_MARGIN_SECONDS = 60


class HatchetError(OwlClawError):
    """The engine refused something or could not be reached."""


class CronRunInput(BaseModel):
    """The input of a ``cron_*`` task: empty for cron ticks, filled in for manual runs."""

    model_config = ConfigDict(extra="ignore")

    manual: bool = False
    execution_id: str | None = None
    scheduled_at: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)


def task_names(event_names: Iterable[str]) -> dict[str, str]:
    """``cron_<event_name>`` per trigger, reduced to the engine's name characters
    (``^[a-zA-Z0-9.\\-_]+$``) and unique regardless of case (the engine lower-cases action
    ids): a clash or an over-long name gets a short hash of the real event name appended."""
    result: dict[str, str] = {}
    taken: set[str] = set()
    for event in event_names:
        base = "cron_" + re.sub(r"[^a-zA-Z0-9.\-_]", "_", event)
        name = base
        digest = hashlib.sha1(event.encode()).hexdigest()
        if len(name) > _MAX_NAME or name.lower() in taken or name != "cron_" + event:
            name = f"{base[: _MAX_NAME - 9]}-{digest[:8]}"
        n = 8
        while name.lower() in taken:  # astronomically unlikely: lengthen the hash
            n += 4
            name = f"{base[: _MAX_NAME - n - 1]}-{digest[:n]}"
        taken.add(name.lower())
        result[event] = name
    return result


def _seconds(value: timedelta) -> timedelta:
    # The engine takes whole h/m/s only (sdk utils/timedelta_to_expression.py).
    return timedelta(seconds=max(1, math.ceil(value.total_seconds())))


def max_multiplicity(schedule: Any) -> int:
    """The most runs one tick can carry: a fixed-time job whose hour a spring-forward jump
    skips runs each of its minutes at once; anything else runs once per instant."""
    spec = schedule.spec
    if spec.is_wildcard or schedule.semantics != "daemon":
        return 1
    return max(1, len(spec.minute))


def task_options(
    config: CronTriggerConfig,
    schedule: Any,
    *,
    schedule_timeout: timedelta = DEFAULT_SCHEDULE_TIMEOUT,
) -> dict[str, Any]:
    """The ``Hatchet.task`` keyword arguments for one trigger (name and handler excluded)."""
    from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy

    per_run = (
        timedelta(seconds=config.max_duration)
        if config.max_duration is not None
        else DEFAULT_EXECUTION_TIMEOUT
    )
    execution_timeout = per_run * max_multiplicity(schedule) + timedelta(
        seconds=_TIMEOUT_MARGIN_SECONDS
    )
    concurrency = None
    if config.overlap_policy == "skip":
        concurrency = ConcurrencyExpression(
            expression="'constant'",
            max_runs=1,
            limit_strategy=ConcurrencyLimitStrategy.CANCEL_NEWEST,
        )
    elif config.overlap_policy == "queue":
        concurrency = ConcurrencyExpression(
            expression="'constant'",
            max_runs=1,
            limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
        )
    return {
        "description": config.description,
        "on_crons": list(schedule.utc_superset()),
        "retries": config.max_retries if config.retry_on_failure else 0,
        "backoff_factor": config.retry_backoff_factor,
        "backoff_max_seconds": max(1, int(config.retry_max_delay_seconds)),
        "execution_timeout": _seconds(execution_timeout),
        "schedule_timeout": _seconds(
            CATCH_UP_SCHEDULE_TIMEOUT if config.catch_up else schedule_timeout
        ),
        "concurrency": concurrency,
    }


def make_client(config: Any = None) -> Any:
    """A ``hatchet_sdk.Hatchet`` client from hatchet-sdk's usual environment
    (``HATCHET_CLIENT_TOKEN``, ``HATCHET_CLIENT_HOST_PORT``, ``HATCHET_CLIENT_SERVER_URL``,
    ``HATCHET_CLIENT_TLS_STRATEGY``...); a clear error when there is no token."""
    try:
        from hatchet_sdk import Hatchet
    except ImportError as exc:  # the optional extra is not installed
        raise ConfigurationError(
            "the Hatchet backend needs hatchet-sdk: pip install 'owlmigrate[hatchet]'",
            field="backend",
            token="hatchet",
        ) from exc
    if config is None and not os.environ.get("HATCHET_CLIENT_TOKEN", "").strip():
        raise ConfigurationError(
            "HATCHET_CLIENT_TOKEN is not set: the Hatchet backend needs an API token for the "
            "engine (with a local engine: `make hatchet-up`, then "
            "`set -a; . .hatchet/env; set +a`); see docs/backends.md",
            field="HATCHET_CLIENT_TOKEN",
        )
    try:
        return Hatchet(config=config) if config is not None else Hatchet()
    except Exception as exc:  # pydantic ValidationError: bad token, claims, TLS settings
        raise ConfigurationError(
            f"cannot configure the Hatchet client: {exc}", field="HATCHET_CLIENT_TOKEN"
        ) from exc


def _parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HatchetBackend(SchedulerBackend):
    """Fire ``app``'s triggers through a Hatchet engine.

    ``worker=True`` (what ``owlmigrate run --backend hatchet`` uses) registers the tasks and
    runs a worker in this process; ``worker=False`` only connects, for ``trigger_now``, pause
    and resume from a process that runs no jobs (the CLI, tests). ``extra_workflows`` are other
    hatchet-sdk workflows served by the same worker.
    """

    name = "hatchet"

    def __init__(
        self,
        app: Any,
        *,
        client: Any = None,
        worker: bool = True,
        worker_name: str | None = None,
        slots: int | None = None,
        schedule_timeout: timedelta = DEFAULT_SCHEDULE_TIMEOUT,
        start_timeout: float = 60.0,
        stop_timeout: float = 60.0,
        extra_workflows: Iterable[Any] = (),
    ) -> None:
        self._app = app
        self._client = client
        self._run_worker = worker
        self._worker_name = worker_name or f"owlclaw-{getattr(app, 'name', 'app')}"
        self._slots = slots
        self._schedule_timeout = schedule_timeout
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._extra_workflows = list(extra_workflows)
        self._tasks: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._worker: Any = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    # -- set-up ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The hatchet-sdk client (created from the environment on first use)."""
        if self._client is None:
            self._client = make_client()
        return self._client

    @property
    def task_names(self) -> dict[str, str]:
        """Trigger event name -> Hatchet task name (``cron_*``, not namespaced)."""
        return dict(self._names)

    def tasks(self) -> dict[str, Any]:
        """Trigger event name -> the hatchet-sdk ``Standalone`` (built on first use)."""
        if not self._tasks:
            self._build_tasks()
        return dict(self._tasks)

    def _configs(self) -> list[CronTriggerConfig]:
        return list(self._app.cron_registry.list_triggers())

    def _schedule(self, config: CronTriggerConfig) -> Any:
        return self._app.cron_registry.schedule(config.event_name)

    def _build_tasks(self) -> None:
        configs = self._configs()
        self._names = task_names(c.event_name for c in configs)
        hatchet = self.client
        for config in configs:
            options = task_options(
                config, self._schedule(config), schedule_timeout=self._schedule_timeout
            )
            self._tasks[config.event_name] = hatchet.task(
                name=self._names[config.event_name], input_validator=CronRunInput, **options
            )(self._handler_for(config.event_name))

    def _handler_for(self, event_name: str) -> Any:
        async def handler(input: CronRunInput, ctx: Any) -> dict[str, Any]:
            # Runs on the worker's loop (its thread); the pipeline lives on the app's loop.
            payload = {
                "input": input.model_dump(),
                "metadata": dict(ctx.additional_metadata or {}),
                "retry_count": int(ctx.retry_count),
                "run_id": str(ctx.workflow_run_id),
            }
            loop = self._loop
            if loop is None or loop.is_closed():
                raise HatchetError("the app's event loop is not running")
            future = asyncio.run_coroutine_threadsafe(self.handle(event_name, payload), loop)
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                future.cancel()  # the engine cancelled the run (timeout, concurrency)
                raise

        handler.__name__ = f"cron_{event_name}"
        return handler

    # -- the gate and the pipeline -----------------------------------------------------------
    async def handle(self, event_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One task run: gate the tick, dispatch the due runs, raise when one failed.

        ``payload``: ``input`` (a :class:`CronRunInput` dump), ``metadata`` (the run's
        additional metadata), ``retry_count`` and ``run_id``. Returns a summary.
        """
        app = self._app
        data = CronRunInput.model_validate(payload.get("input") or {})
        metadata = payload.get("metadata") or {}
        retry_count = int(payload.get("retry_count") or 0)
        scheduled_text = metadata.get(SCHEDULED_AT_KEY)
        if data.manual or not scheduled_text:
            # trigger_now, or a run started from the dashboard/API without a cron instant
            instant = _parse_instant(data.scheduled_at) if data.scheduled_at else app.now()
            context = {**data.context, "hatchet_run_id": payload.get("run_id")}
            executions = await app.dispatch(
                event_name,
                scheduled_at=instant,
                runs=1,
                trigger_type="manual",
                context=context,
                raise_on_failure=True,
                execution_id=data.execution_id if retry_count == 0 else None,
                retry_count=retry_count,
            )
            return self._summary(event_name, instant, 1, executions, manual=True)
        instant = _parse_instant(str(scheduled_text))
        due = self._schedule(app.cron_registry.require(event_name)).runs_due_at(instant)
        if due == 0:
            # A superset tick that is not one of the legacy daemon's instants.
            return self._summary(event_name, instant, 0, [])
        done = await asyncio.to_thread(self._done_runs, event_name, instant)
        runs = max(0, due - done)
        if runs == 0:
            log.info("%s %s: all %d run(s) already done", event_name, _iso(instant), due)
            return self._summary(event_name, instant, 0, [], already_done=done)
        executions = await app.dispatch(
            event_name,
            scheduled_at=instant,
            runs=runs,
            trigger_type="cron",
            context={"hatchet_run_id": payload.get("run_id")},
            raise_on_failure=True,
            retry_count=retry_count,
        )
        return self._summary(event_name, instant, runs, executions, already_done=done)

    def _done_runs(self, event_name: str, instant: datetime) -> int:
        rows = self._app.ledger.history(event_name, tenant_id=self._app.tenant_id, limit=100)
        return sum(
            1
            for e in rows
            if e.scheduled_at is not None
            and e.trigger_type == "cron"
            and e.scheduled_at.astimezone(UTC) == instant
            and ExecutionStatus(e.status) in _DONE
        )

    @staticmethod
    def _summary(
        event_name: str,
        instant: datetime,
        runs: int,
        executions: list[Any],
        *,
        manual: bool = False,
        already_done: int = 0,
    ) -> dict[str, Any]:
        return {
            "event_name": event_name,
            "scheduled_at": _iso(instant),
            "manual": manual,
            "runs": runs,
            "already_done": already_done,
            "executions": [e.execution_id for e in executions],
            "statuses": [str(e.status) for e in executions],
        }

    # -- SchedulerBackend --------------------------------------------------------------------
    async def start(self) -> None:
        """Register every trigger's task, apply the ledger's pauses, start the worker thread
        (``worker=True``); returns once the worker is connected."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        if not self._tasks:
            await asyncio.to_thread(self._build_tasks)
        if self._run_worker and not (self._tasks or self._extra_workflows):
            # hatchet-sdk refuses a worker without actions; there is nothing to fire anyway
            log.warning("no triggers to serve: no Hatchet worker started")
            self._run_worker = False
        if self._run_worker:
            await asyncio.to_thread(self._register_all)
            await self._sync_pauses()
            await self._start_worker()
        self._started = True

    def _register_all(self) -> None:
        # The SDK's worker calls sys.exit(1) when the engine refuses a workflow; registering
        # here first turns that into an error that names the trigger and its expressions.
        admin = self.client._client.admin
        for event, task in self._tasks.items():
            try:
                admin.put_workflow(task.to_proto())
            except Exception as exc:
                crons = ", ".join(task.to_proto().cron_triggers) or "(none)"
                raise HatchetError(
                    f"the Hatchet engine refused trigger {event!r} "
                    f"(task {self._names[event]}, crons {crons}): {exc}",
                    field="on_crons",
                    token=crons,
                ) from exc

    async def _start_worker(self) -> None:
        from hatchet_sdk.worker.worker import Worker, WorkerStatus

        class _ThreadWorker(Worker):
            """The app (``OwlClawApp.serve``) owns SIGINT/SIGTERM, not the SDK."""

            def _setup_signal_handlers(self) -> None:
                return None

        from hatchet_sdk.utils.slots import normalize_slot_config, resolve_worker_slot_config

        workflows = [*self._tasks.values(), *self._extra_workflows]
        slots = self._slots or max(10, getattr(self._app, "max_concurrent", 10))
        hatchet = self.client
        self._worker = _ThreadWorker(
            name=self._worker_name,
            config=hatchet.config,
            slot_config=normalize_slot_config(
                resolve_worker_slot_config(None, slots, None, workflows)
            ),
            debug=False,
            handle_kill=False,
            workflows=workflows,
        )

        def run() -> None:
            try:
                self._worker.start()
            except BaseException as exc:  # SystemExit included: the SDK exits on errors
                self._thread_error = exc
                log.error("hatchet worker stopped: %s", exc)

        self._thread = threading.Thread(target=run, name="hatchet-worker", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._worker.status == WorkerStatus.HEALTHY:
                log.info(
                    "hatchet worker %s connected with %d task(s)", self._worker_name, len(workflows)
                )
                return
            if not self._thread.is_alive():
                raise HatchetError(f"the Hatchet worker failed to start: {self._thread_error!r}")
            await asyncio.sleep(0.1)
        raise HatchetError(f"the Hatchet worker was not connected after {self._start_timeout:g}s")

    async def stop(self) -> None:
        """Stop the worker gracefully (in-flight runs finish first)."""
        worker, thread = self._worker, self._thread
        self._worker = self._thread = None
        self._started = False
        if worker is None or thread is None:
            return
        with warnings.catch_warnings():
            # hatchet-sdk marks Worker.loop internal; it is the only handle on the worker's loop
            warnings.simplefilter("ignore", DeprecationWarning)
            loop = worker.loop
        if loop is not None and loop.is_running() and thread.is_alive():
            # exit_gracefully stops the worker's loop itself, so its future may never resolve:
            # wait for the thread instead.
            asyncio.run_coroutine_threadsafe(worker.exit_gracefully(), loop)
        await asyncio.to_thread(thread.join, self._stop_timeout)
        if thread.is_alive():
            log.warning("hatchet worker still busy after %gs; leaving it", self._stop_timeout)

    async def pause(self, event_name: str) -> None:
        """Disable the trigger's crons in the engine (durable: also saved in the ledger)."""
        await self._set_paused(event_name, True)

    async def resume(self, event_name: str) -> None:
        """Enable the trigger's crons again."""
        await self._set_paused(event_name, False)

    async def _set_paused(self, event_name: str, paused: bool) -> None:
        self._app.cron_registry.require(event_name)
        app = self._app

        def save() -> None:
            state = app.ledger.get_trigger_state(event_name, tenant_id=app.tenant_id)
            if state.paused != paused:
                app.ledger.save_trigger_state(
                    dataclasses.replace(state, paused=paused, updated_at=app.now())
                )

        await asyncio.to_thread(save)
        if not self._tasks:
            await asyncio.to_thread(self._build_tasks)
        changed = await asyncio.to_thread(self._set_crons_enabled, {event_name: not paused})
        log.info(
            "%s %s in the engine (%d cron row(s))",
            event_name,
            "paused" if paused else "resumed",
            changed,
        )

    async def _sync_pauses(self) -> None:
        states = await asyncio.to_thread(
            self._app.ledger.all_trigger_states, tenant_id=self._app.tenant_id
        )
        paused = {s.event_name for s in states if s.paused}
        wanted = {c.event_name: c.event_name not in paused and c.enabled for c in self._configs()}
        await asyncio.to_thread(self._set_crons_enabled, wanted)

    async def refresh_states(self) -> None:
        """Apply the ledger's pauses to the engine's crons now (they are otherwise applied when
        a worker starts); the pipeline reads the rest of the state per run."""
        if self._started and self._run_worker:
            await self._sync_pauses()

    def cron_rows(self) -> list[Any]:
        """Every cron row the engine holds for this app's tasks (``CronWorkflows`` models)."""
        names = {t.name.lower() for t in self.tasks().values()}
        rows: list[Any] = []
        offset = 0
        while True:
            page = self.client.cron.list(offset=offset, limit=200)
            batch = page.rows or []
            rows.extend(r for r in batch if r.workflow_name.lower() in names)
            if len(batch) < 200:
                return rows
            offset += len(batch)

    def _set_crons_enabled(self, wanted: dict[str, bool]) -> int:
        """Set ``enabled`` on the cron rows of the given triggers; returns rows changed."""
        from hatchet_sdk.clients.rest.api.workflow_api import WorkflowApi
        from hatchet_sdk.clients.rest.models.update_cron_workflow_trigger_request import (
            UpdateCronWorkflowTriggerRequest,
        )

        by_workflow = {self._tasks[e].name.lower(): on for e, on in wanted.items()}
        cron = self.client.cron
        changed = 0
        with cron.client() as api_client:
            api = WorkflowApi(api_client)
            for row in self.cron_rows():
                enabled = by_workflow.get(row.workflow_name.lower())
                if enabled is None or row.enabled == enabled:
                    continue
                api.workflow_cron_update(
                    tenant=cron.client_config.tenant_id,
                    cron_workflow=row.metadata.id,
                    update_cron_workflow_trigger_request=UpdateCronWorkflowTriggerRequest(
                        enabled=enabled
                    ),
                )
                changed += 1
        return changed

    async def trigger_now(self, event_name: str, context: dict[str, Any]) -> str:
        """Start a manual run on a worker without waiting; returns its execution id (the
        ledger row the worker writes)."""
        self._app.cron_registry.require(event_name)
        task = self.tasks()[event_name]
        execution_id = uuid.uuid4().hex
        data = CronRunInput(
            manual=True,
            execution_id=execution_id,
            scheduled_at=_iso(self._app.now()),
            context={str(k): v for k, v in (context or {}).items()},
        )
        await task.aio_run(
            data,
            wait_for_result=False,
            additional_metadata={"owlclaw_execution_id": execution_id, "owlclaw_manual": "1"},
        )
        return execution_id

    async def health(self) -> dict[str, Any]:
        """Engine connectivity (a REST round trip) and, with a worker, its status."""
        report: dict[str, Any] = {"backend": self.name, "tasks": len(self._tasks)}
        try:
            started = time.perf_counter()
            await asyncio.to_thread(self.client.cron.list, limit=1)
            report["engine"] = {
                "ok": True,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        except Exception as exc:
            report["engine"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        ok = bool(report["engine"]["ok"])
        if self._run_worker:
            status = getattr(self._worker, "status", None)
            alive = self._thread is not None and self._thread.is_alive()
            report["worker"] = {
                "name": self._worker_name,
                "status": getattr(status, "name", str(status)),
                "alive": alive,
            }
            ok = ok and alive
        report["ok"] = ok
        return report
