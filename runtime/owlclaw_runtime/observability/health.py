"""Health and readiness from real checks: the ledger answers a query, the scheduler backend
(the Hatchet engine when Hatchet fires) reports itself reachable, breakers, triggers.

The shape follows the seed's ``CronHealthCheck`` (reference/owlclaw.md section 2.8):
``{"status": "healthy"|"degraded"|"unhealthy", "checks": {...}}``.

- unhealthy: the ledger cannot be queried, or the backend reports ``ok: false``;
- degraded: a circuit breaker is open or half-open, no trigger is registered, or the app's
  module file changed on disk since the worker imported it (a regenerate: the worker keeps
  serving exactly what it loaded, and says "restart" here; see docs/runtime.md);
- healthy otherwise. Paused triggers are reported but do not degrade: a person paused them.

Readiness (``/readyz``) additionally needs a scheduler backend attached to the app, i.e. the
worker is actually firing.

What is read from the app (duck-typed, so a partial app reports instead of crashing):
``app.ledger`` (a LedgerStore), ``app.tenant_id``, ``app.cron_registry.list_triggers()`` and
``app.backend`` (the running SchedulerBackend, or None), and what ``load_app`` imported
(``owlclaw_runtime.loader.loaded_module``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any

from owlclaw_runtime.loader import file_fingerprint, loaded_module, stale_reason
from owlclaw_runtime.redact import redact

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"


def _error(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:500]


def _run_coroutine(
    coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop | None, timeout: float
) -> Any:
    """Run ``coro`` on ``loop`` (the loop the backend lives on, from another thread) or on a
    private loop when there is none."""
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if current is not None and (loop is None or loop is current):
        coro.close()  # blocking here would deadlock the loop the backend needs
        raise RuntimeError(
            "check_health blocks: call it from another thread (asyncio.to_thread), "
            "passing the app's loop"
        )
    if loop is not None and loop.is_running():
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g}s") from None
    return asyncio.run(asyncio.wait_for(coro, timeout))


def _ledger_check(app: Any, tenant: str) -> dict[str, Any]:
    ledger = getattr(app, "ledger", None)
    if ledger is None:
        return {"ok": False, "error": "the app has no ledger"}
    try:
        ledger.history(tenant_id=tenant, limit=1)
    except Exception as exc:  # a health check reports every failure, it never raises
        return {"ok": False, "error": _error(exc)}
    return {"ok": True, "schema_version": getattr(ledger, "schema_version", None)}


def _backend_check(
    app: Any, loop: asyncio.AbstractEventLoop | None, timeout: float
) -> dict[str, Any]:
    backend = getattr(app, "backend", None)
    if backend is None:
        return {"ok": True, "running": False, "name": None}
    name = getattr(backend, "name", type(backend).__name__)
    try:
        report = _run_coroutine(backend.health(), loop, timeout)
    except Exception as exc:
        return {"ok": False, "running": True, "name": name, "error": _error(exc)}
    result: dict[str, Any] = {"running": True, "name": name}
    if isinstance(report, dict):
        result.update({k: v for k, v in report.items() if k not in result})
    result["ok"] = bool(result.get("ok", False))
    return result


def _trigger_checks(app: Any, tenant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    registry = getattr(app, "cron_registry", None)
    configs = list(registry.list_triggers()) if registry is not None else []
    ledger = getattr(app, "ledger", None)
    paused: set[str] = set()
    open_breakers: list[str] = []
    half_open: list[str] = []
    errors: list[str] = []
    if ledger is not None:
        try:
            paused = {s.event_name for s in ledger.all_trigger_states(tenant_id=tenant) if s.paused}
            for config in configs:
                state = ledger.get_breaker(config.event_name, tenant_id=tenant).state
                if state == "open":
                    open_breakers.append(config.event_name)
                elif state == "half_open":
                    half_open.append(config.event_name)
        except Exception as exc:
            errors.append(_error(exc))
    names = [c.event_name for c in configs]
    paused_names = sorted(n for n in names if n in paused)
    disabled = sorted(c.event_name for c in configs if not c.enabled)
    triggers: dict[str, Any] = {
        "total": len(configs),
        "enabled": sum(1 for c in configs if c.enabled and c.event_name not in paused),
        "disabled": len(disabled),
        "paused": len(paused_names),
        "disabled_triggers": disabled,
        "paused_triggers": paused_names,
    }
    breakers: dict[str, Any] = {
        "open_count": len(open_breakers),
        "open_breakers": sorted(open_breakers),
        "half_open_breakers": sorted(half_open),
    }
    if errors:
        breakers["error"] = errors[0]
    return triggers, breakers


def _module_check(app: Any) -> dict[str, Any]:
    """Whether the module file still holds what this worker imported (by fingerprint: a cutover
    or step rewriting ``shadow=``/``migration_weight=`` does not count, a regenerate does)."""
    module = loaded_module(app)
    if module is None:
        return {"ok": True, "loaded_from_file": False}
    current = file_fingerprint(module.path)
    result: dict[str, Any] = {
        "path": str(module.path),
        "loaded_sha256": module.sha256,
        "disk_sha256": current[0] if current else None,
    }
    result["ok"] = current is not None and current[1] == module.fingerprint
    result["stale"] = not result["ok"]
    if not result["ok"]:
        result["reason"] = stale_reason(module)
    return result


def check_health(
    app: Any,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """``{"status", "ready", "reasons", "checks": {"ledger", "backend", "triggers",
    "circuit_breakers", "module"}}``.

    Call it from a thread that is not running ``loop`` (the HTTP server's thread does);
    ``loop`` is the event loop the app's backend runs on, used for ``backend.health()``.
    """
    tenant = getattr(app, "tenant_id", "default")
    ledger = _ledger_check(app, tenant)
    backend = _backend_check(app, loop, timeout)
    triggers, breakers = _trigger_checks(app, tenant) if ledger["ok"] else _no_ledger(app)
    module = _module_check(app)
    reasons: list[str] = []
    if not ledger["ok"]:
        reasons.append("ledger unreachable")
    if not backend["ok"]:
        reasons.append(f"backend {backend['name']} unhealthy")
    status = UNHEALTHY if reasons else HEALTHY
    if status == HEALTHY:
        if breakers["open_count"] or breakers["half_open_breakers"]:
            reasons.append(
                "circuit breaker open: "
                + ", ".join(breakers["open_breakers"] + breakers["half_open_breakers"])
            )
        if triggers["total"] == 0:
            reasons.append("no triggers registered")
        if not module["ok"]:
            reasons.append(module["reason"])
        if reasons:
            status = DEGRADED
    ready = status != UNHEALTHY and backend["running"]
    return {
        "status": status,
        "ready": ready,
        "reasons": reasons,
        "checks": {
            "ledger": ledger,
            "backend": backend,
            "triggers": triggers,
            "circuit_breakers": breakers,
            "module": module,
        },
    }


def _no_ledger(app: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    registry = getattr(app, "cron_registry", None)
    configs = list(registry.list_triggers()) if registry is not None else []
    disabled = sorted(c.event_name for c in configs if not c.enabled)
    triggers = {
        "total": len(configs),
        "enabled": len(configs) - len(disabled),
        "disabled": len(disabled),
        "paused": None,  # unknown: pause state lives in the ledger
        "disabled_triggers": disabled,
        "paused_triggers": [],
    }
    breakers = {"open_count": 0, "open_breakers": [], "half_open_breakers": [], "error": "unknown"}
    return triggers, breakers


__all__ = ["DEGRADED", "HEALTHY", "UNHEALTHY", "check_health"]
