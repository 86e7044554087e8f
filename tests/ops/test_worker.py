"""A real worker: ``owlmigrate run --app APP --http-port PORT`` as a subprocess, scraped over
HTTP while a breaker opens and closes through runs made by the CLI on the same ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from owlclaw_runtime.observability.metrics import METRIC_NAMES

from .helpers import free_port
from .test_health_http import breaker_gauge, fetch

OWLMIGRATE = str(Path(sys.executable).with_name("owlmigrate"))

APP = textwrap.dedent(
    '''
    """A worker-test app: one trigger that fails while fail.flag exists."""
    from pathlib import Path

    from owlclaw_runtime import OwlClawApp

    FLAG = Path(__file__).with_name("fail.flag")
    app = OwlClawApp("worker-test")


    @app.cron(
        "0 0 1 1 *",
        event_name="flaky",
        migration_weight=0.0,
        retry_on_failure=False,
        breaker_window=2,
        breaker_threshold=0.5,
        breaker_recovery_seconds=1,
    )
    def flaky(context: dict) -> None:
        """Fails while the flag file exists."""
        if FLAG.exists():
            raise RuntimeError("downstream unavailable")
    '''
)


@contextmanager
def running_worker(
    tmp_path: Path,
    *args: str,
    env_extra: dict[str, str] | None = None,
    port_from_config: bool = False,
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """``owlmigrate run --app <tmp>/app.py --http-port <free> ARGS`` until it is ready
    (with ``port_from_config`` the port comes from owlclaw.yaml instead of the option)."""
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    env = {
        **os.environ,
        "OWLCLAW_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "OWLCLAW_LOGGING__DESTINATION": str(tmp_path / "worker.log"),
        **(env_extra or {}),
    }
    env.pop("OWLCLAW_CONFIG", None)
    port = free_port()
    port_args = ["--http-port", str(port)]
    if port_from_config:
        config = tmp_path / "owlclaw.yaml"
        config.write_text(f"metrics:\n  http_port: {port}\n  http_host: 127.0.0.1\n")
        env["OWLCLAW_CONFIG"] = str(config)
        port_args = []
    proc = subprocess.Popen(
        [OWLMIGRATE, "run", "--app", str(app_file), *port_args, *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"worker exited with {proc.returncode}: {out}\n{err}")
            try:
                if fetch(base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("worker never became ready")
            time.sleep(0.2)
        yield base, app_file, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, proc.returncode  # a clean shutdown on SIGTERM


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    with running_worker(tmp_path) as running:
        yield running


def trigger(app_file: Path, env: dict[str, str]) -> int:
    return subprocess.run(
        [OWLMIGRATE, "trigger", "flaky", "--app", str(app_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).returncode


def health(base: str) -> tuple[int, dict]:
    status, body = fetch(base + "/healthz")
    return status, json.loads(body)


@pytest.mark.slow
def test_worker_serves_metrics_and_health_as_a_breaker_opens_and_closes(
    worker: tuple[str, Path, dict[str, str]],
) -> None:
    base, app_file, env = worker
    status, report = health(base)
    assert status == 200 and report["status"] == "healthy" and report["ready"] is True
    assert report["checks"]["backend"]["name"] == "local"
    status, text = fetch(base + "/metrics")
    assert status == 200
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text, name
    assert breaker_gauge(text, "flaky") == 0

    flag = app_file.with_name("fail.flag")
    flag.write_text("down")
    assert trigger(app_file, env) == 1
    assert trigger(app_file, env) == 1
    status, report = health(base)
    assert status == 200 and report["status"] == "degraded", report
    assert report["checks"]["circuit_breakers"]["open_breakers"] == ["flaky"]
    assert breaker_gauge(fetch(base + "/metrics")[1], "flaky") == 1

    flag.unlink()
    time.sleep(1.2)  # breaker_recovery_seconds=1: the next run is the half-open trial
    assert trigger(app_file, env) == 0
    status, report = health(base)
    assert report["status"] == "healthy", report
    assert breaker_gauge(fetch(base + "/metrics")[1], "flaky") == 0
    # the worker applied the configuration: structured JSON logs where OWLCLAW_LOGGING__* says
    worker_log = app_file.with_name("worker.log").read_text().splitlines()
    events = [json.loads(line) for line in worker_log]
    registered = [e for e in events if e["event"] == "cron_trigger_registered"]
    assert [e["event_name"] for e in registered] == ["flaky"]


def test_the_endpoint_port_can_come_from_owlclaw_yaml(tmp_path: Path) -> None:
    with running_worker(tmp_path, port_from_config=True) as (base, _app_file, _env):
        status, report = health(base)
        assert status == 200 and report["ready"] is True
        assert fetch(base + "/metrics")[0] == 200


@pytest.mark.hatchet
def test_worker_on_hatchet_reports_the_engine_in_health(tmp_path: Path) -> None:
    if not os.environ.get("HATCHET_CLIENT_TOKEN"):
        pytest.skip(
            "HATCHET_CLIENT_TOKEN is not set: start the engine with `make hatchet-up` and "
            "`set -a; . .hatchet/env; set +a` (make test does both)"
        )
    namespace = f"ops{uuid.uuid4().hex[:8]}"
    with running_worker(
        tmp_path, "--backend", "hatchet", env_extra={"HATCHET_CLIENT_NAMESPACE": namespace}
    ) as (base, app_file, env):
        status, report = health(base)
        assert status == 200 and report["status"] == "healthy", report
        backend = report["checks"]["backend"]
        assert backend["name"] == "hatchet" and backend["ok"] is True
        assert backend["engine"]["ok"] is True
        assert backend["worker"]["alive"] is True
        assert fetch(base + "/readyz")[0] == 200
    _delete_workflows(app_file, env)


def _delete_workflows(app_file: Path, env: dict[str, str]) -> None:
    """Leave no cron registered in the engine (the same clean-up as tests/hatchet)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from owlclaw_runtime.loader import load_app
        from owlclaw_runtime.schedulers.hatchet import HatchetBackend

        app = load_app(app_file)
        backend = HatchetBackend(app, worker=False)
        names = {t.name for t in backend.tasks().values()}
        client = backend.client
        for row in client.workflows.list(limit=500).rows or []:
            if row.name in names:
                client.workflows.delete(row.metadata.id)
        app.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)
