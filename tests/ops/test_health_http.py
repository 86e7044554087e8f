"""check_health and the HTTP endpoint against a real app, SQLite ledger and embedded scheduler:
/metrics and /healthz scraped over loopback as a breaker opens and closes."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.config import load_settings
from owlclaw_runtime.observability.health import check_health
from owlclaw_runtime.observability.http import ROUTES, find_metrics, serve
from owlclaw_runtime.observability.metrics import METRIC_NAMES, CronMetrics
from owlclaw_runtime.observability.setup import install_observability
from prometheus_client.parser import text_string_to_metric_families


class Clock:
    def __init__(self) -> None:
        self.value = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.value


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


def make_app(tmp_path: Path, clock: Clock, outcome: dict[str, bool]) -> OwlClawApp:
    app = OwlClawApp(
        "health-test",
        ledger=f"sqlite:///{tmp_path / 'ledger.db'}",
        clock=clock,
        sleep=_no_sleep,
        app_dir=tmp_path,
    )

    @app.cron(
        "*/5 * * * *",
        event_name="flaky_job",
        migration_weight=0.0,
        retry_on_failure=False,
        breaker_window=2,
        breaker_threshold=0.5,
        breaker_recovery_seconds=60,
    )
    def flaky_job(context: dict) -> None:
        """Fails while outcome['fail'] is set."""
        if outcome["fail"]:
            raise RuntimeError("downstream unavailable")

    @app.cron("0 3 * * *", event_name="nightly", migration_weight=0.0)
    def nightly(context: dict) -> None:
        """Always fine."""

    return app


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def aget(url: str) -> tuple[int, str]:
    # off the loop: the health check sends backend.health() to this very loop
    return await asyncio.to_thread(fetch, url)


def breaker_gauge(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "owlclaw_cron_circuit_breaker_open"
                and sample.labels.get("event_name") == name
            ):
                return sample.value
    raise AssertionError(f"no breaker series for {name}")


async def run_once(app: OwlClawApp, clock: Clock) -> None:
    clock.value += timedelta(minutes=5)
    await app.dispatch("flaky_job", scheduled_at=clock.value)


async def test_endpoint_follows_breaker_open_and_close(tmp_path: Path) -> None:
    clock = Clock()
    outcome = {"fail": False}
    app = make_app(tmp_path, clock, outcome)
    installed = install_observability(
        app, load_settings(environ={}, config_file="/dev/null"), configure_logs=False
    )
    assert find_metrics(app) is installed.metrics
    handle = serve(app, 0)
    try:
        base = handle.url
        status, body = await aget(base + "/healthz")
        report = json.loads(body)
        assert status == 200 and report["status"] == "healthy"
        assert report["checks"]["ledger"]["ok"] is True
        assert report["checks"]["triggers"]["total"] == 2
        assert report["checks"]["circuit_breakers"]["open_count"] == 0
        # no scheduler yet: alive but not ready
        status, body = await aget(base + "/readyz")
        assert status == 503 and json.loads(body)["ready"] is False

        await app.start("local")
        status, body = await aget(base + "/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"]["backend"] == {
            **json.loads(body)["checks"]["backend"],
            "ok": True,
            "running": True,
            "name": "local",
        }

        outcome["fail"] = True
        await run_once(app, clock)
        await run_once(app, clock)
        status, body = await aget(base + "/healthz")
        report = json.loads(body)
        assert status == 200 and report["status"] == "degraded"
        assert report["checks"]["circuit_breakers"]["open_breakers"] == ["flaky_job"]
        assert any("flaky_job" in r for r in report["reasons"])
        status, text = await aget(base + "/metrics")
        assert status == 200
        assert breaker_gauge(text, "flaky_job") == 1
        assert breaker_gauge(text, "nightly") == 0
        for name in METRIC_NAMES:
            assert f"# TYPE {name} " in text
        # the counter agrees with the ledger (the scheduler may have fired too as time moved)
        failures = app.ledger.stats("flaky_job").overall.failures
        assert failures >= 2
        assert (
            'owlclaw_cron_executions_total{decision_mode="fallback",event_name="flaky_job",'
            f'status="failed"}} {float(failures)}' in text
        )

        # recovery time passes, the trial run succeeds, the breaker closes
        outcome["fail"] = False
        clock.value += timedelta(seconds=61)
        await run_once(app, clock)
        status, body = await aget(base + "/healthz")
        report = json.loads(body)
        assert report["status"] == "healthy", report
        assert report["checks"]["circuit_breakers"]["open_count"] == 0
        status, text = await aget(base + "/metrics")
        assert breaker_gauge(text, "flaky_job") == 0

        await app.cron_registry.pause_trigger("nightly")
        report = json.loads((await aget(base + "/healthz"))[1])
        assert report["checks"]["triggers"]["paused_triggers"] == ["nightly"]
        assert report["checks"]["triggers"]["enabled"] == 1
        assert report["status"] == "healthy"  # pausing is deliberate, not a fault

        status, body = await aget(base + "/nope")
        assert status == 404 and json.loads(body)["routes"] == list(ROUTES)
    finally:
        handle.close()
        await app.stop()
        app.close()


def test_corrupt_ledger_is_unhealthy(tmp_path: Path) -> None:
    clock = Clock()
    app = make_app(tmp_path, clock, {"fail": False})
    assert check_health(app)["status"] == "healthy"
    app.ledger.close()
    (tmp_path / "ledger.db").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"ledger.db{suffix}").unlink(missing_ok=True)
    report = check_health(app)
    assert report["status"] == "unhealthy"
    assert report["checks"]["ledger"]["ok"] is False
    assert "ledger unreachable" in report["reasons"]
    with serve(app, 0) as handle:
        status, body = fetch(handle.url + "/healthz")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"
        status, _ = fetch(handle.url + "/readyz")
        assert status == 503


def test_an_app_without_triggers_is_degraded_and_serve_attaches_metrics(tmp_path: Path) -> None:
    app = OwlClawApp("empty", ledger=f"sqlite:///{tmp_path / 'l.db'}", app_dir=tmp_path)
    report = check_health(app)
    assert report["status"] == "degraded"
    assert report["reasons"] == ["no triggers registered"]
    with serve(app, 0) as handle:
        assert isinstance(find_metrics(app), CronMetrics)  # created and attached
        status, text = fetch(handle.url + "/metrics")
        assert status == 200 and "owlclaw_cron_active_tasks 0.0" in text
        status, _ = fetch(handle.url + "/metrics")  # HEAD-free second scrape still fine
        assert status == 200
    app.close()


def test_a_failing_backend_health_makes_the_app_unhealthy(tmp_path: Path) -> None:
    from owlclaw_runtime.schedulers.local import LocalScheduler

    class EngineDown(LocalScheduler):
        """The embedded scheduler reporting an unreachable engine, as Hatchet's would."""

        name = "hatchet"

        async def health(self) -> dict[str, Any]:
            raise ConnectionRefusedError("engine at 127.0.0.1:7077 refused the connection")

    clock = Clock()
    app = make_app(tmp_path, clock, {"fail": False})

    async def scenario() -> dict[str, Any]:
        await app.start(EngineDown(app))
        try:
            return await asyncio.to_thread(check_health, app, loop=asyncio.get_running_loop())
        finally:
            await app.stop()

    report = asyncio.run(scenario())
    assert report["status"] == "unhealthy"
    backend = report["checks"]["backend"]
    assert backend["ok"] is False and backend["name"] == "hatchet"
    assert "refused" in backend["error"]
    app.close()


@pytest.mark.parametrize(
    ("path", "expected"), [("/metrics", 200), ("/healthz", 200), ("/readyz", 503)]
)
def test_head_requests_are_answered(tmp_path: Path, path: str, expected: int) -> None:
    assert path in ROUTES
    app = make_app(tmp_path, Clock(), {"fail": False})
    with serve(app, 0) as handle:
        request = urllib.request.Request(handle.url + path, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body, length = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, body, length = exc.code, exc.read(), exc.headers
        assert status == expected  # /readyz: no scheduler started
        assert body == b""
        assert int(length["Content-Length"]) > 0
    app.close()


def test_metrics_show_a_breaker_opened_by_another_process(tmp_path: Path) -> None:
    from owlclaw_runtime.ledger import BreakerState

    app = make_app(tmp_path, Clock(), {"fail": False})
    with serve(app, 0) as handle:
        assert breaker_gauge(fetch(handle.url + "/metrics")[1], "flaky_job") == 0
        # another worker (sharing the ledger) opened it: the ledger is the source of truth
        app.ledger.save_breaker(
            BreakerState(event_name="flaky_job", state="open", opened_at=Clock().value)
        )
        assert breaker_gauge(fetch(handle.url + "/metrics")[1], "flaky_job") == 1
        app.ledger.save_breaker(BreakerState(event_name="flaky_job", state="closed"))
        assert breaker_gauge(fetch(handle.url + "/metrics")[1], "flaky_job") == 0
    app.close()


async def test_check_health_called_on_the_loop_reports_instead_of_deadlocking(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, Clock(), {"fail": False})
    await app.start("local")
    try:
        report = check_health(app)  # wrong: on the loop itself; it must not hang
        assert report["status"] == "unhealthy"
        assert "another thread" in report["checks"]["backend"]["error"]
        good = await asyncio.to_thread(check_health, app, loop=asyncio.get_running_loop())
        assert good["status"] == "healthy" and good["ready"] is True
    finally:
        await app.stop()
        app.close()
